// Activation capture: the residual stream after every block, read from
// llama.cpp's graph through the scheduler's eval callback (cb_eval). The graph
// names that tensor "l_out-<layer>" (shape [n_embd, n_tokens] per ubatch).
// The same technique as llama.cpp's tools/cvector-generator.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "ggml-backend.h"
#include "lmlab/runtime/activations.h"
#include "runtime/llama_common.h"

namespace lmlab::runtime {
namespace {

using internal::ContextPtr;
using internal::ModelPtr;

constexpr std::string_view kLayerOutput = "l_out-";
// llama.cpp's limit on distinct sequence ids in one context (LLAMA_MAX_SEQ).
constexpr int kMaxSequences = 64;

// Where the eval callback writes: per layer, the batch's [n_tokens, n_embd] rows.
struct CaptureBuffer {
  int64_t n_layers = 0;
  int64_t n_embd = 0;
  int64_t n_tokens = 0;             // tokens of the batch being decoded
  int64_t n_outputs = 0;            // of which marked as outputs
  std::vector<float> data;          // [n_layers, n_tokens, n_embd]
  std::vector<int64_t> rows;        // [n_layers]: n_tokens, or n_outputs where llama.cpp kept only output rows
  std::vector<char> seen;           // [n_layers]: layer captured in this decode
  std::string error;                // set when a tensor is not what we expect
};

bool ParseLayer(const char* name, int64_t* layer) {
  std::string_view n(name);
  if (!n.starts_with(kLayerOutput)) return false;
  n.remove_prefix(kLayerOutput.size());
  int64_t v = -1;
  auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), v);
  if (ec != std::errc() || p != n.data() + n.size()) return false;
  *layer = v;
  return true;
}

// Called by ggml's scheduler twice per graph node: ask == true to learn
// whether we want the node (returning true keeps it from being fused away and
// makes the scheduler stop after it), then ask == false once it is computed.
bool EvalCallback(ggml_tensor* t, bool ask, void* user_data) {
  auto* buf = static_cast<CaptureBuffer*>(user_data);
  int64_t layer = -1;
  if (!ParseLayer(t->name, &layer)) return ask ? false : true;
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
    Activations out;
    out.n_prompts = static_cast<int64_t>(request.prompts.size());
    out.n_layers = buf_.n_layers;
    out.n_embd = buf_.n_embd;
    out.data.assign(static_cast<size_t>(out.n_prompts * out.n_layers * out.n_embd), 0.0f);
    out.n_tokens.resize(request.prompts.size());

    std::vector<std::vector<llama_token>> tokens(request.prompts.size());
    int64_t longest = 0;
    for (size_t p = 0; p < request.prompts.size(); ++p) {
      LMLAB_ASSIGN_OR_RETURN(tokens[p], internal::TokenizeText(vocab_, request.prompts[p], request.add_bos,
                                                               internal::ParseSpecial::kNo));
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
      buf_.data.resize(static_cast<size_t>(buf_.n_layers * n * buf_.n_embd));
      buf_.seen.assign(static_cast<size_t>(buf_.n_layers), 0);
      buf_.error.clear();
      llama_memory_clear(llama_get_memory(ctx_.get()), true);
      if (int32_t rc = llama_decode(ctx_.get(), batch); rc != 0) {
        std::string why = internal::TakeLlamaError();
        return Internal(fmt::format("llama_decode failed ({}){}{}", rc, why.empty() ? "" : ": ", why));
      }
      if (!buf_.error.empty()) return Unsupported("unexpected activation tensor: " + buf_.error);
      if (std::count(buf_.seen.begin(), buf_.seen.end(), 1) != buf_.n_layers) {
        char arch[64] = "?";
        llama_model_meta_val_str(model_.get(), "general.architecture", arch, sizeof arch);
        return Unsupported(fmt::format("the {} graph does not expose l_out-<layer> tensors for all {} layers; "
                                       "activation capture supports architectures that do",
                                       arch, buf_.n_layers));
      }
      // Gather the chosen position of each prompt from [n_layers, n_tokens, n_embd].
      int32_t offset = 0;
      for (size_t p = first; p < next; ++p) {
        const int32_t len = static_cast<int32_t>(tokens[p].size());
        const bool bos = request.add_bos == AddBos::kYes && len > 1 && tokens[p][0] == llama_vocab_bos(vocab_);
        for (int64_t l = 0; l < buf_.n_layers; ++l) {
          float* dst = out.data.data() + (static_cast<int64_t>(p) * out.n_layers + l) * out.n_embd;
          const float* layer = buf_.data.data() + l * n * buf_.n_embd;
          if (request.position == TokenPosition::kLast) {
            // Row of the prompt's last token: among all tokens, or among the outputs (one per prompt).
            const int64_t row = buf_.rows[static_cast<size_t>(l)] == n ? offset + len - 1 : int64_t(p - first);
            std::memcpy(dst, layer + row * buf_.n_embd, buf_.n_embd * sizeof(float));
          } else {
            const int32_t from = bos ? 1 : 0;
            for (int32_t i = from; i < len; ++i) {
              const float* row = layer + static_cast<int64_t>(offset + i) * buf_.n_embd;
              for (int64_t e = 0; e < buf_.n_embd; ++e) dst[e] += row[e];
            }
            const float inv = 1.0f / static_cast<float>(len - from);
            for (int64_t e = 0; e < buf_.n_embd; ++e) dst[e] *= inv;
          }
        }
        offset += len;
      }
      Report(request.progress,
             {.stage = "capturing activations", .done = double(next), .total = double(out.n_prompts), .unit = "prompts"});
    }
    return out;
  }

 private:
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
  if (spec.gguf_path.empty()) return InvalidArgument("activation capture needs a local model: pass --model PATH.gguf");
  if (spec.n_ctx < 0) return InvalidArgument("--ctx must not be negative (0 = the model's training context)");
  LMLAB_ASSIGN_OR_RETURN(ModelPtr model, internal::LoadLlamaModel(spec));
  if (!llama_model_has_decoder(model.get()) || llama_model_has_encoder(model.get()))
    return Unsupported("activation capture supports decoder-only models");
  return std::unique_ptr<ActivationModel>(std::make_unique<LlamaActivationModel>(spec, std::move(model)));
}

}  // namespace lmlab::runtime
