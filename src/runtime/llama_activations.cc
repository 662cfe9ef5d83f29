// Activation capture: the residual stream after every block, read from
// llama.cpp's graph through the scheduler's eval callback (cb_eval). The graph
// names that tensor "l_out-<layer>" (shape [n_embd, n_tokens] per ubatch).
// The same technique as llama.cpp's tools/cvector-generator. Optionally also
// the MLP hidden activations of chosen blocks (see kMlpNames).
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>

#include "ggml-backend.h"
#include "lmlab/runtime/activations.h"
#include "runtime/llama_common.h"

namespace lmlab::runtime {
namespace {

using internal::ContextPtr;
using internal::ModelPtr;

constexpr std::string_view kLayerOutput = "l_out-";
// The tensor that llm_graph_context::build_ffn (llama.cpp src/llama-graph.cpp)
// feeds into ffn_down, by activation. Llama's SiLU-gated FFN names it
// "ffn_swiglu-<layer>": SWIGLU(ffn_gate-<layer>, ffn_up-<layer>), [n_ff, n_tokens],
// the second operand of MUL_MAT(blk.<layer>.ffn_down.weight, .) (as listed by
// llama-eval-callback on lmlab's tiny llama model; the runtime test recomputes
// it from the weights). The other names are build_ffn's for other gated and
// ungated activations (not tested here). Where a block produces several (a
// clamped SwiGLU's ffn_silu, ffn_gelu then ffn_act, an activation then
// ffn_gate_par), ffn_down's input is computed last, so the last one wins.
constexpr std::string_view kMlpNames[] = {"ffn_swiglu-",         "ffn_geglu-",     "ffn_reglu-", "ffn_swiglu_oai-",
                                          "ffn_swiglu_limited-", "ffn_gate_par-",  "ffn_silu-",  "ffn_gelu-",
                                          "ffn_relu-",           "ffn_sqr(relu)-", "ffn_act-"};
// llama.cpp's limit on distinct sequence ids in one context (LLAMA_MAX_SEQ).
constexpr int kMaxSequences = 64;

// Where the eval callback writes: per layer, the batch's [n_tokens, n_embd] rows.
struct CaptureBuffer {
  int64_t n_layers = 0;
  int64_t n_embd = 0;
  int64_t n_tokens = 0;             // tokens of the batch being decoded
  int64_t n_outputs = 0;            // of which marked as outputs
  bool residual = true;             // capture l_out
  std::vector<float> data;          // [n_layers, n_tokens, n_embd]
  std::vector<int64_t> rows;        // [n_layers]: n_tokens, or n_outputs where llama.cpp kept only output rows
  std::vector<char> seen;           // [n_layers]: layer captured in this decode
  // MLP hidden activations, for the layers in want_mlp.
  std::vector<char> want_mlp;           // [n_layers]
  int64_t n_ff = 0;                     // from the first MLP tensor seen (0 = none yet)
  std::vector<std::vector<float>> mlp;  // [n_layers]: [n_tokens, n_ff] for wanted layers
  std::vector<int64_t> mlp_rows;        // [n_layers], as `rows`
  std::vector<char> mlp_seen;           // [n_layers]
  std::string error;                // set when a tensor is not what we expect
};

bool ParseLayer(const char* name, std::string_view prefix, int64_t* layer) {
  std::string_view n(name);
  if (!n.starts_with(prefix)) return false;
  n.remove_prefix(prefix.size());
  int64_t v = -1;
  auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), v);
  if (ec != std::errc() || p != n.data() + n.size()) return false;
  *layer = v;
  return true;
}

// A wanted block's MLP hidden-activation tensor.
bool IsWantedMlp(const CaptureBuffer& buf, const char* name, int64_t* layer) {
  for (std::string_view prefix : kMlpNames)
    if (ParseLayer(name, prefix, layer))
      return *layer >= 0 && *layer < buf.n_layers && buf.want_mlp[static_cast<size_t>(*layer)];
  return false;
}

