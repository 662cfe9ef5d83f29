// Inline SVG charts shared by every module that draws one (the report, probe
// and OOD plots): line/scatter charts, grouped bars and a grid of small line
// charts with one legend. Plain structs in, one self-contained <svg> string
// out (white background, sans-serif text, nothing fetched), so a chart opens
// offline, embeds in a page and diffs in review. Never fails: a chart with no
// finite data is still a valid, labelled SVG that says "no data".
//
//   std::string svg = chart::LineChartSvg({.title = "Loss", .x_label = "step", .y_label = "nats"},
//                                         {{.name = "train", .x = steps, .y = losses}});
//   std::string bars = chart::BarChartSvg({.title = "Days", .y_label = "days"}, {"1,000", "22,000"},
//                                         {{"quoted", {115.7, 5.26}}, {"ours", {115.74, 5.26}}});
#pragma once

#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace lmlab::chart {

// Text for HTML or SVG: & < > " ' become entities; invalid UTF-8 bytes and
// control characters (other than tab and newlines) become U+FFFD, so the
// markup always parses.
std::string EscapeHtml(std::string_view text);

// A number for a tick, bar label or table cell: `significant` figures
// (core/format.h FormatSignificant) without trailing zeros ("50", "0.25");
// whole numbers in [1e3, 1e6) with separators ("22,000"); NaN and
// infinities as "n/a".
std::string FormatNumber(double value, int significant = 3);

// One line or set of points. Points where x or y is not finite (or x <= 0 on a
// log axis) are skipped.
struct Series {
  std::string name;                 // legend entry
  std::vector<double> x;            // [n]
  std::vector<double> y;            // [n]
  std::string colour;               // CSS colour; empty: the palette colour for this series' position
  std::string dash;                 // SVG stroke-dasharray ("5,4"); empty: solid. Shown in the legend too
  std::vector<std::string> titles;  // [n] hover text per point, or empty
  double marker_radius = 0;         // 0: the style's default (3 for lines, 2.5 for points)
  // Optional band [n] each (e.g. mean - std and mean + std over seeds): a
  // translucent area in the series' colour under its line; points where either
  // bound is not finite are left out of the band.
  std::vector<double> y_low, y_high;
};

enum class ChartStyle { kLines, kPoints };  // lines with markers (markers up to 40 points), or a scatter
enum class AxisScale { kLinear, kLog10 };

// Everything about a chart but its data. Sizes are in pixels of the whole
// image; the plot sits inside fixed margins, below the title and legend.
struct ChartOptions {
  std::string title;
  std::string x_label;
  std::string y_label;
  int width = 560;
  int height = 300;
  ChartStyle style = ChartStyle::kLines;
  AxisScale x_scale = AxisScale::kLinear;  // kLog10: ticks at whole decades
  // Optional horizontal reference line (e.g. the paper's figure), drawn dashed
  // and always inside the y range.
  bool has_reference = false;
  double reference_y = 0;
  std::string reference_label;
  // Axis ranges; NaN: fitted to the data (padded by 5%; whole decades on a log
  // axis; bars start at 0).
  double x_min = std::numeric_limits<double>::quiet_NaN();
  double x_max = std::numeric_limits<double>::quiet_NaN();
  double y_min = std::numeric_limits<double>::quiet_NaN();
  double y_max = std::numeric_limits<double>::quiet_NaN();
  // Tick positions; empty: steps of 1, 2 or 5 x 10^k over the range.
  std::vector<double> x_ticks;
  std::vector<double> y_ticks;
  bool identity_line = false;  // a dashed y = x diagonal (predicted against true)
  // > 0: the plot area's width / height; the image height then follows from
  // `width` (1 for predicted-vs-true, 2 for an equirectangular map).
  double aspect = 0;
  // The legend (one entry per series or bar group, in rows under the title) is
  // drawn when there is more than one series or the only one is named.
  bool legend = true;
};

// An <svg> element with a frame, y grid, x and y ticks, axis labels, the
// legend and one colour per series (Okabe & Ito's colour-blind-safe palette
// unless a series names its own).
std::string LineChartSvg(const ChartOptions& options, const std::vector<Series>& series);

struct BarGroup {
  std::string name;            // one colour per group (a legend entry)
  std::vector<double> values;  // [categories.size()]; non-finite values draw no bar
};

// Grouped vertical bars: categories along x, one labelled bar per group in
// each. Uses the y options of `options` (x ones do not apply).
std::string BarChartSvg(const ChartOptions& options, const std::vector<std::string>& categories,
                        const std::vector<BarGroup>& groups);

// One cell of a small-multiples grid: a line chart without its own legend.
struct Panel {
  ChartOptions options;  // title, axis labels, size (every panel the same size), ranges
  std::vector<Series> series;
};

// Line charts side by side, `columns` per row, under one title and one legend.
// A series name gets the same colour in every panel (unless it sets its own);
// `note` is one line under the grid (e.g. what the shared y axis measures).
std::string SmallMultiplesSvg(const std::string& title, const std::string& note, const std::vector<Panel>& panels,
                              int columns = 3);

}  // namespace lmlab::chart
