// How a probe run is shown: per-layer tables for people, SVG plots (R^2 by
// layer, predicted vs true, a map of predicted points per layer coloured by
// country/continent/decade) and one HTML page that animates the map across
// layers. The CLI and `lmlab probe report` use these; plots are plain SVG
// (core/svg_chart.h line charts) so they open in any browser and diff in review.
//
//   std::cout << RenderReportText(report);
//   LMLAB_RETURN_IF_ERROR(WriteReportFiles(report, "probe-out"));  // index.html, *.svg, report.json
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/probe/experiment.h"

namespace lmlab::probe {

// The per-layer table of a sweep (R^2, correlations, errors, controls).
std::string RenderSweepTable(const SweepResult& sweep);
std::string RenderHoldoutTable(const HoldoutResult& holdout);
std::string RenderCrossPromptTable(const CrossPromptResult& cross);
std::string RenderNeuronTable(const NeuronSearchResult& neurons);
// Per layer: the probe's test R^2, each control's, and the gap to the strongest.
std::string RenderControlTable(const ProbeReport& report);
// One sentence: the best layer against the strongest control, and what that says.
std::string HeadlineText(const ProbeReport& report);
// Everything above plus a summary against the controls.
std::string RenderReportText(const ProbeReport& report);

// Test R^2 by layer: linear probe, MLP control, shuffled targets, each control run.
std::string R2ByLayerSvg(const ProbeReport& report);
// Predicted against true for one target at one layer (index into sweep.layers).
std::string ScatterSvg(const SweepResult& sweep, size_t layer_index, int target);
// Places: predicted points on an equirectangular longitude/latitude chart over
// the true points (light grey); times: predicted against true year. Coloured by
// sweep.colour_by (the nine largest groups; the rest grey as "other").
std::string MapSvg(const SweepResult& sweep, size_t layer_index);
// The maps of every layer in one SVG that cycles through them (SMIL, no
// script): for pages that cannot run the HTML page's slider.
std::string AnimatedMapSvg(const SweepResult& sweep, double seconds_per_layer = 0.8);
// A self-contained page: summary, R^2 chart, tables, and the map animated across layers.
std::string ReportHtml(const ProbeReport& report);

// Writes report.json, r2_by_layer.svg, scatter_<target>.svg (best layer),
// map_layer_<L>.svg for every layer, and index.html into `dir`, each atomically.
// Returns the paths written.
Result<std::vector<std::filesystem::path>> WriteReportFiles(const ProbeReport& report, const std::filesystem::path& dir);

}  // namespace lmlab::probe
