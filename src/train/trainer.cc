#include "lmlab/train/trainer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numbers>
#include <random>

#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpp.h"
#include "ggml-cpu.h"
#include "lmlab/core/cpu_measure.h"
#include "lmlab/core/format.h"
#include "lmlab/core/hash.h"
#include "lmlab/core/threads.h"
#include "train/checkpoint.h"
#include "train/graph.h"
#include "lmlab/train/internal/products.h"

namespace lmlab::train {
namespace {

using Clock = std::chrono::steady_clock;

// FNV-1a over the token stream: a checkpoint only resumes on the same data.
// One step per token (not per byte), as checkpoints on disk were made.
uint64_t HashTokens(std::span<const int32_t> tokens) {
  uint64_t h = kFnv1aOffset;
  for (int32_t t : tokens) h = Fnv1aStep(h, static_cast<uint32_t>(t));
  return h;
}

// Mean next-token cross-entropy of rows [0, n_rows) of logits [n_rows][V].
double CrossEntropy(const float* logits, const int32_t* labels, int64_t n_rows, int64_t V) {
  double total = 0;
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* row = logits + r * V;
    float mx = *std::max_element(row, row + V);
    double sum = 0;
    for (int64_t i = 0; i < V; ++i) sum += std::exp(static_cast<double>(row[i] - mx));
    total += std::log(sum) + mx - row[labels[r]];
  }
  return n_rows > 0 ? total / static_cast<double>(n_rows) : 0.0;
}

// Which loss a label token carries (TokenFlags below): none (BOS, padding),
// the other tokens' (kAnswers) or the main one (every token, or the answers).
enum Flag : uint8_t { kNoLoss = 0, kOther = 1, kMain = 2 };

// Sum of the next-token cross-entropy over the rows of logits [n_rows][V]
// whose label token is flagged kMain, and how many there were.
std::pair<double, int64_t> MainCrossEntropy(const float* logits, const int32_t* labels, const uint8_t* flags,
                                            int64_t n_rows, int64_t V) {
  double total = 0;
  int64_t n = 0;
  for (int64_t r = 0; r < n_rows; ++r) {
    if (flags[r] != kMain) continue;
    total += CrossEntropy(logits + r * V, labels + r, 1, V);
    ++n;
  }
  return {total, n};
}

// The training session: static tensors (weights, AdamW moments, inputs) in
// one backend buffer, the training graph (forward, backward, AdamW step) and
// an evaluation graph (forward to logits) each with its own allocator.
class Session {
 public:
  // `masked`: the loss is taken only on rows flagged in SetBatch (kMain, and
  // kOther at `other_weight`), each part a mean over its own rows.
  Status Init(const ModelConfig& c, int64_t T, int64_t B, int threads, MatrixProducts products, bool masked,
              float other_weight) {
    config_ = c;
    masked_ = masked;
    other_weight_ = masked ? other_weight : 0.0f;
    T_ = T;
    B_ = B;
    ggml_init_params sp{ggml_tensor_overhead() * 1024 + 1024, nullptr, true};
    ctx_static_.reset(ggml_init(sp));
    w_ = internal::CreateWeights(ctx_static_.get(), c);
    in_ = internal::CreateInputs(ctx_static_.get(), T, B);
    labels_ = ggml_new_tensor_2d(ctx_static_.get(), GGML_TYPE_F32, c.n_vocab, T * B);  // one-hot [V, T*B]
    ggml_set_input(labels_);
    for (ggml_tensor* t : w_.all) {
      m_.push_back(ggml_new_tensor(ctx_static_.get(), GGML_TYPE_F32, GGML_MAX_DIMS, t->ne));
      v_.push_back(ggml_new_tensor(ctx_static_.get(), GGML_TYPE_F32, GGML_MAX_DIMS, t->ne));
    }
    // [alpha, beta1, beta2, eps, wd, 1/(1-beta1^t), 1/(1-beta2^t)], one for
    // matrices (decayed) and one for RMSNorm gains (not decayed).
    adamw_decay_ = ggml_new_tensor_1d(ctx_static_.get(), GGML_TYPE_F32, 7);
    adamw_plain_ = ggml_new_tensor_1d(ctx_static_.get(), GGML_TYPE_F32, 7);
    loss_grad_ = ggml_new_tensor_1d(ctx_static_.get(), GGML_TYPE_F32, 1);

    // Training graph.
    ggml_init_params cp{internal::GraphContextBytes(c), nullptr, true};
    ctx_train_.reset(ggml_init(cp));
    ggml_context* ctx = ctx_train_.get();
    for (ggml_tensor* t : w_.all) ggml_set_param(t);
    ggml_tensor* logits = internal::BuildLogits(ctx, c, w_, in_);
    if (!masked_) {
      loss_ = ggml_cross_entropy_loss(ctx, logits, labels_);  // mean over the T*B rows
    } else {
      // A zero label row does not drop a row from ggml's cross-entropy: its
      // backward is softmax - labels, so a zero row still pushes every logit
      // of that row down by its probability. Multiplying the row's logits by
      // 0 first stops that gradient; the forward term of a zero row is 0.
      // The scale turns ggml's mean over all T*B rows into the mean over the
      // rows the loss is taken on.
      main_mask_ = ggml_new_tensor_2d(ctx_static_.get(), GGML_TYPE_F32, 1, T * B);  // [1, T*B]: 1 = in the loss
      main_scale_ = ggml_new_tensor_1d(ctx_static_.get(), GGML_TYPE_F32, 1);
      ggml_set_input(main_mask_);
      ggml_set_input(main_scale_);
      loss_ = ggml_mul(ctx, ggml_cross_entropy_loss(ctx, ggml_mul(ctx, logits, main_mask_), labels_), main_scale_);
      if (other_weight_ > 0) {
        other_labels_ = ggml_new_tensor_2d(ctx_static_.get(), GGML_TYPE_F32, c.n_vocab, T * B);
        other_mask_ = ggml_new_tensor_2d(ctx_static_.get(), GGML_TYPE_F32, 1, T * B);
        other_scale_ = ggml_new_tensor_1d(ctx_static_.get(), GGML_TYPE_F32, 1);  // other_weight * T*B / rows
        ggml_set_input(other_labels_);
        ggml_set_input(other_mask_);
        ggml_set_input(other_scale_);
        ggml_tensor* other =
            ggml_cross_entropy_loss(ctx, ggml_mul(ctx, logits, other_mask_), other_labels_);
        loss_ = ggml_add(ctx, loss_, ggml_mul(ctx, other, other_scale_));
      }
    }
    ggml_set_name(loss_, "loss");
    ggml_set_output(loss_);
    ggml_set_loss(loss_);
    ggml_cgraph* gf = ggml_new_graph_custom(ctx, internal::GraphNodes(c), true);
    ggml_build_forward_expand(gf, loss_);
    // Only the loss keeps a static gradient (its seed, 1); parameter
    // gradients are recomputed every step, so they live in the compute buffer.
    std::vector<ggml_tensor*> grad_accs(ggml_graph_n_nodes(gf), nullptr);
    for (int i = 0; i < ggml_graph_n_nodes(gf); ++i)
      if (ggml_graph_node(gf, i) == loss_) grad_accs[i] = loss_grad_;
    gb_ = ggml_graph_dup(ctx, gf, true);
    ggml_build_backward_expand(ctx, gb_, grad_accs.data());
    for (size_t i = 0; i < w_.all.size(); ++i) {
      ggml_tensor* grad = ggml_graph_get_grad(gb_, w_.all[i]);
      if (!grad) return Internal("no gradient reaches " + std::string(ggml_get_name(w_.all[i])));
      ggml_tensor* params = ggml_n_dims(w_.all[i]) >= 2 ? adamw_decay_ : adamw_plain_;
      ggml_build_forward_expand(gb_, ggml_opt_step_adamw(ctx, w_.all[i], grad, m_[i], v_[i], params));
    }

    // Evaluation graph: the same weights and inputs, logits out.
    ctx_eval_.reset(ggml_init(cp));
    eval_logits_ = internal::BuildLogits(ctx_eval_.get(), c, w_, in_);
    ggml_set_output(eval_logits_);
    ge_ = ggml_new_graph_custom(ctx_eval_.get(), internal::GraphNodes(c), false);
    ggml_build_forward_expand(ge_, eval_logits_);
    if (products == MatrixProducts::kEigen) {
      internal::UseEigenProducts(gb_);
      internal::UseEigenProducts(ge_);
    }

    backend_.reset(ggml_backend_cpu_init());
    if (!backend_) return Internal("cannot start the ggml CPU backend");
    ggml_backend_cpu_set_n_threads(backend_.get(), threads);
    buf_.reset(ggml_backend_alloc_ctx_tensors(ctx_static_.get(), backend_.get()));
    if (!buf_) return Internal("cannot allocate weights and optimizer state");
    ggml_graph_reset(gb_);  // loss seed 1, moments 0
    internal::FillPositionsAndMask(in_);
    galloc_train_.reset(ggml_gallocr_new(ggml_backend_get_default_buffer_type(backend_.get())));
    galloc_eval_.reset(ggml_gallocr_new(ggml_backend_get_default_buffer_type(backend_.get())));
    if (!ggml_gallocr_reserve(galloc_train_.get(), gb_) || !ggml_gallocr_reserve(galloc_eval_.get(), ge_))
      return Internal("cannot allocate the training graph (out of memory?)");
    return {};
  }