void CopyMlp(CaptureBuffer* buf, ggml_tensor* t, int64_t layer) {
  const bool all = t->ne[1] == buf->n_tokens, outputs_only = t->ne[1] == buf->n_outputs;
  if (buf->n_ff == 0) buf->n_ff = t->ne[0];
  if (t->type != GGML_TYPE_F32 || !(all || outputs_only) || !ggml_is_contiguous(t) ||
      ggml_nelements(t) != t->ne[0] * t->ne[1]) {
    buf->error = fmt::format("{} is {} [{}, {}, {}, {}], expected f32 [n_ff, {}]", t->name, ggml_type_name(t->type),
                             t->ne[0], t->ne[1], t->ne[2], t->ne[3], buf->n_tokens);
    return;
  }
  if (t->ne[0] != buf->n_ff) {
    buf->error = fmt::format(
        "{} has {} MLP units where another requested block has {}; request blocks of "
        "different widths separately",
        t->name, t->ne[0], buf->n_ff);
    return;
  }
  std::vector<float>& dst = buf->mlp[static_cast<size_t>(layer)];
  dst.resize(static_cast<size_t>(buf->n_tokens * buf->n_ff));
  ggml_backend_tensor_get(t, dst.data(), 0, static_cast<size_t>(t->ne[1] * buf->n_ff) * sizeof(float));
  buf->mlp_seen[static_cast<size_t>(layer)] = 1;
  buf->mlp_rows[static_cast<size_t>(layer)] = t->ne[1];
}

// Called by ggml's scheduler twice per graph node: ask == true to learn
// whether we want the node (returning true keeps it from being fused away and
// makes the scheduler stop after it), then ask == false once it is computed.
bool EvalCallback(ggml_tensor* t, bool ask, void* user_data) {
  auto* buf = static_cast<CaptureBuffer*>(user_data);
  int64_t layer = -1;
  if (IsWantedMlp(*buf, t->name, &layer)) {
    if (!ask) CopyMlp(buf, t, layer);
    return true;
  }
  if (!buf->residual || !ParseLayer(t->name, kLayerOutput, &layer)) return ask ? false : true;
  if (ask) return true;
  if (layer < 0 || layer >= buf->n_layers) return true;
  // The last layer keeps only the output rows (llama.cpp skips the rest).
  const bool all = t->ne[1] == buf->n_tokens, outputs_only = t->ne[1] == buf->n_outputs;
  if (t->type != GGML_TYPE_F32 || t->ne[0] != buf->n_embd || !(all || outputs_only) || !ggml_is_contiguous(t)) {
    buf->error = fmt::format("{} is {} [{}, {}], expected f32 [{}, {}]", t->name, ggml_type_name(t->type), t->ne[0],
                             t->ne[1], buf->n_embd, buf->n_tokens);
    return true;
  }
  float* dst = buf->data.data() + layer * buf->n_tokens * buf->n_embd;
  // Works for host and device (CUDA) buffers alike.
  ggml_backend_tensor_get(t, dst, 0, static_cast<size_t>(t->ne[1] * buf->n_embd) * sizeof(float));
  buf->seen[static_cast<size_t>(layer)] = 1;
  buf->rows[static_cast<size_t>(layer)] = t->ne[1];
  return true;
}

class LlamaActivationModel final : public ActivationModel {
 public:
  LlamaActivationModel(ModelSpec spec, ModelPtr model) : spec_(std::move(spec)), model_(std::move(model)) {
    vocab_ = llama_model_get_vocab(model_.get());
    buf_.n_layers = llama_model_n_layer(model_.get());
    buf_.n_embd = llama_model_n_embd(model_.get());
  }

