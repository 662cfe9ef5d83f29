#include "lmlab/fresh/fresh_prompt.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <random>

#include "lmlab/core/embedded.h"
#include "lmlab/core/text.h"

namespace lmlab::fresh {
namespace {

using search::Evidence;

constexpr std::string_view kDemonstrationsPath = "data/fresh/demonstrations.json";
constexpr std::string_view kPaperDemonstrationsPath = "data/fresh/paper_demonstrations.json";
constexpr std::string_view kSeparator = "=====";
// A chat template wraps the prompt in role markers the tokenizer does not
// see here; keep this many tokens spare for them (and, under the paper's
// chat framing, for its system line and date exchange).
constexpr int64_t kChatTemplateTokens = 32;
constexpr int64_t kPaperChatFramingTokens = 64;
constexpr std::string_view kPremiseInstruction =
    " Before answering, check whether the question rests on a false premise.";
// The paper's premise check, appended to the question (freshprompt.ipynb, check_premise).
constexpr std::string_view kPaperPremiseCheck =
    "Please check if the question contains a valid premise before answering.";
// With Citations::kNumbered over the paper format: the one rule it adds.
constexpr std::string_view kCitationRule =
    "Cite the search results you use by their number, like [2].";

struct Demonstration {
  search::Day today;
  std::string question;
  std::vector<Evidence> evidences;
  std::string answer;
};

struct DemoSet {
  std::string instruction;
  std::vector<Demonstration> demos;
};

Result<DemoSet> LoadDemonstrations() {
  LMLAB_ASSIGN_OR_RETURN(std::string_view text, embedded::Find(kDemonstrationsPath));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.contains("demonstrations") || !j["demonstrations"].is_array())
    return Internal(std::string(kDemonstrationsPath) + " is malformed");
  DemoSet set;
  set.instruction = j.value("instruction", "");
  for (const auto& d : j["demonstrations"]) {
    Demonstration demo;
    auto today = search::ParseDay(d.value("today", ""));
    if (!today) return Internal(std::string(kDemonstrationsPath) + ": bad 'today'");
    demo.today = *today;
    demo.question = d.value("question", "");
    demo.answer = d.value("answer", "");
    for (const auto& e : d.value("evidences", nlohmann::json::array())) {
      Evidence ev;
      ev.source = e.value("source", "");
      ev.url = e.value("url", "");
      ev.title = e.value("title", "");
      ev.snippet = e.value("snippet", "");
      ev.highlight = e.value("highlight", "");
      ev.date = search::ParseDateOrUndated(e.value("date", ""));
      demo.evidences.push_back(std::move(ev));
    }
    set.demos.push_back(std::move(demo));
  }
  return set;
}

// kLmlab's block: query, numbered evidences, answer box, question with today.
std::string RenderLmlabBlock(std::string_view question, search::Day today, std::span<const Evidence> evidences,
                             const std::optional<search::AnswerBox>& box, bool premise) {
  std::string out = "query: " + CollapseWhitespace(question) + "\n\n";
  if (evidences.empty()) out += "(no search results)\n\n";
  for (size_t i = 0; i < evidences.size(); ++i) out += RenderEvidence(evidences[i], static_cast<int>(i + 1)) + "\n";
  if (box) {
    out += "answer box: " + CollapseWhitespace(box->title.empty() ? box->text : box->title + ": " + box->text);
    if (!box->url.empty()) out += " (" + box->url + ")";
    out += "\n\n";
  }
  out += "question: " + CollapseWhitespace(question) + " (today is " + search::FormatDay(today) + ")";
  if (premise) out += kPremiseInstruction;
  out += "\nanswer:";
  return out;
}

Result<std::string> BuildLmlabPrompt(const PromptRequest& request) {
  LMLAB_ASSIGN_OR_RETURN(DemoSet set, LoadDemonstrations());
  const bool premise = request.format.premise != PremiseCheck::kOff;
  int n = std::clamp(request.num_demonstrations, 0, static_cast<int>(set.demos.size()));
  std::string out = request.format.instruction == Instruction::kOn ? set.instruction + "\n\n" : std::string();
  for (int i = 0; i < n; ++i) {
    const Demonstration& d = set.demos[i];
    out += RenderLmlabBlock(d.question, d.today, d.evidences, std::nullopt, premise);
    out += " " + d.answer + "\n\n" + std::string(kSeparator) + "\n\n";
  }
  out += RenderLmlabBlock(request.question, request.today, request.evidences, request.answer_box, premise);
  out += " " + TodaySentence(request.today);
  return out;
}

// Whole years from `from` to `to` (negative clamps to 0).
int YearsBetween(search::Day from, search::Day to) {
  std::chrono::year_month_day a{from}, b{to};
  int years = static_cast<int>(b.year()) - static_cast<int>(a.year());
  if (b.month() < a.month() || (b.month() == a.month() && b.day() < a.day())) --years;
  return std::max(0, years);
}

// Replaces each {years_since:YYYY-MM-DD} in `text`.
Result<std::string> FillTemplate(std::string text, search::Day today) {
  constexpr std::string_view kTag = "{years_since:";
  for (size_t at = text.find(kTag); at != std::string::npos; at = text.find(kTag, at)) {
    size_t close = text.find('}', at);
    if (close == std::string::npos) return Internal(std::string(kPaperDemonstrationsPath) + ": unclosed placeholder");
    auto day = search::ParseDay(std::string_view(text).substr(at + kTag.size(), close - at - kTag.size()));
    if (!day) return Internal(std::string(kPaperDemonstrationsPath) + ": bad placeholder date");
    std::string years = std::to_string(YearsBetween(*day, today));
    text.replace(at, close + 1 - at, years);
    at += years.size();
  }
  return text;
}

// Tokens of `prompt` by the model's own tokenizer; bytes/3 (an overestimate
// for English) where the backend cannot tokenize.
int64_t CountTokens(runtime::LanguageModel& model, std::string_view prompt) {
  auto t = model.Tokenize(prompt, runtime::AddBos::kYes);
  if (t) return static_cast<int64_t>(t->size());
  return static_cast<int64_t>(prompt.size() / 3 + 1);
}

std::string PaperField(std::string_view value) {
  std::string v = CollapseWhitespace(value);
  return v.empty() ? std::string("None") : v;
}

// The asked question's block under kPaper, ending with "answer: " and, when
// prefilled, the reasoning prefix.
std::string RenderPaperQuestion(std::string_view question, std::span<const Evidence> evidences, search::Day today,
                                const PromptFormat& format, bool prefilled) {
  std::string out = "query: " + CollapseWhitespace(question);
  for (size_t i = 0; i < evidences.size(); ++i)
    out += "\n\n" + RenderPaperEvidence(evidences[i], static_cast<int>(i + 1), format.citations);
  out += "\n\nquestion: " + CollapseWhitespace(question);
  if (format.premise != PremiseCheck::kOff) out += "\n" + std::string(kPaperPremiseCheck);
  out += "\nanswer: ";
  if (prefilled) out += ReasoningPrefix(today);
  return out;
}

Result<std::string> BuildPaperPrompt(const PromptRequest& request, bool prefilled) {
  std::string out;
  if (request.format.instruction == Instruction::kOn) {
    LMLAB_ASSIGN_OR_RETURN(DemoSet set, LoadDemonstrations());
    out += set.instruction + "\n\n\n";
  } else if (request.format.citations == Citations::kNumbered) {
    out += std::string(kCitationRule) + "\n\n\n";
  }
  for (const Block& d : request.demonstrations)
    out += RenderPaperBlock(d, request.today, request.format, request.format.premise == PremiseCheck::kEveryBlock) +
           "\n\n\n";
  out += RenderPaperQuestion(request.question, request.evidences, request.today, request.format, prefilled);
  return out;
}

// One search, merged, ordered and clipped as the options say. An unreachable
// backend is not an error here: `failure` says why and the list is empty.
struct Retrieved {
  std::vector<Evidence> window;
  std::optional<search::AnswerBox> answer_box;  // kLmlab keeps it aside
  int found = 0;
  std::string failure;
  double seconds = 0;
};

Retrieved Retrieve(search::SearchBackend& backend, std::string_view query, const AnswerOptions& o, uint64_t seed) {
  Retrieved r;
  search::SearchOptions so;
  so.max_results = o.num_results > 0 ? o.num_results : std::max(15, o.k);
  so.max_recent = o.format.protocol == Protocol::kPaper ? o.num_recent : 0;
  so.timeout_seconds = o.search_timeout_seconds;
  so.dates.today = o.today;
  auto start = std::chrono::steady_clock::now();
  auto found = backend.Search(query, so);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!found) {
    r.failure = "search backend " + backend.name() + " failed: " + found.error().ToString();
    return r;
  }
  std::vector<Evidence> all;
  if (o.format.protocol == Protocol::kPaper) {
    all = MergeResultTypes(*found);
  } else {
    all = found->evidences;
    r.answer_box = found->answer_box;
  }
  r.found = static_cast<int>(all.size());
  r.window = OrderEvidence(all, o.order, o.k, seed);
  for (Evidence& e : r.window) e = ClipSnippet(std::move(e), o.max_snippet_chars);
  return r;
}

