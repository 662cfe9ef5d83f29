// Test helper: runs the REAL llama-server (built from the same llama.cpp
// source: scripts/dev-build.sh llama-server -> build/bin/llama-server) on
// 127.0.0.1 with a free port, waits until /health answers, and stops it when
// the object goes away (the whole process group; the server also dies with
// the test process, so nothing is left behind).
//
//   auto server = lmlab::testing::LlamaServer::Start({.model_path = TinyModelPath()});
//   ASSERT_TRUE(server) << server.error().ToString();
//   runtime::ModelSpec spec{.endpoint = (*server)->url(), .api_model = "tiny"};
//
// Start from the test's main thread: the server is tied to the thread that
// started it (PR_SET_PDEATHSIG).
#pragma once

#include <sys/types.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/runtime/gguf_writer.h"
#include "lmlab/runtime/tiny_model.h"
#include "tests/support/tiny_model.h"

namespace lmlab::testing {

struct LlamaServerOptions {
  std::string model_path;            // a GGUF file
  int context = 256;                 // -c
  int threads = 1;                   // -t
  int parallel = 1;                  // -np: slots
  std::vector<std::string> extra_args;  // e.g. {"--api-key", "secret"}
  double startup_timeout_seconds = 60;
};

class LlamaServer {
 public:
  // kNotFound when build/bin/llama-server is missing (build it with
  // scripts/dev-build.sh llama-server); kUnavailable when it does not come up
  // (the message carries the end of its log).
  static Result<std::unique_ptr<LlamaServer>> Start(const LlamaServerOptions& options);
  ~LlamaServer();
  LlamaServer(const LlamaServer&) = delete;
  LlamaServer& operator=(const LlamaServer&) = delete;

  int port() const { return port_; }
  std::string url() const;  // "http://127.0.0.1:<port>"
  pid_t pid() const { return pid_; }

  // SIGKILL now, as a crash would (for tests of a server dying mid-session).
  void Kill();
  // SIGTERM, then SIGKILL after a grace period; waits for the exit.
  void Stop();
  bool running() const { return pid_ > 0; }
  // The server's stdout+stderr so far (for failure messages).
  std::string Log() const;

 private:
  LlamaServer() = default;
  void Reap(int signal, double grace_seconds);
  pid_t pid_ = -1;
  int port_ = 0;
  std::string dir_;  // temporary directory holding the log
};

// build/bin/llama-server of this build tree.
std::string LlamaServerBinary();

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreeLoopbackPort();

// The tiny model's architecture and vocabulary, with weights arranged so it
// writes only printable text: byte tokens (which a random model strings into
// invalid UTF-8), <unk>, <s> and </s> are pushed far below every other logit.
// llama-server parses generated text and answers HTTP 500 ("does not match the
// expected ... format") on invalid UTF-8, so tests that drive llama-server
// use this model. It never ends on its own: generation runs to max_tokens or
// a stop string. Its training context is 8192 tokens (llama-server caps a
// slot's context there), room for FreshPrompt's demonstrations.
//
// How: residual dimension 0 carries a large constant in every token embedding
// that no block writes to (row 0 of attn_output and ffn_down is zero) and the
// block norms ignore (gain 0); the output projection reads it with a large
// negative weight for the suppressed tokens only.
//
// Inline (like TinyModelPath) so only binaries that use it need lmlab_runtime.
inline std::string TextOnlyTinyModelPath() {
  return FixtureFile("tiny-text-only-v2.gguf", [](const std::string& path) -> Status {
    using namespace runtime;
    LlamaVocab vocab = TinyVocab(256);
    LlamaHparams hp{.name = "lmlab-tiny-text", .n_vocab = static_cast<int64_t>(vocab.tokens.size()),
                    .n_ctx_train = 8192, .n_embd = 64, .n_layer = 2, .n_head = 4, .n_head_kv = 2, .n_ff = 128};
    const int64_t n_embd = hp.n_embd;
    const float kConstant = 40.0f;  // residual dimension 0
    // RMS of the residual is about sqrt((C^2 + n_embd - 1) / n_embd); norm
    // gains of that size give the other dimensions back unit scale.
    const float gain = std::sqrt((kConstant * kConstant + static_cast<float>(n_embd - 1)) / static_cast<float>(n_embd));
    std::mt19937_64 rng(7);
    std::vector<TensorShape> layout = LlamaTensorLayout(hp);
    std::vector<std::vector<float>> storage(layout.size());
    std::vector<GgufTensor> tensors;
    for (size_t t = 0; t < layout.size(); ++t) {
      const TensorShape& s = layout[t];
      int64_t count = 1;
      for (int64_t d : s.shape) count *= d;
      std::vector<float>& w = storage[t];
      w.resize(static_cast<size_t>(count));
      const std::string& name = s.name;
      if (s.shape.size() == 1) {  // norm gains
        for (float& g : w) g = gain;
        if (name == "output_norm.weight") w[0] = 1.0f;  // the constant reaches the output as ~sqrt(n_embd)
        else w[0] = 0.0f;                               // blocks never see it
      } else {
        float stddev = name == "token_embd.weight" ? 1.0f : 1.0f / std::sqrt(static_cast<float>(s.shape[0]));
        std::uniform_real_distribution<float> u(-std::sqrt(3.0f) * stddev, std::sqrt(3.0f) * stddev);
        for (float& x : w) x = u(rng);
        const int64_t in = s.shape[0], out = s.shape[1];  // element (i, o) is w[o * in + i]
        if (name == "token_embd.weight") {
          for (int64_t tok = 0; tok < out; ++tok) w[static_cast<size_t>(tok * in)] = kConstant;
        } else if (name.ends_with("attn_output.weight") || name.ends_with("ffn_down.weight")) {
          for (int64_t i = 0; i < in; ++i) w[static_cast<size_t>(i)] = 0.0f;  // output row 0
        } else if (name == "output.weight") {
          for (int64_t tok = 0; tok < out; ++tok) {
            bool suppressed = vocab.types[static_cast<size_t>(tok)] != TokenType::kNormal;
            w[static_cast<size_t>(tok * in)] = suppressed ? -4.0f : 0.0f;
          }
        }
      }
      tensors.push_back({s.name, s.shape, w});
    }
    return WriteLlamaGguf(path, hp, vocab, tensors);
  });
}

}  // namespace lmlab::testing
