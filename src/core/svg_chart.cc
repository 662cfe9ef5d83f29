#include "lmlab/core/svg_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "lmlab/core/format.h"
#include "lmlab/core/text.h"

namespace lmlab::chart {
namespace {

// Colour-blind-safe palette (Okabe & Ito 2008).
constexpr const char* kPalette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"};
constexpr size_t kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// "Nice" tick positions covering [lo, hi]: steps of 1, 2 or 5 times a power of 10.
std::vector<double> NiceTicks(double lo, double hi, int target = 5) {
  if (!(hi > lo)) return {lo};
  double raw = (hi - lo) / target;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  // Ticks by index (first + k * step), at most a few dozen: adding a step
  // below one ulp of the value would otherwise never reach `hi`.
  std::vector<double> ticks;
  const double first = std::ceil(lo / step) * step;
  for (int k = 0; k <= 4 * target + 2; ++k) {
    double t = first + k * step;
    if (t > hi + step * 1e-9) break;
    if (!ticks.empty() && t == ticks.back()) break;  // the step vanished next to the value
    ticks.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

// The caller's ticks that fall inside [lo, hi] (in axis units), or nice ones.
std::vector<double> Ticks(const std::vector<double>& given, double lo, double hi, bool log10) {
  std::vector<double> ticks;
  if (given.empty()) {
    if (!log10) return NiceTicks(lo, hi);
    for (double e = std::ceil(lo); e <= hi + 1e-9; e += 1) ticks.push_back(std::pow(10.0, e));
    return ticks;
  }
  double slack = (hi - lo) * 1e-9;
  for (double t : given) {
    double u = log10 ? std::log10(t) : t;
    if (std::isfinite(u) && u >= lo - slack && u <= hi + slack) ticks.push_back(t);
  }
  return ticks;
}

// A caller's colour goes into an attribute: escaped like any text.
std::string Colour(const std::string& own, size_t index) {
  return own.empty() ? kPalette[index % kPaletteSize] : EscapeHtml(own);
}

// Plot area inside the image, and the data ranges it shows (x in axis units:
// log10(x) on a log axis).
struct Frame {
  double left = 64, right = 30, top = 34, bottom = 46;
  int width = 0, height = 0;
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  AxisScale x_scale = AxisScale::kLinear;
  double Tx(double x) const { return x_scale == AxisScale::kLog10 ? std::log10(x) : x; }
  double Px(double x) const { return left + (Tx(x) - x0) / (x1 - x0) * (width - left - right); }
  double Py(double y) const { return height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom); }
};

struct LegendEntry {
  std::string name, colour, dash;
};

// Legend entries laid out in rows under the title, clear of the plot.
std::vector<std::pair<double, double>> LegendLayout(int width, const std::vector<LegendEntry>& entries) {
  std::vector<std::pair<double, double>> at;
  double x = 64, y = 38;
  for (const auto& e : entries) {
    double w = 24 + 6.5 * static_cast<double>(e.name.size());
    if (x + w > width - 10 && x > 64) {
      x = 64;
      y += 15;
    }
    at.push_back({x, y});
    x += w;
  }
  return at;
}

double LegendHeight(int width, const std::vector<LegendEntry>& entries) {
  if (entries.empty()) return 0;
  return LegendLayout(width, entries).back().second - 38 + 18;
}

// A filled square per entry, or a short line in the series' dash pattern.
std::string Legend(int width, const std::vector<LegendEntry>& entries) {
  std::string s;
  auto at = LegendLayout(width, entries);
  for (size_t i = 0; i < entries.size(); ++i) {
    auto [x, y] = at[i];
    const LegendEntry& e = entries[i];
    if (e.dash.empty())
      s += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"10\" height=\"10\" fill=\"{}\"/>", x, y - 9, e.colour);
    else
      s += fmt::format(
          "<line x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" stroke-width=\"2\" "
          "stroke-dasharray=\"{}\"/>",
          x - 2, x + 11, y - 4, y - 4, e.colour, EscapeHtml(e.dash));
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"11\">{}</text>\n", x + 14, y, EscapeHtml(e.name));
  }
  return s;
}

// The frame for a chart of `o` with these legend entries (none: no legend).
Frame MakeFrame(const ChartOptions& o, const std::vector<LegendEntry>& legend) {
  Frame f;
  f.width = o.width;
  f.height = o.height;
  f.x_scale = o.x_scale;
  f.top += LegendHeight(o.width, legend);
  if (o.aspect > 0)
    f.height = static_cast<int>(std::lround(f.top + (f.width - f.left - f.right) / o.aspect + f.bottom));
  return f;
}

std::string SvgOpen(int width, int height, const std::string& title) {
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
      "font-family=\"sans-serif\" role=\"img\" aria-label=\"{}\">\n",
      width, height, width, height, EscapeHtml(title));
}

