// The llama.cpp backend on the tiny random model (tests/support/tiny_model.h):
// real inference, so every expectation here is checked against what
// llama.cpp itself computes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "lmlab/core/file.h"
#include "lmlab/runtime/activations.h"
#include "lmlab/runtime/backends.h"
#include "lmlab/runtime/gguf_reader.h"
#include "lmlab/runtime/language_model.h"
#include "tests/support/tiny_model.h"

namespace lmlab::runtime {
namespace {

std::unique_ptr<LanguageModel> Open(const std::string& path = testing::TinyModelPath(), int n_ctx = 128) {
  auto lm = OpenModel({.gguf_path = path, .threads = 1, .n_ctx = n_ctx});
  EXPECT_TRUE(lm) << lm.error().ToString();
  return lm ? std::move(*lm) : nullptr;
}

std::filesystem::path TempPath(const std::string& name) {
  auto dir = std::filesystem::path(LMLAB_BINARY_DIR) / "test-tmp" / "runtime-llama";
  std::filesystem::create_directories(dir);
  return dir / name;
}

size_t ArgMax(const std::vector<float>& v) { return std::max_element(v.begin(), v.end()) - v.begin(); }

TEST(LlamaModel, InfoFromTheGguf) {
  auto lm = Open();
  ASSERT_TRUE(lm);
  const ModelInfo& i = lm->info();
  EXPECT_EQ(i.backend, "llama.cpp");
  EXPECT_EQ(i.name, "tiny-v1.gguf");
  EXPECT_EQ(i.n_ctx, 128);
  EXPECT_EQ(i.chat_template, "");
  // token_embd + output (n_vocab x 64 each) + 2 blocks + output_norm.
  const int64_t block = 64 + 64 * 64 + 2 * 64 * 32 + 64 * 64 + 64 + 3 * 64 * 128;
  EXPECT_EQ(i.n_params, 2 * i.n_vocab * 64 + 2 * block + 64);
}

TEST(LlamaModel, TokenizeDetokenizeRoundTrip) {
  auto lm = Open();
  ASSERT_TRUE(lm);
  const std::string text = "The capital of France is Paris. Ünïcode → bytes!";
  auto with = lm->Tokenize(text, AddBos::kYes);
  auto without = lm->Tokenize(text, AddBos::kNo);
  ASSERT_TRUE(with && without);
  ASSERT_EQ(with->size(), without->size() + 1);
  EXPECT_EQ((*with)[0], 1) << "BOS is <s>, id 1";
  EXPECT_LT(without->size(), text.size()) << "merges make tokens longer than one character";
  auto back = lm->Detokenize(*without);
  ASSERT_TRUE(back);
  // SentencePiece adds a leading space to the first word; llama.cpp removes it again.
  EXPECT_EQ(*back, text);
  EXPECT_FALSE(lm->Detokenize(std::vector<int32_t>{999999}));
}

TEST(LlamaModel, GenerationIsDeterministicUnderASeed) {
  auto lm = Open();
  ASSERT_TRUE(lm);
  SamplingParams p{.temperature = 1.0f, .seed = 42, .max_tokens = 24};
  auto a = lm->Complete("Once upon a time", p);
  auto b = lm->Complete("Once upon a time", p);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->text, b->text);
  EXPECT_EQ(a->completion_tokens, 24);
  EXPECT_EQ(a->finish_reason, "length");
  // Other seeds give other texts (a random model has a flat distribution).
  int differ = 0;
  for (uint64_t seed : {1, 2, 3}) {
    p.seed = seed;
    auto c = lm->Complete("Once upon a time", p);
    ASSERT_TRUE(c);
    differ += c->text != a->text;
  }
  EXPECT_GE(differ, 2);
  // A fresh instance gives the same text: nothing depends on earlier calls.
  auto lm2 = Open();
  p.seed = 42;
  auto d = lm2->Complete("Once upon a time", p);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->text, a->text);
}

TEST(LlamaModel, GreedyIsArgmaxOfNextTokenLogprobs) {
  auto lm = Open();
  ASSERT_TRUE(lm);
  for (std::string prompt : {"The capital of France is", "Hello", "Who wrote the book?"}) {
    auto lp = lm->NextTokenLogprobs(prompt);
    ASSERT_TRUE(lp);
    ASSERT_EQ(static_cast<int64_t>(lp->size()), lm->info().n_vocab);
    double total = 0;
    for (float x : *lp) total += std::exp(x);
    EXPECT_NEAR(total, 1.0, 1e-4);

    auto c = lm->Complete(prompt, {.temperature = 0, .max_tokens = 4, .top_logprobs = 3});
    ASSERT_TRUE(c) << c.error().ToString();
    ASSERT_EQ(c->logprobs.size(), 4u);
    EXPECT_EQ(c->logprobs[0].id, static_cast<int32_t>(ArgMax(*lp)));
    EXPECT_NEAR(c->logprobs[0].logprob, (*lp)[c->logprobs[0].id], 1e-4);
    std::string text;
    for (const TokenLogprob& t : c->logprobs) {
      // Greedy picks the most likely token at every step.
      ASSERT_EQ(t.top.size(), 3u);
      EXPECT_EQ(t.top[0].first, t.token);
      EXPECT_FLOAT_EQ(t.top[0].second, t.logprob);
      EXPECT_GE(t.top[0].second, t.top[1].second);
      EXPECT_GE(t.top[1].second, t.top[2].second);
      text += t.token;
    }
    EXPECT_EQ(text, c->text);
  }
}

