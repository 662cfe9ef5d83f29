// The local backend: a GGUF file run in-process by llama.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>

#include "ggml-cpu.h"
#include "lmlab/runtime/backends.h"
#include "runtime/chat_format.h"
#include "runtime/llama_common.h"
#include "lmlab/runtime/internal/stop_strings.h"

namespace lmlab::runtime {
namespace {

using internal::ContextPtr;
using internal::ModelPtr;
using internal::SamplerPtr;

struct ThreadpoolDeleter {
  void operator()(ggml_threadpool* t) const { ggml_threadpool_free(t); }
};
using ThreadpoolPtr = std::unique_ptr<ggml_threadpool, ThreadpoolDeleter>;

// log-softmax of `logits` ([n_vocab]), accumulated in double.
std::vector<float> LogSoftmax(const float* logits, int32_t n_vocab) {
  float max = *std::max_element(logits, logits + n_vocab);
  double sum = 0;
  for (int32_t i = 0; i < n_vocab; ++i) sum += std::exp(static_cast<double>(logits[i]) - max);
  const double log_z = max + std::log(sum);
  std::vector<float> out(static_cast<size_t>(n_vocab));
  for (int32_t i = 0; i < n_vocab; ++i) out[static_cast<size_t>(i)] = static_cast<float>(logits[i] - log_z);
  return out;
}

class LlamaModel final : public LanguageModel {
 public:
  // n_ctx: the context asked for; llama.cpp may round its cache up (to a
  // multiple of 256), but lmlab keeps to what the user asked.
  LlamaModel(ModelSpec spec, ModelPtr model, ContextPtr ctx, ThreadpoolPtr threadpool, int64_t n_ctx)
      : spec_(std::move(spec)),
        model_(std::move(model)),
        threadpool_(std::move(threadpool)),
        ctx_(std::move(ctx)),
        chat_(model_.get()) {
    vocab_ = llama_model_get_vocab(model_.get());
    n_vocab_ = llama_vocab_n_tokens(vocab_);
    info_ = internal::DescribeModel(model_.get(), spec_, std::min<int64_t>(n_ctx, llama_n_ctx(ctx_.get())));
    info_.chat_format = chat_.description();
  }

  const ModelInfo& info() const override { return info_; }

  Result<Completion> Complete(std::string_view prompt, const SamplingParams& params,
                              const TokenCallback& on_token) override {
    LMLAB_ASSIGN_OR_RETURN(auto tokens, internal::TokenizeText(vocab_, prompt, BosForVocab(), internal::ParseSpecial::kNo));
    return Generate(tokens, params, {}, on_token);
  }

  Result<Completion> Chat(std::span<const ChatMessage> messages, const SamplingParams& params,
                          const TokenCallback& on_token) override {
    LMLAB_ASSIGN_OR_RETURN(internal::ChatPrompt chat, chat_.Format(messages));
    // Templates spell out their own special tokens; parse them as such.
    LMLAB_ASSIGN_OR_RETURN(auto tokens,
                           internal::TokenizeText(vocab_, chat.text, BosForVocab(), internal::ParseSpecial::kYes));
    return Generate(tokens, params, chat.stops, on_token);
  }

  Result<std::vector<float>> NextTokenLogprobs(std::string_view prompt) override {
    LMLAB_ASSIGN_OR_RETURN(auto tokens, internal::TokenizeText(vocab_, prompt, BosForVocab(), internal::ParseSpecial::kNo));
    if (tokens.empty()) return InvalidArgument("the prompt is empty and the model has no BOS token to start from");
    LMLAB_RETURN_IF_ERROR(CheckFits(static_cast<int64_t>(tokens.size()), "the prompt"));
    LMLAB_RETURN_IF_ERROR(DecodePrompt(tokens, Outputs::kLast));
    return LogSoftmax(llama_get_logits_ith(ctx_.get(), -1), n_vocab_);
  }

