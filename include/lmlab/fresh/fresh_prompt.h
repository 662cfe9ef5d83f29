// FreshPrompt (Vu et al. 2023, "FreshLLMs", arXiv:2310.03214): answer a
// question from search evidence with the newest evidence next to the
// question.
//
// Protocol::kPaper (the default) is the method as the paper and its notebook
// (freshllms/freshqa, freshprompt.ipynb) run it:
//   - every result type the backend returns (organic results, related
//     questions, questions and answers, knowledge graph, answer box; the local
//     index's fresh results) is merged into one list, sorted undated first,
//     then oldest to newest, and the last k are kept (k = 5; 15 for the
//     strongest models);
//   - each evidence shows five unnumbered fields: source, date, title,
//     snippet, highlight (a missing field reads "None", as the notebook prints it);
//   - five demonstrations precede the question, each with evidence retrieved
//     the same way, live, from the same backend (lmlab's own five questions of
//     the paper's kinds, data/fresh/paper_demonstrations.json);
//   - each answer starts with the date-anchored reasoning prefix "As of today
//     <Month DD, YYYY>, the most up-to-date and relevant information regarding
//     this query is as follows." and goes on concisely (or verbosely);
//   - in chat mode a system line states the knowledge cutoff (today) and a
//     "what is today's date?" exchange precedes the prompt.
// Protocol::kLmlab is lmlab's earlier variant: an instruction paragraph,
// numbered evidences and a "cite like [2]" rule, "=====" separators, five
// hand-written demonstrations with hand-made evidences, "(today is ...)" in
// the question, the answer box pinned next to it and "Today is <date>."
// prefilled. Its extras are also named options over the paper format
// (Citations, Instruction, PremiseCheck::kEveryBlock).
//
//   AnswerOptions o{.question = "What is the latest version of zlib?",
//                   .today = search::ParseDay("2026-11-27").value()};
//   LMLAB_ASSIGN_OR_RETURN(GroundedAnswer a, AnswerWithEvidence(*model, *index, o));
//   a.answer;        // "As of today November 27, 2026, the most up-to-date ... The latest version of zlib is ..."
//   a.evidences;     // in prompt order, oldest first; a.evidences[i].cited
//   a.grounding;     // kUngrounded (not an error) when search failed or found nothing
//
// The server (`lmlab serve`), `lmlab ask` and `lmlab freshqa run` all call AnswerWithEvidence.
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

enum class Protocol { kPaper, kLmlab };
// How evidences are ordered in the window (the paper's ablation): the
// evidence nearest the question is the newest (kDate), the most relevant
// (kRelevance), or chance (kRandom, seeded).
enum class EvidenceOrder { kDate, kRelevance, kRandom };
// kQuestion: the paper's check, appended to the asked question only;
// kEveryBlock: also on every demonstration (lmlab's variant).
enum class PremiseCheck { kOff, kQuestion, kEveryBlock };
enum class SearchMode { kSearch, kNoSearch };
// kCompletion: the prompt as raw text (base models, llama.cpp);
// kChat: chat messages (chat-tuned endpoints), with the paper's date framing.
enum class PromptStyle { kCompletion, kChat };
enum class Grounding { kGrounded, kUngrounded };
enum class Instruction { kOff, kOn };      // a one-paragraph task description atop the prompt
enum class Citations { kNone, kNumbered };  // kNumbered: "[n]" before each evidence, answers cite by number
enum class AnswerStyle { kConcise, kVerbose };  // the demonstrations' answers (the paper's two styles)
// Whether the answer's reasoning prefix is in the prompt (prefilled) or left
// to the model, as in the notebook, where the test block ends with "answer: ".
// kAuto: prefilled for completion models (they have no other way to learn
// today's date once the demonstrations do not fit), written by chat models.
enum class AnswerPrefix { kAuto, kPrefilled, kModelWrites };

// The look of the prompt. The defaults are the paper's.
struct PromptFormat {
  Protocol protocol = Protocol::kPaper;
  Citations citations = Citations::kNone;
  Instruction instruction = Instruction::kOff;
  PremiseCheck premise = PremiseCheck::kOff;
  AnswerStyle answer_style = AnswerStyle::kConcise;
  AnswerPrefix prefix = AnswerPrefix::kAuto;
};

