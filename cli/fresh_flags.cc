#include "cli/fresh_flags.h"

#include <iostream>

#include "lmlab/fresh/reader.h"

namespace lmlab::cli {

void AddSearchFlags(CLI::App* app, SearchFlags& f, const std::string& index_help) {
  app->add_option("--index", f.index, index_help)->type_name("PATH")->group("Search");
  app->add_option("--searxng", f.searxng, "A SearXNG instance (its JSON API) instead of a local index (docs/search.md)")
      ->type_name("URL")
      ->group("Search");
  app->add_flag("--no-search", f.no_search, "No search: the model alone (the paper's no-search baseline; ungrounded)")
      ->group("Search");
}

fresh::OpenedBackend OpenSearchOrExit(const SearchFlags& f, fresh::WhenUnset when_unset, ProgressBar& bar) {
  fresh::SearchBackendOptions o{.index = f.index,
                                .searxng = f.searxng,
                                .search = f.no_search ? fresh::SearchMode::kNoSearch : fresh::SearchMode::kSearch,
                                .when_unset = when_unset};
  auto opened = fresh::OpenSearchBackend(o, bar.Callback());
  bar.Finish();
  if (opened) return std::move(*opened);
  const Error& e = opened.error();
  if (e.code == ErrorCode::kInvalidArgument) {
    if (f.no_search && (!f.index.empty() || !f.searxng.empty()))
      throw UsageError("--no-search cannot be combined with --index or --searxng");
    if (!f.index.empty() && !f.searxng.empty()) throw UsageError("give either --index or --searxng, not both");
    throw UsageError("pass --index PATH, --searxng URL or --no-search");
  }
  if (e.code == ErrorCode::kNotFound && !f.index.empty())
    throw CommandError({ErrorCode::kNotFound, e.message + "; or pass --searxng URL or --no-search"});
  throw CommandError(e);
}

void AddAnswerFlags(CLI::App* app, AnswerFlags& f, AnswerFlagSet set) {
  f.app = app;
  auto* g = app;
  const std::string group = "FreshPrompt";
  g->add_option("--protocol", f.protocol,
                "paper (Vu et al. 2023 as their notebook runs it) or lmlab (numbered evidence, instruction, "
                "hand-made demonstrations)")
      ->capture_default_str()
      ->group(group);
  g->add_option("--k", f.k, "Evidences in the prompt (the paper: 5; 15 for the strongest models)")
      ->capture_default_str()
      ->group(group);
  g->add_option("--num-results", f.num_results, "Organic results retrieved before merging and ordering (0 = max(15, k))")
      ->group(group);
  g->add_option("--order", f.order, "date (newest next to the question), relevance or random")
      ->capture_default_str()
      ->group(group);
  g->add_option("--seed", f.seed, "Seed for --order random")->capture_default_str()->group(group);
  g->add_flag("--check-premise", f.check_premise, "The paper's premise check on the question")->group(group);
  g->add_flag("--check-premise-everywhere", f.check_premise_everywhere,
              "lmlab option: the premise check on every demonstration too")
      ->group(group);
  g->add_flag("--numbered", f.numbered, "lmlab option: number the evidences and ask for citations like [2]")->group(group);
  g->add_flag("--instruction", f.instruction, "lmlab option: a task description atop the prompt")->group(group);
  g->add_option("--answer-style", f.answer_style, "concise or verbose demonstrations (the paper's two styles)")
      ->capture_default_str()
      ->group(group);
  g->add_option("--prefix", f.prefix,
                "The answer's reasoning prefix: auto (prefilled for completion models, left to chat models), "
                "prefilled or model")
      ->capture_default_str()
      ->group(group);
  g->add_option("--demos", f.demos, "Demonstrations 0..5 (dropped to fit a short context)")->capture_default_str()->group(group);
  g->add_option("--snippet-chars", f.snippet_chars, "lmlab option: clip snippets to this many bytes (0 = as returned)")
      ->group(group);
  g->add_option("--search-timeout", f.search_timeout, "Seconds before a slow search is given up (the answer is then ungrounded)")
      ->capture_default_str()
      ->group(group);
  if (set == AnswerFlagSet::kAll) {
    g->add_flag("--chat", f.chat, "Chat messages with the paper's date framing (chat-tuned endpoints)")->group(group);
    g->add_option("--max-tokens", f.max_tokens, "Longest answer in tokens")->capture_default_str()->group(group);
    g->add_option("--temperature", f.temperature, "Sampling temperature (0 = greedy)")->capture_default_str()->group(group);
  }
}

fresh::AnswerOptions ToAnswerOptions(const AnswerFlags& f, fresh::AnswerOptions a) {
  // A flag set may lack a flag (serve has no --max-tokens): not given.
  auto given = [&](const char* name) {
    const CLI::Option* opt = f.app ? f.app->get_option_no_throw(name) : nullptr;
    return opt && opt->count() > 0;
  };
  auto or_usage = [](auto r, const char* flag) {
    if (!r) throw UsageError(std::string(flag) + ": " + r.error().message);
    return *r;
  };
  if (given("--protocol")) a.format.protocol = or_usage(fresh::ParseProtocol(f.protocol), "--protocol");
  if (a.format.protocol == fresh::Protocol::kLmlab) {
    // lmlab's variant keeps its extras unless asked otherwise.
    a.format.citations = fresh::Citations::kNumbered;
    a.format.instruction = fresh::Instruction::kOn;
  }
  if (given("--k")) a.k = f.k;
  if (given("--num-results")) a.num_results = f.num_results;
  if (given("--order")) a.order = or_usage(fresh::ParseEvidenceOrder(f.order), "--order");
  if (given("--seed")) a.seed = f.seed;
  if (f.check_premise) a.format.premise = fresh::PremiseCheck::kQuestion;
  if (f.check_premise_everywhere) a.format.premise = fresh::PremiseCheck::kEveryBlock;
  if (f.numbered) a.format.citations = fresh::Citations::kNumbered;
  if (f.instruction) a.format.instruction = fresh::Instruction::kOn;
  if (given("--answer-style")) a.format.answer_style = or_usage(fresh::ParseAnswerStyle(f.answer_style), "--answer-style");
  if (given("--prefix")) {
    if (f.prefix == "auto") a.format.prefix = fresh::AnswerPrefix::kAuto;
    else if (f.prefix == "prefilled") a.format.prefix = fresh::AnswerPrefix::kPrefilled;
    else if (f.prefix == "model") a.format.prefix = fresh::AnswerPrefix::kModelWrites;
    else throw UsageError("--prefix must be auto, prefilled or model");
  }
  if (given("--demos")) a.num_demonstrations = f.demos;
  if (given("--snippet-chars")) a.max_snippet_chars = f.snippet_chars;
  if (given("--search-timeout")) a.search_timeout_seconds = f.search_timeout;
  if (f.chat) a.style = fresh::PromptStyle::kChat;
  if (given("--max-tokens")) a.max_tokens = f.max_tokens;
  if (given("--temperature")) a.temperature = f.temperature;
  if (a.k < 1) throw UsageError("--k must be at least 1");
  if (a.num_demonstrations < 0 || a.num_demonstrations > 5) throw UsageError("--demos must be 0..5");
  if (a.max_tokens < 1) throw UsageError("--max-tokens must be at least 1");
  if (a.num_results < 0) throw UsageError("--num-results must be 0 (automatic) or positive");
  if (a.max_snippet_chars < 0) throw UsageError("--snippet-chars must be 0 (no clipping) or positive");
  if (!(a.search_timeout_seconds > 0)) throw UsageError("--search-timeout must be positive");
  return a;
}

bool NoModelGiven(const ModelFlags& model) { return model.spec.gguf_path.empty() && model.spec.endpoint.empty(); }

bool UseReaderModelIfNone(ModelFlags& model, ProgressBar& bar) {
  if (!NoModelGiven(model)) return false;
  std::cerr << "No --model given: using lmlab's reader model (trained on this machine's dated sources on first use).\n";
  model.spec.gguf_path = OrExit(fresh::EnsureReaderModel(bar.Callback())).string();
  bar.Finish();
  return true;
}

}  // namespace lmlab::cli
