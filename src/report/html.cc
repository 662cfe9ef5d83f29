#include "lmlab/report/html.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fmt/format.h>
#include <limits>

#include "lmlab/core/format.h"

namespace lmlab::report {
namespace {

// Colour-blind-safe palette (Okabe & Ito 2008).
constexpr const char* kPalette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"};
constexpr int kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);

// Length of the UTF-8 sequence starting at s[i], or 0 if it is invalid.
size_t Utf8Length(std::string_view s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  if (n == 2 && c < 0xC2) return 0;  // overlong
  return n;
}

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
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step)
    ticks.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  return ticks;
}

struct Frame {
  double left = 64, right = 30, top = 34, bottom = 46;
  int width = 0, height = 0;
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  AxisScale x_scale = AxisScale::kLinear;
  double Tx(double x) const { return x_scale == AxisScale::kLog10 ? std::log10(x) : x; }
  double Px(double x) const { return left + (Tx(x) - x0) / (x1 - x0) * (width - left - right); }
  double Py(double y) const { return height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom); }
};

std::string Header(const ChartOptions& o) {
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
      "role=\"img\" aria-label=\"{}\">\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n"
      "<text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">{}</text>\n",
      o.width, o.height, o.width, o.height, EscapeHtml(o.title), o.width / 2, EscapeHtml(o.title));
}

std::string Axes(const Frame& f, const ChartOptions& o, bool x_ticks) {
  std::string s;
  double xa = f.left, xb = f.width - f.right, ya = f.top, yb = f.height - f.bottom;
  s += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"none\" stroke=\"#888\"/>\n",
                   xa, ya, xb - xa, yb - ya);
  for (double t : NiceTicks(f.y0, f.y1)) {
    double y = f.Py(t);
    s += fmt::format("<line x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#e4e4e4\"/>\n", xa, xb, y, y);
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\" font-size=\"11\">{}</text>\n", xa - 4, y + 4,
                     EscapeHtml(FormatNumber(t)));
  }
  if (x_ticks) {
    std::vector<double> ticks;
    if (f.x_scale == AxisScale::kLog10) {
      for (double e = std::ceil(f.x0); e <= f.x1 + 1e-9; e += 1) ticks.push_back(std::pow(10.0, e));
    } else {
      ticks = NiceTicks(f.x0, f.x1);
    }
    for (double t : ticks) {
      double x = f.Px(t);
      s += fmt::format("<line x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#888\"/>\n", x, x, yb,
                       yb + 4);
      s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"11\">{}</text>\n", x,
                       yb + 16, EscapeHtml(FormatNumber(t)));
    }
  }
  s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"12\">{}</text>\n",
                   (xa + xb) / 2, static_cast<double>(f.height) - 8, EscapeHtml(o.x_label));
  s += fmt::format(
      "<text x=\"14\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 14 {:.1f})\">{}</text>\n",
      (ya + yb) / 2, (ya + yb) / 2, EscapeHtml(o.y_label));
  return s;
}

// Legend entries laid out in rows under the title, clear of the plot.
std::vector<std::pair<double, double>> LegendLayout(int width, const std::vector<std::string>& names) {
  std::vector<std::pair<double, double>> at;
  double x = 64, y = 38;
  for (const auto& n : names) {
    double w = 24 + 6.5 * static_cast<double>(n.size());
    if (x + w > width - 10 && x > 64) {
      x = 64;
      y += 15;
    }
    at.push_back({x, y});
    x += w;
  }
  return at;
}

double LegendHeight(int width, const std::vector<std::string>& names) {
  if (names.empty()) return 0;
  return LegendLayout(width, names).back().second - 38 + 18;
}

std::string Legend(const Frame& f, const std::vector<std::string>& names) {
  std::string s;
  auto at = LegendLayout(f.width, names);
  for (size_t i = 0; i < names.size(); ++i) {
    auto [x, y] = at[i];
    s += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"10\" height=\"10\" fill=\"{}\"/>", x, y - 9,
                     kPalette[i % kPaletteSize]);
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"11\">{}</text>\n", x + 14, y, EscapeHtml(names[i]));
  }
  return s;
}