// White background and the centred title.
std::string Backdrop(int width, const std::string& title) {
  return fmt::format(
      "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n"
      "<text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">{}</text>\n",
      width / 2, EscapeHtml(title));
}

std::string NoData(const Frame& f) {
  return fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"12\">no data</text>\n", f.width / 2,
                     f.height / 2);
}

std::string Axes(const Frame& f, const ChartOptions& o, bool x_ticks) {
  std::string s;
  double xa = f.left, xb = f.width - f.right, ya = f.top, yb = f.height - f.bottom;
  s += fmt::format(
      "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"none\" stroke=\"#888\"/>\n", xa, ya,
      xb - xa, yb - ya);
  for (double t : Ticks(o.y_ticks, f.y0, f.y1, false)) {
    double y = f.Py(t);
    s += fmt::format("<line x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#e4e4e4\"/>\n", xa, xb, y,
                     y);
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\" font-size=\"11\">{}</text>\n", xa - 4, y + 4,
                     EscapeHtml(FormatNumber(t)));
  }
  if (x_ticks) {
    for (double t : Ticks(o.x_ticks, f.x0, f.x1, f.x_scale == AxisScale::kLog10)) {
      double x = f.Px(t);
      s += fmt::format("<line x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#888\"/>\n", x, x, yb,
                       yb + 4);
      s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"11\">{}</text>\n", x,
                       yb + 16, EscapeHtml(FormatNumber(t)));
    }
  }
  s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"12\">{}</text>\n", (xa + xb) / 2,
                   static_cast<double>(f.height) - 8, EscapeHtml(o.x_label));
  s += fmt::format(
      "<text x=\"14\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 14 "
      "{:.1f})\">{}</text>\n",
      (ya + yb) / 2, (ya + yb) / 2, EscapeHtml(o.y_label));
  return s;
}

std::string Reference(const Frame& f, const ChartOptions& o) {
  if (!o.has_reference || !std::isfinite(o.reference_y)) return "";
  double y = f.Py(o.reference_y);
  return fmt::format(
      "<line x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#555\" stroke-dasharray=\"5 4\"/>"
      "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\" font-size=\"11\" fill=\"#555\">{}</text>\n",
      f.left, f.width - f.right, y, y, f.width - f.right - 4, y - 4, EscapeHtml(o.reference_label));
}

// Widens an empty or one-point range; pads a real one by 5% each side.
void Pad(double& lo, double& hi) {
  if (!(hi > lo)) {
    double d = lo == 0 ? 1 : std::fabs(lo) * 0.1;
    lo -= d;
    hi += d;
    return;
  }
  double d = (hi - lo) * 0.05;
  lo -= d;
  hi += d;
}

// Caller-set limits replace fitted ones; the range never collapses.
void Limit(double& lo, double& hi, double min, double max) {
  if (std::isfinite(min)) lo = min;
  if (std::isfinite(max)) hi = max;
  if (!(hi > lo)) hi = lo + 1;
}

