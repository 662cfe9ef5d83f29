// FreshQA (Vu et al. 2023): 600 questions whose answers never change, change
// slowly, change fast, or rest on a false premise. Run a model over them with
// FreshPrompt, then grade the answers three ways:
//   - alias:   offline, an accepted answer (answer_0..answer_9) appears in the
//              response (false premises: the response also denies the premise);
//   - relaxed: an LLM judge checks only the main answer;
//   - strict:  an LLM judge also rejects any wrong or outdated detail.
// Accuracy is reported overall and by fact_type, false_premise and num_hops.
//
//   LMLAB_ASSIGN_OR_RETURN(auto qs, LoadFreshQa("freshqa.csv"));
//   LMLAB_RETURN_IF_ERROR(RunFreshQa(*model, *index, qs, run_options, "responses.json", progress));
//   LMLAB_ASSIGN_OR_RETURN(GradeReport r, GradeFreshQa(qs, "responses.json", judge.get(), grade_options, "grades.json", progress));
#pragma once

#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lmlab/core/progress.h"
#include "lmlab/fresh/fresh_prompt.h"

namespace lmlab::fresh {

struct FreshQaQuestion {
  std::string id;
  std::string split;            // "TEST" or "DEV"
  std::string question;
  std::string effective_year;
  std::string next_review;
  bool false_premise = false;
  std::string num_hops;         // "one-hop", "multi-hop"
  std::string fact_type;        // "never-changing", "slow-changing", "fast-changing"
  std::string source;
  std::vector<std::string> answers;  // answer_0..answer_9, non-empty ones
};

// kParse naming the missing column or the bad line.
Result<std::vector<FreshQaQuestion>> ParseFreshQa(std::string_view csv_text);
Result<std::vector<FreshQaQuestion>> LoadFreshQa(const std::filesystem::path& path);

struct RunOptions {
  AnswerOptions answer;         // question is filled per item; today, k, order, ... apply to all
  std::string split = "TEST";   // "TEST", "DEV" or "all"
  int limit = 0;                // 0 = all questions of the split
  std::string model_name;       // recorded in the responses file
};

struct RunSummary {
  int total = 0;                // questions selected
  int answered = 0;             // answered in this run
  int resumed = 0;              // already in the responses file
  int failed = 0;               // recorded with an error (e.g. too long for the context)
  int ungrounded = 0;
};

// Answers each selected question and rewrites `responses_path` atomically
// after each answer, so an interrupted run resumes where it stopped. A
// responses file written with other settings (today, k, order, search,
// split, model) is kInvalidArgument: use another path.
Result<RunSummary> RunFreshQa(runtime::LanguageModel& model, search::SearchBackend& backend,
                              std::span<const FreshQaQuestion> questions, const RunOptions& options,
                              const std::filesystem::path& responses_path, const ProgressCallback& progress = {});

enum class GradeMode { kRelaxed, kStrict };
enum class Verdict { kCorrect, kIncorrect, kUnparsed };  // kUnparsed counts as incorrect

// Offline grader: accepted answers matched in the normalised response.
Verdict AliasMatch(const FreshQaQuestion& q, std::string_view response);
// The judge's prompt for one response (data/fresh/judge.json: rules + examples).
Result<std::string> BuildJudgePrompt(const FreshQaQuestion& q, search::Day answered_on, std::string_view response,
                                     GradeMode mode);
// "... verdict: correct" -> kCorrect; no verdict -> kUnparsed.
Verdict ParseJudgeVerdict(std::string_view judge_output);

struct GradeOptions {
  int judge_max_tokens = 96;
};

struct Accuracy {
  int n = 0;
  int correct = 0;
  double accuracy() const { return n ? static_cast<double>(correct) / n : 0; }
};

struct GradeRow {
  std::string group;   // "all", "fact_type=fast-changing", "false_premise=true", "num_hops=multi-hop"
  Accuracy alias, relaxed, strict;  // relaxed/strict n = 0 without a judge
};

struct GradeReport {
  std::vector<GradeRow> rows;
  int graded = 0;
  int unparsed_judgements = 0;
  bool judged = false;
};

// Grades every response in `responses_path`: alias always, relaxed and strict
// when `judge` is given. Grades are written to `grades_path` atomically after
// each judged response and reused on the next run (resumable).
Result<GradeReport> GradeFreshQa(std::span<const FreshQaQuestion> questions, const std::filesystem::path& responses_path,
                                 runtime::LanguageModel* judge, const GradeOptions& options,
                                 const std::filesystem::path& grades_path, const ProgressCallback& progress = {});

std::string RenderGradeReport(const GradeReport& report);
nlohmann::json ToJson(const GradeReport& report);

}  // namespace lmlab::fresh
