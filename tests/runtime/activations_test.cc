// Activation capture on tiny random models, checked against llama.cpp's own
// llama-eval-callback tool (built from the same source: build/bin/).
#include "lmlab/runtime/activations.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <regex>
#include <sstream>

#include "lmlab/runtime/gguf_reader.h"
#include "lmlab/runtime/gguf_writer.h"
#include "lmlab/runtime/tiny_model.h"
#include "tests/support/run_command.h"
#include "tests/support/tiny_model.h"

namespace lmlab::runtime {
namespace {

std::unique_ptr<ActivationModel> Open(const std::string& path, int n_ctx = 0) {
  auto m = OpenActivationModel({.gguf_path = path, .threads = 1, .n_ctx = n_ctx});
  EXPECT_TRUE(m) << m.error().ToString();
  return m ? std::move(*m) : nullptr;
}

// A 4-layer tiny model, so that comparisons span several blocks.
std::string FourLayerModel() {
  return testing::FixtureFile("tiny-4layer-v1.gguf", [](const std::string& p) {
    return WriteTinyModel(p, {.n_layer = 4, .seed = 7});
  });
}

TEST(Activations, ShapeAndLayout) {
  auto m = Open(testing::TinyModelPath());
  ASSERT_TRUE(m);
  std::vector<Progress> progress;
  ActivationRequest req{.prompts = {"The capital of France is", "Hello", "Water is made of hydrogen and oxygen"},
                        .progress = [&](const Progress& p) { progress.push_back(p); }};
  auto a = m->CaptureActivations(req);
  ASSERT_TRUE(a) << a.error().ToString();
  EXPECT_EQ(a->n_prompts, 3);
  EXPECT_EQ(a->n_layers, 2);
  EXPECT_EQ(a->n_embd, 64);
  EXPECT_EQ(a->data.size(), 3u * 2 * 64);
  ASSERT_EQ(a->n_tokens.size(), 3u);
  auto lm = OpenModel({.gguf_path = testing::TinyModelPath(), .threads = 1});
  ASSERT_TRUE(lm);
  for (size_t p = 0; p < 3; ++p)
    EXPECT_EQ(a->n_tokens[p], static_cast<int32_t>((*lm)->Tokenize(req.prompts[p], AddBos::kYes)->size()));
  for (float x : a->data) ASSERT_TRUE(std::isfinite(x));
  // Different prompts and layers give different vectors.
  EXPECT_NE(a->at(0, 1)[0], a->at(1, 1)[0]);
  EXPECT_NE(a->at(0, 0)[0], a->at(0, 1)[0]);
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back().done, 3);
  EXPECT_EQ(progress.back().total, 3);
}

TEST(Activations, BatchedEqualsOneByOne) {
  auto m = Open(testing::TinyModelPath());
  ASSERT_TRUE(m);
  std::vector<std::string> prompts{"The capital of France is", "The cat sat on the mat.", "Hello",
                                   "What is the name of the president?", "One, two, three"};
  for (TokenPosition pos : {TokenPosition::kLast, TokenPosition::kMean}) {
    auto batched = m->CaptureActivations({.prompts = prompts, .position = pos, .batch_tokens = 512});
    ASSERT_TRUE(batched) << batched.error().ToString();
    // Small batches force several decodes, including one prompt per batch.
    auto small = m->CaptureActivations({.prompts = prompts, .position = pos, .batch_tokens = 12});
    ASSERT_TRUE(small);
    for (size_t p = 0; p < prompts.size(); ++p) {
      auto one = m->CaptureActivations({.prompts = {prompts[p]}, .position = pos});
      ASSERT_TRUE(one);
      for (int64_t l = 0; l < 2; ++l)
        for (int64_t e = 0; e < 64; ++e) {
          EXPECT_NEAR(batched->at(p, l)[e], one->at(0, l)[e], 1e-4) << "prompt " << p << " layer " << l << " e " << e;
          EXPECT_NEAR(small->at(p, l)[e], one->at(0, l)[e], 1e-4);
        }
    }
  }
}

TEST(Activations, MoreThanSixtyFourPromptsSpanSeveralBatches) {
  // At most 64 sequences share a batch; prompts 63, 64 and 65 sit on both sides.
  // With 64 prompts in one batch the KV cache is large enough that flash
  // attention's f16 accumulation (on in llama.cpp's CPU default) moves values
  // by ~1e-3 against a prompt decoded alone; hence the looser tolerance here.
  auto m = Open(testing::TinyModelPath());
  ASSERT_TRUE(m);
  std::vector<std::string> prompts;
  for (int i = 0; i < 70; ++i) prompts.push_back("Number " + std::to_string(i * 37));
  auto all = m->CaptureActivations({.prompts = prompts, .batch_tokens = 4096});
  ASSERT_TRUE(all) << all.error().ToString();
  ASSERT_EQ(all->n_prompts, 70);
  for (int p : {0, 63, 64, 65, 69}) {
    auto one = m->CaptureActivations({.prompts = {prompts[p]}});
    ASSERT_TRUE(one);
    for (int64_t l = 0; l < 2; ++l)
      for (int64_t e = 0; e < 64; ++e) EXPECT_NEAR(all->at(p, l)[e], one->at(0, l)[e], 5e-3) << "prompt " << p << " layer " << l;
  }
}

TEST(Activations, MeanIsTheMeanOfLastPositionsOfPrefixesExcludingBos) {
  // The residual stream at token i depends only on tokens <= i (causal), so
  // the mean over a prompt equals the mean of the last-token vectors of its
  // prefixes.
  auto m = Open(testing::TinyModelPath());
  ASSERT_TRUE(m);
  auto lm = OpenModel({.gguf_path = testing::TinyModelPath(), .threads = 1});
  ASSERT_TRUE(lm);
  auto ids = (*lm)->Tokenize("The cat sat", AddBos::kNo);
  ASSERT_TRUE(ids);
  ASSERT_GE(ids->size(), 2u);
  std::vector<std::string> prefixes;
  for (size_t i = 1; i <= ids->size(); ++i) {
    auto text = (*lm)->Detokenize(std::span(ids->data(), i));
    ASSERT_TRUE(text);
    prefixes.push_back(*text);
  }
  auto mean = m->CaptureActivations({.prompts = {"The cat sat"}, .position = TokenPosition::kMean});
  auto lasts = m->CaptureActivations({.prompts = prefixes, .position = TokenPosition::kLast});
  ASSERT_TRUE(mean && lasts);
  for (int64_t l = 0; l < 2; ++l)
    for (int64_t e = 0; e < 64; ++e) {
      double sum = 0;
      for (size_t i = 0; i < prefixes.size(); ++i) sum += lasts->at(i, l)[e];
      EXPECT_NEAR(mean->at(0, l)[e], sum / prefixes.size(), 1e-4);
    }
}

struct DumpedTensor {
  std::vector<float> first3, last3;  // of the last row printed (the last token)
};

// Parses llama-eval-callback's dump: "common_debug_cb_eval: l_out-N = ..."
// followed by rows "[ v0, v1, v2, ..., v61, v62, v63 ]".
std::map<int, DumpedTensor> ParseLOut(const std::string& dump) {
  std::map<int, DumpedTensor> out;
  std::istringstream in(dump);
  std::string line;
  int current = -1;
  std::regex header(R"(common_debug_cb_eval:\s+l_out-(\d+) = )"), other(R"(common_debug_cb_eval:)");
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_search(line, m, header)) {
      current = std::stoi(m[1]);
      continue;
    }
    if (std::regex_search(line, other) || line.find("sum =") != std::string::npos) {
      current = -1;
      continue;
    }
    if (current < 0) continue;
    size_t open = line.rfind('['), close = line.find(']');
    if (open == std::string::npos || close == std::string::npos || close < open) continue;
    std::string row = line.substr(open + 1, close - open - 1);
    size_t dots = row.find("...");
    if (dots == std::string::npos) continue;
    auto numbers = [](const std::string& s) {
      std::vector<float> v;
      std::istringstream ss(s);
      std::string tok;
      while (std::getline(ss, tok, ','))
        if (tok.find_first_not_of(" ") != std::string::npos) v.push_back(std::stof(tok));
      return v;
    };
    out[current] = {numbers(row.substr(0, dots)), numbers(row.substr(dots + 3))};
  }
  return out;
}

