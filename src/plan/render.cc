#include "lmlab/plan/render.h"

#include <fmt/format.h>

#include "lmlab/core/format.h"
#include "lmlab/core/table.h"

namespace lmlab::plan {
namespace {

std::string OrDash(const std::optional<double>& v, std::string (*fmt)(double)) { return v ? fmt(*v) : "-"; }
std::string Dollars(double v) { return "$" + FormatThousands(v); }
std::string Energy(double kwh) {
  if (kwh >= 1e6) return FormatFixed(kwh / 1e6, 2) + " GWh";
  if (kwh >= 1e3) return FormatFixed(kwh / 1e3, 1) + " MWh";
  return FormatFixed(kwh, 1) + " kWh";
}
std::string Count(double v) { return FormatSignificant(v, 3); }

template <class T>
nlohmann::json Opt(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

}  // namespace

std::string RenderText(const Plan& plan) {
  std::string out;
  const ComputeEstimate& c = plan.compute;
  const DeviceRate& r = plan.rate;
  out += fmt::format("compute         {} FLOP ({})\n", FormatScientific(c.flops), c.method);
  if (c.params) out += fmt::format("model           {} parameters, {} tokens\n", Count(*c.params), Count(*c.tokens));
  if (r.rate_given && r.mfu == 1.0)
    out += fmt::format("device          {}, counted at {} sustained (given)\n", r.name,
                       FormatSi(r.sustained_flops, "FLOP/s"));
  else
    out += fmt::format("device          {}, {} {} {}, MFU {} -> {} sustained\n", r.name, r.precision,
                       r.rate_given ? "given" : "peak", FormatSi(r.peak_flops, "FLOP/s"), FormatPercent(r.mfu),
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

  if (plan.memory) {
    const MemoryEstimate& m = *plan.memory;
    out += fmt::format("\nmemory          {} for weights, grads and Adam (16 B/param)\n", FormatBytes(m.states_bytes));
    out += fmt::format("activations     {} per device ({} layers x {} hidden, {} heads{}, seq {}, micro-batch {}{})\n",
                       FormatBytes(m.activation_bytes), m.layers, m.hidden, m.heads,
                       m.shape_derived ? ", shape derived from N" : "", m.seq_len, m.micro_batch,
                       m.tensor_parallel > 1 ? fmt::format(", tensor-parallel {}", m.tensor_parallel) : "");
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
  j["compute"] = {{"flops", plan.compute.flops},
                  {"params", Opt(plan.compute.params)},
                  {"tokens", Opt(plan.compute.tokens)},
                  {"method", plan.compute.method}};
  const DeviceRate& r = plan.rate;
  j["device"] = {{"name", r.name},           {"rate_given", r.rate_given},           {"precision", r.precision},     {"peak_flops", r.peak_flops},
                 {"mfu", r.mfu},             {"sustained_flops", r.sustained_flops},
                 {"memory_bytes", r.memory_bytes}, {"tdp_watts", r.tdp_watts},
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
