// The demo report: one section per system of the toolkit, written as one
// self-contained index.html (inline CSS and SVG) plus report.json holding
// every number. Sections are plain data, so a step's section can be cached
// as JSON and the page re-rendered from the cache on a resumed run.
//
//   Report r{.title = "lmlab demo"};
//   r.sections.push_back(section);
//   LMLAB_RETURN_IF_ERROR(WriteReport(r, "lmlab-report"));  // index.html, report.json
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lmlab/core/error.h"

namespace lmlab::report {

enum class SectionStatus {
  kOk,           // the step ran in this run (or a resumed earlier run of the same mode)
  kWarning,      // the step ran, but a measurement degenerated (measured nothing): `warnings` say what and why
  kFailed,       // the step ran and returned an error: `error` says which
  kUnavailable,  // this build or machine cannot run it (or lmlab doctor refused it): `error` says why
};
std::string_view SectionStatusName(SectionStatus s);  // "ok", "warning", "failed", "unavailable"

struct Figure {
  std::string caption;
  std::string svg;  // a complete <svg> element
};

struct Comparison {
  std::string quantity;  // "days on 1,000 devices"
  std::string paper;     // the paper's figure, as published ("115.7")
  std::string ours;      // computed in this run
  std::string note;      // why they differ, when they do
};

struct Section {
  std::string id;          // "plan", "train", ... (HTML anchor and cache file name)
  std::string title;       // "Compute plan"
  std::string citation;    // the paper, with its arXiv id
  SectionStatus status = SectionStatus::kOk;
  std::string error;       // for kFailed / kUnavailable
  // Each degenerate measurement and its cause: "every instance errored:
  // ModuleNotFoundError: No module named 'numpy'". Non-empty means kWarning.
  std::vector<std::string> warnings;
  std::string measured;    // one paragraph of plain text: what was measured, how
  std::vector<Comparison> comparisons;
  std::vector<std::string> headline;  // "label: value" facts, plain text
  std::string table_html;  // an HTML table (report/html.h HtmlTable) or ""
  std::vector<Figure> figures;
  std::vector<std::string> rerun;  // shell commands to redo this with a real model
  std::string label;       // e.g. "REPLAY of recorded completions" (shown prominently)
  double seconds = 0;      // wall time of the step
  nlohmann::json data;     // every number, for report.json
};

struct Report {
  std::string title = "lmlab demo report";
  std::string generated_at;  // ISO 8601 UTC
  std::string mode;          // "quick" or "full"
  std::string host;          // "2 cores, ..."
  double seconds = 0;        // total wall time of this invocation
  nlohmann::json checks;     // lmlab doctor's results before the steps ran (doctor::ToJson), or null
  std::vector<Section> sections;
};

// Records a degenerate measurement: appends `warning` and turns an ok
// section into a warning (a failed or unavailable one stays as it is).
void AddWarning(Section& s, std::string warning);

nlohmann::json ToJson(const Section& s);
Result<Section> SectionFromJson(const nlohmann::json& j);
nlohmann::json ToJson(const Report& r);

// The page: a contents list with each section's status, then the sections.
std::string RenderHtml(const Report& r);

// Writes <dir>/index.html and <dir>/report.json atomically (creates `dir`).
Status WriteReport(const Report& r, const std::filesystem::path& dir);

}  // namespace lmlab::report