TEST(Activations, MatchLlamaEvalCallback) {
  const std::string tool = std::string(LMLAB_BINARY_DIR) + "/bin/llama-eval-callback";
  ASSERT_TRUE(std::filesystem::exists(tool)) << "build it first: scripts/dev-build.sh llama-eval-callback";
  const std::string model = FourLayerModel();
  const std::string prompt = "The capital of France is";
  auto r = testing::RunCommand(tool + " -m " + model + " -p '" + prompt + "' -n 1 -t 1 -c 64", 120);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<int, DumpedTensor> ref = ParseLOut(r.out + r.err);
  // llama-eval-callback logs through an asynchronous logger that it does not
  // flush before exiting, so the end of its dump (the last block) is
  // sometimes lost. Compare every block it printed, at least all but the last.
  ASSERT_GE(ref.size(), 3u) << r.out.substr(0, 2000);

  auto m = Open(model);
  ASSERT_TRUE(m);
  auto a = m->CaptureActivations({.prompts = {prompt}});
  ASSERT_TRUE(a) << a.error().ToString();
  ASSERT_EQ(a->n_layers, 4);
  for (const auto& [layer, t] : ref) {
    ASSERT_LT(layer, 4);
    ASSERT_EQ(t.first3.size(), 3u);
    ASSERT_EQ(t.last3.size(), 3u);
    const float* v = a->at(0, layer);
    for (int k = 0; k < 3; ++k) {
      // The dump prints 4 decimals.
      EXPECT_NEAR(v[k], t.first3[k], 1e-3) << "layer " << layer << " component " << k;
      EXPECT_NEAR(v[61 + k], t.last3[k], 1e-3) << "layer " << layer << " component " << 61 + k;
    }
  }
}