std::string TooLong(runtime::LanguageModel& model, std::string_view prompt, const AnswerOptions& o, int64_t n_ctx) {
  return "the question alone takes " + std::to_string(CountTokens(model, prompt)) + " tokens; with " +
         std::to_string(o.max_tokens) + " tokens to answer in, it does not fit the context window of " +
         std::to_string(n_ctx) + " tokens (shorten the question or allow a shorter answer)";
}

}  // namespace

std::string_view EvidenceOrderName(EvidenceOrder order) {
  switch (order) {
    case EvidenceOrder::kDate: return "date";
    case EvidenceOrder::kRelevance: return "relevance";
    case EvidenceOrder::kRandom: return "random";
  }
  return "?";
}

Result<EvidenceOrder> ParseEvidenceOrder(std::string_view name) {
  if (name == "date") return EvidenceOrder::kDate;
  if (name == "relevance") return EvidenceOrder::kRelevance;
  if (name == "random") return EvidenceOrder::kRandom;
  return InvalidArgument("`order` must be date, relevance or random (got '" + std::string(name) + "')");
}

std::string_view ProtocolName(Protocol protocol) { return protocol == Protocol::kPaper ? "paper" : "lmlab"; }

Result<Protocol> ParseProtocol(std::string_view name) {
  if (name == "paper") return Protocol::kPaper;
  if (name == "lmlab") return Protocol::kLmlab;
  return InvalidArgument("the protocol must be paper or lmlab (got '" + std::string(name) + "')");
}

