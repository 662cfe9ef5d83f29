#include "lmlab/plan/inference.h"

#include <gtest/gtest.h>

#include <cmath>

#include "lmlab/plan/render.h"
#include "lmlab/plan/tokens.h"
#include "tests/support/run_command.h"

namespace lmlab::plan {
namespace {

DeviceCatalog Catalog() { return *DeviceCatalog::LoadDefault(); }
ModelShape Preset(const std::string& id) { return *ResolveModelShape(id, ""); }

InferenceRequest Llama3On(const std::string& device) {
  InferenceRequest r;
  r.model = Preset("llama-3-8b");
  r.hardware.device = device;
  return r;
}

TEST(StorageTypes, BlockScalesIncluded) {
  EXPECT_DOUBLE_EQ(ParseStorageType("q4_0")->bits, 18.0 * 8 / 32);   // fp16 scale + 32 nibbles
  EXPECT_DOUBLE_EQ(ParseStorageType("Q4_K")->bits, 144.0 * 8 / 256);
  EXPECT_DOUBLE_EQ(ParseStorageType("q6_K")->bits, 210.0 * 8 / 256);
  EXPECT_DOUBLE_EQ(ParseStorageType("q8_0")->bits, 34.0 * 8 / 32);
  EXPECT_DOUBLE_EQ(ParseStorageType("bf16")->bits, 16);
  auto bad = ParseStorageType("q7_X");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("q4_K"), std::string::npos) << "lists the known types";
}

TEST(Inference, MemoryAndBatchOneDecodeBound) {
  auto p = MakeInferencePlan(Llama3On("h100"), Catalog());
  ASSERT_TRUE(p) << p.error().ToString();
  const ParamCount& n = p->params;
  EXPECT_DOUBLE_EQ(p->weight_bytes, (n.total - n.vectors) * 2 + n.vectors * 4);
  EXPECT_DOUBLE_EQ(p->kv_bytes_per_token, 131072);
  EXPECT_DOUBLE_EQ(p->kv_bytes_per_sequence, 131072.0 * (1024 + 256));
  EXPECT_EQ(p->min_devices, 1);
  // Batch 1 reads every weight but the input table, plus the cache at the mean context.
  const double context = 1024 + 128;
  const double bytes = (n.total - n.vectors - 128256.0 * 4096) * 2 + n.vectors * 4 + context * 131072;
  EXPECT_DOUBLE_EQ(p->decode_batch1.bytes_per_step, bytes);
  EXPECT_DOUBLE_EQ(p->decode_batch1.tokens_per_s, 3.35e12 / bytes);
  EXPECT_EQ(p->decode_batch1.bound, Bound::kMemory);
  // Prefill of 1,024 tokens is compute-bound on an H100.
  EXPECT_EQ(p->prefill_bound, Bound::kCompute);
  EXPECT_DOUBLE_EQ(p->prefill_seconds, p->prefill_flops / 989.5e12);
  EXPECT_DOUBLE_EQ(p->prefill_flops, 1024 * 2 * n.matmul_active + 2.0 * 32 * 4096 * 1024 * 1024);
}

TEST(Inference, CrossoverSplitsMemoryFromComputeBound) {
  InferenceRequest r = Llama3On("h100");
  r.prompt_tokens = 128;  // a short context so that batching reaches the compute roof
  r.output_tokens = 64;
  auto p = MakeInferencePlan(r, Catalog());
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->crossover_batch);
  const int64_t below = static_cast<int64_t>(std::floor(*p->crossover_batch));
  r.batches = {below, below + 1};
  p = MakeInferencePlan(r, Catalog());
  ASSERT_EQ(p->table.size(), 2u);
  EXPECT_EQ(p->table[0].bound, Bound::kMemory);
  EXPECT_EQ(p->table[1].bound, Bound::kCompute);
  // Long contexts: each sequence's KV reads grow with its FLOPs, so decode never turns compute-bound.
  r.prompt_tokens = 1'000'000;
  r.model.max_position = 0;
  r.batches = {1};
  p = MakeInferencePlan(r, Catalog());
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->crossover_batch);
}

