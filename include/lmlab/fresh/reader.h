// The reader: a small model lmlab trains itself to answer from dated
// evidence in FreshPrompt's paper format (Vu et al. 2023), and the
// experiment that measures the paper's two headline findings on it: search
// beats no search, and evidence order and count matter.
//
// Dated sources on the machine (Debian changelogs, distro-info) give
// questions whose answers change over time; their truth is the newest
// changelog entry. A set of packages is held out of training (by name hash,
// plus a fixed list of packages every Debian machine has, zlib among them).
//
//   LMLAB_ASSIGN_OR_RETURN(DatedSources src, ReadDatedSources({}, progress));
//   LMLAB_ASSIGN_OR_RETURN(std::filesystem::path gguf, EnsureReaderModel(progress));
//   auto questions = HeldOutQuestions(src, train::ReaderModelRecipe());
//   LMLAB_ASSIGN_OR_RETURN(ReaderReport r, RunReaderExperiment(*model, *index, questions, {.today = day}));
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lmlab/core/progress.h"
#include "lmlab/fresh/fresh_prompt.h"
#include "lmlab/train/reader_model.h"

namespace lmlab::fresh {

// ---- Dated sources ---------------------------------------------------------

struct ChangelogEntry {
  std::string version;       // "1:1.2.13.dfsg-1"
  search::Timestamp date{};
  std::string uploader;      // "Mark Brown" (the trailer's name)
  std::string url;           // the index document's url
};

struct PackageHistory {
  std::string package;                  // the source package: "zlib"
  std::vector<ChangelogEntry> entries;  // newest first
};

struct Release {
  std::string distribution;  // "Debian", "Ubuntu"
  std::string name;          // "Debian 12 (bookworm)"
  search::Timestamp date{};  // release day
};

struct DatedSources {
  std::vector<search::Document> documents;  // changelog entries and releases: what the index holds
  std::vector<PackageHistory> packages;     // sorted by name
  std::vector<Release> releases;            // by date
  int changelogs = 0;                       // files read
  int unreadable = 0;                       // files that could not be read or parsed
};

struct DatedSourceOptions {
  std::filesystem::path doc_root = "/usr/share/doc";
  std::filesystem::path distro_info = "/usr/share/distro-info";
  int max_changelogs = 0;  // 0 = all; else this many spread evenly over the sorted paths
};

// kNotFound when the machine has no changelog at all.
Result<DatedSources> ReadDatedSources(const DatedSourceOptions& options, const ProgressCallback& progress = {});

// The local index of this machine's dated sources, built on first use in the
// cache directory (<cache>/fresh/dated-sources-<fingerprint>.sqlite; a new
// fingerprint when the installed changelogs change). `lmlab ask`'s offline
// default.
// `read`, when given, is this machine's sources already read (ReadDatedSources({})).
Result<std::filesystem::path> EnsureDatedSourceIndex(const ProgressCallback& progress = {},
                                                     const DatedSources* read = nullptr);

// ---- Questions -------------------------------------------------------------

enum class ReaderQuestionKind { kVersion, kUploadDate, kUploader, kFalsePremise };
std::string_view ReaderQuestionKindName(ReaderQuestionKind kind);  // "version", "upload date", ...

struct ReaderQuestion {
  ReaderQuestionKind kind = ReaderQuestionKind::kVersion;
  std::string package;
  std::string question;               // "What is the latest version of zlib?"
  std::vector<std::string> answers;   // accepted answers (aliases)
  std::vector<std::string> outdated;  // answers that were right once (older entries)
  std::string premise;                // kFalsePremise: the older version the question claims is the latest
  std::string newest_url;             // the newest entry's document url
};

// The packages held out of training: a fixed list of packages on every Debian
// machine (zlib, bash, coreutils, ...) and `percent` of the rest by name hash.
bool IsHeldOut(std::string_view package, int percent);

// The questions one package's history answers (a kind is left out when the
// history cannot answer it, e.g. a false premise needs two versions).
std::vector<ReaderQuestion> ReaderQuestions(const PackageHistory& history);

// Every question over the held-out packages with at least `min_entries`
// dated entries, in package order.
std::vector<ReaderQuestion> HeldOutQuestions(const DatedSources& sources, const train::ReaderRecipe& recipe,
                                             int min_entries = 2);

// ---- Corpus and model ------------------------------------------------------

struct ReaderCorpusStats {
  int training_packages = 0;
  int held_out_packages = 0;
  int episodes = 0;
  int release_episodes = 0;
  int64_t bytes = 0;
};

// FreshPrompt-format episodes (RenderPaperBlock with the prefilled reasoning
// prefix and the answer) over the training packages, retrieved from an index
// of the training packages only, with versions randomised per episode, k in
// the recipe's k mix, and date, relevance or random order.
Result<std::vector<std::string>> BuildReaderCorpus(const train::ReaderRecipe& recipe, const DatedSources& sources,
                                                   const ProgressCallback& progress = {},
                                                   ReaderCorpusStats* stats = nullptr);

// The reader's GGUF, built on first use in the cache (train/model_cache.h);
// $LMLAB_READER_MODEL, when set to an existing GGUF, is returned as is.
Result<std::filesystem::path> EnsureReaderModel(const ProgressCallback& progress = {});

struct ReaderBuild {
  std::filesystem::path path;
  bool built = false;                 // false: reused from the cache (or $LMLAB_READER_MODEL)
  ReaderCorpusStats corpus;           // when built
  train::TrainResult training;        // when built
};
// The same for any recipe (the demo's --quick trains a much smaller one);
// `read` as for EnsureDatedSourceIndex.
Result<ReaderBuild> BuildReaderModel(const train::ReaderRecipe& recipe, const ProgressCallback& progress = {},
                                     const DatedSources* read = nullptr);

// The answer options the reader was trained for (paper protocol, prefilled
// prefix, snippets clipped as in training, short answers).
AnswerOptions ReaderAnswerOptions(const train::ReaderRecipe& recipe);

// ---- Grading ---------------------------------------------------------------

// FreshQA's alias rule for these answers: relaxed = an accepted answer
// appears as a whole (a version, a date, a name), and a false premise is
// denied; strict = relaxed, and no outdated answer, other version or repeated
// sentence (ill-formed output) appears.
struct ReaderGrade {
  bool relaxed = false;
  bool strict = false;
};
ReaderGrade GradeReaderAnswer(const ReaderQuestion& question, std::string_view response);

// ---- The experiment --------------------------------------------------------

struct ReaderCondition {
  std::string name;                 // "no search", "date, k=5"
  SearchMode search = SearchMode::kSearch;
  EvidenceOrder order = EvidenceOrder::kDate;
  int k = 5;
};

// No search; FreshPrompt with date, relevance and random order at k = 5; date
// order at k = 1 and 10.
std::vector<ReaderCondition> DefaultReaderConditions();

// Scores one answer for ignorance (ood::IgnoranceMonitor::ScoreAnswer); the
// experiment stays independent of the ood module.
struct IgnoranceScore {
  double ignorance = 0;
  bool flagged = false;
};
using IgnoranceScorer = std::function<Result<IgnoranceScore>(runtime::LanguageModel& model, const std::string& prompt,
                                                             const std::string& generated)>;

struct ReaderExperimentOptions {
  search::Day today{};
  std::vector<ReaderCondition> conditions = DefaultReaderConditions();
  AnswerOptions answer;             // the rest of the prompt (ReaderAnswerOptions for the reader)
  int max_questions = 0;            // 0 = all
  IgnoranceScorer ignorance;        // empty = no ignorance scores
  int examples = 4;                 // answers kept for the report (date order, k = 5; right ones first)
};

struct ReaderRow {
  ReaderCondition condition;
  int questions = 0;
  int relaxed = 0;
  int strict = 0;
  int newest_in_window = 0;         // the newest entry was among the evidences shown
  std::vector<std::pair<std::string, std::pair<int, int>>> by_kind;  // kind -> (relaxed, n)
};

struct IgnoranceGroup {
  std::string group;                // "no relevant evidence", "relevant evidence"
  int answers = 0;
  double mean_ignorance = 0;
  int flagged = 0;
};

struct ReaderExample {
  std::string question;
  std::string truth;
  std::string answer;
  bool relaxed = false;
  std::vector<search::Evidence> evidences;  // prompt order
};

struct ReaderReport {
  std::vector<ReaderRow> rows;
  std::vector<IgnoranceGroup> ignorance;  // empty without a scorer
  std::vector<ReaderExample> examples;
  int questions = 0;
  double seconds = 0;
};

Result<ReaderReport> RunReaderExperiment(runtime::LanguageModel& model, search::SearchBackend& backend,
                                         std::span<const ReaderQuestion> questions,
                                         const ReaderExperimentOptions& options, const ProgressCallback& progress = {});

std::string RenderReaderReport(const ReaderReport& report);
nlohmann::json ToJson(const ReaderReport& report);

}  // namespace lmlab::fresh
