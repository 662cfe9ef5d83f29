// FreshPrompt (Vu et al. 2023, "FreshLLMs", arXiv:2310.03214): answer a
// question from search evidence with the newest evidence next to the
// question. Evidences are sorted by date (undated first, then oldest to
// newest), the last k are kept, each is shown with its source, date, title,
// snippet and highlight, after five demonstrations; the answer starts by
// stating today's date and reasons from the most recent relevant evidence.
//
//   AnswerOptions o{.question = "What is the latest version of zlib?",
//                   .today = search::ParseDay("2026-11-27").value()};
//   LMLAB_ASSIGN_OR_RETURN(GroundedAnswer a, AnswerWithEvidence(*model, *index, o));
//   a.answer;        // "Today is Nov 27, 2026. The newest evidence [5] ..."
//   a.evidences;     // in prompt order, oldest first; a.evidences[i].cited
//   a.grounding;     // kUngrounded (not an error) when search failed or found nothing
//
// The server (`lmlab serve`) and `lmlab ask` both call AnswerWithEvidence.
// Thread-safety: none of its own; the model and backend serve one caller at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "lmlab/core/error.h"
#include "lmlab/runtime/language_model.h"
#include "lmlab/search/backend.h"
#include "lmlab/search/document.h"

namespace lmlab::fresh {

// How evidences are ordered in the window (the paper's ablation): the
// evidence nearest the question is the newest (kDate), the most relevant
// (kRelevance), or chance (kRandom, seeded).
enum class EvidenceOrder { kDate, kRelevance, kRandom };
enum class PremiseCheck { kOff, kOn };    // add the false-premise instruction
enum class SearchMode { kSearch, kNoSearch };
// kCompletion: the prompt as raw text (base models, llama.cpp);
// kChat: the same text as one user message (chat-tuned endpoints).
enum class PromptStyle { kCompletion, kChat };
enum class Grounding { kGrounded, kUngrounded };
enum class Instruction { kOn, kOff };      // the one-paragraph task description atop the prompt

struct AnswerOptions {
  std::string question;
  search::Day today{};                     // stated in the prompt; relative dates resolve against it
  int k = 5;                               // evidences kept (the paper: 5, 15 for strong models)
  int num_results = 0;                     // asked of the backend; 0 = max(10, k)
  EvidenceOrder order = EvidenceOrder::kDate;
  uint64_t seed = 0;                       // for EvidenceOrder::kRandom
  PremiseCheck check_premise = PremiseCheck::kOff;
  SearchMode search = SearchMode::kSearch;
  PromptStyle style = PromptStyle::kCompletion;
  int num_demonstrations = 5;              // 0..5 of data/fresh/demonstrations.json
  int max_tokens = 256;
  float temperature = 0.0f;
  int context_tokens = 0;                  // 0 = the model's n_ctx; unknown for an endpoint = no fitting
  double search_timeout_seconds = 10;
  size_t max_question_bytes = 4096;        // longer questions are kInvalidArgument
};

struct PromptEvidence {
  search::Evidence evidence;
  int number = 0;         // 1-based number shown in the prompt ("[3]")
  bool cited = false;     // the answer refers to it
};

struct GroundedAnswer {
  std::string question;
  std::string today;                        // "2026-11-27"
  std::string answer;                       // starts with "Today is <date>."
  std::string generated;                    // what the model wrote after `prompt` (answer minus a prefilled date)
  std::vector<PromptEvidence> evidences;    // prompt order: the last one sits next to the question
  std::vector<int> cited;                   // 0-based indices into `evidences`
  std::optional<search::AnswerBox> answer_box;
  Grounding grounding = Grounding::kUngrounded;
  std::string ungrounded_reason;            // "search backend unavailable: ...", "no evidence found", "search disabled"
  std::string prompt;                       // exactly what the model saw
  std::string backend;                      // search backend name ("" with --no-search)
  int evidences_found = 0;                  // returned by search, before the k window
  int dropped_for_context = 0;              // evidences dropped (oldest first) to fit the context window
  int demonstrations = 0;                   // demonstrations in the prompt
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  std::string finish_reason;
  double search_seconds = 0;
  double generate_seconds = 0;
};

// Search, order, fit, prompt, generate, map citations. Fitting the context
// window drops whole evidences, oldest first, down to the newest one; then
// demonstrations; then the instruction; never part of a field. A search backend that
// is down, slow or returns nothing gives a kUngrounded answer, not an error;
// errors are bad options (empty, huge or non-UTF-8 question, k < 1) and model
// failures. `on_token` streams the generated text (after the prefilled
// "Today is ..." sentence, which is in `answer`).
Result<GroundedAnswer> AnswerWithEvidence(runtime::LanguageModel& model, search::SearchBackend& backend,
                                          const AnswerOptions& options,
                                          const runtime::TokenCallback& on_token = {});

// ---- The steps, for tests, benchmarks and other front ends ----------------

// Checks the question: non-empty after trimming, valid UTF-8, at most
// `max_bytes`. kInvalidArgument with a message saying what to fix.
Status ValidateQuestion(std::string_view question, size_t max_bytes);

// The window: reorders `found` (best first, as a backend returns them) and
// keeps the k nearest the question. kDate: undated first, then by date
// ascending (ties: the more relevant later). kRelevance: least relevant first.
// kRandom: shuffled with `seed`. Returns at most k, in prompt order.
std::vector<search::Evidence> OrderEvidence(std::span<const search::Evidence> found, EvidenceOrder order, int k,
                                            uint64_t seed = 0);

// One evidence as the prompt shows it (five fields, normalised date):
//   source: example.org
//   date: Mar 05, 2024
//   title: ...
//   snippet: ...
//   highlight: ...
std::string RenderEvidence(const search::Evidence& e, int number);

struct PromptRequest {
  std::string question;
  search::Day today{};
  std::vector<search::Evidence> evidences;  // prompt order
  std::optional<search::AnswerBox> answer_box;
  PremiseCheck check_premise = PremiseCheck::kOff;
  int num_demonstrations = 5;
  Instruction instruction = Instruction::kOn;  // kOff only when the context window is tiny
};

// The full prompt text, ending with the prefilled start of the answer
// ("answer: Today is Nov 27, 2026."). kInternal if the embedded
// demonstrations are malformed.
Result<std::string> BuildPrompt(const PromptRequest& request);

// The sentence every answer starts with: "Today is Nov 27, 2026."
std::string TodaySentence(search::Day today);

// Which evidences `answer` cites: "[n]" markers, or a mention of an
// evidence's source domain together with its date. 0-based indices, ascending.
std::vector<int> MapCitations(std::string_view answer, std::span<const search::Evidence> evidences);

// The answer for machines (`lmlab ask --json`, the server's "sources" field):
// {question, today, answer, grounded, ungrounded_reason, cited: [i...],
//  evidences: [{number, source, url, date: "YYYY-MM-DD"|null, title, snippet,
//  highlight, cited}], answer_box, backend, prompt_tokens, ..., prompt}.
enum class IncludePrompt { kNo, kYes };
nlohmann::json ToJson(const GroundedAnswer& answer, IncludePrompt include_prompt = IncludePrompt::kYes);
nlohmann::json ToJson(const search::Evidence& evidence);

std::string_view EvidenceOrderName(EvidenceOrder order);
Result<EvidenceOrder> ParseEvidenceOrder(std::string_view name);  // "date", "relevance", "random"

}  // namespace lmlab::fresh