  Result<Activations> CaptureActivations(const ActivationRequest& request) override {
    if (request.batch_tokens <= 0) return InvalidArgument("batch_tokens must be positive");
    LMLAB_RETURN_IF_ERROR(SetStreams(request));
    Activations out;
    out.n_prompts = static_cast<int64_t>(request.prompts.size());
    out.n_layers = buf_.n_layers;
    out.n_embd = buf_.n_embd;
    if (buf_.residual) out.data.assign(static_cast<size_t>(out.n_prompts * out.n_layers * out.n_embd), 0.0f);
    out.n_tokens.resize(request.prompts.size());
    out.mlp.resize(static_cast<size_t>(out.n_layers));
    const bool any_mlp = std::find(buf_.want_mlp.begin(), buf_.want_mlp.end(), 1) != buf_.want_mlp.end();

    if (!request.prefix_tokens.empty() && request.prefix_tokens.size() != request.prompts.size())
      return InvalidArgument(fmt::format("{} prefix token lists for {} prompts", request.prefix_tokens.size(),
                                         request.prompts.size()));
    std::vector<std::vector<llama_token>> tokens(request.prompts.size());
    int64_t longest = 0;
    for (size_t p = 0; p < request.prompts.size(); ++p) {
      LMLAB_ASSIGN_OR_RETURN(tokens[p], internal::TokenizeText(vocab_, request.prompts[p], request.add_bos,
                                                               internal::ParseSpecial::kNo));
      if (!request.prefix_tokens.empty() && !request.prefix_tokens[p].empty()) {
        const int32_t n_vocab = llama_vocab_n_tokens(vocab_);
        for (int32_t id : request.prefix_tokens[p])
          if (id < 0 || id >= n_vocab)
            return InvalidArgument(fmt::format("prefix token {} of prompt {} is outside the vocabulary (0..{})", id, p,
                                               n_vocab - 1));
        const bool bos = request.add_bos == AddBos::kYes && !tokens[p].empty() && tokens[p][0] == llama_vocab_bos(vocab_);
        tokens[p].insert(tokens[p].begin() + (bos ? 1 : 0), request.prefix_tokens[p].begin(), request.prefix_tokens[p].end());
      }
      if (tokens[p].empty()) return InvalidArgument(fmt::format("prompt {} is empty (and no BOS is added)", p));
      out.n_tokens[p] = static_cast<int32_t>(tokens[p].size());
      longest = std::max<int64_t>(longest, static_cast<int64_t>(tokens[p].size()));
    }
    if (request.prompts.empty()) return out;
    const int64_t n_ctx_train = llama_model_n_ctx_train(model_.get());
    const int64_t limit = spec_.n_ctx > 0 ? spec_.n_ctx : n_ctx_train;
    if (longest > limit) {
      size_t which = 0;
      while (static_cast<int64_t>(tokens[which].size()) != longest) ++which;
      return internal::ContextOverflow(longest, limit, fmt::format("prompt {}", which));
    }
    const int64_t capacity = std::max<int64_t>(request.batch_tokens, longest);
    LMLAB_RETURN_IF_ERROR(EnsureContext(capacity));

    llama_batch batch = llama_batch_init(static_cast<int32_t>(capacity), 0, 1);
    struct BatchGuard {
      llama_batch* b;
      ~BatchGuard() { llama_batch_free(*b); }
    } guard{&batch};

    size_t next = 0;
    Report(request.progress, {.stage = "capturing activations", .done = 0, .total = double(out.n_prompts), .unit = "prompts"});
    while (next < tokens.size()) {
      // Pack whole prompts, each its own sequence, until the batch is full.
      size_t first = next;
      int32_t n = 0, n_outputs = 0;
      while (next < tokens.size() && static_cast<int>(next - first) < kMaxSequences &&
             n + static_cast<int64_t>(tokens[next].size()) <= capacity) {
        const int32_t seq = static_cast<int32_t>(next - first);
        for (size_t i = 0; i < tokens[next].size(); ++i) {
          batch.token[n] = tokens[next][i];
          batch.pos[n] = static_cast<llama_pos>(i);
          batch.n_seq_id[n] = 1;
          batch.seq_id[n][0] = seq;
          // Outputs: llama.cpp computes the last layer only for output rows
          // (and the logits of each). The last token suffices for kLast.
          batch.logits[n] = request.position == TokenPosition::kMean || i + 1 == tokens[next].size();
          n_outputs += batch.logits[n];
          ++n;
        }
        ++next;
      }
      batch.n_tokens = n;
      buf_.n_tokens = n;
      buf_.n_outputs = n_outputs;
      buf_.rows.assign(static_cast<size_t>(buf_.n_layers), 0);
      if (buf_.residual) buf_.data.resize(static_cast<size_t>(buf_.n_layers * n * buf_.n_embd));
      buf_.seen.assign(static_cast<size_t>(buf_.n_layers), 0);
      buf_.mlp_rows.assign(static_cast<size_t>(buf_.n_layers), 0);
      buf_.mlp_seen.assign(static_cast<size_t>(buf_.n_layers), 0);
      buf_.error.clear();
      llama_memory_clear(llama_get_memory(ctx_.get()), true);
      if (int32_t rc = llama_decode(ctx_.get(), batch); rc != 0) {
        std::string why = internal::TakeLlamaError();
        return Internal(fmt::format("llama_decode failed ({}){}{}", rc, why.empty() ? "" : ": ", why));
      }
      if (!buf_.error.empty()) return Unsupported("unexpected activation tensor: " + buf_.error);
      if (buf_.residual && std::count(buf_.seen.begin(), buf_.seen.end(), 1) != buf_.n_layers) {
        return Unsupported(
            fmt::format("the {} graph does not expose l_out-<layer> tensors for all {} layers; "
                        "activation capture supports architectures that do",
                        Architecture(), buf_.n_layers));
      }
      for (int64_t l = 0; l < buf_.n_layers; ++l)
        if (buf_.want_mlp[static_cast<size_t>(l)] && !buf_.mlp_seen[static_cast<size_t>(l)])
          return Unsupported(
              fmt::format("the {} graph exposes no MLP hidden activations for block {} (llama.cpp's "
                          "ffn_swiglu-{} or another activation of build_ffn); MLP capture supports "
                          "architectures that do",
                          Architecture(), l, l));
      if (any_mlp && out.n_ff == 0) {
        out.n_ff = buf_.n_ff;
        for (int64_t l = 0; l < buf_.n_layers; ++l)
          if (buf_.want_mlp[static_cast<size_t>(l)])
            out.mlp[static_cast<size_t>(l)].assign(static_cast<size_t>(out.n_prompts * out.n_ff), 0.0f);
      }
      // Gather the chosen position of each prompt from [n_layers, n_tokens, width].
      int32_t offset = 0;
      for (size_t p = first; p < next; ++p) {
        const int32_t len = static_cast<int32_t>(tokens[p].size());
        const bool bos = request.add_bos == AddBos::kYes && len > 1 && tokens[p][0] == llama_vocab_bos(vocab_);
        // Pools the prompt's rows of one layer's tensor ([rows, width]) into dst.
        auto pool = [&](const float* layer, int64_t rows, int64_t width, float* dst) {
          if (request.position == TokenPosition::kLast) {
            // Row of the prompt's last token: among all tokens, or among the outputs (one per prompt).
            const int64_t row = rows == n ? offset + len - 1 : int64_t(p - first);
            std::memcpy(dst, layer + row * width, width * sizeof(float));
          } else {
            const int32_t from = bos ? 1 : 0;
            for (int32_t i = from; i < len; ++i) {
              const float* row = layer + static_cast<int64_t>(offset + i) * width;
              for (int64_t e = 0; e < width; ++e) dst[e] += row[e];
            }
            const float inv = 1.0f / static_cast<float>(len - from);
            for (int64_t e = 0; e < width; ++e) dst[e] *= inv;
          }
        };
        for (int64_t l = 0; l < buf_.n_layers; ++l) {
          const size_t li = static_cast<size_t>(l);
          if (buf_.residual)
            pool(buf_.data.data() + l * n * buf_.n_embd, buf_.rows[li], buf_.n_embd,
                 out.data.data() + (static_cast<int64_t>(p) * out.n_layers + l) * out.n_embd);
          if (buf_.want_mlp[li])
            pool(buf_.mlp[li].data(), buf_.mlp_rows[li], out.n_ff,
                 out.mlp[li].data() + static_cast<int64_t>(p) * out.n_ff);
        }
        offset += len;
      }
      Report(request.progress,
             {.stage = "capturing activations", .done = double(next), .total = double(out.n_prompts), .unit = "prompts"});
    }
    return out;
  }

