#include "lmlab/fresh/freshqa.h"

#include <algorithm>
#include <cctype>
#include <fmt/format.h>
#include <map>
#include <set>

#include "lmlab/core/embedded.h"
#include "lmlab/core/file.h"
#include "lmlab/core/format.h"
#include "lmlab/core/json.h"
#include "lmlab/core/table.h"
#include "lmlab/search/csv.h"

namespace lmlab::fresh {
namespace {

constexpr std::string_view kJudgePath = "data/fresh/judge.json";
constexpr int kResponsesVersion = 1;

std::string Trimmed(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

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

// The answer minus its prefilled "Today is Mon DD, YYYY." sentence, whose
// year would otherwise match year answers.
std::string_view WithoutTodaySentence(std::string_view response) {
  if (response.starts_with("Today is ")) {
    size_t dot = response.find('.');
    if (dot != std::string_view::npos && dot < 30) return response.substr(dot + 1);
  }
  return response;
}

struct JudgeData {
  std::string common, relaxed, strict;
  nlohmann::json examples;
};

Result<JudgeData> LoadJudge() {
  LMLAB_ASSIGN_OR_RETURN(std::string_view text, embedded::Find(kJudgePath));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.contains("rules") || !j.contains("examples"))
    return Internal(std::string(kJudgePath) + " is malformed");
  JudgeData d;
  d.common = j["rules"].value("common", "");
  d.relaxed = j["rules"].value("relaxed", "");
  d.strict = j["rules"].value("strict", "");
  d.examples = j["examples"];
  return d;
}

std::string JudgeCase(std::string_view question, std::string_view today, const std::vector<std::string>& answers,
                      bool false_premise, std::string_view response) {
  std::string joined;
  for (const auto& a : answers) joined += (joined.empty() ? "" : " | ") + a;
  std::string one_line_response;
  for (char c : response) one_line_response += (c == '\n' ? ' ' : c);
  return fmt::format("question: {}\nanswered on: {}\naccepted answers: {}\nfalse premise: {}\nresponse: {}\ncomment:",
                     question, today, joined, false_premise ? "yes" : "no", one_line_response);
}

nlohmann::json Meta(const RunOptions& o) {
  return {{"version", kResponsesVersion},
          {"today", search::FormatIsoDay(o.answer.today)},
          {"k", o.answer.k},
          {"order", EvidenceOrderName(o.answer.order)},
          {"search", o.answer.search == SearchMode::kSearch},
          {"check_premise", o.answer.check_premise == PremiseCheck::kOn},
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
  ++a.n;
  if (*v == Verdict::kCorrect) ++a.correct;
}

std::string VerdictName(Verdict v) {
  return v == Verdict::kCorrect ? "correct" : v == Verdict::kIncorrect ? "incorrect" : "unparsed";
}
std::optional<Verdict> VerdictFromJson(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_string()) return std::nullopt;
  std::string s = j[key];
  if (s == "correct") return Verdict::kCorrect;
  if (s == "incorrect") return Verdict::kIncorrect;
  return Verdict::kUnparsed;
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
  LMLAB_ASSIGN_OR_RETURN(search::CsvTable t, search::ParseCsv(csv_text));
  const char* required[] = {"id", "split", "question", "effective_year", "next_review",
                            "false_premise", "num_hops", "fact_type", "answer_0"};
  for (const char* c : required)
    if (t.Column(c) < 0) return ParseError(std::string("FreshQA CSV has no '") + c + "' column");
  auto col = [&](const std::vector<std::string>& row, const char* name) {
    int i = t.Column(name);
    return i < 0 ? std::string() : Trimmed(row[i]);
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
    std::string fp = col(row, "false_premise");
    std::transform(fp.begin(), fp.end(), fp.begin(), [](unsigned char c) { return std::toupper(c); });
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

Result<RunSummary> RunFreshQa(runtime::LanguageModel& model, search::SearchBackend& backend,
                              std::span<const FreshQaQuestion> questions, const RunOptions& options,
                              const std::filesystem::path& responses_path, const ProgressCallback& progress) {
  if (options.split != "TEST" && options.split != "DEV" && options.split != "all")
    return InvalidArgument("--split must be TEST, DEV or all (got '" + options.split + "')");
  std::vector<const FreshQaQuestion*> selected;
  for (const auto& q : questions)
    if (options.split == "all" || q.split == options.split) selected.push_back(&q);
  if (options.limit > 0 && static_cast<int>(selected.size()) > options.limit) selected.resize(options.limit);

  nlohmann::json meta = Meta(options);
  nlohmann::json file = {{"meta", meta}, {"responses", nlohmann::json::array()}};
  std::set<std::string> done;
  std::error_code ec;
  if (std::filesystem::exists(responses_path, ec)) {
    auto old = ReadResponsesFile(responses_path, "choose another --out");
    if (!old) return std::unexpected(old.error());
    if ((*old)["meta"] != meta)
      return InvalidArgument(responses_path.string() + " was written with other settings (" +
                             DumpJson((*old)["meta"]) + "); choose another --out or rerun with those settings to resume");
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

Result<std::string> BuildJudgePrompt(const FreshQaQuestion& q, search::Day answered_on, std::string_view response,
                                     GradeMode mode) {
  LMLAB_ASSIGN_OR_RETURN(JudgeData d, LoadJudge());
  const char* key = mode == GradeMode::kRelaxed ? "relaxed" : "strict";
  std::string out = d.common + " " + (mode == GradeMode::kRelaxed ? d.relaxed : d.strict) +
                    " End with a line 'verdict: correct' or 'verdict: incorrect'.\n\n";
  for (const auto& e : d.examples) {
    auto today = search::ParseDay(e.value("today", ""));
    if (!today) return Internal(std::string(kJudgePath) + ": bad example date");
    std::vector<std::string> answers = e.value("answers", std::vector<std::string>{});
    out += JudgeCase(e.value("question", ""), search::FormatDay(*today), answers, e.value("false_premise", false),
                     e.value("response", ""));
    out += " " + e.value("comment", "") + "\nverdict: " + e.value(key, "") + "\n\n=====\n\n";
  }
  out += JudgeCase(q.question, search::FormatDay(answered_on), q.answers, q.false_premise, response);
  return out;
}

Verdict ParseJudgeVerdict(std::string_view output) {
  std::string lower(output);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  size_t at = lower.find("verdict:");
  if (at == std::string::npos) return Verdict::kUnparsed;
  std::string_view rest = std::string_view(lower).substr(at + 8);
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '*')) rest.remove_prefix(1);
  if (rest.starts_with("incorrect")) return Verdict::kIncorrect;
  if (rest.starts_with("correct")) return Verdict::kCorrect;
  return Verdict::kUnparsed;
}

Result<GradeReport> GradeFreshQa(std::span<const FreshQaQuestion> questions, const std::filesystem::path& responses_path,
                                 runtime::LanguageModel* judge, const GradeOptions& options,
                                 const std::filesystem::path& grades_path, const ProgressCallback& progress) {
  LMLAB_ASSIGN_OR_RETURN(nlohmann::json responses, ReadResponsesFile(responses_path, "from lmlab freshqa run"));
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
  std::vector<std::string> order;
  auto row = [&](const std::string& g) -> GradeRow& {
    if (!rows.contains(g)) {
      order.push_back(g);
      rows[g].group = g;
    }
    return rows[g];
  };
  row("all");
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
        if (slot) continue;
        if (answer.empty()) {
          slot = Verdict::kIncorrect;
        } else {
          LMLAB_ASSIGN_OR_RETURN(std::string prompt, BuildJudgePrompt(*q, *answered_on, answer, mode));
          runtime::SamplingParams sp;
          sp.temperature = 0;
          sp.max_tokens = options.judge_max_tokens;
          sp.stop = {"\n=====", "\nquestion:"};
          auto c = judge->Complete(prompt, sp);
          if (!c) return std::unexpected(c.error().WithContext("the judge failed on question " + id));
          slot = ParseJudgeVerdict(c->text);
          g[mode == GradeMode::kRelaxed ? "relaxed_output" : "strict_output"] = search::ToValidUtf8(c->text);
        }
        g[mode == GradeMode::kRelaxed ? "relaxed" : "strict"] = VerdictName(*slot);
        changed = true;
      }
      if (changed) LMLAB_RETURN_IF_ERROR(WriteFileAtomic(grades_path, DumpJson(grades, 1)));
      report.unparsed_judgements += (*relaxed == Verdict::kUnparsed) + (*strict == Verdict::kUnparsed);
    }
    for (const std::string& g : {std::string("all"), "fact_type=" + q->fact_type,
                                 std::string("false_premise=") + (q->false_premise ? "true" : "false"),
                                 "num_hops=" + q->num_hops}) {
      GradeRow& r = row(g);
      Count(r.alias, alias);
      Count(r.relaxed, relaxed);
      Count(r.strict, strict);
    }
    ++report.graded;
    Report(progress, {"grading FreshQA", double(step), double(list.size()), "responses", ""});
  }
  if (!judge) LMLAB_RETURN_IF_ERROR(WriteFileAtomic(grades_path, DumpJson(grades, 1)));
  std::sort(order.begin() + 1, order.end());
  for (const auto& g : order) report.rows.push_back(rows[g]);
  return report;
}

std::string RenderGradeReport(const GradeReport& report) {
  Table t({"group", "n", "alias", "relaxed", "strict"},
          {Align::kLeft, Align::kRight, Align::kRight, Align::kRight, Align::kRight});
  auto pct = [](const Accuracy& a) { return a.n ? FormatPercent(a.accuracy(), 1) : std::string("-"); };
  for (const auto& r : report.rows) t.AddRow({r.group, std::to_string(r.alias.n), pct(r.alias), pct(r.relaxed), pct(r.strict)});
  std::string out = t.Render();
  if (!report.judged) out += "relaxed/strict need an LLM judge: pass --judge-model or --judge-endpoint\n";
  if (report.unparsed_judgements)
    out += std::to_string(report.unparsed_judgements) + " judgements had no verdict and count as incorrect\n";
  return out;
}

nlohmann::json ToJson(const GradeReport& report) {
  nlohmann::json rows = nlohmann::json::array();
  auto acc = [](const Accuracy& a) {
    return nlohmann::json{{"n", a.n}, {"correct", a.correct}, {"accuracy", a.n ? nlohmann::json(a.accuracy()) : nlohmann::json(nullptr)}};
  };
  for (const auto& r : report.rows)
    rows.push_back({{"group", r.group}, {"alias", acc(r.alias)}, {"relaxed", acc(r.relaxed)}, {"strict", acc(r.strict)}});
  return {{"graded", report.graded}, {"judged", report.judged}, {"unparsed_judgements", report.unparsed_judgements},
          {"rows", rows}};
}

}  // namespace lmlab::fresh