TEST(Activations, Errors) {
  auto m = Open(testing::TinyModelPath(), 32);
  ASSERT_TRUE(m);
  std::string long_prompt;
  for (int i = 0; i < 40; ++i) long_prompt += "zq ";
  auto over = m->CaptureActivations({.prompts = {"short", long_prompt}});
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, ErrorCode::kOutOfRange);
  EXPECT_NE(over.error().message.find("prompt 1"), std::string::npos) << over.error().message;

  auto empty = m->CaptureActivations({.prompts = {""}, .add_bos = AddBos::kNo});
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, ErrorCode::kInvalidArgument);

  auto none = m->CaptureActivations({});
  ASSERT_TRUE(none);
  EXPECT_EQ(none->n_prompts, 0);
  EXPECT_TRUE(none->data.empty());

  auto missing = OpenActivationModel({.gguf_path = "/nonexistent/model.gguf"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  auto endpoint = OpenActivationModel({.endpoint = "http://127.0.0.1:1"});
  ASSERT_FALSE(endpoint);
  EXPECT_EQ(endpoint.error().code, ErrorCode::kInvalidArgument);
}

// ---- MLP hidden activations ----------------------------------------------------

// A weight matrix [ne1, ne0] as doubles.
struct Weights {
  int64_t rows = 0, cols = 0;
  std::vector<double> w;
  double at(int64_t r, int64_t c) const { return w[static_cast<size_t>(r * cols + c)]; }
};

Weights Read(const std::string& model, const std::string& name) {
  auto m = ReadGgufMatrix(model, name);
  EXPECT_TRUE(m) << m.error().ToString();
  if (!m) return {};
  return {m->rows, m->cols, std::vector<double>(m->data.begin(), m->data.end())};
}

std::vector<double> MatVec(const Weights& m, const std::vector<double>& x) {
  std::vector<double> y(static_cast<size_t>(m.rows), 0.0);
  for (int64_t r = 0; r < m.rows; ++r)
    for (int64_t c = 0; c < m.cols; ++c) y[static_cast<size_t>(r)] += m.at(r, c) * x[static_cast<size_t>(c)];
  return y;
}

// llama's RMSNorm with gain g (eps as lmlab's GGUF writer sets it).
std::vector<double> RmsNorm(const std::vector<double>& x, const Weights& g) {
  double ss = 0;
  for (double v : x) ss += v * v;
  const double s = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + LlamaHparams{}.rms_norm_eps);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * s * g.at(0, static_cast<int64_t>(i));
  return y;
}

