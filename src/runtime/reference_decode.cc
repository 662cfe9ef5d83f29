#include "lmlab/runtime/internal/reference_decode.h"

#include <chrono>

#include "runtime/llama_common.h"

namespace lmlab::runtime::internal {

Result<double> PlainDecodeSeconds(const ModelSpec& spec, const std::vector<std::string>& prompts, int batch_tokens) {
  constexpr int kMaxSequences = 64;  // as in llama_activations.cc
  LMLAB_ASSIGN_OR_RETURN(ModelPtr model, LoadLlamaModel(spec));
  const llama_vocab* vocab = llama_model_get_vocab(model.get());
  std::vector<std::vector<llama_token>> tokens;
  int64_t longest = 0;
  for (const std::string& p : prompts) {
    LMLAB_ASSIGN_OR_RETURN(auto t, TokenizeText(vocab, p, AddBos::kYes, ParseSpecial::kNo));
    longest = std::max<int64_t>(longest, static_cast<int64_t>(t.size()));
    tokens.push_back(std::move(t));
  }
  const int64_t capacity = std::max<int64_t>(batch_tokens, longest);
  llama_context_params p = ContextParams(spec, model.get());
  p.n_ctx = p.n_batch = p.n_ubatch = static_cast<uint32_t>(capacity);
  p.n_seq_max = kMaxSequences;
  p.kv_unified = true;
  ContextPtr ctx(llama_init_from_model(model.get(), p));
  if (!ctx) return Internal("cannot create a llama.cpp context: " + TakeLlamaError());
  llama_batch batch = llama_batch_init(static_cast<int32_t>(capacity), 0, 1);
  double seconds = 0;
  size_t next = 0;
  while (next < tokens.size()) {
    size_t first = next;
    int32_t n = 0;
    while (next < tokens.size() && static_cast<int>(next - first) < kMaxSequences &&
           n + static_cast<int64_t>(tokens[next].size()) <= capacity) {
      for (size_t i = 0; i < tokens[next].size(); ++i) {
        batch.token[n] = tokens[next][i];
        batch.pos[n] = static_cast<llama_pos>(i);
        batch.n_seq_id[n] = 1;
        batch.seq_id[n][0] = static_cast<llama_seq_id>(next - first);
        batch.logits[n] = i + 1 == tokens[next].size();
        ++n;
      }
      ++next;
    }
    batch.n_tokens = n;
    auto start = std::chrono::steady_clock::now();
    llama_memory_clear(llama_get_memory(ctx.get()), true);
    int32_t rc = llama_decode(ctx.get(), batch);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (rc != 0) {
      llama_batch_free(batch);
      return Internal("llama_decode failed: " + TakeLlamaError());
    }
  }
  llama_batch_free(batch);
  return seconds;
}

}  // namespace lmlab::runtime::internal