  Result<std::vector<TokenLogprob>> ScoreText(std::string_view text) override {
    // BOS first (when there is one) so that the first token of `text` is scored too.
    LMLAB_ASSIGN_OR_RETURN(auto tokens, internal::TokenizeText(vocab_, text, AddBos::kYes, internal::ParseSpecial::kNo));
    // Without a BOS the first token has nothing to be predicted from.
    if (tokens.size() < 2) return std::vector<TokenLogprob>{};
    LMLAB_RETURN_IF_ERROR(CheckFits(static_cast<int64_t>(tokens.size()), "the text"));
    // Logits of every position, read batch by batch (each llama_decode
    // replaces the previous batch's logits): the logits at position i - 1
    // score token i.
    std::vector<TokenLogprob> out;
    Status s = DecodePrompt(tokens, Outputs::kAll, [&](int32_t start, int32_t count) -> Status {
      for (int32_t j = 0; j < count; ++j) {
        const size_t next = static_cast<size_t>(start + j + 1);
        if (next >= tokens.size()) break;
        const float* logits = llama_get_logits_ith(ctx_.get(), j);
        if (!logits) return Internal("llama.cpp returned no logits for position " + std::to_string(start + j));
        std::vector<float> lp = LogSoftmax(logits, n_vocab_);
        out.push_back({.token = internal::TokenPiece(vocab_, tokens[next]),
                       .id = tokens[next],
                       .logprob = lp[static_cast<size_t>(tokens[next])]});
      }
      return {};
    });
    if (!s) return std::unexpected(s.error());
    return out;
  }

  Status ForEachNextTokenDistribution(std::span<const int32_t> tokens, size_t first,
                                      const DistributionVisitor& visit) override {
    if (tokens.empty()) return InvalidArgument("no tokens to score");
    for (int32_t t : tokens)
      if (t < 0 || t >= n_vocab_) return InvalidArgument(fmt::format("token id {} is outside [0, {})", t, n_vocab_));
    LMLAB_RETURN_IF_ERROR(CheckFits(static_cast<int64_t>(tokens.size()), "the text"));
    // The logits at position p predict token p + 1.
    return DecodePrompt(tokens, Outputs::kAll, [&](int32_t start, int32_t count) -> Status {
      for (int32_t j = 0; j < count; ++j) {
        const size_t next = static_cast<size_t>(start + j + 1);
        if (next < std::max<size_t>(first, 1) || next >= tokens.size()) continue;
        const float* logits = llama_get_logits_ith(ctx_.get(), j);
        if (!logits) return Internal("llama.cpp returned no logits for position " + std::to_string(start + j));
        std::vector<float> lp = LogSoftmax(logits, n_vocab_);
        LMLAB_RETURN_IF_ERROR(visit(next, std::span<const float>(lp)));
      }
      return {};
    });
  }

  Result<std::string> FormatChat(std::span<const ChatMessage> messages) override {
    LMLAB_ASSIGN_OR_RETURN(internal::ChatPrompt chat, chat_.Format(messages));
    return std::move(chat.text);
  }

  Result<Embedding> Embed(std::string_view text) override {
    LMLAB_ASSIGN_OR_RETURN(auto tokens, internal::TokenizeText(vocab_, text, BosForVocab(), internal::ParseSpecial::kNo));
    const size_t first = !tokens.empty() && tokens.front() == llama_vocab_bos(vocab_) ? 1 : 0;  // BOS is not the text
    if (tokens.size() <= first) return InvalidArgument("the text to embed is empty");
    LMLAB_RETURN_IF_ERROR(CheckFits(static_cast<int64_t>(tokens.size()), "the text to embed"));
    // The context reports embeddings (the final norm's output, per token:
    // pooling is off) only while this is on; generation needs it off.
    llama_set_embeddings(ctx_.get(), true);
    struct Off {
      llama_context* ctx;
      ~Off() { llama_set_embeddings(ctx, false); }
    } off{ctx_.get()};
    const size_t n_embd = static_cast<size_t>(info_.n_embd);
    std::vector<double> sum(n_embd, 0.0);  // [n_embd]
    Status s = DecodePrompt(tokens, Outputs::kAll, [&](int32_t start, int32_t count) -> Status {
      for (int32_t j = 0; j < count; ++j) {
        if (static_cast<size_t>(start + j) < first) continue;
        const float* e = llama_get_embeddings_ith(ctx_.get(), j);
        if (!e) return Internal("llama.cpp returned no embedding for position " + std::to_string(start + j));
        for (size_t k = 0; k < n_embd; ++k) sum[k] += e[k];
      }
      return {};
    });
    if (!s) return std::unexpected(s.error());
    Embedding out;
    out.tokens = static_cast<int64_t>(tokens.size() - first);
    out.vector.resize(n_embd);
    for (size_t k = 0; k < n_embd; ++k) out.vector[k] = static_cast<float>(sum[k] / static_cast<double>(out.tokens));
    return out;
  }

