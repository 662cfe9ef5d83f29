#include "train/graph.h"

#include <cmath>
#include <limits>
#include <map>
#include <string>

namespace lmlab::train::internal {

GraphWeights CreateWeights(ggml_context* ctx, const ModelConfig& config) {
  GraphWeights w;
  std::map<std::string, ggml_tensor*> by_name;
  for (const runtime::TensorShape& s : runtime::LlamaTensorLayout(ToHparams(config))) {
    ggml_tensor* t = s.shape.size() == 1 ? ggml_new_tensor_1d(ctx, GGML_TYPE_F32, s.shape[0])
                                         : ggml_new_tensor_2d(ctx, GGML_TYPE_F32, s.shape[0], s.shape[1]);
    ggml_set_name(t, s.name.c_str());
    by_name[s.name] = t;
    w.all.push_back(t);
  }
  w.tok_embd = by_name.at("token_embd.weight");
  w.out_norm = by_name.at("output_norm.weight");
  w.output = by_name.at("output.weight");
  for (int64_t il = 0; il < config.n_layer; ++il) {
    auto get = [&](const char* what) { return by_name.at("blk." + std::to_string(il) + "." + what + ".weight"); };
    w.layers.push_back({get("attn_norm"), get("attn_q"), get("attn_k"), get("attn_v"), get("attn_output"),
                        get("ffn_norm"), get("ffn_gate"), get("ffn_down"), get("ffn_up")});
  }
  return w;
}

GraphInputs CreateInputs(ggml_context* ctx, int64_t n_tokens, int64_t n_seqs) {
  GraphInputs in;
  in.n_tokens = n_tokens;
  in.n_seqs = n_seqs;
  in.tokens = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n_tokens * n_seqs);
  ggml_set_name(in.tokens, "tokens");
  ggml_set_input(in.tokens);
  in.pos = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n_tokens);
  ggml_set_name(in.pos, "pos");
  ggml_set_input(in.pos);
  in.mask = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, n_tokens, n_tokens);
  ggml_set_name(in.mask, "kq_mask");
  ggml_set_input(in.mask);
  return in;
}

void FillPositionsAndMask(const GraphInputs& in) {
  const int64_t T = in.n_tokens;
  auto* pos = static_cast<int32_t*>(in.pos->data);
  for (int64_t i = 0; i < T; ++i) pos[i] = static_cast<int32_t>(i);
  auto* mask = static_cast<float*>(in.mask->data);  // [T_q rows][T_k columns]
  for (int64_t q = 0; q < T; ++q)
    for (int64_t k = 0; k < T; ++k) mask[q * T + k] = k <= q ? 0.0f : -std::numeric_limits<float>::infinity();
}

ggml_tensor* BuildLogits(ggml_context* ctx, const ModelConfig& c, const GraphWeights& w, const GraphInputs& in) {
  const int64_t T = in.n_tokens, B = in.n_seqs, E = c.n_embd, H = c.n_head, hd = E / H;
  const float kq_scale = 1.0f / std::sqrt(static_cast<float>(hd));
  constexpr int kRopeModeNorm = 0;  // LLAMA_ROPE_TYPE_NORM, llama.cpp's rope type for LLM_ARCH_LLAMA
  auto rope = [&](ggml_tensor* x) {
    // freq_scale 1, ext_factor 0 (no YaRN), attn_factor 1, beta_fast 32, beta_slow 1: llama.cpp's defaults.
    return ggml_rope_ext(ctx, x, in.pos, nullptr, static_cast<int>(hd), kRopeModeNorm, static_cast<int>(c.n_ctx),
                         c.rope_freq_base, 1.0f, 0.0f, 1.0f, 32.0f, 1.0f);
  };
  ggml_tensor* x = ggml_get_rows(ctx, w.tok_embd, in.tokens);  // [E, T*B]
  for (const LayerWeights& l : w.layers) {
    ggml_tensor* cur = ggml_mul(ctx, ggml_rms_norm(ctx, x, c.rms_norm_eps), l.attn_norm);
    ggml_tensor* q = ggml_reshape_4d(ctx, ggml_mul_mat(ctx, l.wq, cur), hd, H, T, B);
    ggml_tensor* k = ggml_reshape_4d(ctx, ggml_mul_mat(ctx, l.wk, cur), hd, H, T, B);
    ggml_tensor* v = ggml_reshape_4d(ctx, ggml_mul_mat(ctx, l.wv, cur), hd, H, T, B);
    q = ggml_permute(ctx, rope(q), 0, 2, 1, 3);                 // [hd, T, H, B]
    k = ggml_permute(ctx, rope(k), 0, 2, 1, 3);                 // [hd, T, H, B]
    ggml_tensor* kq = ggml_mul_mat(ctx, k, q);                  // [T_k, T_q, H, B]
    kq = ggml_soft_max_ext(ctx, kq, in.mask, kq_scale, 0.0f);
    ggml_tensor* vt = ggml_cont(ctx, ggml_permute(ctx, v, 1, 2, 0, 3));  // [T_k, hd, H, B]
    ggml_tensor* kqv = ggml_mul_mat(ctx, vt, kq);               // [hd, T_q, H, B]
    cur = ggml_cont(ctx, ggml_permute(ctx, kqv, 0, 2, 1, 3));   // [hd, H, T, B]
    cur = ggml_mul_mat(ctx, l.wo, ggml_reshape_2d(ctx, cur, E, T * B));
    ggml_tensor* ffn_in = ggml_add(ctx, cur, x);
    cur = ggml_mul(ctx, ggml_rms_norm(ctx, ffn_in, c.rms_norm_eps), l.ffn_norm);
    ggml_tensor* gate = ggml_mul_mat(ctx, l.gate, cur);         // [n_ff, T*B]
    ggml_tensor* up = ggml_mul_mat(ctx, l.up, cur);
    cur = ggml_mul_mat(ctx, l.down, ggml_swiglu_split(ctx, gate, up));
    x = ggml_add(ctx, cur, ffn_in);
  }
  x = ggml_mul(ctx, ggml_rms_norm(ctx, x, c.rms_norm_eps), w.out_norm);
  ggml_tensor* logits = ggml_mul_mat(ctx, w.output, x);  // [V, T*B]
  ggml_set_name(logits, "logits");
  return logits;
}

size_t GraphNodes(const ModelConfig& c) { return 4096 + 256 * static_cast<size_t>(c.n_layer); }

size_t GraphContextBytes(const ModelConfig& c) {
  // Forward, backward and optimizer nodes, plus the graph bookkeeping.
  const size_t nodes = GraphNodes(c);
  return nodes * 4 * ggml_tensor_overhead() + 2 * ggml_graph_overhead_custom(nodes, true);
}

}  // namespace lmlab::train::internal
