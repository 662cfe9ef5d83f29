#include "lmlab/fresh/freshqa.h"

#include <algorithm>
#include <cctype>
#include <fmt/format.h>
#include <map>
#include <set>

#include "lmlab/core/embedded.h"
#include "lmlab/core/file.h"
#include "lmlab/core/format.h"
#include "lmlab/core/csv.h"
#include "lmlab/core/json.h"
#include "lmlab/core/table.h"
#include "lmlab/core/text.h"

namespace lmlab::fresh {
namespace {

constexpr std::string_view kFreshEvalPath = "data/fresh/fresheval.json";
constexpr int kResponsesVersion = 1;

// Lower case, punctuation to spaces, articles dropped, single spaces, padded
// with spaces so " word " finds whole words.
std::string Normalise(std::string_view s) {
  std::string spaced;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || u >= 0x80) spaced += static_cast<char>(std::tolower(u));
    else if (c == '.' || c == ',') spaced += ' ';  // "1,000" and "3.13" keep digits adjacent below
    else spaced += ' ';
  }
  std::string out = " ";
  size_t i = 0;
  while (i < spaced.size()) {
    while (i < spaced.size() && spaced[i] == ' ') ++i;
    size_t j = i;
    while (j < spaced.size() && spaced[j] != ' ') ++j;
    std::string w = spaced.substr(i, j - i);
    if (!w.empty() && w != "a" && w != "an" && w != "the") out += w + " ";
    i = j;
  }
  return out;
}

std::vector<std::string> ContentWords(std::string_view normalised) {
  static const std::set<std::string, std::less<>> kStop = {
      "is", "are", "was", "were", "has", "have", "had", "of", "in", "on", "to", "and", "or", "for", "by", "it",
      "its", "be", "been", "as", "at", "with", "that", "this", "from", "yet", "no", "not", "any", "does", "did"};
  std::vector<std::string> out;
  size_t i = 0;
  while (i < normalised.size()) {
    while (i < normalised.size() && normalised[i] == ' ') ++i;
    size_t j = normalised.find(' ', i);
    if (j == std::string::npos) j = normalised.size();
    std::string w(normalised.substr(i, j - i));
    if (!w.empty() && !kStop.contains(w)) out.push_back(w);
    i = j;
  }
  return out;
}

bool DeniesPremise(std::string_view normalised) {
  static constexpr std::string_view kCues[] = {" false premise ", " no ",  " not ",   " never ",  " nobody ",
                                               " none ",          " n t ", " t ",     " isn ",    " wasn ",
                                               " hasn ",          " didn ", " doesn ", " aren ",  " weren ",
                                               " haven ",         " cannot ", " incorrect ", " there is no "};
  for (auto cue : kCues)
    if (normalised.find(cue) != std::string_view::npos) return true;
  return false;
}

// The answer minus its reasoning prefix ("As of today November 27, 2026, ...
// as follows.") or lmlab's "Today is Nov 27, 2026." sentence, whose year would
// otherwise match year answers.
std::string_view WithoutTodaySentence(std::string_view response) {
  if (response.starts_with("As of today ")) {
    size_t end = response.find("as follows.");
    if (end != std::string_view::npos) return response.substr(end + 11);
  }
  if (response.starts_with("Today is ")) {
    size_t dot = response.find('.');
    if (dot != std::string_view::npos && dot < 30) return response.substr(dot + 1);
  }
  return response;
}

struct EvalDemo {
  JudgeCase c;
  std::string comment[2];     // [relaxed, strict]
  std::string evaluation[2];
};

struct EvalData {
  std::string instruction[2];  // [relaxed, strict]
  std::vector<EvalDemo> demos;
};