  Result<std::vector<int32_t>> Tokenize(std::string_view text, AddBos add_bos) override {
    LMLAB_ASSIGN_OR_RETURN(std::vector<llama_token> ids,
                           internal::TokenizeText(vocab_, text, add_bos, internal::ParseSpecial::kNo));
    return std::vector<int32_t>(ids.begin(), ids.end());
  }

  int64_t n_vocab() const override { return llama_vocab_n_tokens(vocab_); }

 private:
  std::string Architecture() const {
    char arch[64] = "?";
    llama_model_meta_val_str(model_.get(), "general.architecture", arch, sizeof arch);
    return arch;
  }

  // Which tensors the callback copies for this request; validates mlp_layers.
  Status SetStreams(const ActivationRequest& request) {
    buf_.residual = request.streams != ActivationStreams::kMlp;
    buf_.want_mlp.assign(static_cast<size_t>(buf_.n_layers), 0);
    buf_.n_ff = 0;
    if (request.streams != ActivationStreams::kResidual) {
      if (request.mlp_layers.empty())
        return InvalidArgument("mlp_layers is empty: name the blocks whose MLP activations to capture");
      for (int64_t l : request.mlp_layers) {
        if (l < 0 || l >= buf_.n_layers)
          return InvalidArgument(fmt::format("mlp_layers: block {} does not exist (the model has {} blocks, 0..{})", l,
                                             buf_.n_layers, buf_.n_layers - 1));
        buf_.want_mlp[static_cast<size_t>(l)] = 1;
      }
      // A mixture-of-experts block has no single n_ff-wide hidden vector
      // (build_moe_ffn names its tensors ffn_moe_*; a shared expert's would be
      // mistaken for the block's).
      char experts[32] = "";
      const std::string key = Architecture() + ".expert_count";
      const bool moe =
          llama_model_meta_val_str(model_.get(), key.c_str(), experts, sizeof experts) > 0 && std::atoll(experts) > 0;
      if (moe)
        return Unsupported(
            fmt::format("MLP activation capture does not support mixture-of-experts models ({}, {} experts)",
                        Architecture(), experts));
    }
    buf_.mlp.resize(static_cast<size_t>(buf_.n_layers));
    for (int64_t l = 0; l < buf_.n_layers; ++l)
      if (!buf_.want_mlp[static_cast<size_t>(l)]) std::vector<float>().swap(buf_.mlp[static_cast<size_t>(l)]);
    if (!buf_.residual) std::vector<float>().swap(buf_.data);
    return {};
  }