TEST(Inference, MoeDecodeReadsOnlyTheRoutedExperts) {
  ModelShape m = Preset("mixtral-8x7b");
  ParamCount n = CountParams(m);
  const double all = (n.total - n.vectors - n.embedding) * 2 + n.vectors * 4;
  const double one = DecodeWeightBytes(m, n, 16, 1);
  EXPECT_DOUBLE_EQ(all - one, 32.0 * 6 * n.per_expert * 2) << "batch 1 skips 6 of 8 experts in each of 32 layers";
  EXPECT_LT(DecodeWeightBytes(m, n, 16, 2), DecodeWeightBytes(m, n, 16, 8));
  EXPECT_NEAR(DecodeWeightBytes(m, n, 16, 1000), all, all * 1e-9) << "a large batch touches every expert";
}

TEST(Inference, ServingNUsersWithinALatency) {
  InferenceRequest r = Llama3On("h100");
  r.users = 1000;
  r.latency_ms = 50;
  auto p = MakeInferencePlan(r, Catalog());
  ASSERT_TRUE(p) << p.error().ToString();
  ASSERT_TRUE(p->serving);
  const ServingPlan& s = *p->serving;
  ASSERT_TRUE(s.feasible) << s.note;
  ASSERT_EQ(s.devices_per_replica, p->min_devices) << "an 8B model: one H100 per replica";
  EXPECT_LE(s.point.step_seconds, 0.050);
  EXPECT_TRUE(s.point.fits);
  EXPECT_GE(s.replicas * s.point.batch, 1000);
  EXPECT_EQ(s.devices, s.replicas * s.devices_per_replica);
  // One more sequence per replica would break the latency or the memory limit.
  InferenceRequest more = r;
  more.users.reset();
  more.batches = {s.batch_per_replica + 1};
  auto q = MakeInferencePlan(more, Catalog());
  ASSERT_TRUE(q);
  const DecodePoint& d = q->table.front();
  EXPECT_TRUE(d.step_seconds > 0.050 || !d.fits);
  // Impossible targets say why.
  r.latency_ms = 0.01;
  p = MakeInferencePlan(r, Catalog());
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->serving->feasible);
  EXPECT_FALSE(p->serving->note.empty());
}

TEST(Inference, BigModelsNeedSeveralDevices) {
  InferenceRequest r;
  r.model = Preset("llama-3.1-405b");
  r.hardware.device = "h100";
  auto p = MakeInferencePlan(r, Catalog());
  ASSERT_TRUE(p);
  EXPECT_GE(p->min_devices, 12) << "810 GB of bf16 weights on 72 GB usable per H100";
  r.weight_type = "fp8";
  auto fp8 = MakeInferencePlan(r, Catalog());
  ASSERT_TRUE(fp8);
  EXPECT_LT(fp8->min_devices, p->min_devices);
}

TEST(Inference, CostAndEnergyPerMillionTokens) {
  InferenceRequest r = Llama3On("h100");
  r.batches = {1, 64};
  auto p = MakeInferencePlan(r, Catalog());
  ASSERT_TRUE(p);
  for (const DecodePoint& d : p->table) {
    ASSERT_TRUE(d.usd_per_million);
    EXPECT_DOUBLE_EQ(*d.usd_per_million, 2.5 / 3600 / d.tokens_per_s * 1e6);
    EXPECT_DOUBLE_EQ(*d.kwh_per_million, 700 * 1.2 / d.tokens_per_s * 1e6 / 3.6e6);
  }
  EXPECT_LT(*p->table[1].usd_per_million, *p->table[0].usd_per_million / 10) << "batching amortises the weight reads";
}

TEST(Inference, CheapestIsTheMostTokensPerDevice) {
  InferenceRequest r;
  r.model = Preset("llama-3-70b");
  r.hardware.device = "h100";
  r.weight_type = "fp8";
  auto p = MakeInferencePlan(r, Catalog());
  ASSERT_TRUE(p);
  ASSERT_GT(p->cheapest.batch, 0);
  EXPECT_GT(p->cheapest.devices, p->min_devices) << "one H100 holds 70 GB of weights but barely any cache";
  r.batches = {p->max_batch};
  auto smallest = MakeInferencePlan(r, Catalog());
  ASSERT_TRUE(smallest);
  EXPECT_LT(*p->cheapest.usd_per_million, *smallest->table.front().usd_per_million);
}