  Result<std::vector<int32_t>> Tokenize(std::string_view text, AddBos add_bos) override {
    return internal::TokenizeText(vocab_, text, add_bos, internal::ParseSpecial::kNo);
  }

  Result<std::string> Detokenize(std::span<const int32_t> tokens) override {
    for (int32_t t : tokens)
      if (t < 0 || t >= n_vocab_) return InvalidArgument(fmt::format("token id {} is outside [0, {})", t, n_vocab_));
    std::string text(tokens.size() * 8 + 16, '\0');
    int32_t n = llama_detokenize(vocab_, tokens.data(), static_cast<int32_t>(tokens.size()), text.data(),
                                 static_cast<int32_t>(text.size()), /*remove_special=*/false, /*unparse_special=*/false);
    if (n < 0) {
      text.resize(static_cast<size_t>(-n));
      n = llama_detokenize(vocab_, tokens.data(), static_cast<int32_t>(tokens.size()), text.data(),
                           static_cast<int32_t>(text.size()), false, false);
      if (n < 0) return Internal("llama_detokenize failed");
    }
    text.resize(static_cast<size_t>(n));
    return text;
  }

 private:
  enum class Outputs { kLast, kAll };

  // Whether plain prompts get a BOS: what the GGUF asks for.
  AddBos BosForVocab() const { return llama_vocab_get_add_bos(vocab_) ? AddBos::kYes : AddBos::kNo; }

  Status CheckFits(int64_t n_tokens, std::string_view what) const {
    if (n_tokens > info_.n_ctx) return internal::ContextOverflow(n_tokens, info_.n_ctx, what);
    return {};
  }

  // Clears the KV cache and decodes `tokens` from position 0 in chunks of
  // n_batch, asking for logits at the last token or at every token. With
  // kAll, `on_batch(start, count)` runs after each chunk, while its logits
  // (rows 0..count-1) are readable.
  using BatchCallback = std::function<Status(int32_t start, int32_t count)>;
  Status DecodePrompt(std::span<const llama_token> tokens, Outputs outputs, const BatchCallback& on_batch = {}) {
    // Marks every cell free without zeroing the cache (a memset of all of
    // it, per request): attention masks free cells out, and the cache only
    // ever holds finite values (zeros, then computed K and V), as in
    // llama-bench and llama-server.
    llama_memory_clear(llama_get_memory(ctx_.get()), /*data=*/false);
    const int32_t n_batch = static_cast<int32_t>(llama_n_batch(ctx_.get()));
    const int32_t n = static_cast<int32_t>(tokens.size());
    llama_batch batch = llama_batch_init(std::min(n, n_batch), 0, 1);
    struct Free {
      llama_batch* b;
      ~Free() { llama_batch_free(*b); }
    } free_batch{&batch};
    for (int32_t start = 0; start < n; start += n_batch) {
      const int32_t count = std::min(n_batch, n - start);
      batch.n_tokens = count;
      for (int32_t i = 0; i < count; ++i) {
        batch.token[i] = tokens[static_cast<size_t>(start + i)];
        batch.pos[i] = start + i;
        batch.n_seq_id[i] = 1;
        batch.seq_id[i][0] = 0;
        batch.logits[i] = outputs == Outputs::kAll || start + i == n - 1;
      }
      if (int32_t rc = llama_decode(ctx_.get(), batch); rc != 0) return DecodeError(rc);
      if (on_batch) LMLAB_RETURN_IF_ERROR(on_batch(start, count));
    }
    return {};
  }