  const internal::GraphWeights& weights() const { return w_; }
  const std::vector<ggml_tensor*>& m() const { return m_; }
  const std::vector<ggml_tensor*>& v() const { return v_; }

  // Sets tokens/labels from B windows of T+1 tokens each; with a masked
  // loss, `flags` holds each window's T+1 token flags (the row predicting
  // token t+1 takes token t+1's flag).
  void SetBatch(std::span<const int32_t* const> windows, std::span<const uint8_t* const> flags = {}) {
    auto* tok = static_cast<int32_t*>(in_.tokens->data);
    auto* lab = static_cast<float*>(labels_->data);
    std::memset(lab, 0, ggml_nbytes(labels_));
    label_ids_.resize(T_ * B_);
    if (!masked_) {
      for (int64_t b = 0; b < B_; ++b)
        for (int64_t t = 0; t < T_; ++t) {
          tok[b * T_ + t] = windows[b][t];
          label_ids_[b * T_ + t] = windows[b][t + 1];
          lab[(b * T_ + t) * config_.n_vocab + windows[b][t + 1]] = 1.0f;
        }
      return;
    }
    auto* main_mask = static_cast<float*>(main_mask_->data);
    float* other_lab = other_labels_ ? static_cast<float*>(other_labels_->data) : nullptr;
    float* other_mask = other_mask_ ? static_cast<float*>(other_mask_->data) : nullptr;
    if (other_lab) std::memset(other_lab, 0, ggml_nbytes(other_labels_));
    row_flags_.resize(T_ * B_);
    int64_t n_main = 0, n_other = 0;
    for (int64_t b = 0; b < B_; ++b)
      for (int64_t t = 0; t < T_; ++t) {
        const int64_t row = b * T_ + t;
        const int32_t label = windows[b][t + 1];
        const uint8_t f = flags[b][t + 1];
        tok[row] = windows[b][t];
        label_ids_[row] = label;
        row_flags_[row] = f;
        main_mask[row] = f == kMain ? 1.0f : 0.0f;
        if (f == kMain) {
          lab[row * config_.n_vocab + label] = 1.0f;
          ++n_main;
        }
        if (other_mask) other_mask[row] = f == kOther ? 1.0f : 0.0f;
        if (other_lab && f == kOther) {
          other_lab[row * config_.n_vocab + label] = 1.0f;
          ++n_other;
        }
      }
    const float rows = static_cast<float>(T_ * B_);
    *static_cast<float*>(main_scale_->data) = n_main > 0 ? rows / static_cast<float>(n_main) : 0.0f;
    if (other_scale_)
      *static_cast<float*>(other_scale_->data) = n_other > 0 ? other_weight_ * rows / static_cast<float>(n_other) : 0.0f;
  }

