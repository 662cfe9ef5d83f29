#include "lmlab/train/model_cache.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "lmlab/core/file.h"

namespace lmlab::train {
namespace {

// Holds an exclusive flock on a file for its lifetime.
class FileLock {
 public:
  static Result<FileLock> Acquire(const std::filesystem::path& path) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return IoError("cannot open lock file " + path.string());
    int rc;
    do rc = ::flock(fd, LOCK_EX);
    while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      ::close(fd);
      return IoError("cannot lock " + path.string());
    }
    return FileLock(fd);
  }
  FileLock(FileLock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  FileLock& operator=(FileLock&&) = delete;
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace

std::string HashRecipeKey(std::string_view key) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return fmt::format("{:016x}", h);
}

Result<CachedModel> BuildCachedModel(const CachedModelRequest& request, Rebuild rebuild,
                                     const ProgressCallback& progress) {
  CachedModel m;
  LMLAB_ASSIGN_OR_RETURN(std::filesystem::path cache, CacheDir());
  const std::filesystem::path dir = cache / "models";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return IoError(fmt::format("cannot create {}: {}", dir.string(), ec.message()));
  const std::string stem = request.name + "-" + request.recipe_hash;
  m.path = dir / (stem + ".gguf");
  if (rebuild == Rebuild::kIfMissing && std::filesystem::exists(m.path, ec)) return m;

  // One builder at a time; whoever waited finds the file made.
  LMLAB_ASSIGN_OR_RETURN(FileLock lock, FileLock::Acquire(dir / (stem + ".lock")));
  if (rebuild == Rebuild::kIfMissing && std::filesystem::exists(m.path, ec)) return m;

  Report(progress, {"building the " + request.name + " corpus", 0, 0, "", ""});
  LMLAB_ASSIGN_OR_RETURN(std::vector<std::string> docs, request.corpus());
  m.documents = static_cast<int64_t>(docs.size());
  TrainOptions t = request.train;
  t.checkpoint = dir / (stem + ".ckpt");
  t.resume = rebuild == Rebuild::kAlways ? Resume::kNo : Resume::kIfPresent;
  t.progress = progress;
  Report(progress, {"learning the vocabulary", 0, 0, "", fmt::format("{} documents", docs.size())});
  LMLAB_ASSIGN_OR_RETURN(m.training, Train(docs, t));
  LMLAB_RETURN_IF_ERROR(ExportGguf(m.training.model, m.path));
  std::filesystem::remove(t.checkpoint, ec);
  m.built = true;
  return m;
}

}  // namespace lmlab::train
