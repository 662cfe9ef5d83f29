#include "lmlab/plan/planner.h"

#include <gtest/gtest.h>

#include <cmath>

#include "lmlab/plan/render.h"
#include "tests/support/run_command.h"

namespace lmlab::plan {
namespace {

DeviceCatalog Catalog() {
  auto c = DeviceCatalog::LoadDefault();
  EXPECT_TRUE(c.has_value()) << c.error().ToString();
  return *c;
}

PlanRequest Reference() {
  PlanRequest r;
  r.compute.flops = 1e24;
  r.hardware.device_flops = 1e14;
  r.devices = {1000, 22000};
  return r;
}

TEST(Planner, ReferenceScenarioMatchesQuotedFigures) {
  auto plan = MakePlan(Reference(), Catalog());
  ASSERT_TRUE(plan) << plan.error().ToString();
  EXPECT_DOUBLE_EQ(plan->device_seconds, 1e10);
  ASSERT_EQ(plan->scenarios.size(), 2u);
  EXPECT_NEAR(plan->scenarios[0].days, 115.74, 0.01);
  EXPECT_NEAR(plan->scenarios[1].days, 5.26, 0.005);
  EXPECT_EQ(FormatDays(plan->scenarios[0].days), "115.7");
  EXPECT_EQ(FormatDays(plan->scenarios[1].days), "5.26");
  EXPECT_DOUBLE_EQ(plan->rate.mfu, 1.0) << "a given device rate is already sustained";
}

TEST(Planner, SixNDAndChinchilla) {
  auto six = EstimateCompute({.params = 70e9, .tokens = 15e12});
  ASSERT_TRUE(six);
  EXPECT_DOUBLE_EQ(six->flops, 6 * 70e9 * 15e12);
  EXPECT_EQ(six->method, "6ND");

  auto from_n = EstimateCompute({.params = 70e9, .chinchilla = Chinchilla::kOn});
  ASSERT_TRUE(from_n);
  EXPECT_DOUBLE_EQ(*from_n->tokens, 1.4e12);
  EXPECT_NEAR(from_n->flops, 5.88e23, 1e18);

  auto from_c = EstimateCompute({.flops = 5.88e23, .chinchilla = Chinchilla::kOn});
  ASSERT_TRUE(from_c);
  EXPECT_NEAR(*from_c->params, 70e9, 1e3);
  EXPECT_NEAR(*from_c->tokens, 1.4e12, 1e5);
}

TEST(Planner, ComputeRequestErrors) {
  EXPECT_FALSE(EstimateCompute({}));
  EXPECT_FALSE(EstimateCompute({.params = 7e9}));  // tokens missing
  EXPECT_FALSE(EstimateCompute({.flops = -1}));
  EXPECT_FALSE(EstimateCompute({.flops = 0}));
  EXPECT_FALSE(EstimateCompute({.params = 7e9, .tokens = 1e12, .chinchilla = Chinchilla::kOn}));
  auto e = EstimateCompute({.flops = -5});
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(e.error().message.find("`flops`"), std::string::npos);
}

TEST(Planner, InversionDevicesAndDaysRoundTrip) {
  DeviceRate rate;
  rate.sustained_flops = 1e14;
  Scenario s = SolveDevices(1e24, rate, 1e10 / 1000 / kSecondsPerDay);
  EXPECT_EQ(s.devices, 1000);
  s = SolveDevices(1e24, rate, 1e10 / 22000 / kSecondsPerDay);
  EXPECT_EQ(s.devices, 22000);
  // 30 days needs ceil(1e10 / (30 * 86400)) = 3859 devices, which finish in <= 30 days.
  s = SolveDevices(1e24, rate, 30);
  EXPECT_EQ(s.devices, 3859);
  EXPECT_LE(s.days, 30.0);
  EXPECT_GT(SolveDays(1e24, rate, s.devices - 1).days, 30.0);
}

TEST(Planner, CatalogDeviceUsesPeakTimesDefaultMfu) {
  PlanRequest r;
  r.compute.flops = 1e24;
  r.hardware.device = "H100";  // alias, any case
  r.devices = {1000};
  auto plan = MakePlan(r, Catalog());
  ASSERT_TRUE(plan) << plan.error().ToString();
  EXPECT_DOUBLE_EQ(plan->rate.peak_flops, 989.5e12);
  EXPECT_DOUBLE_EQ(plan->rate.mfu, kDefaultMfu);
  EXPECT_DOUBLE_EQ(plan->rate.sustained_flops, 989.5e12 * 0.4);
  r.hardware.sparsity = Sparsity::kSparse24;
  plan = MakePlan(r, Catalog());
  ASSERT_TRUE(plan);
  EXPECT_DOUBLE_EQ(plan->rate.peak_flops, 1979e12);
}

TEST(Planner, EnergyAndCost) {
  PlanRequest r = Reference();
  r.hardware.device = "h100-sxm";  // 700 W, $2.50/h
  r.hardware.pue = 1.2;
  auto plan = MakePlan(r, Catalog());
  ASSERT_TRUE(plan);
  const Scenario& s = plan->scenarios[0];
  double hours = 1e10 / 3600.0;
  EXPECT_NEAR(s.device_hours, hours, 1e-3);
  ASSERT_TRUE(s.energy_kwh);
  EXPECT_NEAR(*s.energy_kwh, hours * 0.7 * 1.2, 1e-3);
  ASSERT_TRUE(s.cost_usd);
  EXPECT_NEAR(*s.cost_usd, hours * 2.5, 1e-3);
  // The same work on more devices costs the same device-hours.
  EXPECT_NEAR(plan->scenarios[1].device_hours, hours, 1e-3);
}

TEST(Planner, NoEnergyWithoutPower) {
  PlanRequest r = Reference();  // custom device: no TDP, no price
  auto plan = MakePlan(r, Catalog());
  ASSERT_TRUE(plan);
  EXPECT_FALSE(plan->scenarios[0].energy_kwh);
  EXPECT_FALSE(plan->scenarios[0].cost_usd);
}

TEST(Planner, TrainingMemory) {
  ShapeRequest shape;
  shape.layers = 32;
  shape.hidden = 4096;
  shape.heads = 32;
  shape.seq_len = 4096;
  shape.micro_batch = 1;
  MemoryEstimate m = EstimateMemory(7e9, shape, 80e9);
  EXPECT_DOUBLE_EQ(m.states_bytes, 112e9);
  EXPECT_DOUBLE_EQ(m.activation_bytes, 34.0 * 4096 * 1 * 4096 * 32);
  ASSERT_TRUE(m.min_devices);
  double usable = 80e9 * 0.9 - m.activation_bytes;
  EXPECT_EQ(*m.min_devices, static_cast<int64_t>(std::ceil(112e9 / usable)));

  shape.recompute = Recompute::kFull;
  EXPECT_DOUBLE_EQ(EstimateMemory(7e9, shape, 80e9).activation_bytes, 2.0 * 4096 * 4096 * 32);
  shape.recompute = Recompute::kNone;
  EXPECT_DOUBLE_EQ(EstimateMemory(7e9, shape, 80e9).activation_bytes,
                   4096.0 * 4096 * (34 + 5.0 * 32 * 4096 / 4096) * 32);
}

TEST(Planner, TensorParallelSplitsActivations) {
  ShapeRequest shape;
  shape.layers = 80;
  shape.hidden = 8192;
  MemoryEstimate one = EstimateMemory(70e9, shape, 80e9);
  shape.tensor_parallel = 8;
  MemoryEstimate eight = EstimateMemory(70e9, shape, 80e9);
  EXPECT_DOUBLE_EQ(eight.activation_bytes * 8, one.activation_bytes);
  EXPECT_FALSE(one.min_devices) << "89 GB of activations cannot fit an 80 GB device";
  ASSERT_TRUE(eight.min_devices);
}

TEST(Planner, DerivedShapeLooksLikeGpt3) {
  MemoryEstimate m = EstimateMemory(175e9, ShapeRequest{}, 0);
  EXPECT_TRUE(m.shape_derived);
  EXPECT_NEAR(static_cast<double>(m.hidden), 12288, 128);
  EXPECT_NEAR(static_cast<double>(m.layers), 96, 1);
  EXPECT_FALSE(m.min_devices) << "no device memory given";
}

TEST(Planner, ActivationsTooLargeForOneDevice) {
  ShapeRequest shape;
  shape.layers = 80;
  shape.hidden = 8192;
  shape.seq_len = 32768;
  shape.recompute = Recompute::kNone;
  MemoryEstimate m = EstimateMemory(70e9, shape, 80e9);
  EXPECT_FALSE(m.min_devices);
  EXPECT_FALSE(m.note.empty());
}

TEST(Planner, BadHardwareValues) {
  PlanRequest r = Reference();
  r.hardware.mfu = 1.5;
  EXPECT_FALSE(MakePlan(r, Catalog()));
  r = Reference();
  r.hardware.device_flops = -1;
  EXPECT_FALSE(MakePlan(r, Catalog()));
  r = Reference();
  r.hardware.device_flops.reset();
  r.hardware.device = "tpu-v9000";
  auto p = MakePlan(r, Catalog());
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, ErrorCode::kNotFound);
  EXPECT_NE(p.error().message.find("h100-sxm"), std::string::npos) << "lists known devices";
  r = Reference();
  r.devices = {0};
  EXPECT_FALSE(MakePlan(r, Catalog()));
  r = Reference();
  r.days = {-3};
  EXPECT_FALSE(MakePlan(r, Catalog()));
  r = Reference();
  r.compute = {.params = 7e9, .tokens = 1e12};
  r.shape.hidden = 4096;
  r.shape.heads = 30;
  EXPECT_FALSE(MakePlan(r, Catalog()));
}

TEST(Planner, PrecisionWithoutDatasheetRate) {
  PlanRequest r;
  r.compute.flops = 1e24;
  r.hardware.device = "a100";
  r.hardware.precision = Precision::kFp8;  // Ampere has no fp8
  r.devices = {1};
  auto p = MakePlan(r, Catalog());
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, ErrorCode::kUnsupported);
}

