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

namespace {

// Closes the descriptor when it goes out of scope, on every path.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  // Closes now and reports close's error (NFS reports write errors here).
  int Close() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

// fsync of the directory makes the rename itself durable (leveldb's
// SyncDirIfManifest does the same for its MANIFEST).
Status SyncDirectory(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return IoError("cannot open directory " + dir.string() + ": " + std::strerror(errno));
  FdCloser closer(fd);
  if (::fsync(fd) != 0 && errno != EINVAL) {  // EINVAL: a file system that cannot sync directories
    return IoError("cannot sync directory " + dir.string() + ": " + std::strerror(errno));
  }
  return {};
}

}  // namespace

// The write, in leveldb's order (util/env_posix.cc): write everything to a
// temporary file beside the target, set its mode, fsync and close it, rename
// it over the target, then fsync the directory. A crash at any point leaves
// the old file or the new one. FileSync::kNone skips both fsyncs: a crash of
// the process still leaves the old file or the new one.
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
  int fd = mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0) return IoError("cannot create a temporary file in " + dir.string() + ": " + std::strerror(errno));
  FdCloser closer(fd);
  auto fail = [&](std::string what) -> Status {
    int err = errno;
    closer.Close();
    ::unlink(tmpl.c_str());
    return IoError(what + " " + path.string() + ": " + std::strerror(err));
  };
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write");
    }
    done += static_cast<size_t>(n);
  }
  // mkstemp creates 0600; readers (the web server, other users of a shared
  // cache) expect a plain file's mode, set before the name appears.
  if (::fchmod(fd, 0644) != 0) return fail("cannot set the mode of");
  if (sync == FileSync::kFsync && ::fsync(fd) != 0) return fail("cannot flush");
  if (closer.Close() != 0) {
    int err = errno;
    ::unlink(tmpl.c_str());
    return IoError("cannot close " + path.string() + ": " + std::strerror(err));
  }
  if (std::rename(tmpl.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmpl.c_str());
    return IoError("cannot rename into " + path.string() + ": " + std::strerror(err));
  }
  return sync == FileSync::kFsync ? SyncDirectory(dir) : Status{};
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