Result<EvalData> LoadFreshEval() {
  LMLAB_ASSIGN_OR_RETURN(std::string_view text, embedded::Find(kFreshEvalPath));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.contains("instructions") || !j.contains("demonstrations"))
    return Internal(std::string(kFreshEvalPath) + " is malformed");
  EvalData d;
  d.instruction[0] = j["instructions"].value("relaxed", "");
  d.instruction[1] = j["instructions"].value("strict", "");
  for (const auto& x : j["demonstrations"]) {
    EvalDemo e;
    e.c.question = x.value("question", "");
    e.c.correct_answers = x.value("correct_answers", std::vector<std::string>{});
    e.c.response = x.value("response", "");
    for (int m = 0; m < 2; ++m) {
      const auto& v = x[m == 0 ? "relaxed" : "strict"];
      e.comment[m] = v.value("comment", "");
      e.evaluation[m] = v.value("evaluation", "");
    }
    d.demos.push_back(std::move(e));
  }
  if (d.demos.size() != 15 || d.instruction[0].empty() || d.instruction[1].empty())
    return Internal(std::string(kFreshEvalPath) + " must hold two instructions and 15 demonstrations");
  return d;
}

// "\n\n\nquestion: ...\ncorrect answer(s): a | b\nresponse: ...\ncomment: "
std::string RenderCase(const JudgeCase& c) {
  return "question: " + c.question + "\ncorrect answer(s): " + Join(c.correct_answers, " | ") + "\nresponse: " + c.response + "\ncomment: ";
}

nlohmann::json Meta(const RunOptions& o) {
  return {{"version", kResponsesVersion},
          {"today", search::FormatIsoDay(o.answer.today)},
          {"k", o.answer.k},
          {"order", EvidenceOrderName(o.answer.order)},
          {"search", o.answer.search == SearchMode::kSearch},
          {"protocol", ProtocolName(o.answer.format.protocol)},
          {"check_premise", o.answer.format.premise != PremiseCheck::kOff},
          {"split", o.split},
          {"model", o.model_name}};
}

const FreshQaQuestion* FindQuestion(std::span<const FreshQaQuestion> qs, const std::string& id) {
  for (const auto& q : qs)
    if (q.id == id) return &q;
  return nullptr;
}

void Count(Accuracy& a, std::optional<Verdict> v) {
  if (!v) return;
  if (*v == Verdict::kUnparsed) {
    ++a.unparsed;
    return;
  }
  ++a.n;
  if (*v == Verdict::kCorrect) ++a.correct;
}

std::string VerdictName(Verdict v) {
  return v == Verdict::kCorrect ? "correct" : v == Verdict::kIncorrect ? "incorrect" : "unparsed";
}
std::optional<Verdict> VerdictFromName(const std::string& s) {
  if (s == "correct") return Verdict::kCorrect;
  if (s == "incorrect") return Verdict::kIncorrect;
  if (s == "unparsed") return Verdict::kUnparsed;
  return std::nullopt;
}
std::optional<Verdict> VerdictFromJson(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_string()) return std::nullopt;
  return VerdictFromName(j[key].get<std::string>());
}

// The paper's breakdown (Table 1), in its order: which groups a question counts in.
std::vector<std::string> GroupsOf(const FreshQaQuestion& q) {
  const bool before_2022 = q.effective_year == "before 2022";
  std::vector<std::string> g = {"all"};
  if (q.false_premise) {
    g.push_back("false premise");
    if (before_2022) g.push_back("false premise: before 2022");
  } else {
    g.push_back("valid premise");
    g.push_back("valid premise: " + q.fact_type);
    g.push_back(before_2022 ? "valid premise: before 2022" : "valid premise: 2022 and after");
    g.push_back("valid premise: " + q.num_hops);
  }
  return g;
}

const std::vector<std::string>& GroupOrder() {
  static const std::vector<std::string> kOrder = {
      "all",
      "valid premise",
      "valid premise: fast-changing",
      "valid premise: slow-changing",
      "valid premise: never-changing",
      "valid premise: before 2022",
      "valid premise: 2022 and after",
      "valid premise: one-hop",
      "valid premise: multi-hop",
      "false premise",
      "false premise: before 2022"};
  return kOrder;
}

