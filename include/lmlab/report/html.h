// Small pieces for self-contained HTML reports: escaping, tables and inline
// SVG charts (line/scatter and grouped bars). Everything returns a string;
// nothing is fetched from the network, so a report opens offline and renders
// the same in any browser.
//
//   std::string svg = LineChartSvg({.title = "Loss", .x_label = "step", .y_label = "nats"},
//                                  {{.name = "train", .x = steps, .y = losses}});
//   std::string t = HtmlTable({"devices", "days"}, {{"1,000", "115.7"}});
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace lmlab::report {

// & < > " ' become entities; invalid UTF-8 bytes become U+FFFD so the page
// always parses.
std::string EscapeHtml(std::string_view text);

// A number for a chart label or table cell: 3 significant figures
// (core/format.h FormatSignificant); NaN and infinities as "n/a".
std::string FormatNumber(double value, int significant = 3);

// Header cells and rows of already-formatted text (escaped here).
std::string HtmlTable(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows);

struct ChartSeries {
  std::string name;
  std::vector<double> x;  // [n]
  std::vector<double> y;  // [n]; non-finite points are skipped
};

enum class ChartStyle { kLines, kPoints };  // lines with markers, or a scatter
enum class AxisScale { kLinear, kLog10 };

struct ChartOptions {
  std::string title;
  std::string x_label;
  std::string y_label;
  int width = 560;
  int height = 300;
  ChartStyle style = ChartStyle::kLines;
  AxisScale x_scale = AxisScale::kLinear;
  // Optional horizontal reference line (e.g. the paper's figure), drawn dashed.
  bool has_reference = false;
  double reference_y = 0;
  std::string reference_label;
};

// An <svg> element with axes, ticks, a legend and one colour per series.
// With no finite points it still returns a valid, labelled, empty chart.
std::string LineChartSvg(const ChartOptions& options, const std::vector<ChartSeries>& series);

struct BarGroup {
  std::string name;            // one colour per group (a legend entry)
  std::vector<double> values;  // [categories.size()]
};

// Grouped vertical bars: categories along x, one bar per group in each.
std::string BarChartSvg(const ChartOptions& options, const std::vector<std::string>& categories,
                        const std::vector<BarGroup>& groups);

}  // namespace lmlab::report
