#include "lmlab/runtime/tiny_model.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>

#include "lmlab/core/file.h"
#include "lmlab/runtime/language_model.h"
#include "tests/support/tiny_model.h"

namespace lmlab::runtime {
namespace {

std::filesystem::path TempDir() {
  auto dir = std::filesystem::path(LMLAB_BINARY_DIR) / "test-tmp" / "runtime-tiny";
  std::filesystem::create_directories(dir);
  return dir;
}

TEST(TinyModel, WritesSmallFileFastAndDeterministically) {
  auto a = TempDir() / "a.gguf", b = TempDir() / "b.gguf";
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(WriteTinyModel(a, {}));
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(seconds, 1.0);
  auto size = std::filesystem::file_size(a);
  EXPECT_GT(size, 200'000u);
  EXPECT_LT(size, 1'000'000u);
  ASSERT_TRUE(WriteTinyModel(b, {}));
  EXPECT_EQ(*ReadFile(a), *ReadFile(b)) << "same options, same bytes";
  ASSERT_TRUE(WriteTinyModel(b, {.seed = 2}));
  EXPECT_NE(*ReadFile(a), *ReadFile(b)) << "another seed, other weights";
  // No temporary files left behind.
  for (const auto& e : std::filesystem::directory_iterator(TempDir()))
    EXPECT_NE(e.path().filename().string()[0], '.') << e.path();
}

TEST(TinyModel, VocabularyHasSpecialsBytesCharactersAndMerges) {
  LlamaVocab v = TinyVocab(256);
  ASSERT_EQ(v.tokens.size(), v.scores.size());
  EXPECT_EQ(v.tokens[0], "<unk>");
  EXPECT_EQ(v.tokens[1], "<s>");
  EXPECT_EQ(v.tokens[2], "</s>");
  EXPECT_EQ(v.tokens[3], "<0x00>");
  EXPECT_EQ(v.tokens[3 + 255], "<0xFF>");
  EXPECT_EQ(v.types[3 + 65], TokenType::kByte);
  EXPECT_GT(v.tokens.size(), 3u + 256 + 95 + 200);
  EXPECT_NE(std::find(v.tokens.begin(), v.tokens.end(), "\xE2\x96\x81the"), v.tokens.end());
}

TEST(TinyModel, LlamaCppLoadsAndGeneratesFromIt) {
  auto lm = OpenModel({.gguf_path = testing::TinyModelPath(), .threads = 1, .n_ctx = 128});
  ASSERT_TRUE(lm) << lm.error().ToString();
  const ModelInfo& info = (*lm)->info();
  EXPECT_EQ(info.architecture, "llama");
  EXPECT_EQ(info.n_layers, 2);
  EXPECT_EQ(info.n_embd, 64);
  EXPECT_EQ(info.n_ctx_train, 256);
  EXPECT_EQ(info.n_vocab, static_cast<int64_t>(TinyVocab(256).tokens.size()));
  auto c = (*lm)->Complete("The capital of France is", {.max_tokens = 8});
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_EQ(c->completion_tokens, 8);
  EXPECT_FALSE(c->text.empty());
}

TEST(GgufWriter, TiedOutputLoadsAndMatchesAnExplicitCopy) {
  // A model without output.weight: llama.cpp ties the output to token_embd.
  // Writing that same matrix explicitly as output.weight must give the same logits.
  LlamaVocab v = TinyVocab(32);
  LlamaHparams hp{.n_vocab = static_cast<int64_t>(v.tokens.size()), .n_embd = 32, .n_layer = 1, .n_head = 2,
                  .n_head_kv = 1, .n_ff = 64};
  std::vector<TensorShape> layout = LlamaTensorLayout(hp);
  std::vector<std::vector<float>> storage;
  std::vector<GgufTensor> tied, explicit_copy;
  float x = 0.1f;
  for (const TensorShape& s : layout) {
    int64_t n = 1;
    for (int64_t d : s.shape) n *= d;
    std::vector<float> data(static_cast<size_t>(n));
    for (float& f : data) f = x = std::fmod(x * 7.31f + 0.17f, 1.0f) - 0.5f;
    storage.push_back(std::move(data));
  }
  for (size_t i = 0; i < layout.size(); ++i) {
    if (layout[i].name == "output.weight") {
      explicit_copy.push_back({layout[i].name, layout[i].shape, storage[0]});  // token_embd's data
      continue;
    }
    tied.push_back({layout[i].name, layout[i].shape, storage[i]});
    explicit_copy.push_back(tied.back());
  }
  auto a = TempDir() / "tied.gguf", b = TempDir() / "explicit.gguf";
  ASSERT_TRUE(WriteLlamaGguf(a, hp, v, tied));
  ASSERT_TRUE(WriteLlamaGguf(b, hp, v, explicit_copy));
  auto la = OpenModel({.gguf_path = a.string(), .threads = 1, .n_ctx = 64});
  auto lb = OpenModel({.gguf_path = b.string(), .threads = 1, .n_ctx = 64});
  ASSERT_TRUE(la) << la.error().ToString();
  ASSERT_TRUE(lb) << lb.error().ToString();
  auto pa = (*la)->NextTokenLogprobs("The cat");
  auto pb = (*lb)->NextTokenLogprobs("The cat");
  ASSERT_TRUE(pa && pb);
  ASSERT_EQ(pa->size(), pb->size());
  for (size_t i = 0; i < pa->size(); ++i) EXPECT_NEAR((*pa)[i], (*pb)[i], 1e-4);
}

TEST(GgufWriter, RejectsInconsistentInput) {
  LlamaVocab v = TinyVocab(16);
  LlamaHparams hp{.n_vocab = static_cast<int64_t>(v.tokens.size())};
  std::vector<GgufTensor> none;
  auto path = TempDir() / "bad.gguf";
  auto s = WriteLlamaGguf(path, hp, v, none);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("missing tensor"), std::string::npos) << s.error().message;

  hp.n_vocab += 1;
  s = WriteLlamaGguf(path, hp, v, none);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("n_vocab"), std::string::npos) << s.error().message;

  hp.n_vocab -= 1;
  std::vector<float> data(10);
  std::vector<GgufTensor> wrong{{"token_embd.weight", {64, 5}, data}};
  s = WriteLlamaGguf(path, hp, v, wrong);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("token_embd.weight has shape [64, 5]"), std::string::npos) << s.error().message;

  hp.n_head = 3;
  EXPECT_FALSE(ValidateLlama(hp, v));
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
}  // namespace lmlab::runtime
