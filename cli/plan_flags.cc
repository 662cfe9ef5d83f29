#include "cli/plan_flags.h"

#include "cli/common.h"

namespace lmlab::cli {

void AddHardwareFlags(CLI::App* s, HardwareFlags& f, const std::string& mfu_help) {
  s->option_defaults()->group("Hardware");
  s->add_option("--device", f.device, "Device from the catalog (h100, a100, b200, mi300x, ...; see plan --list-devices)");
  AddQuantity(s, "--device-flops", f.device_flops,
              "FLOP/s per device instead of the catalog peak (taken as sustained: MFU defaults to 100%)");
  s->add_option("--precision", f.precision, "Compute precision of the peak: fp64, fp32, tf32, bf16, fp16, fp8, fp4, int8")
      ->capture_default_str();
  s->add_flag("--sparse", f.sparse, "Use the 2:4 structured-sparsity peak");
  s->add_option("--mfu", f.mfu, mfu_help);
  s->add_option("--memory-gb", f.memory_gb, "Device memory in GB (overrides the catalog)");
  s->add_option("--bandwidth", f.bandwidth_tbs, "Device memory bandwidth in TB/s (overrides the catalog)");
  s->add_option("--tdp", f.tdp, "Device power in watts (overrides the catalog)");
  s->add_option("--price", f.price, "USD per device-hour (overrides the catalog's illustrative price)");
  s->add_option("--pue", f.pue, "Data-centre power usage effectiveness for energy")->capture_default_str();
}

plan::HardwareRequest ToHardwareRequest(const HardwareFlags& f, const std::string& default_device) {
  plan::HardwareRequest r;
  r.device = f.device.empty() && !f.device_flops ? default_device : f.device;
  r.precision = OrExit(plan::ParsePrecision(f.precision));
  r.sparsity = f.sparse ? plan::Sparsity::kSparse24 : plan::Sparsity::kDense;
  r.device_flops = f.device_flops;
  r.mfu = f.mfu;
  if (f.memory_gb) r.memory_bytes = *f.memory_gb * 1e9;
  if (f.bandwidth_tbs) r.bandwidth_bytes_per_s = *f.bandwidth_tbs * 1e12;
  r.tdp_watts = f.tdp;
  r.price_per_hour = f.price;
  r.pue = f.pue;
  return r;
}

void AddModelShapeFlags(CLI::App* s, ModelShapeFlags& f) {
  s->option_defaults()->group("Model");
  s->add_option("--preset", f.preset,
                "A published model's shape: llama-3-8b, qwen2.5-7b, mixtral-8x7b, gemma-7b, phi-2, ... "
                "(see plan --list-models)");
  s->add_option("--model-config", f.config,
                "A Hugging Face config.json (hidden_size, num_hidden_layers, num_attention_heads, "
                "num_key_value_heads, intermediate_size, vocab_size, num_local_experts, ...)");
}

std::optional<plan::ModelShape> ModelShapeOrExit(const ModelShapeFlags& f) {
  if (f.preset.empty() && f.config.empty()) return std::nullopt;
  return OrExit(plan::ResolveModelShape(f.preset, f.config));
}

}  // namespace lmlab::cli