Result<AnswerStyle> ParseAnswerStyle(std::string_view name) {
  if (name == "concise") return AnswerStyle::kConcise;
  if (name == "verbose") return AnswerStyle::kVerbose;
  return InvalidArgument("the answer style must be concise or verbose (got '" + std::string(name) + "')");
}

Status ValidateQuestion(std::string_view question, size_t max_bytes) {
  if (Trim(question).empty()) return InvalidArgument("the question is empty; ask something, e.g. \"What is the latest version of zlib?\"");
  if (!IsValidUtf8(question)) return InvalidArgument("the question is not valid UTF-8 text");
  if (question.size() > max_bytes)
    return InvalidArgument("the question is " + std::to_string(question.size()) + " bytes; the limit is " +
                           std::to_string(max_bytes) + " (ask a shorter question)");
  return {};
}

std::vector<Evidence> MergeResultTypes(const search::SearchResults& results) {
  std::vector<Evidence> out = results.evidences;
  if (results.answer_box) {
    const search::AnswerBox& box = *results.answer_box;
    Evidence e;
    e.source = search::SourceFromUrl(box.url);
    e.url = box.url;
    e.title = box.title;
    e.snippet = box.text;
    e.highlight = box.text;
    e.type = search::ResultType::kAnswerBox;
    e.relevance_rank = static_cast<int>(out.size());
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<Evidence> OrderEvidence(std::span<const Evidence> found, EvidenceOrder order, int k, uint64_t seed) {
  std::vector<Evidence> v(found.begin(), found.end());
  switch (order) {
    case EvidenceOrder::kDate:
      // Undated first, then oldest to newest; among equal dates the more
      // relevant sits later (nearer the question).
      std::stable_sort(v.begin(), v.end(), [](const Evidence& a, const Evidence& b) {
        if (a.date.has_value() != b.date.has_value()) return !a.date.has_value();
        if (a.date && *a.date != *b.date) return *a.date < *b.date;
        return a.relevance_rank > b.relevance_rank;
      });
      break;
    case EvidenceOrder::kRelevance:
      std::stable_sort(v.begin(), v.end(),
                       [](const Evidence& a, const Evidence& b) { return a.relevance_rank > b.relevance_rank; });
      break;
    case EvidenceOrder::kRandom: {
      std::mt19937_64 rng(seed);
      std::shuffle(v.begin(), v.end(), rng);
      break;
    }
  }
  if (k >= 0 && static_cast<int>(v.size()) > k) v.erase(v.begin(), v.end() - k);
  return v;
}

Evidence ClipSnippet(Evidence e, int max_chars) {
  if (max_chars <= 0 || e.snippet.size() <= static_cast<size_t>(max_chars)) return e;
  size_t cut = static_cast<size_t>(max_chars);
  while (cut > 0 && (static_cast<unsigned char>(e.snippet[cut]) & 0xC0) == 0x80) --cut;  // whole UTF-8 characters
  size_t space = e.snippet.rfind(' ', cut);
  if (space != std::string::npos && space > cut / 2) cut = space;
  e.snippet.resize(cut);
  while (!e.snippet.empty() && e.snippet.back() == ' ') e.snippet.pop_back();
  e.snippet += "…";
  return e;
}

std::string RenderEvidence(const Evidence& e, int number) {
  std::string out = "[" + std::to_string(number) + "]\n";
  out += "source: " + CollapseWhitespace(e.source) + "\n";
  out += "date: " + (e.date ? search::FormatDay(*e.date) : std::string("unknown")) + "\n";
  out += "title: " + CollapseWhitespace(e.title) + "\n";
  out += "snippet: " + CollapseWhitespace(e.snippet) + "\n";
  out += "highlight: " + CollapseWhitespace(e.highlight) + "\n";
  return out;
}

std::string RenderPaperEvidence(const Evidence& e, int number, Citations citations) {
  std::string out = citations == Citations::kNumbered ? "[" + std::to_string(number) + "]\n" : std::string();
  out += "source: " + PaperField(e.source) + "\n";
  out += "date: " + (e.date ? search::FormatDay(*e.date) : std::string("None")) + "\n";
  out += "title: " + PaperField(e.title) + "\n";
  out += "snippet: " + PaperField(e.snippet) + "\n";
  out += "highlight: " + PaperField(e.highlight);
  return out;
}

// The notebook's current_date ("%B %d, %Y").
std::string LongDay(search::Day day) {
  static constexpr const char* kMonths[] = {"January", "February", "March",     "April",   "May",      "June",
                                            "July",    "August",   "September", "October", "November", "December"};
  std::chrono::year_month_day ymd{day};
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s %02u, %d", kMonths[static_cast<unsigned>(ymd.month()) - 1],
                static_cast<unsigned>(ymd.day()), static_cast<int>(ymd.year()));
  return buf;
}

std::string ReasoningPrefix(search::Day today) {
  return "As of today " + LongDay(today) +
         ", the most up-to-date and relevant information regarding this query is as follows.";
}

std::string RenderPaperBlock(const Block& block, search::Day today, const PromptFormat& format, bool premise_check) {
  PromptFormat f = format;
  f.premise = premise_check ? PremiseCheck::kQuestion : PremiseCheck::kOff;
  std::string out = RenderPaperQuestion(block.question, block.evidences, today, f, /*prefilled=*/true);
  if (!block.answer.empty()) out += " " + block.answer;
  return out;
}

Result<std::vector<Block>> PaperDemonstrations(search::Day today, AnswerStyle style) {
  LMLAB_ASSIGN_OR_RETURN(std::string_view text, embedded::Find(kPaperDemonstrationsPath));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.contains("demonstrations") || !j["demonstrations"].is_array())
    return Internal(std::string(kPaperDemonstrationsPath) + " is malformed");
  std::vector<Block> out;
  for (const auto& d : j["demonstrations"]) {
    Block b;
    b.question = d.value("question", "");
    LMLAB_ASSIGN_OR_RETURN(b.answer, FillTemplate(d.value(style == AnswerStyle::kConcise ? "concise" : "verbose", ""), today));
    if (b.question.empty() || b.answer.empty())
      return Internal(std::string(kPaperDemonstrationsPath) + ": a demonstration lacks its question or answer");
    out.push_back(std::move(b));
  }
  return out;
}