  // One AdamW step at learning rate `lr` (iteration `iter`, 1-based); returns the loss.
  Result<double> Step(const TrainOptions& o, float lr, int64_t iter) {
    const float b1h = 1.0f / (1.0f - std::pow(o.beta1, static_cast<float>(iter)));
    const float b2h = 1.0f / (1.0f - std::pow(o.beta2, static_cast<float>(iter)));
    const float decay[7] = {lr, o.beta1, o.beta2, 1e-8f, o.weight_decay, b1h, b2h};
    const float plain[7] = {lr, o.beta1, o.beta2, 1e-8f, 0.0f, b1h, b2h};
    std::memcpy(adamw_decay_->data, decay, sizeof(decay));
    std::memcpy(adamw_plain_->data, plain, sizeof(plain));
    if (!ggml_gallocr_alloc_graph(galloc_train_.get(), gb_)) return Internal("cannot allocate the training graph");
    if (ggml_backend_graph_compute(backend_.get(), gb_) != GGML_STATUS_SUCCESS) return Internal("training step failed");
    const double loss = *static_cast<const float*>(loss_->data);
    if (!std::isfinite(loss))
      return Internal(fmt::format("the loss diverged (it is {}); lower `lr` (now {})", loss, lr));
    return loss;
  }

  // Mean cross-entropy over the first n_real windows of the batch set by SetBatch.
  Result<double> Evaluate(int64_t n_real) {
    if (!ggml_gallocr_alloc_graph(galloc_eval_.get(), ge_)) return Internal("cannot allocate the evaluation graph");
    if (ggml_backend_graph_compute(backend_.get(), ge_) != GGML_STATUS_SUCCESS) return Internal("evaluation failed");
    return CrossEntropy(static_cast<const float*>(eval_logits_->data), label_ids_.data(), n_real * T_,
                        config_.n_vocab);
  }