TEST(Planner, SweepIsDaysByDevicesAndMfu) {
  SweepTable t = MakeSweep(1e24, 1e14, {1000, 2000}, {0.5, 1.0});
  ASSERT_EQ(t.days.size(), 2u);
  EXPECT_NEAR(t.days[0][1], 115.74, 0.01);
  EXPECT_NEAR(t.days[0][0], 2 * 115.74, 0.02);
  EXPECT_NEAR(t.days[1][1], 115.74 / 2, 0.01);
}

ModelShape Preset(const std::string& id) {
  auto m = ResolveModelShape(id, "");
  EXPECT_TRUE(m.has_value()) << m.error().ToString();
  return *m;
}

TEST(Planner, ModelShapeGivesFlopsWithTheAttentionTerm) {
  PlanRequest r;
  r.model = Preset("llama-3-8b");
  r.compute.tokens = 15e12;
  r.shape.seq_len = 8192;
  r.hardware.device = "h100";
  r.devices = {1024};
  auto plan = MakePlan(r, Catalog());
  ASSERT_TRUE(plan) << plan.error().ToString();
  ParamCount n = CountParams(*r.model);
  const double per_token = 6 * n.matmul_active + 12.0 * 32 * 8192 * 4096;
  EXPECT_DOUBLE_EQ(*plan->compute.flops_per_token, per_token);
  EXPECT_DOUBLE_EQ(plan->compute.flops, per_token * 15e12);
  EXPECT_DOUBLE_EQ(*plan->compute.params, n.total);
  // Chinchilla from the model: D = 20 N (total parameters).
  r.compute = {.chinchilla = Chinchilla::kOn};
  plan = MakePlan(r, Catalog());
  ASSERT_TRUE(plan);
  EXPECT_DOUBLE_EQ(*plan->compute.tokens, 20 * n.total);
  // A budget gives the tokens.
  r.compute = {.flops = 1e24};
  plan = MakePlan(r, Catalog());
  ASSERT_TRUE(plan);
  EXPECT_DOUBLE_EQ(*plan->compute.tokens, 1e24 / per_token);
  r.compute = {.params = 7e9, .tokens = 1e12};
  EXPECT_FALSE(MakePlan(r, Catalog())) << "--params and a model shape contradict";
}

