#include "lmlab/fresh/recency.h"

#include <chrono>
#include <map>

#include "lmlab/core/format.h"
#include "lmlab/core/table.h"
#include "lmlab/fresh/reader.h"
#include "lmlab/search/local_index.h"

namespace lmlab::fresh {

std::vector<RecencyQuestion> RecencyQuestions(std::span<const search::Document> docs, int min_entries) {
  // Title "pkg version (dist)" (search::ParseDebianChangelog).
  std::map<std::string, RecencyQuestion> by_package;
  for (const auto& d : docs) {
    if (!d.date) continue;
    size_t sp = d.title.find(' ');
    if (sp == std::string::npos) continue;
    std::string package = d.title.substr(0, sp);
    std::string version = d.title.substr(sp + 1, d.title.find(' ', sp + 1) - sp - 1);
    RecencyQuestion& q = by_package[package];
    ++q.entries;
    if (q.newest_url.empty() || *d.date > q.newest_date) {
      q.package = package;
      q.newest_url = d.url;
      q.newest_version = version;
      q.newest_date = *d.date;
    }
  }
  std::vector<RecencyQuestion> out;
  for (auto& [package, q] : by_package) {
    if (q.entries < min_entries) continue;
    q.question = "What is the latest version of " + package + " and when was it released?";
    out.push_back(std::move(q));
  }
  return out;
}

Result<RecencyReport> RunRecencyBenchmark(search::SearchBackend& backend, std::span<const RecencyQuestion> questions,
                                          const RecencyOptions& options, const ProgressCallback& progress) {
  if (options.k < 1 || options.num_results < 1) return InvalidArgument("`k` and `num_results` must be at least 1");
  if (questions.empty()) return InvalidArgument("no recency questions (no package has enough dated changelog entries)");
  auto start = std::chrono::steady_clock::now();
  RecencyReport report;
  report.k = options.k;
  report.num_results = options.num_results;
  for (EvidenceOrder o : options.orders) report.rows.push_back({.order = o});
  std::vector<double> distance_sum(options.orders.size(), 0);
  for (size_t qi = 0; qi < questions.size(); ++qi) {
    const RecencyQuestion& q = questions[qi];
    LMLAB_ASSIGN_OR_RETURN(search::SearchResults r,
                           backend.Search(q.question, {.max_results = options.num_results, .max_recent = options.num_recent}));
    bool retrieved = false;
    for (const auto& e : r.evidences) retrieved = retrieved || e.url == q.newest_url;
    for (size_t oi = 0; oi < options.orders.size(); ++oi) {
      RecencyRow& row = report.rows[oi];
      ++row.questions;
      row.retrieved += retrieved;
      auto window = OrderEvidence(r.evidences, options.orders[oi], options.k, options.seed + qi);
      for (size_t i = 0; i < window.size(); ++i) {
        if (window[i].url != q.newest_url) continue;
        int distance = static_cast<int>(window.size() - i);  // 1 = last, next to the question
        ++row.in_window;
        row.adjacent += distance == 1;
        distance_sum[oi] += distance;
      }
    }
    Report(progress, {"recency benchmark", double(qi + 1), double(questions.size()), "questions", ""});
  }
  for (size_t oi = 0; oi < report.rows.size(); ++oi)
    if (report.rows[oi].in_window) report.rows[oi].mean_distance = distance_sum[oi] / report.rows[oi].in_window;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

std::string RenderRecencyReport(const RecencyReport& r) {
  Table t({"order", "questions", "newest retrieved", "newest in window", "next to question", "mean distance"},
          {Align::kLeft, Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight});
  for (const auto& row : r.rows) {
    auto pct = [&](int n) { return row.questions ? FormatPercent(double(n) / row.questions, 1) : std::string("-"); };
    t.AddRow({std::string(EvidenceOrderName(row.order)), std::to_string(row.questions), pct(row.retrieved),
              pct(row.in_window), pct(row.adjacent), row.in_window ? FormatFixed(row.mean_distance, 2) : "-"});
  }
  return "Window: k = " + std::to_string(r.k) + " of " + std::to_string(r.num_results) +
         " retrieved; distance 1 = the evidence next to the question.\n" + t.Render();
}

nlohmann::json ToJson(const RecencyReport& r) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& row : r.rows)
    rows.push_back({{"order", EvidenceOrderName(row.order)},
                    {"questions", row.questions},
                    {"newest_retrieved", row.retrieved},
                    {"newest_in_window", row.in_window},
                    {"newest_next_to_question", row.adjacent},
                    {"mean_distance", row.in_window ? nlohmann::json(row.mean_distance) : nlohmann::json(nullptr)}});
  return {{"k", r.k}, {"num_results", r.num_results}, {"seconds", r.seconds}, {"rows", rows}};
}

Result<RecencyStudy> RunRecencyStudy(const RecencyStudyOptions& o, const ProgressCallback& progress) {
  if (o.changelogs < 1) return InvalidArgument("the study needs at least one changelog");
  if (o.index.empty()) return InvalidArgument("the study needs a path for its changelog index");
  LMLAB_ASSIGN_OR_RETURN(DatedSources src,
                         ReadDatedSources({.doc_root = o.doc_root, .distro_info = "", .max_changelogs = o.changelogs},
                                          progress));
  RecencyStudy study;
  study.changelogs = src.changelogs;
  study.unreadable = src.unreadable;
  std::error_code ec;
  std::filesystem::remove(o.index, ec);  // rebuilt from scratch: the numbers describe this index only
  for (const char* suffix : {"-wal", "-shm"}) std::filesystem::remove(o.index.string() + suffix, ec);
  {
    LMLAB_ASSIGN_OR_RETURN(auto index, search::LocalIndex::Open(o.index, search::OpenMode::kCreate));
    LMLAB_RETURN_IF_ERROR(index->Add(src.documents, progress));
    LMLAB_ASSIGN_OR_RETURN(search::IndexStats stats, index->Stats());
    study.documents = stats.documents;
    study.dated = stats.dated;
    study.questions = RecencyQuestions(src.documents);
    if (o.max_questions > 0 && static_cast<int>(study.questions.size()) > o.max_questions)
      study.questions.resize(o.max_questions);
    LMLAB_ASSIGN_OR_RETURN(study.report, RunRecencyBenchmark(*index, study.questions, o.benchmark, progress));
  }
  return study;
}

nlohmann::json ToJson(const RecencyStudy& s) {
  nlohmann::json j = ToJson(s.report);
  j["packages"] = s.questions.size();
  j["changelogs"] = s.changelogs;
  j["unreadable"] = s.unreadable;
  j["documents"] = s.documents;
  j["dated"] = s.dated;
  return j;
}

}  // namespace lmlab::fresh
