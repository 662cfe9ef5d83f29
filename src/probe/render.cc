#include "lmlab/probe/render.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "lmlab/core/file.h"
#include "lmlab/core/format.h"
#include "lmlab/core/table.h"

namespace lmlab::probe {
namespace {

// Tableau 10: distinguishable, colour-blind-friendlier than rainbow.
constexpr const char* kPalette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                    "#edc948", "#b07aa1", "#ff9da7", "#9c755f"};
constexpr const char* kOther = "#7f7f7f";  // darker than the grey true positions on maps
constexpr int kMaxColours = 9;

std::string Escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string F3(double v) { return FormatFixed(v, 3); }

// The most frequent colour groups get palette colours, the rest grey.
std::map<std::string, std::string> ColourMap(const SweepResult& s) {
  std::map<std::string, int> counts;
  for (const auto& c : s.test_colour) ++counts[c];
  std::vector<std::pair<std::string, int>> sorted(counts.begin(), counts.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < sorted.size() && static_cast<int>(i) < kMaxColours; ++i) out[sorted[i].first] = kPalette[i];
  return out;
}

std::string Legend(const std::map<std::string, std::string>& colours, const SweepResult& s, double x, double y) {
  std::map<std::string, int> counts;
  for (const auto& c : s.test_colour) ++counts[c];
  std::vector<std::pair<std::string, std::string>> entries(colours.begin(), colours.end());
  std::stable_sort(entries.begin(), entries.end(), [&](const auto& a, const auto& b) { return counts[a.first] > counts[b.first]; });
  std::string out;
  for (size_t i = 0; i < entries.size(); ++i) {
    out += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"{}\"/><text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"11\">{}</text>\n",
                       x, y + 15 * i, entries[i].second, x + 8, y + 15 * i + 4,
                       Escape(entries[i].first.empty() ? "(none)" : entries[i].first));
  }
  if (counts.size() > colours.size())
    out += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"{}\"/><text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"11\">other</text>\n",
                       x, y + 15 * entries.size(), kOther, x + 8, y + 15 * entries.size() + 4);
  return out;
}

std::string SvgOpen(int w, int h) {
  return fmt::format("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
                     "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"{}\" height=\"{}\" fill=\"white\"/>\n",
                     w, h, w, h, w, h);
}

struct Axis {
  double lo, hi;
  double px0, px1;
  double operator()(double v) const { return px0 + (v - lo) / (hi - lo) * (px1 - px0); }
};

std::string NiceTicks(const Axis& a, bool vertical, double other0, double other1, int count) {
  std::string out;
  for (int i = 0; i <= count; ++i) {
    double v = a.lo + (a.hi - a.lo) * i / count;
    double p = a(v);
    if (vertical)
      out += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#eee\"/>"
                         "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n",
                         other0, p, other1, p, other0 - 4, p + 4, FormatSignificant(v, 3));
    else
      out += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#eee\"/>"
                         "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n",
                         p, other0, p, other1, p, other1 + 14, FormatSignificant(v, 3));
  }
  return out;
}

std::string Polyline(const std::vector<std::pair<double, double>>& pts, const char* colour, const char* dash) {
  if (pts.empty()) return "";
  std::string d;
  for (const auto& [x, y] : pts) d += fmt::format("{}{:.1f},{:.1f}", d.empty() ? "" : " ", x, y);
  std::string out = fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{}/>\n", d, colour,
                                dash[0] ? fmt::format(" stroke-dasharray=\"{}\"", dash) : "");
  for (const auto& [x, y] : pts) out += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>\n", x, y, colour);
  return out;
}

std::string KmCell(double km) { return km >= 0 ? FormatThousands(km) : "-"; }

}  // namespace

