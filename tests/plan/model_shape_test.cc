#include "lmlab/plan/model_shape.h"

#include <gtest/gtest.h>

#include <cmath>

namespace lmlab::plan {
namespace {

ModelPresets Presets() {
  auto p = ModelPresets::LoadDefault();
  EXPECT_TRUE(p.has_value()) << p.error().ToString();
  return *p;
}

ModelShape Preset(const std::string& id) {
  auto p = ResolveModelShape(id, "");
  EXPECT_TRUE(p.has_value()) << p.error().ToString();
  return *p;
}

double RelativeError(double got, double want) { return std::abs(got / want - 1); }

// The acceptance check: every preset within 0.5% of the count its authors or
// its model page publish (active and non-embedding counts too, where published).
TEST(ModelPresets, EveryPresetWithinHalfAPercentOfItsPublishedCount) {
  ModelPresets presets = Presets();
  ASSERT_GE(presets.presets().size(), 5u);
  for (const ModelPreset& p : presets.presets()) {
    ParamCount n = CountParams(p.shape);
    EXPECT_LT(RelativeError(n.total, p.published_total), 0.005) << p.id << ": " << n.total << " vs " << p.published_total;
    if (p.published_active) {
      EXPECT_LT(RelativeError(n.active, *p.published_active), 0.005) << p.id << " active: " << n.active;
    }
    if (p.published_non_embedding) {
      EXPECT_LT(RelativeError(n.non_embedding(), *p.published_non_embedding), 0.005) << p.id << " non-embedding";
    }
    EXPECT_FALSE(p.published_source.empty()) << p.id;
    EXPECT_FALSE(p.shape.source.empty()) << p.id;
  }
}

// Exact counts, derived by hand from each config (and matching the exact
// figures the model pages and papers give).
TEST(ModelPresets, ExactCountsForFiveFamilies) {
  // Llama: untied, gated MLP, no biases.
  EXPECT_EQ(CountParams(Preset("llama-2-7b")).total, 6'738'415'616.0);
  EXPECT_EQ(CountParams(Preset("llama-3-8b")).total, 8'030'261'248.0);
  // Qwen with GQA (28 heads, 4 KV heads) and q/k/v biases.
  ModelShape qwen = Preset("qwen2.5-7b");
  EXPECT_LT(qwen.kv_heads, qwen.heads);
  EXPECT_EQ(CountParams(qwen).total, 7'615'616'512.0);
  // Mixtral-style MoE: 8 experts, 2 per token.
  ParamCount mixtral = CountParams(Preset("mixtral-8x7b"));
  EXPECT_EQ(mixtral.total, 46'702'792'704.0);
  EXPECT_EQ(mixtral.active, 12'879'925'248.0);
  // Gemma: tied embeddings, head_dim 256 != hidden / heads. The Gemma report's
  // non-embedding counts are exact.
  ParamCount gemma7 = CountParams(Preset("gemma-7b"));
  EXPECT_EQ(gemma7.output_head, 0.0);
  EXPECT_EQ(gemma7.total, 8'537'680'896.0);
  EXPECT_EQ(gemma7.non_embedding(), 7'751'248'896.0);
  EXPECT_EQ(CountParams(Preset("gemma-2b")).non_embedding(), 1'981'884'416.0);
  // Phi: Phi-2 (parallel block, LayerNorm, biases everywhere) and Phi-3-mini.
  EXPECT_EQ(CountParams(Preset("phi-2")).total, 2'779'683'840.0);
  EXPECT_EQ(CountParams(Preset("phi-3-mini")).total, 3'821'079'552.0);
  // GPT-2 small: learned positions, tied, biases.
  EXPECT_EQ(CountParams(Preset("gpt2")).total, 124'439'808.0);
  // A shared-expert MoE.
  ParamCount qmoe = CountParams(Preset("qwen1.5-moe-a2.7b"));
  EXPECT_EQ(qmoe.total, 14'315'784'192.0);
  EXPECT_EQ(qmoe.active, 2'689'173'504.0);
}

// EleutherAI cookbook issue #36: a two-matrix MLP counts Qwen1.5-72B as 56B.
TEST(ModelShape, GatedMlpHasThreeMatrices) {
  ModelShape qwen = Preset("qwen1.5-72b");
  EXPECT_NEAR(CountParams(qwen).total / 1e9, 72.29, 0.01);
  qwen.mlp = MlpKind::kPlain;
  EXPECT_NEAR(CountParams(qwen).total / 1e9, 56.2, 0.1) << "the cookbook's figure, from the wrong MLP";
}

// KV cache per token, by hand: 2 (K, V) x layers x KV heads x head size x bytes.
TEST(ModelShape, KvCacheBytesPerTokenForGqa) {
  EXPECT_EQ(KvBytesPerToken(Preset("llama-3-8b"), 2.0), 2.0 * 32 * 8 * 128 * 2);   // 131,072: GQA 32 -> 8
  EXPECT_EQ(KvBytesPerToken(Preset("qwen2.5-7b"), 2.0), 2.0 * 28 * 4 * 128 * 2);   // 57,344
  EXPECT_EQ(KvBytesPerToken(Preset("gemma-2b"), 2.0), 2.0 * 18 * 1 * 256 * 2);     // 18,432: MQA
  EXPECT_EQ(KvBytesPerToken(Preset("llama-2-7b"), 2.0), 2.0 * 32 * 32 * 128 * 2);  // 524,288: MHA, 4x Llama 3's
  EXPECT_EQ(KvBytesPerToken(Preset("llama-3-8b"), 1.0), 65536.0) << "an 8-bit cache halves it";
}

TEST(ModelShape, FlopsPerTokenHaveTheAttentionTerm) {
  ModelShape m = Preset("llama-3-8b");
  ParamCount n = CountParams(m);
  // The input table is a lookup: 8,030,261,248 - 128,256 x 4096.
  EXPECT_EQ(n.matmul_active, 8'030'261'248.0 - 128256.0 * 4096);
  EXPECT_DOUBLE_EQ(TrainingFlopsPerToken(m, 8192), 6 * n.matmul_active + 12.0 * 32 * 8192 * 4096);
  EXPECT_DOUBLE_EQ(ForwardFlopsPerToken(m, 100), 2 * n.matmul_active + 4.0 * 32 * 100 * 4096);
  // MoE: the FLOPs follow the active experts.
  ModelShape mixtral = Preset("mixtral-8x7b");
  ParamCount x = CountParams(mixtral);
  EXPECT_DOUBLE_EQ(ForwardFlopsPerToken(mixtral, 0), 2 * (x.active - 32000.0 * 4096));
  // Tied: the table is the output head, a matmul.
  ModelShape gemma = Preset("gemma-2b");
  EXPECT_EQ(CountParams(gemma).matmul_active, CountParams(gemma).total);
}

TEST(ModelShape, ParsesConfigJsonFieldNames) {
  auto m = ParseModelConfig(R"({"model_type": "qwen2_moe", "hidden_size": 1024, "num_hidden_layers": 4,
      "num_attention_heads": 8, "num_key_value_heads": 2, "intermediate_size": 2048, "vocab_size": 1000,
      "num_experts": 16, "num_experts_per_tok": 2, "moe_intermediate_size": 256,
      "shared_expert_intermediate_size": 512, "tie_word_embeddings": true})");
  ASSERT_TRUE(m) << m.error().ToString();
  EXPECT_EQ(m->head_dim, 128);
  EXPECT_EQ(m->kv_dim(), 256);
  EXPECT_EQ(m->experts, 16);
  EXPECT_EQ(m->expert_intermediate, 256);
  EXPECT_EQ(m->shared_expert_gate, Bias::kYes);
  EXPECT_EQ(m->embeddings, Embeddings::kTied);
  EXPECT_EQ(m->attention_bias, AttentionBias::kQkv);
  EXPECT_TRUE(m->assumed.empty());
  ParamCount n = CountParams(*m);
  const double h = 1024, attn = h * 1024 + 2 * h * 256 + 1024 * h + 1024 + 2 * 256;
  const double expert = 3 * h * 256, shared = 3 * h * 512 + h, router = h * 16;
  EXPECT_DOUBLE_EQ(n.total, 1000 * h + 4 * (attn + 16 * expert + shared + router + 2 * h) + h);
  EXPECT_DOUBLE_EQ(n.active, n.total - 4 * 14 * expert);
}

TEST(ModelShape, ExplicitFieldsOverrideTheArchitecture) {
  auto m = ParseModelConfig(R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
      "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100, "attention_bias": true,
      "mlp_bias": true, "mlp_type": "plain", "norm_type": "layer", "norms_per_layer": 1})");
  ASSERT_TRUE(m) << m.error().ToString();
  EXPECT_EQ(m->kv_heads, 4) << "no num_key_value_heads: MHA";
  const double h = 64;
  const double layer = 4 * h * h + 4 * h + 2 * h * 128 + 128 + h + 2 * h;
  EXPECT_DOUBLE_EQ(CountParams(*m).total, 2 * 100 * h + 2 * layer + 2 * h);
}

TEST(ModelShape, UnknownArchitectureIsSaidOutLoud) {
  auto m = ParseModelConfig(R"({"model_type": "newarch", "hidden_size": 64, "num_hidden_layers": 2,
      "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100})");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->assumed.size(), 1u);
  EXPECT_NE(m->assumed[0].find("newarch"), std::string::npos);
}

TEST(ModelShape, BadConfigs) {
  auto bad = ParseModelConfig("not json");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kParse);
  bad = ParseModelConfig(R"({"num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 8, "vocab_size": 9})");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("hidden_size"), std::string::npos);
  bad = ParseModelConfig(R"({"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
      "num_key_value_heads": 3, "intermediate_size": 8, "vocab_size": 9})");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("num_key_value_heads"), std::string::npos);
  bad = ParseModelConfig(R"({"hidden_size": 64, "num_hidden_layers": -2, "num_attention_heads": 4,
      "intermediate_size": 8, "vocab_size": 9})");
  ASSERT_FALSE(bad);
  bad = ParseModelConfig(R"({"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
      "intermediate_size": 8, "vocab_size": 9, "num_local_experts": 8})");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("num_experts_per_tok"), std::string::npos);
  bad = ParseModelConfig(R"({"model_type": 7, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
      "intermediate_size": 8, "vocab_size": 9})");
  ASSERT_FALSE(bad) << "a model_type that is not a string is an error, not an exception";
  bad = ParseModelConfig(R"({"hidden_size": 1e300, "num_hidden_layers": 2, "num_attention_heads": 4,
      "intermediate_size": 8, "vocab_size": 9})");
  ASSERT_FALSE(bad);
  bad = ParseModelConfig(R"({"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
      "intermediate_size": 8, "vocab_size": 9, "kv_lora_rank": 512})");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kUnsupported);
}

TEST(ModelPresets, FindByAliasAndUnknownNames) {
  ModelPresets presets = Presets();
  auto p = presets.Find("LLAMA3-8B");
  ASSERT_TRUE(p);
  EXPECT_EQ((*p)->id, "llama-3-8b");
  auto missing = presets.Find("gpt-9");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("mixtral-8x7b"), std::string::npos);
  EXPECT_FALSE(ResolveModelShape("llama-3-8b", "x.json")) << "a preset or a file, not both";
  EXPECT_FALSE(ResolveModelShape("", "/no/such/config.json"));
}

}  // namespace
}  // namespace lmlab::plan
