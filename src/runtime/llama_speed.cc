#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "lmlab/runtime/speed.h"
#include "runtime/llama_common.h"

namespace lmlab::runtime {
namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

Result<SpeedResult> MeasureSpeed(const std::filesystem::path& gguf, const SpeedOptions& o) {
  if (o.prompt_tokens <= 0 || o.gen_tokens <= 0 || o.repeats <= 0)
    return InvalidArgument(fmt::format("prompt tokens, generated tokens and repeats must be positive (got {}, {}, {})",
                                       o.prompt_tokens, o.gen_tokens, o.repeats));
  if (o.threads < 0) return InvalidArgument("threads must not be negative (0 = all cores)");
  ModelSpec spec{.gguf_path = gguf.string(), .threads = o.threads, .n_gpu_layers = o.n_gpu_layers};
  spec.n_ctx = o.prompt_tokens + o.gen_tokens + 1;
  LMLAB_ASSIGN_OR_RETURN(internal::ModelPtr model, internal::LoadLlamaModel(spec));
  llama_context_params cparams = internal::ContextParams(spec, model.get());
  internal::ContextPtr ctx(llama_init_from_model(model.get(), cparams));
  if (!ctx) {
    std::string why = internal::TakeLlamaError();
    return Internal(fmt::format("cannot create a llama.cpp context for {}{}{}", spec.gguf_path, why.empty() ? "" : ": ", why));
  }
  const llama_vocab* vocab = llama_model_get_vocab(model.get());
  const int32_t n_vocab = llama_vocab_n_tokens(vocab);
  // Token ids spread over the vocabulary, as llama-bench's random tokens are:
  // the speed of a forward pass does not depend on which tokens it sees.
  std::vector<llama_token> prompt(static_cast<size_t>(o.prompt_tokens));
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<llama_token>((i * 7919 + 13) % static_cast<size_t>(n_vocab));

  const int32_t n_batch = static_cast<int32_t>(llama_n_batch(ctx.get()));
  llama_batch batch = llama_batch_init(std::min<int32_t>(o.prompt_tokens, n_batch), 0, 1);
  struct Free {
    llama_batch* b;
    ~Free() { llama_batch_free(*b); }
  } free_batch{&batch};

  auto decode_error = [](int32_t rc) {
    std::string why = internal::TakeLlamaError();
    return Internal(fmt::format("llama_decode failed ({}){}{}", rc, why.empty() ? "" : ": ", why));
  };
  // One run: prefill the prompt, then decode gen_tokens one at a time.
  auto run = [&](int gen) -> Result<SpeedSample> {
    llama_memory_clear(llama_get_memory(ctx.get()), true);
    SpeedSample s;
    auto t0 = std::chrono::steady_clock::now();
    for (int32_t start = 0; start < o.prompt_tokens; start += n_batch) {
      const int32_t count = std::min(n_batch, o.prompt_tokens - start);
      batch.n_tokens = count;
      for (int32_t i = 0; i < count; ++i) {
        batch.token[i] = prompt[static_cast<size_t>(start + i)];
        batch.pos[i] = start + i;
        batch.n_seq_id[i] = 1;
        batch.seq_id[i][0] = 0;
        batch.logits[i] = start + i == o.prompt_tokens - 1;
      }
      if (int32_t rc = llama_decode(ctx.get(), batch); rc != 0) return decode_error(rc);
    }
    llama_synchronize(ctx.get());
    s.prefill_seconds = Since(t0);
    llama_token token = prompt.back();
    t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < gen; ++i) {
      llama_batch one = llama_batch_get_one(&token, 1);
      if (int32_t rc = llama_decode(ctx.get(), one); rc != 0) return decode_error(rc);
      token = static_cast<llama_token>((token + 1) % n_vocab);
    }
    llama_synchronize(ctx.get());
    s.decode_seconds = Since(t0);
    return s;
  };

  SpeedResult r;
  r.info = internal::DescribeModel(model.get(), spec, cparams.n_ctx);
  r.prompt_tokens = o.prompt_tokens;
  r.gen_tokens = o.gen_tokens;
  r.threads = static_cast<int>(cparams.n_threads);
  LMLAB_RETURN_IF_ERROR(run(std::min(o.gen_tokens, 4)));  // warm-up: page in the weights, build the graphs
  std::vector<double> prefill, decode;
  for (int i = 0; i < o.repeats; ++i) {
    LMLAB_ASSIGN_OR_RETURN(SpeedSample s, run(o.gen_tokens));
    r.samples.push_back(s);
    prefill.push_back(s.prefill_seconds);
    decode.push_back(s.decode_seconds);
  }
  r.prefill_tokens_per_second = o.prompt_tokens / Median(prefill);
  r.decode_tokens_per_second = o.gen_tokens / Median(decode);
  return r;
}

}  // namespace lmlab::runtime