// A responses file (from RunFreshQa) read back: an object with "meta" and a
// "responses" array of objects whose "id" and "answer" are strings. The file
// may be hand-edited or cut short, so every part is checked before use.
Result<nlohmann::json> ReadResponsesFile(const std::filesystem::path& path, std::string_view made_by) {
  LMLAB_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  const std::string what = path.string();
  auto j = ParseJson(text, what);
  if (!j || !j->is_object() || !j->contains("meta") || !j->contains("responses"))
    return ParseError(fmt::format("{} is not a FreshQA responses file ({})", what, made_by));
  if (!(*j)["meta"].is_object()) return ParseError(what + ": \"meta\" must be an object");
  if (!(*j)["responses"].is_array()) return ParseError(what + ": \"responses\" must be an array");
  size_t i = 0;
  for (const auto& r : (*j)["responses"]) {
    const std::string where = fmt::format("{}: responses[{}]", what, i++);
    LMLAB_RETURN_IF_ERROR(JsonGet<std::string>(r, "id", where));
    LMLAB_RETURN_IF_ERROR(JsonGetOr<std::string>(r, "answer", "", where));
  }
  return j;
}

}  // namespace

Result<std::vector<FreshQaQuestion>> ParseFreshQa(std::string_view csv_text) {
  // Newer FreshQA exports start with a two-line warning before the header.
  size_t header_at = csv_text.find("id,split,question");
  if (header_at != std::string_view::npos && header_at > 0) csv_text.remove_prefix(header_at);
  // FreshQA's questions quote titles inside unquoted fields (`the "Case-Book"`).
  LMLAB_ASSIGN_OR_RETURN(CsvTable t, ParseCsv(csv_text, {.bare_quotes = BareQuotes::kLiteral}));
  const char* required[] = {"id", "split", "question", "effective_year", "next_review",
                            "false_premise", "num_hops", "fact_type", "answer_0"};
  for (const char* c : required)
    if (t.Column(c) < 0) return ParseError(std::string("FreshQA CSV has no '") + c + "' column");
  auto col = [&](const std::vector<std::string>& row, const char* name) {
    int i = t.Column(name);
    return i < 0 ? std::string() : std::string(Trim(row[i]));
  };
  std::vector<FreshQaQuestion> out;
  for (size_t r = 0; r < t.rows.size(); ++r) {
    const auto& row = t.rows[r];
    FreshQaQuestion q;
    q.id = col(row, "id");
    q.question = col(row, "question");
    if (q.id.empty() && q.question.empty()) continue;
    if (q.question.empty()) return ParseError("FreshQA line " + std::to_string(t.row_lines[r]) + ": empty question");
    q.split = col(row, "split");
    q.effective_year = col(row, "effective_year");
    q.next_review = col(row, "next_review");
    const std::string fp = Upper(col(row, "false_premise"));
    if (fp != "TRUE" && fp != "FALSE")
      return ParseError("FreshQA line " + std::to_string(t.row_lines[r]) + ": false_premise must be TRUE or FALSE");
    q.false_premise = fp == "TRUE";
    q.num_hops = col(row, "num_hops");
    q.fact_type = col(row, "fact_type");
    q.source = col(row, "source");
    for (int i = 0; i < 10; ++i) {
      std::string a = col(row, fmt::format("answer_{}", i).c_str());
      if (!a.empty()) q.answers.push_back(a);
    }
    out.push_back(std::move(q));
  }
  return out;
}

Result<std::vector<FreshQaQuestion>> LoadFreshQa(const std::filesystem::path& path) {
  LMLAB_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  auto qs = ParseFreshQa(text);
  if (!qs) return std::unexpected(qs.error().WithContext(path.string()));
  return qs;
}

Result<std::vector<const FreshQaQuestion*>> SelectQuestions(std::span<const FreshQaQuestion> questions,
                                                            const RunOptions& options) {
  if (options.split != "TEST" && options.split != "DEV" && options.split != "all")
    return InvalidArgument("`split` must be TEST, DEV or all (got '" + options.split + "')");
  std::vector<const FreshQaQuestion*> selected;
  for (const auto& q : questions)
    if (options.split == "all" || q.split == options.split) selected.push_back(&q);
  if (options.limit > 0 && static_cast<int>(selected.size()) > options.limit) selected.resize(options.limit);
  if (options.shards < 1 || options.shard < 0 || options.shard >= options.shards)
    return InvalidArgument(fmt::format("shard {} of {}: needs 0 <= shard < shards", options.shard, options.shards));
  if (options.shards > 1) {
    const size_t per = (selected.size() + options.shards - 1) / options.shards;
    const size_t begin = std::min(selected.size(), per * options.shard);
    selected = std::vector<const FreshQaQuestion*>(selected.begin() + begin,
                                                   selected.begin() + std::min(selected.size(), begin + per));
  }
  return selected;
}