std::string RenderSweepTable(const SweepResult& s) {
  std::vector<std::string> headers = {"layer", "alpha", "LOO R2", "test R2"};
  for (const auto& t : s.target_names) headers.push_back("R2 " + t.substr(0, 3));
  headers.insert(headers.end(), {"Spearman", "MAE", "RMSE"});
  if (s.kind == TargetKind::kPlace) headers.insert(headers.end(), {"mean km", "median km"});
  headers.push_back("prox err");
  if (s.mlp_ran) headers.push_back("MLP R2");
  if (s.shuffle_ran) headers.push_back("shuffled R2");
  Table t(headers, std::vector<Align>(headers.size(), Align::kRight));
  for (const auto& l : s.layers) {
    std::vector<std::string> row = {std::to_string(l.layer) + (l.layer == s.best_layer ? "*" : ""),
                                    FormatSignificant(l.alpha, 3), F3(l.loo_r2), F3(l.test.r2)};
    for (const auto& tm : l.test.targets) row.push_back(F3(tm.r2));
    double sp = 0, mae = 0, rmse = 0;
    for (const auto& tm : l.test.targets) {
      sp += tm.spearman / static_cast<double>(l.test.targets.size());
      mae += tm.mae / static_cast<double>(l.test.targets.size());
      rmse += tm.rmse / static_cast<double>(l.test.targets.size());
    }
    row.insert(row.end(), {F3(sp), FormatSignificant(mae, 3), FormatSignificant(rmse, 3)});
    if (s.kind == TargetKind::kPlace) row.insert(row.end(), {KmCell(l.test.mean_km), KmCell(l.test.median_km)});
    row.push_back(F3(l.test.proximity_error));
    if (s.mlp_ran) row.push_back(F3(l.mlp_test.r2));
    if (s.shuffle_ran) row.push_back(F3(l.shuffled_test_r2));
    t.AddRow(row);
  }
  return t.Render();
}

std::string RenderHoldoutTable(const HoldoutResult& h) {
  bool km = !h.blocks.empty() && h.blocks[0].block_mean_km >= 0;
  std::vector<std::string> headers = {h.group_column, "n", "prox err (block)", "prox err (random)", "R2 (block)",
                                      "R2 (random)"};
  if (km) headers.insert(headers.end(), {"km (block)", "km (random)"});
  std::vector<Align> align(headers.size(), Align::kRight);
  align[0] = Align::kLeft;
  Table t(headers, align);
  for (const auto& b : h.blocks) {
    std::vector<std::string> row = {b.block, std::to_string(b.n), F3(b.block_proximity), F3(b.random_proximity),
                                    F3(b.block_r2), F3(b.random_r2)};
    if (km) row.insert(row.end(), {KmCell(b.block_mean_km), KmCell(b.random_mean_km)});
    t.AddRow(row);
  }
  t.AddRow({"mean", "", F3(h.mean_block_proximity), F3(h.mean_random_proximity)});
  return t.Render();
}

std::string RenderCrossPromptTable(const CrossPromptResult& c) {
  Table t({"layer", "R2 fit on " + c.test_prompt, "R2 fit on " + c.train_prompt, "prox err"},
          std::vector<Align>(4, Align::kRight));
  for (const auto& l : c.layers) t.AddRow({std::to_string(l.layer), F3(l.same_r2), F3(l.cross_r2), F3(l.cross_proximity)});
  return t.Render();
}

std::string RenderNeuronTable(const NeuronSearchResult& n) {
  std::string out;
  if (!n.by_activation.empty()) {
    Table t({"target", "unit", "Pearson r"}, {Align::kLeft, Align::kRight, Align::kRight});
    for (const auto& h : n.by_activation) t.AddRow({h.target, std::to_string(h.index), F3(h.correlation)});
    out += fmt::format("Residual-stream units at layer {} most correlated with the target:\n{}", n.layer, t.Render());
  }
  if (!n.by_weight.empty()) {
    Table t({"target", "neuron", "cosine"}, {Align::kLeft, Align::kRight, Align::kRight});
    for (const auto& h : n.by_weight) t.AddRow({h.target, std::to_string(h.index), F3(h.cosine)});
    out += fmt::format("{}{} at layer {}: the units whose weights align best with the probe direction:\n{}",
                       out.empty() ? "" : "\n", n.weights, n.layer, t.Render());
  }
  return out;
}

