// `lmlab`: dispatch to one subcommand. Errors become one line on stderr:
// exit 2 for bad usage or values, 1 for failures while running.
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "lmlab/core/threads.h"
#include "lmlab/sandbox/host_process.h"

int main(int argc, char** argv) {
  lmlab::ApplyThreadWaitPolicy(argv);  // may re-execute: OpenMP workers must not spin away shared cores
  using namespace lmlab::cli;
  // Process-wide settings the sandbox needs (a child subreaper, SIGPIPE
  // ignored; docs/sandbox.md, "The host process"), made once, before any
  // thread starts, for every subcommand: improve and the demo run sandboxes,
  // and serve writes to sockets that clients may close.
  if (lmlab::Status s = lmlab::sandbox::PrepareHostProcess(); !s) {
    std::fprintf(stderr, "lmlab: %s\n", s.error().message.c_str());
    return 1;
  }
  CLI::App app{"lmlab - a laboratory for language models: compute planning, grounded answers, "
               "self-improving code, probes for space and time, and out-of-distribution signals."};
  app.name("lmlab");
  app.set_version_flag("--version", "lmlab 0.1.0");
  app.require_subcommand(0, 1);
  app.footer("\nRun 'lmlab <command> --help' for a command's flags and examples.");

  // In the order a newcomer meets them: the tour, then each system.
  demo_cmd::Register(app);
  doctor_cmd::Register(app);
  plan_cmd::Register(app);
  model_cmd::Register(app);
  train_cmd::Register(app);
  index_cmd::Register(app);
  ask_cmd::Register(app);
  freshqa_cmd::Register(app);
  serve_cmd::Register(app);
  improve_cmd::Register(app);
  probe_cmd::Register(app);
  ood_cmd::Register(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    std::string where = "lmlab";
    for (CLI::App* sub : app.get_subcommands()) where += " " + sub->get_name();
    std::fprintf(stderr, "%s: error: %s (see '%s --help')\n", where.c_str(), e.what(), where.c_str());
    return 2;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "lmlab: error: %s\n", InCliTerms(e.what()).c_str());
    return 2;
  } catch (const CommandError& e) {
    std::fprintf(stderr, "lmlab: %s\n", InCliTerms(e.error).c_str());
    return ExitCodeFor(e.error);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lmlab: internal error: %s\n", e.what());
    return 1;
  }
  if (app.get_subcommands().empty()) {
    std::cout << app.help();
    return 0;
  }
  return 0;
}
