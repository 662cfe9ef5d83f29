// `lmlab doctor`: checks every run-time dependency the way lmlab uses it and
// prints one row per check with the fix for each failure. See docs/doctor.md.
#include <algorithm>
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "lmlab/doctor/doctor.h"

namespace lmlab::cli::doctor_cmd {
namespace {

struct Options {
  std::vector<std::string> only;
  bool json = false;
};

int Run(const Options& o) {
  std::vector<std::string> known = doctor::CheckIds();
  for (const auto& id : o.only)
    if (std::find(known.begin(), known.end(), id) == known.end())
      throw UsageError("--only: no check '" + id + "' (checks: " + [&] {
        std::string all;
        for (const auto& k : known) all += (all.empty() ? "" : ", ") + k;
        return all;
      }() + ")");
  doctor::DoctorOptions d;
  d.only = o.only;
  ProgressBar bar;
  if (!o.json) d.progress = bar.Callback();
  doctor::DoctorReport r = doctor::RunDoctor(d);
  bar.Finish();
  if (o.json) {
    PrintJson(doctor::ToJson(r));
  } else {
    std::cout << doctor::RenderDoctorTable(r);
    if (!r.ok()) std::cout << "Some checks failed: the commands that need them will fail too (see 'fix').\n";
  }
  return r.ok() ? 0 : 1;
}

}  // namespace

void Register(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* sub = AddCommand(
      app, "doctor", "Check every run-time dependency (sandbox, Python and numpy, llama.cpp, SQLite, data) as lmlab uses it",
      "  lmlab doctor                       # a table: check | status | detail | fix; exit 1 if any check fails\n"
      "  lmlab doctor --json                # the same for machines\n"
      "  lmlab doctor --only numpy,stop-task\n");
  sub->add_option("--only", o->only, "Run only these checks (comma-separated ids from the table)")->delimiter(',');
  sub->add_flag("--json", o->json, "Print JSON instead of a table");
  SetRun(sub, [o] { return Run(*o); });
}

}  // namespace lmlab::cli::doctor_cmd
