// Model shapes, presets, Epoch AI's two methods and calibration from a log.
#include <fmt/format.h>

#include "lmlab/core/format.h"
#include "lmlab/core/table.h"
#include "lmlab/plan/render.h"
#include "plan/render_util.h"

namespace lmlab::plan {
using internal::Count;
using internal::Opt;

namespace {

std::string MlpName(const ModelShape& m) { return m.mlp == MlpKind::kGated ? "gated" : "plain"; }

}  // namespace

std::string RenderModelText(const ModelShape& m, const ParamCount& n) {
  std::string out = fmt::format("model           {}: {} parameters ({})", m.name, FormatThousands(n.total), Count(n.total));
  if (m.moe()) out += fmt::format(", {} active per token ({})", FormatThousands(n.active), Count(n.active));
  out += fmt::format(", {} non-embedding\n", Count(n.non_embedding()));
  out += fmt::format("shape           {} layers x {}, {} heads / {} KV heads x {}, {} MLP {}, vocab {}, {} embeddings\n",
                     m.layers, m.hidden, m.heads, m.kv_heads, m.head_dim, MlpName(m), m.intermediate,
                     FormatThousands(static_cast<double>(m.vocab)), m.embeddings == Embeddings::kTied ? "tied" : "untied");
  if (m.moe())
    out += fmt::format("experts         {} experts, {} per token, expert MLP {}{}{}\n", m.experts, m.experts_per_token,
                       m.expert_intermediate,
                       m.shared_expert_intermediate > 0 ? fmt::format(", shared expert {}", m.shared_expert_intermediate) : "",
                       m.dense_layers > 0 ? fmt::format(", first {} layers dense", m.dense_layers) : "");
  if (!m.source.empty()) out += "source          " + m.source + "\n";
  for (const std::string& a : m.assumed) out += "assumed         " + a + "\n";
  return out;
}

nlohmann::json ToJson(const ModelShape& m, const ParamCount& n) {
  return {{"name", m.name},
          {"model_type", m.model_type},
          {"hidden_size", m.hidden},
          {"num_hidden_layers", m.layers},
          {"num_attention_heads", m.heads},
          {"num_key_value_heads", m.kv_heads},
          {"head_dim", m.head_dim},
          {"intermediate_size", m.intermediate},
          {"vocab_size", m.vocab},
          {"tie_word_embeddings", m.embeddings == Embeddings::kTied},
          {"mlp", MlpName(m)},
          {"num_experts", m.experts},
          {"num_experts_per_tok", m.experts_per_token},
          {"moe_intermediate_size", m.expert_intermediate},
          {"shared_expert_intermediate_size", m.shared_expert_intermediate},
          {"source", m.source},
          {"assumed", m.assumed},
          {"params",
           {{"total", n.total},
            {"active", n.active},
            {"non_embedding", n.non_embedding()},
            {"embedding", n.embedding},
            {"output_head", n.output_head},
            {"attention", n.attention},
            {"mlp", n.mlp},
            {"mlp_active", n.mlp_active},
            {"norms", n.norms},
            {"matmul_active", n.matmul_active}}}};
}

std::string RenderPresetsText(const ModelPresets& presets) {
  Table t({"preset", "model", "lmlab count", "published", "diff", "active", "KV/token (f16)"},
          {Align::kLeft, Align::kLeft, Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight});
  for (const ModelPreset& p : presets.presets()) {
    ParamCount n = CountParams(p.shape);
    t.AddRow({p.id, p.name, FormatThousands(n.total), Count(p.published_total),
              FormatFixed((n.total / p.published_total - 1) * 100, 2) + "%", p.shape.moe() ? Count(n.active) : "",
              FormatBytes(KvBytesPerToken(p.shape, 2.0))});
  }
  return t.Render() + "sources: lmlab plan --list-models --json\n";
}

nlohmann::json ToJson(const ModelPresets& presets) {
  nlohmann::json arr = nlohmann::json::array();
  for (const ModelPreset& p : presets.presets()) {
    nlohmann::json j = ToJson(p.shape, CountParams(p.shape));
    j["id"] = p.id;
    j["display_name"] = p.name;
    j["aliases"] = p.aliases;
    j["published"] = {{"total", p.published_total},
                      {"active", Opt(p.published_active)},
                      {"non_embedding", Opt(p.published_non_embedding)},
                      {"source", p.published_source}};
    arr.push_back(j);
  }
  return {{"models", arr}};
}

std::string RenderEpochText(const EpochEstimate& e) {
  std::string out = "Epoch AI's two methods:\n";
  Table t({"method", "FLOP", "from"}, {Align::kLeft, Align::kRight, Align::kLeft});
  if (e.operations_flops) t.AddRow({"operation counting", FormatScientific(*e.operations_flops), "the compute above"});
  t.AddRow({"hardware x time", FormatScientific(e.hardware_flops),
            fmt::format("{} devices x {} days x {} x {} ({})", FormatThousands(static_cast<double>(e.devices)),
                        FormatDays(e.days), FormatSi(e.peak_flops, "FLOP/s"), FormatPercent(e.utilisation),
                        e.utilisation_source)});
  if (e.geometric_mean) t.AddRow({"geometric mean", FormatScientific(*e.geometric_mean), "both methods"});
  t.AddRow({fmt::format("MFU {}-{}", FormatPercent(e.mfu_low), FormatPercent(e.mfu_high)),
            FormatScientific(e.hardware_flops_low) + " - " + FormatScientific(e.hardware_flops_high),
            "hardware x time over the MFU range"});
  out += t.Render();
  if (e.implied_mfu)
    out += fmt::format("implied MFU     {}: the operation count over devices x time x peak\n",
                       FormatPercent(*e.implied_mfu, 1));
  return out;
}

nlohmann::json ToJson(const EpochEstimate& e) {
  return {{"operations_flops", Opt(e.operations_flops)},
          {"hardware_flops", e.hardware_flops},
          {"devices", e.devices},
          {"days", e.days},
          {"peak_flops", e.peak_flops},
          {"utilisation", e.utilisation},
          {"utilisation_source", e.utilisation_source},
          {"geometric_mean", Opt(e.geometric_mean)},
          {"implied_mfu", Opt(e.implied_mfu)},
          {"mfu_range", {e.mfu_low, e.mfu_high}},
          {"hardware_flops_range", {e.hardware_flops_low, e.hardware_flops_high}}};
}

std::string RenderCalibrationText(const Calibration& c) {
  const TrainingLog& log = c.log;
  std::string how;
  switch (log.format) {
    case LogFormat::kLmlabTrainJson: how = "the run's average"; break;
    case LogFormat::kGgmlOptProgress: how = fmt::format("the last cumulative rate of {} progress lines", log.samples.size()); break;
    case LogFormat::kThroughputLines:
      how = fmt::format("median of {} lines{}", log.samples.size() - static_cast<size_t>(log.warmup_skipped),
                        log.warmup_skipped ? fmt::format(", first {} skipped as warm-up", log.warmup_skipped) : "");
      break;
  }
  std::string out = fmt::format("log             {}: {} tokens/s ({})\n", LogFormatName(log.format),
                                log.tokens_per_second >= 1000 ? FormatThousands(log.tokens_per_second)
                                                              : FormatSignificant(log.tokens_per_second, 4),
                                how);
  out += fmt::format("log model       {} parameters ({}), {} FLOP per token\n", Count(c.params), c.model_source,
                     FormatScientific(c.flops_per_token));
  out += fmt::format("achieved        {} on {} x {} ({} peak each) -> MFU {}\n", FormatSi(c.achieved_flops, "FLOP/s"),
                     c.devices, c.hardware, FormatSi(c.peak_flops, "FLOP/s"), FormatPercent(c.mfu, 1));
  if (!c.note.empty()) out += "note            " + c.note + "\n";
  return out;
}

nlohmann::json ToJson(const Calibration& c) {
  nlohmann::json samples = nlohmann::json::array();
  for (const ThroughputSample& s : c.log.samples) samples.push_back({{"line", s.line}, {"tokens_per_second", s.tokens_per_second}});
  return {{"format", std::string(LogFormatName(c.log.format))},
          {"samples", samples},
          {"warmup_skipped", c.log.warmup_skipped},
          {"tokens_per_second", c.log.tokens_per_second},
          {"params", c.params},
          {"model_source", c.model_source},
          {"flops_per_token", c.flops_per_token},
          {"achieved_flops", c.achieved_flops},
          {"peak_flops_per_device", c.peak_flops},
          {"devices", c.devices},
          {"hardware", c.hardware},
          {"mfu", c.mfu},
          {"note", c.note}};
}

}  // namespace lmlab::plan
