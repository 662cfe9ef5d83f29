// `lmlab plan`: training-compute planner. See docs/plan.md.
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "lmlab/core/cpu_measure.h"
#include "lmlab/plan/render.h"

namespace lmlab::cli::plan_cmd {
namespace {

using namespace lmlab::plan;

struct Options {
  std::optional<double> flops, params, tokens;
  bool chinchilla = false;
  std::string device;
  std::optional<double> device_flops, mfu, memory_gb, tdp, price;
  std::string precision = "bf16";
  bool sparse = false;
  double pue = kDefaultPue;
  std::vector<int64_t> devices;
  std::vector<double> days;
  std::optional<int64_t> layers, hidden, heads;
  int64_t seq_len = 4096, micro_batch = 1, tensor_parallel = 1;
  std::string recompute = "selective";
  bool sweep = false;
  std::vector<double> sweep_mfu = {0.2, 0.3, 0.4, 0.5, 0.6};
  bool measure = false;
  int measure_n = 1024;
  bool list_devices = false;
  bool json = false;
};

// The reference scenario: GPT-4-scale training (~1e24 FLOP) on H100s counted
// at a round 1e14 FLOP/s each, on 1,000 and 22,000 devices.
constexpr double kReferenceFlops = 1e24;
constexpr double kReferenceDeviceFlops = 1e14;
const std::vector<int64_t> kReferenceDevices = {1000, 22000};

Recompute ParseRecompute(const std::string& s) {
  if (s == "none") return Recompute::kNone;
  if (s == "selective") return Recompute::kSelective;
  if (s == "full") return Recompute::kFull;
  throw UsageError("--recompute must be none, selective or full (got '" + s + "')");
}

int Run(const Options& o) {
  DeviceCatalog catalog = OrExit(DeviceCatalog::LoadDefault());
  Precision precision = OrExit(ParsePrecision(o.precision));
  if (o.list_devices) {
    if (o.json) PrintJson(ToJson(catalog));
    else std::cout << RenderCatalogText(catalog, precision);
    return 0;
  }

  PlanRequest r;
  bool reference = !o.flops && !o.params && !o.tokens && !o.chinchilla && o.device.empty() && !o.device_flops &&
                   !o.measure;
  r.compute = {o.flops, o.params, o.tokens, o.chinchilla ? Chinchilla::kOn : Chinchilla::kOff};
  if (!o.flops && !o.params && !o.tokens && !o.chinchilla) r.compute.flops = kReferenceFlops;
  r.hardware.device = o.device;
  r.hardware.precision = precision;
  r.hardware.sparsity = o.sparse ? Sparsity::kSparse24 : Sparsity::kDense;
  r.hardware.device_flops = o.device_flops;
  r.hardware.mfu = o.mfu;
  if (o.memory_gb) r.hardware.memory_bytes = *o.memory_gb * 1e9;
  r.hardware.tdp_watts = o.tdp;
  r.hardware.price_per_hour = o.price;
  r.hardware.pue = o.pue;
  if (reference) {
    r.hardware.device = "h100-sxm";  // for memory, power and price
    r.hardware.device_flops = kReferenceDeviceFlops;
  } else if (o.device.empty() && !o.device_flops && !o.measure) {
    r.hardware.device = "h100-sxm";
  }
  r.shape = {o.layers, o.hidden, o.heads, o.seq_len, o.micro_batch, ParseRecompute(o.recompute), o.tensor_parallel};
  r.devices = o.devices;
  r.days = o.days;
  if (r.devices.empty() && r.days.empty()) r.devices = kReferenceDevices;

  nlohmann::json out;
  std::optional<GemmMeasurement> measured;
  if (o.measure) {
    measured = OrExit(MeasureGemm(o.measure_n));
    r.hardware.device_flops = measured->achieved_flops;
    if (o.device.empty()) r.hardware.device = "";
    out["measurement"] = ToJson(*measured);
  }

  Plan plan = OrExit(MakePlan(r, catalog));
  if (measured) plan.rate.name = "this machine (" + measured->cpu.model_name + ", measured)";
  out["plan"] = ToJson(plan);
  std::optional<SweepTable> sweep;
  if (o.sweep) {
    for (double m : o.sweep_mfu)
      if (!(m > 0 && m <= 1)) throw UsageError("--sweep-mfu values must be in (0, 1]");
    std::vector<int64_t> counts = o.devices.empty()
                                      ? std::vector<int64_t>{256, 1024, 4096, 8192, 16384, 32768, 100000}
                                      : o.devices;
    sweep = MakeSweep(plan.compute.flops, plan.rate.peak_flops, counts, o.sweep_mfu);
    out["sweep"] = ToJson(*sweep);
  }

  if (o.json) {
    out["reference_scenario"] = reference;
    PrintJson(out);
    return 0;
  }
  if (reference)
    std::cout << "Reference scenario: GPT-4-scale training (~1e24 FLOP) on H100s counted at a round\n"
                 "1e14 FLOP/s each (about 10% of the H100's bf16 dense peak). For a datasheet-based plan:\n"
                 "  lmlab plan --flops 1e24 --device h100 --mfu 0.4\n\n";
  if (measured) std::cout << RenderMeasurementText(*measured) << "\n";
  std::cout << RenderText(plan);
  if (sweep) std::cout << "\n" << RenderSweepText(*sweep);
  return 0;
}

}  // namespace

void Register(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* sub = AddCommand(
      app, "plan", "Plan a training run: FLOPs, days or devices, memory, cost and energy",
      "  lmlab plan                                    # reference: 1e24 FLOP at 1e14 FLOP/s on 1,000 and 22,000 devices\n"
      "  lmlab plan --flops 1e24 --device-flops 1e14 --devices 1000\n"
      "  lmlab plan --params 70B --tokens 15T --device h100 --devices 16384\n"
      "  lmlab plan --params 7B --chinchilla --device a100 --days 30\n"
      "  lmlab plan --flops 1e25 --chinchilla --device b200 --precision fp8 --sweep\n"
      "  lmlab plan --list-devices\n"
      "  lmlab plan --measure --params 125M --tokens 2.5B --devices 1\n");
  auto& s = *sub;
  s.option_defaults()->group("Compute");
  AddQuantity(sub, "--flops", o->flops, "Total training compute in FLOP (1e24, 3.8e25)");
  AddQuantity(sub, "--params", o->params, "Model parameters N (7B, 70e9); with --tokens: C = 6 N D");
  AddQuantity(sub, "--tokens", o->tokens, "Training tokens D (2T, 15e12)");
  s.add_flag("--chinchilla", o->chinchilla, "Compute-optimal: D = 20 N from --params, or N, D from --flops");
  s.option_defaults()->group("Hardware");
  s.add_option("--device", o->device, "Device from the catalog (h100, a100, b200, mi300x, ...; see --list-devices)");
  AddQuantity(sub, "--device-flops", o->device_flops,
              "Sustained FLOP/s per device; overrides the catalog peak and defaults MFU to 100%");
  s.add_option("--precision", o->precision, "fp64, fp32, tf32, bf16, fp16, fp8, fp4, int8")->capture_default_str();
  s.add_flag("--sparse", o->sparse, "Use the 2:4 structured-sparsity peak");
  s.add_option("--mfu", o->mfu,
               "Model FLOP utilisation in (0,1]; default 0.4 with a catalog peak (public range: GPT-3 ~0.21, "
               "PaLM ~0.46, Llama-3 405B 0.38-0.43)");
  s.add_option("--memory-gb", o->memory_gb, "Device memory in GB (overrides the catalog)");
  s.add_option("--tdp", o->tdp, "Device power in watts (overrides the catalog)");
  s.add_option("--price", o->price, "USD per device-hour (overrides the catalog's illustrative price)");
  s.add_option("--pue", o->pue, "Data-centre power usage effectiveness for energy")->capture_default_str();
  s.option_defaults()->group("Solve");
  s.add_option("--devices", o->devices, "Device counts to solve days for (1000,22000)")->delimiter(',');
  s.add_option("--days", o->days, "Deadlines in days to solve device counts for (30,90)")->delimiter(',');
  s.add_flag("--sweep", o->sweep, "Add a devices x MFU table of days");
  s.add_option("--sweep-mfu", o->sweep_mfu, "MFU columns for --sweep")->delimiter(',')->capture_default_str();
  s.option_defaults()->group("Memory");
  s.add_option("--layers", o->layers, "Transformer layers (default: derived from N)");
  s.add_option("--hidden", o->hidden, "Model width d_model (default: derived from N)");
  s.add_option("--heads", o->heads, "Attention heads (default: d_model / 128)");
  s.add_option("--seq-len", o->seq_len, "Sequence length for activations")->capture_default_str();
  s.add_option("--micro-batch", o->micro_batch, "Sequences per device per micro-step")->capture_default_str();
  s.add_option("--recompute", o->recompute, "Activation recomputation: none, selective, full")->capture_default_str();
  s.add_option("--tensor-parallel", o->tensor_parallel, "Tensor-parallel degree (splits activations)")->capture_default_str();
  s.option_defaults()->group("This machine");
  s.add_flag("--measure", o->measure, "Time an fp32 GEMM here and plan with the measured FLOP/s");
  s.add_option("--measure-size", o->measure_n, "GEMM size for --measure")->capture_default_str();
  s.option_defaults()->group("Output");
  s.add_flag("--list-devices", o->list_devices, "Print the device catalog");
  s.add_flag("--json", o->json, "Print JSON instead of tables");
  SetRun(sub, [o] { return Run(*o); });
}

}  // namespace lmlab::cli::plan_cmd