TEST(Planner, MoeFlopsFollowActiveParameters) {
  PlanRequest r;
  r.model = Preset("mixtral-8x7b");
  r.compute.tokens = 1e12;
  r.shape.seq_len = 4096;
  r.hardware.device = "h100";
  r.devices = {1};
  auto plan = MakePlan(r, Catalog());
  ASSERT_TRUE(plan);
  ParamCount n = CountParams(*r.model);
  EXPECT_LT(*plan->compute.flops_per_token, 6 * n.total / 3) << "a token uses 2 of 8 experts";
  EXPECT_DOUBLE_EQ(plan->memory->states_bytes, 16 * n.total) << "every expert has weights, grads and Adam states";
}

TEST(Planner, EpochTwoMethodsSideBySide) {
  // The reference run read backwards: 1,000 devices x 115.74 days at a sustained 1e14.
  PlanRequest r = Reference();
  r.hardware_time = {.devices = 1000, .days = 1e10 / 1000 / kSecondsPerDay};
  auto plan = MakePlan(r, Catalog());
  ASSERT_TRUE(plan) << plan.error().ToString();
  ASSERT_TRUE(plan->epoch);
  const EpochEstimate& e = *plan->epoch;
  EXPECT_DOUBLE_EQ(e.utilisation, 1.0) << "a given rate is already sustained";
  EXPECT_NEAR(e.hardware_flops, 1e24, 1e12);
  EXPECT_NEAR(*e.geometric_mean, 1e24, 1e12);
  EXPECT_NEAR(*e.implied_mfu, 1.0, 1e-9);

  // A datasheet peak: Epoch's 30% for LLMs unless --mfu says otherwise.
  PlanRequest g;
  g.compute = {.params = 70e9, .tokens = 15e12};
  g.hardware.device = "h100";
  g.hardware_time = {.devices = 16384, .days = 54};
  g.devices = {16384};
  plan = MakePlan(g, Catalog());
  ASSERT_TRUE(plan);
  const double device_seconds = 16384 * 54 * kSecondsPerDay;
  EXPECT_DOUBLE_EQ(plan->epoch->utilisation, kEpochLlmUtilisation);
  EXPECT_DOUBLE_EQ(plan->epoch->hardware_flops, device_seconds * 989.5e12 * 0.30);
  EXPECT_DOUBLE_EQ(*plan->epoch->geometric_mean, std::sqrt(6 * 70e9 * 15e12 * plan->epoch->hardware_flops));
  EXPECT_DOUBLE_EQ(plan->epoch->hardware_flops_low, device_seconds * 989.5e12 * kDefaultMfuLow);
  EXPECT_DOUBLE_EQ(plan->epoch->hardware_flops_high, device_seconds * 989.5e12 * kDefaultMfuHigh);
  EXPECT_DOUBLE_EQ(*plan->epoch->implied_mfu, 6 * 70e9 * 15e12 / (device_seconds * 989.5e12));
  g.hardware.mfu = 0.45;
  plan = MakePlan(g, Catalog());
  ASSERT_TRUE(plan);
  EXPECT_DOUBLE_EQ(plan->epoch->utilisation, 0.45);

  // Hardware and time alone: the hardware estimate is the compute.
  PlanRequest h;
  h.hardware.device = "h100";
  h.hardware_time = {.devices = 1000, .days = 10};
  h.devices = {1000};
  plan = MakePlan(h, Catalog());
  ASSERT_TRUE(plan) << plan.error().ToString();
  EXPECT_DOUBLE_EQ(plan->compute.flops, 1000 * 10 * kSecondsPerDay * 989.5e12 * 0.30);
  EXPECT_FALSE(plan->epoch->operations_flops);

  h.hardware_time.days.reset();
  EXPECT_FALSE(MakePlan(h, Catalog())) << "devices without days";
  h.hardware_time = {.devices = 10, .days = 1, .mfu_low = 0.6, .mfu_high = 0.5};
  EXPECT_FALSE(MakePlan(h, Catalog())) << "an inverted range";
}

