// The shared SVG chart helper: escaping, labels, ranges, ticks, legends and the
// small-multiples grid. (The report's golden charts pin the exact markup.)
#include "lmlab/core/svg_chart.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tests/support/text.h"

namespace lmlab::chart {
namespace {

using testing::Count;

TEST(SvgChart, EscapesTextAndFormatsLabels) {
  EXPECT_EQ(EscapeHtml("<a href=\"x\">Tom & Jerry's</a>"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;");
  EXPECT_EQ(EscapeHtml("Zürich \xff"), "Zürich \xEF\xBF\xBD");
  // Not UTF-8 either: a UTF-16 surrogate, an overlong form, past U+10FFFF.
  EXPECT_EQ(EscapeHtml("a\xED\xA0\x80" "b"), "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "b");
  EXPECT_EQ(EscapeHtml("\xE0\x80\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(EscapeHtml("\xF4\x90\x80\x80").find("\xF4"), std::string::npos);
  EXPECT_EQ(EscapeHtml("\xF0\x9F\x98\x80"), "\xF0\x9F\x98\x80");  // an emoji stays
  EXPECT_EQ(FormatNumber(0.250), "0.25");
  EXPECT_EQ(FormatNumber(22000), "22,000");
  EXPECT_EQ(FormatNumber(std::nan("")), "n/a");
}

TEST(SvgChart, LineChartHasFrameTicksLabelsAndLegend) {
  std::string svg = LineChartSvg({.title = "Loss & co", .x_label = "step", .y_label = "nats"},
                                 {{.name = "train", .x = {0, 10, 20}, .y = {2, 1.5, 1}},
                                  {.name = "val", .x = {0, 20}, .y = {2.1, std::nan("")}, .dash = "4,2"}});
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_NE(svg.find("font-family=\"sans-serif\""), std::string::npos);  // standalone files need it
  EXPECT_NE(svg.find(">Loss &amp; co</text>"), std::string::npos);
  EXPECT_NE(svg.find(">step</text>"), std::string::npos);
  EXPECT_NE(svg.find(">nats</text>"), std::string::npos);
  EXPECT_NE(svg.find(">10</text>"), std::string::npos);  // a nice x tick
  EXPECT_NE(svg.find(">train</text>"), std::string::npos);
  EXPECT_NE(svg.find(">val</text>"), std::string::npos);
  EXPECT_EQ(Count(svg, "<polyline"), 2u);
  EXPECT_EQ(Count(svg, "<circle"), 4u);  // the NaN point is skipped
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  // Palette colours by position; the dashed series has a dashed line in the legend too.
  EXPECT_NE(svg.find("stroke=\"#0072B2\""), std::string::npos);
  EXPECT_EQ(Count(svg, "stroke-dasharray=\"4,2\""), 2u);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
}

// Values so large that a tick step is below one ulp must not loop forever,
// and a caller's colour is escaped like any attribute text.
TEST(SvgChart, HugeValuesAndOddColours) {
  std::string svg = LineChartSvg({}, {{.name = "a", .x = {0, 1}, .y = {1e16, 1e16 + 4}, .colour = "red\"/><x"}});
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
  EXPECT_LT(Count(svg, "<text"), 60u);
  EXPECT_EQ(svg.find("\"/><x"), std::string::npos);
}

TEST(SvgChart, OneUnnamedSeriesHasNoLegend) {
  std::string svg = LineChartSvg({.title = "t"}, {{.name = "", .x = {1, 2}, .y = {1, 2}}});
  EXPECT_EQ(Count(svg, "width=\"10\" height=\"10\""), 0u);
  std::string off = LineChartSvg({.title = "t", .legend = false},
                                 {{.name = "a", .x = {1}, .y = {1}}, {.name = "b", .x = {2}, .y = {2}}});
  EXPECT_EQ(off.find(">a</text>"), std::string::npos);
}

TEST(SvgChart, FixedRangesTicksAspectAndPoints) {
  ChartOptions o{.title = "map", .width = 460, .style = ChartStyle::kPoints};
  o.x_min = -180, o.x_max = 180, o.y_min = -90, o.y_max = 90;
  o.x_ticks = {-180, 0, 180, 360};  // 360 lies outside the range: dropped
  o.y_ticks = {-90, 0, 90};
  o.aspect = 2;
  o.identity_line = true;
  std::string svg = LineChartSvg(o, {{.name = "cities",
                                      .x = {2.35, -77},
                                      .y = {48.9, -12},
                                      .colour = "#123456",
                                      .titles = {"Paris", "Lima & Co"},
                                      .marker_radius = 2}});
  // Plot width 460 - 64 - 30 = 366; height 34 + 18 (legend) + 183 + 46.
  EXPECT_NE(svg.find("height=\"281\""), std::string::npos) << svg;
  EXPECT_NE(svg.find(">-180</text>"), std::string::npos);
  EXPECT_EQ(svg.find(">360</text>"), std::string::npos);
  EXPECT_NE(svg.find(">90</text>"), std::string::npos);
  EXPECT_EQ(svg.find("<polyline"), std::string::npos);  // points only
  EXPECT_EQ(Count(svg, "r=\"2\" fill=\"#123456\""), 2u);
  EXPECT_NE(svg.find("<title>Lima &amp; Co</title>"), std::string::npos);
  EXPECT_NE(svg.find("stroke-dasharray=\"4,3\""), std::string::npos);  // the y = x diagonal
}

TEST(SvgChart, LogAxisTicksAtDecades) {
  std::string svg = LineChartSvg({.title = "days", .x_scale = AxisScale::kLog10},
                                 {{.name = "", .x = {1000, 22000, -1}, .y = {115.7, 5.26, 3}}});
  EXPECT_NE(svg.find(">1,000<"), std::string::npos);
  EXPECT_NE(svg.find(">10,000<"), std::string::npos);
  EXPECT_NE(svg.find(">100,000<"), std::string::npos);
  EXPECT_EQ(Count(svg, "<circle"), 2u);  // x <= 0 cannot go on a log axis
}

TEST(SvgChart, ReferenceLineStaysInRange) {
  ChartOptions o{.title = "r", .has_reference = true, .reference_y = 0, .reference_label = "zero"};
  std::string svg = LineChartSvg(o, {{.name = "", .x = {1, 2}, .y = {5, 6}}});
  EXPECT_NE(svg.find(">zero</text>"), std::string::npos);
  EXPECT_NE(svg.find(">0</text>"), std::string::npos);  // the y axis reaches the reference
}

TEST(SvgChart, BandsWidenTheRangeAndSkipMissingBounds) {
  std::string svg = LineChartSvg({.title = "b"}, {{.name = "mean", .x = {1, 2, 3}, .y = {5, 6, 7},
                                                   .y_low = {4, NAN, 6}, .y_high = {6, 7, 20}}});
  EXPECT_EQ(Count(svg, "<polygon"), 1u);
  // Two of three points have both bounds: two corners above, two below.
  auto start = svg.find("<polygon"), end = svg.find("/>", start);
  EXPECT_EQ(Count(svg.substr(start, end - start), ","), 4u);
  EXPECT_NE(svg.find(">20</text>"), std::string::npos);  // the y axis reaches the band's top
  EXPECT_EQ(Count(LineChartSvg({.title = "n"}, {{.name = "", .x = {1, 2}, .y = {1, 2}}}), "<polygon"), 0u);
}

TEST(SvgChart, BarsAndEmptyCharts) {
  std::string bars = BarChartSvg({.title = "days", .y_label = "days"}, {"1,000", "22,000"},
                                 {{"quoted", {115.7, 5.26}}, {"ours", {115.74, std::nan("")}}});
  EXPECT_EQ(Count(bars, "<title>"), 3u);  // one per finite bar
  EXPECT_NE(bars.find(">115.7<"), std::string::npos);
  EXPECT_NE(bars.find(">22,000<"), std::string::npos);
  EXPECT_NE(LineChartSvg({.title = "none"}, {}).find("no data"), std::string::npos);
  EXPECT_NE(BarChartSvg({.title = "none"}, {}, {}).find("no data"), std::string::npos);
}

TEST(SvgChart, SmallMultiplesShareOneLegendAndColours) {
  auto panel = [](std::string title) {
    return Panel{.options = {.title = std::move(title), .x_label = "severity", .width = 300, .height = 220},
                 .series = {{.name = "CE", .x = {0, 1}, .y = {1, 0.5}}, {.name = "MSE", .x = {0, 1}, .y = {1, 0.2}}}};
  };
  std::string svg = SmallMultiplesSvg("Shifts <all>", "y: distance ratio", {panel("rotation"), panel("blur")});
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("width=\"600\""), std::string::npos);  // two 300-wide panels
  EXPECT_NE(svg.find(">Shifts &lt;all&gt;</text>"), std::string::npos);
  EXPECT_EQ(Count(svg, ">CE</text>"), 1u);  // one legend for both panels
  EXPECT_EQ(Count(svg, ">MSE</text>"), 1u);
  EXPECT_EQ(Count(svg, "<polyline fill=\"none\" stroke=\"#0072B2\""), 2u);  // CE has one colour throughout
  EXPECT_EQ(Count(svg, "<polyline fill=\"none\" stroke=\"#D55E00\""), 2u);
  EXPECT_EQ(Count(svg, ">severity</text>"), 2u);
  EXPECT_NE(svg.find(">y: distance ratio</text>"), std::string::npos);
  EXPECT_EQ(Count(svg, "<svg"), 3u);
  EXPECT_EQ(Count(svg, "</svg>"), 3u);
}

}  // namespace
}  // namespace lmlab::chart
