// A transformer's shape instead of a bare N: read from a Hugging Face style
// config.json (the field names people know: hidden_size, num_hidden_layers,
// num_attention_heads, num_key_value_heads, head_dim, intermediate_size,
// vocab_size, num_local_experts / num_experts, num_experts_per_tok,
// tie_word_embeddings, ...) or from a preset embedded from data/plan/models.json.
// From the shape follow exact parameter counts (gated three-matrix MLPs, GQA,
// tied embeddings, biases, MoE total vs active), FLOPs per token with the
// attention term, and KV-cache bytes per token.
//
//   LMLAB_ASSIGN_OR_RETURN(ModelPresets presets, ModelPresets::LoadDefault());
//   LMLAB_ASSIGN_OR_RETURN(ModelShape m, presets.Shape("llama-3-8b"));
//   ParamCount n = CountParams(m);          // n.total == 8,030,261,248
//   double kv = KvBytesPerToken(m, 2.0);    // 2 x 32 layers x 8 KV heads x 128 x 2 B = 131,072
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lmlab/core/error.h"

namespace lmlab::plan {

// SwiGLU/GeGLU (gate, up, down: three matrices) or a plain up/down MLP (two).
enum class MlpKind { kGated, kPlain };
// RMSNorm has a weight vector; LayerNorm a weight and a bias.
enum class NormKind { kRms, kLayer };
enum class Embeddings { kUntied, kTied };  // is the output head the input table?
// Which attention projections carry a bias: none (Llama), q/k/v (Qwen2), all four (Phi-2, GPT-2).
enum class AttentionBias { kNone, kQkv, kAll };
enum class Bias { kNo, kYes };

struct ModelShape {
  std::string name;        // preset id or config file name
  std::string model_type;  // config.json "model_type"
  int64_t hidden = 0;      // hidden_size (d_model)
  int64_t layers = 0;      // num_hidden_layers
  int64_t heads = 0;       // num_attention_heads
  int64_t kv_heads = 0;    // num_key_value_heads (heads when absent: MHA; 1: MQA)
  int64_t head_dim = 0;    // head_dim (hidden / heads when absent)
  int64_t intermediate = 0;  // intermediate_size: the dense MLP width
  int64_t vocab = 0;
  int64_t learned_positions = 0;  // GPT-2 style position table rows (n_positions); 0 = RoPE/none
  Embeddings embeddings = Embeddings::kUntied;
  // Mixture of experts: 0 experts = dense.
  int64_t experts = 0;               // num_local_experts / num_experts / n_routed_experts
  int64_t experts_per_token = 0;     // num_experts_per_tok
  int64_t expert_intermediate = 0;   // moe_intermediate_size (intermediate_size when absent)
  int64_t shared_expert_intermediate = 0;  // always-on shared expert(s) (Qwen-MoE, DeepSeekMoE)
  Bias shared_expert_gate = Bias::kNo;     // Qwen-MoE's sigmoid gate on the shared expert (hidden x 1)
  int64_t dense_layers = 0;          // first layers with a dense MLP (first_k_dense_replace)
  MlpKind mlp = MlpKind::kGated;
  NormKind norm = NormKind::kRms;
  int64_t norms_per_layer = 2;       // 1 for Phi-2's parallel block, 4 for Gemma 2
  AttentionBias attention_bias = AttentionBias::kNone;
  Bias mlp_bias = Bias::kNo;
  Bias lm_head_bias = Bias::kNo;
  int64_t max_position = 0;          // max_position_embeddings (context; informational)
  std::string source;                // where the numbers come from
  std::vector<std::string> assumed;  // fields filled by defaults, said out loud

  int64_t q_dim() const { return heads * head_dim; }      // width of the queries (= hidden for most models)
  int64_t kv_dim() const { return kv_heads * head_dim; }  // width of K (and of V)
  bool moe() const { return experts > 0; }
  int64_t moe_layers() const { return moe() ? layers - dense_layers : 0; }
};

// Parses a config.json. kParse for malformed JSON, kInvalidArgument naming the
// missing or inconsistent field, kUnsupported for attention lmlab does not
// model (DeepSeek's multi-head latent attention). Defaults that depend on the
// architecture (bias, norms, MLP kind, tied embeddings) come from model_type;
// explicit fields (attention_bias, mlp_bias, tie_word_embeddings, and lmlab's
// own mlp_type "gated"/"plain", norm_type "rms"/"layer", norms_per_layer)
// override them.
Result<ModelShape> ParseModelConfig(std::string_view json, std::string_view name = "config.json");
// Checks a shape built by hand (positive sizes, heads divisible by KV heads, ...).
Status ValidateShape(const ModelShape& shape);

struct ParamCount {
  double total = 0;          // every weight
  double active = 0;         // used per token: total minus the experts a token skips
  double embedding = 0;      // the input table (+ learned positions)
  double output_head = 0;    // lm_head when untied (0 when tied)
  double attention = 0;      // all layers
  double mlp = 0;            // all layers, every expert (+ router, shared expert)
  double mlp_active = 0;     // all layers, the experts one token uses
  double norms = 0;
  double vectors = 0;        // 1-D parameters (norms and biases): kept at f32 by llama.cpp
  double per_expert = 0;     // one routed expert's MLP (0 for dense models)
  double non_embedding() const { return total - embedding - output_head; }
  // Parameters in matrix multiplies per token: active minus the input table,
  // which is a lookup (when tied, the table is also the output head and counts).
  double matmul_active = 0;
};

ParamCount CountParams(const ModelShape& shape);

// Forward FLOPs per token at context length `context`: 2 x matmul parameters
// + 4 x layers x context x q_dim (Q K^T and A V). Training is 3x that:
// 6 N + 12 L s d (PaLM, Chowdhery et al. 2022, appendix B).
double ForwardFlopsPerToken(const ModelShape& shape, double context);
double TrainingFlopsPerToken(const ModelShape& shape, double seq_len);

// KV cache per token: 2 (K and V) x layers x kv_heads x head_dim x bytes per element.
double KvBytesPerToken(const ModelShape& shape, double bytes_per_element);

// The presets embedded from data/plan/models.json: each with its config.json
// fields, the published parameter count and where both come from.
struct ModelPreset {
  std::string id;
  std::string name;
  std::vector<std::string> aliases;
  ModelShape shape;
  double published_total = 0;
  std::optional<double> published_active;  // MoE
  std::optional<double> published_non_embedding;
  std::string published_source;
};

class ModelPresets {
 public:
  static Result<ModelPresets> Parse(std::string_view json);
  static Result<ModelPresets> LoadDefault();
  // By id or alias, case-insensitively; kNotFound listing the known ids.
  Result<const ModelPreset*> Find(std::string_view name) const;
  const std::vector<ModelPreset>& presets() const { return presets_; }
  std::string KnownIds() const;

 private:
  std::vector<ModelPreset> presets_;
};

// A shape from a preset name or a config.json path (exactly one non-empty).
Result<ModelShape> ResolveModelShape(std::string_view preset, const std::string& config_path);

}  // namespace lmlab::plan
