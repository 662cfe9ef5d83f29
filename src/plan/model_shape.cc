#include "lmlab/plan/model_shape.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "lmlab/core/embedded.h"
#include "lmlab/core/file.h"
#include "lmlab/core/json.h"
#include "lmlab/core/text.h"

namespace lmlab::plan {
namespace {

using nlohmann::json;

// What an architecture's config.json leaves implicit. Explicit fields win.
struct ArchDefaults {
  std::string_view model_type;
  MlpKind mlp = MlpKind::kGated;
  NormKind norm = NormKind::kRms;
  int64_t norms_per_layer = 2;
  AttentionBias attention_bias = AttentionBias::kNone;
  Bias mlp_bias = Bias::kNo;
  Bias lm_head_bias = Bias::kNo;
  Embeddings embeddings = Embeddings::kUntied;  // transformers' default for tie_word_embeddings
  Bias shared_expert_gate = Bias::kNo;
  bool learned_positions = false;
};

// From the transformers modelling code of each architecture: which
// projections carry biases, how many norms a block has, whether the MLP is
// gated, and the config class's default for tie_word_embeddings.
constexpr ArchDefaults kArchitectures[] = {
    {.model_type = "llama"},
    {.model_type = "mistral"},
    {.model_type = "mixtral"},
    {.model_type = "phi3"},
    {.model_type = "qwen3"},
    {.model_type = "qwen3_moe"},
    {.model_type = "deepseek"},  // DeepSeekMoE (standard attention); V2/V3 use MLA, refused below
    {.model_type = "gemma", .embeddings = Embeddings::kTied},
    {.model_type = "gemma2", .norms_per_layer = 4, .embeddings = Embeddings::kTied},
    {.model_type = "qwen2", .attention_bias = AttentionBias::kQkv},
    {.model_type = "qwen2_moe", .attention_bias = AttentionBias::kQkv, .shared_expert_gate = Bias::kYes},
    // Phi-2: one LayerNorm feeds attention and MLP in parallel; every linear has a bias.
    {.model_type = "phi", .mlp = MlpKind::kPlain, .norm = NormKind::kLayer, .norms_per_layer = 1,
     .attention_bias = AttentionBias::kAll, .mlp_bias = Bias::kYes, .lm_head_bias = Bias::kYes},
    {.model_type = "gpt_neox", .mlp = MlpKind::kPlain, .norm = NormKind::kLayer,
     .attention_bias = AttentionBias::kAll, .mlp_bias = Bias::kYes},
    {.model_type = "gpt2", .mlp = MlpKind::kPlain, .norm = NormKind::kLayer, .attention_bias = AttentionBias::kAll,
     .mlp_bias = Bias::kYes, .embeddings = Embeddings::kTied, .learned_positions = true},
};

const json* Field(const json& j, std::initializer_list<const char*> keys, std::string* which = nullptr) {
  for (const char* k : keys) {
    auto it = j.find(k);
    if (it != j.end() && !it->is_null()) {
      if (which) *which = k;
      return &*it;
    }
  }
  return nullptr;
}

// A positive integer field under any of `keys`; nullopt when absent.
Result<std::optional<int64_t>> IntField(const json& j, std::initializer_list<const char*> keys) {
  std::string key;
  const json* v = Field(j, keys, &key);
  if (!v) return std::optional<int64_t>{};
  // Below 2^53: exact as a double, and no overflow converting it.
  if (!v->is_number() || v->get<double>() < 0 || v->get<double>() != std::floor(v->get<double>()) ||
      v->get<double>() >= 9007199254740992.0)
    return InvalidArgument(fmt::format("model config: '{}' must be a non-negative integer (got {})", key, DumpJson(*v)));
  return std::optional<int64_t>{static_cast<int64_t>(v->get<double>())};
}

Result<std::optional<bool>> BoolField(const json& j, const char* key) {
  const json* v = Field(j, {key});
  if (!v) return std::optional<bool>{};
  if (!v->is_boolean()) return InvalidArgument(fmt::format("model config: '{}' must be true or false", key));
  return std::optional<bool>{v->get<bool>()};
}

}  // namespace

Status ValidateShape(const ModelShape& m) {
  for (auto [v, name] : {std::pair{m.hidden, "hidden_size"}, {m.layers, "num_hidden_layers"},
                         {m.heads, "num_attention_heads"}, {m.kv_heads, "num_key_value_heads"},
                         {m.head_dim, "head_dim"}, {m.intermediate, "intermediate_size"}, {m.vocab, "vocab_size"}})
    if (v <= 0) return InvalidArgument(fmt::format("model config: '{}' must be positive (got {})", name, v));
  if (m.heads % m.kv_heads != 0)
    return InvalidArgument(fmt::format("model config: num_key_value_heads ({}) must divide num_attention_heads ({})",
                                       m.kv_heads, m.heads));
  if (m.norms_per_layer < 0) return InvalidArgument("model config: norms_per_layer must not be negative");
  if (m.moe()) {
    if (m.experts_per_token <= 0 || m.experts_per_token > m.experts)
      return InvalidArgument(fmt::format("model config: num_experts_per_tok must be in [1, {}] (got {})", m.experts,
                                         m.experts_per_token));
    if (m.expert_intermediate <= 0) return InvalidArgument("model config: moe_intermediate_size must be positive");
    if (m.dense_layers < 0 || m.dense_layers > m.layers)
      return InvalidArgument("model config: first_k_dense_replace must be in [0, num_hidden_layers]");
  }
  return {};
}

Result<ModelShape> ParseModelConfig(std::string_view text, std::string_view name) {
  LMLAB_ASSIGN_OR_RETURN(json j, ParseJson(text, name));
  if (!j.is_object()) return ParseError(fmt::format("{}: not a JSON object (expected a config.json)", name));
  ModelShape m;
  m.name = std::string(name);
  if (const json* t = Field(j, {"model_type"})) {
    if (!t->is_string()) return InvalidArgument(fmt::format("{}: 'model_type' must be a string", name));
    m.model_type = t->get<std::string>();
  }
  if (Field(j, {"kv_lora_rank", "q_lora_rank"}))
    return Unsupported(fmt::format("{}: multi-head latent attention (kv_lora_rank, DeepSeek-V2/V3) is not modelled; "
                                   "its KV cache and attention FLOPs differ from MHA/GQA",
                                   name));

  ArchDefaults arch{.model_type = "llama"};
  bool known = false;
  for (const ArchDefaults& a : kArchitectures)
    if (a.model_type == m.model_type) {
      arch = a;
      known = true;
    }
  if (!known)
    m.assumed.push_back(fmt::format("model_type '{}' unknown: Llama-style block assumed (gated MLP, RMSNorm, no biases)",
                                    m.model_type));

  auto need = [&](std::optional<int64_t> v, const char* key) -> Result<int64_t> {
    if (!v) return InvalidArgument(fmt::format("{}: '{}' is missing", name, key));
    return *v;
  };
  LMLAB_ASSIGN_OR_RETURN(auto hidden, IntField(j, {"hidden_size", "n_embd", "d_model"}));
  LMLAB_ASSIGN_OR_RETURN(m.hidden, need(hidden, "hidden_size"));
  LMLAB_ASSIGN_OR_RETURN(auto layers, IntField(j, {"num_hidden_layers", "n_layer", "num_layers"}));
  LMLAB_ASSIGN_OR_RETURN(m.layers, need(layers, "num_hidden_layers"));
  LMLAB_ASSIGN_OR_RETURN(auto heads, IntField(j, {"num_attention_heads", "n_head"}));
  LMLAB_ASSIGN_OR_RETURN(m.heads, need(heads, "num_attention_heads"));
  LMLAB_ASSIGN_OR_RETURN(auto vocab, IntField(j, {"vocab_size"}));
  LMLAB_ASSIGN_OR_RETURN(m.vocab, need(vocab, "vocab_size"));
  LMLAB_ASSIGN_OR_RETURN(auto kv, IntField(j, {"num_key_value_heads"}));
  m.kv_heads = kv.value_or(m.heads);
  LMLAB_ASSIGN_OR_RETURN(auto head_dim, IntField(j, {"head_dim"}));
  if (head_dim) {
    m.head_dim = *head_dim;
  } else {
    if (m.heads > 0 && m.hidden % m.heads != 0)
      return InvalidArgument(fmt::format("{}: num_attention_heads ({}) must divide hidden_size ({}) when head_dim is absent",
                                         name, m.heads, m.hidden));
    m.head_dim = m.heads > 0 ? m.hidden / m.heads : 0;
  }

  // MLP kind first: a plain MLP's default width is 4 x hidden (GPT-2's n_inner = null).
  m.mlp = arch.mlp;
  if (const json* t = Field(j, {"mlp_type"})) {
    if (*t == "gated") m.mlp = MlpKind::kGated;
    else if (*t == "plain") m.mlp = MlpKind::kPlain;
    else return InvalidArgument(fmt::format("{}: mlp_type must be \"gated\" or \"plain\" (got {})", name, DumpJson(*t)));
  }
  LMLAB_ASSIGN_OR_RETURN(auto inter, IntField(j, {"intermediate_size", "n_inner", "ffn_dim"}));
  if (inter) {
    m.intermediate = *inter;
  } else if (m.mlp == MlpKind::kPlain) {
    m.intermediate = 4 * m.hidden;
    m.assumed.push_back("intermediate_size absent: 4 x hidden_size");
  } else {
    return InvalidArgument(fmt::format("{}: 'intermediate_size' is missing", name));
  }

  // Mixture of experts.
  LMLAB_ASSIGN_OR_RETURN(auto experts, IntField(j, {"num_local_experts", "num_experts", "n_routed_experts"}));
  m.experts = experts.value_or(0);
  if (m.experts == 1) m.experts = 0;  // one expert is a dense MLP
  if (m.moe()) {
    LMLAB_ASSIGN_OR_RETURN(auto k, IntField(j, {"num_experts_per_tok", "moe_topk"}));
    if (!k) return InvalidArgument(fmt::format("{}: a mixture of experts needs 'num_experts_per_tok'", name));
    m.experts_per_token = *k;
    LMLAB_ASSIGN_OR_RETURN(auto moe_inter, IntField(j, {"moe_intermediate_size"}));
    m.expert_intermediate = moe_inter.value_or(m.intermediate);
    LMLAB_ASSIGN_OR_RETURN(auto shared, IntField(j, {"shared_expert_intermediate_size"}));
    LMLAB_ASSIGN_OR_RETURN(auto n_shared, IntField(j, {"n_shared_experts"}));
    if (shared) m.shared_expert_intermediate = *shared;
    else if (n_shared) m.shared_expert_intermediate = *n_shared * m.expert_intermediate;
    if (m.shared_expert_intermediate > 0) m.shared_expert_gate = arch.shared_expert_gate;
    LMLAB_ASSIGN_OR_RETURN(auto dense, IntField(j, {"first_k_dense_replace"}));
    m.dense_layers = dense.value_or(0);
  }

  m.norm = arch.norm;
  if (const json* t = Field(j, {"norm_type"})) {
    if (*t == "rms") m.norm = NormKind::kRms;
    else if (*t == "layer") m.norm = NormKind::kLayer;
    else return InvalidArgument(fmt::format("{}: norm_type must be \"rms\" or \"layer\" (got {})", name, DumpJson(*t)));
  }
  LMLAB_ASSIGN_OR_RETURN(auto norms, IntField(j, {"norms_per_layer"}));
  m.norms_per_layer = norms.value_or(arch.norms_per_layer);
  m.attention_bias = arch.attention_bias;
  LMLAB_ASSIGN_OR_RETURN(auto attention_bias, BoolField(j, "attention_bias"));
  if (attention_bias) m.attention_bias = *attention_bias ? AttentionBias::kAll : AttentionBias::kNone;
  m.mlp_bias = arch.mlp_bias;
  LMLAB_ASSIGN_OR_RETURN(auto mlp_bias, BoolField(j, "mlp_bias"));
  if (mlp_bias) m.mlp_bias = *mlp_bias ? Bias::kYes : Bias::kNo;
  m.lm_head_bias = arch.lm_head_bias;
  m.embeddings = arch.embeddings;
  LMLAB_ASSIGN_OR_RETURN(auto tie, BoolField(j, "tie_word_embeddings"));
  if (tie) m.embeddings = *tie ? Embeddings::kTied : Embeddings::kUntied;
  LMLAB_ASSIGN_OR_RETURN(auto max_pos, IntField(j, {"max_position_embeddings", "n_positions", "n_ctx"}));
  m.max_position = max_pos.value_or(0);
  if (arch.learned_positions) m.learned_positions = m.max_position;
  LMLAB_RETURN_IF_ERROR(ValidateShape(m));
  return m;
}

ParamCount CountParams(const ModelShape& m) {
  const double h = static_cast<double>(m.hidden), q = static_cast<double>(m.q_dim());
  const double kv = static_cast<double>(m.kv_dim()), v = static_cast<double>(m.vocab);
  const double norm_size = (m.norm == NormKind::kLayer ? 2.0 : 1.0) * h;
  ParamCount n;

  // Attention: Q, K, V, O projections and their biases.
  double attn = h * q + 2 * h * kv + q * h;
  double attn_vectors = 0;
  if (m.attention_bias != AttentionBias::kNone) attn_vectors += q + 2 * kv;
  if (m.attention_bias == AttentionBias::kAll) attn_vectors += h;

  // One MLP of width f: gated = gate, up (h x f) and down (f x h); plain = up and down.
  auto mlp_matrices = [&](double f) { return (m.mlp == MlpKind::kGated ? 3.0 : 2.0) * h * f; };
  auto mlp_vectors = [&](double f) {
    if (m.mlp_bias == Bias::kNo) return 0.0;
    return (m.mlp == MlpKind::kGated ? 2.0 * f : f) + h;
  };
  auto mlp = [&](double f) { return mlp_matrices(f) + mlp_vectors(f); };

  const double dense_layers = static_cast<double>(m.moe() ? m.dense_layers : m.layers);
  const double moe_layers = static_cast<double>(m.moe_layers());
  const double dense_mlp = mlp(static_cast<double>(m.intermediate));
  double moe_all = 0, moe_active = 0;
  if (m.moe()) {
    const double fe = static_cast<double>(m.expert_intermediate), fs = static_cast<double>(m.shared_expert_intermediate);
    const double router = h * static_cast<double>(m.experts);
    const double shared = (fs > 0 ? mlp(fs) : 0) + (m.shared_expert_gate == Bias::kYes ? h : 0);
    moe_all = static_cast<double>(m.experts) * mlp(fe) + router + shared;
    n.per_expert = mlp(fe);
    moe_active = static_cast<double>(m.experts_per_token) * mlp(fe) + router + shared;
  }

  const double layers = static_cast<double>(m.layers);
  n.attention = layers * (attn + attn_vectors);
  n.mlp = dense_layers * dense_mlp + moe_layers * moe_all;
  n.mlp_active = dense_layers * dense_mlp + moe_layers * moe_active;
  n.norms = (layers * static_cast<double>(m.norms_per_layer) + 1) * norm_size;  // + the final norm
  n.embedding = v * h + static_cast<double>(m.learned_positions) * h;
  n.output_head = m.embeddings == Embeddings::kTied ? 0 : v * h;
  if (m.lm_head_bias == Bias::kYes) n.output_head += v;
  n.total = n.embedding + n.output_head + n.attention + n.mlp + n.norms;
  n.active = n.total - n.mlp + n.mlp_active;

  double mlp_vector_params = dense_layers * mlp_vectors(static_cast<double>(m.intermediate));
  if (m.moe()) {
    const double fe = static_cast<double>(m.expert_intermediate), fs = static_cast<double>(m.shared_expert_intermediate);
    mlp_vector_params += moe_layers * (static_cast<double>(m.experts) * mlp_vectors(fe) + (fs > 0 ? mlp_vectors(fs) : 0));
  }
  n.vectors = n.norms + layers * attn_vectors + mlp_vector_params + (m.lm_head_bias == Bias::kYes ? v : 0);
  // The input table is a lookup; tied, it is also the output head (a matmul).
  n.matmul_active = n.active - n.embedding + (m.embeddings == Embeddings::kTied ? v * h : 0);
  return n;
}

double ForwardFlopsPerToken(const ModelShape& m, double context) {
  return 2.0 * CountParams(m).matmul_active +
         4.0 * static_cast<double>(m.layers) * context * static_cast<double>(m.q_dim());
}

double TrainingFlopsPerToken(const ModelShape& m, double seq_len) { return 3.0 * ForwardFlopsPerToken(m, seq_len); }

double KvBytesPerToken(const ModelShape& m, double bytes_per_element) {
  return 2.0 * static_cast<double>(m.layers) * static_cast<double>(m.kv_dim()) * bytes_per_element;
}

Result<ModelPresets> ModelPresets::Parse(std::string_view text) {
  json root = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object() || !root.contains("models") || !root["models"].is_array())
    return ParseError("model presets: expected an object with a 'models' array");
  ModelPresets out;
  for (const json& e : root["models"]) {
    if (!e.is_object() || !e.contains("id") || !e["id"].is_string() || !e.contains("config") || !e["config"].is_object())
      return ParseError("model presets: every model needs a string 'id' and a 'config' object");
    ModelPreset p;
    p.id = e["id"].get<std::string>();
    p.name = e.value("name", p.id);
    if (e.contains("aliases") && e["aliases"].is_array())
      for (const json& a : e["aliases"])
        if (a.is_string()) p.aliases.push_back(a.get<std::string>());
    LMLAB_ASSIGN_OR_RETURN(p.shape, ParseModelConfig(DumpJson(e["config"]), p.id));
    p.shape.source = e.value("config_source", "");
    const json& pub = e.value("published", json::object());
    if (!pub.contains("total") || !pub["total"].is_number())
      return ParseError("model presets: " + p.id + " needs published.total");
    p.published_total = pub["total"].get<double>();
    if (pub.contains("active") && pub["active"].is_number()) p.published_active = pub["active"].get<double>();
    if (pub.contains("non_embedding") && pub["non_embedding"].is_number())
      p.published_non_embedding = pub["non_embedding"].get<double>();
    p.published_source = pub.value("source", "");
    for (const ModelPreset& other : out.presets_)
      if (Lower(other.id) == Lower(p.id)) return ParseError("model presets: duplicate id " + p.id);
    out.presets_.push_back(std::move(p));
  }
  return out;
}