  std::unexpected<Error> DecodeError(int32_t rc) {
    std::string why = internal::TakeLlamaError();
    return Internal(fmt::format("llama_decode failed ({}){}{}", rc, why.empty() ? "" : ": ", why));
  }

  // The sampling chain for temperature > 0 (greedy decoding needs none).
  SamplerPtr MakeSampler(const SamplingParams& p) {
    SamplerPtr chain(llama_sampler_chain_init(llama_sampler_chain_default_params()));
    if (p.top_k > 0) llama_sampler_chain_add(chain.get(), llama_sampler_init_top_k(p.top_k));
    if (p.top_p > 0 && p.top_p < 1) llama_sampler_chain_add(chain.get(), llama_sampler_init_top_p(p.top_p, 1));
    llama_sampler_chain_add(chain.get(), llama_sampler_init_temp(p.temperature));
    // llama.cpp seeds with 32 bits; fold the high half in so every bit counts.
    uint32_t seed = static_cast<uint32_t>(p.seed ^ (p.seed >> 32));
    if (seed == LLAMA_DEFAULT_SEED) seed ^= 1;  // llama.cpp reads that value as "random seed"
    llama_sampler_chain_add(chain.get(), llama_sampler_init_dist(seed));
    return chain;
  }

  Result<Completion> Generate(std::span<const llama_token> prompt, const SamplingParams& params,
                              std::vector<std::string> extra_stops, const TokenCallback& on_token) {
    const auto start = std::chrono::steady_clock::now();
    if (params.max_tokens < 0) return InvalidArgument("max_tokens must not be negative");
    if (params.temperature < 0 || !std::isfinite(params.temperature))
      return InvalidArgument("temperature must be 0 (greedy) or positive");
    if (!(params.top_p > 0 && params.top_p <= 1)) return InvalidArgument("top_p must be in (0, 1]");
    if (params.top_k < 0) return InvalidArgument("top_k must not be negative (0 = off)");
    if (prompt.empty()) return InvalidArgument("the prompt is empty and the model has no BOS token to start from");
    const int64_t n_prompt = static_cast<int64_t>(prompt.size());
    // One slot must stay free for the first generated token.
    if (n_prompt >= info_.n_ctx) return internal::ContextOverflow(n_prompt, info_.n_ctx, "the prompt");

    Completion c;
    c.prompt_tokens = n_prompt;
    c.finish_reason = "length";
    LMLAB_RETURN_IF_ERROR(DecodePrompt(prompt, Outputs::kLast));

    SamplerPtr sampler = params.temperature > 0 ? MakeSampler(params) : nullptr;  // greedy: Argmax()
    std::vector<std::string> stops = params.stop;
    stops.insert(stops.end(), extra_stops.begin(), extra_stops.end());
    internal::StopStrings stop(std::move(stops));
    bool cancelled = false;
    auto emit = [&](const std::string& text) {
      if (!text.empty() && on_token && !cancelled && !on_token(text)) cancelled = true;
    };

    llama_pos pos = static_cast<llama_pos>(n_prompt);
    for (int i = 0; i < params.max_tokens; ++i) {
      if (pos >= info_.n_ctx) break;  // the context is full: "length"
      if (params.top_logprobs > 0) {
        // The model's own distribution, before temperature and truncation.
        std::vector<float> lp = LogSoftmax(llama_get_logits_ith(ctx_.get(), -1), n_vocab_);
        c.logprobs.push_back(TopLogprobs(lp, params.top_logprobs));
      }
      // Greedy reads the argmax straight off the logits (the first maximum,
      // as llama.cpp's greedy sampler picks) instead of copying the whole
      // vocabulary into a sampler chain every token.
      llama_token token = sampler ? llama_sampler_sample(sampler.get(), ctx_.get(), -1) : Argmax();
      if (params.top_logprobs > 0) {
        TokenLogprob& t = c.logprobs.back();
        t.id = token;
        t.token = internal::TokenPiece(vocab_, token);
        t.logprob = CachedLogprob(token);
      }
      if (llama_vocab_is_eog(vocab_, token)) {
        if (params.top_logprobs > 0) c.logprobs.pop_back();
        c.finish_reason = "stop";
        break;
      }
      ++c.completion_tokens;
      internal::StopStrings::Step step = stop.Add(internal::TokenPiece(vocab_, token));
      emit(step.emit);
      if (step.stopped) {
        c.finish_reason = "stop";
        break;
      }
      if (cancelled) {
        c.finish_reason = "stop";
        break;
      }
      if (i + 1 == params.max_tokens) break;  // no need to decode a token nobody samples after
      llama_batch one = llama_batch_get_one(&token, 1);
      if (int32_t rc = llama_decode(ctx_.get(), one); rc != 0) return DecodeError(rc);
      ++pos;
    }
    emit(stop.Flush());
    c.text = stop.text();
    c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return c;
  }

