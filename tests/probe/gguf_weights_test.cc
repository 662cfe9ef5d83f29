// Reading weight matrices back out of a GGUF that runtime's writer made.
#include "lmlab/probe/gguf_weights.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "lmlab/runtime/gguf_writer.h"
#include "lmlab/runtime/tiny_model.h"

namespace lmlab::probe {
namespace {

TEST(GgufWeights, ReadsWhatTheWriterWrote) {
  runtime::LlamaHparams hp;
  hp.n_embd = 8;
  hp.n_layer = 1;
  hp.n_head = 2;
  hp.n_head_kv = 2;
  hp.n_ff = 12;
  runtime::LlamaVocab vocab = runtime::TinyVocab(0);
  hp.n_vocab = static_cast<int64_t>(vocab.tokens.size());
  std::vector<std::vector<float>> data;
  std::vector<runtime::GgufTensor> tensors;
  for (const auto& s : runtime::LlamaTensorLayout(hp)) {
    int64_t count = 1;
    for (int64_t d : s.shape) count *= d;
    std::vector<float> v(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) v[i] = static_cast<float>(i % 97) * 0.5f + (s.name == "blk.0.ffn_down.weight" ? 1000 : 0);
    data.push_back(std::move(v));
  }
  size_t i = 0;
  for (const auto& s : runtime::LlamaTensorLayout(hp)) tensors.push_back({s.name, s.shape, data[i++]});
  std::filesystem::path path = std::filesystem::path(::testing::TempDir()) / "lmlab-probe-weights.gguf";
  ASSERT_TRUE(runtime::WriteLlamaGguf(path, hp, vocab, tensors));

  auto list = ListGgufTensors(path);
  ASSERT_TRUE(list) << list.error().ToString();
  EXPECT_EQ(list->size(), tensors.size());
  // ffn_down is [n_ff, n_embd] in ggml order: 8 rows (one per residual unit) of 12 neurons.
  auto down = ReadGgufMatrix(path, "blk.0.ffn_down.weight");
  ASSERT_TRUE(down) << down.error().ToString();
  EXPECT_EQ(down->rows(), 8);
  EXPECT_EQ(down->cols(), 12);
  EXPECT_DOUBLE_EQ((*down)(2, 5), 1000 + (2 * 12 + 5) % 97 * 0.5);
  auto norm = ReadGgufMatrix(path, "blk.0.ffn_norm.weight");
  ASSERT_TRUE(norm);
  EXPECT_EQ(norm->rows(), 1);
  EXPECT_EQ(norm->cols(), 8);
  auto missing = ReadGgufMatrix(path, "blk.9.ffn_up.weight");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  std::filesystem::remove(path);

  std::filesystem::path junk = std::filesystem::path(::testing::TempDir()) / "lmlab-probe-junk.gguf";
  std::ofstream(junk) << "not a model";
  EXPECT_EQ(ListGgufTensors(junk).error().code, ErrorCode::kParse);
  std::filesystem::remove(junk);
}

}  // namespace
}  // namespace lmlab::probe
