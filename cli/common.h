// What every subcommand shares: error exits, JSON printing, progress bars,
// number flags with unit suffixes. Library code never prints; this does.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "lmlab/core/error.h"
#include "lmlab/core/progress.h"

namespace lmlab::cli {

// Thrown for a bad flag value found after parsing; main() prints it as one
// line and exits with status 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Thrown to leave a command with a library error: exit 2 for errors the user
// can fix by changing arguments, 1 otherwise.
struct CommandError : std::runtime_error {
  explicit CommandError(Error e) : std::runtime_error(e.ToString()), error(std::move(e)) {}
  Error error;
};

// Unwraps a Result or throws CommandError.
template <class T>
T OrExit(Result<T> r) {
  if (!r) throw CommandError(r.error());
  return std::move(*r);
}
inline void OrExit(Status s) {
  if (!s) throw CommandError(s.error());
}

int ExitCodeFor(const Error& e);

// A library message in this CLI's terms: each option it mentions (`n_ctx`,
// `missing=drop`; see core/error.h) becomes the flag of the running command
// that sets it ("--ctx", "--missing drop"). A mention the running command has
// no flag for reads as the bare name. Every library message the CLI prints
// goes through this.
std::string InCliTerms(std::string_view message);
// "invalid argument: <message in CLI terms>".
std::string InCliTerms(const Error& e);

// Adds "1e24", "70B", "15T" style numbers: k, M, B/G, T, P suffixes (powers of 1000).
CLI::Option* AddQuantity(CLI::App* app, const std::string& name, double& value, const std::string& help);
CLI::Option* AddQuantity(CLI::App* app, const std::string& name, std::optional<double>& value,
                         const std::string& help);

// Registers a subcommand whose `run` returns an exit status.
CLI::App* AddCommand(CLI::App& app, const std::string& name, const std::string& description,
                     const std::string& examples);
void SetRun(CLI::App* sub, std::function<int()> run);

void PrintJson(const nlohmann::json& j);

// A progress bar on stderr: redrawn in place on a terminal, a line every 10%
// otherwise (logs stay readable). Use as a ProgressCallback.
class ProgressBar {
 public:
  ProgressBar();
  ~ProgressBar();
  void operator()(const Progress& p);
  ProgressCallback Callback();
  void Finish();

 private:
  bool tty_ = false;
  int last_decile_ = -1;
  std::string last_stage_;
  bool open_line_ = false;
  double start_seconds_ = 0;
};

}  // namespace lmlab::cli