TEST(LlamaModel, ScoreTextAgreesWithNextTokenLogprobs) {
  auto lm = Open();
  ASSERT_TRUE(lm);
  std::string text = "Water is made of hydrogen";
  auto scores = lm->ScoreText(text);
  auto ids = lm->Tokenize(text, AddBos::kNo);
  ASSERT_TRUE(scores && ids);
  ASSERT_EQ(scores->size(), ids->size()) << "every token is scored, the first one given BOS";
  std::string prefix;
  for (size_t i = 0; i < ids->size(); ++i) {
    EXPECT_EQ((*scores)[i].id, (*ids)[i]);
    EXPECT_LT((*scores)[i].logprob, 0.0f);
    if (i > 0) {
      auto detok = lm->Detokenize(std::span(ids->data(), i));
      ASSERT_TRUE(detok);
      auto again = lm->Tokenize(*detok, AddBos::kNo);
      if (again && *again == std::vector<int32_t>(ids->begin(), ids->begin() + i)) {
        auto lp = lm->NextTokenLogprobs(*detok);
        ASSERT_TRUE(lp);
        EXPECT_NEAR((*scores)[i].logprob, (*lp)[(*ids)[i]], 2e-3) << "token " << i;
      }
    }
  }
  auto empty = lm->ScoreText("");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
}

TEST(LlamaModel, ScoreTextLongerThanOneBatch) {
  // n_batch is at most 2048: a 2,500-token text is decoded in two batches.
  auto lm = Open(testing::TinyModelPath(), 3000);
  ASSERT_TRUE(lm);
  std::string text = "the";
  for (int i = 0; i < 2499; ++i) text += " the";
  auto ids = lm->Tokenize(text, AddBos::kNo);
  ASSERT_TRUE(ids);
  ASSERT_EQ(ids->size(), 2500u) << "\"the\" and \" the\" are single tokens";
  auto scores = lm->ScoreText(text);
  ASSERT_TRUE(scores) << scores.error().ToString();
  ASSERT_EQ(scores->size(), 2500u);
  auto lp = lm->NextTokenLogprobs(text.substr(0, text.size() - 4));
  ASSERT_TRUE(lp);
  EXPECT_NEAR(scores->back().logprob, (*lp)[ids->back()], 2e-3);
}

TEST(LlamaModel, StopStringsEndGenerationAndAreNeverEmitted) {
  auto lm = Open();
  ASSERT_TRUE(lm);
  SamplingParams p{.temperature = 0, .max_tokens = 40};
  auto full = lm->Complete("Hello world", p);
  ASSERT_TRUE(full);
  ASSERT_GE(full->text.size(), 12u);
  // Stop at a piece of the greedy text that starts mid-way and spans tokens.
  std::string stop = full->text.substr(5, 4);
  size_t first = full->text.find(stop);
  p.stop = {stop};
  std::string streamed;
  auto c = lm->Complete("Hello world", p, [&](std::string_view piece) {
    streamed += piece;
    return true;
  });
  ASSERT_TRUE(c);
  EXPECT_EQ(c->finish_reason, "stop");
  EXPECT_EQ(c->text, full->text.substr(0, first));
  EXPECT_EQ(streamed, c->text) << "the stream never shows the stop string";
  // Returning false from the callback stops early.
  int calls = 0;
  auto early = lm->Complete("Hello world", {.max_tokens = 40}, [&](std::string_view) { return ++calls < 3; });
  ASSERT_TRUE(early);
  EXPECT_EQ(calls, 3);
  EXPECT_LT(early->completion_tokens, 40);
}