std::string TodaySentence(search::Day today) { return "Today is " + search::FormatDay(today) + "."; }

bool Prefills(const PromptFormat& format, PromptStyle style) {
  if (format.protocol == Protocol::kLmlab) return true;
  if (format.prefix == AnswerPrefix::kAuto) return style == PromptStyle::kCompletion;
  return format.prefix == AnswerPrefix::kPrefilled;
}

std::string AnswerLead(const PromptFormat& format, search::Day today, bool prefilled) {
  if (format.protocol == Protocol::kLmlab) return TodaySentence(today);
  return prefilled ? ReasoningPrefix(today) : std::string();
}

Result<std::string> BuildPrompt(const PromptRequest& request, bool prefilled) {
  if (request.format.protocol == Protocol::kLmlab) return BuildLmlabPrompt(request);
  return BuildPaperPrompt(request, prefilled);
}

std::vector<runtime::ChatMessage> PaperChatMessages(std::string_view prompt, search::Day today) {
  const std::string day = LongDay(today);
  return {{"system", "You are a helpful assistant who answers as briefly as possible. Knowledge cutoff: " + day + "."},
          {"user", "What is today's date?"},
          {"assistant", "Today is " + day + "."},
          {"user", std::string(prompt)}};
}

std::vector<int> MapCitations(std::string_view answer, std::span<const Evidence> evidences) {
  std::vector<bool> cited(evidences.size(), false);
  // "[3]", "[1, 3]", "[2][4]"
  for (size_t i = 0; i < answer.size(); ++i) {
    if (answer[i] != '[') continue;
    size_t j = i + 1;
    std::vector<int> nums;
    int cur = -1;
    bool ok = true;
    for (; j < answer.size() && answer[j] != ']'; ++j) {
      char c = answer[j];
      if (std::isdigit(static_cast<unsigned char>(c))) {
        cur = (cur < 0 ? 0 : cur * 10) + (c - '0');
        if (cur > 1000) ok = false;
      } else if (c == ',' || c == ' ') {
        if (cur >= 0) nums.push_back(cur);
        cur = -1;
      } else {
        ok = false;
        break;
      }
    }
    if (j >= answer.size() || !ok) continue;
    if (cur >= 0) nums.push_back(cur);
    for (int n : nums)
      if (n >= 1 && n <= static_cast<int>(evidences.size())) cited[n - 1] = true;
  }
  // "according to python.org (Oct 07, 2024)": the source and its date.
  std::string lower = Lower(answer);
  for (size_t i = 0; i < evidences.size(); ++i) {
    const Evidence& e = evidences[i];
    if (cited[i] || e.source.empty() || !e.date) continue;
    if (lower.find(Lower(e.source)) == std::string::npos) continue;
    if (lower.find(Lower(search::FormatDay(*e.date))) != std::string::npos ||
        lower.find(search::FormatIsoDay(*e.date)) != std::string::npos)
      cited[i] = true;
  }
  std::vector<int> out;
  for (size_t i = 0; i < cited.size(); ++i)
    if (cited[i]) out.push_back(static_cast<int>(i));
  return out;
}