// Block l's MLP hidden activation silu(W_gate n) * (W_up n), n = RMSNorm(ffn_inp).
std::vector<double> SwiGlu(const std::string& model, int64_t l, const std::vector<double>& ffn_inp) {
  auto blk = [&](const char* what) { return "blk." + std::to_string(l) + "." + what + ".weight"; };
  std::vector<double> n = RmsNorm(ffn_inp, Read(model, blk("ffn_norm")));
  std::vector<double> g = MatVec(Read(model, blk("ffn_gate")), n), u = MatVec(Read(model, blk("ffn_up")), n);
  for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
  return g;
}

std::vector<double> ToDouble(const float* v, int64_t n) {
  return std::vector<double>(v, v + n);
}

TEST(Activations, MlpShapeOnlyForRequestedLayers) {
  auto m = Open(FourLayerModel());
  ASSERT_TRUE(m);
  std::vector<std::string> prompts{"The capital of France is", "Hello", "Water is made of hydrogen and oxygen"};
  auto both = m->CaptureActivations(
      {.prompts = prompts, .streams = ActivationStreams::kResidualAndMlp, .mlp_layers = {3, 1, 3}});
  ASSERT_TRUE(both) << both.error().ToString();
  EXPECT_EQ(both->n_ff, 128);
  ASSERT_EQ(both->mlp.size(), 4u);
  EXPECT_FALSE(both->has_mlp(0));
  EXPECT_FALSE(both->has_mlp(2));
  ASSERT_TRUE(both->has_mlp(1) && both->has_mlp(3));
  EXPECT_EQ(both->mlp[1].size(), 3u * 128);
  EXPECT_EQ(both->mlp[3].size(), 3u * 128);
  EXPECT_EQ(both->data.size(), 3u * 4 * 64);
  for (int64_t l : {1, 3})
    for (float x : both->mlp[static_cast<size_t>(l)]) ASSERT_TRUE(std::isfinite(x));
  EXPECT_NE(both->mlp_at(0, 1)[0], both->mlp_at(1, 1)[0]);
  EXPECT_NE(both->mlp_at(0, 1)[0], both->mlp_at(0, 3)[0]);

  // The residual stream is what a residual-only capture gives, and kMlp gives the same MLP values alone.
  auto residual = m->CaptureActivations({.prompts = prompts});
  auto mlp_only = m->CaptureActivations({.prompts = prompts, .streams = ActivationStreams::kMlp, .mlp_layers = {1, 3}});
  ASSERT_TRUE(residual && mlp_only);
  EXPECT_EQ(residual->n_ff, 0);
  for (const auto& l : residual->mlp) EXPECT_TRUE(l.empty());
  for (size_t i = 0; i < both->data.size(); ++i) ASSERT_NEAR(both->data[i], residual->data[i], 1e-5) << i;
  EXPECT_TRUE(mlp_only->data.empty());
  EXPECT_EQ(mlp_only->n_ff, 128);
  for (int64_t l : {1, 3})
    for (size_t i = 0; i < 3 * 128; ++i)
      ASSERT_NEAR(mlp_only->mlp[static_cast<size_t>(l)][i], both->mlp[static_cast<size_t>(l)][i], 1e-5)
          << l << " " << i;
}

