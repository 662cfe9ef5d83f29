#include "tests/support/run_command.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace lmlab::testing {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

CommandResult RunCommand(const std::string& command, int timeout_seconds) {
  char dir_template[] = "/tmp/lmlab-test-XXXXXX";
  std::string dir = mkdtemp(dir_template);
  std::string out = dir + "/out", err = dir + "/err";
  std::string full = "timeout -k 5 " + std::to_string(timeout_seconds) + " /bin/sh -c '" ;
  for (char c : command) full += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  full += "' >" + out + " 2>" + err + " </dev/null";
  int status = std::system(full.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = Slurp(out);
  r.err = Slurp(err);
  std::filesystem::remove_all(dir);
  return r;
}

std::string LmlabBinary() { return LMLAB_CLI; }

std::string Golden(const std::string& relative_path, const std::string& actual) {
  std::string path = std::string(LMLAB_SOURCE_DIR) + "/tests/" + relative_path;
  if (const char* update = std::getenv("LMLAB_UPDATE_GOLDEN"); update && std::string(update) == "1") {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path, std::ios::binary) << actual;
  }
  return Slurp(path);
}

}  // namespace lmlab::testing