TEST(LlamaModel, ChatFallsBackToChatmlWithoutATemplate) {
  auto lm = Open();
  ASSERT_TRUE(lm);
  std::vector<ChatMessage> chat{{"system", "Be brief."}, {"user", "Hi"}};
  SamplingParams p{.temperature = 0, .max_tokens = 6};
  auto c = lm->Chat(chat, p);
  ASSERT_TRUE(c) << c.error().ToString();
  // The fallback prompt is ChatML: the same as completing that text by hand.
  auto manual = lm->Complete(
      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", p);
  ASSERT_TRUE(manual);
  EXPECT_EQ(c->prompt_tokens, manual->prompt_tokens);
  EXPECT_EQ(c->text, manual->text);

  auto with_template = Open(testing::TinyChatModelPath());
  ASSERT_TRUE(with_template);
  EXPECT_NE(with_template->info().chat_template.find("<|im_start|>"), std::string::npos);
  auto c2 = with_template->Chat(chat, p);
  ASSERT_TRUE(c2);
  EXPECT_EQ(c2->prompt_tokens, manual->prompt_tokens);

  EXPECT_FALSE(lm->Chat(std::vector<ChatMessage>{}, p));
  EXPECT_FALSE(lm->Chat(std::vector<ChatMessage>{{"robot", "x"}}, p));
}

TEST(LlamaModel, InfoNamesTheWeightTypeAndTheChatFormat) {
  auto lm = Open();
  ASSERT_TRUE(lm);
  EXPECT_NE(lm->info().quantization.find("F32"), std::string::npos) << lm->info().quantization;
  EXPECT_TRUE(lm->info().chat_format.starts_with("chatml (fallback")) << lm->info().chat_format;
  auto chat = Open(testing::TinyChatModelPath());
  ASSERT_TRUE(chat);
  EXPECT_EQ(chat->info().chat_format, "gguf template (Jinja)");
}

TEST(LlamaModel, FormatChatIsThePromptChatSends) {
  auto lm = Open(testing::TinyChatModelPath(), 512);
  ASSERT_TRUE(lm);
  std::vector<ChatMessage> chat{{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello."}, {"user", "Bye"}};
  auto prompt = lm->FormatChat(chat);
  ASSERT_TRUE(prompt) << prompt.error().ToString();
  EXPECT_EQ(*prompt,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello."
            "<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n");
  SamplingParams p{.temperature = 0, .max_tokens = 3};
  auto c = lm->Chat(chat, p);
  ASSERT_TRUE(c) << c.error().ToString();
  // Chat sends exactly that text (its special tokens parsed as such, BOS first).
  auto ids = lm->Tokenize(*prompt, AddBos::kYes);
  ASSERT_TRUE(ids);
  // Special tokens are parsed (one token each where the vocabulary has them;
  // the tiny vocabulary spells them as text), never more tokens than the text.
  EXPECT_LE(c->prompt_tokens, static_cast<int64_t>(ids->size()));
  EXPECT_GT(c->prompt_tokens, static_cast<int64_t>(ids->size()) / 2);
  EXPECT_FALSE(lm->FormatChat(std::vector<ChatMessage>{{"robot", "x"}}));
}

// The embedding is the model's final hidden state (the last norm's output)
// averaged over the text's tokens, BOS excluded: recomputed here from the
// residual stream after the last block and the GGUF's output_norm.weight.
TEST(LlamaModel, EmbeddingIsTheMeanFinalNormOutput) {
  auto lm = Open();
  ASSERT_TRUE(lm);
  auto act = OpenActivationModel({.gguf_path = testing::TinyModelPath(), .threads = 1, .n_ctx = 128});
  ASSERT_TRUE(act) << act.error().ToString();
  auto gain = ReadGgufMatrix(testing::TinyModelPath(), "output_norm.weight");
  ASSERT_TRUE(gain) << gain.error().ToString();
  const int64_t n_embd = lm->info().n_embd, last = lm->info().n_layers - 1;
  // The final norm of the residual after the last block, at a prompt's last token.
  auto normed_last = [&](const std::string& prompt) {
    auto a = (*act)->CaptureActivations({.prompts = {prompt}, .position = TokenPosition::kLast});
    EXPECT_TRUE(a) << a.error().ToString();
    std::vector<double> x(a->at(0, last), a->at(0, last) + n_embd);
    double ms = 0;
    for (double v : x) ms += v * v / static_cast<double>(n_embd);
    for (int64_t k = 0; k < n_embd; ++k) x[k] = x[k] / std::sqrt(ms + 1e-5) * gain->data[k];
    return x;
  };
  // "Paris France": BOS, then tokens whose prefixes tokenize the same way alone.
  const std::string text = "Paris France";
  auto ids = lm->Tokenize(text, AddBos::kNo);
  ASSERT_TRUE(ids);
  ASSERT_GE(ids->size(), 2u);
  std::vector<double> mean(n_embd, 0.0);
  for (size_t t = 1; t <= ids->size(); ++t) {
    auto prefix = lm->Detokenize(std::span(ids->data(), t));
    ASSERT_TRUE(prefix);
    auto again = lm->Tokenize(*prefix, AddBos::kNo);
    ASSERT_TRUE(again && *again == std::vector<int32_t>(ids->begin(), ids->begin() + t)) << *prefix;
    std::vector<double> h = normed_last(*prefix);
    for (int64_t k = 0; k < n_embd; ++k) mean[k] += h[k] / static_cast<double>(ids->size());
  }
  auto e = lm->Embed(text);
  ASSERT_TRUE(e) << e.error().ToString();
  EXPECT_EQ(e->tokens, static_cast<int64_t>(ids->size()));
  ASSERT_EQ(static_cast<int64_t>(e->vector.size()), n_embd);
  for (int64_t k = 0; k < n_embd; ++k) EXPECT_NEAR(e->vector[k], mean[k], 2e-3 * (1 + std::abs(mean[k]))) << k;
  // Deterministic, and generation is unaffected afterwards.
  auto again = lm->Embed(text);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->vector, e->vector);
  auto before = Open()->Complete("Hello", {.max_tokens = 4});
  auto after = lm->Complete("Hello", {.max_tokens = 4});
  ASSERT_TRUE(before && after);
  EXPECT_EQ(after->text, before->text);
  EXPECT_FALSE(lm->Embed(""));
}

TEST(LlamaModel, PromptLongerThanContextIsOutOfRange) {
  auto lm = Open(testing::TinyModelPath(), 64);
  ASSERT_TRUE(lm);
  std::string long_prompt;
  for (int i = 0; i < 60; ++i) long_prompt += "zq ";
  for (auto r : {lm->Complete(long_prompt, {}).error(), lm->NextTokenLogprobs(long_prompt).error(),
                 lm->ScoreText(long_prompt).error()}) {
    EXPECT_EQ(r.code, ErrorCode::kOutOfRange);
    EXPECT_NE(r.message.find("context holds 64"), std::string::npos) << r.message;
  }
  // Generation that fills the context ends with "length", not an error.
  auto c = lm->Complete("The", {.max_tokens = 500});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->finish_reason, "length");
  EXPECT_EQ(c->prompt_tokens + c->completion_tokens, 64);
}

TEST(LlamaModel, BadFilesGiveClearErrors) {
  auto missing = OpenModel({.gguf_path = TempPath("nope.gguf").string()});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);

  ASSERT_TRUE(WriteFileAtomic(TempPath("random.gguf"), std::string(4096, '\x5a')));
  auto random = OpenModel({.gguf_path = TempPath("random.gguf").string()});
  ASSERT_FALSE(random);
  EXPECT_EQ(random.error().code, ErrorCode::kParse);
  EXPECT_NE(random.error().message.find("not a GGUF file"), std::string::npos) << random.error().message;

  auto whole = ReadFile(testing::TinyModelPath());
  ASSERT_TRUE(whole);
  for (size_t keep : {size_t{6}, size_t{2000}, whole->size() / 2, whole->size() - 100}) {
    ASSERT_TRUE(WriteFileAtomic(TempPath("truncated.gguf"), whole->substr(0, keep)));
    auto truncated = OpenModel({.gguf_path = TempPath("truncated.gguf").string()});
    ASSERT_FALSE(truncated) << "kept " << keep;
    EXPECT_EQ(truncated.error().code, ErrorCode::kParse) << truncated.error().ToString();
    EXPECT_NE(truncated.error().message.find("cannot load"), std::string::npos) << truncated.error().message;
  }

  // Unknown architecture: the same file with general.architecture renamed.
  std::string renamed = *whole;
  size_t at = renamed.find("llama");  // the first "llama" is the architecture's value
  ASSERT_NE(at, std::string::npos);
  renamed.replace(at, 5, "zzzzz");
  ASSERT_TRUE(WriteFileAtomic(TempPath("unknown-arch.gguf"), renamed));
  auto unknown = OpenModel({.gguf_path = TempPath("unknown-arch.gguf").string()});
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("zzzzz"), std::string::npos) << unknown.error().message;

  auto dir = OpenModel({.gguf_path = TempPath("").string()});
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().code, ErrorCode::kInvalidArgument);
}

TEST(LlamaModel, RejectsBadSamplingParams) {
  auto lm = Open();
  ASSERT_TRUE(lm);
  EXPECT_FALSE(lm->Complete("x", {.temperature = -1}));
  EXPECT_FALSE(lm->Complete("x", {.top_p = 0}));
  EXPECT_FALSE(lm->Complete("x", {.top_k = -2}));
  EXPECT_FALSE(lm->Complete("x", {.max_tokens = -1}));
  auto zero = lm->Complete("x", {.max_tokens = 0});
  ASSERT_TRUE(zero);
  EXPECT_EQ(zero->text, "");
}

}  // namespace
}  // namespace lmlab::runtime