TEST(Activations, MlpOfOneTokenMatchesAForwardPassFromTheWeights) {
  // With a single token, attention returns the value vector, so the whole
  // block can be recomputed from the GGUF weights: x -> x + W_o W_v norm(x) =
  // ffn_inp -> ffn_inp + W_down swiglu(norm(ffn_inp)). Independent of llama.cpp.
  const std::string model = FourLayerModel();
  auto m = Open(model);
  ASSERT_TRUE(m);
  auto lm = OpenModel({.gguf_path = model, .threads = 1});
  ASSERT_TRUE(lm);
  std::vector<std::string> prompts;
  std::vector<int32_t> ids;
  for (std::string p : {"a", "e", "t", "Z", "."}) {
    auto t = (*lm)->Tokenize(p, AddBos::kNo);
    ASSERT_TRUE(t);
    if (t->size() != 1) continue;
    prompts.push_back(p);
    ids.push_back((*t)[0]);
  }
  ASSERT_GE(prompts.size(), 2u);
  auto a = m->CaptureActivations({.prompts = prompts,
                                  .add_bos = AddBos::kNo,
                                  .streams = ActivationStreams::kResidualAndMlp,
                                  .mlp_layers = {0, 1, 2, 3}});
  ASSERT_TRUE(a) << a.error().ToString();
  const Weights embd = Read(model, "token_embd.weight");
  const int64_t head_dim = 64 / 4, group = 4 / 2;  // 4 heads, 2 KV heads
  for (size_t p = 0; p < prompts.size(); ++p) {
    std::vector<double> x(embd.w.begin() + ids[p] * 64, embd.w.begin() + (ids[p] + 1) * 64);
    for (int64_t l = 0; l < 4; ++l) {
      auto blk = [&](const char* what) { return "blk." + std::to_string(l) + "." + what + ".weight"; };
      std::vector<double> v = MatVec(Read(model, blk("attn_v")), RmsNorm(x, Read(model, blk("attn_norm"))));
      std::vector<double> heads(64);
      for (int64_t h = 0; h < 4; ++h)
        for (int64_t d = 0; d < head_dim; ++d) heads[h * head_dim + d] = v[(h / group) * head_dim + d];
      std::vector<double> attn = MatVec(Read(model, blk("attn_output")), heads);
      for (int64_t e = 0; e < 64; ++e) x[e] += attn[e];
      std::vector<double> mlp = SwiGlu(model, l, x);
      std::vector<double> down = MatVec(Read(model, blk("ffn_down")), mlp);
      for (int64_t e = 0; e < 64; ++e) x[e] += down[e];
      // The KV cache holds V as f16: agreement to ~1e-3.
      for (int64_t j = 0; j < 128; ++j)
        ASSERT_NEAR(a->mlp_at(static_cast<int64_t>(p), l)[j], mlp[j], 5e-3 * (1 + std::abs(mlp[j])))
            << "prompt " << p << " block " << l << " neuron " << j;
      for (int64_t e = 0; e < 64; ++e)
        ASSERT_NEAR(a->at(static_cast<int64_t>(p), l)[e], x[e], 5e-3 * (1 + std::abs(x[e])))
            << "prompt " << p << " block " << l << " component " << e;
    }
  }
}

TEST(Activations, MlpIsTheSwigluOfTheBlockInput) {
  // For any prompt: block l's output r = ffn_inp + W_down m, so
  // ffn_inp = r - W_down m, and m must equal swiglu(norm(ffn_inp)) computed
  // from the weights. Checks every block (the last keeps only output rows)
  // for prompts packed into one batch and split over several.
  const std::string model = FourLayerModel();
  auto m = Open(model);
  ASSERT_TRUE(m);
  std::vector<std::string> prompts{"The capital of France is", "The cat sat on the mat.", "Hello",
                                   "What is the name of the president?", "One, two, three"};
  for (int batch_tokens : {512, 12}) {
    auto a = m->CaptureActivations({.prompts = prompts,
                                    .batch_tokens = batch_tokens,
                                    .streams = ActivationStreams::kResidualAndMlp,
                                    .mlp_layers = {0, 1, 2, 3}});
    ASSERT_TRUE(a) << a.error().ToString();
    for (int64_t l = 0; l < 4; ++l) {
      const Weights down = Read(model, "blk." + std::to_string(l) + ".ffn_down.weight");
      ASSERT_EQ(down.rows, 64);
      ASSERT_EQ(down.cols, 128);
      for (size_t p = 0; p < prompts.size(); ++p) {
        std::vector<double> mlp = ToDouble(a->mlp_at(static_cast<int64_t>(p), l), 128);
        std::vector<double> ffn_inp = ToDouble(a->at(static_cast<int64_t>(p), l), 64), d = MatVec(down, mlp);
        for (int64_t e = 0; e < 64; ++e) ffn_inp[e] -= d[e];
        std::vector<double> again = SwiGlu(model, l, ffn_inp);
        for (int64_t j = 0; j < 128; ++j)
          ASSERT_NEAR(mlp[j], again[j], 1e-4 * (1 + std::abs(mlp[j])))
              << "batch " << batch_tokens << " prompt " << p << " block " << l << " neuron " << j;
      }
    }
  }
}

