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
constexpr std::string_view kSeparator = "=====";
// A chat template wraps the prompt in role markers the tokenizer does not
// see here; keep this many tokens spare for them.
constexpr int64_t kChatTemplateTokens = 32;
constexpr std::string_view kPremiseInstruction =
    " Before answering, check whether the question rests on a false premise.";


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

std::string RenderBlock(std::string_view question, search::Day today, std::span<const Evidence> evidences,
                        const std::optional<search::AnswerBox>& box, PremiseCheck premise) {
  std::string out = "query: " + CollapseWhitespace(question) + "\n\n";
  if (evidences.empty()) out += "(no search results)\n\n";
  for (size_t i = 0; i < evidences.size(); ++i) out += RenderEvidence(evidences[i], static_cast<int>(i + 1)) + "\n";
  if (box) {
    out += "answer box: " + CollapseWhitespace(box->title.empty() ? box->text : box->title + ": " + box->text);
    if (!box->url.empty()) out += " (" + box->url + ")";
    out += "\n\n";
  }
  out += "question: " + CollapseWhitespace(question) + " (today is " + search::FormatDay(today) + ")";
  if (premise == PremiseCheck::kOn) out += kPremiseInstruction;
  out += "\nanswer:";
  return out;
}

// Tokens of `prompt` by the model's own tokenizer; bytes/3 (an overestimate
// for English) where the backend cannot tokenize.
int64_t CountTokens(runtime::LanguageModel& model, std::string_view prompt) {
  auto t = model.Tokenize(prompt, runtime::AddBos::kYes);
  if (t) return static_cast<int64_t>(t->size());
  return static_cast<int64_t>(prompt.size() / 3 + 1);
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

Status ValidateQuestion(std::string_view question, size_t max_bytes) {
  if (Trim(question).empty()) return InvalidArgument("the question is empty; ask something, e.g. \"What is the latest version of zlib?\"");
  if (!IsValidUtf8(question)) return InvalidArgument("the question is not valid UTF-8 text");
  if (question.size() > max_bytes)
    return InvalidArgument("the question is " + std::to_string(question.size()) + " bytes; the limit is " +
                           std::to_string(max_bytes) + " (ask a shorter question)");
  return {};
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

std::string RenderEvidence(const Evidence& e, int number) {
  std::string out = "[" + std::to_string(number) + "]\n";
  out += "source: " + CollapseWhitespace(e.source) + "\n";
  out += "date: " + (e.date ? search::FormatDay(*e.date) : std::string("unknown")) + "\n";
  out += "title: " + CollapseWhitespace(e.title) + "\n";
  out += "snippet: " + CollapseWhitespace(e.snippet) + "\n";
  out += "highlight: " + CollapseWhitespace(e.highlight) + "\n";
  return out;
}

std::string TodaySentence(search::Day today) { return "Today is " + search::FormatDay(today) + "."; }

Result<std::string> BuildPrompt(const PromptRequest& request) {
  LMLAB_ASSIGN_OR_RETURN(DemoSet set, LoadDemonstrations());
  int n = std::clamp(request.num_demonstrations, 0, static_cast<int>(set.demos.size()));
  std::string out = request.instruction == Instruction::kOn ? set.instruction + "\n\n" : std::string();
  for (int i = 0; i < n; ++i) {
    const Demonstration& d = set.demos[i];
    out += RenderBlock(d.question, d.today, d.evidences, std::nullopt, request.check_premise);
    out += " " + d.answer + "\n\n" + std::string(kSeparator) + "\n\n";
  }
  out += RenderBlock(request.question, request.today, request.evidences, request.answer_box, request.check_premise);
  out += " " + TodaySentence(request.today);
  return out;
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
  if (options.k < 1) return InvalidArgument("`k` must be at least 1 (got " + std::to_string(options.k) + ")");
  if (options.max_tokens < 1) return InvalidArgument("`max_tokens` must be at least 1");
  if (options.today == search::Day{}) return InvalidArgument("today's date is required (`today`)");

  GroundedAnswer a;
  a.question = options.question;
  a.today = search::FormatIsoDay(options.today);

  std::vector<Evidence> window;
  if (options.search == SearchMode::kNoSearch) {
    a.ungrounded_reason = "search disabled";
  } else {
    a.backend = backend.name();
    search::SearchOptions so;
    so.max_results = options.num_results > 0 ? options.num_results : std::max(10, options.k);
    so.timeout_seconds = options.search_timeout_seconds;
    so.dates.today = options.today;
    auto start = std::chrono::steady_clock::now();
    auto found = backend.Search(options.question, so);
    a.search_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!found) {
      // A search engine that is down or slow must not take the answer with it:
      // the model still answers, flagged as ungrounded.
      a.ungrounded_reason = "search backend " + backend.name() + " failed: " + found.error().ToString();
    } else {
      a.evidences_found = static_cast<int>(found->evidences.size());
      a.answer_box = found->answer_box;
      window = OrderEvidence(found->evidences, options.order, options.k, options.seed);
      if (window.empty() && !a.answer_box) a.ungrounded_reason = "no evidence found for the question";
    }
  }

  // Fit the context window. Evidence goes first, oldest (farthest from the
  // question) first, down to the newest one; only then demonstrations (last
  // first, re-admitting evidence each time), then the instruction, then the
  // last evidence and the answer box. Whole items only, never part of a field.
  int64_t n_ctx = options.context_tokens > 0 ? options.context_tokens : model.info().n_ctx;
  PromptRequest req{options.question, options.today, window, a.answer_box, options.check_premise,
                    std::clamp(options.num_demonstrations, 0, 5)};
  LMLAB_ASSIGN_OR_RETURN(std::string prompt, BuildPrompt(req));
  if (n_ctx > 0 && CountTokens(model, prompt) > n_ctx - options.max_tokens -
                       (options.style == PromptStyle::kChat ? kChatTemplateTokens : 0)) {
    const int64_t budget =
        n_ctx - options.max_tokens - (options.style == PromptStyle::kChat ? kChatTemplateTokens : 0);
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
      else if (level.instruction == Instruction::kOn) level.instruction = Instruction::kOff;
      else if (min_evidence > 0) min_evidence = 0;
      else if (level.answer_box) level.answer_box.reset();
      else
        return OutOfRange("the question alone takes " + std::to_string(CountTokens(model, prompt)) +
                          " tokens; with `max_tokens` " + std::to_string(options.max_tokens) +
                          " it does not fit the context window of " + std::to_string(n_ctx) +
                          " tokens (shorten the question or lower `max_tokens`)");
    }
    req = *fitted;
    a.dropped_for_context = static_cast<int>(window.size() - req.evidences.size());
    if (req.evidences.empty() && !window.empty() && a.ungrounded_reason.empty())
      a.ungrounded_reason = "no evidence fits the context window of " + std::to_string(n_ctx) + " tokens";
  }
  a.prompt = prompt;
  a.demonstrations = req.num_demonstrations;
  a.answer_box = req.answer_box;
  for (size_t i = 0; i < req.evidences.size(); ++i)
    a.evidences.push_back({req.evidences[i], static_cast<int>(i + 1), false});

  runtime::SamplingParams sp;
  sp.temperature = options.temperature;
  sp.max_tokens = options.max_tokens;
  sp.seed = options.seed;
  sp.stop = {"\n" + std::string(kSeparator), "\nquery:", "\nquestion:"};
  Result<runtime::Completion> c;
  if (options.style == PromptStyle::kChat) {
    runtime::ChatMessage m{"user", prompt};
    c = model.Chat(std::span<const runtime::ChatMessage>(&m, 1), sp, on_token);
  } else {
    c = model.Complete(prompt, sp, on_token);
  }
  if (!c) return std::unexpected(c.error().WithContext("the model failed to answer"));
  std::string generated = c->text;
  a.generated = generated;
  // A chat model answers afresh and may restate the date itself.
  if (options.style == PromptStyle::kChat && generated.find(TodaySentence(options.today)) != std::string::npos)
    a.answer = generated;
  else
    a.answer = TodaySentence(options.today) + (generated.starts_with(" ") ? "" : " ") + generated;
  a.answer.resize(TrimEnd(a.answer).size());
  a.prompt_tokens = c->prompt_tokens;
  a.completion_tokens = c->completion_tokens;
  a.finish_reason = c->finish_reason;
  a.generate_seconds = c->seconds;

  std::vector<Evidence> shown;
  for (const auto& pe : a.evidences) shown.push_back(pe.evidence);
  a.cited = MapCitations(generated, shown);
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
