// Small file helpers with lmlab::Result errors. Writes are atomic: a reader
// sees the old file or the whole new one, never half (write to a temporary
// file in the same directory, fsync, rename). FileLock serialises processes
// (and threads) that share a cache entry or a directory.
//
//   LMLAB_ASSIGN_OR_RETURN(FileLock lock, FileLock::Acquire(dir / ".lock"));
//   ... read, build and WriteFileAtomic what the lock guards ...
//   // released when `lock` goes out of scope
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "lmlab/core/error.h"

namespace lmlab {

Result<std::string> ReadFile(const std::filesystem::path& path);

// Whether WriteFileAtomic waits for the data to reach the disk.
enum class FileSync {
  kFsync,  // survives a power loss: the old file or the whole new one
  kNone,   // survives a crash of the process only; after a power loss the
           // file may come back short. For caches whose readers check sizes
           // and rebuild what is bad (fsync per file can cost 15% of a capture).
};

// Writes `contents` to a temporary file beside `path` (unique per call, so
// concurrent writers never share one), then renames it over `path`. Creates
// missing parent directories. The file ends up mode 0644.
Status WriteFileAtomic(const std::filesystem::path& path, std::string_view contents,
                       FileSync sync = FileSync::kFsync);

// The user's cache directory for lmlab: $LMLAB_CACHE_DIR, else
// $XDG_CACHE_HOME/lmlab, else ~/.cache/lmlab. Created if missing.
Result<std::filesystem::path> CacheDir();

// An exclusive advisory lock (flock(2)) on a file or directory, held until the
// FileLock is destroyed (or the process ends, however it ends: the kernel
// drops the lock with the descriptor, so a crash never leaves a stale lock).
// Each FileLock opens its own descriptor, so two FileLocks on one path exclude
// each other within a process as well as between processes. Advisory: it
// keeps out only those who take the same lock. Not across NFS.
class FileLock {
 public:
  // Waits until the lock is free, then takes it. A path that does not exist is
  // created as an empty file (with its parent directories); an existing
  // directory is locked as it is. A signal that interrupts the wait (EINTR)
  // does not end it. kIo when the path cannot be opened or locked.
  static Result<FileLock> Acquire(const std::filesystem::path& path);
  // The same without waiting: nullopt when someone else holds the lock.
  static Result<std::optional<FileLock>> TryAcquire(const std::filesystem::path& path);

  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace lmlab