  // Masked loss: the sum of the cross-entropy over the kMain rows of the
  // first n_real windows, and their count.
  Result<std::pair<double, int64_t>> EvaluateMain(int64_t n_real) {
    if (!ggml_gallocr_alloc_graph(galloc_eval_.get(), ge_)) return Internal("cannot allocate the evaluation graph");
    if (ggml_backend_graph_compute(backend_.get(), ge_) != GGML_STATUS_SUCCESS) return Internal("evaluation failed");
    return MainCrossEntropy(static_cast<const float*>(eval_logits_->data), label_ids_.data(), row_flags_.data(),
                            n_real * T_, config_.n_vocab);
  }

 private:
  ModelConfig config_;
  int64_t T_ = 0, B_ = 0;
  ggml_context_ptr ctx_static_, ctx_train_, ctx_eval_;
  ggml_backend_ptr backend_;
  ggml_backend_buffer_ptr buf_;
  ggml_gallocr_ptr galloc_train_, galloc_eval_;
  internal::GraphWeights w_;
  internal::GraphInputs in_;
  ggml_tensor *labels_ = nullptr, *loss_ = nullptr, *loss_grad_ = nullptr;
  bool masked_ = false;
  float other_weight_ = 0;
  ggml_tensor *main_mask_ = nullptr, *main_scale_ = nullptr;                             // masked loss only
  ggml_tensor *other_labels_ = nullptr, *other_mask_ = nullptr, *other_scale_ = nullptr;  // other_weight > 0 only
  std::vector<uint8_t> row_flags_;
  ggml_tensor *adamw_decay_ = nullptr, *adamw_plain_ = nullptr, *eval_logits_ = nullptr;
  std::vector<ggml_tensor*> m_, v_;
  ggml_cgraph *gb_ = nullptr, *ge_ = nullptr;
  std::vector<int32_t> label_ids_;
};

void CopyIn(ggml_tensor* t, const std::vector<float>& data) { std::memcpy(t->data, data.data(), ggml_nbytes(t)); }
std::vector<float> CopyOut(const ggml_tensor* t) {
  std::vector<float> out(ggml_nelements(t));
  std::memcpy(out.data(), t->data, ggml_nbytes(t));
  return out;
}

struct PackedTokens {
  std::vector<int32_t> tokens;
  std::vector<uint8_t> flags;  // [tokens]: the loss the prediction of each token carries
  int64_t truncated = 0;       // documents longer than a window (kWholeDocuments)
  int64_t unmarked = 0;        // documents without the answer marker (kAnswers)
};

// Windows being filled by whole documents: a document goes into the first
// open window with room for it (first fit over the last few windows keeps
// padding low and the shuffled order nearly intact); a window closes when it
// is full or when too many are open, and is then padded with </s>.
class WindowPacker {
 public:
  WindowPacker(int64_t window, int32_t pad, PackedTokens& out) : window_(window), pad_(pad), out_(out) {}
  void Add(std::span<const int32_t> ids, std::span<const uint8_t> flags) {
    const int64_t n = static_cast<int64_t>(ids.size());
    size_t at = 0;
    while (at < open_.size() && static_cast<int64_t>(open_[at].tokens.size()) + n > window_) ++at;
    if (at == open_.size()) {
      if (open_.size() == kMaxOpen) Close(0);
      open_.emplace_back();
      at = open_.size() - 1;
    }
    Open& w = open_[at];
    w.tokens.insert(w.tokens.end(), ids.begin(), ids.end());
    w.flags.insert(w.flags.end(), flags.begin(), flags.end());
    if (static_cast<int64_t>(w.tokens.size()) == window_) Close(at);
  }
  void Finish() {
    while (!open_.empty()) Close(0);
  }

