// A STOP run's directory: what RunSelfImprovement writes and LoadRun reads.
//
//   config.json              the options that define the run (resuming checks them)
//   improver-<t>.py          the improver in effect after round t
//   round-<t>.json           one RoundRecord, written last: its presence marks round t done
//   round-<t>/timing.json    the round's wall time (apart, so two replay runs compare equal)
//   round-<t>/candidates/    every candidate improver's code, by content hash
//   round-<t>/solutions/     every downstream solution evaluated
//   round-<t>/replies/       every raw model reply
//
// Files are written atomically. A run directory is read as untrusted input:
// a file that is not what lmlab wrote is kParse naming it, never a crash.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lmlab/core/error.h"
#include "lmlab/improve/audit.h"
#include "lmlab/improve/options.h"

namespace lmlab::improve {

// One round; the counts (HostCounts) are summed over every level of it: the
// improver improving itself and every element its candidates ran.
struct RoundRecord : HostCounts {
  int round = 0;               // 0 = the seed improver
  double meta_utility = 0;     // on held-out instances
  bool accepted = true;        // false: fell back to the previous improver
  std::string improver_file;   // improver in effect after this round
  std::map<std::string, int> strategies;  // tag -> candidates with it
  std::string note;            // why a round fell back
  double wall_seconds = 0;     // stored apart (timing.json) so logs compare equal
};

struct RunSummary {
  nlohmann::json config;
  std::vector<RoundRecord> rounds;
  Audit audit_total;
};

// The options a run's config.json records: those that decide its results.
nlohmann::json RunConfigJson(const StopOptions& options);

// The options a run's config.json records, each present only when the file
// has it (directories written by older versions lack some).
struct RecordedOptions {
  std::optional<std::string> protocol, seed_improver, sandbox_warning;
  std::optional<std::vector<std::string>> tasks;
  std::optional<int> repeats, test_instances, samples_per_call, lm_calls, utility_calls, max_tokens;
  std::optional<double> time_limit_scale, improver_wall_seconds;
  std::optional<uint64_t> seed;
};
// nullopt when run_dir has no config.json; kParse naming the file and the
// field when it is not what lmlab writes.
Result<std::optional<RecordedOptions>> ReadRunConfig(const std::filesystem::path& run_dir);

// How a run directory's config.json differs from `options`: nullopt when it
// has none or it matches, else the first difference ("seed: 0 vs 7").
// kParse when it is not a JSON object.
Result<std::optional<std::string>> CompareRunConfig(const std::filesystem::path& run_dir, const StopOptions& options);

// Reads a run directory (finished or not).
Result<RunSummary> LoadRun(const std::filesystem::path& run_dir);

// round-<t>.json and round-<t>/timing.json, atomically, the round file last.
Status SaveRound(const std::filesystem::path& run_dir, const RoundRecord& round);

nlohmann::json RoundToJson(const RoundRecord& round);
// kParse naming the field (`what`: the file) when a field has the wrong
// type; missing fields keep their defaults (older logs still load).
Result<RoundRecord> RoundFromJson(const nlohmann::json& j, std::string_view what);

}  // namespace lmlab::improve