std::string RenderReportText(const ProbeReport& r) {
  std::string out = fmt::format("Probe: {} on {} ({} entities, prompt '{}'), {} layers x {}\n", r.model, r.dataset,
                                r.n_entities, r.prompt_template, r.n_layers, r.n_embd);
  out += fmt::format("Train {} / test {} entities. * = best layer by test R2.\n\n", r.sweep.train_rows.size(),
                     r.sweep.test_rows.size());
  out += RenderSweepTable(r.sweep);
  const LayerResult* best = nullptr;
  for (const auto& l : r.sweep.layers)
    if (l.layer == r.sweep.best_layer) best = &l;
  if (best) {
    out += fmt::format("\nBest layer {}: test R2 {:.3f}", best->layer, best->test.r2);
    if (r.sweep.kind == TargetKind::kPlace) out += fmt::format(", median error {} km", KmCell(best->test.median_km));
    out += fmt::format(", proximity error {:.3f} (0.5 = chance)", best->test.proximity_error);
    if (r.sweep.shuffle_ran) out += fmt::format("; shuffled targets {:.3f}", best->shuffled_test_r2);
    out += "\n";
  }
  for (const auto& c : r.controls) {
    double m = c.test_r2.empty() ? 0 : *std::max_element(c.test_r2.begin(), c.test_r2.end());
    out += fmt::format("Control '{}': best test R2 {:.3f} across layers.\n", c.name, m);
  }
  for (const auto& h : r.holdouts)
    out += fmt::format("\nBlock hold-out by {} at layer {}:\n{}", h.group_column, h.layer, RenderHoldoutTable(h));
  for (const auto& c : r.cross_prompt)
    out += fmt::format("\nTrained on prompt '{}', tested on '{}':\n{}", c.train_prompt, c.test_prompt,
                       RenderCrossPromptTable(c));
  for (const auto& n : r.neurons) out += "\n" + RenderNeuronTable(n);
  return out;
}

