#include "lmlab/probe/render.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>

#include "lmlab/core/file.h"
#include "lmlab/core/format.h"
#include "lmlab/core/json.h"
#include "lmlab/core/svg_chart.h"
#include "lmlab/core/table.h"

namespace lmlab::probe {
namespace {

// Tableau 10: distinguishable, colour-blind-friendlier than rainbow.
constexpr const char* kPalette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                    "#edc948", "#b07aa1", "#ff9da7", "#9c755f"};
constexpr const char* kOther = "#7f7f7f";  // darker than the grey true positions on maps
constexpr int kMaxColours = 9;

std::string F3(double v) { return FormatFixed(v, 3); }

// Test entities as chart series, one per colour group (sweep.colour_by): the
// kMaxColours most frequent groups in palette colours, most frequent first,
// then the rest in one grey "other" series. point(i) is where test entity i
// goes; its name is the point's hover text.
template <typename PointFn>
std::vector<chart::Series> SeriesByColour(const SweepResult& s, double radius, PointFn point) {
  std::map<std::string, int> counts;
  for (const auto& c : s.test_colour) ++counts[c];
  std::vector<std::pair<std::string, int>> sorted(counts.begin(), counts.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<chart::Series> out;
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < sorted.size() && static_cast<int>(i) < kMaxColours; ++i) {
    index[sorted[i].first] = out.size();
    out.push_back({.name = sorted[i].first.empty() ? "(none)" : sorted[i].first, .colour = kPalette[i]});
  }
  size_t other = out.size();
  for (size_t i = 0; i < s.test_rows.size(); ++i) {
    auto it = index.find(i < s.test_colour.size() ? s.test_colour[i] : "");
    if (it == index.end() && other == out.size())
      out.push_back({.name = index.empty() ? "" : "other", .colour = kOther});
    chart::Series& series = out[it == index.end() ? other : it->second];
    auto [x, y] = point(i);
    series.x.push_back(x);
    series.y.push_back(y);
    series.titles.push_back(i < s.test_entities.size() ? s.test_entities[i] : "");
  }
  for (auto& series : out) series.marker_radius = radius;
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
  std::vector<std::string> headers = {h.group_column, "n", "prox err (block)", "prox err (baseline)", "R2 (block)",
                                      "R2 (baseline)"};
  if (km) headers.insert(headers.end(), {"km (block)", "km (baseline)"});
  std::vector<Align> align(headers.size(), Align::kRight);
  align[0] = Align::kLeft;
  Table t(headers, align);
  for (const auto& b : h.blocks) {
    const bool base = b.baseline_n > 0 || h.baseline.empty();  // reports from before baseline_n had one always
    std::vector<std::string> row = {b.block, std::to_string(b.n), F3(b.block_proximity),
                                    base ? F3(b.random_proximity) : "-", F3(b.block_r2), base ? F3(b.random_r2) : "-"};
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
  if (n.stream == "mlp" && !n.by_activation.empty()) {
    const bool cos = !n.weights.empty();
    std::vector<std::string> head = {"target", "neuron", "Pearson r"};
    if (cos) head.push_back("cos(ffn_down, probe)");
    Table t(head, {Align::kLeft, Align::kRight, Align::kRight, Align::kRight});
    for (const auto& h : n.by_activation) {
      std::vector<std::string> row = {h.target, std::to_string(h.index), F3(h.correlation)};
      if (cos) row.push_back(F3(h.cosine));
      t.AddRow(row);
    }
    out += fmt::format("MLP neurons of block {} (activations entering ffn_down) most correlated with the target:\n{}",
                       n.layer, t.Render());
  } else if (!n.by_activation.empty()) {
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

std::string RenderControlTable(const ProbeReport& r) {
  if (r.controls.empty()) return "";
  std::vector<std::string> headers = {"layer", "probe R2"};
  for (const auto& c : r.controls) headers.push_back(c.name + " R2");
  headers.push_back("probe - strongest");
  Table t(headers, std::vector<Align>(headers.size(), Align::kRight));
  for (const auto& l : r.sweep.layers) {
    std::vector<std::string> row = {std::to_string(l.layer) + (l.layer == r.sweep.best_layer ? "*" : ""), F3(l.test.r2)};
    double strongest = -1e300;
    for (const auto& c : r.controls) {
      // A control without layers (the static embedding) holds one value for every row.
      double v = std::nan("");
      for (size_t i = 0; i < c.layers.size() && i < c.test_r2.size(); ++i)
        if (c.layers[i] == l.layer || c.layers[i] < 0) v = c.test_r2[i];
      row.push_back(std::isnan(v) ? "-" : F3(v));
      if (!std::isnan(v)) strongest = std::max(strongest, v);
    }
    row.push_back(strongest > -1e300 ? F3(l.test.r2 - strongest) : "-");
    t.AddRow(row);
  }
  return t.Render();
}

std::string HeadlineText(const ProbeReport& r) {
  const Headline& h = r.headline;
  if (h.strongest_control.empty())
    return fmt::format("Best layer {}: test R2 {:.3f}; no control ran, so nothing says how much of it the model "
                       "learned.",
                       h.layer, h.r2);
  std::string verdict = h.gap >= 0.3   ? "well above every control"
                        : h.gap >= 0.1 ? "above every control, by a modest margin"
                        : h.gap > 0    ? "barely above the strongest control: little beyond what it gives"
                                       : "not above the strongest control: no evidence of a learned map/timeline";
  return fmt::format("Best layer {}: test R2 {:.3f} against {:.3f} for the strongest control ({}): gap {:+.3f}, {}.",
                     h.layer, h.r2, h.control_r2, h.strongest_control, h.gap, verdict);
}

std::string RenderReportText(const ProbeReport& r) {
  std::string out = fmt::format("Probe: {} on {} ({} entities, prompt '{}', protocol {}), {} layers x {}\n", r.model,
                                r.dataset, r.n_entities, r.prompt_template, r.protocol, r.n_layers, r.n_embd);
  if (!r.prompt_example.empty()) out += fmt::format("First prompt: \"{}\"\n", r.prompt_example);
  if (!r.target_note.empty()) out += fmt::format("Target: {}\n", r.target_note);
  if (!r.alphas.empty())
    out += fmt::format("Penalties: {} from {} to {} ({} edges)\n", r.alphas.size(), FormatSignificant(r.alphas.front(), 3),
                       FormatSignificant(r.alphas.back(), 3), r.grid_edge.empty() ? "kept" : r.grid_edge);
  out += fmt::format("Train {} / test {} entities. * = best layer by test R2.\n\n", r.sweep.train_rows.size(),
                     r.sweep.test_rows.size());
  out += RenderSweepTable(r.sweep);
  if (!r.controls.empty()) out += "\nThe probe against each control (test R2):\n" + RenderControlTable(r);
  out += "\n" + HeadlineText(r) + "\n";
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
  for (const auto& c : r.controls)
    out += fmt::format("Control '{}': best test R2 {:.3f}{}. {}\n", c.name, c.best_r2,
                       c.best_layer >= 0 ? fmt::format(" (layer {})", c.best_layer) : "", c.detail);
  for (const auto& note : r.notes) out += "Note: " + note + "\n";
  for (const auto& h : r.holdouts)
    out += fmt::format("\nBlock hold-out by {} at layer {} (penalty {}, baseline: {}):\n{}", h.group_column, h.layer,
                       h.alpha > 0 ? FormatSignificant(h.alpha, 3) : "by leave-one-out per fit",
                       h.baseline.empty() ? "random split" : h.baseline, RenderHoldoutTable(h));
  for (const auto& c : r.cross_prompt)
    out += fmt::format("\nTrained on prompt '{}', tested on '{}':\n{}", c.train_prompt, c.test_prompt,
                       RenderCrossPromptTable(c));
  for (const auto& n : r.neurons) out += "\n" + RenderNeuronTable(n);
  return out;
}

std::string R2ByLayerSvg(const ProbeReport& r) {
  const auto& layers = r.sweep.layers;
  // R^2 from the lowest quarter seen (at least -1) to 1; lower values sit on the bottom edge.
  double lo = 0;
  auto see = [&](double v) { lo = std::min(lo, std::max(v, -1.0)); };
  for (const auto& l : layers) see(l.test.r2), see(l.shuffled_test_r2), see(l.mlp_test.r2);
  for (const auto& c : r.controls)
    for (double v : c.test_r2) see(v);
  lo = std::floor(lo * 4) / 4;
  chart::ChartOptions o{.title = fmt::format("Test R\u00b2 by layer: {} on {}", r.model, r.dataset),
                        .x_label = "layer",
                        .y_label = "test R\u00b2",
                        .width = 640,
                        .height = 360};
  o.y_min = lo;
  o.y_max = 1;
  for (int q = 0; lo + q * 0.25 <= 1 + 1e-9; ++q) o.y_ticks.push_back(lo + q * 0.25);
  if (layers.size() <= 20)  // every layer labelled while the labels fit; nice steps beyond
    for (const auto& l : layers) o.x_ticks.push_back(static_cast<double>(l.layer));
  auto clamp = [&](double v) { return std::max(v, lo); };
  std::vector<chart::Series> series;
  auto add = [&](std::string name, const char* colour, const char* dash, auto value) {
    chart::Series s{.name = std::move(name), .colour = colour, .dash = dash};
    for (const auto& l : layers) s.x.push_back(static_cast<double>(l.layer)), s.y.push_back(clamp(value(l)));
    series.push_back(std::move(s));
  };
  add("linear probe", kPalette[0], "", [](const LayerResult& l) { return l.test.r2; });
  if (r.sweep.mlp_ran) add("MLP probe", kPalette[1], "", [](const LayerResult& l) { return l.mlp_test.r2; });
  if (r.sweep.shuffle_ran)
    add("shuffled targets", "#bab0ac", "5,4", [](const LayerResult& l) { return l.shuffled_test_r2; });
  const char* control_colours[] = {"#e15759", "#b07aa1", "#9c755f"};
  size_t colour = 0;
  for (const ControlRun& c : r.controls) {
    if (c.name == "shuffled targets" && r.sweep.shuffle_ran) continue;  // drawn above from the sweep
    chart::Series s{.name = c.name, .colour = control_colours[colour++ % 3], .dash = "2,3"};
    const bool flat = !c.layers.empty() && c.layers[0] < 0;  // the static embedding: one value, every layer
    if (flat && !c.test_r2.empty()) {
      for (const auto& l : layers) s.x.push_back(static_cast<double>(l.layer)), s.y.push_back(clamp(c.test_r2[0]));
    } else {
      for (size_t i = 0; i < c.test_r2.size(); ++i)
        s.x.push_back(static_cast<double>(i < c.layers.size() ? c.layers[i] : static_cast<int64_t>(i))),
            s.y.push_back(clamp(c.test_r2[i]));
    }
    series.push_back(std::move(s));
  }
  return chart::LineChartSvg(o, series);
}

std::string ScatterSvg(const SweepResult& s, size_t li, int target) {
  chart::ChartOptions o{.x_label = "true", .y_label = "predicted", .width = 460, .style = chart::ChartStyle::kPoints};
  o.aspect = 1;
  o.identity_line = true;
  if (li >= s.layers.size() || target < 0 || target >= static_cast<int>(s.target_names.size()))
    return chart::LineChartSvg(o, {});
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
  // The same range on both axes, so the diagonal is "predicted = true"; wild predictions sit on the edge.
  o.x_min = o.y_min = lo;
  o.x_max = o.y_max = hi;
  o.title = fmt::format("{}: predicted vs true, layer {} (R\u00b2 {:.3f})", s.target_names[target], l.layer,
                        l.test.targets.size() > static_cast<size_t>(target) ? l.test.targets[target].r2 : 0.0);
  return chart::LineChartSvg(o, SeriesByColour(s, 2.2, [&](size_t i) {
                               return std::pair(s.test_truth[i * k + target],
                                                std::clamp(l.test_predictions[i * k + target], lo, hi));
                             }));
}

std::string MapSvg(const SweepResult& s, size_t li) {
  if (s.kind != TargetKind::kPlace) return ScatterSvg(s, li, 0);
  // Equirectangular: longitude along x, latitude up y, 2:1.
  chart::ChartOptions o{
      .x_label = "longitude", .y_label = "latitude", .width = 820, .style = chart::ChartStyle::kPoints};
  o.aspect = 2;
  o.x_min = -180, o.x_max = 180, o.y_min = -90, o.y_max = 90;
  for (int d = -180; d <= 180; d += 30) o.x_ticks.push_back(d);
  for (int d = -90; d <= 90; d += 30) o.y_ticks.push_back(d);
  if (li >= s.layers.size()) return chart::LineChartSvg(o, {});
  const auto& l = s.layers[li];
  o.title = fmt::format("Layer {}: predicted positions, coloured by {}. R\u00b2 {:.3f}, proximity error {:.3f}",
                        l.layer, s.colour_by.empty() ? "nothing" : s.colour_by, l.test.r2, l.test.proximity_error);
  const size_t n = s.test_rows.size();
  // Light grey under the points' 0.75 opacity, behind the coloured predictions.
  chart::Series truth{.name = "true position", .colour = "#c8c8c8", .marker_radius = 1.3};
  for (size_t i = 0; i < n; ++i) truth.x.push_back(s.test_truth[i * 2 + 1]), truth.y.push_back(s.test_truth[i * 2]);
  std::vector<chart::Series> series = {truth};
  for (auto& c : SeriesByColour(s, 2, [&](size_t i) {
         return std::pair(std::clamp(l.test_predictions[i * 2 + 1], -180.0, 180.0),
                          std::clamp(l.test_predictions[i * 2], -90.0, 90.0));
       }))
    series.push_back(std::move(c));
  return chart::LineChartSvg(o, series);
}

std::string AnimatedMapSvg(const SweepResult& s, double seconds_per_layer) {
  const size_t n = s.layers.size();
  if (n == 0) return MapSvg(s, 0);
  if (n == 1) return MapSvg(s, 0);
  // Each layer's map is a nested <svg>, shown for its share of the cycle by a
  // discrete SMIL animation of its visibility: no script, so it animates
  // wherever the SVG is inlined (the demo report, an image viewer).
  std::string frames;
  int width = 820, height = 0;
  for (size_t i = 0; i < n; ++i) {
    std::string frame = MapSvg(s, i);
    if (height == 0) {
      // The frame's own size, read from its root element.
      const size_t w = frame.find("width=\""), h = frame.find("height=\"");
      if (w != std::string::npos) width = std::atoi(frame.c_str() + w + 7);
      if (h != std::string::npos) height = std::atoi(frame.c_str() + h + 8);
    }
    const double a = static_cast<double>(i) / static_cast<double>(n), b = static_cast<double>(i + 1) / static_cast<double>(n);
    std::string values, times;
    if (i == 0) values = "visible;hidden", times = fmt::format("0;{:.6f}", b);
    else if (i + 1 == n) values = "hidden;visible", times = fmt::format("0;{:.6f}", a);
    else values = "hidden;visible;hidden", times = fmt::format("0;{:.6f};{:.6f}", a, b);
    frames += fmt::format(
        "<g visibility=\"{}\"><animate attributeName=\"visibility\" calcMode=\"discrete\" values=\"{}\" "
        "keyTimes=\"{}\" dur=\"{:.2f}s\" repeatCount=\"indefinite\"/>{}</g>\n",
        i == 0 ? "visible" : "hidden", values, times, seconds_per_layer * static_cast<double>(n), frame);
  }
  if (height == 0) height = width / 2 + 80;
  return fmt::format("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\">"
                     "<title>Predicted positions layer by layer ({2} layers, {3:.1f} s each)</title>\n{4}</svg>",
                     width, height, n, seconds_per_layer, frames);
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
  std::string html =
      fmt::format(R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lmlab probe: {model} on {dataset}</title>
<style>
body {{ font-family: sans-serif; max-width: 1000px; margin: 2em auto; color: #222; }}
pre {{ font-size: 12px; background: #f6f6f6; padding: 1em; overflow-x: auto; }}
.controls {{ margin: 0.5em 0; }} input[type=range] {{ width: 420px; vertical-align: middle; }}
</style></head><body>
<h1>Space and time probe: {model} on {dataset}</h1>
<p>Linear (ridge) probes on the residual stream after every layer, read at the last token of each entity
(Gurnee &amp; Tegmark 2023, arXiv 2310.02207). Protocol <b>{protocol}</b>, prompt template <b>{prompt}</b>; {n} entities; {layers} layers &times; {embd}.</p>
<p><b>{headline}</b></p>
<h2>R&sup2; by layer, with the controls</h2>
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
                  fmt::arg("model", chart::EscapeHtml(r.model)), fmt::arg("dataset", chart::EscapeHtml(r.dataset)),
                  fmt::arg("prompt", chart::EscapeHtml(r.prompt_template)),
                  fmt::arg("protocol", chart::EscapeHtml(r.protocol)),
                  fmt::arg("headline", chart::EscapeHtml(HeadlineText(r))), fmt::arg("n", r.n_entities),
                  fmt::arg("layers", r.n_layers), fmt::arg("embd", r.n_embd), fmt::arg("r2", R2ByLayerSvg(r)),
                  fmt::arg("max", r.sweep.layers.empty() ? 0 : r.sweep.layers.size() - 1),
                  fmt::arg("first", r.sweep.layers.empty() ? 0 : r.sweep.layers[0].layer), fmt::arg("frames", frames),
                  fmt::arg("scatters", scatters), fmt::arg("text", chart::EscapeHtml(RenderReportText(r))));
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
  LMLAB_RETURN_IF_ERROR(write("report.json", DumpJson(j, 1)));
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