bool Drawable(const ChartOptions& o, double x, double y) {
  return std::isfinite(x) && std::isfinite(y) && (o.x_scale != AxisScale::kLog10 || x > 0);
}

std::vector<LegendEntry> LineLegend(const ChartOptions& o, const std::vector<Series>& series) {
  bool shown = o.legend && (series.size() > 1 || (series.size() == 1 && !series[0].name.empty()));
  std::vector<LegendEntry> entries;
  if (shown)
    for (size_t k = 0; k < series.size(); ++k)
      entries.push_back({series[k].name, Colour(series[k].colour, k), series[k].dash});
  return entries;
}

// Everything inside the <svg> element of a line chart laid out in `f`.
std::string LineChartBody(const ChartOptions& o, const std::vector<Series>& series, Frame f,
                          const std::vector<LegendEntry>& legend) {
  double xlo = kInf, xhi = -kInf, ylo = kInf, yhi = -kInf;
  for (const auto& s : series)
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!Drawable(o, s.x[i], s.y[i])) continue;
      double x = f.Tx(s.x[i]);
      xlo = std::min(xlo, x), xhi = std::max(xhi, x), ylo = std::min(ylo, s.y[i]), yhi = std::max(yhi, s.y[i]);
      for (const auto* band : {&s.y_low, &s.y_high})
        if (i < band->size() && std::isfinite((*band)[i])) ylo = std::min(ylo, (*band)[i]), yhi = std::max(yhi, (*band)[i]);
    }
  if (o.has_reference && std::isfinite(o.reference_y))
    ylo = std::min(ylo, o.reference_y), yhi = std::max(yhi, o.reference_y);
  std::string svg = Backdrop(f.width, o.title);
  if (!std::isfinite(xlo) || !std::isfinite(ylo)) return svg + NoData(f);
  if (o.x_scale == AxisScale::kLog10) {
    xlo = std::floor(xlo), xhi = std::ceil(xhi);
    if (xhi == xlo) xhi += 1;
  } else {
    Pad(xlo, xhi);
  }
  Pad(ylo, yhi);
  const bool log = o.x_scale == AxisScale::kLog10;
  auto axis_units = [&](double x) { return !log ? x : x > 0 ? std::log10(x) : kNaN; };
  Limit(xlo, xhi, axis_units(o.x_min), axis_units(o.x_max));
  Limit(ylo, yhi, o.y_min, o.y_max);
  f.x0 = xlo, f.x1 = xhi, f.y0 = ylo, f.y1 = yhi;
  svg += Axes(f, o, true);
  svg += Reference(f, o);
  if (o.identity_line && !log) {
    double a = std::max(f.x0, f.y0), b = std::min(f.x1, f.y1);
    if (b > a)
      svg += fmt::format(
          "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#999\" stroke-dasharray=\"4,3\"/>\n",
          f.Px(a), f.Py(a), f.Px(b), f.Py(b));
  }
  const bool points_only = o.style == ChartStyle::kPoints;
  for (size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    std::string colour = Colour(s.colour, k);
    double radius = s.marker_radius > 0 ? s.marker_radius : points_only ? 2.5 : 3;
    std::string points;
    std::string markers;
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!Drawable(o, s.x[i], s.y[i])) continue;
      double px = f.Px(s.x[i]), py = f.Py(s.y[i]);
      points += fmt::format("{:.1f},{:.1f} ", px, py);
      // Markers only where they stay legible.
      if (!points_only && s.x.size() > 40) continue;
      markers += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"{}\" fill=\"{}\"{}", px, py, radius, colour,
                             points_only ? " fill-opacity=\"0.75\"" : "");
      if (i < s.titles.size())
        markers += fmt::format("><title>{}</title></circle>", EscapeHtml(s.titles[i]));
      else
        markers += "/>";
    }
    // The band: along the upper bound, back along the lower one.
    std::string upper, lower;
    for (size_t i = 0; i < std::min({s.x.size(), s.y_low.size(), s.y_high.size()}); ++i) {
      if (!Drawable(o, s.x[i], s.y_low[i]) || !Drawable(o, s.x[i], s.y_high[i])) continue;
      upper += fmt::format("{:.1f},{:.1f} ", f.Px(s.x[i]), f.Py(s.y_high[i]));
      lower.insert(0, fmt::format("{:.1f},{:.1f} ", f.Px(s.x[i]), f.Py(s.y_low[i])));
    }
    if (!upper.empty())
      svg += fmt::format("<polygon fill=\"{}\" fill-opacity=\"0.18\" stroke=\"none\" points=\"{}{}\"/>\n", colour, upper,
                         lower);
    if (!points_only && !points.empty())
      svg += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{} points=\"{}\"/>\n", colour,
                         s.dash.empty() ? "" : fmt::format(" stroke-dasharray=\"{}\"", EscapeHtml(s.dash)), points);
    svg += markers + "\n";
  }
  return svg + Legend(f.width, legend);
}

}  // namespace