struct AnswerOptions {
  std::string question;
  search::Day today{};                     // stated in the prompt; relative dates resolve against it
  int k = 5;                               // evidences kept (the paper: 5, 15 for strong models)
  // Results asked of the backend before merging and ordering. The paper's
  // notebook takes 15 organic results plus 2 related questions and 2 questions
  // and answers (3 each for GPT-4); 0 = max(15, k).
  int num_results = 0;
  int num_recent = 3;                      // fresh results from a local index (0 = none)
  EvidenceOrder order = EvidenceOrder::kDate;
  uint64_t seed = 0;                       // for EvidenceOrder::kRandom
  PromptFormat format;
  SearchMode search = SearchMode::kSearch;
  PromptStyle style = PromptStyle::kCompletion;
  int num_demonstrations = 5;              // 0..5; dropped last first when the context is short
  int max_snippet_chars = 0;               // snippets clipped at a word boundary (0 = as returned)
  int max_tokens = 256;
  float temperature = 0.0f;
  int context_tokens = 0;                  // 0 = the model's n_ctx; unknown for an endpoint = no fitting
  double search_timeout_seconds = 10;
  size_t max_question_bytes = 4096;        // longer questions are kInvalidArgument
};

struct PromptEvidence {
  search::Evidence evidence;
  int number = 0;         // 1-based position in the prompt (shown as "[3]" only with Citations::kNumbered)
  bool cited = false;     // the answer refers to it
};

struct GroundedAnswer {
  std::string question;
  std::string today;                        // "2026-11-27"
  std::string answer;                       // the reasoning prefix (or "Today is ..." for kLmlab) and the model's text
  std::string generated;                    // what the model wrote after `prompt`
  std::vector<PromptEvidence> evidences;    // prompt order: the last one sits next to the question
  std::vector<int> cited;                   // 0-based indices into `evidences`
  std::optional<search::AnswerBox> answer_box;  // kLmlab: shown next to the question (kPaper merges it into evidences)
  Grounding grounding = Grounding::kUngrounded;
  std::string ungrounded_reason;            // "search backend unavailable: ...", "no evidence found", "search disabled"
  std::string prompt;                       // exactly what the model saw (chat: the messages, one per paragraph)
  std::string backend;                      // search backend name ("" with --no-search)
  int evidences_found = 0;                  // merged results from search, before the k window
  int dropped_for_context = 0;              // evidences dropped (oldest first) to fit the context window
  int demonstrations = 0;                   // demonstrations in the prompt
  int demonstrations_dropped = 0;           // ... left out to fit the context window
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  std::string finish_reason;
  double search_seconds = 0;
  double generate_seconds = 0;
};

// Search, merge, order, fit, prompt, generate, map citations. Fitting the
// context window (kPaper) keeps the question's own evidence first: the
// demonstrations are added, in order, only while they fit; then whole
// evidences are dropped, oldest first, down to the newest one; never part of
// a field. (kLmlab drops evidence before demonstrations, as it always did.)
// A search backend that is down, slow or returns nothing gives a kUngrounded
// answer, not an error; errors are bad options (empty, huge or non-UTF-8
// question, k < 1) and model failures. `on_token` streams the generated text
// (after a prefilled prefix, which is in `answer`).
Result<GroundedAnswer> AnswerWithEvidence(runtime::LanguageModel& model, search::SearchBackend& backend,
                                          const AnswerOptions& options,
                                          const runtime::TokenCallback& on_token = {});

// ---- The steps, for tests, benchmarks, training data and other front ends --

// Checks the question: non-empty after trimming, valid UTF-8, at most
// `max_bytes`. kInvalidArgument saying what to fix.
Status ValidateQuestion(std::string_view question, size_t max_bytes);

// One list from every result type of a results page, best first as the
// backend ranked them (organic and fresh results in `results.evidences`; the
// answer box becomes an undated evidence of type kAnswerBox, its text the
// snippet and the highlight, as the notebook formats it).
std::vector<search::Evidence> MergeResultTypes(const search::SearchResults& results);

// The window: reorders `found` (best first, as a backend returns them) and
// keeps the k nearest the question. kDate: undated first, then by date
// ascending (ties: the more relevant later). kRelevance: least relevant first.
// kRandom: shuffled with `seed`. Returns at most k, in prompt order.
std::vector<search::Evidence> OrderEvidence(std::span<const search::Evidence> found, EvidenceOrder order, int k,
                                            uint64_t seed = 0);

// `e` with its snippet clipped to at most `max_chars` bytes at a word
// boundary, "…" marking the cut (max_chars <= 0: unchanged).
search::Evidence ClipSnippet(search::Evidence e, int max_chars);