TEST(Planner, LogitsBufferAndPipelineInFlight) {
  ShapeRequest shape;
  shape.seq_len = 4096;
  shape.micro_batch = 2;
  ModelShape m = Preset("llama-3-8b");
  MemoryEstimate one = EstimateMemory(CountParams(m).total, shape, 80e9, &m);
  ASSERT_TRUE(one.logits_counted);
  EXPECT_DOUBLE_EQ(one.logits_bytes, 4.0 * 4096 * 2 * 128256);
  EXPECT_DOUBLE_EQ(one.activation_bytes, one.layer_activation_bytes + one.logits_bytes);

  // 1F1B with 4 stages: the first stage holds 4 micro-batches of its 8 layers
  // (= all 32 layers' worth); the last holds 1 and the logits.
  shape.pipeline_parallel = 4;
  MemoryEstimate pp = EstimateMemory(CountParams(m).total, shape, 80e9, &m);
  EXPECT_EQ(pp.in_flight, 4);
  EXPECT_DOUBLE_EQ(pp.first_stage_bytes, one.layer_activation_bytes);
  EXPECT_DOUBLE_EQ(pp.last_stage_bytes, one.layer_activation_bytes / 4 + one.logits_bytes);
  EXPECT_DOUBLE_EQ(pp.activation_bytes, std::max(pp.first_stage_bytes, pp.last_stage_bytes));
  shape.micro_batches = 2;  // fewer micro-batches than stages: only 2 in flight
  EXPECT_EQ(EstimateMemory(CountParams(m).total, shape, 80e9, &m).in_flight, 2);

  // Tensor parallelism splits the logits too (vocabulary-parallel output layer).
  shape = ShapeRequest{};
  shape.tensor_parallel = 8;
  EXPECT_DOUBLE_EQ(EstimateMemory(CountParams(m).total, shape, 80e9, &m).logits_bytes, 4.0 * 4096 * 128256 / 8);
  // No vocabulary known: not counted, and said so.
  EXPECT_FALSE(EstimateMemory(7e9, ShapeRequest{}, 80e9).logits_counted);
  shape = ShapeRequest{};
  shape.vocab = 32000;
  EXPECT_DOUBLE_EQ(EstimateMemory(7e9, shape, 80e9).logits_bytes, 4.0 * 4096 * 32000);
}