Result<ModelPresets> ModelPresets::LoadDefault() {
  LMLAB_ASSIGN_OR_RETURN(std::string_view text, embedded::Find("data/plan/models.json"));
  return Parse(text);
}

Result<const ModelPreset*> ModelPresets::Find(std::string_view name) const {
  std::string want = Lower(name);
  for (const ModelPreset& p : presets_) {
    if (Lower(p.id) == want) return &p;
    for (const std::string& a : p.aliases)
      if (Lower(a) == want) return &p;
  }
  return NotFound(fmt::format("unknown model preset '{}' (known: {})", name, KnownIds()));
}

std::string ModelPresets::KnownIds() const {
  std::string out;
  for (const ModelPreset& p : presets_) out += (out.empty() ? "" : ", ") + p.id;
  return out;
}

Result<ModelShape> ResolveModelShape(std::string_view preset, const std::string& config_path) {
  if (!preset.empty() && !config_path.empty())
    return InvalidArgument("give a model preset or a model config file, not both");
  if (!preset.empty()) {
    LMLAB_ASSIGN_OR_RETURN(ModelPresets presets, ModelPresets::LoadDefault());
    LMLAB_ASSIGN_OR_RETURN(const ModelPreset* p, presets.Find(preset));
    return p->shape;
  }
  if (config_path.empty()) return InvalidArgument("no model shape: give a preset or a config.json");
  LMLAB_ASSIGN_OR_RETURN(std::string text, ReadFile(config_path));
  LMLAB_ASSIGN_OR_RETURN(ModelShape m, ParseModelConfig(text, std::filesystem::path(config_path).filename().string()));
  m.source = config_path;
  return m;
}

}  // namespace lmlab::plan