std::string R2ByLayerSvg(const ProbeReport& r) {
  constexpr int kW = 640, kH = 360, kL = 56, kR = 170, kT = 30, kB = 44;
  const auto& layers = r.sweep.layers;
  double lo = 0, hi = 1;
  auto see = [&](double v) { lo = std::min(lo, std::max(v, -1.0)); };
  for (const auto& l : layers) see(l.test.r2), see(l.shuffled_test_r2), see(l.mlp_test.r2);
  for (const auto& c : r.controls)
    for (double v : c.test_r2) see(v);
  lo = std::floor(lo * 4) / 4;
  int64_t max_layer = layers.empty() ? 1 : std::max<int64_t>(1, layers.back().layer);
  Axis x{0, static_cast<double>(max_layer), kL, kW - kR};
  Axis y{lo, hi, kH - kB, kT};
  std::string svg = SvgOpen(kW, kH);
  svg += fmt::format("<text x=\"{}\" y=\"18\" font-size=\"14\">Test R\u00b2 by layer: {} on {}</text>\n", kL,
                     Escape(r.model), Escape(r.dataset));
  svg += NiceTicks(y, true, kL, kW - kR, static_cast<int>(std::round((hi - lo) * 4)));
  for (const auto& l : layers)
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", x(static_cast<double>(l.layer)),
                       kH - kB + 16, l.layer);
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">layer</text>\n", (kL + kW - kR) / 2, kH - 8);
  struct Series {
    std::string name;
    const char* colour;
    const char* dash;
    std::vector<std::pair<double, double>> pts;
  };
  std::vector<Series> series;
  auto clamp = [&](double v) { return std::max(v, lo); };
  Series lin{"linear probe", "#4e79a7", "", {}};
  for (const auto& l : layers) lin.pts.emplace_back(x(static_cast<double>(l.layer)), y(clamp(l.test.r2)));
  series.push_back(lin);
  if (r.sweep.mlp_ran) {
    Series s{"MLP probe", "#f28e2b", "", {}};
    for (const auto& l : layers) s.pts.emplace_back(x(static_cast<double>(l.layer)), y(clamp(l.mlp_test.r2)));
    series.push_back(s);
  }
  if (r.sweep.shuffle_ran) {
    Series s{"shuffled targets", "#bab0ac", "5,4", {}};
    for (const auto& l : layers) s.pts.emplace_back(x(static_cast<double>(l.layer)), y(clamp(l.shuffled_test_r2)));
    series.push_back(s);
  }
  const char* control_colours[] = {"#e15759", "#b07aa1", "#9c755f"};
  for (size_t c = 0; c < r.controls.size(); ++c) {
    Series s{r.controls[c].name, control_colours[c % 3], "2,3", {}};
    for (size_t i = 0; i < r.controls[c].test_r2.size(); ++i)
      s.pts.emplace_back(x(static_cast<double>(i)), y(clamp(r.controls[c].test_r2[i])));
    series.push_back(s);
  }
  for (size_t i = 0; i < series.size(); ++i) {
    svg += Polyline(series[i].pts, series[i].colour, series[i].dash);
    double ly = kT + 10 + 18.0 * static_cast<double>(i);
    svg += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"{}\" stroke-width=\"2\"/>"
                       "<text x=\"{}\" y=\"{:.1f}\">{}</text>\n",
                       kW - kR + 12, ly, kW - kR + 32, ly, series[i].colour, kW - kR + 38, ly + 4, Escape(series[i].name));
  }
  return svg + "</svg>\n";
}

std::string ScatterSvg(const SweepResult& s, size_t li, int target) {
  constexpr int kW = 420, kH = 420, kL = 60, kR = 20, kT = 34, kB = 46;
  std::string svg = SvgOpen(kW, kH);
  if (li >= s.layers.size() || target < 0 || target >= static_cast<int>(s.target_names.size())) return svg + "</svg>\n";
  const auto& l = s.layers[li];
  const size_t k = s.target_names.size(), n = s.test_rows.size();
  double lo = 1e300, hi = -1e300;
  for (size_t i = 0; i < n; ++i) {
    lo = std::min({lo, s.test_truth[i * k + target]});
    hi = std::max({hi, s.test_truth[i * k + target]});
  }
  if (!(hi > lo)) hi = lo + 1;
  double pad = (hi - lo) * 0.05;
  lo -= pad;
  hi += pad;
  Axis x{lo, hi, kL, kW - kR}, y{lo, hi, kH - kB, kT};
  svg += fmt::format("<text x=\"{}\" y=\"18\" font-size=\"14\">{}: predicted vs true, layer {} (R\u00b2 {:.3f})</text>\n",
                     kL, Escape(s.target_names[target]), l.layer, l.test.targets.size() > static_cast<size_t>(target) ? l.test.targets[target].r2 : 0.0);
  svg += NiceTicks(x, false, kT, kH - kB, 4) + NiceTicks(y, true, kL, kW - kR, 4);
  svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#999\" stroke-dasharray=\"4,3\"/>\n",
                     x(lo), y(lo), x(hi), y(hi));
  auto colours = ColourMap(s);
  for (size_t i = 0; i < n; ++i) {
    double p = std::clamp(l.test_predictions[i * k + target], lo, hi);
    auto it = colours.find(i < s.test_colour.size() ? s.test_colour[i] : "");
    svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"2.2\" fill=\"{}\" fill-opacity=\"0.7\"><title>{}</title></circle>\n",
                       x(s.test_truth[i * k + target]), y(p), it == colours.end() ? kOther : it->second,
                       Escape(i < s.test_entities.size() ? s.test_entities[i] : ""));
  }
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">true</text>\n", (kL + kW - kR) / 2, kH - 8);
  svg += fmt::format("<text x=\"14\" y=\"{}\" transform=\"rotate(-90 14 {})\" text-anchor=\"middle\">predicted</text>\n",
                     (kT + kH - kB) / 2, (kT + kH - kB) / 2);
  return svg + "</svg>\n";
}

