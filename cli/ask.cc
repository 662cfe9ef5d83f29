// `lmlab ask`: answer a question with FreshPrompt (Vu et al. 2023): search,
// sort the evidence by date so the newest sits next to the question, and let
// the model answer from it. See docs/ask.md.
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/model_flags.h"
#include "lmlab/ood/ignorance.h"
#include "lmlab/core/file.h"
#include "lmlab/core/format.h"
#include "lmlab/core/table.h"
#include "lmlab/fresh/fresh_prompt.h"
#include "lmlab/search/local_index.h"
#include "lmlab/search/searxng.h"

namespace lmlab::cli::ask_cmd {
namespace {

using namespace lmlab::fresh;

struct Options {
  std::string question;
  std::string index;
  std::string searxng;
  std::string today;
  ModelFlags model;
  int k = 5;
  int num_results = 0;
  std::string order = "date";
  uint64_t seed = 0;
  bool check_premise = false;
  bool no_search = false;
  bool chat = false;
  int demos = 5;
  int max_tokens = 256;
  float temperature = 0;
  double search_timeout = 10;
  bool show_prompt = false;
  std::string monitor;  // saved ood::IgnoranceMonitor
  bool json = false;
};

std::unique_ptr<search::SearchBackend> OpenBackend(const Options& o) {
  if (o.no_search) return search::MakeNullBackend("search disabled (--no-search)");
  if (!o.searxng.empty()) {
    if (!o.index.empty()) throw UsageError("give either --index or --searxng, not both");
    search::SearxngOptions so;
    so.base_url = o.searxng;
    return search::OpenSearxng(so);
  }
  std::string path = o.index.empty() ? (OrExit(CacheDir()) / "index.sqlite").string() : o.index;
  auto index = search::LocalIndex::Open(path, search::OpenMode::kReadOnly);
  if (!index && index.error().code == ErrorCode::kNotFound)
    throw CommandError({ErrorCode::kNotFound, "no search index at " + path +
                                                  ": build one with 'lmlab index add FILES --index " + path +
                                                  "', or pass --searxng URL or --no-search"});
  return OrExit(std::move(index));
}

std::string Clip(const std::string& s, size_t n) { return s.size() > n ? s.substr(0, n - 3) + "..." : s; }

int Run(const Options& o) {
  AnswerOptions a;
  a.question = o.question;
  a.today = o.today.empty() ? search::TodayUtc() : OrExit(search::ParseDay(o.today));
  a.k = o.k;
  a.num_results = o.num_results;
  a.order = OrExit(ParseEvidenceOrder(o.order));
  a.seed = o.seed;
  a.check_premise = o.check_premise ? PremiseCheck::kOn : PremiseCheck::kOff;
  a.search = o.no_search ? SearchMode::kNoSearch : SearchMode::kSearch;
  a.style = o.chat ? PromptStyle::kChat : PromptStyle::kCompletion;
  a.num_demonstrations = o.demos;
  a.max_tokens = o.max_tokens;
  a.temperature = o.temperature;
  a.search_timeout_seconds = o.search_timeout;
  if (o.k < 1) throw UsageError("--k must be at least 1");
  if (o.demos < 0 || o.demos > 5) throw UsageError("--demos must be 0..5");
  if (o.max_tokens < 1) throw UsageError("--max-tokens must be at least 1");
  OrExit(ValidateQuestion(a.question, a.max_question_bytes));
  CheckModelFlags(o.model);
  auto backend = OpenBackend(o);
  auto model = OpenModelOrExit(o.model);

  // People see the answer as it is written; --json prints once at the end.
  bool stream = !o.json;
  if (stream) {
    std::cout << TodaySentence(a.today) << std::flush;
  }
  bool first_piece = true;
  auto on_token = [&](std::string_view piece) {
    if (!stream) return true;
    // The answer joins the prefilled sentence with a space (AnswerWithEvidence does the same).
    if (first_piece && !piece.empty() && piece.front() != ' ') std::cout << ' ';
    first_piece = piece.empty() && first_piece;
    std::cout << piece << std::flush;
    return true;
  };
  // Load the monitor before answering, so a bad file fails fast.
  std::optional<ood::IgnoranceMonitor> monitor;
  if (!o.monitor.empty()) monitor = OrExit(ood::LoadIgnoranceMonitor(o.monitor));
  GroundedAnswer g = OrExit(AnswerWithEvidence(*model, *backend, a, on_token));
  // Is the model guessing? Distance of its predictions to its optimal constant
  // solution over the answer (Kang et al. 2023; docs/ood.md).
  std::optional<ood::AnswerIgnorance> ignorance;
  std::string ignorance_unavailable;
  if (monitor) {
    auto scored = monitor->ScoreAnswer(*model, g.prompt, g.generated);
    if (scored) ignorance = std::move(*scored);
    else ignorance_unavailable = scored.error().message;
  }
  std::vector<std::string> warnings;
  if (g.completion_tokens == 0)
    warnings.push_back("the model generated nothing after the prefilled date sentence: there is no answer to read");
  if (o.json) {
    nlohmann::json j = ToJson(g, o.show_prompt ? IncludePrompt::kYes : IncludePrompt::kNo);
    j["warnings"] = warnings;
    if (ignorance)
      j["ignorance"] = {{"ignorance", ignorance->ignorance}, {"mean_distance_to_ocs", ignorance->mean_distance},
                        {"flagged", ignorance->flagged}, {"tokens", ignorance->tokens.size()}};
    else if (monitor)
      j["ignorance"] = {{"unavailable", ignorance_unavailable}};
    PrintJson(j);
    return 0;
  }
  std::cout << "\n\n";
  if (!g.evidences.empty()) {
    Table t({"#", "date", "source", "title", "cited"}, {Align::kRight});
    for (const auto& e : g.evidences)
      t.AddRow({std::to_string(e.number), e.evidence.date ? search::FormatIsoDay(*e.evidence.date) : "undated",
                e.evidence.source, Clip(e.evidence.title, 50), e.cited ? "yes" : ""});
    std::cout << "Evidence (oldest first; the last sat next to the question):\n" << t.Render();
  }
  if (g.answer_box) std::cout << "Answer box: " << Clip(g.answer_box->text, 100) << "\n";
  if (g.grounding == Grounding::kUngrounded) std::cout << "UNGROUNDED: " << g.ungrounded_reason << "\n";
  else
    std::cout << "Grounded in " << g.evidences.size() << " of " << g.evidences_found << " results from "
              << g.backend << (g.dropped_for_context ? ", " + std::to_string(g.dropped_for_context) + " dropped to fit the context" : "")
              << "; " << g.completion_tokens << " tokens in " << FormatFixed(g.generate_seconds, 1) << " s.\n";
  if (ignorance)
    std::cout << "Ignorance " << FormatFixed(ignorance->ignorance, 2) << " over " << ignorance->tokens.size()
              << " tokens: "
              << (ignorance->flagged ? "FLAGGED - the model is probably guessing (its predictions sit near its "
                                       "optimal constant solution)\n"
                                     : "within the calibrated range\n");
  else if (monitor)
    std::cout << "Ignorance not available: " << ignorance_unavailable << "\n";
  for (const auto& w : warnings) std::cout << "warning: " << w << "\n";
  if (o.show_prompt) std::cout << "\n--- prompt ---\n" << g.prompt << "\n--- end of prompt ---\n";
  return 0;
}

}  // namespace

void Register(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* sub = AddCommand(
      app, "ask", "Answer a question from dated search evidence (FreshPrompt), citing sources",
      "  lmlab index add --debian-changelogs --index deb.sqlite\n"
      "  lmlab ask \"What is the latest version of zlib and when was it released?\" --index deb.sqlite \\\n"
      "      --today 2026-11-27 --model model.gguf\n"
      "  lmlab ask \"Who won the last World Cup?\" --searxng http://127.0.0.1:8888 \\\n"
      "      --endpoint http://127.0.0.1:8080 --api-model qwen --chat --k 15\n"
      "  lmlab ask \"...\" --index deb.sqlite --model m.gguf --order relevance   # ablation\n"
      "  lmlab ask \"...\" --no-search --model m.gguf --json                       # the model alone\n");
  sub->add_option("question", o->question, "The question")->required();
  sub->option_defaults()->group("Search");
  sub->add_option("--index", o->index, "Local index from 'lmlab index add' (default: ~/.cache/lmlab/index.sqlite)");
  sub->add_option("--searxng", o->searxng, "SearXNG instance URL instead of a local index (see docs/search.md)");
  sub->add_flag("--no-search", o->no_search, "Answer without search (the answer is flagged ungrounded)");
  sub->add_option("--search-timeout", o->search_timeout, "Seconds before a slow search is given up (the answer is then ungrounded)")
      ->capture_default_str();
  sub->add_option("--num-results", o->num_results, "Results to retrieve before ordering (0 = max(10, k))");
  sub->option_defaults()->group("FreshPrompt");
  sub->add_option("--today", o->today, "Today's date YYYY-MM-DD, stated in the prompt (default: today, UTC)");
  sub->add_option("--k", o->k, "Evidences in the prompt (the paper: 5; 15 for strong models)")->capture_default_str();
  sub->add_option("--order", o->order, "date (newest next to the question), relevance or random")->capture_default_str();
  sub->add_option("--seed", o->seed, "Seed for --order random")->capture_default_str();
  sub->add_flag("--check-premise", o->check_premise, "Ask the model to check the question for a false premise");
  sub->add_option("--demos", o->demos, "Few-shot demonstrations 0..5")->capture_default_str();
  sub->add_flag("--chat", o->chat, "Send the prompt as one chat message (chat-tuned endpoints)");
  sub->add_option("--max-tokens", o->max_tokens, "Longest answer in tokens")->capture_default_str();
  sub->add_option("--temperature", o->temperature, "Sampling temperature (0 = greedy)")->capture_default_str();
  sub->option_defaults()->group("Output");
  sub->add_flag("--show-prompt", o->show_prompt, "Print the exact prompt too (in --json: a \"prompt\" field)");
  sub->add_option("--monitor", o->monitor,
                  "Ignorance monitor saved by 'lmlab ood lm --save-monitor': say whether the model is guessing");
  sub->add_flag("--json", o->json, "Print JSON: answer, evidences with dates, citations, grounding");
  AddModelFlags(sub, o->model);
  SetRun(sub, [o] { return Run(*o); });
}

}  // namespace lmlab::cli::ask_cmd