 private:
  static constexpr size_t kMaxOpen = 8;
  struct Open {
    std::vector<int32_t> tokens;
    std::vector<uint8_t> flags;
  };
  void Close(size_t i) {
    Open& w = open_[i];
    w.tokens.resize(window_, pad_);
    w.flags.resize(window_, 0);  // padding: no loss
    out_.tokens.insert(out_.tokens.end(), w.tokens.begin(), w.tokens.end());
    out_.flags.insert(out_.flags.end(), w.flags.begin(), w.flags.end());
    open_.erase(open_.begin() + static_cast<std::ptrdiff_t>(i));
  }
  int64_t window_;
  int32_t pad_;
  PackedTokens& out_;
  std::vector<Open> open_;
};

// The documents in `order` as tokens with their loss flags, either one
// stream (kStream) or whole documents packed into windows of T + 1 tokens
// (kWholeDocuments: each window starts with a document's <s>; the rest of a
// window is </s> padding without loss; a document longer than a window keeps
// its <s> and its last T tokens, where the answer is).
Result<PackedTokens> PackDocuments(const Tokenizer& tok, std::span<const std::string> documents,
                                   std::span<const size_t> order, const TrainOptions& o, int64_t T) {
  if (o.loss_on == LossOn::kAnswers && o.answer_marker.empty())
    return InvalidArgument("a loss on the answers needs `answer_marker`, the text an answer follows");
  if (!(o.other_token_weight >= 0) || o.other_token_weight > 1)
    return InvalidArgument(fmt::format("`other_token_weight` must be in [0, 1] (got {})", o.other_token_weight));
  PackedTokens out;
  WindowPacker packer(T + 1, tok.eos(), out);
  std::vector<int32_t> ids;
  std::vector<uint8_t> doc_flags;
  for (size_t i : order) {
    const std::string& doc = documents[i];
    ids = tok.Encode(doc, runtime::AddBos::kYes);
    ids.push_back(tok.eos());
    // Where the answer starts: the tokens of the text up to the marker's end
    // are a prefix of the whole document's tokens (no learned piece spans two
    // words), so the answer is what follows their common prefix.
    size_t answer_from = 1;  // kEveryToken: every token after <s>
    if (o.loss_on == LossOn::kAnswers) {
      const size_t at = doc.rfind(o.answer_marker);
      if (at == std::string::npos) {
        ++out.unmarked;
        answer_from = ids.size();
      } else {
        std::vector<int32_t> prefix = tok.Encode(std::string_view(doc).substr(0, at + o.answer_marker.size()),
                                                 runtime::AddBos::kYes);
        size_t common = 0;
        while (common < prefix.size() && common < ids.size() && prefix[common] == ids[common]) ++common;
        answer_from = std::max<size_t>(1, common);
      }
    }
    doc_flags.assign(ids.size(), kMain);
    doc_flags[0] = kNoLoss;  // <s> is never predicted
    for (size_t t = 1; t < answer_from && t < ids.size(); ++t) doc_flags[t] = kOther;
    if (o.packing == Packing::kWholeDocuments) {
      if (static_cast<int64_t>(ids.size()) > T + 1) {
        ++out.truncated;
        const size_t cut = ids.size() - static_cast<size_t>(T);  // keep <s> + the last T tokens
        ids.erase(ids.begin() + 1, ids.begin() + static_cast<std::ptrdiff_t>(cut));
        doc_flags.erase(doc_flags.begin() + 1, doc_flags.begin() + static_cast<std::ptrdiff_t>(cut));
      }
      packer.Add(ids, doc_flags);
      continue;
    }
    out.tokens.insert(out.tokens.end(), ids.begin(), ids.end());
    out.flags.insert(out.flags.end(), doc_flags.begin(), doc_flags.end());
  }
  packer.Finish();
  return out;
}

}  // namespace

float LearningRate(const TrainOptions& o, int64_t step, int64_t total) {
  const int64_t warmup = o.warmup >= 0 ? o.warmup : std::max<int64_t>(1, total / 20);
  if (step < warmup) return o.lr * static_cast<float>(step + 1) / static_cast<float>(warmup);
  const double span = std::max<int64_t>(1, total - warmup);
  const double progress = std::min(1.0, static_cast<double>(step - warmup) / span);
  const double cosine = 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
  return static_cast<float>(o.lr * (o.min_lr_ratio + (1.0 - o.min_lr_ratio) * cosine));
}

