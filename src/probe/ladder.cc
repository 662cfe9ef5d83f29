#include "lmlab/probe/ladder.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "lmlab/core/file.h"
#include "lmlab/core/format.h"
#include "lmlab/core/svg_chart.h"
#include "lmlab/core/table.h"
#include "lmlab/probe/render.h"
#include "lmlab/runtime/gguf_reader.h"
#include "lmlab/train/world_model.h"

namespace lmlab::probe {
namespace fs = std::filesystem;
namespace {

constexpr double kGoalGap = 0.3;         // issue 17: the largest rung beats its strongest control by this
constexpr double kGoalProximity = 0.05;  // held-out blocks within this of the standard split

Result<int64_t> CountParams(const fs::path& gguf) {
  LMLAB_ASSIGN_OR_RETURN(std::vector<runtime::GgufTensorInfo> tensors, runtime::ListGgufTensors(gguf));
  int64_t n = 0;
  for (const auto& t : tensors) {
    int64_t c = 1;
    for (int64_t d : t.shape) c *= d;
    n += c;
  }
  return n;
}

std::string F3(double v) { return FormatFixed(v, 3); }

}  // namespace

std::vector<LadderGoal> EvaluateLadderGoals(const std::vector<LadderRow>& rows) {
  std::vector<LadderGoal> goals;
  std::vector<std::string> datasets;
  for (const LadderRow& r : rows)
    if (std::find(datasets.begin(), datasets.end(), r.dataset) == datasets.end()) datasets.push_back(r.dataset);
  for (const std::string& ds : datasets) {
    std::vector<const LadderRow*> rs;
    for (const LadderRow& r : rows)
      if (r.dataset == ds) rs.push_back(&r);
    if (rs.empty()) continue;
    const LadderRow& top = *rs.back();
    goals.push_back({fmt::format("{}: the largest rung beats its strongest control by >= {} R^2", ds, kGoalGap),
                     top.headline.gap >= kGoalGap,
                     fmt::format("rung {}: {} against {} ({}), gap {:+.3f}", top.rung, F3(top.headline.r2),
                                 F3(top.headline.control_r2), top.headline.strongest_control, top.headline.gap)});
    bool grows = rs.size() >= 2;
    std::string gaps;
    for (size_t i = 0; i < rs.size(); ++i) {
      gaps += fmt::format("{}{} {:+.3f}", i ? ", " : "", rs[i]->rung, rs[i]->headline.gap);
      if (i > 0 && rs[i]->headline.gap < rs[i - 1]->headline.gap) grows = false;
    }
    goals.push_back({fmt::format("{}: the gap grows with size", ds), grows,
                     rs.size() < 2 ? "needs at least two rungs" : "gaps: " + gaps});
    if (top.holdout_block_proximity >= 0) {
      const double diff = top.holdout_block_proximity - top.holdout_baseline_proximity;
      goals.push_back({fmt::format("{}: held-out blocks' proximity error within {} of the standard split's", ds,
                                   kGoalProximity),
                       diff <= kGoalProximity,
                       fmt::format("rung {}: {} for held-out blocks vs {} (difference {:+.3f})", top.rung,
                                   F3(top.holdout_block_proximity), F3(top.holdout_baseline_proximity), diff)});
    }
  }
  return goals;
}

Result<LadderReport> RunLadder(const LadderOptions& o) {
  const train::WorldRecipe recipe = train::WorldModelRecipe();
  std::vector<std::string> rungs = o.rungs;
  if (rungs.empty())
    for (const train::WorldRung& g : recipe.ladder) rungs.push_back(g.name);
  for (const std::string& r : rungs) LMLAB_RETURN_IF_ERROR(train::FindRung(recipe, r));
  if (o.datasets.empty()) return InvalidArgument("the ladder needs at least one dataset");

  LadderReport report;
  report.protocol = std::string(ProtocolName(o.protocol));
  for (const std::string& rung : rungs) {
    LMLAB_ASSIGN_OR_RETURN(train::WorldModelBuild b, train::BuildWorldModel(recipe, rung, train::Rebuild::kIfMissing,
                                                                            o.progress, o.threads));
    LMLAB_ASSIGN_OR_RETURN(int64_t n_params, CountParams(b.path));
    for (const std::string& dataset : o.datasets) {
      StudyOptions s;
      s.model.gguf_path = b.path.string();
      s.model.threads = o.threads;
      s.dataset.source = dataset;
      s.dataset.limit = 0;
      s.protocol = o.protocol;
      s.mlp = o.mlp;
      if (o.holdout) {
        LMLAB_ASSIGN_OR_RETURN(EntityDataset ds, LoadDataset(s.dataset));
        for (const char* column : {"country", "century", "decade", "state"})
          if (ds.group_index(column) >= 0) {
            s.holdout = {column};
            break;
          }
      }
      s.cache_root = o.cache_root;
      s.memory_cap_bytes = o.memory_cap_bytes;
      s.seed = o.seed;
      s.progress = o.progress;
      LMLAB_ASSIGN_OR_RETURN(ProbeReport r, RunStudy(s));
      LadderRow row;
      row.rung = b.rung.name;
      row.n_layers = r.n_layers;
      row.n_embd = r.n_embd;
      row.n_params = n_params;
      row.train_seconds = b.built ? b.training.seconds : -1;
      row.model = b.path.string();
      row.dataset = r.dataset;
      row.headline = r.headline;
      for (const LayerResult& l : r.sweep.layers)
        if (l.layer == r.sweep.best_layer) {
          row.mlp_r2 = l.mlp_test.r2;
          row.proximity_error = l.test.proximity_error;
        }
      row.controls = r.controls;
      if (!r.holdouts.empty()) {
        row.holdout_block_proximity = r.holdouts[0].mean_block_proximity;
        row.holdout_baseline_proximity = r.holdouts[0].mean_random_proximity;
      }
      report.rows.push_back(std::move(row));
      report.reports.push_back(std::move(r));
    }
  }
  report.goals = EvaluateLadderGoals(report.rows);
  return report;
}

std::string RenderLadderText(const LadderReport& r) {
  std::vector<std::string> controls;
  for (const LadderRow& row : r.rows)
    for (const ControlRun& c : row.controls)
      if (std::find(controls.begin(), controls.end(), c.name) == controls.end()) controls.push_back(c.name);
  std::vector<std::string> headers = {"rung", "shape", "params", "dataset", "best layer", "linear R2", "MLP R2"};
  for (const auto& c : controls) headers.push_back(c + " R2");
  headers.insert(headers.end(), {"gap to strongest", "prox err", "hold-out prox (block / split)"});
  std::vector<Align> align(headers.size(), Align::kRight);
  align[0] = align[3] = Align::kLeft;
  Table t(headers, align);
  for (const LadderRow& row : r.rows) {
    std::vector<std::string> cells = {row.rung, fmt::format("{} x {}", row.n_layers, row.n_embd),
                                      FormatThousands(static_cast<double>(row.n_params)), row.dataset,
                                      std::to_string(row.headline.layer), F3(row.headline.r2),
                                      row.mlp_r2 != 0 ? F3(row.mlp_r2) : "-"};
    for (const auto& name : controls) {
      std::string cell = "-";
      for (const ControlRun& c : row.controls)
        if (c.name == name) cell = F3(c.best_r2);
      cells.push_back(cell);
    }
    cells.push_back(fmt::format("{:+.3f}", row.headline.gap));
    cells.push_back(F3(row.proximity_error));
    cells.push_back(row.holdout_block_proximity >= 0
                        ? fmt::format("{} / {}", F3(row.holdout_block_proximity), F3(row.holdout_baseline_proximity))
                        : "-");
    t.AddRow(cells);
  }
  std::string out = fmt::format("lmlab's world-model ladder, protocol {} (controls at their best layer):\n{}",
                                r.protocol, t.Render());
  out += "\nGoals (issue 17):\n";
  for (const LadderGoal& g : r.goals) out += fmt::format("  [{}] {}: {}\n", g.met ? "met" : "NOT met", g.name, g.detail);
  for (const LadderRow& row : r.rows)
    if (row.train_seconds >= 0)
      out += fmt::format("Trained rung {} in this run: {} s.\n", row.rung, FormatFixed(row.train_seconds, 0));
  return out;
}

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(LadderGoal, name, met, detail)

void to_json(nlohmann::json& j, const LadderReport& r) {
  nlohmann::json rows = nlohmann::json::array();
  for (const LadderRow& row : r.rows)
    rows.push_back({{"rung", row.rung},
                    {"n_layers", row.n_layers},
                    {"n_embd", row.n_embd},
                    {"n_params", row.n_params},
                    {"train_seconds", row.train_seconds},
                    {"model", row.model},
                    {"dataset", row.dataset},
                    {"headline", row.headline},
                    {"mlp_r2", row.mlp_r2},
                    {"proximity_error", row.proximity_error},
                    {"controls", row.controls},
                    {"holdout_block_proximity", row.holdout_block_proximity},
                    {"holdout_baseline_proximity", row.holdout_baseline_proximity}});
  j = {{"protocol", r.protocol}, {"rows", rows}, {"goals", r.goals}};
}

Result<std::vector<fs::path>> WriteLadderFiles(const LadderReport& r, const fs::path& dir) {
  std::vector<fs::path> written;
  std::string runs;
  for (size_t i = 0; i < r.reports.size() && i < r.rows.size(); ++i) {
    const std::string sub = fmt::format("{}-{}", r.rows[i].rung, r.rows[i].dataset);
    LMLAB_ASSIGN_OR_RETURN(std::vector<fs::path> files, WriteReportFiles(r.reports[i], dir / sub));
    written.insert(written.end(), files.begin(), files.end());
    runs += fmt::format("<h2>Rung {} on {}</h2>\n<p>{} <a href=\"{}/index.html\">(every table)</a></p>\n{}\n{}\n",
                        chart::EscapeHtml(r.rows[i].rung), chart::EscapeHtml(r.rows[i].dataset),
                        chart::EscapeHtml(HeadlineText(r.reports[i])), sub, R2ByLayerSvg(r.reports[i]),
                        AnimatedMapSvg(r.reports[i].sweep));
  }
  nlohmann::json j = r;
  LMLAB_RETURN_IF_ERROR(WriteFileAtomic(dir / "ladder.json", j.dump(1)));
  written.push_back(dir / "ladder.json");
  const std::string html = fmt::format(R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lmlab probe ladder</title>
<style>body {{ font-family: sans-serif; max-width: 1000px; margin: 2em auto; color: #222; }}
pre {{ font-size: 12px; background: #f6f6f6; padding: 1em; overflow-x: auto; }}</style></head><body>
<h1>A map and a timeline in lmlab's world models</h1>
<p>Models trained on relations only (no coordinates, no dates), probed with the controls (Gurnee &amp; Tegmark 2023,
arXiv 2310.02207). The maps cycle through the layers.</p>
<pre>{}</pre>
{}
</body></html>
)",
                                       chart::EscapeHtml(RenderLadderText(r)), runs);
  LMLAB_RETURN_IF_ERROR(WriteFileAtomic(dir / "ladder.html", html));
  written.push_back(dir / "ladder.html");
  return written;
}

}  // namespace lmlab::probe
