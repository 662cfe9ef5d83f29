// ProcessesOfUid: the proof, after each run as its own uid, that nothing the
// run started is still alive.
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <limits>
#include <string>

#include "lmlab/core/parse.h"
#include "lmlab/sandbox/sandbox.h"
#include "sandbox/unique_fd.h"

namespace lmlab::sandbox {

std::vector<int> ProcessesOfUid(uint32_t uid) {
  namespace fs = std::filesystem;
  std::vector<int> pids;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;  // not a process
    Result<int64_t> pid = ParseInt(name, "pid");
    if (!pid || *pid <= 0 || *pid > std::numeric_limits<int>::max()) continue;
    // The real uid from status (/proc/<pid> itself shows root for
    // non-dumpable processes, which any process can make itself). One read
    // per process keeps the scan cheap.
    internal::UniqueFd fd(open((e.path() / "status").c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.is_open()) continue;
    char buf[2048];
    ssize_t n = read(fd.get(), buf, sizeof buf - 1);
    if (n <= 0) continue;
    buf[n] = 0;
    const char* state = std::strstr(buf, "\nState:");
    if (state && std::strchr(state + 1, '\n') && std::memchr(state, 'Z', std::strchr(state + 1, '\n') - state))
      continue;  // a zombie runs nothing
    const char* uid_line = std::strstr(buf, "\nUid:");
    if (uid_line && std::strtoul(uid_line + 5, nullptr, 10) == uid) pids.push_back(static_cast<int>(*pid));
  }
  return pids;
}

}  // namespace lmlab::sandbox
