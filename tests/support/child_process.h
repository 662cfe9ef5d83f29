// Test helper: a program run as a child process (a server under test), with
// its stdout read line by line, stopped by signal, killed when the object
// goes away.
//
//   ChildProcess serve({LmlabBinary(), "serve", "--model", path, "--port", "0", "--json"});
//   std::string first = serve.FirstLine(60);   // {"url": ...}
//   EXPECT_EQ(serve.SignalAndWait(SIGTERM, 10), 0);
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace lmlab::testing {

class ChildProcess {
 public:
  // argv[0] is the program's path; stdin is /dev/null, stderr is inherited
  // unless `stderr_path` names a file to write it to.
  explicit ChildProcess(std::vector<std::string> argv, const std::string& stderr_path = "");
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The next line of stdout, or what arrived of it after `seconds`.
  std::string FirstLine(double seconds);
  // Sends `sig` and returns the exit status (128 + signal when killed by one;
  // -1 if it did not exit within `seconds`).
  int SignalAndWait(int sig, double seconds);
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
};

// `s` quoted for /bin/sh (RunCommand): 'it'\''s'.
std::string ShellQuote(const std::string& s);

}  // namespace lmlab::testing