std::string MapSvg(const SweepResult& s, size_t li) {
  if (s.kind != TargetKind::kPlace) {
    std::string svg = ScatterSvg(s, li, 0);
    return svg;
  }
  constexpr int kW = 900, kH = 470, kMapW = 720, kMapH = 360, kL = 10, kT = 40;
  std::string svg = SvgOpen(kW, kH);
  if (li >= s.layers.size()) return svg + "</svg>\n";
  const auto& l = s.layers[li];
  auto px = [&](double lon) { return kL + (std::clamp(lon, -180.0, 180.0) + 180.0) / 360.0 * kMapW; };
  auto py = [&](double lat) { return kT + (90.0 - std::clamp(lat, -90.0, 90.0)) / 180.0 * kMapH; };
  svg += fmt::format("<text x=\"{}\" y=\"20\" font-size=\"14\">Layer {}: predicted positions (coloured by {}); grey = "
                     "true positions. R\u00b2 {:.3f}, proximity error {:.3f}</text>\n",
                     kL, l.layer, Escape(s.colour_by.empty() ? "nothing" : s.colour_by), l.test.r2, l.test.proximity_error);
  svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#f7fbff\" stroke=\"#ccc\"/>\n", kL, kT, kMapW, kMapH);
  for (int lon = -150; lon <= 150; lon += 30)
    svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{}\" x2=\"{:.1f}\" y2=\"{}\" stroke=\"#e3e3e3\"/>\n", px(lon), kT, px(lon), kT + kMapH);
  for (int lat = -60; lat <= 60; lat += 30)
    svg += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#e3e3e3\"/>\n", kL, py(lat), kL + kMapW, py(lat));
  const size_t n = s.test_rows.size();
  for (size_t i = 0; i < n; ++i)
    svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"1.3\" fill=\"#d9d9d9\"/>\n", px(s.test_truth[i * 2 + 1]),
                       py(s.test_truth[i * 2]));
  auto colours = ColourMap(s);
  for (size_t i = 0; i < n; ++i) {
    auto it = colours.find(i < s.test_colour.size() ? s.test_colour[i] : "");
    svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"2\" fill=\"{}\" fill-opacity=\"0.75\"><title>{}</title></circle>\n",
                       px(l.test_predictions[i * 2 + 1]), py(l.test_predictions[i * 2]),
                       it == colours.end() ? kOther : it->second, Escape(i < s.test_entities.size() ? s.test_entities[i] : ""));
  }
  svg += Legend(colours, s, kL + kMapW + 18, kT + 8);
  return svg + "</svg>\n";
}

