// The exported GGUF as stock llama.cpp sees it: it loads, tokenizes text the
// way lmlab's tokenizer did during training, computes the same next-token
// log-probabilities as lmlab's training graph, and generates with llama-simple.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "lmlab/runtime/language_model.h"
#include "lmlab/train/model.h"
#include "lmlab/train/trainer.h"
#include "tests/support/run_command.h"
#include "tests/train/train_fixture.h"

namespace lmlab::train {
namespace {

// Trains the tiny model once for all tests here (a second or two).
class ExportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    TrainOptions o = testing::TinyOptions();
    o.steps = 25;
    auto r = Train(testing::SmallCorpus(), o);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    model_ = new Model(std::move(r->model));
    dir_ = new testing::TempDir();
    path_ = dir_->path() / "tiny.gguf";
    auto s = ExportGguf(*model_, path_);
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
  }
  static void TearDownTestSuite() {
    delete model_;
    delete dir_;
  }
  static std::unique_ptr<runtime::LanguageModel> Open() {
    auto lm = runtime::OpenModel({.gguf_path = path_.string(), .threads = 1});
    EXPECT_TRUE(lm.has_value()) << lm.error().ToString();
    return lm ? std::move(*lm) : nullptr;
  }
  static inline Model* model_ = nullptr;
  static inline testing::TempDir* dir_ = nullptr;
  static inline std::filesystem::path path_;
};

std::vector<float> LogSoftmax(const float* logits, int64_t n) {
  float mx = *std::max_element(logits, logits + n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(logits[i] - mx));
  std::vector<float> out(n);
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(logits[i] - mx - std::log(sum));
  return out;
}

TEST_F(ExportTest, LoadsInLlamaCppWithTheTrainedShape) {
  auto lm = Open();
  ASSERT_TRUE(lm);
  const runtime::ModelInfo& info = lm->info();
  EXPECT_EQ(info.architecture, "llama");
  EXPECT_EQ(info.n_layers, model_->config.n_layer);
  EXPECT_EQ(info.n_embd, model_->config.n_embd);
  EXPECT_EQ(info.n_vocab, model_->config.n_vocab);
  EXPECT_EQ(info.n_ctx_train, model_->config.n_ctx);
}

TEST_F(ExportTest, LlamaCppTokenizesHeldOutTextLikeLmlab) {
  auto lm = Open();
  ASSERT_TRUE(lm);
  ASSERT_OK_AND_ASSIGN(Tokenizer tok, Tokenizer::FromVocab(model_->vocab));
  // Text the tokenizer never saw: new words, digits, punctuation, UTF-8 outside the vocabulary.
  for (std::string text : {"Quito lies far from Helsinki, doesn't it?", "In 1969, 42 astronauts... maybe not.",
                           "Zürich, Kraków and São Paulo: 47.4°N", "  double  spaces and\nnewlines\t tabs",
                           "capitalcapital of of the the", "x"}) {
    ASSERT_OK_AND_ASSIGN(std::vector<int32_t> theirs, lm->Tokenize(text, runtime::AddBos::kYes));
    EXPECT_EQ(tok.Encode(text, runtime::AddBos::kYes), theirs) << "text: " << text;
  }
}

// A vocabulary learned with split_digits tokenizes the same in llama.cpp: no
// merge holds a digit, so llama.cpp's SPM tokenizer splits numbers too.
TEST(ExportSplitDigits, LlamaCppTokenizesNumbersDigitByDigitToo) {
  std::vector<std::string> docs = testing::SmallCorpus();
  for (int i = 0; i < 50; ++i) docs.push_back("zlib 1:1.2.13.dfsg-1 was uploaded on Nov 05, 2022.");
  ASSERT_OK_AND_ASSIGN(Tokenizer tok, Tokenizer::Learn(docs, {.vocab_size = 400, .split_digits = true}));
  ModelConfig c{.n_vocab = tok.size(), .n_ctx = 64, .n_embd = 32, .n_layer = 1, .n_head = 2};
  Model m = InitModel(c, tok.vocab(), 1);
  testing::TempDir dir;
  ASSERT_TRUE(ExportGguf(m, dir.path() / "digits.gguf").has_value());
  auto lm = runtime::OpenModel({.gguf_path = (dir.path() / "digits.gguf").string(), .threads = 1});
  ASSERT_TRUE(lm) << lm.error().ToString();
  for (std::string text : {"zlib 1:1.2.13.dfsg-1 (unstable)", "Nov 05, 2022 and 1999-12-31", "version 20231005 ok"}) {
    ASSERT_OK_AND_ASSIGN(std::vector<int32_t> theirs, (*lm)->Tokenize(text, runtime::AddBos::kYes));
    EXPECT_EQ(tok.Encode(text, runtime::AddBos::kYes), theirs) << "text: " << text;
  }
}

TEST_F(ExportTest, LlamaCppComputesTheSameNextTokenLogprobs) {
  auto lm = Open();
  ASSERT_TRUE(lm);
  ASSERT_OK_AND_ASSIGN(Tokenizer tok, Tokenizer::FromVocab(model_->vocab));
  const int64_t V = model_->config.n_vocab;
  for (std::string prompt : {"Paris is the capital of", "The latitude of Oslo is", "Hanoi"}) {
    std::vector<int32_t> ids = tok.Encode(prompt, runtime::AddBos::kYes);
    ASSERT_OK_AND_ASSIGN(std::vector<float> logits, ForwardLogits(*model_, ids, 1));
    std::vector<float> ours = LogSoftmax(logits.data() + (ids.size() - 1) * V, V);
    ASSERT_OK_AND_ASSIGN(std::vector<float> theirs, lm->NextTokenLogprobs(prompt));
    ASSERT_EQ(theirs.size(), ours.size());
    double max_diff = 0;
    for (int64_t i = 0; i < V; ++i) max_diff = std::max(max_diff, static_cast<double>(std::abs(ours[i] - theirs[i])));
    EXPECT_LT(max_diff, 5e-4) << "prompt: " << prompt;  // measured 2e-5 to 5e-5
    RecordProperty("max_logprob_diff_" + std::to_string(ids.size()), std::to_string(max_diff));
    // And the model learned something: after training the best guess is far from uniform.
    EXPECT_GT(*std::max_element(ours.begin(), ours.end()), -std::log(static_cast<double>(V)) + 1.0);
  }
}

TEST_F(ExportTest, StockLlamaSimpleGenerates) {
  const std::string simple = std::string(LMLAB_BINARY_DIR) + "/bin/llama-simple";
  ASSERT_TRUE(std::filesystem::exists(simple)) << simple << " is missing: scripts/dev-build.sh llama-simple";
  auto r = lmlab::testing::RunCommand(simple + " -m " + path_.string() + " -n 12 'Paris is the capital of' 2>&1", 120);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  size_t at = r.out.find("Paris is the capital of");
  ASSERT_NE(at, std::string::npos) << r.out;
  EXPECT_NE(r.out.find("decoded"), std::string::npos) << r.out;  // llama-simple's "decoded N tokens" summary
}

}  // namespace
}  // namespace lmlab::train
