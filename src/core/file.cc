#include "lmlab/core/file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

namespace lmlab {

Result<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (!std::filesystem::exists(path)) return NotFound("no such file: " + path.string());
    return IoError("cannot open " + path.string() + ": " + std::strerror(errno));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return IoError("cannot read " + path.string());
  return ss.str();
}

Status WriteFileAtomic(const std::filesystem::path& path, std::string_view contents, FileSync sync) {
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return IoError("cannot create " + dir.string() + ": " + ec.message());
  std::string name = path.filename().string();
  name.insert(0, 1, '.');
  name += ".XXXXXX";
  std::string tmpl = (dir / name).string();
  int fd = mkstemp(tmpl.data());
  if (fd < 0) return IoError("cannot create a temporary file in " + dir.string() + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = write(fd, contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      unlink(tmpl.c_str());
      return IoError("cannot write " + path.string() + ": " + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  if ((sync == FileSync::kFsync && fsync(fd) != 0) || close(fd) != 0) {
    unlink(tmpl.c_str());
    return IoError("cannot flush " + path.string() + ": " + std::strerror(errno));
  }
  if (std::rename(tmpl.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmpl.c_str());
    return IoError("cannot rename into " + path.string() + ": " + std::strerror(err));
  }
  chmod(path.c_str(), 0644);
  return {};
}

Result<std::filesystem::path> CacheDir() {
  std::filesystem::path dir;
  if (const char* d = std::getenv("LMLAB_CACHE_DIR"); d && *d) {
    dir = d;
  } else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) {
    dir = std::filesystem::path(x) / "lmlab";
  } else if (const char* h = std::getenv("HOME"); h && *h) {
    dir = std::filesystem::path(h) / ".cache" / "lmlab";
  } else {
    return NotFound("cannot find a cache directory: set LMLAB_CACHE_DIR or HOME");
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return IoError("cannot create cache directory " + dir.string() + ": " + ec.message());
  return dir;
}

namespace {

// Opens what FileLock locks: an existing directory read-only, anything else
// as a file created if missing.
Result<int> OpenForLock(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return IoError("cannot open " + path.string() + ": " + std::strerror(errno));
    return fd;
  }
  if (path.has_parent_path()) {
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) return IoError("cannot create " + path.parent_path().string() + ": " + ec.message());
  }
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("cannot open lock file " + path.string() + ": " + std::strerror(errno));
  return fd;
}

// flock, retried when a signal interrupts it. 0, or the errno that ended it.
int Flock(int fd, int operation) {
  while (::flock(fd, operation) != 0)
    if (errno != EINTR) return errno;
  return 0;
}

}  // namespace

Result<FileLock> FileLock::Acquire(const std::filesystem::path& path) {
  LMLAB_ASSIGN_OR_RETURN(const int fd, OpenForLock(path));
  if (const int err = Flock(fd, LOCK_EX); err != 0) {
    ::close(fd);
    return IoError("cannot lock " + path.string() + ": " + std::strerror(err));
  }
  return FileLock(fd);
}

Result<std::optional<FileLock>> FileLock::TryAcquire(const std::filesystem::path& path) {
  LMLAB_ASSIGN_OR_RETURN(const int fd, OpenForLock(path));
  if (const int err = Flock(fd, LOCK_EX | LOCK_NB); err != 0) {
    ::close(fd);
    if (err == EWOULDBLOCK) return std::optional<FileLock>();
    return IoError("cannot lock " + path.string() + ": " + std::strerror(err));
  }
  return std::optional<FileLock>(FileLock(fd));
}

FileLock::FileLock(FileLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

// Closing the only descriptor of the open file releases the lock.
FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace lmlab