Result<RunSummary> RunFreshQa(runtime::LanguageModel& model, search::SearchBackend& backend,
                              std::span<const FreshQaQuestion> questions, const RunOptions& options,
                              const std::filesystem::path& responses_path, const ProgressCallback& progress) {
  LMLAB_ASSIGN_OR_RETURN(std::vector<const FreshQaQuestion*> selected, SelectQuestions(questions, options));

  nlohmann::json meta = Meta(options);
  nlohmann::json file = {{"meta", meta}, {"responses", nlohmann::json::array()}};
  std::set<std::string> done;
  std::error_code ec;
  if (std::filesystem::exists(responses_path, ec)) {
    auto old = ReadResponsesFile(responses_path, "choose another `responses_path`");
    if (!old) return std::unexpected(old.error());
    if ((*old)["meta"] != meta)
      return InvalidArgument(responses_path.string() + " was written with other settings (" +
                             DumpJson((*old)["meta"]) + "); choose another `responses_path` or rerun with those settings to resume");
    file = std::move(*old);
    for (const auto& r : file["responses"]) done.insert(r["id"].get<std::string>());
  }

  RunSummary s;
  s.total = static_cast<int>(selected.size());
  int step = 0;
  for (const FreshQaQuestion* q : selected) {
    ++step;
    if (done.contains(q->id)) {
      ++s.resumed;
      continue;
    }
    AnswerOptions ao = options.answer;
    ao.question = q->question;
    auto a = AnswerWithEvidence(model, backend, ao);
    nlohmann::json rec;
    if (a) {
      rec = ToJson(*a, IncludePrompt::kNo);
      for (auto& e : rec["evidences"]) e.erase("snippet");  // keep the file small; sources and dates stay
      ++s.answered;
      if (a->grounding == Grounding::kUngrounded) ++s.ungrounded;
    } else if (a.error().code == ErrorCode::kOutOfRange || a.error().code == ErrorCode::kInvalidArgument) {
      rec = {{"question", q->question}, {"answer", ""}, {"error", a.error().ToString()}};
      ++s.failed;
    } else {
      return std::unexpected(a.error().WithContext("question " + q->id + " (rerun to resume; " +
                                                   std::to_string(s.answered + s.resumed) + " answers are saved)"));
    }
    rec["id"] = q->id;
    file["responses"].push_back(std::move(rec));
    LMLAB_RETURN_IF_ERROR(WriteFileAtomic(responses_path, DumpJson(file, 1)));
    Report(progress, {"answering FreshQA", double(step), double(selected.size()), "questions", ""});
  }
  return s;
}

Result<int> MergeResponses(std::span<const std::filesystem::path> shard_files,
                           const std::filesystem::path& responses_path) {
  nlohmann::json file;
  std::set<std::string> done;
  std::error_code ec;
  if (std::filesystem::exists(responses_path, ec)) {
    LMLAB_ASSIGN_OR_RETURN(file, ReadResponsesFile(responses_path, "choose another `responses_path`"));
    for (const auto& r : file["responses"]) done.insert(r["id"].get<std::string>());
  }
  int added = 0;
  for (const auto& part : shard_files) {
    LMLAB_ASSIGN_OR_RETURN(nlohmann::json shard, ReadResponsesFile(part, "run the shard again"));
    if (file.is_null()) file = {{"meta", shard["meta"]}, {"responses", nlohmann::json::array()}};
    if (shard["meta"] != file["meta"])
      return InvalidArgument(fmt::format("{} was written with other settings ({}) than {} ({})", part.string(),
                                         DumpJson(shard["meta"]), responses_path.string(), DumpJson(file["meta"])));
    for (auto& r : shard["responses"])
      if (done.insert(r["id"].get<std::string>()).second) {
        file["responses"].push_back(std::move(r));
        ++added;
      }
  }
  if (file.is_null()) return InvalidArgument("no responses files to merge");
  LMLAB_RETURN_IF_ERROR(WriteFileAtomic(responses_path, DumpJson(file, 1)));
  return added;
}

