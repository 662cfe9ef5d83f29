#include "lmlab/plan/render.h"

#include <fmt/format.h>

#include "lmlab/core/format.h"
#include "lmlab/core/table.h"
#include "plan/render_util.h"

namespace lmlab::plan {
using internal::Count;
using internal::Dollars;
using internal::Energy;
using internal::Opt;
using internal::OrDash;

std::string RenderText(const Plan& plan) {
  std::string out;
  const ComputeEstimate& c = plan.compute;
  const DeviceRate& r = plan.rate;
  if (plan.model && plan.model_params) out += RenderModelText(*plan.model, *plan.model_params) + "\n";
  out += fmt::format("compute         {} FLOP ({})\n", FormatScientific(c.flops), c.method);
  if (c.params) out += fmt::format("model           {} parameters, {} tokens\n", Count(*c.params), Count(*c.tokens));
  if (c.flops_per_token && plan.model && plan.model_params)
    out += fmt::format("per token       {} FLOP = 6 x {} matmul parameters + 12 x {} layers x {} seq x {} (attention)\n",
                       FormatScientific(*c.flops_per_token), FormatScientific(plan.model_params->matmul_active),
                       plan.model->layers, plan.memory ? plan.memory->seq_len : 0, plan.model->q_dim());
  if (r.rate_given && r.mfu == 1.0)
    out += fmt::format("device          {}, counted at {} sustained (given)\n", r.name,
                       FormatSi(r.sustained_flops, "FLOP/s"));
  else
    out += fmt::format("device          {}, {} {} {}, MFU {} -> {} sustained\n", r.name, r.precision,
                       r.rate_given ? "given" : "peak", FormatSi(r.peak_flops, "FLOP/s"),
                       FormatPercent(r.mfu, r.mfu < 0.1 ? 1 : 0),
                       FormatSi(r.sustained_flops, "FLOP/s"));
  out += fmt::format("device-seconds  {}\n\n", FormatScientific(plan.device_seconds));

  Table t({"devices", "days", "device-hours", "cost", "energy"},
          {Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight});
  for (const Scenario& s : plan.scenarios) {
    std::string days = FormatDays(s.days);
    if (s.solved == Scenario::Solved::kDevices) days += " (<= " + FormatDays(s.target_days) + ")";
    t.AddRow({FormatThousands(static_cast<double>(s.devices)), days, FormatScientific(s.device_hours),
              OrDash(s.cost_usd, Dollars), OrDash(s.energy_kwh, Energy)});
  }
  out += t.Render();
  if (r.price_per_hour > 0 || r.tdp_watts > 0)
    out += fmt::format("cost at ${:.2f}/device-hour; energy = devices x {:.0f} W x hours x PUE {:.2f}\n",
                       r.price_per_hour, r.tdp_watts, r.pue);

  if (plan.epoch) out += "\n" + RenderEpochText(*plan.epoch);

  if (plan.memory) {
    const MemoryEstimate& m = *plan.memory;
    out += fmt::format("\nmemory          {} for weights, grads and Adam (16 B/param)\n", FormatBytes(m.states_bytes));
    out += fmt::format("activations     {} per device ({} layers x {} hidden, {} heads{}, seq {}, micro-batch {}{}{})\n",
                       FormatBytes(m.activation_bytes), m.layers, m.hidden, m.heads,
                       m.shape_derived ? ", shape derived from N" : "", m.seq_len, m.micro_batch,
                       m.tensor_parallel > 1 ? fmt::format(", tensor-parallel {}", m.tensor_parallel) : "",
                       m.pipeline_parallel > 1
                           ? fmt::format(", pipeline {} stages: first holds {} micro-batches in flight, last the logits",
                                         m.pipeline_parallel, m.in_flight)
                           : "");
    if (m.logits_counted)
      out += fmt::format("logits          {} of it: fp32 logits for the loss (4 x seq x micro-batch x vocab{})\n",
                         FormatBytes(m.logits_bytes), m.tensor_parallel > 1 ? " / tensor-parallel" : "");
    else
      out += "logits          not counted: the vocabulary is unknown (give --vocab, --preset or --model-config)\n";
    if (plan.model && plan.model->moe())
      out += fmt::format("experts         activations counted for the {} of {} experts each token visits\n",
                         plan.model->experts_per_token, plan.model->experts);
    if (m.min_devices)
      out += fmt::format("min devices     {} to hold it fully sharded ({} each, {} reserved)\n",
                         FormatThousands(static_cast<double>(*m.min_devices)), FormatBytes(r.memory_bytes),
                         FormatPercent(kMemoryReserve));
    if (!m.note.empty()) out += "note            " + m.note + "\n";
  }
  return out;
}

nlohmann::json ToJson(const Plan& plan) {
  nlohmann::json j;
  j["model"] = plan.model && plan.model_params ? ToJson(*plan.model, *plan.model_params) : nlohmann::json(nullptr);
  j["epoch"] = plan.epoch ? ToJson(*plan.epoch) : nlohmann::json(nullptr);
  j["compute"] = {{"flops", plan.compute.flops},
                  {"params", Opt(plan.compute.params)},
                  {"tokens", Opt(plan.compute.tokens)},
                  {"flops_per_token", Opt(plan.compute.flops_per_token)},
                  {"method", plan.compute.method}};
  const DeviceRate& r = plan.rate;
  j["device"] = {{"name", r.name},           {"rate_given", r.rate_given},           {"precision", r.precision},     {"peak_flops", r.peak_flops},
                 {"mfu", r.mfu},             {"sustained_flops", r.sustained_flops},
                 {"memory_bytes", r.memory_bytes}, {"bandwidth_bytes_per_s", r.bandwidth_bytes_per_s},
                 {"tdp_watts", r.tdp_watts},
                 {"price_per_hour", r.price_per_hour}, {"pue", r.pue}};
  j["device_seconds"] = plan.device_seconds;
  j["scenarios"] = nlohmann::json::array();
  for (const Scenario& s : plan.scenarios) {
    nlohmann::json e = {{"devices", s.devices},           {"seconds", s.seconds},
                        {"days", s.days},                 {"device_hours", s.device_hours},
                        {"cost_usd", Opt(s.cost_usd)},    {"energy_kwh", Opt(s.energy_kwh)},
                        {"solved_for", s.solved == Scenario::Solved::kDays ? "days" : "devices"}};
    if (s.solved == Scenario::Solved::kDevices) e["target_days"] = s.target_days;
    j["scenarios"].push_back(e);
  }
  if (plan.memory) {
    const MemoryEstimate& m = *plan.memory;
    j["memory"] = {{"states_bytes", m.states_bytes},
                   {"activation_bytes_per_device", m.activation_bytes},
                   {"layers", m.layers},
                   {"hidden", m.hidden},
                   {"heads", m.heads},
                   {"seq_len", m.seq_len},
                   {"micro_batch", m.micro_batch},
                   {"tensor_parallel", m.tensor_parallel},
                   {"pipeline_parallel", m.pipeline_parallel},
                   {"in_flight_micro_batches", m.in_flight},
                   {"layer_activation_bytes", m.layer_activation_bytes},
                   {"logits_bytes", m.logits_counted ? nlohmann::json(m.logits_bytes) : nlohmann::json(nullptr)},
                   {"first_stage_bytes", m.first_stage_bytes},
                   {"last_stage_bytes", m.last_stage_bytes},
                   {"shape_derived", m.shape_derived},
                   {"min_devices", Opt(m.min_devices)},
                   {"note", m.note}};
  } else {
    j["memory"] = nullptr;
  }
  return j;
}

std::string RenderSweepText(const SweepTable& sweep) {
  std::vector<std::string> headers{"devices \\ MFU"};
  for (double mfu : sweep.mfus) headers.push_back(FormatPercent(mfu));
  Table t(headers, std::vector<Align>(headers.size(), Align::kRight));
  for (size_t i = 0; i < sweep.devices.size(); ++i) {
    std::vector<std::string> row{FormatThousands(static_cast<double>(sweep.devices[i]))};
    for (double d : sweep.days[i]) row.push_back(FormatDays(d));
    t.AddRow(row);
  }
  return "days to train, by device count and MFU:\n" + t.Render();
}

nlohmann::json ToJson(const SweepTable& sweep) {
  return {{"devices", sweep.devices}, {"mfu", sweep.mfus}, {"days", sweep.days}};
}

std::string RenderCatalogText(const DeviceCatalog& catalog, Precision precision) {
  Table t({"id", "device", std::string(PrecisionName(precision)) + " dense", "sparse", "memory", "bandwidth", "TDP",
           "$/h"},
          {Align::kLeft, Align::kLeft, Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight,
           Align::kRight});
  for (const DeviceSpec& d : catalog.devices()) {
    auto dense = d.PeakFlops(precision, Sparsity::kDense);
    auto sparse = d.PeakFlops(precision, Sparsity::kSparse24);
    t.AddRow({d.id, d.name, dense ? FormatSi(*dense, "FLOP/s", 0) : "-", sparse ? FormatSi(*sparse, "FLOP/s", 0) : "-",
              FormatFixed(d.memory_bytes / 1e9, 0) + " GB", FormatFixed(d.bandwidth_bytes_per_s / 1e12, 2) + " TB/s",
              d.tdp_watts > 0 ? FormatFixed(d.tdp_watts, 0) + " W" : "-", FormatFixed(d.price_per_hour, 2)});
  }
  return t.Render();
}

nlohmann::json ToJson(const DeviceCatalog& catalog) {
  nlohmann::json arr = nlohmann::json::array();
  for (const DeviceSpec& d : catalog.devices()) {
    nlohmann::json dense, sparse;
    for (auto [p, v] : d.dense_flops) dense[std::string(PrecisionName(p))] = v;
    for (auto [p, v] : d.sparse_flops) sparse[std::string(PrecisionName(p))] = v;
    arr.push_back({{"id", d.id},
                   {"name", d.name},
                   {"vendor", d.vendor},
                   {"aliases", d.aliases},
                   {"dense_flops", dense},
                   {"sparse_flops", sparse},
                   {"memory_bytes", d.memory_bytes},
                   {"bandwidth_bytes_per_s", d.bandwidth_bytes_per_s},
                   {"tdp_watts", d.tdp_watts},
                   {"price_per_hour", d.price_per_hour},
                   {"source", d.source}});
  }
  return {{"devices", arr}};
}

std::string RenderMeasurementText(const GemmMeasurement& m) {
  std::string out = fmt::format("cpu             {} ({} threads, {:.2f} GHz, {}-lane fp32 SIMD{})\n",
                                m.cpu.model_name, m.threads, m.cpu.max_ghz, m.cpu.simd_fp32_lanes,
                                m.cpu.has_fma ? ", FMA" : "");
  out += fmt::format("measured        {} on a {}x{} fp32 GEMM (best of {}, {:.1f} ms)\n",
                     FormatSi(m.achieved_flops, "FLOP/s"), m.n, m.n, m.repeats, m.seconds * 1e3);
  if (m.peak_flops > 0)
    out += fmt::format("theoretical     {} (cores x clock x lanes x 2 FMA units x 2); achieved {} of it\n",
                       FormatSi(m.peak_flops, "FLOP/s"), FormatPercent(m.achieved_flops / m.peak_flops));
  return out;
}

nlohmann::json ToJson(const GemmMeasurement& m) {
  return {{"cpu", m.cpu.model_name},
          {"threads", m.threads},
          {"ghz", m.cpu.max_ghz},
          {"simd_fp32_lanes", m.cpu.simd_fp32_lanes},
          {"fma", m.cpu.has_fma},
          {"gemm_n", m.n},
          {"repeats", m.repeats},
          {"seconds", m.seconds},
          {"achieved_flops", m.achieved_flops},
          {"peak_flops", m.peak_flops}};
}

}  // namespace lmlab::plan