// kLmlab's rendering of one evidence (numbered, "date: unknown" when undated):
//   [3]
//   source: example.org
//   date: Mar 05, 2024
//   title: ...
//   snippet: ...
//   highlight: ...
std::string RenderEvidence(const search::Evidence& e, int number);

// The paper's rendering: the same five fields, unnumbered, "None" for a
// missing one; with Citations::kNumbered a "[n]" line comes first.
std::string RenderPaperEvidence(const search::Evidence& e, int number, Citations citations);

// A question with its evidence, in prompt order, and (for a demonstration or
// a training episode) the answer after the reasoning prefix.
struct Block {
  std::string question;
  std::vector<search::Evidence> evidences;
  std::string answer;  // "" for the asked question
};

// "November 27, 2026": how the paper's prompts state today's date.
std::string LongDay(search::Day day);

// The paper's reasoning prefix: "As of today November 27, 2026, the most
// up-to-date and relevant information regarding this query is as follows."
std::string ReasoningPrefix(search::Day today);

// One complete paper block (demonstration or training episode): query,
// evidences, question, "answer: " + prefix + " " + answer.
std::string RenderPaperBlock(const Block& block, search::Day today, const PromptFormat& format, bool premise_check);

// The paper's five demonstration questions (lmlab's own, of the paper's
// kinds: a fixed fact, a superlative that changed, a countdown to a past
// event, "how many years ago", a false premise), with answers for `today` in
// the chosen style. Their evidence is retrieved by the caller.
Result<std::vector<Block>> PaperDemonstrations(search::Day today, AnswerStyle style);

struct PromptRequest {
  std::string question;
  search::Day today{};
  std::vector<search::Evidence> evidences;  // prompt order
  std::optional<search::AnswerBox> answer_box;  // kLmlab only
  PromptFormat format;
  std::vector<Block> demonstrations;        // kPaper: with their retrieved evidence, in prompt order
  int num_demonstrations = 5;               // kLmlab: 0..5 of data/fresh/demonstrations.json
};

// The full prompt text. kPaper ends with "answer: " or, prefilled, with
// "answer: " + ReasoningPrefix(today); kLmlab ends with "answer: Today is
// Nov 27, 2026.". kInternal if the embedded demonstrations are malformed.
Result<std::string> BuildPrompt(const PromptRequest& request, bool prefilled = true);

// The chat messages for PromptStyle::kChat under kPaper: a system line with
// the knowledge cutoff, "What is today's date?", "Today is <date>.", then
// the prompt as the user's turn.
std::vector<runtime::ChatMessage> PaperChatMessages(std::string_view prompt, search::Day today);

// The sentence kLmlab answers start with: "Today is Nov 27, 2026."
std::string TodaySentence(search::Day today);
// What the answer starts with before the model's own words, for this
// protocol and whether it is prefilled: ReasoningPrefix, TodaySentence or "".
std::string AnswerLead(const PromptFormat& format, search::Day today, bool prefilled);
// Whether `format` prefills the answer for `style`.
bool Prefills(const PromptFormat& format, PromptStyle style);

// Which evidences `answer` cites: "[n]" markers, or a mention of an
// evidence's source domain together with its date. 0-based indices, ascending.
std::vector<int> MapCitations(std::string_view answer, std::span<const search::Evidence> evidences);

// The answer for machines (`lmlab ask --json`, the server's "sources" field):
// {question, today, answer, grounded, ungrounded_reason, cited: [i...],
//  evidences: [{number, source, url, date: "YYYY-MM-DD"|null, title, snippet,
//  highlight, type, cited}], answer_box, backend, prompt_tokens, ..., prompt}.
enum class IncludePrompt { kNo, kYes };
nlohmann::json ToJson(const GroundedAnswer& answer, IncludePrompt include_prompt = IncludePrompt::kYes);
nlohmann::json ToJson(const search::Evidence& evidence);

std::string_view EvidenceOrderName(EvidenceOrder order);
Result<EvidenceOrder> ParseEvidenceOrder(std::string_view name);  // "date", "relevance", "random"
std::string_view ProtocolName(Protocol protocol);
Result<Protocol> ParseProtocol(std::string_view name);            // "paper", "lmlab"
Result<AnswerStyle> ParseAnswerStyle(std::string_view name);      // "concise", "verbose"

}  // namespace lmlab::fresh