Verdict AliasMatch(const FreshQaQuestion& q, std::string_view response) {
  std::string r = Normalise(WithoutTodaySentence(response));
  if (r.size() <= 1) return Verdict::kIncorrect;
  bool denies = DeniesPremise(r);
  for (const auto& alias : q.answers) {
    std::string a = Normalise(alias);
    if (a.size() <= 1) continue;
    if (q.false_premise) {
      // A false-premise answer is a sentence ("No animal has landed on the
      // moon"): the response must deny the premise and share most of its words.
      if (!denies) continue;
      std::vector<std::string> words = ContentWords(a);
      if (words.empty()) return Verdict::kCorrect;
      int hit = 0;
      for (const auto& w : words) hit += r.find(" " + w + " ") != std::string::npos;
      if (2 * hit >= static_cast<int>(words.size())) return Verdict::kCorrect;
    } else if (r.find(a) != std::string::npos) {
      return Verdict::kCorrect;
    }
  }
  return Verdict::kIncorrect;
}

std::string_view GradeModeName(GradeMode mode) { return mode == GradeMode::kRelaxed ? "relaxed" : "strict"; }

Result<std::string> BuildJudgePrompt(const JudgeCase& c, GradeMode mode, search::Day today) {
  LMLAB_ASSIGN_OR_RETURN(EvalData d, LoadFreshEval());
  const int m = mode == GradeMode::kRelaxed ? 0 : 1;
  const std::string day = LongDay(today);
  std::string out = d.instruction[m];
  for (const EvalDemo& e : d.demos) {
    JudgeCase demo = e.c;
    // The demonstrations' reasoning prefix carries the judge's own today.
    const std::string tag = "{today}";
    for (size_t at = demo.response.find(tag); at != std::string::npos; at = demo.response.find(tag))
      demo.response.replace(at, tag.size(), day);
    out += "\n\n\n" + RenderCase(demo) + e.comment[m] + "\nevaluation: " + e.evaluation[m];
  }
  out += "\n\n\n" + RenderCase(c);
  return out;
}

std::vector<runtime::ChatMessage> JudgeChatMessages(std::string_view prompt, search::Day today) {
  return PaperChatMessages(prompt, today);
}