  llama_token Argmax() const {
    const float* logits = llama_get_logits_ith(ctx_.get(), -1);
    return static_cast<llama_token>(std::max_element(logits, logits + n_vocab_) - logits);
  }

  // The `k` most likely tokens of a log-distribution; remembers it so the
  // sampled token's logprob can be read after sampling.
  TokenLogprob TopLogprobs(std::vector<float> lp, int k) {
    TokenLogprob t;
    std::vector<int32_t> ids(static_cast<size_t>(n_vocab_));
    for (int32_t i = 0; i < n_vocab_; ++i) ids[static_cast<size_t>(i)] = i;
    const size_t kk = std::min<size_t>(static_cast<size_t>(k), ids.size());
    std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(kk), ids.end(),
                      [&](int32_t a, int32_t b) { return lp[static_cast<size_t>(a)] > lp[static_cast<size_t>(b)]; });
    for (size_t j = 0; j < kk; ++j)
      t.top.emplace_back(internal::TokenPiece(vocab_, ids[j]), lp[static_cast<size_t>(ids[j])]);
    last_logprobs_ = std::move(lp);
    return t;
  }
  float CachedLogprob(llama_token token) const { return last_logprobs_[static_cast<size_t>(token)]; }

  ModelSpec spec_;
  ModelPtr model_;
  ThreadpoolPtr threadpool_;  // outlives ctx_ (declared before it), which computes on it
  ContextPtr ctx_;
  internal::ChatFormatter chat_;  // the GGUF's chat template, parsed once
  const llama_vocab* vocab_ = nullptr;
  int32_t n_vocab_ = 0;
  ModelInfo info_;
  std::vector<float> last_logprobs_;  // [n_vocab]: the latest step's distribution
};

}  // namespace

Result<std::unique_ptr<LanguageModel>> OpenLlamaModel(const ModelSpec& spec) {
  if (spec.gguf_path.empty()) return InvalidArgument("no model file given (`gguf_path`)");
  if (spec.n_ctx < 0) return InvalidArgument("`n_ctx` must not be negative (0 = the model's training context)");
  if (spec.threads < 0) return InvalidArgument("`threads` must not be negative (0 = the idle cores)");
  LMLAB_ASSIGN_OR_RETURN(ModelPtr model, internal::LoadLlamaModel(spec));
  llama_context_params cparams = internal::ContextParams(spec, model.get());
  // One CPU threadpool for the context's life, as llama.cpp's tools attach:
  // without it ggml builds and frees a throwaway pool for every decode.
  ggml_threadpool_params tpp = ggml_threadpool_params_default(cparams.n_threads);
  ThreadpoolPtr threadpool(ggml_threadpool_new(&tpp));
  if (!threadpool) return Internal("cannot create a CPU threadpool");
  ContextPtr ctx(llama_init_from_model(model.get(), cparams));
  if (!ctx) {
    std::string why = internal::TakeLlamaError();
    return Internal(fmt::format("cannot create a llama.cpp context for {}{}{}", spec.gguf_path,
                                why.empty() ? "" : ": ", why));
  }
  llama_attach_threadpool(ctx.get(), threadpool.get(), threadpool.get());
  return std::unique_ptr<LanguageModel>(
      std::make_unique<LlamaModel>(spec, std::move(model), std::move(ctx), std::move(threadpool), cparams.n_ctx));
}

}  // namespace lmlab::runtime
