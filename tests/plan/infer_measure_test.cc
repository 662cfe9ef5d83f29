// plan infer --measure's pieces on the tiny test model: real llama.cpp runs.
#include "lmlab/plan/infer_measure.h"

#include <gtest/gtest.h>

#include "lmlab/runtime/gguf_reader.h"
#include "tests/support/tiny_model.h"

namespace lmlab::plan {
namespace {

TEST(InferMeasure, ShapeFromTheGgufTensors) {
  auto s = ReadGgufServingShape(testing::TinyModelPath());
  ASSERT_TRUE(s) << s.error().ToString();
  runtime::TinyModelOptions tiny;  // what TinyModelPath writes
  EXPECT_EQ(s->layers, tiny.n_layer);
  EXPECT_EQ(s->hidden, tiny.n_embd);
  EXPECT_EQ(s->q_dim, tiny.n_embd);
  EXPECT_EQ(s->kv_dim, tiny.n_embd / tiny.n_head * tiny.n_head_kv) << "GQA: 2 KV heads of 4";
  auto tensors = runtime::ListGgufTensors(testing::TinyModelPath());
  ASSERT_TRUE(tensors);
  double bytes = 0;
  for (const auto& t : *tensors) bytes += static_cast<double>(t.n_bytes);
  EXPECT_EQ(s->weight_bytes, bytes);
  EXPECT_LT(s->decode_weight_bytes, s->weight_bytes) << "the input table is a lookup";
  EXPECT_FALSE(ReadGgufServingShape("/no/such/model.gguf"));
}

TEST(InferMeasure, MeasuredBesideTheBound) {
  auto m = MeasureInference({.gguf_path = testing::TinyModelPath(), .prompt_tokens = 16, .gen_tokens = 8, .repeats = 2},
                            {});
  ASSERT_TRUE(m) << m.error().ToString();
  EXPECT_EQ(m->measured.samples.size(), 2u);
  EXPECT_GT(m->measured.decode_tokens_per_second, 0);
  EXPECT_GT(m->measured.prefill_tokens_per_second, 0);
  EXPECT_GT(m->bandwidth.bytes_per_second, 0);
  EXPECT_DOUBLE_EQ(m->kv_bytes_per_token, 2.0 * m->shape.layers * m->shape.kv_dim * 2);
  EXPECT_DOUBLE_EQ(m->decode_bytes_per_token, m->shape.decode_weight_bytes + (16 + 4) * m->kv_bytes_per_token);
  EXPECT_DOUBLE_EQ(m->decode_bound_tokens_per_s,
                   std::min(m->bandwidth.bytes_per_second / m->decode_bytes_per_token,
                            m->gemm.achieved_flops / m->decode_flops_per_token));
  EXPECT_DOUBLE_EQ(m->decode_ratio, m->measured.decode_tokens_per_second / m->decode_bound_tokens_per_s);
  EXPECT_DOUBLE_EQ(m->prefill_ratio, m->measured.prefill_tokens_per_second / m->prefill_bound_tokens_per_s);
}

TEST(InferMeasure, SpeedRejectsBadCounts) {
  EXPECT_FALSE(runtime::MeasureSpeed(testing::TinyModelPath(), {.prompt_tokens = 0}));
  EXPECT_FALSE(runtime::MeasureSpeed(testing::TinyModelPath(), {.repeats = 0}));
  EXPECT_FALSE(MeasureInference({.gguf_path = testing::TinyModelPath(), .gen_tokens = 0}, {}));
  auto missing = MeasureInference({.gguf_path = "/no/such/model.gguf"}, {});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace lmlab::plan
