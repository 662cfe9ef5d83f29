// FreshQA (Vu et al. 2023): 600 questions whose answers never change, change
// slowly, change fast, or rest on a false premise. Run a model over them with
// FreshPrompt, then grade the answers:
//   - alias:   offline, an accepted answer (answer_0..answer_9) appears in the
//              response (false premises: the response also denies the premise);
//   - relaxed, strict: FreshEval as the paper runs it (fresheval_*.ipynb): an
//              LLM judge gets the mode's rules, 15 demonstrations, then the
//              question, its correct answers and the response (nothing else:
//              not the false-premise label, not the fact type), writes a
//              comment and "evaluation: correct|incorrect". Verdicts it does not
//              state are asked again (a bounded number of times) and reported
//              apart, never counted as wrong.
// The report is the paper's breakdown (Table 1): all; valid premise (all,
// fast / slow / never-changing, effective year before 2022 / 2022 and after,
// one-hop / multi-hop); false premise (all, before 2022).
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
  // One element of a sharded run (`freshqa run --slurm`): only shard `shard`
  // of `shards` contiguous slices of the selected questions. Not part of the
  // responses file's settings: the shards' files merge into one
  // (MergeResponses).
  int shard = 0;
  int shards = 1;
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

// The questions a run answers: those of options.split, the first
// options.limit of them, then options.shard's slice. kInvalidArgument for a
// split or shard out of range.
Result<std::vector<const FreshQaQuestion*>> SelectQuestions(std::span<const FreshQaQuestion> questions,
                                                            const RunOptions& options);

// Adds the answers of the shards' responses files (in the order given) to
// `responses_path`, skipping questions it already has, and writes it
// atomically; returns how many were added. Every file must have been written
// with the same settings (kInvalidArgument naming the first that differs).
Result<int> MergeResponses(std::span<const std::filesystem::path> shard_files,
                           const std::filesystem::path& responses_path);

enum class GradeMode { kRelaxed, kStrict };
enum class Verdict { kCorrect, kIncorrect, kUnparsed };  // kUnparsed: reported apart, not counted

std::string_view GradeModeName(GradeMode mode);  // "relaxed", "strict"

// Offline grader: accepted answers matched in the normalised response.
Verdict AliasMatch(const FreshQaQuestion& q, std::string_view response);

// What the judge is shown about one response: exactly these three things.
struct JudgeCase {
  std::string question;
  std::vector<std::string> correct_answers;
  std::string response;
};

// FreshEval's prompt: the mode's instruction, the 15 demonstrations
// (data/fresh/fresheval.json), then the case, ending with "comment: ".
// `today` fills the demonstrations' reasoning prefix.
Result<std::string> BuildJudgePrompt(const JudgeCase& c, GradeMode mode, search::Day today);
// The paper's chat framing for the judge: a system line with the knowledge
// cutoff (`today`), the date exchange, then the prompt.
std::vector<runtime::ChatMessage> JudgeChatMessages(std::string_view prompt, search::Day today);
// The paper's parse: the last word of a line with "evaluation: " must be
// correct or incorrect; else "Thus, the response is (not) credited."; else kUnparsed.
Verdict ParseJudgeVerdict(std::string_view judge_output);

struct GradeOptions {
  int judge_max_tokens = 256;                       // the paper's
  int max_attempts = 3;                             // asks per verdict; later asks sample (temperature 0.7)
  PromptStyle judge_style = PromptStyle::kCompletion;  // kChat for chat-tuned judges
};

// One verdict from the judge, asked again while it is unparsable.
struct Judgement {
  Verdict verdict = Verdict::kUnparsed;
  int attempts = 0;
  std::string output;  // the judge's last output
};
Result<Judgement> Judge(runtime::LanguageModel& judge, const JudgeCase& c, GradeMode mode, search::Day today,
                        const GradeOptions& options);

struct Accuracy {
  int n = 0;          // graded (unparsed verdicts excluded)
  int correct = 0;
  int unparsed = 0;   // verdicts the judge never stated
  double accuracy() const { return n ? static_cast<double>(correct) / n : 0; }
};

struct GradeRow {
  std::string group;   // "all", "valid premise", "valid premise: fast-changing", "false premise: before 2022", ...
  int questions = 0;
  Accuracy alias, relaxed, strict;  // relaxed/strict n = 0 without a judge
};

struct GradeReport {
  std::vector<GradeRow> rows;  // the paper's breakdown, in its order
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

// ---- Agreement with hand labels ---------------------------------------------

// A response labelled by a person under both modes.
struct LabelledResponse {
  JudgeCase c;
  bool false_premise = false;  // for the record; never shown to the judge
  Verdict relaxed = Verdict::kUnparsed;
  Verdict strict = Verdict::kUnparsed;
  std::string note;
};
// {"responses": [{question, correct_answers, response, false_premise, relaxed, strict, note}]}.
Result<std::vector<LabelledResponse>> LoadLabelledResponses(const std::filesystem::path& path);

struct Agreement {
  GradeMode mode = GradeMode::kRelaxed;
  int n = 0;
  int agree = 0;
  int unparsed = 0;
  std::vector<int> disagreements;  // indices into the labelled set
};
// How often a grader's verdicts match the labels, per mode. `judge` = null
// grades with the offline alias rule (a false premise needs a denial).
Result<std::vector<Agreement>> MeasureAgreement(std::span<const LabelledResponse> labelled,
                                                runtime::LanguageModel* judge, search::Day today,
                                                const GradeOptions& options, const ProgressCallback& progress = {});

}  // namespace lmlab::fresh