TEST(Inference, BadRequests) {
  InferenceRequest r = Llama3On("h100");
  r.mbu = 1.5;
  EXPECT_FALSE(MakeInferencePlan(r, Catalog()));
  r = Llama3On("h100");
  r.weight_type = "q9";
  EXPECT_FALSE(MakeInferencePlan(r, Catalog()));
  r = Llama3On("");
  r.hardware.device_flops = 1e14;
  auto p = MakeInferencePlan(r, Catalog());
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("`bandwidth_bytes_per_s`"), std::string::npos);
  r.hardware.bandwidth_bytes_per_s = 1e12;
  r.hardware.memory_bytes = 80e9;
  EXPECT_TRUE(MakeInferencePlan(r, Catalog()));
  r.users = 0;
  EXPECT_FALSE(MakeInferencePlan(r, Catalog()));
}

TEST(Inference, Llama3On8bH100Golden) {
  InferenceRequest r = Llama3On("h100");
  r.users = 1000;
  auto p = MakeInferencePlan(r, Catalog());
  ASSERT_TRUE(p);
  std::string text = RenderInferenceText(*p);
  EXPECT_EQ(text, lmlab::testing::Golden("plan/golden/infer_llama3_8b_h100.txt", text));
}

// The seed's token figures.
TEST(Tokens, SeedFigures) {
  TokenRequest r;
  r.budget_usd = 1e9;
  r.prices = {{"GPT-3.5", 2.0, ""}, {"GPT-4 (10x)", 20.0, ""}};
  r.population = 5e9;
  auto t = MakeTokenEconomics(r, Catalog());
  ASSERT_TRUE(t) << t.error().ToString();
  ASSERT_EQ(t->rows.size(), 2u);
  EXPECT_DOUBLE_EQ(t->rows[0].tokens, 5e14);
  EXPECT_DOUBLE_EQ(*t->rows[0].tokens_per_person_per_year, 1e5);
  EXPECT_DOUBLE_EQ(*t->rows[1].tokens_per_person_per_year, 1e4);
  r.years = 10;
  EXPECT_DOUBLE_EQ(*MakeTokenEconomics(r, Catalog())->rows[0].tokens_per_person_per_year, 1e4);
  std::string text = RenderTokensText(*MakeTokenEconomics(r, Catalog()));
  EXPECT_NE(text.find("5.00e14"), std::string::npos) << text;
}

TEST(Tokens, SelfHostedPriceComesFromTheInferencePlan) {
  TokenRequest r;
  r.budget_usd = 1e6;
  SelfHostedPrice self;
  self.inference = Llama3On("h100");
  self.batch = 64;
  r.self_hosted = self;
  auto t = MakeTokenEconomics(r, Catalog());
  ASSERT_TRUE(t) << t.error().ToString();
  ASSERT_EQ(t->rows.size(), 1u);
  ASSERT_TRUE(t->self_hosted_point);
  EXPECT_EQ(t->self_hosted_point->batch, 64);
  EXPECT_DOUBLE_EQ(t->rows[0].price.usd_per_million, *t->self_hosted_point->usd_per_million);
  EXPECT_DOUBLE_EQ(t->rows[0].tokens, 1e6 / *t->self_hosted_point->usd_per_million * 1e6);
  self.batch = 100000000;
  r.self_hosted = self;
  EXPECT_FALSE(MakeTokenEconomics(r, Catalog())) << "a batch that does not fit";
  self.batch.reset();  // default: the cheapest point of the plan
  r.self_hosted = self;
  t = MakeTokenEconomics(r, Catalog());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->self_hosted_point->batch, t->self_hosted->cheapest.batch);
}

TEST(Tokens, BadRequests) {
  EXPECT_FALSE(MakeTokenEconomics({.budget_usd = 0, .prices = {{"x", 2, ""}}}, Catalog()));
  EXPECT_FALSE(MakeTokenEconomics({.budget_usd = 1, .prices = {}}, Catalog()));
  EXPECT_FALSE(MakeTokenEconomics({.budget_usd = 1, .prices = {{"x", -2, ""}}}, Catalog()));
  EXPECT_FALSE(MakeTokenEconomics({.budget_usd = 1, .prices = {{"x", 2, ""}}, .population = 0.0}, Catalog()));
}

}  // namespace
}  // namespace lmlab::plan