TEST(Activations, MlpBatchedEqualsOneByOneAndMeanPools) {
  auto m = Open(testing::TinyModelPath());
  ASSERT_TRUE(m);
  std::vector<std::string> prompts{"The capital of France is", "Hello", "One, two, three"};
  for (TokenPosition pos : {TokenPosition::kLast, TokenPosition::kMean}) {
    ActivationRequest req{
        .prompts = prompts, .position = pos, .streams = ActivationStreams::kMlp, .mlp_layers = {0, 1}};
    auto batched = m->CaptureActivations(req);
    ASSERT_TRUE(batched) << batched.error().ToString();
    for (size_t p = 0; p < prompts.size(); ++p) {
      req.prompts = {prompts[p]};
      auto one = m->CaptureActivations(req);
      ASSERT_TRUE(one);
      for (int64_t l = 0; l < 2; ++l)
        for (int64_t j = 0; j < 128; ++j)
          EXPECT_NEAR(batched->mlp_at(static_cast<int64_t>(p), l)[j], one->mlp_at(0, l)[j], 1e-4) << p << " " << l;
    }
  }
  // The mean over a prompt's tokens (BOS excluded) is the mean of the last
  // tokens of its prefixes (the model is causal).
  auto lm = OpenModel({.gguf_path = testing::TinyModelPath(), .threads = 1});
  ASSERT_TRUE(lm);
  auto ids = (*lm)->Tokenize("The cat sat", AddBos::kNo);
  ASSERT_TRUE(ids);
  std::vector<std::string> prefixes;
  for (size_t i = 1; i <= ids->size(); ++i) prefixes.push_back(*(*lm)->Detokenize(std::span(ids->data(), i)));
  auto mean = m->CaptureActivations({.prompts = {"The cat sat"},
                                     .position = TokenPosition::kMean,
                                     .streams = ActivationStreams::kMlp,
                                     .mlp_layers = {0, 1}});
  auto lasts = m->CaptureActivations({.prompts = prefixes, .streams = ActivationStreams::kMlp, .mlp_layers = {0, 1}});
  ASSERT_TRUE(mean && lasts);
  for (int64_t l = 0; l < 2; ++l)
    for (int64_t j = 0; j < 128; ++j) {
      double sum = 0;
      for (size_t i = 0; i < prefixes.size(); ++i) sum += lasts->mlp_at(static_cast<int64_t>(i), l)[j];
      EXPECT_NEAR(mean->mlp_at(0, l)[j], sum / static_cast<double>(prefixes.size()), 1e-4);
    }
}

TEST(Activations, MlpLayerErrors) {
  auto m = Open(testing::TinyModelPath());
  ASSERT_TRUE(m);
  for (auto streams : {ActivationStreams::kMlp, ActivationStreams::kResidualAndMlp}) {
    for (std::vector<int64_t> layers : {std::vector<int64_t>{2}, std::vector<int64_t>{0, -1}, std::vector<int64_t>{}}) {
      // Checked before anything runs, with or without prompts.
      for (std::vector<std::string> prompts : {std::vector<std::string>{"Hello"}, std::vector<std::string>{}}) {
        auto r = m->CaptureActivations({.prompts = prompts, .streams = streams, .mlp_layers = layers});
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << r.error().ToString();
        EXPECT_NE(r.error().message.find(layers.empty() ? "mlp_layers is empty" : "does not exist"), std::string::npos)
            << r.error().message;
      }
    }
  }
  auto bad = m->CaptureActivations({.prompts = {"Hello"}, .streams = ActivationStreams::kMlp, .mlp_layers = {5}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("block 5 does not exist (the model has 2 blocks, 0..1)"), std::string::npos)
      << bad.error().message;
  // kResidual ignores mlp_layers.
  auto ignored = m->CaptureActivations({.prompts = {"Hello"}, .mlp_layers = {7}});
  ASSERT_TRUE(ignored) << ignored.error().ToString();
  EXPECT_EQ(ignored->n_ff, 0);
}

}  // namespace
}  // namespace lmlab::runtime
