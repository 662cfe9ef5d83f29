#include "lmlab/train/model.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <random>

#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpp.h"
#include "ggml-cpu.h"
#include "lmlab/core/threads.h"
#include "train/graph.h"
#include "lmlab/train/internal/products.h"

namespace lmlab::train {

Status ValidateConfig(const ModelConfig& c) {
  if (c.n_vocab < 4) return InvalidArgument(fmt::format("vocabulary size {} is too small", c.n_vocab));
  if (c.n_layer < 1 || c.n_layer > 64) return InvalidArgument(fmt::format("`n_layer` must be in [1, 64] (got {})", c.n_layer));
  if (c.n_embd < 2 || c.n_embd > 8192) return InvalidArgument(fmt::format("`n_embd` must be in [2, 8192] (got {})", c.n_embd));
  if (c.n_head < 1) return InvalidArgument(fmt::format("`n_head` must be positive (got {})", c.n_head));
  if (c.n_embd % c.n_head != 0)
    return InvalidArgument(fmt::format("`n_head` {} does not divide `n_embd` {}: each head needs width/heads channels; "
                                       "pick heads from the divisors of the width",
                                       c.n_head, c.n_embd));
  if ((c.n_embd / c.n_head) % 2 != 0)
    return InvalidArgument(fmt::format("head size `n_embd`/`n_head` = {} must be even for RoPE", c.n_embd / c.n_head));
  if (c.n_ctx < 2 || c.n_ctx > 4096) return InvalidArgument(fmt::format("`n_ctx` must be in [2, 4096] (got {})", c.n_ctx));
  if (c.n_ff < 0) return InvalidArgument(fmt::format("feed-forward size must be positive (got {})", c.n_ff));
  if (!(c.rms_norm_eps > 0) || !(c.rope_freq_base > 0)) return InvalidArgument("rms_norm_eps and rope_freq_base must be positive");
  return {};
}

int64_t FeedForwardSize(const ModelConfig& c) {
  if (c.n_ff > 0) return c.n_ff;
  const int64_t ff = (8 * c.n_embd + 2) / 3;
  return (ff + 31) / 32 * 32;
}

runtime::LlamaHparams ToHparams(const ModelConfig& c) {
  runtime::LlamaHparams hp;
  hp.name = "lmlab";
  hp.n_vocab = c.n_vocab;
  hp.n_ctx_train = c.n_ctx;
  hp.n_embd = c.n_embd;
  hp.n_layer = c.n_layer;
  hp.n_head = c.n_head;
  hp.n_head_kv = c.n_head;
  hp.n_ff = FeedForwardSize(c);
  hp.rms_norm_eps = c.rms_norm_eps;
  hp.rope_freq_base = c.rope_freq_base;
  return hp;
}

double TrainingFlopsPerToken(const ModelConfig& c) {
  const double E = static_cast<double>(c.n_embd), F = static_cast<double>(FeedForwardSize(c));
  const double L = static_cast<double>(c.n_layer), V = static_cast<double>(c.n_vocab);
  const double matrix_params = L * (4 * E * E + 3 * E * F) + E * V;  // blocks (q k v o, gate up down) + output
  return 6 * matrix_params + 12 * L * static_cast<double>(c.n_ctx) * E;
}

const NamedTensor* Model::Find(std::string_view name) const {
  for (const NamedTensor& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

int64_t Model::NumParams() const {
  int64_t n = 0;
  for (const NamedTensor& t : tensors) n += static_cast<int64_t>(t.data.size());
  return n;
}

Model InitModel(const ModelConfig& config, const runtime::LlamaVocab& vocab, uint64_t seed) {
  Model m;
  m.config = config;
  m.vocab = vocab;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  const float residual_scale = 1.0f / std::sqrt(2.0f * static_cast<float>(config.n_layer));
  for (runtime::TensorShape& s : runtime::LlamaTensorLayout(ToHparams(config))) {
    NamedTensor t{std::move(s.name), std::move(s.shape), {}};
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    t.data.resize(n);
    if (t.shape.size() == 1) {
      std::fill(t.data.begin(), t.data.end(), 1.0f);  // RMSNorm gains
    } else {
      const bool residual_out = t.name.ends_with("attn_output.weight") || t.name.ends_with("ffn_down.weight");
      for (float& x : t.data) x = normal(rng) * (residual_out ? residual_scale : 1.0f);
    }
    m.tensors.push_back(std::move(t));
  }
  return m;
}

Result<std::vector<float>> ForwardLogits(const Model& model, std::span<const int32_t> tokens, int threads) {
  const ModelConfig& c = model.config;
  LMLAB_RETURN_IF_ERROR(ValidateConfig(c));
  const int64_t T = static_cast<int64_t>(tokens.size());
  if (T == 0) return InvalidArgument("no tokens to evaluate");
  if (T > c.n_ctx) return OutOfRange(fmt::format("{} tokens do not fit the context of {}", T, c.n_ctx));
  for (int32_t t : tokens)
    if (t < 0 || t >= c.n_vocab) return InvalidArgument(fmt::format("token id {} is outside the vocabulary", t));

  ggml_init_params sp{ggml_tensor_overhead() * (model.tensors.size() + 8), nullptr, true};
  ggml_context_ptr ctx_static(ggml_init(sp));
  internal::GraphWeights w = internal::CreateWeights(ctx_static.get(), c);
  if (w.all.size() != model.tensors.size()) return Internal("model tensors do not match the llama layout");
  internal::GraphInputs in = internal::CreateInputs(ctx_static.get(), T, 1);
  ggml_backend_ptr backend(ggml_backend_cpu_init());
  if (!backend) return Internal("cannot start the ggml CPU backend");
  ggml_backend_cpu_set_n_threads(backend.get(), ResolveThreads(threads));
  ggml_backend_buffer_ptr buf(ggml_backend_alloc_ctx_tensors(ctx_static.get(), backend.get()));
  if (!buf) return Internal("cannot allocate the model's weights");
  for (size_t i = 0; i < w.all.size(); ++i) {
    if (static_cast<int64_t>(model.tensors[i].data.size()) != ggml_nelements(w.all[i]))
      return InvalidArgument("tensor " + model.tensors[i].name + " has the wrong size for the config");
    std::memcpy(w.all[i]->data, model.tensors[i].data.data(), ggml_nbytes(w.all[i]));
  }
  std::memcpy(in.tokens->data, tokens.data(), T * sizeof(int32_t));
  internal::FillPositionsAndMask(in);

  ggml_init_params cp{internal::GraphContextBytes(c), nullptr, true};
  ggml_context_ptr ctx(ggml_init(cp));
  ggml_tensor* logits = internal::BuildLogits(ctx.get(), c, w, in);
  ggml_set_output(logits);
  ggml_cgraph* gf = ggml_new_graph_custom(ctx.get(), internal::GraphNodes(c), false);
  ggml_build_forward_expand(gf, logits);
  internal::UseEigenProducts(gf);
  ggml_gallocr_ptr galloc(ggml_gallocr_new(ggml_backend_get_default_buffer_type(backend.get())));
  if (!ggml_gallocr_alloc_graph(galloc.get(), gf)) return Internal("cannot allocate the forward graph");
  if (ggml_backend_graph_compute(backend.get(), gf) != GGML_STATUS_SUCCESS) return Internal("forward pass failed");
  std::vector<float> out(T * c.n_vocab);
  std::memcpy(out.data(), logits->data, out.size() * sizeof(float));
  return out;
}

Status ExportGguf(const Model& model, const std::filesystem::path& path) {
  std::vector<runtime::GgufTensor> tensors;
  for (const NamedTensor& t : model.tensors) tensors.push_back({t.name, t.shape, t.data});
  return runtime::WriteLlamaGguf(path, ToHparams(model.config), model.vocab, tensors);
}

}  // namespace lmlab::train