std::string EscapeHtml(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 16);
  for (size_t i = 0; i < text.size();) {
    char c = text[i];
    switch (c) {
      case '&':
        out += "&amp;";
        ++i;
        continue;
      case '<':
        out += "&lt;";
        ++i;
        continue;
      case '>':
        out += "&gt;";
        ++i;
        continue;
      case '"':
        out += "&quot;";
        ++i;
        continue;
      case '\'':
        out += "&#39;";
        ++i;
        continue;
      default: break;
    }
    size_t n = Utf8SequenceLength(text, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
      continue;
    }
    // Control characters other than tab and newline would be a parse error in XML (inline SVG).
    if (n == 1 && static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t' && c != '\r') {
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    out.append(text.substr(i, n));
    i += n;
  }
  return out;
}

std::string FormatNumber(double value, int significant) {
  if (!std::isfinite(value)) return "n/a";
  if (std::fabs(value) >= 1e3 && std::fabs(value) < 1e6 && value == std::round(value)) return FormatThousands(value);
  std::string s = FormatSignificant(value, significant);
  // "50.0" -> "50", "0.250" -> "0.25": trailing zeros carry no information in a label.
  if (s.find('.') != std::string::npos && s.find('e') == std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  return s;
}

std::string LineChartSvg(const ChartOptions& o, const std::vector<Series>& series) {
  auto legend = LineLegend(o, series);
  Frame f = MakeFrame(o, legend);
  return SvgOpen(f.width, f.height, o.title) + LineChartBody(o, series, f, legend) + "</svg>\n";
}

std::string BarChartSvg(const ChartOptions& o, const std::vector<std::string>& categories,
                        const std::vector<BarGroup>& groups) {
  std::vector<LegendEntry> legend;
  if (o.legend && (groups.size() > 1 || (groups.size() == 1 && !groups[0].name.empty())))
    for (size_t g = 0; g < groups.size(); ++g) legend.push_back({groups[g].name, Colour("", g), ""});
  Frame f = MakeFrame(o, legend);
  double ylo = 0, yhi = 0;
  bool any = false;
  for (const auto& g : groups)
    for (double v : g.values)
      if (std::isfinite(v)) ylo = std::min(ylo, v), yhi = std::max(yhi, v), any = true;
  if (o.has_reference && std::isfinite(o.reference_y))
    ylo = std::min(ylo, o.reference_y), yhi = std::max(yhi, o.reference_y);
  std::string svg = SvgOpen(f.width, f.height, o.title) + Backdrop(f.width, o.title);
  if (!any || categories.empty()) return svg + NoData(f) + "</svg>\n";
  if (yhi == ylo) yhi = ylo + 1;
  yhi += (yhi - ylo) * 0.08;
  Limit(ylo, yhi, o.y_min, o.y_max);
  f.x0 = 0, f.x1 = 1, f.y0 = ylo, f.y1 = yhi;
  svg += Axes(f, o, false);
  double plot_w = f.width - f.left - f.right;
  double slot = plot_w / static_cast<double>(categories.size());
  double bar_w = slot * 0.8 / static_cast<double>(std::max<size_t>(1, groups.size()));
  double zero = f.Py(std::clamp(0.0, f.y0, f.y1));
  for (size_t c = 0; c < categories.size(); ++c) {
    double cx = f.left + slot * (static_cast<double>(c) + 0.5);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"11\">{}</text>\n", cx,
                       f.height - f.bottom + 16, EscapeHtml(categories[c]));
    for (size_t g = 0; g < groups.size(); ++g) {
      if (c >= groups[g].values.size() || !std::isfinite(groups[g].values[c])) continue;
      double v = groups[g].values[c];
      double x = f.left + slot * static_cast<double>(c) + slot * 0.1 + bar_w * static_cast<double>(g);
      double y = f.Py(v);
      svg += fmt::format(
          "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"><title>{}: {}</title></rect>"
          "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"10\">{}</text>\n",
          x, std::min(y, zero), bar_w * 0.92, std::fabs(zero - y), Colour("", g), EscapeHtml(groups[g].name),
          EscapeHtml(FormatNumber(v, 4)), x + bar_w * 0.46, std::min(y, zero) - 3,
          EscapeHtml(FormatNumber(v, std::fabs(v) >= 100 ? 4 : 3)));
    }
  }
  svg += Reference(f, o);
  return svg + Legend(f.width, legend) + "</svg>\n";
}

