// The changelog recency benchmark: an offline, real test of whether
// FreshPrompt's evidence window holds the newest fact. Debian changelogs give
// questions whose answers change over time ("What is the latest version of
// zlib and when was it released?"), with the truth being the newest entry.
// For each evidence order we measure whether the k-evidence window contains
// the newest entry and how far from the question it sits (1 = adjacent).
//
//   LMLAB_ASSIGN_OR_RETURN(auto qs, RecencyQuestions(changelog_documents));
//   LMLAB_ASSIGN_OR_RETURN(RecencyReport r, RunRecencyBenchmark(*index, qs, {}));
#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lmlab/fresh/fresh_prompt.h"

namespace lmlab::fresh {

struct RecencyQuestion {
  std::string package;
  std::string question;
  std::string newest_url;      // the newest changelog entry's url
  std::string newest_version;
  search::Timestamp newest_date{};
  int entries = 0;             // changelog entries of the package
};

// One question per package with at least `min_entries` dated entries, from
// documents made by search::ParseDebianChangelog (title "pkg version (dist)").
std::vector<RecencyQuestion> RecencyQuestions(std::span<const search::Document> changelog_docs, int min_entries = 3);

struct RecencyOptions {
  int k = 5;
  int num_results = 10;        // retrieved before ordering
  int num_recent = 0;          // fresh results besides them (search::SearchOptions::max_recent)
  std::vector<EvidenceOrder> orders = {EvidenceOrder::kDate, EvidenceOrder::kRelevance, EvidenceOrder::kRandom};
  uint64_t seed = 0;
};

struct RecencyRow {
  EvidenceOrder order = EvidenceOrder::kDate;
  int questions = 0;
  int retrieved = 0;          // the newest entry is among the num_results retrieved
  int in_window = 0;          // ... and in the k-evidence window
  int adjacent = 0;           // ... and right next to the question
  double mean_distance = 0;   // over in_window: 1 = adjacent, k = farthest
};

struct RecencyReport {
  int k = 0;
  int num_results = 0;
  std::vector<RecencyRow> rows;
  double seconds = 0;
};

Result<RecencyReport> RunRecencyBenchmark(search::SearchBackend& backend, std::span<const RecencyQuestion> questions,
                                          const RecencyOptions& options, const ProgressCallback& progress = {});

std::string RenderRecencyReport(const RecencyReport& report);
nlohmann::json ToJson(const RecencyReport& report);

// ---- The whole study, as `lmlab freshqa recency` and the demo run it -------

struct RecencyStudyOptions {
  std::filesystem::path doc_root = "/usr/share/doc";
  int changelogs = 200;                // changelog files, spread evenly over the sorted paths
  int max_questions = 0;               // 0 = every package with enough entries
  std::filesystem::path index;         // where the changelog index is built (replaced); required
  RecencyOptions benchmark;
};

struct RecencyStudy {
  RecencyReport report;
  std::vector<RecencyQuestion> questions;  // in the order asked
  int changelogs = 0;                      // files read
  int unreadable = 0;
  int64_t documents = 0;                   // dated entries indexed
  int64_t dated = 0;
};

// Reads the changelogs, builds the index at `options.index` afresh, and runs
// the benchmark. The CLI and the demo both call this, so their numbers agree.
Result<RecencyStudy> RunRecencyStudy(const RecencyStudyOptions& options, const ProgressCallback& progress = {});
nlohmann::json ToJson(const RecencyStudy& study);

}  // namespace lmlab::fresh
