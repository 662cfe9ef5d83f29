#include "lmlab/train/model_cache.h"

#include <fmt/format.h>

#include <utility>

#include "lmlab/core/file.h"
#include "lmlab/core/hash.h"

namespace lmlab::train {

std::string HashRecipeKey(std::string_view key) { return Fnv1aHex(key); }

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