Verdict ParseJudgeVerdict(std::string_view output) {
  std::optional<Verdict> v;
  size_t start = 0;
  while (start <= output.size()) {
    size_t nl = output.find('\n', start);
    std::string_view line = output.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    if (line.find("evaluation: ") != std::string_view::npos) {
      while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.remove_suffix(1);
      std::string_view last = line.substr(line.rfind(' ') + 1);
      if (last == "correct") v = Verdict::kCorrect;
      else if (last == "incorrect") v = Verdict::kIncorrect;
      else return Verdict::kUnparsed;
    }
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  if (v) return *v;
  if (output.find("Thus, the response is credited.") != std::string_view::npos) return Verdict::kCorrect;
  if (output.find("Thus, the response is not credited.") != std::string_view::npos) return Verdict::kIncorrect;
  return Verdict::kUnparsed;
}

Result<Judgement> Judge(runtime::LanguageModel& judge, const JudgeCase& c, GradeMode mode, search::Day today,
                        const GradeOptions& options) {
  if (options.max_attempts < 1) return InvalidArgument("the judge needs at least one attempt per verdict");
  LMLAB_ASSIGN_OR_RETURN(std::string prompt, BuildJudgePrompt(c, mode, today));
  Judgement j;
  while (j.attempts < options.max_attempts) {
    runtime::SamplingParams sp;
    // The paper asks again at temperature 0 (an API's own randomness varies
    // the answer); a local model at temperature 0 would repeat itself, so
    // later attempts sample.
    sp.temperature = j.attempts == 0 ? 0.0f : 0.7f;
    sp.seed = static_cast<uint64_t>(j.attempts);
    sp.max_tokens = options.judge_max_tokens;
    sp.stop = {"\n\n\nquestion:", "\nquestion:"};
    Result<runtime::Completion> out;
    if (options.judge_style == PromptStyle::kChat) out = judge.Chat(JudgeChatMessages(prompt, today), sp);
    else out = judge.Complete(prompt, sp);
    if (!out) return std::unexpected(out.error().WithContext("the judge failed"));
    ++j.attempts;
    j.output = ToValidUtf8(out->text);
    j.verdict = ParseJudgeVerdict(j.output);
    if (j.verdict != Verdict::kUnparsed) break;
  }
  return j;
}

Result<GradeReport> GradeFreshQa(std::span<const FreshQaQuestion> questions, const std::filesystem::path& responses_path,
                                 runtime::LanguageModel* judge, const GradeOptions& options,
                                 const std::filesystem::path& grades_path, const ProgressCallback& progress) {
  LMLAB_ASSIGN_OR_RETURN(nlohmann::json responses, ReadResponsesFile(responses_path, "expected the output of a FreshQA run"));
  auto answered_on = search::ParseDay(JsonGetOr<std::string>(responses["meta"], "today", "", "meta").value_or(""));
  if (!answered_on) return ParseError(responses_path.string() + ": meta.today is missing");

  nlohmann::json grades = {{"responses", responses_path.string()}, {"grades", nlohmann::json::object()}};
  std::error_code ec;
  if (judge && std::filesystem::exists(grades_path, ec)) {
    LMLAB_ASSIGN_OR_RETURN(std::string old_text, ReadFile(grades_path));
    nlohmann::json old = nlohmann::json::parse(old_text, nullptr, false);
    // Saved grades are reused; anything that is not a grade object is graded again.
    if (!old.is_discarded() && old.is_object() && old.contains("grades") && old["grades"].is_object())
      for (const auto& [id, g] : old["grades"].items())
        if (g.is_object()) grades["grades"][id] = g;
  }

  std::map<std::string, GradeRow> rows;
  GradeReport report;
  report.judged = judge != nullptr;
  const auto& list = responses["responses"];
  int step = 0;
  for (const auto& resp : list) {
    ++step;
    std::string id = resp["id"].get<std::string>();  // checked by ReadResponsesFile
    const FreshQaQuestion* q = FindQuestion(questions, id);
    if (!q) return ParseError("response id " + id + " is not in the FreshQA file; grade with the CSV it was run on");
    std::string answer = JsonGetOr<std::string>(resp, "answer", "", "response").value_or("");
    Verdict alias = AliasMatch(*q, answer);
    std::optional<Verdict> relaxed, strict;
    if (judge) {
      nlohmann::json& g = grades["grades"][id];
      relaxed = VerdictFromJson(g, "relaxed");
      strict = VerdictFromJson(g, "strict");
      bool changed = false;
      for (GradeMode mode : {GradeMode::kRelaxed, GradeMode::kStrict}) {
        std::optional<Verdict>& slot = mode == GradeMode::kRelaxed ? relaxed : strict;
        // Saved unparsed verdicts are asked again: the judge may answer now.
        if (slot && *slot != Verdict::kUnparsed) continue;
        const std::string key(GradeModeName(mode));
        if (answer.empty()) {
          slot = Verdict::kIncorrect;
        } else {
          // The judge sees the question, its correct answers and the response: nothing else.
          JudgeCase c{q->question, q->answers, answer};
          LMLAB_ASSIGN_OR_RETURN(Judgement j, Judge(*judge, c, mode, *answered_on, options));
          slot = j.verdict;
          g[key + "_output"] = j.output;
          g[key + "_attempts"] = j.attempts;
        }
        g[key] = VerdictName(*slot);
        changed = true;
      }
      if (changed) LMLAB_RETURN_IF_ERROR(WriteFileAtomic(grades_path, DumpJson(grades, 1)));
      report.unparsed_judgements += (*relaxed == Verdict::kUnparsed) + (*strict == Verdict::kUnparsed);
    }
    for (const std::string& group : GroupsOf(*q)) {
      GradeRow& r = rows[group];
      r.group = group;
      ++r.questions;
      Count(r.alias, alias);
      Count(r.relaxed, relaxed);
      Count(r.strict, strict);
    }
    ++report.graded;
    Report(progress, {"grading FreshQA", double(step), double(list.size()), "responses", ""});
  }
  if (!judge) LMLAB_RETURN_IF_ERROR(WriteFileAtomic(grades_path, DumpJson(grades, 1)));
  for (const auto& g : GroupOrder())
    if (rows.contains(g)) report.rows.push_back(rows[g]);
  return report;
}

std::string RenderGradeReport(const GradeReport& report) {
  Table t({"group", "n", "alias", "relaxed", "strict", "unparsed"},
          {Align::kLeft, Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight});
  auto pct = [](const Accuracy& a) { return a.n ? FormatPercent(a.accuracy(), 1) : std::string("-"); };
  for (const auto& r : report.rows)
    t.AddRow({r.group, std::to_string(r.questions), pct(r.alias), pct(r.relaxed), pct(r.strict),
              report.judged ? std::to_string(r.relaxed.unparsed + r.strict.unparsed) : "-"});
  std::string out = t.Render();
  if (!report.judged) out += "relaxed/strict need an LLM judge (none was given)\n";
  if (report.unparsed_judgements)
    out += std::to_string(report.unparsed_judgements) +
           " judgements stayed unparsable after the re-asks; they are left out of the accuracies (column unparsed)\n";
  return out;
}

nlohmann::json ToJson(const GradeReport& report) {
  nlohmann::json rows = nlohmann::json::array();
  auto acc = [](const Accuracy& a) {
    return nlohmann::json{{"n", a.n},
                          {"correct", a.correct},
                          {"unparsed", a.unparsed},
                          {"accuracy", a.n ? nlohmann::json(a.accuracy()) : nlohmann::json(nullptr)}};
  };
  for (const auto& r : report.rows)
    rows.push_back({{"group", r.group},
                    {"questions", r.questions},
                    {"alias", acc(r.alias)},
                    {"relaxed", acc(r.relaxed)},
                    {"strict", acc(r.strict)}});
  return {{"graded", report.graded}, {"judged", report.judged}, {"unparsed_judgements", report.unparsed_judgements},
          {"rows", rows}};
}

Result<std::vector<LabelledResponse>> LoadLabelledResponses(const std::filesystem::path& path) {
  LMLAB_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.contains("responses") || !j["responses"].is_array())
    return ParseError(path.string() + ": expected {\"responses\": [...]}");
  std::vector<LabelledResponse> out;
  for (const auto& r : j["responses"]) {
    LabelledResponse l;
    l.c.question = r.value("question", "");
    l.c.correct_answers = r.value("correct_answers", std::vector<std::string>{});
    l.c.response = r.value("response", "");
    l.false_premise = r.value("false_premise", false);
    l.note = r.value("note", "");
    auto relaxed = VerdictFromName(r.value("relaxed", ""));
    auto strict = VerdictFromName(r.value("strict", ""));
    if (l.c.question.empty() || l.c.correct_answers.empty() || !relaxed || !strict ||
        *relaxed == Verdict::kUnparsed || *strict == Verdict::kUnparsed)
      return ParseError(path.string() + ": response " + std::to_string(out.size() + 1) +
                        " needs a question, correct_answers, and relaxed and strict labels (correct or incorrect)");
    l.relaxed = *relaxed;
    l.strict = *strict;
    out.push_back(std::move(l));
  }
  return out;
}

