// Trains a llama-architecture model from scratch on a corpus, with every
// weight trainable (token_embd, attn_k and attn_v included: lmlab builds its
// own training graph in ggml instead of llama.cpp's opt path, whose attention
// reads K/V through non-differentiable KV-cache views and which skips
// token_embd). AdamW with decoupled weight decay (Loshchilov & Hutter 2019),
// linear warm-up then cosine decay, seeded, validation loss at every epoch,
// checkpoints that a killed run resumes from on the same schedule.
//
//   TrainOptions o;
//   o.model = {.n_ctx = 64, .n_embd = 128, .n_layer = 2, .n_head = 4};
//   o.epochs = 3;
//   o.checkpoint = "run.ckpt";
//   o.checkpoint_every = 50;
//   o.progress = bar.Callback();
//   LMLAB_ASSIGN_OR_RETURN(TrainResult r, Train(documents, o));
//   LMLAB_RETURN_IF_ERROR(ExportGguf(r.model, "model.gguf"));
//
// The token stream is "<s> doc </s> <s> doc </s> ..." over the documents in a
// seeded shuffle; it is cut into windows of n_ctx + 1 tokens (inputs and
// next-token labels); the last val_fraction of the windows are held out.
// Packing::kWholeDocuments instead keeps every document whole inside one
// window, and LossOn::kAnswers takes the loss on each document's answer only
// (the text after its last `answer_marker`), as a reader that answers from
// evidence in its prompt is trained.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/core/progress.h"
#include "lmlab/train/model.h"
#include "lmlab/train/tokenizer.h"

namespace lmlab::train {

enum class Resume {
  kNo,         // start fresh (an existing checkpoint is overwritten)
  kIfPresent,  // continue from `checkpoint` when it exists, else start fresh
};

// How the training graph computes its matrix products.
enum class MatrixProducts {
  kEigen,  // Eigen's packed GEMM for every product, forward and backward (the default)
  kGgml,   // ggml's own MUL_MAT / OUT_PROD kernels: the trainer before 2026-12, kept so that
           // benchmarks measure the gain in the same run (bench/train_bench.cc --compare-ggml)
};

// Which next-token predictions the loss is taken on.
enum class LossOn {
  kEveryToken,  // all of them (the default)
  kAnswers,     // the tokens after the last `answer_marker` of each document, and its </s>;
                // the rest weigh `other_token_weight` (0 = left out of the loss and its gradient)
};

// How documents become training windows of n_ctx + 1 tokens.
enum class Packing {
  kStream,          // one stream cut every n_ctx tokens, documents split across windows (the default)
  kWholeDocuments,  // documents whole, packed into windows (first fit, in the shuffled order), the rest
                    // padded (padding carries no loss); a document longer than a window keeps its <s>
                    // and its last n_ctx tokens (where an answer is)
};

struct TrainOptions {
  ModelConfig model;            // n_vocab is set from the tokenizer
  TokenizerOptions tokenizer;
  int64_t steps = 0;            // optimizer steps; 0 = epochs * steps per epoch
  int64_t epochs = 1;
  int64_t batch = 8;            // sequences (windows) per step
  float lr = 1e-3f;             // peak learning rate
  float min_lr_ratio = 0.1f;    // cosine decays to lr * this
  int64_t warmup = -1;          // steps; -1 = 5% of the steps (at least 1)
  float weight_decay = 0.1f;    // on matrices; RMSNorm gains are not decayed
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  uint64_t seed = 1;            // weights, document shuffle and batch order
  int threads = 0;              // 0 = the idle cores (cores minus the load average, at least 1)
  MatrixProducts products = MatrixProducts::kEigen;
  double val_fraction = 0.05;   // share of windows held out for validation
  int64_t max_val_windows = 64; // cap on windows scored per validation
  std::filesystem::path checkpoint;  // "" = none
  int64_t checkpoint_every = 0;      // steps between checkpoints (atomic writes); 0 = none
  Resume resume = Resume::kNo;
  ProgressCallback progress;    // stage "training": done/total in steps, detail "loss 2.31, 4,400 tok/s"
  LossOn loss_on = LossOn::kEveryToken;
  std::string answer_marker;    // kAnswers: a document's answer follows the last occurrence of this text
  float other_token_weight = 0; // kAnswers: weight of the other tokens' mean loss beside the answers' (0..1)
  Packing packing = Packing::kStream;
};

struct EpochStats {
  int64_t epoch = 0;      // 1-based
  int64_t step = 0;       // steps done when measured
  double train_loss = 0;  // mean training loss over the epoch's steps
  double val_loss = 0;    // mean next-token cross-entropy (nats) on held-out windows
};

struct TrainResult {
  Model model;
  int64_t corpus_tokens = 0;      // tokens in the stream, BOS/EOS included
  int64_t loss_tokens = 0;        // of those, predictions the loss is taken on (all but the first with kEveryToken
                                  // and kStream; the answers' with kAnswers)
  int64_t truncated_documents = 0; // kWholeDocuments: documents longer than a window, cut from the front
  int64_t unmarked_documents = 0; // kAnswers: documents without `answer_marker` (no answer, no loss)
  int64_t train_windows = 0;
  int64_t val_windows = 0;
  int64_t steps = 0;              // total steps of the schedule
  int64_t steps_per_epoch = 0;
  int64_t resumed_from_step = 0;  // 0 = fresh run
  // Validation losses are the mean over the predictions the loss is taken on
  // (with kAnswers: the answers' tokens only, whatever other_token_weight is).
  double initial_val_loss = 0;    // before the first step
  double final_val_loss = 0;
  std::vector<double> losses;     // [steps]: training loss of every step (restored on resume)
  std::vector<EpochStats> epochs;
  double seconds = 0;             // wall time of this process's optimizer steps (validation excluded)
  double tokens_per_second = 0;   // training tokens (B * n_ctx per step) per second, this process
  int threads = 0;                // compute threads the run used (TrainOptions::threads resolved)
  // Model-FLOP utilisation: TrainingFlopsPerToken x tokens_per_second, over
  // an fp32 GEMM measured on this machine with the same threads right after
  // training (core/cpu_measure.h, what `lmlab plan --measure` measures).
  double model_flops_per_second = 0;
  double gemm_flops_per_second = 0;  // 0 when the measurement failed
  double mfu = 0;                    // model_flops_per_second / gemm_flops_per_second
};

// kInvalidArgument for bad shapes or a corpus too small for the context (it
// says how many tokens there are and how many are needed); kParse for a
// corrupt checkpoint; kInvalidArgument for a checkpoint from a different run.
Result<TrainResult> Train(std::span<const std::string> documents, const TrainOptions& options);

// Learning rate at `step` (0-based) of `total`: linear warm-up, cosine decay.
float LearningRate(const TrainOptions& options, int64_t step, int64_t total);

}  // namespace lmlab::train