TEST(Planner, MoeActivationsCountOnlyTheExpertsATokenVisits) {
  ModelShape mixtral = Preset("mixtral-8x7b");
  const double s = 4096, b = 1, h = 4096, f = 14336;
  double moe = LayerActivationBytes(mixtral, true, s, b, Recompute::kSelective);
  ModelShape all = mixtral;
  all.experts_per_token = all.experts;  // what counting MoE activations as dense amounts to
  double dense = LayerActivationBytes(all, true, s, b, Recompute::kSelective);
  // Each expert a token skips saves its dispatched input (2h) and gated intermediates (6f).
  EXPECT_DOUBLE_EQ(dense - moe, s * b * 6 * (2 * h + 6 * f));
  // Generalised Korthikanti: a classic GPT layer (MHA, plain 4h MLP) is 34 s b h.
  ModelShape gpt;
  gpt.hidden = 1024;
  gpt.heads = gpt.kv_heads = 8;
  gpt.head_dim = 128;
  gpt.intermediate = 4096;
  gpt.mlp = MlpKind::kPlain;
  EXPECT_DOUBLE_EQ(LayerActivationBytes(gpt, false, 2048, 1, Recompute::kSelective), 34.0 * 2048 * 1024);
  EXPECT_DOUBLE_EQ(LayerActivationBytes(gpt, false, 2048, 1, Recompute::kNone),
                   2048.0 * 1024 * (34 + 5.0 * 8 * 2048 / 1024));
}

TEST(Catalog, EveryDeviceHasSourceAndRates) {
  DeviceCatalog c = Catalog();
  for (const char* id : {"a100-sxm", "h100-sxm", "h100-pcie", "h200-sxm", "b200", "gb200", "mi300x"}) {
    const DeviceSpec* d = c.Find(id);
    ASSERT_NE(d, nullptr) << id;
    EXPECT_FALSE(d->source.empty()) << id;
    EXPECT_TRUE(d->PeakFlops(Precision::kBf16, Sparsity::kDense)) << id;
    EXPECT_GT(d->memory_bytes, 0) << id;
    EXPECT_GT(d->bandwidth_bytes_per_s, 0) << id;
    EXPECT_GT(d->tdp_watts, 0) << id;
  }
}

TEST(Catalog, MalformedCatalogIsAParseError) {
  EXPECT_FALSE(DeviceCatalog::Parse("not json"));
  EXPECT_FALSE(DeviceCatalog::Parse("{\"devices\": [{\"name\": \"no id\"}]}"));
  auto r = DeviceCatalog::Parse(
      "{\"devices\": [{\"id\": \"x\", \"dense\": {\"bf17\": 1}, \"memory_gb\": 1, \"bandwidth_tbs\": 1, "
      "\"tdp_w\": 1, \"price_per_hour\": 1}]}");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

TEST(Render, ReferenceTableGolden) {
  PlanRequest r = Reference();
  r.hardware.device = "h100-sxm";
  auto plan = MakePlan(r, Catalog());
  ASSERT_TRUE(plan);
  std::string text = RenderText(*plan);
  EXPECT_EQ(text, lmlab::testing::Golden("plan/golden/reference.txt", text));
  EXPECT_NE(text.find("115.7"), std::string::npos);
  EXPECT_NE(text.find("5.26"), std::string::npos);
}

TEST(Render, MemoryPlanGolden) {
  PlanRequest r;
  r.compute = {.params = 70e9, .tokens = 15e12};
  r.hardware.device = "h100";
  r.days = {90};
  r.devices = {16384};
  auto plan = MakePlan(r, Catalog());
  ASSERT_TRUE(plan);
  std::string text = RenderText(*plan);
  EXPECT_EQ(text, lmlab::testing::Golden("plan/golden/llama70b.txt", text));
}

TEST(Render, JsonHasEveryNumber) {
  auto plan = MakePlan(Reference(), Catalog());
  ASSERT_TRUE(plan);
  nlohmann::json j = ToJson(*plan);
  EXPECT_DOUBLE_EQ(j["device_seconds"].get<double>(), 1e10);
  EXPECT_NEAR(j["scenarios"][1]["days"].get<double>(), 5.2609, 1e-3);
  EXPECT_TRUE(j["scenarios"][0]["energy_kwh"].is_null());
}

}  // namespace
}  // namespace lmlab::plan
