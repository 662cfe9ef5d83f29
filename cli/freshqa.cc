// `lmlab freshqa run|grade|recency`: evaluate FreshPrompt on FreshQA (Vu et
// al. 2023) and measure evidence recency on Debian changelogs. See docs/freshqa.md.
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/model_flags.h"
#include "lmlab/core/file.h"
#include "lmlab/fresh/freshqa.h"
#include "lmlab/fresh/recency.h"
#include "lmlab/search/ingest.h"
#include "lmlab/search/local_index.h"
#include "lmlab/search/searxng.h"

namespace lmlab::cli::freshqa_cmd {
namespace {

namespace fs = std::filesystem;
using namespace lmlab::fresh;

struct Options {
  std::string csv;
  std::string out = "freshqa-responses.json";
  std::string responses = "freshqa-responses.json";
  std::string grades;
  std::string index;
  std::string searxng;
  bool no_search = false;
  std::string today;
  std::string split = "TEST";
  int limit = 0;
  int k = 5;
  std::string order = "date";
  bool check_premise = false;
  bool chat = false;
  int demos = 5;
  int max_tokens = 256;
  ModelFlags model;
  runtime::ModelSpec judge;
  int packages = 200;
  int num_results = 10;
  std::string doc_root = "/usr/share/doc";
  bool json = false;
};

std::unique_ptr<search::SearchBackend> OpenBackend(const Options& o) {
  if (o.no_search) return search::MakeNullBackend("search disabled (--no-search)");
  if (!o.searxng.empty()) {
    search::SearxngOptions so;
    so.base_url = o.searxng;
    return search::OpenSearxng(so);
  }
  if (o.index.empty()) throw UsageError("pass --index PATH, --searxng URL or --no-search");
  return OrExit(search::LocalIndex::Open(o.index, search::OpenMode::kReadOnly));
}

int RunRun(const Options& o) {
  if (o.today.empty())
    throw UsageError("--today YYYY-MM-DD is required: FreshQA answers are judged as of a date (2023-12-20 for the Dec-2023 file)");
  auto questions = OrExit(LoadFreshQa(o.csv));
  RunOptions r;
  r.answer.today = OrExit(search::ParseDay(o.today));
  r.answer.k = o.k;
  r.answer.order = OrExit(ParseEvidenceOrder(o.order));
  r.answer.check_premise = o.check_premise ? PremiseCheck::kOn : PremiseCheck::kOff;
  r.answer.search = o.no_search ? SearchMode::kNoSearch : SearchMode::kSearch;
  r.answer.style = o.chat ? PromptStyle::kChat : PromptStyle::kCompletion;
  r.answer.num_demonstrations = o.demos;
  r.answer.max_tokens = o.max_tokens;
  r.split = o.split;
  r.limit = o.limit;
  CheckModelFlags(o.model);
  r.model_name = o.model.spec.gguf_path.empty() ? o.model.spec.api_model : fs::path(o.model.spec.gguf_path).filename().string();
  auto backend = OpenBackend(o);
  auto model = OpenModelOrExit(o.model);
  ProgressBar bar;
  RunSummary s = OrExit(RunFreshQa(*model, *backend, questions, r, o.out, bar.Callback()));
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

int RunGrade(const Options& o) {
  auto questions = OrExit(LoadFreshQa(o.csv));
  std::unique_ptr<runtime::LanguageModel> judge;
  if (!o.judge.gguf_path.empty() || !o.judge.endpoint.empty()) {
    ModelFlags flags{o.judge};
    CheckModelFlags(flags);
    judge = OpenModelOrExit(flags);
  }
  std::string grades = o.grades.empty() ? fs::path(o.responses).replace_extension("").string() + ".grades.json" : o.grades;
  ProgressBar bar;
  GradeReport r = OrExit(GradeFreshQa(questions, o.responses, judge.get(), {}, grades, bar.Callback()));
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
  std::cout << RenderGradeReport(r) << "Grades: " << grades << "\n";
  for (const auto& w : warnings) std::cout << "warning: " << w << "\n";
  return 0;
}

int RunRecency(const Options& o) {
  if (o.packages < 1) throw UsageError("--packages must be at least 1");
  auto paths = search::DebianChangelogPaths(o.doc_root);
  if (paths.empty()) throw CommandError({ErrorCode::kNotFound, "no changelog.Debian.gz under " + o.doc_root});
  // Every n-th package (sorted by name), so the sample is spread and repeatable.
  std::vector<search::Document> docs;
  size_t stride = std::max<size_t>(1, paths.size() / static_cast<size_t>(o.packages));
  for (size_t i = 0; i < paths.size() && docs.size() < 1u << 20; i += stride) {
    auto more = search::ReadDocuments(paths[i], {});
    if (more) docs.insert(docs.end(), more->begin(), more->end());
  }
  auto questions = RecencyQuestions(docs);
  fs::path index_path = o.index;
  fs::path tmp_dir;
  if (index_path.empty()) {
    char tmpl[] = "/tmp/lmlab-recency-XXXXXX";
    if (!mkdtemp(tmpl)) throw CommandError({ErrorCode::kIo, "cannot create a temporary directory"});
    tmp_dir = tmpl;
    index_path = tmp_dir / "changelogs.sqlite";
  }
  ProgressBar bar;
  auto index = OrExit(search::LocalIndex::Open(index_path, search::OpenMode::kCreate));
  OrExit(index->Add(docs, bar.Callback()));
  RecencyOptions ro;
  ro.k = o.k;
  ro.num_results = o.num_results;
  auto report = RunRecencyBenchmark(*index, questions, ro, bar.Callback());
  bar.Finish();
  index.reset();
  if (!tmp_dir.empty()) fs::remove_all(tmp_dir);
  RecencyReport r = OrExit(std::move(report));
  if (o.json) {
    nlohmann::json j = ToJson(r);
    j["packages"] = questions.size();
    j["documents"] = docs.size();
    PrintJson(j);
    return 0;
  }
  std::cout << questions.size() << " packages, " << docs.size()
            << " changelog entries; question: \"What is the latest version of <package> and when was it released?\"\n"
            << RenderRecencyReport(r);
  return 0;
}

void AddSearchFlags(CLI::App* s, Options& o) {
  s->add_option("--index", o.index, "Local index from 'lmlab index add'")->group("Search");
  s->add_option("--searxng", o.searxng, "SearXNG instance URL instead of a local index")->group("Search");
  s->add_flag("--no-search", o.no_search, "The model alone (the paper's no-search baseline)")->group("Search");
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
  run->add_option("--k", o->k, "Evidences per prompt")->capture_default_str();
  run->add_option("--order", o->order, "date, relevance or random")->capture_default_str();
  run->add_flag("--check-premise", o->check_premise, "Add the false-premise check");
  run->add_flag("--chat", o->chat, "Send prompts as chat messages");
  run->add_option("--demos", o->demos, "Demonstrations 0..5")->capture_default_str();
  run->add_option("--max-tokens", o->max_tokens, "Longest answer")->capture_default_str();
  run->add_flag("--json", o->json, "Print a JSON summary");
  AddSearchFlags(run, *o);
  AddModelFlags(run, o->model);
  SetRun(run, [o] { return RunRun(*o); });

  CLI::App* grade = AddCommand(*fq, "grade", "Grade responses: offline alias match, and relaxed/strict with an LLM judge",
                               "  lmlab freshqa grade --csv freshqa.csv --responses freshqa-responses.json\n"
                               "  lmlab freshqa grade --csv freshqa.csv --responses r.json --judge-endpoint http://127.0.0.1:8080 \\\n"
                               "      --judge-api-model qwen --json\n");
  grade->add_option("--csv", o->csv, "The FreshQA CSV the responses were made from")->required();
  grade->add_option("--responses", o->responses, "Responses from 'lmlab freshqa run'")->capture_default_str();
  grade->add_option("--grades", o->grades, "Grades file (default: <responses>.grades.json; reused to resume)");
  grade->add_option("--judge-model", o->judge.gguf_path, "Judge: a local GGUF model")->group("Judge");
  grade->add_option("--judge-endpoint", o->judge.endpoint, "Judge: an OpenAI-compatible endpoint")->group("Judge");
  grade->add_option("--judge-api-model", o->judge.api_model, "Judge: model name at --judge-endpoint")->group("Judge");
  grade->add_option("--judge-ctx", o->judge.n_ctx, "Judge: context window (0 = the model's own)")->group("Judge");
  grade->add_flag("--json", o->json, "Print JSON");
  SetRun(grade, [o] { return RunGrade(*o); });

  CLI::App* recency = AddCommand(*fq, "recency", "Does the evidence window hold the newest changelog entry? date vs relevance order",
                                 "  lmlab freshqa recency\n"
                                 "  lmlab freshqa recency --packages 500 --k 5 --num-results 20 --json\n");
  recency->add_option("--packages", o->packages, "Debian packages to sample (every n-th by name)")->capture_default_str();
  recency->add_option("--k", o->k, "Evidence window size")->capture_default_str();
  recency->add_option("--num-results", o->num_results, "Results retrieved before ordering")->capture_default_str();
  recency->add_option("--doc-root", o->doc_root, "Where changelogs live")->capture_default_str();
  recency->add_option("--index", o->index, "Keep the changelog index at this path (default: a temporary file)");
  recency->add_flag("--json", o->json, "Print JSON");
  SetRun(recency, [o] { return RunRecency(*o); });
}

}  // namespace lmlab::cli::freshqa_cmd