// "2,791", "43%", "$6.94e6", "-0.023", "2.33 GWh": a number, optionally
// followed by one short unit word. Such cells are right-aligned.
bool IsNumericCell(std::string_view c) {
  if (c.empty() || c.size() > 16) return false;
  size_t space = c.find(' ');
  std::string_view number = c.substr(0, space), unit = space == std::string_view::npos ? "" : c.substr(space + 1);
  size_t i = 0;
  while (i < number.size() && (number[i] == '-' || number[i] == '+' || number[i] == '$')) ++i;
  if (i >= number.size() || !std::isdigit(static_cast<unsigned char>(number[i]))) return false;
  for (; i < number.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(number[i])) && std::string_view(".,%e+-x").find(number[i]) == std::string_view::npos)
      return false;
  if (unit.size() > 4) return false;
  for (char u : unit)
    if (!std::isalpha(static_cast<unsigned char>(u))) return false;
  return true;
}

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

}  // namespace

std::string EscapeHtml(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 16);
  for (size_t i = 0; i < text.size();) {
    char c = text[i];
    switch (c) {
      case '&': out += "&amp;"; ++i; continue;
      case '<': out += "&lt;"; ++i; continue;
      case '>': out += "&gt;"; ++i; continue;
      case '"': out += "&quot;"; ++i; continue;
      case '\'': out += "&#39;"; ++i; continue;
      default: break;
    }
    size_t n = Utf8Length(text, i);
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

std::string HtmlTable(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows) {
  std::string s = "<table>\n<thead><tr>";
  for (const auto& h : headers) s += "<th>" + EscapeHtml(h) + "</th>";
  s += "</tr></thead>\n<tbody>\n";
  for (const auto& row : rows) {
    s += "<tr>";
    for (size_t i = 0; i < headers.size(); ++i) {
      std::string_view cell = i < row.size() ? std::string_view(row[i]) : std::string_view();
      s += (IsNumericCell(cell) ? "<td class=\"num\">" : "<td>") + EscapeHtml(cell) + "</td>";
    }
    s += "</tr>\n";
  }
  return s + "</tbody>\n</table>\n";
}

std::string LineChartSvg(const ChartOptions& o, const std::vector<ChartSeries>& series) {
  Frame f;
  f.width = o.width;
  f.height = o.height;
  std::vector<std::string> names;
  for (const auto& s : series) names.push_back(s.name);
  bool legend = series.size() > 1 || (series.size() == 1 && !series[0].name.empty());
  if (legend) f.top += LegendHeight(o.width, names);
  f.x_scale = o.x_scale;
  double xlo = std::numeric_limits<double>::infinity(), xhi = -xlo, ylo = xlo, yhi = -xlo;
  for (const auto& s : series)
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      if (o.x_scale == AxisScale::kLog10 && !(s.x[i] > 0)) continue;
      double x = f.Tx(s.x[i]);
      xlo = std::min(xlo, x), xhi = std::max(xhi, x), ylo = std::min(ylo, s.y[i]), yhi = std::max(yhi, s.y[i]);
    }
  if (o.has_reference && std::isfinite(o.reference_y))
    ylo = std::min(ylo, o.reference_y), yhi = std::max(yhi, o.reference_y);
  std::string svg = Header(o);
  if (!std::isfinite(xlo) || !std::isfinite(ylo)) {
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"12\">no data</text>\n",
                       o.width / 2, o.height / 2);
    return svg + "</svg>\n";
  }
  if (o.x_scale == AxisScale::kLog10) {
    xlo = std::floor(xlo), xhi = std::ceil(xhi);
    if (xhi == xlo) xhi += 1;
  } else {
    Pad(xlo, xhi);
  }
  Pad(ylo, yhi);
  f.x0 = xlo, f.x1 = xhi, f.y0 = ylo, f.y1 = yhi;
  svg += Axes(f, o, true);
  if (o.has_reference && std::isfinite(o.reference_y)) {
    double y = f.Py(o.reference_y);
    svg += fmt::format(
        "<line x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#555\" stroke-dasharray=\"5 4\"/>"
        "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\" font-size=\"11\" fill=\"#555\">{}</text>\n",
        f.left, f.width - f.right, y, y, f.width - f.right - 4, y - 4, EscapeHtml(o.reference_label));
  }
  for (size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    const char* colour = kPalette[k % kPaletteSize];
    std::string points;
    std::string markers;
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      if (o.x_scale == AxisScale::kLog10 && !(s.x[i] > 0)) continue;
      double px = f.Px(s.x[i]), py = f.Py(s.y[i]);
      points += fmt::format("{:.1f},{:.1f} ", px, py);
      // Markers only where they stay legible.
      if (o.style == ChartStyle::kPoints || s.x.size() <= 40)
        markers += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"{}\" fill=\"{}\"/>", px, py,
                               o.style == ChartStyle::kPoints ? 2.5 : 3, colour);
    }
    if (o.style == ChartStyle::kLines && !points.empty())
      svg += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>\n", colour, points);
    svg += markers + "\n";
  }
  if (legend) svg += Legend(f, names);
  return svg + "</svg>\n";
}

