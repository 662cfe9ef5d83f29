#include "cli/model_flags.h"

#include <iostream>

#include "lmlab/train/default_model.h"

#include "cli/common.h"

namespace lmlab::cli {

void AddModelFlags(CLI::App* app, ModelFlags& flags) {
  runtime::ModelSpec& s = flags.spec;
  app->add_option("--model", s.gguf_path, "Local GGUF model file, run in-process by llama.cpp")
      ->type_name("PATH.gguf")
      ->group("Model");
  app->add_option("--endpoint", s.endpoint,
                  "OpenAI-compatible server instead of a file (http://127.0.0.1:8080, with or without /v1)")
      ->type_name("URL")
      ->group("Model");
  app->add_option("--api-model", s.api_model, "Model name to request from --endpoint")->type_name("NAME")->group("Model");
  app->add_option("--api-key-env", s.api_key_env,
                  "Environment variable holding the endpoint's API key (the key is never printed)")
      ->type_name("VAR")
      ->capture_default_str()
      ->group("Model");
  app->add_option("--threads", s.threads, "CPU threads for a local model (0 = the idle cores: cores minus the load average)")
      ->capture_default_str()
      ->group("Model");
  app->add_option("--ctx", s.n_ctx, "Context window in tokens (0 = the model's own, at most 4096)")
      ->capture_default_str()
      ->group("Model");
  app->add_option("--gpu-layers", s.n_gpu_layers,
                  "Layers to offload to the GPU in a CUDA build (-1 = all; 0 = $LMLAB_GPU_LAYERS if set; ignored without a GPU)")
      ->capture_default_str()
      ->group("Model");
}

void CheckModelFlags(const ModelFlags& flags) {
  const runtime::ModelSpec& s = flags.spec;
  if (s.gguf_path.empty() && s.endpoint.empty())
    throw UsageError(
        "no model given: pass --model PATH.gguf (a local GGUF file) or --endpoint URL --api-model NAME "
        "(an OpenAI-compatible server); try 'lmlab model tiny tiny.gguf' for a small test model");
  if (!s.gguf_path.empty() && !s.endpoint.empty())
    throw UsageError("give either --model or --endpoint, not both");
  if (!s.endpoint.empty() && s.api_model.empty()) throw UsageError("--endpoint needs --api-model NAME");
  if (s.threads < 0) throw UsageError("--threads must be 0 (the idle cores) or positive");
  if (s.n_ctx < 0) throw UsageError("--ctx must be 0 (the model's own) or positive");
  if (s.n_gpu_layers < -1) throw UsageError("--gpu-layers must be -1 (all), 0 or positive");
}

bool UseDefaultModelIfNone(ModelFlags& flags, ProgressBar& bar) {
  if (!flags.spec.gguf_path.empty() || !flags.spec.endpoint.empty()) return false;
  std::cerr << "No --model given: using lmlab's embedded default model (built on first use).\n";
  flags.spec.gguf_path = OrExit(train::EnsureDefaultModel(bar.Callback())).string();
  bar.Finish();
  return true;
}

std::unique_ptr<runtime::LanguageModel> OpenModelOrExit(const ModelFlags& flags) {
  CheckModelFlags(flags);
  return OrExit(runtime::OpenModel(flags.spec));
}

}  // namespace lmlab::cli