  // A context big enough for `capacity` tokens in one ubatch (so the callback
  // sees whole batches, in batch order), recreated only when it must grow.
  Status EnsureContext(int64_t capacity) {
    if (ctx_ && capacity <= capacity_) return {};
    ctx_.reset();
    llama_context_params p = internal::ContextParams(spec_, model_.get());
    p.n_ctx = static_cast<uint32_t>(capacity);
    p.n_batch = static_cast<uint32_t>(capacity);
    p.n_ubatch = static_cast<uint32_t>(capacity);
    p.n_seq_max = kMaxSequences;
    p.kv_unified = true;  // the sequences share the n_ctx cells of one batch
    // Flash attention stays as llama.cpp chooses (on for CPU): turning it off
    // makes a prompt's vectors independent of its batch neighbours to 1e-6
    // instead of ~1e-3, but capture 40% slower; probes do not need the former.
    p.cb_eval = EvalCallback;
    p.cb_eval_user_data = &buf_;
    llama_context* ctx = llama_init_from_model(model_.get(), p);
    if (!ctx) {
      std::string why = internal::TakeLlamaError();
      return Internal(fmt::format("cannot create a llama.cpp context{}{}", why.empty() ? "" : ": ", why));
    }
    ctx_.reset(ctx);
    capacity_ = static_cast<int64_t>(llama_n_ctx(ctx));
    return {};
  }

  ModelSpec spec_;
  ModelPtr model_;
  ContextPtr ctx_;
  int64_t capacity_ = 0;
  const llama_vocab* vocab_ = nullptr;
  CaptureBuffer buf_;
};

}  // namespace

Result<std::unique_ptr<ActivationModel>> OpenActivationModel(const ModelSpec& spec) {
  if (spec.gguf_path.empty()) return InvalidArgument("activation capture needs a local GGUF model (`gguf_path`)");
  if (spec.n_ctx < 0) return InvalidArgument("`n_ctx` must not be negative (0 = the model's training context)");
  LMLAB_ASSIGN_OR_RETURN(ModelPtr model, internal::LoadLlamaModel(spec));
  if (!llama_model_has_decoder(model.get()) || llama_model_has_encoder(model.get()))
    return Unsupported("activation capture supports decoder-only models");
  return std::unique_ptr<ActivationModel>(std::make_unique<LlamaActivationModel>(spec, std::move(model)));
}

}  // namespace lmlab::runtime