std::string BarChartSvg(const ChartOptions& o, const std::vector<std::string>& categories,
                        const std::vector<BarGroup>& groups) {
  Frame f;
  f.width = o.width;
  f.height = o.height;
  std::vector<std::string> names;
  for (const auto& g : groups) names.push_back(g.name);
  bool legend = groups.size() > 1 || (groups.size() == 1 && !groups[0].name.empty());
  if (legend) f.top += LegendHeight(o.width, names);
  double ylo = 0, yhi = 0;
  bool any = false;
  for (const auto& g : groups)
    for (double v : g.values)
      if (std::isfinite(v)) ylo = std::min(ylo, v), yhi = std::max(yhi, v), any = true;
  if (o.has_reference && std::isfinite(o.reference_y))
    ylo = std::min(ylo, o.reference_y), yhi = std::max(yhi, o.reference_y);
  std::string svg = Header(o);
  if (!any || categories.empty()) {
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"12\">no data</text>\n",
                       o.width / 2, o.height / 2);
    return svg + "</svg>\n";
  }
  if (yhi == ylo) yhi = ylo + 1;
  yhi += (yhi - ylo) * 0.08;
  f.x0 = 0, f.x1 = 1, f.y0 = ylo, f.y1 = yhi;
  svg += Axes(f, o, false);
  double plot_w = f.width - f.left - f.right;
  double slot = plot_w / static_cast<double>(categories.size());
  double bar_w = slot * 0.8 / static_cast<double>(std::max<size_t>(1, groups.size()));
  double zero = f.Py(0);
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
          x, std::min(y, zero), bar_w * 0.92, std::fabs(zero - y), kPalette[g % kPaletteSize],
          EscapeHtml(groups[g].name), EscapeHtml(FormatNumber(v, 4)), x + bar_w * 0.46, std::min(y, zero) - 3,
          EscapeHtml(FormatNumber(v, std::fabs(v) >= 100 ? 4 : 3)));
    }
  }
  if (o.has_reference && std::isfinite(o.reference_y)) {
    double y = f.Py(o.reference_y);
    svg += fmt::format(
        "<line x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#555\" stroke-dasharray=\"5 4\"/>"
        "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\" font-size=\"11\" fill=\"#555\">{}</text>\n",
        f.left, f.width - f.right, y, y, f.width - f.right - 4, y - 4, EscapeHtml(o.reference_label));
  }
  if (legend) svg += Legend(f, names);
  return svg + "</svg>\n";
}

}  // namespace lmlab::report
