// `lmlab plan infer`: serving memory, prefill and decode bounds, devices for N
// users, cost and energy per million tokens; --measure sets a real llama.cpp
// run on this machine beside the bounds. See docs/plan.md.
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/model_flags.h"
#include "cli/plan_flags.h"
#include "lmlab/plan/infer_measure.h"
#include "lmlab/plan/render.h"

namespace lmlab::cli::plan_infer_cmd {
namespace {

using namespace lmlab::plan;

struct Options {
  ModelShapeFlags model;
  HardwareFlags hardware;
  std::string weights = "bf16";
  std::string kv_cache = "f16";
  double mbu = 1.0;
  int64_t prompt_tokens = 1024, output_tokens = 256;
  std::vector<int64_t> batches;
  std::optional<int64_t> users;
  double latency_ms = 50;
  int64_t max_replica_devices = 8;
  bool measure = false;
  std::string gguf;
  int measure_prompt = 128, measure_tokens = 64, measure_repeats = 3, threads = 0;
  bool json = false;
};

int Run(const Options& o) {
  std::optional<ModelShape> shape = ModelShapeOrExit(o.model);
  if (!shape && !o.measure)
    throw UsageError("plan infer: say which model: --preset NAME (see plan --list-models) or --model-config config.json; "
                     "or --measure a GGUF");
  if (!o.measure && !o.gguf.empty()) throw UsageError("--model names the GGUF for --measure: add --measure");
  nlohmann::json out;
  std::string text;
  if (shape) {
    DeviceCatalog catalog = OrExit(DeviceCatalog::LoadDefault());
    InferenceRequest r;
    r.model = *shape;
    r.hardware = ToHardwareRequest(o.hardware, "h100-sxm");
    r.weight_type = o.weights;
    r.kv_type = o.kv_cache;
    r.mbu = o.mbu;
    r.prompt_tokens = o.prompt_tokens;
    r.output_tokens = o.output_tokens;
    r.batches = o.batches;
    r.users = o.users;
    r.latency_ms = o.latency_ms;
    r.max_replica_devices = o.max_replica_devices;
    InferencePlan plan = OrExit(MakeInferencePlan(r, catalog));
    out["plan"] = ToJson(plan);
    text += RenderInferenceText(plan);
  }
  if (o.measure) {
    ModelFlags flags;
    flags.spec.gguf_path = o.gguf;
    ProgressBar bar;
    UseDefaultModelIfNone(flags, bar);
    InferMeasureOptions m{.gguf_path = flags.spec.gguf_path, .prompt_tokens = o.measure_prompt,
                          .gen_tokens = o.measure_tokens, .repeats = o.measure_repeats, .threads = o.threads};
    InferMeasurement measured = OrExit(MeasureInference(m, bar.Callback()));
    bar.Finish();
    out["measurement"] = ToJson(measured);
    text += (text.empty() ? "" : "\nmeasured on this machine:\n") + RenderInferMeasurementText(measured);
  }
  if (o.json) PrintJson(out);
  else std::cout << text;
  return 0;
}

}  // namespace

void Register(CLI::App& plan) {
  auto o = std::make_shared<Options>();
  CLI::App* sub = AddCommand(
      plan, "infer",
      "Plan serving: weights, KV cache, prefill and decode bounds, devices for N users, $ and energy per million tokens",
      "  lmlab plan infer --preset llama-3-8b --device h100\n"
      "  lmlab plan infer --preset llama-3-70b --device h100 --weights fp8 --precision fp8 --users 1000 --latency-ms 50\n"
      "  lmlab plan infer --preset mixtral-8x7b --device a100 --weights q4_K --batch 1,16,64\n"
      "  lmlab plan infer --model-config config.json --device mi300x --prompt-tokens 8192 --output-tokens 512\n"
      "  lmlab plan infer --measure                      # llama.cpp on the default model vs this machine's bounds\n"
      "  lmlab plan infer --measure --model model.gguf --json\n");
  auto& s = *sub;
  AddModelShapeFlags(sub, o->model);
  AddHardwareFlags(sub, o->hardware,
                   "Share of the peak FLOP/s reached, in (0,1]; default 1: the plan's rates are bounds");
  s.option_defaults()->group("Serving");
  s.add_option("--weights", o->weights,
               "Weight type: bf16, fp16, fp8, int8, int4, fp4, or a llama.cpp type (q8_0, q6_K, q5_K, q4_K, q4_0, "
               "iq4_xs, q3_K, q2_K, ...; block scales included)")
      ->capture_default_str();
  s.add_option("--kv-cache", o->kv_cache, "KV cache type (f16, bf16, fp8, q8_0, q4_0, ...)")->capture_default_str();
  s.add_option("--mbu", o->mbu, "Share of the peak memory bandwidth reached, in (0,1]; default 1: a bound")
      ->capture_default_str();
  s.add_option("--prompt-tokens", o->prompt_tokens, "Prompt length per request (prefill)")->capture_default_str();
  s.add_option("--output-tokens", o->output_tokens, "Tokens generated per request (decode)")->capture_default_str();
  s.add_option("--batch", o->batches,
               "Decode batch sizes for the table (default: 1, 8, 32, 128, the crossover and the largest that fits)")
      ->delimiter(',');
  s.add_option("--users", o->users, "Concurrent users to serve: devices needed at --latency-ms");
  s.add_option("--latency-ms", o->latency_ms, "Target time per output token for each user, in ms")->capture_default_str();
  s.add_option("--max-replica-devices", o->max_replica_devices,
               "Largest tensor-parallel replica to consider (unless the model needs more to fit)")
      ->capture_default_str();
  s.option_defaults()->group("Measure on this machine");
  s.add_flag("--measure", o->measure,
             "Run llama.cpp on a GGUF here and print measured vs bound prefill and decode tokens/s with the ratio");
  s.add_option("--model", o->gguf, "GGUF for --measure (default: lmlab's default model, built on first use)");
  s.add_option("--measure-prompt", o->measure_prompt, "Prompt tokens per measured run")->capture_default_str();
  s.add_option("--measure-tokens", o->measure_tokens, "Tokens decoded per measured run")->capture_default_str();
  s.add_option("--measure-repeats", o->measure_repeats, "Measured runs (the median is reported)")->capture_default_str();
  s.add_option("--threads", o->threads, "Threads for llama.cpp (0 = all cores)")->capture_default_str();
  s.option_defaults()->group("Output");
  s.add_flag("--json", o->json, "Print JSON instead of tables");
  SetRun(sub, [o] { return Run(*o); });
}

}  // namespace lmlab::cli::plan_infer_cmd
