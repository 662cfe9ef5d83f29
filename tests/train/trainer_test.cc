#include "lmlab/train/trainer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "lmlab/train/model.h"
#include "tests/train/train_fixture.h"

namespace lmlab::train {
namespace {

TEST(TrainTest, LossFallsAndEveryTensorChanges) {
  std::vector<std::string> docs = testing::SmallCorpus();
  TrainOptions o = testing::TinyOptions();
  o.steps = 30;
  ASSERT_OK_AND_ASSIGN(TrainResult r, Train(docs, o));
  ASSERT_EQ(r.losses.size(), 30u);
  EXPECT_GT(r.initial_val_loss, std::log(static_cast<double>(r.model.config.n_vocab)) - 0.5);
  EXPECT_LT(r.final_val_loss, r.initial_val_loss - 1.0) << "validation loss did not fall";
  double first = (r.losses[0] + r.losses[1] + r.losses[2]) / 3, last = (r.losses[27] + r.losses[28] + r.losses[29]) / 3;
  EXPECT_LT(last, first - 1.0);
  ASSERT_FALSE(r.epochs.empty());
  EXPECT_EQ(r.epochs.back().step, 30);
  EXPECT_GT(r.tokens_per_second, 0);
  EXPECT_EQ(r.threads, o.threads > 0 ? o.threads : r.threads);
  EXPECT_GT(r.threads, 0);
  // Model-FLOP utilisation against a GEMM measured right after: both sides positive.
  EXPECT_NEAR(r.model_flops_per_second, TrainingFlopsPerToken(r.model.config) * r.tokens_per_second, 1);
  EXPECT_GT(r.gemm_flops_per_second, 0);
  EXPECT_NEAR(r.mfu, r.model_flops_per_second / r.gemm_flops_per_second, 1e-9);

  // Every named tensor moved away from its initial value, the ones llama.cpp's
  // opt path leaves untouched (token_embd, attn_k, attn_v) included.
  ModelConfig c = o.model;
  c.n_vocab = r.model.config.n_vocab;
  Model init = InitModel(c, r.model.vocab, o.seed);
  ASSERT_EQ(init.tensors.size(), r.model.tensors.size());
  ASSERT_EQ(init.tensors.size(), 2u + 9u * c.n_layer + 1u);
  for (size_t i = 0; i < init.tensors.size(); ++i) {
    const NamedTensor& a = init.tensors[i];
    const NamedTensor& b = r.model.tensors[i];
    ASSERT_EQ(a.name, b.name);
    ASSERT_EQ(a.data.size(), b.data.size());
    double max_diff = 0;
    size_t changed = 0;
    for (size_t k = 0; k < a.data.size(); ++k) {
      max_diff = std::max(max_diff, static_cast<double>(std::abs(a.data[k] - b.data[k])));
      changed += a.data[k] != b.data[k];
    }
    EXPECT_GT(max_diff, 1e-4) << a.name << " did not train";
    EXPECT_GT(changed, a.data.size() / 2) << a.name << ": most values unchanged";
  }
}

// The pre-change kernels (ggml's MUL_MAT / OUT_PROD) and the Eigen GEMMs the
// trainer now uses compute the same training run: every product kind of the
// graph (weights forward and backward, attention with permuted operands)
// goes through both. Only summation order differs.
TEST(TrainTest, EigenAndGgmlProductsTrainTheSameRun) {
  std::vector<std::string> docs = testing::SmallCorpus();
  TrainOptions o = testing::TinyOptions();
  o.steps = 8;
  o.threads = 2;  // the products split their columns across threads
  ASSERT_OK_AND_ASSIGN(TrainResult eigen, Train(docs, o));
  o.products = MatrixProducts::kGgml;
  ASSERT_OK_AND_ASSIGN(TrainResult ggml, Train(docs, o));
  ASSERT_EQ(eigen.losses.size(), ggml.losses.size());
  for (size_t i = 0; i < eigen.losses.size(); ++i) EXPECT_NEAR(eigen.losses[i], ggml.losses[i], 2e-3) << "step " << i;
  EXPECT_NEAR(eigen.final_val_loss, ggml.final_val_loss, 2e-3);
  EXPECT_NE(eigen.losses, ggml.losses) << "identical to the last bit: was the rewrite applied at all?";
  for (size_t t = 0; t < eigen.model.tensors.size(); ++t) {
    const std::vector<float>& a = eigen.model.tensors[t].data;
    const std::vector<float>& b = ggml.model.tensors[t].data;
    double max_diff = 0, max_abs = 0;
    for (size_t k = 0; k < a.size(); ++k) {
      max_diff = std::max(max_diff, static_cast<double>(std::abs(a[k] - b[k])));
      max_abs = std::max(max_abs, static_cast<double>(std::abs(b[k])));
    }
    EXPECT_LT(max_diff, 1e-3 * std::max(1.0, max_abs)) << eigen.model.tensors[t].name;
  }
}

TEST(TrainTest, SameSeedSameResult) {
  std::vector<std::string> docs = testing::SmallCorpus();
  TrainOptions o = testing::TinyOptions();
  o.steps = 4;
  ASSERT_OK_AND_ASSIGN(TrainResult a, Train(docs, o));
  ASSERT_OK_AND_ASSIGN(TrainResult b, Train(docs, o));
  EXPECT_EQ(a.losses, b.losses);
  o.seed = 2;
  ASSERT_OK_AND_ASSIGN(TrainResult c, Train(docs, o));
  EXPECT_NE(a.losses, c.losses);
}

TEST(TrainTest, CheckpointResumeContinuesTheSameSchedule) {
  std::vector<std::string> docs = testing::SmallCorpus();
  testing::TempDir dir;
  TrainOptions o = testing::TinyOptions();
  o.steps = 10;
  o.threads = 1;
  ASSERT_OK_AND_ASSIGN(TrainResult whole, Train(docs, o));

  // A run that stops after 6 steps (its schedule still says 10) leaves a checkpoint at step 5...
  o.checkpoint = dir.path() / "run.ckpt";
  o.checkpoint_every = 5;
  TrainOptions first = o;
  int calls = 0;
  first.progress = [&](const Progress& p) {
    if (p.done >= 6 && ++calls == 1) throw std::runtime_error("killed");
  };
  EXPECT_THROW((void)Train(docs, first), std::runtime_error);
  ASSERT_TRUE(std::filesystem::exists(o.checkpoint));

  // ...from which a resumed run continues and ends where the uninterrupted one did.
  o.resume = Resume::kIfPresent;
  ASSERT_OK_AND_ASSIGN(TrainResult resumed, Train(docs, o));
  EXPECT_EQ(resumed.resumed_from_step, 5);
  ASSERT_EQ(resumed.losses.size(), 10u);
  for (size_t i = 0; i < 10; ++i) EXPECT_NEAR(resumed.losses[i], whole.losses[i], 1e-4) << "step " << i;
  EXPECT_NEAR(resumed.final_val_loss, whole.final_val_loss, 1e-4);

  // A checkpoint from another run is refused, not silently mixed in.
  o.seed = 7;
  auto other = Train(docs, o);
  ASSERT_FALSE(other.has_value());
  EXPECT_NE(other.error().message.find("different run"), std::string::npos) << other.error().message;
}

TEST(TrainTest, CorpusTooSmallForTheContext) {
  std::vector<std::string> docs = {"Just a few words here."};
  TrainOptions o = testing::TinyOptions();
  o.model.n_ctx = 64;
  auto r = Train(docs, o);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("too small for a context of 64"), std::string::npos) << r.error().message;
}

TEST(TrainTest, ImpossibleShapesAreRejected) {
  std::vector<std::string> docs = testing::SmallCorpus();
  TrainOptions o = testing::TinyOptions();
  o.model.n_embd = 30;
  o.model.n_head = 4;
  auto r = Train(docs, o);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("`n_head` 4 does not divide `n_embd` 30"), std::string::npos) << r.error().message;
  o.model.n_embd = 24;
  o.model.n_head = 8;  // head size 3 is odd
  r = Train(docs, o);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("must be even"), std::string::npos) << r.error().message;
  o = testing::TinyOptions();
  o.lr = 0;
  EXPECT_FALSE(Train(docs, o).has_value());
}

