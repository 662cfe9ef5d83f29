#include "lmlab/report/report.h"

#include <fmt/format.h>

#include "lmlab/core/file.h"
#include "lmlab/core/format.h"
#include "lmlab/core/json.h"
#include "lmlab/report/html.h"

namespace lmlab::report {
namespace {

constexpr const char* kCss = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d1d1f;background:#f6f6f4;line-height:1.45}
header{background:#17324d;color:#fff;padding:20px 32px}
header h1{margin:0 0 6px 0;font-size:26px}
header p{margin:2px 0;color:#d6e2ee;font-size:14px}
main{max-width:1180px;margin:0 auto;padding:16px 24px 48px}
nav ol{columns:2;background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px 12px 12px 36px}
nav li{margin:3px 0}
section{background:#fff;border:1px solid #ddd;border-radius:6px;margin:18px 0;padding:14px 22px}
section h2{margin:4px 0 2px 0;font-size:21px}
.cite{color:#555;font-size:13px;margin:0 0 8px 0}
.status{display:inline-block;font-size:12px;font-weight:bold;padding:1px 8px;border-radius:10px;margin-left:8px;vertical-align:middle}
.status.ok{background:#dff3e4;color:#17632a}
.status.warning{background:#ffe4c4;color:#8a4b00}
.warning{background:#fff4e5;border:1px solid #f0b46a;padding:8px 10px;border-radius:4px}
.status.failed{background:#fde2e1;color:#9b1c1c}
.status.unavailable{background:#fff1c9;color:#7a5b00}
.label{background:#fff1c9;border:1px solid #e3c45a;padding:6px 10px;border-radius:4px;font-weight:bold;margin:8px 0}
.error{background:#fde2e1;border:1px solid #e8a1a0;padding:8px 10px;border-radius:4px;white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:13px}
ul.facts{padding-left:20px;margin:6px 0}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{border:1px solid #d4d4d4;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eef2f6}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.figures{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0}
figure{margin:0;border:1px solid #e4e4e4;border-radius:4px;padding:4px;background:#fff;max-width:100%;overflow:auto}
figcaption{font-size:12px;color:#444;max-width:560px;padding:2px 4px}
pre{background:#f1f3f5;padding:8px 10px;border-radius:4px;overflow-x:auto;font-size:12.5px}
.meta{color:#666;font-size:12px}
)";

std::string StatusBadge(SectionStatus s) {
  return fmt::format("<span class=\"status {0}\">{0}</span>", SectionStatusName(s));
}

std::string RenderSection(const Section& s) {
  std::string h = fmt::format("<section id=\"{}\" data-status=\"{}\">\n<h2>{}{}</h2>\n", EscapeHtml(s.id),
                              SectionStatusName(s.status), EscapeHtml(s.title), StatusBadge(s.status));
  if (!s.citation.empty()) h += "<p class=\"cite\">" + EscapeHtml(s.citation) + "</p>\n";
  if (!s.label.empty()) h += "<div class=\"label\">" + EscapeHtml(s.label) + "</div>\n";
  if (!s.warnings.empty()) {
    h += "<div class=\"warning\"><strong>This step measured something degenerate; read its numbers with care:</strong>\n"
         "<ul>\n";
    for (const auto& w : s.warnings) h += "<li>" + EscapeHtml(w) + "</li>\n";
    h += "</ul></div>\n";
  }
  if (s.status == SectionStatus::kFailed || s.status == SectionStatus::kUnavailable) {
    h += fmt::format("<p><strong>{}</strong></p>\n<div class=\"error\">{}</div>\n",
                     s.status == SectionStatus::kFailed ? "This step failed in this run:"
                                                        : "Not available in this build or on this machine:",
                     EscapeHtml(s.error));
  }
  if (!s.measured.empty()) h += "<p>" + EscapeHtml(s.measured) + "</p>\n";
  if (!s.headline.empty()) {
    h += "<ul class=\"facts\">\n";
    for (const auto& f : s.headline) h += "<li>" + EscapeHtml(f) + "</li>\n";
    h += "</ul>\n";
  }
  if (!s.comparisons.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& c : s.comparisons) rows.push_back({c.quantity, c.paper, c.ours, c.note});
    h += "<h3>The paper beside this run</h3>\n" + HtmlTable({"quantity", "paper", "this run", "note"}, rows);
  }
  if (!s.table_html.empty()) h += s.table_html;
  if (!s.figures.empty()) {
    h += "<div class=\"figures\">\n";
    for (const auto& f : s.figures)
      h += "<figure>\n" + f.svg + "<figcaption>" + EscapeHtml(f.caption) + "</figcaption>\n</figure>\n";
    h += "</div>\n";
  }
  if (!s.rerun.empty()) {
    h += "<h3>Rerun with a real model</h3>\n<pre>";
    for (const auto& c : s.rerun) h += EscapeHtml(c) + "\n";
    h += "</pre>\n";
  }
  h += fmt::format("<p class=\"meta\">step time: {} s</p>\n</section>\n", FormatFixed(s.seconds, 1));
  return h;
}

}  // namespace

std::string_view SectionStatusName(SectionStatus s) {
  switch (s) {
    case SectionStatus::kOk: return "ok";
    case SectionStatus::kWarning: return "warning";
    case SectionStatus::kFailed: return "failed";
    case SectionStatus::kUnavailable: return "unavailable";
  }
  return "failed";
}

nlohmann::json ToJson(const Section& s) {
  nlohmann::json j;
  j["id"] = s.id;
  j["title"] = s.title;
  j["citation"] = s.citation;
  j["status"] = SectionStatusName(s.status);
  j["error"] = s.error;
  j["warnings"] = s.warnings;
  j["measured"] = s.measured;
  j["comparisons"] = nlohmann::json::array();
  for (const auto& c : s.comparisons)
    j["comparisons"].push_back({{"quantity", c.quantity}, {"paper", c.paper}, {"ours", c.ours}, {"note", c.note}});
  j["headline"] = s.headline;
  j["table_html"] = s.table_html;
  j["figures"] = nlohmann::json::array();
  for (const auto& f : s.figures) j["figures"].push_back({{"caption", f.caption}, {"svg", f.svg}});
  j["rerun"] = s.rerun;
  j["label"] = s.label;
  j["seconds"] = s.seconds;
  j["data"] = s.data;
  return j;
}

Result<Section> SectionFromJson(const nlohmann::json& j) {
  try {
    Section s;
    s.id = j.at("id").get<std::string>();
    s.title = j.at("title").get<std::string>();
    s.citation = j.value("citation", "");
    std::string status = j.at("status").get<std::string>();
    if (status == "ok") s.status = SectionStatus::kOk;
    else if (status == "warning") s.status = SectionStatus::kWarning;
    else if (status == "failed") s.status = SectionStatus::kFailed;
    else if (status == "unavailable") s.status = SectionStatus::kUnavailable;
    else return ParseError("unknown section status '" + status + "'");
    s.error = j.value("error", "");
    s.warnings = j.value("warnings", std::vector<std::string>{});
    s.measured = j.value("measured", "");
    for (const auto& c : j.at("comparisons"))
      s.comparisons.push_back({c.at("quantity").get<std::string>(), c.at("paper").get<std::string>(),
                               c.at("ours").get<std::string>(), c.value("note", "")});
    s.headline = j.at("headline").get<std::vector<std::string>>();
    s.table_html = j.value("table_html", "");
    for (const auto& f : j.at("figures"))
      s.figures.push_back({f.at("caption").get<std::string>(), f.at("svg").get<std::string>()});
    s.rerun = j.at("rerun").get<std::vector<std::string>>();
    s.label = j.value("label", "");
    s.seconds = j.value("seconds", 0.0);
    s.data = j.value("data", nlohmann::json::object());
    return s;
  } catch (const nlohmann::json::exception& e) {
    return ParseError(std::string("malformed cached section: ") + e.what());
  }
}

nlohmann::json ToJson(const Report& r) {
  nlohmann::json j;
  j["title"] = r.title;
  j["generated_at"] = r.generated_at;
  j["mode"] = r.mode;
  j["host"] = r.host;
  j["seconds"] = r.seconds;
  if (!r.checks.is_null()) j["doctor"] = r.checks;
  j["sections"] = nlohmann::json::array();
  for (const auto& s : r.sections) {
    nlohmann::json sj = ToJson(s);
    // report.json is for numbers: the SVG markup is in index.html already.
    for (auto& f : sj["figures"]) f.erase("svg");
    sj.erase("table_html");
    j["sections"].push_back(std::move(sj));
  }
  return j;
}

std::string RenderHtml(const Report& r) {
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>" +
                  EscapeHtml(r.title) + "</title>\n<style>" + kCss + "</style>\n</head>\n<body>\n<header>\n<h1>" +
                  EscapeHtml(r.title) + "</h1>\n";
  h += fmt::format("<p>Generated {} &middot; mode: {} &middot; {} &middot; {} s of work in this invocation</p>\n",
                   EscapeHtml(r.generated_at), EscapeHtml(r.mode), EscapeHtml(r.host), FormatFixed(r.seconds, 1));
  if (r.checks.is_object() && r.checks.contains("checks") && r.checks["checks"].is_array()) {
    int ok = 0, failed = 0;
    std::string failures;
    for (const auto& c : r.checks["checks"]) {
      if (!c.is_object()) continue;
      const std::string status = c.value("status", "");
      ok += status == "ok";
      if (status == "fail") {
        ++failed;
        failures += (failures.empty() ? "" : "; ") + c.value("id", "") + ": " + c.value("detail", "");
      }
    }
    h += fmt::format("<p>lmlab doctor before the steps: {} checks ok, {} failed{}</p>\n", ok, failed,
                     failed ? " (" + EscapeHtml(failures) + ")" : "");
  }
  h += "<p>Every number on this page was computed by lmlab on this machine; figures from the papers are marked "
       "as such. report.json beside this file holds the numbers.</p>\n</header>\n<main>\n<nav><ol>\n";
  for (const auto& s : r.sections)
    h += fmt::format("<li><a href=\"#{}\">{}</a>{}</li>\n", EscapeHtml(s.id), EscapeHtml(s.title),
                     StatusBadge(s.status));
  h += "</ol></nav>\n";
  for (const auto& s : r.sections) h += RenderSection(s);
  return h + "</main>\n</body>\n</html>\n";
}

void AddWarning(Section& s, std::string warning) {
  s.warnings.push_back(std::move(warning));
  if (s.status == SectionStatus::kOk) s.status = SectionStatus::kWarning;
}

Status WriteReport(const Report& r, const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return IoError("cannot create " + dir.string() + ": " + ec.message());
  LMLAB_RETURN_IF_ERROR(WriteFileAtomic(dir / "report.json", DumpJson(ToJson(r), 2) + "\n"));
  return WriteFileAtomic(dir / "index.html", RenderHtml(r));
}

}  // namespace lmlab::report
