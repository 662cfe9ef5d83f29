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
#include <vector>

#include "lmlab/core/svg_chart.h"

namespace lmlab::report {

// Escaping and number labels are core/svg_chart.h's, shared with every chart.
using chart::EscapeHtml;
using chart::FormatNumber;

// Header cells and rows of already-formatted text (escaped here).
std::string HtmlTable(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows);

// The charts are core/svg_chart.h's (one implementation for every module),
// under the names report steps use.
using ChartSeries = chart::Series;
using ChartStyle = chart::ChartStyle;
using AxisScale = chart::AxisScale;
using ChartOptions = chart::ChartOptions;
using BarGroup = chart::BarGroup;
using chart::BarChartSvg;
using chart::LineChartSvg;

}  // namespace lmlab::report
