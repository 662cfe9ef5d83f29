// Models lmlab trains itself on first use and keeps in the user's cache
// directory (core/file.h CacheDir()): <cache>/models/<name>-<recipe hash>.gguf.
// The first caller trains (minutes; progress through the callback), later
// callers reuse the file, and a changed recipe gets a new file. An
// interrupted build resumes from its checkpoint; concurrent callers wait on a
// lock file instead of training twice.
//
//   CachedModelRequest r{.name = "reader", .recipe_hash = hash, .train = options,
//                        .corpus = [&] { return BuildMyCorpus(); }};
//   LMLAB_ASSIGN_OR_RETURN(CachedModel m, BuildCachedModel(r, Rebuild::kIfMissing, progress));
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/core/progress.h"
#include "lmlab/train/trainer.h"

namespace lmlab::train {

enum class Rebuild { kIfMissing, kAlways };

struct CachedModelRequest {
  std::string name;          // file name stem: "default", "reader"
  std::string recipe_hash;   // 16 hex digits over everything that shapes the model
  TrainOptions train;        // checkpoint, resume and progress are set here
  // The corpus, built only when the model has to be trained.
  std::function<Result<std::vector<std::string>>()> corpus;
};

struct CachedModel {
  std::filesystem::path path;
  bool built = false;        // false when an existing file was reused
  int64_t documents = 0;     // corpus documents (0 when reused)
  TrainResult training;      // empty (no model) when reused
};

// Builds (or reuses) the model in the cache directory.
Result<CachedModel> BuildCachedModel(const CachedModelRequest& request, Rebuild rebuild,
                                     const ProgressCallback& progress);

// FNV-1a of `key` as 16 hex digits: recipe hashes.
std::string HashRecipeKey(std::string_view key);

}  // namespace lmlab::train
