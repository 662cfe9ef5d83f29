// `lmlab plan`: training-compute planner; `plan infer` and `plan tokens` are
// registered from their own files. See docs/plan.md.
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/plan_flags.h"
#include "lmlab/core/file.h"
#include "lmlab/plan/calibrate.h"
#include "lmlab/core/cpu_measure.h"
#include "lmlab/plan/render.h"

namespace lmlab::cli::plan_cmd {
namespace {

using namespace lmlab::plan;

struct Options {
  std::optional<double> flops, params, tokens;
  bool chinchilla = false;
  HardwareFlags hardware;
  ModelShapeFlags model;
  std::vector<int64_t> devices;
  std::vector<double> days;
  std::optional<int64_t> layers, hidden, heads, vocab;
  int64_t seq_len = 4096, micro_batch = 1, tensor_parallel = 1, pipeline_parallel = 1, micro_batches = 0;
  std::string recompute = "selective";
  std::optional<int64_t> run_devices;
  std::optional<double> run_days;
  std::vector<double> mfu_range = {kDefaultMfuLow, kDefaultMfuHigh};
  // --from-log: the logged run.
  std::string from_log;
  std::string log_device;
  std::optional<double> log_peak_flops, log_params;
  int64_t log_devices = 1;
  std::optional<int64_t> log_seq_len;
  ModelShapeFlags log_model;
  bool sweep = false;
  std::vector<double> sweep_mfu = {0.2, 0.3, 0.4, 0.5, 0.6};
  bool measure = false;
  int measure_n = 1024;
  bool list_devices = false;
  bool list_models = false;
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

// The logged run of --from-log: its log, model and hardware.
FromLogRequest LogRequest(const Options& o, const DeviceCatalog& catalog, Precision precision) {
  FromLogRequest r;
  std::string text = OrExit(ReadFile(o.from_log));
  r.log = OrExit(ParseTrainingLog(text, o.log_seq_len));
  r.params = o.log_params;
  r.model = ModelShapeOrExit(o.log_model);
  r.seq_len = o.log_seq_len;
  r.devices = o.log_devices;
  if (o.log_peak_flops) {
    r.peak_flops = *o.log_peak_flops;
    r.hardware = "the logged device";
  } else if (!o.log_device.empty() && o.log_device != "this-machine") {
    const DeviceSpec* d = catalog.Find(o.log_device);
    if (!d) throw UsageError("--log-device: unknown device '" + o.log_device + "' (known: this-machine, " + catalog.KnownIds() + ")");
    r.peak_flops = OrExit(d->PeakFlops(precision, Sparsity::kDense));
    r.hardware = d->name;
  } else {
    // lmlab train runs here, in fp32 on the CPU: its theoretical FMA peak.
    CpuInfo cpu = OrExit(ReadCpuInfo());
    r.peak_flops = TheoreticalPeakFlops(cpu);
    if (r.peak_flops <= 0) throw UsageError("this CPU's clock is unknown: give the logged run's peak with --log-peak-flops");
    r.hardware = "this machine (" + cpu.model_name + ", fp32 FMA peak)";
  }
  return r;
}

int Run(const Options& o) {
  DeviceCatalog catalog = OrExit(DeviceCatalog::LoadDefault());
  Precision precision = OrExit(ParsePrecision(o.hardware.precision));
  if (o.list_devices) {
    if (o.json) PrintJson(ToJson(catalog));
    else std::cout << RenderCatalogText(catalog, precision) << "sources: lmlab plan --list-devices --json\n";
    return 0;
  }
  if (o.list_models) {
    ModelPresets presets = OrExit(ModelPresets::LoadDefault());
    if (o.json) PrintJson(ToJson(presets));
    else std::cout << RenderPresetsText(presets);
    return 0;
  }

  PlanRequest r;
  r.model = ModelShapeOrExit(o.model);
  const bool no_compute = !o.flops && !o.params && !o.tokens && !o.chinchilla && !r.model && !o.run_devices;
  const bool reference = no_compute && o.hardware.device.empty() && !o.hardware.device_flops && !o.measure && o.from_log.empty();
  r.compute.flops = o.flops;
  r.compute.params = o.params;
  r.compute.tokens = o.tokens;
  r.compute.chinchilla = o.chinchilla ? Chinchilla::kOn : Chinchilla::kOff;
  if (no_compute) r.compute.flops = kReferenceFlops;
  r.hardware = ToHardwareRequest(o.hardware, o.measure ? "" : "h100-sxm");
  if (reference) r.hardware.device_flops = kReferenceDeviceFlops;  // the H100 entry gives memory, power and price
  r.shape = {o.layers, o.hidden, o.heads, o.vocab, o.seq_len, o.micro_batch, ParseRecompute(o.recompute),
             o.tensor_parallel, o.pipeline_parallel, o.micro_batches};
  if (o.mfu_range.size() != 2) throw UsageError("--mfu-range takes two values: LOW,HIGH");
  r.hardware_time = {o.run_devices, o.run_days, o.mfu_range[0], o.mfu_range[1]};
  r.devices = o.devices;
  r.days = o.days;
  if (r.devices.empty() && r.days.empty()) r.devices = kReferenceDevices;

  nlohmann::json out;
  std::optional<GemmMeasurement> measured;
  if (o.measure) {
    measured = OrExit(MeasureGemm(o.measure_n));
    r.hardware.device_flops = measured->achieved_flops;
    out["measurement"] = ToJson(*measured);
  }

  Plan plan;
  std::optional<Calibration> calibration;
  if (!o.from_log.empty()) {
    CalibratedPlan c = OrExit(PlanFromLog(LogRequest(o, catalog, precision), r, catalog));
    calibration = c.calibration;
    plan = std::move(c.plan);
    out["calibration"] = ToJson(*calibration);
  } else {
    plan = OrExit(MakePlan(r, catalog));
  }
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
                 "  lmlab plan --flops 1e24 --device h100 --mfu 0.4\n"
                 "The seed's token side: lmlab plan tokens\n\n";
  if (measured) std::cout << RenderMeasurementText(*measured) << "\n";
  if (calibration) std::cout << RenderCalibrationText(*calibration) << "target run at the fitted MFU:\n\n";
  std::cout << RenderText(plan);
  if (sweep) std::cout << "\n" << RenderSweepText(*sweep);
  return 0;
}

}  // namespace

void Register(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* sub = AddCommand(
      app, "plan", "Plan training and serving: FLOPs, days or devices, memory, cost, energy, tokens",
      "  lmlab plan                                    # reference: 1e24 FLOP at 1e14 FLOP/s on 1,000 and 22,000 devices\n"
      "  lmlab plan --flops 1e24 --device-flops 1e14 --devices 1000\n"
      "  lmlab plan --params 70B --tokens 15T --device h100 --devices 16384\n"
      "  lmlab plan --preset llama-3-70b --tokens 15T --device h100 --days 90 --pipeline-parallel 8\n"
      "  lmlab plan --preset mixtral-8x7b --chinchilla --device h100 --devices 1024\n"
      "  lmlab plan --params 175B --tokens 300B --device v100 --precision fp16 --run-devices 10000 --run-days 14.8\n"
      "  lmlab plan --from-log train.json --preset llama-3-8b --tokens 15T --device h100 --devices 1024\n"
      "  lmlab plan --flops 1e25 --chinchilla --device b200 --precision fp8 --sweep\n"
      "  lmlab plan --list-devices; lmlab plan --list-models\n"
      "  lmlab plan infer --preset llama-3-8b --device h100 --users 1000\n"
      "  lmlab plan tokens                             # the seed's figures: $1B at $2/M tokens for 5e9 people\n");
  sub->require_subcommand(0, 1);
  auto& s = *sub;
  s.option_defaults()->group("Compute");
  AddQuantity(sub, "--flops", o->flops, "Total training compute in FLOP (1e24, 3.8e25)");
  AddQuantity(sub, "--params", o->params, "Model parameters N (7B, 70e9); with --tokens: C = 6 N D");
  AddQuantity(sub, "--tokens", o->tokens, "Training tokens D (2T, 15e12)");
  s.add_flag("--chinchilla", o->chinchilla, "Compute-optimal: D = 20 N from --params or the model, or N, D from --flops");
  AddModelShapeFlags(sub, o->model);
  AddHardwareFlags(sub, o->hardware,
                   "Model FLOP utilisation in (0,1]; default 0.4 with a catalog peak (public range: GPT-3 ~0.21, "
                   "PaLM ~0.46, Llama-3 405B 0.38-0.43)");
  s.option_defaults()->group("Solve");
  s.add_option("--devices", o->devices, "Device counts to solve days for (1000,22000)")->delimiter(',');
  s.add_option("--days", o->days, "Deadlines in days to solve device counts for (30,90)")->delimiter(',');
  s.add_flag("--sweep", o->sweep, "Add a devices x MFU table of days");
  s.add_option("--sweep-mfu", o->sweep_mfu, "MFU columns for --sweep")->delimiter(',')->capture_default_str();
  s.option_defaults()->group("Epoch AI: compute from hardware and time");
  s.add_option("--run-devices", o->run_devices,
               "Devices a run used; with --run-days, estimates compute as devices x time x peak x utilisation "
               "beside the operation count (Epoch AI's two methods)");
  s.add_option("--run-days", o->run_days, "How long that run took, in days");
  s.add_option("--mfu-range", o->mfu_range, "Utilisation range for the sensitivity row: LOW,HIGH")
      ->delimiter(',')
      ->capture_default_str();
  s.option_defaults()->group("Calibrate from a run");
  s.add_option("--from-log", o->from_log,
               "A log of a run you did: lmlab train --json output, or lines with tokens/s (PyTorch loops, llama.cpp), "
               "or llama.cpp finetune progress; fits the MFU it achieved and plans the target run with it");
  s.add_option("--log-device", o->log_device,
               "Where the logged run ran: this-machine (default: this CPU's fp32 peak) or a catalog device");
  AddQuantity(sub, "--log-peak-flops", o->log_peak_flops, "Peak FLOP/s per device of the logged run (instead of --log-device)");
  s.add_option("--log-devices", o->log_devices, "Devices the logged run used")->capture_default_str();
  AddQuantity(sub, "--log-params", o->log_params, "Parameters of the logged model, when the log does not say");
  s.add_option("--log-preset", o->log_model.preset, "The logged model as a preset (for the attention term)");
  s.add_option("--log-model-config", o->log_model.config, "The logged model's config.json");
  s.add_option("--log-seq-len", o->log_seq_len, "Sequence length of the logged run (llama.cpp finetune logs count sequences)");
  s.option_defaults()->group("Memory");
  s.add_option("--layers", o->layers, "Transformer layers (default: from the model or derived from N)");
  s.add_option("--hidden", o->hidden, "Model width d_model (default: from the model or derived from N)");
  s.add_option("--heads", o->heads, "Attention heads (default: d_model / 128)");
  s.add_option("--vocab", o->vocab, "Vocabulary size for the logits buffer when no model shape is given");
  s.add_option("--seq-len", o->seq_len, "Sequence length (activations and the attention FLOPs)")->capture_default_str();
  s.add_option("--micro-batch", o->micro_batch, "Sequences per device per micro-step")->capture_default_str();
  s.add_option("--recompute", o->recompute, "Activation recomputation: none, selective, full")->capture_default_str();
  s.add_option("--tensor-parallel", o->tensor_parallel, "Tensor-parallel degree (splits activations)")->capture_default_str();
  s.add_option("--pipeline-parallel", o->pipeline_parallel,
               "Pipeline stages; the first stage holds in-flight micro-batches, the last the logits")
      ->capture_default_str();
  s.add_option("--micro-batches", o->micro_batches, "Micro-batches per step per pipeline (0 = pipeline stages)")
      ->capture_default_str();
  s.option_defaults()->group("This machine");
  s.add_flag("--measure", o->measure, "Time an fp32 GEMM here and plan with the measured FLOP/s");
  s.add_option("--measure-size", o->measure_n, "GEMM size for --measure")->capture_default_str();
  s.option_defaults()->group("Output");
  s.add_flag("--list-devices", o->list_devices, "Print the device catalog");
  s.add_flag("--list-models", o->list_models, "Print the model presets with lmlab's and the published parameter counts");
  s.add_flag("--json", o->json, "Print JSON instead of tables");
  // `plan infer` and `plan tokens` run their own callbacks; the parent's runs only without them.
  SetRun(sub, [o, sub] { return sub->get_subcommands().empty() ? Run(*o) : 0; });
  plan_infer_cmd::Register(*sub);
  plan_tokens_cmd::Register(*sub);
}

}  // namespace lmlab::cli::plan_cmd
