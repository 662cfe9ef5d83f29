#include "sandbox/box_dir.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <limits>
#include <string_view>

#include "lmlab/core/parse.h"

namespace lmlab::sandbox::internal {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kPrefix = "lmlab-sandbox-";

bool ValidRelativePath(const std::string& p) {
  if (p.empty() || p.front() == '/') return false;
  for (const auto& part : fs::path(p))
    if (part == ".." || part == ".") return false;
  return true;
}

// The host pid in "lmlab-sandbox-<pid>-XXXXXX"; 0 when the name has none.
pid_t HostPidOf(std::string_view name) {
  if (!name.starts_with(kPrefix)) return 0;
  name.remove_prefix(kPrefix.size());
  size_t dash = name.find('-');
  if (dash == std::string_view::npos) return 0;
  Result<int64_t> pid = ParseInt(name.substr(0, dash), "pid");
  return pid && *pid > 0 && *pid <= std::numeric_limits<pid_t>::max() ? static_cast<pid_t>(*pid) : 0;
}

}  // namespace

Result<BoxDir> BoxDir::Create() {
  std::error_code ec;
  fs::path tmp = fs::temp_directory_path(ec);
  if (ec) return IoError("sandbox: no temp directory: " + ec.message());
  std::string tmpl = (tmp / (std::string(kPrefix) + std::to_string(getpid()) + "-XXXXXX")).string();
  if (!mkdtemp(tmpl.data())) return IoError(std::string("sandbox: cannot create a temp dir: ") + std::strerror(errno));
  BoxDir box;
  box.path_ = tmpl;
  Result<FileLock> lock = FileLock::Acquire(box.path_);
  if (!lock) return IoError("sandbox: cannot lock the temp dir: " + lock.error().message);
  box.lock_ = std::move(*lock);
  chmod(tmpl.c_str(), 0755);
  return box;
}

Status BoxDir::WriteFiles(std::span<const File> files) const {
  for (const File& f : files)
    if (!ValidRelativePath(f.path)) return InvalidArgument("sandbox: bad file path '" + f.path + "'");
  std::error_code ec;
  for (const File& f : files) {
    fs::path p = path_ / f.path;
    fs::create_directories(p.parent_path(), ec);
    for (fs::path d = p.parent_path(); d != path_ && !d.empty(); d = d.parent_path()) chmod(d.c_str(), 0755);
    std::ofstream out(p, std::ios::binary);
    out << f.contents;
    out.close();
    if (!out) return IoError("sandbox: cannot write " + p.string());
    chmod(p.c_str(), 0644);
  }
  return {};
}

BoxDir::BoxDir(BoxDir&& other) noexcept : path_(std::move(other.path_)), lock_(std::move(other.lock_)) {
  other.path_.clear();
}

BoxDir::~BoxDir() {
  std::error_code ec;
  if (!path_.empty()) fs::remove_all(path_, ec);
  // lock_ closes after the removal: another host never sees it unlocked and present.
}

void RemoveBoxDirsOfDeadHosts(const fs::path& tmp) {
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  for (fs::directory_iterator it(tmp, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& dir = it->path();
    pid_t pid = HostPidOf(dir.filename().string());
    struct stat st;
    if (pid <= 0 || lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid()) continue;
    if (kill(pid, 0) == 0 || errno != ESRCH) continue;
    std::error_code time_ec;
    auto modified = fs::last_write_time(dir, time_ec);
    if (time_ec || now - modified < std::chrono::minutes(1)) continue;
    // Nobody holds it: its host is gone everywhere. Held while removing, so a
    // second cleaner waits its turn instead of racing this one.
    Result<std::optional<FileLock>> lock = FileLock::TryAcquire(dir);
    if (lock && lock->has_value()) {
      std::error_code remove_ec;
      fs::remove_all(dir, remove_ec);
    }
  }
}

}  // namespace lmlab::sandbox::internal