std::string ReportHtml(const ProbeReport& r) {
  std::string frames;
  for (size_t i = 0; i < r.sweep.layers.size(); ++i)
    frames += fmt::format("<div class=\"frame\" data-layer=\"{}\"{}>{}</div>\n", r.sweep.layers[i].layer,
                          i == 0 ? "" : " hidden", MapSvg(r.sweep, i));
  std::string scatters;
  for (size_t li = 0; li < r.sweep.layers.size(); ++li)
    if (r.sweep.layers[li].layer == r.sweep.best_layer)
      for (int t = 0; t < static_cast<int>(r.sweep.target_names.size()); ++t) scatters += ScatterSvg(r.sweep, li, t);
  std::string html = fmt::format(R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lmlab probe: {model} on {dataset}</title>
<style>
body {{ font-family: sans-serif; max-width: 1000px; margin: 2em auto; color: #222; }}
pre {{ font-size: 12px; background: #f6f6f6; padding: 1em; overflow-x: auto; }}
.controls {{ margin: 0.5em 0; }} input[type=range] {{ width: 420px; vertical-align: middle; }}
</style></head><body>
<h1>Space and time probe: {model} on {dataset}</h1>
<p>Linear (ridge) probes on the residual stream after every layer, read at the last token of each entity
(Gurnee &amp; Tegmark 2023, arXiv 2310.02207). Prompt template: <b>{prompt}</b>; {n} entities; {layers} layers &times; {embd}.</p>
<h2>R&sup2; by layer</h2>
{r2}
<h2>Across layers</h2>
<div class="controls"><button id="play">&#9654; play</button>
<input type="range" id="layer" min="0" max="{max}" value="0"> layer <span id="label">{first}</span></div>
{frames}
<h2>Best layer: predicted vs true</h2>
{scatters}
<h2>Tables</h2>
<pre>{text}</pre>
<script>
const frames = document.querySelectorAll('.frame');
const slider = document.getElementById('layer');
const label = document.getElementById('label');
function show(i) {{ frames.forEach((f, j) => f.hidden = j !== i); label.textContent = frames[i].dataset.layer; slider.value = i; }}
slider.addEventListener('input', () => show(Number(slider.value)));
let timer = null;
document.getElementById('play').addEventListener('click', (e) => {{
  if (timer) {{ clearInterval(timer); timer = null; e.target.textContent = '\u25b6 play'; return; }}
  e.target.textContent = '\u275a\u275a pause';
  timer = setInterval(() => show((Number(slider.value) + 1) % frames.length), 700);
}});
</script>
</body></html>
)",
                                 fmt::arg("model", Escape(r.model)), fmt::arg("dataset", Escape(r.dataset)),
                                 fmt::arg("prompt", Escape(r.prompt_template)), fmt::arg("n", r.n_entities),
                                 fmt::arg("layers", r.n_layers), fmt::arg("embd", r.n_embd), fmt::arg("r2", R2ByLayerSvg(r)),
                                 fmt::arg("max", r.sweep.layers.empty() ? 0 : r.sweep.layers.size() - 1),
                                 fmt::arg("first", r.sweep.layers.empty() ? 0 : r.sweep.layers[0].layer),
                                 fmt::arg("frames", frames), fmt::arg("scatters", scatters),
                                 fmt::arg("text", Escape(RenderReportText(r))));
  return html;
}

Result<std::vector<std::filesystem::path>> WriteReportFiles(const ProbeReport& r, const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> written;
  auto write = [&](const std::string& name, const std::string& text) -> Status {
    LMLAB_RETURN_IF_ERROR(WriteFileAtomic(dir / name, text));
    written.push_back(dir / name);
    return {};
  };
  nlohmann::json j = r;
  LMLAB_RETURN_IF_ERROR(write("report.json", j.dump(1)));
  LMLAB_RETURN_IF_ERROR(write("r2_by_layer.svg", R2ByLayerSvg(r)));
  for (size_t li = 0; li < r.sweep.layers.size(); ++li) {
    if (r.sweep.layers[li].layer == r.sweep.best_layer)
      for (int t = 0; t < static_cast<int>(r.sweep.target_names.size()); ++t)
        LMLAB_RETURN_IF_ERROR(write(fmt::format("scatter_{}.svg", r.sweep.target_names[t]), ScatterSvg(r.sweep, li, t)));
    LMLAB_RETURN_IF_ERROR(write(fmt::format("map_layer_{:02d}.svg", r.sweep.layers[li].layer), MapSvg(r.sweep, li)));
  }
  LMLAB_RETURN_IF_ERROR(write("index.html", ReportHtml(r)));
  return written;
}

}  // namespace lmlab::probe
