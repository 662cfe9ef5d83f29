// `lmlab ask`: answer a question with FreshPrompt (Vu et al. 2023): search,
// sort the evidence by date so the newest sits next to the question, and let
// the model answer from it. See docs/ask.md.
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/fresh_flags.h"
#include "cli/model_flags.h"
#include "lmlab/ood/ignorance.h"
#include "lmlab/core/file.h"
#include "lmlab/core/format.h"
#include "lmlab/core/table.h"
#include "lmlab/fresh/fresh_prompt.h"
#include "lmlab/fresh/reader.h"

namespace lmlab::cli::ask_cmd {
namespace {

using namespace lmlab::fresh;

struct Options {
  std::string question;
  SearchFlags search;
  AnswerFlags answer;
  std::string today;
  ModelFlags model;
  bool show_prompt = false;
  std::string monitor;  // saved ood::IgnoranceMonitor
  bool json = false;
};

std::string Clip(const std::string& s, size_t n) { return s.size() > n ? s.substr(0, n - 3) + "..." : s; }

int Run(const Options& o) {
  ModelFlags model = o.model;
  ProgressBar bar;
  const bool reader = NoModelGiven(model);
  fresh::AnswerOptions a = ToAnswerOptions(
      o.answer, reader ? ReaderAnswerOptions(train::ReaderModelRecipe()) : fresh::AnswerOptions{});
  a.question = o.question;
  a.today = o.today.empty() ? search::TodayUtc() : OrExit(search::ParseDay(o.today));
  a.search = o.search.no_search ? SearchMode::kNoSearch : SearchMode::kSearch;
  OrExit(ValidateQuestion(a.question, a.max_question_bytes));
  if (!reader) CheckModelFlags(model);
  fresh::OpenedBackend opened = OpenSearchOrExit(o.search, fresh::WhenUnset::kDatedSources, bar);
  if (UseReaderModelIfNone(model, bar)) CheckModelFlags(model);
  auto backend = std::move(opened.backend);
  auto lm = OpenModelOrExit(model);

  // People see the answer as it is written; --json prints once at the end.
  bool stream = !o.json;
  const std::string lead = AnswerLead(a.format, a.today, Prefills(a.format, a.style));
  if (stream && !lead.empty()) std::cout << lead << std::flush;
  bool first_piece = true;
  auto on_token = [&](std::string_view piece) {
    if (!stream) return true;
    // The answer joins the prefilled sentence with a space (AnswerWithEvidence does the same).
    if (first_piece && !lead.empty() && !piece.empty() && piece.front() != ' ') std::cout << ' ';
    first_piece = piece.empty() && first_piece;
    std::cout << piece << std::flush;
    return true;
  };
  // Load the monitor before answering, so a bad file fails fast.
  std::optional<ood::IgnoranceMonitor> monitor;
  if (!o.monitor.empty()) monitor = OrExit(ood::LoadIgnoranceMonitor(o.monitor));
  GroundedAnswer g = OrExit(AnswerWithEvidence(*lm, *backend, a, on_token));
  // Is the model guessing? Distance of its predictions to its optimal constant
  // solution over the answer (Kang et al. 2023; docs/ood.md).
  std::optional<ood::AnswerIgnorance> ignorance;
  std::string ignorance_unavailable;
  if (monitor) {
    auto scored = monitor->ScoreAnswer(*lm, g.prompt, g.generated);
    if (scored) ignorance = std::move(*scored);
    else ignorance_unavailable = InCliTerms(scored.error().message);
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
    Table t({"#", "date", "source", "title", "type", "cited"}, {Align::kRight});
    for (const auto& e : g.evidences)
      t.AddRow({std::to_string(e.number), e.evidence.date ? search::FormatIsoDay(*e.evidence.date) : "undated",
                e.evidence.source, Clip(e.evidence.title, 50), std::string(search::ResultTypeName(e.evidence.type)),
                e.cited ? "yes" : ""});
    std::cout << "Evidence (oldest first; the last sat next to the question):\n" << t.Render();
  }
  if (g.answer_box) std::cout << "Answer box: " << Clip(g.answer_box->text, 100) << "\n";
  if (g.grounding == Grounding::kUngrounded) std::cout << "UNGROUNDED: " << InCliTerms(g.ungrounded_reason) << "\n";
  else
    std::cout << "Grounded in " << g.evidences.size() << " of " << g.evidences_found << " results from "
              << opened.description
              << (g.dropped_for_context ? ", " + std::to_string(g.dropped_for_context) + " dropped to fit the context" : "")
              << (g.demonstrations_dropped ? ", " + std::to_string(g.demonstrations_dropped) + " demonstrations left out to fit the context" : "")
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
      app, "ask", "Answer a question from dated search evidence (FreshPrompt, Vu et al. 2023)",
      "  lmlab ask \"What is the latest version of zlib?\"          # lmlab's reader over this machine's changelogs\n"
      "  lmlab ask \"What is the latest version of zlib?\" --index deb.sqlite --model model.gguf --today 2026-11-27\n"
      "  lmlab ask \"Who won the last World Cup?\" --searxng http://127.0.0.1:8888 \\\n"
      "      --endpoint http://127.0.0.1:8080 --api-model qwen --chat --k 15\n"
      "  lmlab ask \"...\" --order relevance                     # the ordering ablation\n"
      "  lmlab ask \"...\" --no-search --json                    # the model alone\n"
      "  lmlab ask \"...\" --protocol lmlab                      # lmlab's earlier prompt\n");
  sub->add_option("question", o->question, "The question")->required();
  AddSearchFlags(sub, o->search,
                 "Local index from 'lmlab index add' (default: ~/.cache/lmlab/index.sqlite when it exists, else "
                 "this machine's Debian changelogs and releases, indexed on first use)");
  AddAnswerFlags(sub, o->answer);
  sub->add_option("--today", o->today, "Today's date YYYY-MM-DD, stated in the prompt (default: today, UTC)")
      ->group("FreshPrompt");
  sub->option_defaults()->group("Output");
  sub->add_flag("--show-prompt", o->show_prompt, "Print the exact prompt too (in --json: a \"prompt\" field)");
  sub->add_option("--monitor", o->monitor,
                  "Ignorance monitor saved by 'lmlab ood lm --save-monitor': say whether the model is guessing");
  sub->add_flag("--json", o->json, "Print JSON: answer, evidences with dates, citations, grounding");
  AddModelFlags(sub, o->model);
  SetRun(sub, [o] { return Run(*o); });
}

}  // namespace lmlab::cli::ask_cmd
