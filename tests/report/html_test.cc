// The report writer: escaping, number labels, SVG charts and the page, with
// golden files (LMLAB_UPDATE_GOLDEN=1 rewrites them after a deliberate change).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "lmlab/core/file.h"
#include "lmlab/report/demo.h"
#include "lmlab/report/html.h"
#include "lmlab/report/report.h"
#include "tests/support/run_command.h"

namespace lmlab::report {
namespace {

namespace fs = std::filesystem;
using lmlab::testing::Golden;

fs::path TempDir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("lmlab-report-test-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

TEST(EscapeHtml, EscapesMarkupAndQuotes) {
  EXPECT_EQ(EscapeHtml("<a href=\"x\">Tom & Jerry's</a>"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;");
  EXPECT_EQ(EscapeHtml("plain"), "plain");
}

TEST(EscapeHtml, KeepsUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(EscapeHtml("Zürich → 東京"), "Zürich → 東京");
  EXPECT_EQ(EscapeHtml("a\xff" "b"), "a\xEF\xBF\xBD" "b");          // stray byte
  EXPECT_EQ(EscapeHtml("\xC3"), "\xEF\xBF\xBD");                  // truncated sequence
  EXPECT_EQ(EscapeHtml("x\x01y"), "x\xEF\xBF\xBDy");              // control character (invalid in SVG/XML)
  EXPECT_EQ(EscapeHtml("line\nnext\ttab"), "line\nnext\ttab");
}

TEST(FormatNumber, LabelsReadAsPeopleWriteThem) {
  EXPECT_EQ(FormatNumber(115.74, 4), "115.7");
  EXPECT_EQ(FormatNumber(5.26, 4), "5.26");
  EXPECT_EQ(FormatNumber(50.0), "50");
  EXPECT_EQ(FormatNumber(0.25), "0.25");
  EXPECT_EQ(FormatNumber(22000), "22,000");
  EXPECT_EQ(FormatNumber(0), "0");
  EXPECT_EQ(FormatNumber(std::nan("")), "n/a");
  EXPECT_EQ(FormatNumber(std::numeric_limits<double>::infinity()), "n/a");
}

TEST(HtmlTable, EscapesCellsAndPadsShortRows) {
  std::string t = HtmlTable({"a", "b<"}, {{"1 & 2"}, {"x", "y", "dropped"}, {"2.33 GWh", "-0.023"}, {"$6.94e6", "43%"}});
  EXPECT_EQ(Golden("report/golden/table.html", t), t);
  EXPECT_NE(t.find("<td>1 &amp; 2</td><td></td>"), std::string::npos);
  // Numbers (with at most a short unit) are right-aligned; text is not.
  EXPECT_NE(t.find("<td class=\"num\">2.33 GWh</td><td class=\"num\">-0.023</td>"), std::string::npos);
  EXPECT_NE(t.find("<td class=\"num\">$6.94e6</td><td class=\"num\">43%</td>"), std::string::npos);
  EXPECT_EQ(t.find("dropped"), std::string::npos);
}

TEST(Charts, LineChartMatchesGolden) {
  ChartOptions o{.title = "Loss & <accuracy>", .x_label = "step", .y_label = "nats"};
  o.has_reference = true;
  o.reference_y = 0.5;
  o.reference_label = "paper";
  std::string svg = LineChartSvg(o, {{"train", {1, 2, 3, 4}, {2.0, 1.5, 1.2, 1.0}},
                                     {"val", {1, 4}, {2.1, std::nan("")}}});
  EXPECT_EQ(Golden("report/golden/line_chart.svg", svg), svg);
  EXPECT_NE(svg.find("Loss &amp; &lt;accuracy&gt;"), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos);  // the NaN point is skipped, not drawn
}

TEST(Charts, LogScaleAndBars) {
  std::string line = LineChartSvg({.title = "days", .x_scale = AxisScale::kLog10}, {{"", {1000, 22000}, {115.7, 5.26}}});
  EXPECT_EQ(Golden("report/golden/log_chart.svg", line), line);
  EXPECT_NE(line.find(">1,000<"), std::string::npos);
  EXPECT_NE(line.find(">10,000<"), std::string::npos);
  std::string bars = BarChartSvg({.title = "Training days", .y_label = "days"}, {"1,000", "22,000"},
                                 {{"quoted", {115.7, 5.26}}, {"ours", {115.74, 5.261}}});
  EXPECT_EQ(Golden("report/golden/bar_chart.svg", bars), bars);
  EXPECT_NE(bars.find(">115.7<"), std::string::npos);
  EXPECT_NE(bars.find(">5.26<"), std::string::npos);
}

TEST(Charts, EmptyDataStillGivesALabelledChart) {
  std::string svg = LineChartSvg({.title = "nothing"}, {{"s", {}, {}}});
  EXPECT_NE(svg.find("no data"), std::string::npos);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(BarChartSvg({.title = "none"}, {}, {}).find("no data"), std::string::npos);
}

Section SampleSection() {
  Section s;
  s.id = "plan";
  s.title = "Compute plan";
  s.citation = "Kaplan et al. 2020";
  s.measured = "Solved <1e24> FLOP.";
  s.comparisons = {{"days on 1,000 devices", "115.7", "115.7", ""}};
  s.headline = {"device-seconds: 1.00e10"};
  s.table_html = HtmlTable({"devices", "days"}, {{"1,000", "115.7"}});
  s.figures = {{"bars", BarChartSvg({.title = "t"}, {"a"}, {{"g", {1}}})}};
  s.rerun = {"lmlab plan --flops 1e24"};
  s.seconds = 0.25;
  s.data = {{"days", {115.74, 5.26}}};
  return s;
}

TEST(Report, PageMatchesGoldenAndShowsFailuresPlainly) {
  Report r;
  r.generated_at = "2026-11-27T00:00:00Z";
  r.mode = "quick";
  r.host = "2 CPU cores";
  r.seconds = 1.5;
  r.sections.push_back(SampleSection());
  Section failed;
  failed.id = "probe";
  failed.title = "Probes";
  failed.status = SectionStatus::kFailed;
  failed.error = "not found: <script>alert(1)</script> missing";
  r.sections.push_back(failed);
  std::string html = RenderHtml(r);
  EXPECT_EQ(Golden("report/golden/report.html", html), html);
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_NE(html.find("This step failed in this run:"), std::string::npos);
  EXPECT_NE(html.find("data-status=\"failed\""), std::string::npos);
}

TEST(Report, SectionsRoundTripThroughJson) {
  Section s = SampleSection();
  auto back = SectionFromJson(ToJson(s));
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(ToJson(*back), ToJson(s));
  auto bad = SectionFromJson({{"id", "x"}, {"title", "t"}, {"status", "weird"}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kParse);
}

TEST(Report, WritesPageAndNumbers) {
  fs::path dir = TempDir("write") / "out";
  Report r;
  r.sections.push_back(SampleSection());
  ASSERT_TRUE(WriteReport(r, dir));
  auto html = ReadFile(dir / "index.html");
  auto json = ReadFile(dir / "report.json");
  ASSERT_TRUE(html && json);
  auto j = nlohmann::json::parse(*json);
  EXPECT_DOUBLE_EQ(j["sections"][0]["data"]["days"][0].get<double>(), 115.74);
  EXPECT_FALSE(j["sections"][0]["figures"][0].contains("svg"));  // markup stays in the page
  EXPECT_NE(html->find("<svg"), std::string::npos);
  fs::remove_all(dir.parent_path());
}

TEST(Demo, PlanStepRunsThenResumesFromItsCache) {
  fs::path dir = TempDir("resume");
  DemoOptions o{.out_dir = dir, .mode = DemoMode::kQuick};
  o.only = {"plan"};
  auto first = RunDemo(o);
  ASSERT_TRUE(first) << first.error().ToString();
  EXPECT_EQ(first->ran, 1);
  ASSERT_EQ(first->report.sections.size(), 1u);
  const Section& plan = first->report.sections[0];
  EXPECT_EQ(plan.status, SectionStatus::kOk) << plan.error;
  EXPECT_NEAR(plan.data["reference"]["scenarios"][0]["days"].get<double>(), 115.74, 0.01);
  EXPECT_TRUE(fs::exists(dir / "steps" / "plan.json"));
  auto second = RunDemo(o);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->ran, 0);
  EXPECT_EQ(second->cached, 1);
  // Another mode does not reuse the quick result.
  o.mode = DemoMode::kFull;
  auto full = RunDemo(o);
  ASSERT_TRUE(full);
  EXPECT_EQ(full->ran, 1);
  o.only = {"nonsense"};
  auto bad = RunDemo(o);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  fs::remove_all(dir);
}

// A step that measured nothing is a warning with its cause, not "ok" (issue 13).
TEST(Report, DegenerateMeasurementsAreWarningsWithTheirCause) {
  Section s = SampleSection();
  AddWarning(s, "every instance errored: ModuleNotFoundError: No module named 'numpy'");
  EXPECT_EQ(s.status, SectionStatus::kWarning);
  EXPECT_EQ(SectionStatusName(s.status), "warning");
  Section failed;
  failed.status = SectionStatus::kFailed;
  AddWarning(failed, "x");
  EXPECT_EQ(failed.status, SectionStatus::kFailed) << "a warning never hides a failure";
  auto back = SectionFromJson(ToJson(s));
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(back->status, SectionStatus::kWarning);
  EXPECT_EQ(back->warnings, s.warnings);
  Report r;
  r.sections.push_back(s);
  std::string html = RenderHtml(r);
  EXPECT_NE(html.find("data-status=\"warning\""), std::string::npos);
  EXPECT_NE(html.find("No module named &#39;numpy&#39;"), std::string::npos) << html;
  EXPECT_NE(html.find("measured something degenerate"), std::string::npos);
}

// lmlab demo runs lmlab doctor first and does not run a step whose checks
// fail: the section says which check failed and how to fix it.
TEST(Demo, AStepWhoseChecksFailIsRefusedWithTheFix) {
  fs::path dir = TempDir("refused");
  DemoOptions o{.out_dir = dir, .mode = DemoMode::kQuick};
  o.only = {"plan", "improve"};
  o.checks.sandbox.bwrap = "/nonexistent/lmlab/bwrap";
  auto r = RunDemo(o);
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->report.sections.size(), 2u);
  EXPECT_EQ(r->report.sections[0].status, SectionStatus::kOk);  // plan needs nothing
  const Section& improve = r->report.sections[1];
  EXPECT_EQ(improve.status, SectionStatus::kUnavailable);
  EXPECT_NE(improve.error.find("lmlab doctor"), std::string::npos) << improve.error;
  EXPECT_NE(improve.error.find("bubblewrap"), std::string::npos) << improve.error;
  EXPECT_NE(improve.error.find("apt-get install bubblewrap"), std::string::npos) << improve.error;
  EXPECT_EQ(r->failed, 1);
  EXPECT_FALSE(r->checks.ok());
  auto json = ReadFile(dir / "report.json");
  ASSERT_TRUE(json);
  EXPECT_EQ(nlohmann::json::parse(*json)["doctor"]["ok"], false);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace lmlab::report