Result<TrainResult> Train(std::span<const std::string> documents, const TrainOptions& o) {
  if (documents.empty()) return InvalidArgument("the corpus is empty");
  if (o.batch < 1) return InvalidArgument(fmt::format("`batch` must be positive (got {})", o.batch));
  if (o.steps < 0 || (o.steps == 0 && o.epochs < 1))
    return InvalidArgument("give a positive number of `steps` or `epochs`");
  if (!(o.lr > 0) || o.lr > 1) return InvalidArgument(fmt::format("`lr` must be in (0, 1] (got {})", o.lr));
  if (o.weight_decay < 0 || o.weight_decay > 1) return InvalidArgument("weight decay must be in [0, 1]");
  if (!(o.val_fraction > 0) || o.val_fraction >= 0.5) return InvalidArgument("val_fraction must be in (0, 0.5)");
  ModelConfig probe = o.model;
  probe.n_vocab = std::max<int64_t>(probe.n_vocab, 4);
  LMLAB_RETURN_IF_ERROR(ValidateConfig(probe));  // shapes first: they are cheap to check

  // A checkpoint to resume from, when asked and present.
  std::optional<internal::Checkpoint> ckpt;
  std::error_code ec;
  if (o.resume == Resume::kIfPresent && !o.checkpoint.empty() && std::filesystem::exists(o.checkpoint, ec)) {
    LMLAB_ASSIGN_OR_RETURN(internal::Checkpoint c, internal::ReadCheckpoint(o.checkpoint));
    ckpt = std::move(c);
  }

  // Tokenizer: learned fresh, or the checkpoint's.
  std::optional<Tokenizer> tok;
  if (ckpt) {
    LMLAB_ASSIGN_OR_RETURN(Tokenizer t, Tokenizer::FromVocab(ckpt->model.vocab));
    tok = std::move(t);
  } else {
    LMLAB_ASSIGN_OR_RETURN(Tokenizer t, Tokenizer::Learn(documents, o.tokenizer));
    tok = std::move(t);
  }
  ModelConfig config = o.model;
  config.n_vocab = tok->size();
  LMLAB_RETURN_IF_ERROR(ValidateConfig(config));

  // The token stream over a seeded shuffle of the documents.
  std::vector<size_t> order(documents.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::mt19937_64 doc_rng(o.seed);
  std::shuffle(order.begin(), order.end(), doc_rng);
  const int64_t T = config.n_ctx;
  // The default (every token, one stream) keeps the trainer's original data
  // path, so that default recipes train byte for byte as before.
  const bool masked = o.loss_on == LossOn::kAnswers || o.packing == Packing::kWholeDocuments;
  std::vector<int32_t> stream;
  std::vector<uint8_t> flags;  // masked: one per stream token, the loss its prediction carries
  int64_t stride = T;          // tokens from one window's start to the next's
  TrainResult r;
  if (!masked) {
    for (size_t i : order) {
      std::vector<int32_t> ids = tok->Encode(documents[i], runtime::AddBos::kYes);
      stream.insert(stream.end(), ids.begin(), ids.end());
      stream.push_back(tok->eos());
    }
    r.loss_tokens = static_cast<int64_t>(stream.size()) - 1;
  } else {
    LMLAB_ASSIGN_OR_RETURN(PackedTokens packed, PackDocuments(*tok, documents, order, o, T));
    stream = std::move(packed.tokens);
    flags = std::move(packed.flags);
    r.truncated_documents = packed.truncated;
    r.unmarked_documents = packed.unmarked;
    if (o.packing == Packing::kWholeDocuments) stride = T + 1;
    for (size_t i = 1; i < flags.size(); ++i) r.loss_tokens += flags[i] == kMain;
    if (r.loss_tokens == 0)
      return InvalidArgument(o.loss_on == LossOn::kAnswers
                                 ? fmt::format("no document holds the answer marker \"{}\": nothing to take the loss on",
                                               o.answer_marker)
                                 : std::string("no document fits a window of the context"));
  }
  const int64_t n_windows = o.packing == Packing::kWholeDocuments
                                ? static_cast<int64_t>(stream.size()) / (T + 1)
                                : (static_cast<int64_t>(stream.size()) - 1) / T;
  int64_t n_val = static_cast<int64_t>(std::ceil(o.val_fraction * static_cast<double>(n_windows)));
  n_val = std::max<int64_t>(1, n_val);
  const int64_t n_train = n_windows - n_val;
  if (n_train < 1)
    return InvalidArgument(fmt::format(
        "the corpus is too small for a context of {}: it has {} tokens, and training needs at least {} (one "
        "window of ctx+1 tokens to train on and one to validate); add text or lower `n_ctx`",
        T, stream.size(), 2 * T + 1));
  const int64_t B = std::min<int64_t>(o.batch, n_train);
  const int64_t steps_per_epoch = n_train / B;
  const int64_t total = o.steps > 0 ? o.steps : o.epochs * steps_per_epoch;
  uint64_t data_hash = HashTokens(stream);
  // A masked run resumes only with the same loss on the same tokens.
  for (uint8_t f : flags) data_hash = Fnv1aStep(data_hash, f);

  auto window = [&](int64_t w) { return stream.data() + w * stride; };
  auto window_flags = [&](int64_t w) { return flags.data() + w * stride; };
  // Batch `idx` of epoch `epoch` (0-based): windows in a per-epoch seeded shuffle.
  auto epoch_order = [&](int64_t epoch) {
    std::vector<int64_t> perm(n_train);
    for (int64_t i = 0; i < n_train; ++i) perm[i] = i;
    std::mt19937_64 rng(o.seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch) + 1);
    std::shuffle(perm.begin(), perm.end(), rng);
    return perm;
  };

  Session s;
  const int threads = ResolveThreads(o.threads);
  LMLAB_RETURN_IF_ERROR(s.Init(config, T, B, threads, o.products, masked,
                               o.loss_on == LossOn::kAnswers ? o.other_token_weight : 0.0f));

  r.corpus_tokens = static_cast<int64_t>(stream.size());
  r.train_windows = n_train;
  r.val_windows = n_val;
  r.steps = total;
  r.steps_per_epoch = steps_per_epoch;
  int64_t step = 0;
  if (ckpt) {
    if (ckpt->model.config.n_ctx != config.n_ctx || ckpt->model.config.n_embd != config.n_embd ||
        ckpt->model.config.n_layer != config.n_layer || ckpt->model.config.n_head != config.n_head ||
        FeedForwardSize(ckpt->model.config) != FeedForwardSize(config) || ckpt->seed != o.seed ||
        ckpt->total_steps != total || ckpt->batch != B || ckpt->data_hash != data_hash || ckpt->lr != o.lr)
      return InvalidArgument(fmt::format(
          "checkpoint {} belongs to a different run (model shape, corpus, seed, steps, batch or lr differ); run "
          "with the same settings, or start over without resuming",
          o.checkpoint.string()));
    for (size_t i = 0; i < s.weights().all.size(); ++i) {
      CopyIn(s.weights().all[i], ckpt->model.tensors[i].data);
      CopyIn(s.m()[i], ckpt->m[i]);
      CopyIn(s.v()[i], ckpt->v[i]);
    }
    step = ckpt->step;
    r.resumed_from_step = step;
    r.losses = ckpt->losses;
    r.epochs = ckpt->epochs;
    r.initial_val_loss = ckpt->initial_val_loss;
  } else {
    Model init = InitModel(config, tok->vocab(), o.seed);
    for (size_t i = 0; i < s.weights().all.size(); ++i) CopyIn(s.weights().all[i], init.tensors[i].data);
  }

  auto snapshot = [&]() {
    Model m;
    m.config = config;
    m.vocab = tok->vocab();
    for (ggml_tensor* t : s.weights().all) {
      NamedTensor nt{ggml_get_name(t), {}, CopyOut(t)};
      for (int d = 0; d < ggml_n_dims(t); ++d) nt.shape.push_back(t->ne[d]);
      m.tensors.push_back(std::move(nt));
    }
    return m;
  };
  auto validate = [&]() -> Result<double> {
    const int64_t n = std::min(n_val, o.max_val_windows);
    if (masked) {
      double sum = 0;
      int64_t counted = 0;
      for (int64_t start = 0; start < n; start += B) {
        const int64_t real = std::min(B, n - start);
        std::vector<const int32_t*> ws(B);
        std::vector<const uint8_t*> fs(B);
        for (int64_t b = 0; b < B; ++b) {
          ws[b] = window(n_train + start + std::min(b, real - 1));
          fs[b] = window_flags(n_train + start + std::min(b, real - 1));
        }
        s.SetBatch(ws, fs);
        LMLAB_ASSIGN_OR_RETURN(auto part, s.EvaluateMain(real));
        sum += part.first;
        counted += part.second;
      }
      return counted > 0 ? sum / static_cast<double>(counted) : 0.0;
    }
    double sum = 0;
    int64_t counted = 0;
    for (int64_t start = 0; start < n; start += B) {
      const int64_t real = std::min(B, n - start);
      std::vector<const int32_t*> ws(B);
      for (int64_t b = 0; b < B; ++b) ws[b] = window(n_train + start + std::min(b, real - 1));
      s.SetBatch(ws);
      LMLAB_ASSIGN_OR_RETURN(double l, s.Evaluate(real));
      sum += l * static_cast<double>(real);
      counted += real;
    }
    return sum / static_cast<double>(counted);
  };
  auto save = [&]() -> Status {
    internal::Checkpoint c;
    c.model = snapshot();
    for (size_t i = 0; i < s.weights().all.size(); ++i) {
      c.m.push_back(CopyOut(s.m()[i]));
      c.v.push_back(CopyOut(s.v()[i]));
    }
    c.step = step;
    c.total_steps = total;
    c.batch = B;
    c.seed = o.seed;
    c.lr = o.lr;
    c.data_hash = data_hash;
    c.losses = r.losses;
    c.epochs = r.epochs;
    c.initial_val_loss = r.initial_val_loss;
    return internal::WriteCheckpoint(o.checkpoint, c);
  };

  if (!ckpt) {
    LMLAB_ASSIGN_OR_RETURN(r.initial_val_loss, validate());
  }
  const int64_t tokens_per_step = B * T;
  double epoch_loss_sum = 0;
  int64_t epoch_loss_n = 0;
  // Losses of the current epoch already done before a resume count toward its mean.
  for (int64_t i = step - step % steps_per_epoch; i < step && i < static_cast<int64_t>(r.losses.size()); ++i) {
    epoch_loss_sum += r.losses[i];
    ++epoch_loss_n;
  }
  double train_seconds = 0;  // optimizer steps only: validation and checkpoints excluded
  int64_t steps_here = 0;
  std::vector<int64_t> perm;
  int64_t perm_epoch = -1;
  double last_val = r.epochs.empty() ? r.initial_val_loss : r.epochs.back().val_loss;
  Report(o.progress, {"training", static_cast<double>(step), static_cast<double>(total), "steps",
                      fmt::format("val loss {:.3f}", last_val)});
  while (step < total) {
    const int64_t epoch = step / steps_per_epoch;
    if (epoch != perm_epoch) {
      perm = epoch_order(epoch);
      perm_epoch = epoch;
    }
    const int64_t idx = step % steps_per_epoch;
    std::vector<const int32_t*> ws(B);
    std::vector<const uint8_t*> fs(masked ? B : 0);
    for (int64_t b = 0; b < B; ++b) ws[b] = window(perm[idx * B + b]);
    for (size_t b = 0; b < fs.size(); ++b) fs[b] = window_flags(perm[idx * B + static_cast<int64_t>(b)]);
    const auto step_start = Clock::now();
    s.SetBatch(ws, fs);
    LMLAB_ASSIGN_OR_RETURN(double loss, s.Step(o, LearningRate(o, step, total), step + 1));
    train_seconds += std::chrono::duration<double>(Clock::now() - step_start).count();
    r.losses.resize(step);
    r.losses.push_back(loss);
    epoch_loss_sum += loss;
    ++epoch_loss_n;
    ++step;
    ++steps_here;
    const bool epoch_end = step % steps_per_epoch == 0 || step == total;
    if (epoch_end) {
      LMLAB_ASSIGN_OR_RETURN(double val, validate());
      r.epochs.push_back({(step - 1) / steps_per_epoch + 1, step, epoch_loss_sum / std::max<int64_t>(1, epoch_loss_n), val});
      last_val = val;
      epoch_loss_sum = 0;
      epoch_loss_n = 0;
    }
    const double tps = train_seconds > 0 ? static_cast<double>(steps_here * tokens_per_step) / train_seconds : 0;
    Report(o.progress, {"training", static_cast<double>(step), static_cast<double>(total), "steps",
                        fmt::format("loss {:.3f}, val {:.3f}, {} tok/s", loss, last_val, FormatThousands(tps))});
    if (!o.checkpoint.empty() && o.checkpoint_every > 0 && step % o.checkpoint_every == 0 && step < total)
      LMLAB_RETURN_IF_ERROR(save());
  }
  r.seconds = train_seconds;
  r.tokens_per_second = r.seconds > 0 ? static_cast<double>(steps_here * tokens_per_step) / r.seconds : 0;
  r.final_val_loss = last_val;
  r.model = snapshot();
  r.threads = threads;
  r.model_flops_per_second = TrainingFlopsPerToken(config) * r.tokens_per_second;
  if (steps_here > 0) {
    // The machine's GEMM rate now, on the same threads (best of 3, ~0.1 s):
    // a busy machine lowers both sides of the ratio alike.
    if (auto gemm = MeasureGemm(1024, 3, threads); gemm && gemm->achieved_flops > 0) {
      r.gemm_flops_per_second = gemm->achieved_flops;
      r.mfu = r.model_flops_per_second / r.gemm_flops_per_second;
    }
  }
  return r;
}

}  // namespace lmlab::train