std::string SmallMultiplesSvg(const std::string& title, const std::string& note, const std::vector<Panel>& panels,
                              int columns) {
  constexpr int kMinWidth = 600;  // room for the title, legend and note of a one- or two-panel grid
  // One legend entry per distinct series name, in order of first appearance.
  std::vector<LegendEntry> legend;
  for (const auto& p : panels)
    for (const auto& s : p.series)
      if (std::none_of(legend.begin(), legend.end(), [&](const LegendEntry& e) { return e.name == s.name; }))
        legend.push_back({s.name, Colour(s.colour, legend.size()), s.dash});
  std::vector<Panel> cells = panels;
  std::vector<Frame> frames;
  int cell_w = 0, cell_h = 0;
  for (auto& p : cells) {
    p.options.legend = false;
    for (auto& s : p.series)
      if (s.colour.empty())
        s.colour =
            std::find_if(legend.begin(), legend.end(), [&](const LegendEntry& e) { return e.name == s.name; })->colour;
    frames.push_back(MakeFrame(p.options, {}));
    cell_w = std::max(cell_w, frames.back().width);
    cell_h = std::max(cell_h, frames.back().height);
  }
  const int cols = std::clamp(columns, 1, std::max(1, static_cast<int>(cells.size())));
  const int rows = (static_cast<int>(cells.size()) + cols - 1) / cols;
  const int width = std::max(cols * cell_w, kMinWidth);
  const int top = 26 + static_cast<int>(LegendHeight(width, legend));
  const int height = top + rows * cell_h + (note.empty() ? 0 : 22);
  std::string svg = SvgOpen(width, height, title) + Backdrop(width, title) + Legend(width, legend);
  for (size_t i = 0; i < cells.size(); ++i) {
    const Frame& f = frames[i];
    svg += fmt::format("<svg x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\">\n", static_cast<int>(i) % cols * cell_w,
                       top + static_cast<int>(i) / cols * cell_h, f.width, f.height);
    svg += LineChartBody(cells[i].options, cells[i].series, f, {}) + "</svg>\n";
  }
  if (!note.empty())
    svg +=
        fmt::format("<text x=\"12\" y=\"{}\" font-size=\"12\" fill=\"#333\">{}</text>\n", height - 8, EscapeHtml(note));
  return svg + "</svg>\n";
}

}  // namespace lmlab::chart
