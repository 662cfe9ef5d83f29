// `lmlab freshqa run|grade|recency|reader`: evaluate FreshPrompt on FreshQA (Vu et
// al. 2023) and measure evidence recency on Debian changelogs. See docs/freshqa.md.
#include <fmt/format.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/fresh_flags.h"
#include "cli/model_flags.h"
#include "cli/slurm_flags.h"
#include "lmlab/core/file.h"
#include "lmlab/fresh/freshqa.h"
#include "lmlab/fresh/reader.h"
#include "lmlab/fresh/recency.h"
#include "lmlab/core/format.h"
#include "lmlab/ood/ignorance.h"

namespace lmlab::cli::freshqa_cmd {
namespace {

namespace fs = std::filesystem;
using namespace lmlab::fresh;

struct Options {
  std::string csv;
  std::string out = "freshqa-responses.json";
  std::string responses = "freshqa-responses.json";
  std::string grades;
  SearchFlags search;
  AnswerFlags answer;         // run
  AnswerFlags reader_answer;  // reader
  SearchFlags reader_search;
  std::string today;
  std::string split = "TEST";
  int limit = 0;
  ModelFlags model;
  runtime::ModelSpec judge;
  int packages = 200;
  int max_questions = 0;
  int num_results = 10;
  int num_recent = 0;
  int k = 5;
  std::string doc_root = "/usr/share/doc";
  std::string index;
  std::string monitor;
  std::string corpus_out;
  std::string labelled;
  bool judge_chat = false;
  int judge_attempts = 3;
  bool json = false;
  SlurmFlags slurm;
  int questions_per_element = 50;
  int shard = -1;  // >= 0: one element of a --slurm run
  int shards = 0;
};

// Where element `shard` of `freshqa run --slurm` keeps its answers.
fs::path ShardFile(const std::string& out, int shard) {
  return fs::path(out + ".shards") / fmt::format("{}.json", shard);
}

// --slurm: the selected questions in slices of --questions-per-element, one
// Slurm array element each (this very command with --shard), merged into
// --out afterwards. Returns false when there is nothing more to do (a dry run).
bool AnswerOnSlurm(const Options& o, std::span<const FreshQaQuestion> questions, const RunOptions& r, ProgressBar& bar) {
  if (o.questions_per_element < 1)
    throw UsageError(fmt::format("--questions-per-element: must be >= 1 (got {})", o.questions_per_element));
  const size_t n = OrExit(SelectQuestions(questions, r)).size();
  const int shards = std::max<int>(1, int((n + o.questions_per_element - 1) / o.questions_per_element));
  sched::ArrayJob job;
  job.name = "lmlab-freshqa";
  job.command = ElementCommandFromSelf({"--shard", "{element}", "--shards", std::to_string(shards)});
  job.size = shards;
  job.state_dir = fs::absolute(fs::path(o.out + ".shards") / "slurm");
  job.work_dir = fs::current_path();
  sched::FollowOptions follow;  // an element is done when it exited 0 (its file grows answer by answer)
  if (o.slurm.dry_run) {
    PrintDryRun(o.slurm, job, follow);
    return false;
  }
  follow.progress = bar.Callback();
  RunElementsOrExit(o.slurm, job, follow);
  std::vector<fs::path> parts;
  for (int i = 0; i < shards; ++i)
    if (fs::exists(ShardFile(o.out, i))) parts.push_back(ShardFile(o.out, i));  // a slice without questions leaves none
  if (!parts.empty()) OrExit(MergeResponses(parts, o.out));
  return true;
}

int RunRun(const Options& o) {
  if (o.today.empty())
    throw UsageError("--today YYYY-MM-DD is required: FreshQA answers are judged as of a date (2023-12-20 for the Dec-2023 file)");
  auto questions = OrExit(LoadFreshQa(o.csv));
  ModelFlags model = o.model;
  ProgressBar bar;
  const bool reader = UseReaderModelIfNone(model, bar);
  RunOptions r;
  r.answer = ToAnswerOptions(o.answer, reader ? ReaderAnswerOptions(train::ReaderModelRecipe()) : AnswerOptions{});
  r.answer.today = OrExit(search::ParseDay(o.today));
  r.answer.search = o.search.no_search ? SearchMode::kNoSearch : SearchMode::kSearch;
  r.split = o.split;
  r.limit = o.limit;
  std::string out = o.out;
  if (o.shard >= 0) {
    r.shard = o.shard;
    r.shards = o.shards;
    out = ShardFile(o.out, o.shard).string();
  }
  CheckModelFlags(model);
  r.model_name = model.spec.gguf_path.empty() ? model.spec.api_model : fs::path(model.spec.gguf_path).filename().string();
  if (o.slurm.Enabled() && o.shard < 0 && !AnswerOnSlurm(o, questions, r, bar)) return 0;
  fresh::OpenedBackend opened = OpenSearchOrExit(o.search, fresh::WhenUnset::kRequired, bar);
  auto lm = OpenModelOrExit(model);
  RunSummary s = OrExit(RunFreshQa(*lm, *opened.backend, questions, r, out, bar.Callback()));
  bar.Finish();
  std::vector<std::string> warnings;
  if (s.total > 0 && s.failed == s.total)
    warnings.push_back("every question failed: there is nothing to grade (see the errors in " + o.out + ")");
  if (o.json) {
    PrintJson({{"responses", o.out}, {"total", s.total}, {"answered", s.answered}, {"resumed", s.resumed},
               {"failed", s.failed}, {"ungrounded", s.ungrounded}, {"warnings", warnings}});
    return 0;
  }
  for (const auto& w : warnings) std::cout << "warning: " << w << "\n";
  std::cout << "Answered " << s.answered << " of " << s.total << " questions (" << s.resumed << " from an earlier run, "
            << s.failed << " failed, " << s.ungrounded << " ungrounded) -> " << o.out << "\n"
            << "Grade them: lmlab freshqa grade --csv " << o.csv << " --responses " << o.out << "\n";
  return 0;
}

std::unique_ptr<runtime::LanguageModel> OpenJudge(const Options& o) {
  if (o.judge.gguf_path.empty() && o.judge.endpoint.empty()) return nullptr;
  ModelFlags flags{o.judge};
  CheckModelFlags(flags);
  return OpenModelOrExit(flags);
}

GradeOptions JudgeOptions(const Options& o) {
  if (o.judge_attempts < 1) throw UsageError("--judge-attempts must be at least 1");
  GradeOptions g;
  g.max_attempts = o.judge_attempts;
  g.judge_style = o.judge_chat ? PromptStyle::kChat : PromptStyle::kCompletion;
  return g;
}

int RunGrade(const Options& o) {
  auto questions = OrExit(LoadFreshQa(o.csv));
  GradeOptions go = JudgeOptions(o);
  std::unique_ptr<runtime::LanguageModel> judge = OpenJudge(o);
  std::string grades = o.grades.empty() ? fs::path(o.responses).replace_extension("").string() + ".grades.json" : o.grades;
  ProgressBar bar;
  GradeReport r = OrExit(GradeFreshQa(questions, o.responses, judge.get(), go, grades, bar.Callback()));
  bar.Finish();
  std::vector<std::string> warnings;
  if (r.graded == 0) warnings.push_back("no response was graded: the responses file holds none");
  else if (r.judged && r.unparsed_judgements == 2 * r.graded)
    warnings.push_back("the judge gave no verdict for any answer: the relaxed and strict columns measure the judge's "
                       "format, not the answers (use a capable judge model)");
  if (o.json) {
    nlohmann::json j = ToJson(r);
    j["grades"] = grades;
    j["warnings"] = warnings;
    PrintJson(j);
    return 0;
  }
  std::cout << RenderGradeReport(r);
  if (!r.judged) std::cout << "For relaxed/strict, pass --judge-model or --judge-endpoint.\n";
  std::cout << "Grades: " << grades << "\n";
  for (const auto& w : warnings) std::cout << "warning: " << w << "\n";
  return 0;
}

int RunAgreement(const Options& o) {
  auto labelled = OrExit(LoadLabelledResponses(o.labelled));
  GradeOptions go = JudgeOptions(o);
  std::unique_ptr<runtime::LanguageModel> judge = OpenJudge(o);
  const search::Day today = o.today.empty() ? search::TodayUtc() : OrExit(search::ParseDay(o.today));
  ProgressBar bar;
  auto agreement = OrExit(MeasureAgreement(labelled, judge.get(), today, go, bar.Callback()));
  bar.Finish();
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& a : agreement)
    rows.push_back({{"mode", GradeModeName(a.mode)}, {"n", a.n}, {"agree", a.agree}, {"unparsed", a.unparsed},
                    {"disagreements", a.disagreements}});
  if (o.json) {
    PrintJson({{"grader", judge ? "FreshEval (LLM judge)" : "alias (offline)"}, {"labelled", labelled.size()}, {"modes", rows}});
    return 0;
  }
  std::cout << "Grader: " << (judge ? "FreshEval with the given judge" : "the offline alias rule (no --judge-*)") << "; "
            << labelled.size() << " labelled responses\n";
  for (const auto& a : agreement)
    std::cout << "  " << GradeModeName(a.mode) << ": agrees on " << a.agree << " of " << a.n
              << (a.unparsed ? " (" + std::to_string(a.unparsed) + " verdicts unparsable)" : "") << "\n";
  return 0;
}

int RunRecency(const Options& o) {
  if (o.packages < 1) throw UsageError("--packages must be at least 1");
  if (o.k < 1 || o.num_results < 1) throw UsageError("--k and --num-results must be at least 1");
  fs::path tmp_dir;
  RecencyStudyOptions so;
  so.doc_root = o.doc_root;
  so.changelogs = o.packages;
  so.max_questions = o.max_questions;
  so.benchmark.k = o.k;
  so.benchmark.num_results = o.num_results;
  so.benchmark.num_recent = o.num_recent;
  so.index = o.index;
  if (so.index.empty()) {
    char tmpl[] = "/tmp/lmlab-recency-XXXXXX";
    if (!mkdtemp(tmpl)) throw CommandError({ErrorCode::kIo, "cannot create a temporary directory"});
    tmp_dir = tmpl;
    so.index = tmp_dir / "changelogs.sqlite";
  }
  ProgressBar bar;
  auto study = RunRecencyStudy(so, bar.Callback());
  bar.Finish();
  if (!tmp_dir.empty()) fs::remove_all(tmp_dir);
  if (!study) throw CommandError(study.error());
  const RecencyStudy& r = *study;
  if (o.json) {
    PrintJson(ToJson(r));
    return 0;
  }
  std::cout << r.questions.size() << " packages, " << r.documents
            << " changelog entries; question: \"What is the latest version of <package> and when was it released?\"\n"
            << RenderRecencyReport(r.report);
  return 0;
}

// Writes the reader's training corpus (one episode per blank-line-separated
// document, as the trainer reads it) without training.
int WriteReaderCorpus(const Options& o) {
  ProgressBar bar;
  DatedSources src = OrExit(ReadDatedSources({.doc_root = o.doc_root}, bar.Callback()));
  ReaderCorpusStats st;
  std::vector<std::string> corpus = OrExit(BuildReaderCorpus(train::ReaderModelRecipe(), src, bar.Callback(), &st));
  bar.Finish();
  std::string text;
  for (const auto& d : corpus) text += d + "\n\n";
  OrExit(WriteFileAtomic(o.corpus_out, text));
  nlohmann::json j = {{"corpus", o.corpus_out},         {"episodes", st.episodes},
                      {"release_episodes", st.release_episodes}, {"training_packages", st.training_packages},
                      {"held_out_packages", st.held_out_packages}, {"bytes", st.bytes}};
  if (o.json) PrintJson(j);
  else std::cout << j.dump(1) << "\n";
  return 0;
}

int RunReader(const Options& o) {
  if (!o.corpus_out.empty()) return WriteReaderCorpus(o);
  ModelFlags model = o.model;
  ProgressBar bar;
  const bool reader = UseReaderModelIfNone(model, bar);
  CheckModelFlags(model);
  const train::ReaderRecipe recipe = train::ReaderModelRecipe();
  ReaderExperimentOptions eo;
  eo.answer = ToAnswerOptions(o.reader_answer, reader ? ReaderAnswerOptions(recipe) : AnswerOptions{});
  eo.today = o.today.empty() ? search::TodayUtc() : OrExit(search::ParseDay(o.today));
  eo.max_questions = o.max_questions;
  const SearchFlags& search = o.reader_search;
  if (search.no_search) throw UsageError("the reader experiment runs its own no-search condition; drop --no-search");
  fresh::OpenedBackend opened = OpenSearchOrExit(search, fresh::WhenUnset::kDatedSources, bar);
  DatedSources src = OrExit(ReadDatedSources({.doc_root = o.doc_root}, bar.Callback()));
  bar.Finish();
  std::vector<ReaderQuestion> questions = HeldOutQuestions(src, recipe);
  auto lm = OpenModelOrExit(model);
  std::optional<ood::IgnoranceMonitor> monitor;
  if (!o.monitor.empty()) {
    monitor = OrExit(ood::LoadIgnoranceMonitor(o.monitor));
    eo.ignorance = [&](runtime::LanguageModel& m, const std::string& prompt,
                       const std::string& generated) -> Result<IgnoranceScore> {
      LMLAB_ASSIGN_OR_RETURN(ood::AnswerIgnorance a, monitor->ScoreAnswer(m, prompt, generated));
      return IgnoranceScore{a.ignorance, a.flagged};
    };
  }
  ReaderReport r = OrExit(RunReaderExperiment(*lm, *opened.backend, questions, eo, bar.Callback()));
  bar.Finish();
  if (o.json) {
    nlohmann::json j = ToJson(r);
    j["model"] = model.spec.gguf_path.empty() ? model.spec.api_model : model.spec.gguf_path;
    j["backend"] = opened.description;
    PrintJson(j);
    return 0;
  }
  std::cout << "Model: " << (reader ? "lmlab's reader" : model.spec.gguf_path + model.spec.api_model)
            << "; search: " << opened.description << "\n"
            << RenderReaderReport(r) << "Took " << FormatFixed(r.seconds, 1) << " s.\n";
  return 0;
}

}  // namespace

