// Inference plans, token economics and measured llama.cpp speed.
#include <fmt/format.h>

#include "lmlab/core/format.h"
#include "lmlab/core/table.h"
#include "lmlab/plan/render.h"
#include "plan/render_util.h"

namespace lmlab::plan {
using internal::Count;
using internal::Energy;
using internal::Opt;
using internal::OrDash;
using internal::Price;

namespace {

std::string Ms(double seconds) {
  return seconds >= 10 ? FormatFixed(seconds, 1) + " s" : FormatSignificant(seconds * 1e3, 3) + " ms";
}
std::string Rate(double per_s) { return per_s >= 1000 ? FormatThousands(per_s) : FormatSignificant(per_s, 3); }
std::string Devices(int64_t n) { return FormatThousands(static_cast<double>(n)) + (n == 1 ? " device" : " devices"); }
std::string DevicesHold(int64_t n) { return Devices(n) + (n == 1 ? " holds" : " hold"); }
std::string Gb(double bytes) { return FormatSignificant(bytes / 1e9, 3) + " GB"; }

nlohmann::json PointJson(const DecodePoint& d) {
  return {{"batch", d.batch},
          {"devices", d.devices},
          {"context", d.context},
          {"bytes_per_step", d.bytes_per_step},
          {"flops_per_step", d.flops_per_step},
          {"memory_seconds", d.memory_seconds},
          {"compute_seconds", d.compute_seconds},
          {"step_seconds", d.step_seconds},
          {"bound", std::string(BoundName(d.bound))},
          {"tokens_per_s_per_user", d.tokens_per_s_per_user},
          {"tokens_per_s", d.tokens_per_s},
          {"memory_bytes", d.memory_bytes},
          {"fits", d.fits},
          {"usd_per_million_output", Opt(d.usd_per_million)},
          {"kwh_per_million_output", Opt(d.kwh_per_million)}};
}

}  // namespace

std::string RenderInferenceText(const InferencePlan& p) {
  const DeviceRate& r = p.rate;
  const ModelShape& m = p.model;
  std::string out = RenderModelText(m, p.params) + "\n";
  out += fmt::format("device          {}: {} memory bandwidth at {}, {} {} at MFU {}; {} memory ({} reserved)\n", r.name,
                     FormatSi(r.bandwidth_bytes_per_s, "B/s"), FormatPercent(p.mbu), r.precision,
                     FormatSi(r.peak_flops, "FLOP/s"), FormatPercent(r.mfu), Gb(r.memory_bytes),
                     FormatPercent(kMemoryReserve));
  out += fmt::format("weights         {} at {} ({:g} bits per weight)\n", Gb(p.weight_bytes), p.weight_type.name,
                     p.weight_type.bits);
  out += fmt::format("KV cache        {} per token at {} (2 x {} layers x {} KV heads x {} x {:g} B); {} per sequence of {} tokens\n",
                     FormatBytes(p.kv_bytes_per_token), p.kv_type.name, m.layers, m.kv_heads, m.head_dim,
                     p.kv_type.bits / 8, FormatBytes(p.kv_bytes_per_sequence),
                     FormatThousands(static_cast<double>(p.prompt_tokens + p.output_tokens)));
  out += fmt::format("activations     {} at batch 1 (f32 intermediates of a layer, logits, one prefill chunk)\n",
                     FormatBytes(p.activation_bytes_batch1));
  out += fmt::format("replica         {} the weights and up to {} sequences of {} tokens\n\n", DevicesHold(p.min_devices),
                     FormatThousands(static_cast<double>(p.max_batch)),
                     FormatThousands(static_cast<double>(p.prompt_tokens + p.output_tokens)));

  out += fmt::format("prefill         {} tokens in {} ({}-bound): {} tokens/s{}\n",
                     FormatThousands(static_cast<double>(p.prompt_tokens)), Ms(p.prefill_seconds), BoundName(p.prefill_bound),
                     Rate(p.prefill_tokens_per_s),
                     p.usd_per_million_prompt > 0 ? fmt::format("; {} per million prompt tokens", Price(p.usd_per_million_prompt)) : "");
  const DecodePoint& d1 = p.decode_batch1;
  out += fmt::format("decode          batch 1: {} tokens/s ({}-bound: {} per token at {})\n", Rate(d1.tokens_per_s),
                     BoundName(d1.bound), Gb(d1.bytes_per_step),
                     FormatSi(r.bandwidth_bytes_per_s * p.mbu * static_cast<double>(d1.devices), "B/s"));
  if (p.crossover_batch)
    out += fmt::format("crossover       batch {}: decode is memory-bound below it, compute-bound above\n",
                       Rate(*p.crossover_batch));
  else
    out += fmt::format("crossover       none at {} tokens of context: each sequence's KV reads take longer than its "
                       "FLOPs, so no batch makes decode compute-bound\n",
                       FormatThousands(p.decode_batch1.context));
  if (p.crossover_batch_weights_only)
    out += fmt::format("                batch {} counting weight reads only (the textbook peak FLOP/s / bandwidth figure)\n",
                       Rate(*p.crossover_batch_weights_only));

  out += fmt::format("\ndecode by batch ({}, mean context {} tokens):\n", Devices(p.min_devices),
                     FormatThousands(p.decode_batch1.context));
  Table t({"batch", "step", "tok/s/user", "tok/s", "bound", "memory", "$/M out", "energy/M out"},
          std::vector<Align>(8, Align::kRight));
  for (const DecodePoint& d : p.table)
    t.AddRow({FormatThousands(static_cast<double>(d.batch)), Ms(d.step_seconds), Rate(d.tokens_per_s_per_user),
              Rate(d.tokens_per_s), std::string(BoundName(d.bound)),
              Gb(d.memory_bytes) + (d.fits ? "" : " (does not fit)"), OrDash(d.usd_per_million, Price),
              OrDash(d.kwh_per_million, Energy)});
  out += t.Render();
  if (p.cheapest.batch > 0)
    out += fmt::format("cheapest        batch {} on {} within {} ms per token: {} tokens/s, {} and {} per million output tokens\n",
                       FormatThousands(static_cast<double>(p.cheapest.batch)), Devices(p.cheapest.devices),
                       FormatSignificant(p.cheapest_latency_ms, 3),
                       Rate(p.cheapest.tokens_per_s), OrDash(p.cheapest.usd_per_million, Price),
                       OrDash(p.cheapest.kwh_per_million, Energy));
  out += fmt::format("bounds at {} of peak bandwidth and {} of peak FLOP/s{}\n", FormatPercent(p.mbu), FormatPercent(r.mfu),
                     p.mbu == 1 && r.mfu == 1 ? ": no implementation beats them (--mbu, --mfu discount them)" : "");

  if (p.serving) {
    const ServingPlan& s = *p.serving;
    out += fmt::format("\nserving {} users at <= {} ms per token each:\n", FormatThousands(static_cast<double>(s.users)),
                       FormatSignificant(s.latency_ms, 3));
    if (!s.feasible) {
      out += "  not possible: " + s.note + "\n";
    } else {
      out += fmt::format("  {}: {} {} of {}, batch {} each ({}; at most {})\n", Devices(s.devices),
                         FormatThousands(static_cast<double>(s.replicas)), s.replicas == 1 ? "replica" : "replicas",
                         Devices(s.devices_per_replica), FormatThousands(static_cast<double>(s.point.batch)), s.note,
                         FormatThousands(static_cast<double>(s.batch_per_replica)));
      out += fmt::format("  {} per token: {} tokens/s per user, {} tokens/s per replica; first token after {}\n",
                         Ms(s.point.step_seconds), Rate(s.point.tokens_per_s_per_user), Rate(s.point.tokens_per_s),
                         Ms(s.time_to_first_token_s));
      if (s.point.usd_per_million || s.point.kwh_per_million)
        out += fmt::format("  {} and {} per million output tokens\n", OrDash(s.point.usd_per_million, Price),
                           OrDash(s.point.kwh_per_million, Energy));
      out += "  (replicas of up to --max-replica-devices, scaled ideally; prefill work not subtracted from decode time)\n";
    }
  }
  return out;
}

nlohmann::json ToJson(const InferencePlan& p) {
  nlohmann::json j;
  j["model"] = ToJson(p.model, p.params);
  const DeviceRate& r = p.rate;
  j["device"] = {{"name", r.name},           {"precision", r.precision},
                 {"peak_flops", r.peak_flops}, {"mfu", r.mfu},
                 {"bandwidth_bytes_per_s", r.bandwidth_bytes_per_s}, {"mbu", p.mbu},
                 {"memory_bytes", r.memory_bytes}, {"tdp_watts", r.tdp_watts},
                 {"price_per_hour", r.price_per_hour}, {"pue", r.pue}};
  j["weight_type"] = {{"name", p.weight_type.name}, {"bits", p.weight_type.bits}};
  j["kv_type"] = {{"name", p.kv_type.name}, {"bits", p.kv_type.bits}};
  j["prompt_tokens"] = p.prompt_tokens;
  j["output_tokens"] = p.output_tokens;
  j["weight_bytes"] = p.weight_bytes;
  j["kv_bytes_per_token"] = p.kv_bytes_per_token;
  j["kv_bytes_per_sequence"] = p.kv_bytes_per_sequence;
  j["activation_bytes_batch1"] = p.activation_bytes_batch1;
  j["usable_memory_per_device"] = p.usable_memory_per_device;
  j["min_devices"] = p.min_devices;
  j["max_batch"] = p.max_batch;
  j["prefill"] = {{"flops", p.prefill_flops},
                  {"seconds", p.prefill_seconds},
                  {"bound", std::string(BoundName(p.prefill_bound))},
                  {"tokens_per_s", p.prefill_tokens_per_s},
                  {"usd_per_million_prompt", p.usd_per_million_prompt > 0 ? nlohmann::json(p.usd_per_million_prompt) : nlohmann::json(nullptr)}};
  j["decode_batch1"] = PointJson(p.decode_batch1);
  j["crossover_batch"] = Opt(p.crossover_batch);
  j["crossover_batch_weights_only"] = Opt(p.crossover_batch_weights_only);
  j["cheapest"] = p.cheapest.batch > 0 ? PointJson(p.cheapest) : nlohmann::json(nullptr);
  j["table"] = nlohmann::json::array();
  for (const DecodePoint& d : p.table) j["table"].push_back(PointJson(d));
  if (p.serving) {
    const ServingPlan& s = *p.serving;
    j["serving"] = {{"users", s.users},
                    {"latency_ms", s.latency_ms},
                    {"feasible", s.feasible},
                    {"devices", s.devices},
                    {"devices_per_replica", s.devices_per_replica},
                    {"replicas", s.replicas},
                    {"batch_per_replica_max", s.batch_per_replica},
                    {"point", s.feasible ? PointJson(s.point) : nlohmann::json(nullptr)},
                    {"time_to_first_token_s", s.time_to_first_token_s},
                    {"note", s.note}};
  } else {
    j["serving"] = nullptr;
  }
  return j;
}

std::string RenderTokensText(const TokenEconomics& t) {
  std::string out = fmt::format("budget          ${}\n", FormatThousands(t.budget_usd));
  if (t.population)
    out += fmt::format("population      {} people over {:g} year{}\n", FormatScientific(*t.population), t.years,
                       t.years == 1 ? "" : "s");
  out += "\n";
  std::vector<std::string> headers{"priced as", "$/M tokens", "tokens"};
  if (t.population) headers.push_back("per person per year");
  Table table(headers, {Align::kLeft, Align::kRight, Align::kRight, Align::kRight});
  for (const TokenRow& row : t.rows) {
    std::vector<std::string> cells{row.price.label, Price(row.price.usd_per_million), FormatScientific(row.tokens)};
    if (row.tokens_per_person_per_year) cells.push_back(FormatScientific(*row.tokens_per_person_per_year));
    table.AddRow(cells);
  }
  out += table.Render();
  bool sources = false;
  for (const TokenRow& row : t.rows)
    if (!row.price.source.empty()) {
      if (!sources) out += "prices:\n";
      sources = true;
      out += "  " + row.price.label + ": " + row.price.source + "\n";
    }
  return out;
}

nlohmann::json ToJson(const TokenEconomics& t) {
  nlohmann::json rows = nlohmann::json::array();
  for (const TokenRow& row : t.rows)
    rows.push_back({{"label", row.price.label},
                    {"usd_per_million", row.price.usd_per_million},
                    {"source", row.price.source},
                    {"tokens", row.tokens},
                    {"tokens_per_person_per_year", Opt(row.tokens_per_person_per_year)}});
  nlohmann::json j = {{"budget_usd", t.budget_usd}, {"population", Opt(t.population)}, {"years", t.years}, {"rows", rows}};
  j["self_hosted"] = t.self_hosted ? ToJson(*t.self_hosted) : nlohmann::json(nullptr);
  j["self_hosted_point"] = t.self_hosted_point ? PointJson(*t.self_hosted_point) : nlohmann::json(nullptr);
  return j;
}

std::string RenderInferMeasurementText(const InferMeasurement& m) {
  const GgufServingShape& s = m.shape;
  const runtime::SpeedResult& r = m.measured;
  std::string out = fmt::format("model           {}: {} layers x {}, q {} / kv {} wide, vocab {}, {} of weights{}\n",
                                m.model_path, s.layers, s.hidden, s.q_dim, s.kv_dim,
                                FormatThousands(static_cast<double>(s.vocab)), FormatBytes(s.weight_bytes),
                                s.tied ? " (tied output)" : "");
  out += fmt::format("per token       {} read (weights {} + KV {} at mean context {}), {} FLOP\n",
                     FormatBytes(m.decode_bytes_per_token), FormatBytes(s.decode_weight_bytes),
                     FormatBytes(m.decode_bytes_per_token - s.decode_weight_bytes), FormatThousands(m.mean_decode_context),
                     FormatScientific(m.decode_flops_per_token));
  out += fmt::format("this machine    {} read over a {} buffer; {} on a {}x{} fp32 GEMM ({} thread{} each)\n",
                     FormatSi(m.bandwidth.bytes_per_second, "B/s"), FormatBytes(m.bandwidth.buffer_bytes),
                     FormatSi(m.gemm.achieved_flops, "FLOP/s"), m.gemm.n, m.gemm.n, m.bandwidth.threads,
                     m.bandwidth.threads == 1 ? "" : "s");
  out += fmt::format("llama.cpp       {} prompt tokens then {} decoded, {} thread{}, median of {} runs\n\n",
                     r.prompt_tokens, r.gen_tokens, r.threads, r.threads == 1 ? "" : "s", r.samples.size());
  Table t({"phase", "measured tok/s", "bound tok/s", "bound by", "measured / bound"}, std::vector<Align>(5, Align::kRight));
  t.AddRow({"prefill", Rate(r.prefill_tokens_per_second), Rate(m.prefill_bound_tokens_per_s), m.prefill_bound_by,
            FormatPercent(m.prefill_ratio, 1)});
  t.AddRow({"decode", Rate(r.decode_tokens_per_second), Rate(m.decode_bound_tokens_per_s), m.decode_bound_by,
            FormatPercent(m.decode_ratio, 1)});
  out += t.Render();
  if (m.decode_ratio > 1 || m.prefill_ratio > 1)
    out += "note            a ratio above 100% means llama.cpp beat this machine's GEMM or read rate (its kernels "
           "are not Eigen's, or the buffer size differs from its working set)\n";
  return out;
}

nlohmann::json ToJson(const InferMeasurement& m) {
  const GgufServingShape& s = m.shape;
  nlohmann::json samples = nlohmann::json::array();
  for (const runtime::SpeedSample& x : m.measured.samples)
    samples.push_back({{"prefill_seconds", x.prefill_seconds}, {"decode_seconds", x.decode_seconds}});
  return {{"model", m.model_path},
          {"shape",
           {{"layers", s.layers},
            {"hidden", s.hidden},
            {"vocab", s.vocab},
            {"q_dim", s.q_dim},
            {"kv_dim", s.kv_dim},
            {"weight_bytes", s.weight_bytes},
            {"decode_weight_bytes", s.decode_weight_bytes},
            {"matmul_params", s.matmul_params},
            {"tied", s.tied}}},
          {"kv_bytes_per_token", m.kv_bytes_per_token},
          {"mean_decode_context", m.mean_decode_context},
          {"decode_bytes_per_token", m.decode_bytes_per_token},
          {"decode_flops_per_token", m.decode_flops_per_token},
          {"prefill_flops", m.prefill_flops},
          {"bandwidth", {{"bytes_per_second", m.bandwidth.bytes_per_second}, {"buffer_bytes", m.bandwidth.buffer_bytes},
                         {"threads", m.bandwidth.threads}, {"seconds", m.bandwidth.seconds}}},
          {"gemm", ToJson(m.gemm)},
          {"measured",
           {{"prompt_tokens", m.measured.prompt_tokens},
            {"gen_tokens", m.measured.gen_tokens},
            {"threads", m.measured.threads},
            {"samples", samples},
            {"prefill_tokens_per_s", m.measured.prefill_tokens_per_second},
            {"decode_tokens_per_s", m.measured.decode_tokens_per_second}}},
          {"bound",
           {{"prefill_tokens_per_s", m.prefill_bound_tokens_per_s},
            {"prefill_by", m.prefill_bound_by},
            {"decode_tokens_per_s", m.decode_bound_tokens_per_s},
            {"decode_by", m.decode_bound_by}}},
          {"ratio", {{"prefill", m.prefill_ratio}, {"decode", m.decode_ratio}}}};
}

}  // namespace lmlab::plan