// Documents whose answer (after "answer:") is always the same short
// sentence while the text before it is a shuffle of words no model can
// predict: only the answer can be learned.
std::vector<std::string> AnswerCorpus() {
  std::vector<std::string> words = {"red", "green", "blue", "small", "large", "north", "south", "river", "stone", "cloud"};
  std::vector<std::string> docs;
  uint64_t x = 12345;
  for (int d = 0; d < 160; ++d) {
    std::string doc = "query:";
    for (int w = 0; w < 8; ++w) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      doc += " " + words[(x >> 33) % words.size()];
    }
    doc += "\nanswer: the river is blue.";
    docs.push_back(doc);
  }
  return docs;
}

TEST(TrainTest, AnswerLossCountsOnlyTheAnswersTokens) {
  std::vector<std::string> docs = AnswerCorpus();
  TrainOptions o = testing::TinyOptions();
  o.steps = 80;
  o.loss_on = LossOn::kAnswers;
  o.answer_marker = "answer:";
  ASSERT_OK_AND_ASSIGN(TrainResult a, Train(docs, o));
  // The loss is taken on " the river is blue." and </s> of every document.
  ASSERT_OK_AND_ASSIGN(Tokenizer tok, Tokenizer::FromVocab(a.model.vocab));
  int64_t expected = 0;
  for (const std::string& d : docs)
    expected += static_cast<int64_t>(tok.Encode(d, runtime::AddBos::kYes).size()) + 1 -
                static_cast<int64_t>(tok.Encode(d.substr(0, d.find("answer:") + 7), runtime::AddBos::kYes).size());
  EXPECT_EQ(a.loss_tokens, expected);
  EXPECT_EQ(a.unmarked_documents, 0);
  // The answer is fixed, so its loss falls near zero; the every-token loss of
  // the same run stays high, held up by the unpredictable words.
  EXPECT_GT(a.initial_val_loss, 4.0);
  EXPECT_LT(a.final_val_loss, 0.5) << a.initial_val_loss;
  o.loss_on = LossOn::kEveryToken;
  ASSERT_OK_AND_ASSIGN(TrainResult every, Train(docs, o));
  EXPECT_GT(every.final_val_loss, 1.0);
  EXPECT_EQ(every.loss_tokens, every.corpus_tokens - 1);
  // A small weight on the other tokens trains a different model.
  o.loss_on = LossOn::kAnswers;
  o.other_token_weight = 0.1f;
  ASSERT_OK_AND_ASSIGN(TrainResult weighted, Train(docs, o));
  EXPECT_NE(weighted.losses, a.losses);
  EXPECT_LT(weighted.final_val_loss, 0.5);
}