Result<std::vector<Agreement>> MeasureAgreement(std::span<const LabelledResponse> labelled,
                                                runtime::LanguageModel* judge, search::Day today,
                                                const GradeOptions& options, const ProgressCallback& progress) {
  std::vector<Agreement> out = {{.mode = GradeMode::kRelaxed}, {.mode = GradeMode::kStrict}};
  for (size_t i = 0; i < labelled.size(); ++i) {
    const LabelledResponse& l = labelled[i];
    for (Agreement& a : out) {
      Verdict v;
      if (judge) {
        LMLAB_ASSIGN_OR_RETURN(Judgement j, Judge(*judge, l.c, a.mode, today, options));
        v = j.verdict;
      } else {
        FreshQaQuestion q;
        q.question = l.c.question;
        q.answers = l.c.correct_answers;
        q.false_premise = l.false_premise;
        v = AliasMatch(q, l.c.response);
      }
      if (v == Verdict::kUnparsed) {
        ++a.unparsed;
        continue;
      }
      ++a.n;
      if (v == (a.mode == GradeMode::kRelaxed ? l.relaxed : l.strict)) ++a.agree;
      else a.disagreements.push_back(static_cast<int>(i));
    }
    Report(progress, {"judging labelled responses", double(i + 1), double(labelled.size()), "responses", ""});
  }
  return out;
}

}  // namespace lmlab::fresh