Result<GroundedAnswer> AnswerWithEvidence(runtime::LanguageModel& model, search::SearchBackend& backend,
                                          const AnswerOptions& options, const runtime::TokenCallback& on_token) {
  LMLAB_RETURN_IF_ERROR(ValidateQuestion(options.question, options.max_question_bytes));
  if (options.k < 1) return InvalidArgument("`k` (evidences in the prompt) must be at least 1 (got " + std::to_string(options.k) + ")");
  if (options.max_tokens < 1) return InvalidArgument("`max_tokens` must be at least 1");
  if (options.today == search::Day{}) return InvalidArgument("today's date is required (`today`)");
  const bool paper = options.format.protocol == Protocol::kPaper;
  const bool prefilled = Prefills(options.format, options.style);
  const bool chat = options.style == PromptStyle::kChat;

  GroundedAnswer a;
  a.question = options.question;
  a.today = search::FormatIsoDay(options.today);

  std::vector<Evidence> window;
  std::optional<search::AnswerBox> box;
  if (options.search == SearchMode::kNoSearch) {
    a.ungrounded_reason = "search disabled";
  } else {
    a.backend = backend.name();
    // A search engine that is down or slow must not take the answer with it:
    // the model still answers, flagged as ungrounded.
    Retrieved r = Retrieve(backend, options.question, options, options.seed);
    a.search_seconds = r.seconds;
    a.ungrounded_reason = r.failure;
    a.evidences_found = r.found;
    window = std::move(r.window);
    box = std::move(r.answer_box);
    if (r.failure.empty() && window.empty() && !box) a.ungrounded_reason = "no evidence found for the question";
  }

  const int64_t n_ctx = options.context_tokens > 0 ? options.context_tokens : model.info().n_ctx;
  const int64_t budget = n_ctx - options.max_tokens -
                         (chat ? kChatTemplateTokens + (paper ? kPaperChatFramingTokens : 0) : 0);
  PromptRequest req{options.question, options.today, window, box, options.format, {},
                    std::clamp(options.num_demonstrations, 0, 5)};
  std::string prompt;
  if (paper) {
    // The question's own evidence comes first: drop it, oldest first, down to
    // the newest one, before any demonstration is considered.
    LMLAB_ASSIGN_OR_RETURN(prompt, BuildPrompt(req, prefilled));
    if (n_ctx > 0) {
      while (CountTokens(model, prompt) > budget) {
        if (req.evidences.empty()) return OutOfRange(TooLong(model, prompt, options, n_ctx));
        req.evidences.erase(req.evidences.begin());
        LMLAB_ASSIGN_OR_RETURN(prompt, BuildPrompt(req, prefilled));
      }
    }
    // Then the demonstrations, in order, each with evidence retrieved the
    // same way as the question's, while they fit.
    int wanted = std::clamp(options.num_demonstrations, 0, 5);
    if (wanted > 0) {
      LMLAB_ASSIGN_OR_RETURN(std::vector<Block> demos, PaperDemonstrations(options.today, options.format.answer_style));
      for (int i = 0; i < wanted && i < static_cast<int>(demos.size()); ++i) {
        Block d = demos[i];
        if (options.search == SearchMode::kSearch && a.ungrounded_reason.find("failed") == std::string::npos) {
          Retrieved r = Retrieve(backend, d.question, options, options.seed + 1 + i);
          a.search_seconds += r.seconds;
          d.evidences = std::move(r.window);
        }
        PromptRequest with = req;
        with.demonstrations.push_back(std::move(d));
        LMLAB_ASSIGN_OR_RETURN(std::string p, BuildPrompt(with, prefilled));
        if (n_ctx > 0 && CountTokens(model, p) > budget) break;
        req = std::move(with);
        prompt = std::move(p);
      }
      a.demonstrations_dropped = wanted - static_cast<int>(req.demonstrations.size());
    }
    a.demonstrations = static_cast<int>(req.demonstrations.size());
  } else {
    // kLmlab: evidence goes first, oldest (farthest from the question) first,
    // down to the newest one; only then demonstrations (last first,
    // re-admitting evidence each time), then the instruction, then the last
    // evidence and the answer box. Whole items only, never part of a field.
    LMLAB_ASSIGN_OR_RETURN(prompt, BuildPrompt(req));
    if (n_ctx > 0 && CountTokens(model, prompt) > budget) {
      std::optional<PromptRequest> fitted;
      auto try_with = [&](PromptRequest r, size_t n_evidence) -> Result<bool> {
        r.evidences.assign(window.end() - static_cast<std::ptrdiff_t>(n_evidence), window.end());
        LMLAB_ASSIGN_OR_RETURN(std::string p, BuildPrompt(r));
        if (CountTokens(model, p) > budget) return false;
        fitted = std::move(r);
        prompt = std::move(p);
        return true;
      };
      PromptRequest level = req;
      size_t min_evidence = window.empty() ? 0 : 1;
      while (!fitted) {
        for (size_t n = window.size(); n >= min_evidence && !fitted; --n) {
          LMLAB_ASSIGN_OR_RETURN(bool ok, try_with(level, n));
          if (ok || n == 0) break;
        }
        if (fitted) break;
        if (level.num_demonstrations > 0) --level.num_demonstrations;
        else if (level.format.instruction == Instruction::kOn) level.format.instruction = Instruction::kOff;
        else if (min_evidence > 0) min_evidence = 0;
        else if (level.answer_box) level.answer_box.reset();
        else return OutOfRange(TooLong(model, prompt, options, n_ctx));
      }
      a.demonstrations_dropped = req.num_demonstrations - fitted->num_demonstrations;
      req = *fitted;
    }
    a.demonstrations = req.num_demonstrations;
    a.answer_box = req.answer_box;
  }
  a.dropped_for_context = static_cast<int>(window.size() - req.evidences.size());
  if (req.evidences.empty() && !window.empty() && a.ungrounded_reason.empty())
    a.ungrounded_reason = "no evidence fits the context window of " + std::to_string(n_ctx) + " tokens";
  a.prompt = prompt;
  for (size_t i = 0; i < req.evidences.size(); ++i)
    a.evidences.push_back({req.evidences[i], static_cast<int>(i + 1), false});

  runtime::SamplingParams sp;
  sp.temperature = options.temperature;
  sp.max_tokens = options.max_tokens;
  sp.seed = options.seed;
  sp.stop = {"\n" + std::string(kSeparator), "\nquery:", "\nquestion:"};
  Result<runtime::Completion> c;
  if (chat) {
    std::vector<runtime::ChatMessage> messages;
    if (paper) messages = PaperChatMessages(prompt, options.today);
    else messages.push_back({"user", prompt});
    c = model.Chat(messages, sp, on_token);
  } else {
    c = model.Complete(prompt, sp, on_token);
  }
  if (!c) return std::unexpected(c.error().WithContext("the model failed to answer"));
  a.generated = c->text;
  const std::string lead = AnswerLead(options.format, options.today, prefilled);
  // A chat model answers afresh and may restate the lead itself.
  if (lead.empty() || (chat && a.generated.find(lead) != std::string::npos)) {
    a.answer = a.generated;
    while (!a.answer.empty() && std::isspace(static_cast<unsigned char>(a.answer.front()))) a.answer.erase(0, 1);
  } else {
    a.answer = lead + (a.generated.starts_with(" ") ? "" : " ") + a.generated;
  }
  while (!a.answer.empty() && std::isspace(static_cast<unsigned char>(a.answer.back()))) a.answer.pop_back();
  a.prompt_tokens = c->prompt_tokens;
  a.completion_tokens = c->completion_tokens;
  a.finish_reason = c->finish_reason;
  a.generate_seconds = c->seconds;

  std::vector<Evidence> shown;
  for (const auto& pe : a.evidences) shown.push_back(pe.evidence);
  a.cited = MapCitations(a.generated, shown);
  for (int i : a.cited) a.evidences[i].cited = true;
  a.grounding = a.ungrounded_reason.empty() ? Grounding::kGrounded : Grounding::kUngrounded;
  return a;
}