// The default (every token, one stream) does not look at the loss options:
// the default recipes train byte for byte as before.
TEST(TrainTest, DefaultLossIgnoresTheAnswerOptions) {
  std::vector<std::string> docs = testing::SmallCorpus();
  TrainOptions o = testing::TinyOptions();
  o.steps = 4;
  ASSERT_OK_AND_ASSIGN(TrainResult a, Train(docs, o));
  o.answer_marker = "is";
  o.other_token_weight = 0.5f;
  ASSERT_OK_AND_ASSIGN(TrainResult b, Train(docs, o));
  EXPECT_EQ(a.losses, b.losses);
  EXPECT_EQ(a.final_val_loss, b.final_val_loss);
  ASSERT_EQ(a.model.tensors.size(), b.model.tensors.size());
  for (size_t i = 0; i < a.model.tensors.size(); ++i) EXPECT_EQ(a.model.tensors[i].data, b.model.tensors[i].data);
}

TEST(TrainTest, WholeDocumentsStayInOneWindow) {
  std::vector<std::string> docs = testing::SmallCorpus();
  // Two documents too long for a window of 32 tokens: cut from the front.
  docs.push_back("This sentence is far too long to fit into one window of thirty-two tokens, because it goes on "
                 "and on about the capitals of France, Germany, Spain, Italy and Austria.");
  docs.push_back(docs.back() + " Twice.");
  TrainOptions o = testing::TinyOptions();
  o.steps = 20;
  o.packing = Packing::kWholeDocuments;
  ASSERT_OK_AND_ASSIGN(TrainResult r, Train(docs, o));
  ASSERT_OK_AND_ASSIGN(Tokenizer tok, Tokenizer::FromVocab(r.model.vocab));
  const int64_t window = o.model.n_ctx + 1;
  int64_t truncated = 0, loss_tokens = 0, kept = 0;
  for (const std::string& d : docs) {
    const int64_t n = std::min(window, static_cast<int64_t>(tok.Encode(d, runtime::AddBos::kYes).size()) + 1);
    truncated += n == window && static_cast<int64_t>(tok.Encode(d, runtime::AddBos::kYes).size()) + 1 > window;
    loss_tokens += n - 1;  // every token but <s>
    kept += n;
  }
  EXPECT_EQ(truncated, 2);
  EXPECT_EQ(r.truncated_documents, truncated);
  EXPECT_EQ(r.loss_tokens, loss_tokens);
  // Whole windows, padded: at least the documents' tokens, and first fit
  // keeps the padding under a fifth.
  EXPECT_EQ(r.corpus_tokens % window, 0);
  EXPECT_GE(r.corpus_tokens, kept);
  EXPECT_LT(r.corpus_tokens, kept * 5 / 4);
  EXPECT_LT(r.final_val_loss, r.initial_val_loss - 1.0);
}

TEST(TrainTest, AnswerLossNeedsAMarker) {
  std::vector<std::string> docs = testing::SmallCorpus();
  TrainOptions o = testing::TinyOptions();
  o.steps = 2;
  o.loss_on = LossOn::kAnswers;
  auto r = Train(docs, o);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("answer_marker"), std::string::npos) << r.error().message;
  o.answer_marker = "no document says this";
  r = Train(docs, o);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("no document holds the answer marker"), std::string::npos) << r.error().message;
  o.answer_marker = "capital of";
  o.other_token_weight = 2;
  EXPECT_FALSE(Train(docs, o).has_value());
}

TEST(TrainTest, LearningRateWarmsUpThenDecays) {
  TrainOptions o;
  o.lr = 1e-3f;
  o.warmup = 10;
  o.min_lr_ratio = 0.1f;
  EXPECT_FLOAT_EQ(LearningRate(o, 0, 100), 1e-4f);
  EXPECT_FLOAT_EQ(LearningRate(o, 9, 100), 1e-3f);
  EXPECT_FLOAT_EQ(LearningRate(o, 10, 100), 1e-3f);
  EXPECT_NEAR(LearningRate(o, 55, 100), 0.55e-3f, 1e-6f);
  EXPECT_NEAR(LearningRate(o, 100, 100), 1e-4f, 1e-7f);
  EXPECT_GT(LearningRate(o, 30, 100), LearningRate(o, 60, 100));
}

}  // namespace
}  // namespace lmlab::train