void Register(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* fq = AddCommand(app, "freshqa", "Evaluate FreshPrompt on FreshQA; measure evidence recency on Debian changelogs",
                            "  lmlab freshqa run --csv freshqa.csv --index wiki.sqlite --today 2023-12-20 --model m.gguf --limit 50\n"
                            "  lmlab freshqa grade --csv freshqa.csv --responses freshqa-responses.json --judge-model judge.gguf\n"
                            "  lmlab freshqa recency --packages 200 --k 5\n");
  fq->require_subcommand(1);

  CLI::App* run = AddCommand(*fq, "run", "Answer FreshQA questions with FreshPrompt; resumable",
                             "  lmlab freshqa run --csv freshqa.csv --index wiki.sqlite --today 2023-12-20 --model m.gguf\n"
                             "  lmlab freshqa run --csv freshqa.csv --no-search --today 2023-12-20 --model m.gguf --out base.json\n"
                             "  lmlab freshqa run --csv freshqa.csv --searxng http://127.0.0.1:8888 --today 2023-12-20 \\\n"
                             "      --endpoint http://127.0.0.1:8080 --api-model qwen --chat --k 15 --split DEV\n");
  run->add_option("--csv", o->csv, "FreshQA CSV (id, split, question, ..., answer_0..answer_9)")->required();
  run->add_option("--out", o->out, "Responses file (JSON; rewritten atomically after each answer; rerun to resume)")
      ->capture_default_str();
  run->add_option("--today", o->today, "The date answers are given on, YYYY-MM-DD");
  run->add_option("--split", o->split, "TEST, DEV or all")->capture_default_str();
  run->add_option("--limit", o->limit, "First N questions of the split (0 = all)")->capture_default_str();
  run->add_flag("--json", o->json, "Print a JSON summary");
  AddSearchFlags(run, o->search, "Local index from 'lmlab index add'");
  AddAnswerFlags(run, o->answer);
  AddModelFlags(run, o->model);
  AddSlurmFlags(run, o->slurm);
  run->add_option("--questions-per-element", o->questions_per_element,
                  "With --slurm: questions answered by one array element (their answers merged into --out)")
      ->capture_default_str()
      ->group("Slurm");
  run->add_option("--shard", o->shard, "Answer only this slice of the questions (an element of a --slurm run)")
      ->group("");
  run->add_option("--shards", o->shards, "Slices in all (with --shard)")->group("");
  SetRun(run, [o] { return RunRun(*o); });

  CLI::App* grade = AddCommand(*fq, "grade", "Grade responses: offline alias match, and relaxed/strict with an LLM judge",
                               "  lmlab freshqa grade --csv freshqa.csv --responses freshqa-responses.json\n"
                               "  lmlab freshqa grade --csv freshqa.csv --responses r.json --judge-endpoint http://127.0.0.1:8080 \\\n"
                               "      --judge-api-model qwen --json\n");
  grade->add_option("--csv", o->csv, "The FreshQA CSV the responses were made from")->required();
  grade->add_option("--responses", o->responses, "Responses from 'lmlab freshqa run'")->capture_default_str();
  grade->add_option("--grades", o->grades, "Grades file (default: <responses>.grades.json; reused to resume)");
  auto add_judge = [&](CLI::App* c) {
    c->add_option("--judge-model", o->judge.gguf_path, "Judge: a local GGUF model")->group("Judge");
    c->add_option("--judge-endpoint", o->judge.endpoint, "Judge: an OpenAI-compatible endpoint")->group("Judge");
    c->add_option("--judge-api-model", o->judge.api_model, "Judge: model name at --judge-endpoint")->group("Judge");
    c->add_option("--judge-ctx", o->judge.n_ctx, "Judge: context window (0 = the model's own)")->group("Judge");
    c->add_flag("--judge-chat", o->judge_chat, "Judge: chat messages with the paper's date framing (chat-tuned judges)")
        ->group("Judge");
    c->add_option("--judge-attempts", o->judge_attempts, "Judge: asks per verdict while it is unparsable")
        ->capture_default_str()
        ->group("Judge");
  };
  add_judge(grade);
  grade->add_flag("--json", o->json, "Print JSON");
  SetRun(grade, [o] { return RunGrade(*o); });

  CLI::App* agreement = AddCommand(
      *fq, "agreement", "How often a grader agrees with hand-labelled responses (FreshEval's judge, or the alias rule)",
      "  lmlab freshqa agreement --labelled tests/fresh/data/fresheval_labelled.json\n"
      "  lmlab freshqa agreement --labelled labelled.json --judge-endpoint http://127.0.0.1:8080 --judge-api-model qwen "
      "--judge-chat\n");
  agreement->add_option("--labelled", o->labelled, "Labelled responses (JSON: question, correct_answers, response, "
                                                   "false_premise, relaxed, strict)")
      ->required();
  agreement->add_option("--today", o->today, "The judge's date, YYYY-MM-DD (default: today, UTC)");
  add_judge(agreement);
  agreement->add_flag("--json", o->json, "Print JSON");
  SetRun(agreement, [o] { return RunAgreement(*o); });

  CLI::App* recency = AddCommand(*fq, "recency", "Does the evidence window hold the newest changelog entry? date vs relevance order",
                                 "  lmlab freshqa recency\n"
                                 "  lmlab freshqa recency --packages 500 --k 5 --num-results 20 --json\n");
  recency->add_option("--packages", o->packages, "Changelogs to sample (spread evenly over the sorted paths)")->capture_default_str();
  recency->add_option("--max-questions", o->max_questions, "Ask about the first N packages only (0 = all)")->capture_default_str();
  recency->add_option("--k", o->k, "Evidence window size")->capture_default_str();
  recency->add_option("--num-results", o->num_results, "Results retrieved before ordering")->capture_default_str();
  recency->add_option("--num-recent", o->num_recent, "Fresh results besides them (the local index's recent-results box)")
      ->capture_default_str();
  recency->add_option("--doc-root", o->doc_root, "Where changelogs live")->capture_default_str();
  recency->add_option("--index", o->index, "Keep the changelog index at this path (default: a temporary file)");
  recency->add_flag("--json", o->json, "Print JSON");
  SetRun(recency, [o] { return RunRecency(*o); });

  CLI::App* reader = AddCommand(
      *fq, "reader",
      "The reader experiment: held-out packages' questions with no search, FreshPrompt in date / relevance / "
      "random order, k = 1, 5, 10",
      "  lmlab freshqa reader                       # lmlab's reader over this machine's dated sources\n"
      "  lmlab freshqa reader --max-questions 100 --json\n"
      "  lmlab freshqa reader --monitor monitor.json  # ignorance with vs without relevant evidence\n"
      "  lmlab freshqa reader --model other.gguf --index deb.sqlite\n");
  reader->add_option("--max-questions", o->max_questions, "First N held-out questions (0 = all)")->capture_default_str();
  reader->add_option("--today", o->today, "The date answers are given on, YYYY-MM-DD (default: today, UTC)");
  reader->add_option("--doc-root", o->doc_root, "Where changelogs live")->capture_default_str();
  reader->add_option("--monitor", o->monitor,
                     "Ignorance monitor from 'lmlab ood lm --save-monitor': ignorance with vs without relevant evidence");
  reader->add_option("--corpus-out", o->corpus_out,
                     "Write the reader's training corpus (FreshPrompt episodes) to this file and stop");
  reader->add_flag("--json", o->json, "Print JSON");
  AddSearchFlags(reader, o->reader_search, "Local index (default: this machine's dated sources, indexed on first use)");
  AddAnswerFlags(reader, o->reader_answer);
  AddModelFlags(reader, o->model);
  SetRun(reader, [o] { return RunReader(*o); });
}

}  // namespace lmlab::cli::freshqa_cmd
