// Test helper: run a shell command, capture stdout, stderr and exit status.
#pragma once

#include <string>

namespace lmlab::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `command` through /bin/sh with a timeout (seconds); exit_code is 124
// when it ran past the timeout.
CommandResult RunCommand(const std::string& command, int timeout_seconds = 120);

// Path of the lmlab binary under test.
std::string LmlabBinary();

// Reads or (with LMLAB_UPDATE_GOLDEN=1) rewrites a golden file under
// tests/<path>; returns the expected text.
std::string Golden(const std::string& relative_path, const std::string& actual);

}  // namespace lmlab::testing