nlohmann::json ToJson(const search::Evidence& e) {
  return {{"source", e.source},
          {"url", e.url},
          {"date", e.date ? nlohmann::json(search::FormatIsoDay(*e.date)) : nlohmann::json(nullptr)},
          {"title", e.title},
          {"snippet", e.snippet},
          {"highlight", e.highlight},
          {"type", search::ResultTypeName(e.type)},
          {"score", e.score},
          {"relevance_rank", e.relevance_rank}};
}

nlohmann::json ToJson(const GroundedAnswer& a, IncludePrompt include_prompt) {
  nlohmann::json ev = nlohmann::json::array();
  for (const auto& pe : a.evidences) {
    nlohmann::json e = ToJson(pe.evidence);
    e["number"] = pe.number;
    e["cited"] = pe.cited;
    ev.push_back(e);
  }
  nlohmann::json j = {{"question", a.question},
                      {"today", a.today},
                      {"answer", a.answer},
                      {"grounded", a.grounding == Grounding::kGrounded},
                      {"ungrounded_reason", a.ungrounded_reason},
                      {"cited", a.cited},
                      {"evidences", ev},
                      {"backend", a.backend},
                      {"evidences_found", a.evidences_found},
                      {"dropped_for_context", a.dropped_for_context},
                      {"demonstrations", a.demonstrations},
                      {"demonstrations_dropped", a.demonstrations_dropped},
                      {"prompt_tokens", a.prompt_tokens},
                      {"completion_tokens", a.completion_tokens},
                      {"finish_reason", a.finish_reason},
                      {"search_seconds", a.search_seconds},
                      {"generate_seconds", a.generate_seconds}};
  j["answer_box"] = a.answer_box ? nlohmann::json{{"title", a.answer_box->title},
                                                  {"text", a.answer_box->text},
                                                  {"url", a.answer_box->url}}
                                 : nlohmann::json(nullptr);
  if (include_prompt == IncludePrompt::kYes) j["prompt"] = a.prompt;
  return j;
}

}  // namespace lmlab::fresh
