// Running another program and collecting what it printed, behind an
// interface, so code that drives outside tools (sbatch, squeue, bash) is
// testable with a scripted runner and no tools installed.
//
//   std::unique_ptr<ProcessRunner> runner = MakeSystemProcessRunner();
//   LMLAB_ASSIGN_OR_RETURN(ProcessResult r, runner->Run({.argv = {"squeue", "--noheader"}}));
//   if (r.exit_code != 0) ... r.err ...
//
// The system runner uses posix_spawnp (a PATH lookup), no shell: an argument
// is one word whatever it contains.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lmlab/core/error.h"

namespace lmlab {

struct ProcessRequest {
  std::vector<std::string> argv;                            // argv[0]: a name on PATH or a path
  std::vector<std::pair<std::string, std::string>> env;     // set on top of this process's environment
  std::string stdin_data;                                   // fed to the program, then its stdin is closed
  std::string work_dir;                                     // empty: this process's
  double timeout_seconds = 0;                               // 0: none; past it the program is killed
  const std::atomic<bool>* cancel = nullptr;                // set: the program is killed (kCancelled)
};

struct ProcessResult {
  int exit_code = -1;  // the program's status; 128 + N when killed by signal N
  std::string out;
  std::string err;
  double seconds = 0;
};

class ProcessRunner {
 public:
  virtual ~ProcessRunner() = default;
  // An error when the program cannot be started (kNotFound: not on PATH),
  // ran past its timeout (kTimeout) or was cancelled (kCancelled); a program
  // that ran and failed is a result with a nonzero exit_code.
  virtual Result<ProcessResult> Run(const ProcessRequest& request) = 0;
};

std::unique_ptr<ProcessRunner> MakeSystemProcessRunner();

// The program name and its first lines of stderr (or stdout when stderr is
// empty), for error messages: "sbatch exited with 1: sbatch: error: ...".
std::string DescribeFailure(const ProcessRequest& request, const ProcessResult& result);

}  // namespace lmlab
