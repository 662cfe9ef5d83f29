#include "lmlab/ood/classifier.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <random>
#include <thread>

#include <Eigen/Dense>
#include <fmt/format.h>

#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml-opt.h"
#include "ggml.h"
#include "lmlab/core/threads.h"
#include "lmlab/ood/ocs.h"

namespace lmlab::ood {
namespace {

// Class index 0..9 standardised: mean 4.5, standard deviation sqrt(99/12).
constexpr double kTargetMean = 4.5;
constexpr double kTargetStd = 2.8722813232690143;

struct CtxFree {
  void operator()(ggml_context* c) const { ggml_free(c); }
};
struct BufFree {
  void operator()(ggml_backend_buffer* b) const { ggml_backend_buffer_free(b); }
};
struct BackendFree {
  void operator()(ggml_backend* b) const { ggml_backend_free(b); }
};
struct SchedFree {
  void operator()(ggml_backend_sched* s) const { ggml_backend_sched_free(s); }
};
struct OptFree {
  void operator()(ggml_opt_context* o) const { ggml_opt_free(o); }
};
struct ResultFree {
  void operator()(ggml_opt_result* r) const { ggml_opt_result_free(r); }
};
struct DatasetFree {
  void operator()(ggml_opt_dataset* d) const { ggml_opt_dataset_free(d); }
};

struct OptimizerState {
  float learning_rate = 1e-3f;
  float weight_decay = 0.0f;
};

ggml_opt_optimizer_params GetOptimizerParams(void* userdata) {
  const auto* s = static_cast<const OptimizerState*>(userdata);
  ggml_opt_optimizer_params p = ggml_opt_get_default_optimizer_params(nullptr);
  p.adamw.alpha = s->learning_rate;
  p.adamw.wd = s->weight_decay;
  return p;
}

// ggml_opt_epoch's callback takes no user pointer; training is synchronous,
// so a thread-local carries the progress reporter for the running epoch.
struct EpochProgress {
  const ProgressCallback* callback = nullptr;
  int epoch = 0, epochs = 0;
};
thread_local EpochProgress t_progress;

void OnBatch(bool train, ggml_opt_context_t, ggml_opt_dataset_t, ggml_opt_result_t result, int64_t ibatch,
             int64_t ibatch_max, int64_t) {
  if (!train || !t_progress.callback || !*t_progress.callback) return;
  if (ibatch % 50 != 0 && ibatch != ibatch_max) return;
  double loss = 0, unc = 0;
  ggml_opt_result_loss(result, &loss, &unc);
  double done = (t_progress.epoch - 1) * static_cast<double>(ibatch_max) + static_cast<double>(ibatch);
  Report(*t_progress.callback, {"training", done, static_cast<double>(ibatch_max) * t_progress.epochs, "batches",
                                fmt::format("epoch {}/{}, loss {:.4f}", t_progress.epoch, t_progress.epochs, loss)});
}

int OutputsFor(Loss loss) { return loss == Loss::kGaussianNll ? 2 : kNumClasses; }

// The layer shapes of an architecture (ggml ne order).
std::vector<std::vector<int64_t>> LayerShapes(const TrainOptions& o) {
  int out = OutputsFor(o.loss);
  if (o.arch == Arch::kMlp)
    return {{kImagePixels, o.mlp_hidden1}, {o.mlp_hidden1, o.mlp_hidden2}, {o.mlp_hidden2, out}};
  int flat = o.cnn_channels2 * (kImageSide / 4) * (kImageSide / 4);
  return {{3, 3, 1, o.cnn_channels1}, {3, 3, o.cnn_channels1, o.cnn_channels2}, {flat, out}};
}

}  // namespace

std::string_view ArchName(Arch a) { return a == Arch::kMlp ? "mlp" : "cnn"; }

std::string_view LossName(Loss l) {
  switch (l) {
    case Loss::kCrossEntropy: return "ce";
    case Loss::kMse: return "mse";
    case Loss::kGaussianNll: return "nll";
    case Loss::kReward: return "reward";
  }
  return "?";
}

Result<Arch> ParseArch(std::string_view s) {
  if (s == "mlp") return Arch::kMlp;
  if (s == "cnn") return Arch::kCnn;
  return InvalidArgument(fmt::format("unknown architecture '{}': use mlp or cnn", s));
}

Result<Loss> ParseLoss(std::string_view s) {
  if (s == "ce") return Loss::kCrossEntropy;
  if (s == "mse") return Loss::kMse;
  if (s == "nll") return Loss::kGaussianNll;
  if (s == "reward") return Loss::kReward;
  return InvalidArgument(fmt::format("unknown loss '{}': use ce, mse, nll or reward", s));
}

double RegressionTarget(int32_t label) { return (label - kTargetMean) / kTargetStd; }

Result<Classifier> TrainClassifier(const ImageSet& train, const TrainOptions& o, const ProgressCallback& progress) {
  LMLAB_RETURN_IF_ERROR(Validate(train));
  if (o.epochs < 1) return InvalidArgument("epochs must be at least 1");
  if (o.batch < 1) return InvalidArgument("batch size must be at least 1");
  if (!(o.learning_rate > 0)) return InvalidArgument("learning rate must be positive");
  if (o.mlp_hidden1 < 1 || o.mlp_hidden2 < 1 || o.cnn_channels1 < 1 || o.cnn_channels2 < 1)
    return InvalidArgument("layer sizes must be positive");
  const int64_t n = train.size() / o.batch * o.batch;
  if (n == 0) return InvalidArgument(fmt::format("{} images is fewer than one batch of {}", train.size(), o.batch));

  const auto start = std::chrono::steady_clock::now();
  Classifier model;
  model.arch = o.arch;
  model.loss = o.loss;
  model.n_outputs = OutputsFor(o.loss);
  const bool nll = o.loss == Loss::kGaussianNll;
  // NLL carries its target as a 785th input value: ggml-opt's MEAN loss has
  // no labels, so the graph reads the target from the input batch.
  const int64_t n_in = kImagePixels + (nll ? 1 : 0);
  const int64_t n_label = nll ? 0 : kNumClasses;

  // --- the OCS of this training set ---
  std::span<const int32_t> labels(train.labels.data(), static_cast<size_t>(n));
  std::vector<double> marginal = LabelMarginal(labels, kNumClasses);
  if (o.loss == Loss::kReward) {
    for (double p : marginal) model.ocs.push_back(p * kRewardRight + (1 - p) * kRewardWrong);
  } else if (!nll) {
    model.ocs = marginal;
  } else {
    double sum = 0, sq = 0;
    for (int32_t y : labels) sum += RegressionTarget(y);
    model.ocs_mean = sum / n;
    for (int32_t y : labels) sq += (RegressionTarget(y) - model.ocs_mean) * (RegressionTarget(y) - model.ocs_mean);
    model.ocs_var = sq / n;
  }

  // --- backend ---
  std::unique_ptr<ggml_backend, BackendFree> backend(ggml_backend_cpu_init());
  if (!backend) return Internal("ggml CPU backend failed to initialise");
  ggml_backend_cpu_set_n_threads(backend.get(), ResolveThreads(o.threads));
  ggml_backend_t backends[] = {backend.get()};
  std::unique_ptr<ggml_backend_sched, SchedFree> sched(
      ggml_backend_sched_new(backends, nullptr, 1, GGML_DEFAULT_GRAPH_SIZE, false, true));

  // --- parameters and the input batch (static: they live across batches) ---
  std::unique_ptr<ggml_context, CtxFree> ctx_static(
      ggml_init({/*mem_size=*/16 * ggml_tensor_overhead(), /*mem_buffer=*/nullptr, /*no_alloc=*/true}));
  ggml_tensor* input = ggml_new_tensor_2d(ctx_static.get(), GGML_TYPE_F32, n_in, o.batch);  // [n_in, batch]
  ggml_set_name(input, "images");
  ggml_set_input(input);
  auto shapes = LayerShapes(o);
  std::vector<std::pair<ggml_tensor*, ggml_tensor*>> params;
  for (size_t l = 0; l < shapes.size(); ++l) {
    const auto& s = shapes[l];
    ggml_tensor* w = ggml_new_tensor(ctx_static.get(), GGML_TYPE_F32, static_cast<int>(s.size()), s.data());
    ggml_tensor* b = s.size() == 4 ? ggml_new_tensor_4d(ctx_static.get(), GGML_TYPE_F32, 1, 1, s[3], 1)
                                   : ggml_new_tensor_1d(ctx_static.get(), GGML_TYPE_F32, s[1]);
    ggml_set_name(w, fmt::format("w{}", l).c_str());
    ggml_set_name(b, fmt::format("b{}", l).c_str());
    params.emplace_back(w, b);
  }
  std::unique_ptr<ggml_backend_buffer, BufFree> buf(ggml_backend_alloc_ctx_tensors(ctx_static.get(), backend.get()));
  if (!buf) return Internal("could not allocate the model's parameters");

  // PyTorch's default initialisation for Linear/Conv2d: U(-1/sqrt(fan_in), +1/sqrt(fan_in)).
  std::mt19937_64 rng(o.seed);
  for (auto& [w, b] : params) {
    int64_t fan_in = ggml_n_dims(w) == 4 ? w->ne[0] * w->ne[1] * w->ne[2] : w->ne[0];
    std::uniform_real_distribution<float> u(-1.0f / std::sqrt(static_cast<float>(fan_in)),
                                            1.0f / std::sqrt(static_cast<float>(fan_in)));
    std::vector<float> wv(static_cast<size_t>(ggml_nelements(w))), bv(static_cast<size_t>(ggml_nelements(b)));
    for (float& v : wv) v = u(rng);
    for (float& v : bv) v = u(rng);
    ggml_backend_tensor_set(w, wv.data(), 0, ggml_nbytes(w));
    ggml_backend_tensor_set(b, bv.data(), 0, ggml_nbytes(b));
    ggml_set_param(w);
    ggml_set_param(b);
  }

  // --- the forward graph ---
  const size_t compute_size =
      1024 * ggml_tensor_overhead() + 4 * ggml_graph_overhead_custom(GGML_DEFAULT_GRAPH_SIZE, /*grads=*/true);
  std::unique_ptr<ggml_context, CtxFree> ctx_compute(ggml_init({compute_size, nullptr, /*no_alloc=*/true}));
  ggml_context* ctx = ctx_compute.get();
  ggml_tensor* x = input;
  if (nll) x = ggml_cont(ctx, ggml_view_2d(ctx, input, kImagePixels, o.batch, input->nb[1], 0));  // [784, batch]
  ggml_tensor* out = nullptr;
  if (o.arch == Arch::kMlp) {
    ggml_tensor* h1 = ggml_relu(ctx, ggml_add(ctx, ggml_mul_mat(ctx, params[0].first, x), params[0].second));
    ggml_tensor* h2 = ggml_relu(ctx, ggml_add(ctx, ggml_mul_mat(ctx, params[1].first, h1), params[1].second));
    out = ggml_add(ctx, ggml_mul_mat(ctx, params[2].first, h2), params[2].second);  // [n_out, batch]
  } else {
    ggml_tensor* img = ggml_reshape_4d(ctx, x, kImageSide, kImageSide, 1, o.batch);  // [28, 28, 1, batch]
    ggml_tensor* c1 = ggml_conv_2d(ctx, params[0].first, img, 1, 1, 1, 1, 1, 1);     // [28, 28, c1, batch]
    c1 = ggml_relu(ctx, ggml_add(ctx, c1, params[0].second));
    c1 = ggml_pool_2d(ctx, c1, GGML_OP_POOL_MAX, 2, 2, 2, 2, 0, 0);                  // [14, 14, c1, batch]
    ggml_tensor* c2 = ggml_conv_2d(ctx, params[1].first, c1, 1, 1, 1, 1, 1, 1);      // [14, 14, c2, batch]
    c2 = ggml_relu(ctx, ggml_add(ctx, c2, params[1].second));
    c2 = ggml_pool_2d(ctx, c2, GGML_OP_POOL_MAX, 2, 2, 2, 2, 0, 0);                  // [7, 7, c2, batch]
    ggml_tensor* flat = ggml_reshape_2d(ctx, ggml_cont(ctx, c2), c2->ne[0] * c2->ne[1] * c2->ne[2], o.batch);
    out = ggml_add(ctx, ggml_mul_mat(ctx, params[2].first, flat), params[2].second);  // [n_out, batch]
  }
  ggml_opt_loss_type loss_type = GGML_OPT_LOSS_TYPE_CROSS_ENTROPY;
  if (o.loss == Loss::kMse || o.loss == Loss::kReward) loss_type = GGML_OPT_LOSS_TYPE_MEAN_SQUARED_ERROR;
  if (nll) {
    // Per-example NLL without the constant: 0.5 * (s + (y - mu)^2 * exp(-s)), s = log variance.
    ggml_tensor* mu = ggml_cont(ctx, ggml_view_2d(ctx, out, 1, o.batch, out->nb[1], 0));
    ggml_tensor* s = ggml_cont(ctx, ggml_view_2d(ctx, out, 1, o.batch, out->nb[1], sizeof(float)));
    ggml_tensor* y = ggml_cont(ctx, ggml_view_2d(ctx, input, 1, o.batch, input->nb[1], kImagePixels * sizeof(float)));
    ggml_tensor* err2 = ggml_sqr(ctx, ggml_sub(ctx, y, mu));
    out = ggml_scale(ctx, ggml_add(ctx, s, ggml_mul(ctx, err2, ggml_exp(ctx, ggml_scale(ctx, s, -1.0f)))), 0.5f);
    loss_type = GGML_OPT_LOSS_TYPE_MEAN;
  }

  // --- data ---
  std::unique_ptr<ggml_opt_dataset, DatasetFree> dataset(
      ggml_opt_dataset_init(GGML_TYPE_F32, GGML_TYPE_F32, n_in, n_label, n, /*ndata_shard=*/1));
  {
    float* data = static_cast<float*>(ggml_opt_dataset_data(dataset.get())->data);      // [n_in, n]
    for (int64_t i = 0; i < n; ++i) {
      std::copy(train.image(i), train.image(i) + kImagePixels, data + i * n_in);
      if (nll) data[i * n_in + kImagePixels] = static_cast<float>(RegressionTarget(train.labels[i]));
    }
    if (!nll) {
      float* lab = static_cast<float*>(ggml_opt_dataset_labels(dataset.get())->data);  // [10, n]
      for (int64_t i = 0; i < n; ++i)
        for (int c = 0; c < kNumClasses; ++c) {
          bool hit = c == train.labels[i];
          lab[i * kNumClasses + c] = o.loss == Loss::kReward ? static_cast<float>(hit ? kRewardRight : kRewardWrong)
                                                             : (hit ? 1.0f : 0.0f);
        }
    }
  }

  // --- optimise ---
  OptimizerState opt_state{o.learning_rate, o.weight_decay};
  ggml_opt_params op = ggml_opt_default_params(sched.get(), loss_type);
  op.ctx_compute = ctx;
  op.inputs = input;
  op.outputs = out;
  op.opt_period = 1;
  op.get_opt_pars = GetOptimizerParams;
  op.get_opt_pars_ud = &opt_state;
  op.optimizer = GGML_OPT_OPTIMIZER_TYPE_ADAMW;
  std::unique_ptr<ggml_opt_context, OptFree> opt(ggml_opt_init(op));
  std::unique_ptr<ggml_opt_result, ResultFree> result(ggml_opt_result_init());
  t_progress = {&progress, 0, o.epochs};
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    t_progress.epoch = epoch;
    ggml_opt_dataset_shuffle(opt.get(), dataset.get(), -1);
    ggml_opt_result_reset(result.get());
    ggml_opt_epoch(opt.get(), dataset.get(), result.get(), nullptr, n, OnBatch, nullptr);
  }
  t_progress = {};
  double loss = 0, unc = 0;
  ggml_opt_result_loss(result.get(), &loss, &unc);
  if (!std::isfinite(loss))
    return InvalidArgument(fmt::format("training diverged (loss {}); lower the learning rate", loss));
  model.final_train_loss = loss;

  for (auto& [w, b] : params) {
    Layer layer;
    for (int d = 0; d < ggml_n_dims(w); ++d) layer.shape.push_back(w->ne[d]);
    layer.weight.resize(static_cast<size_t>(ggml_nelements(w)));
    layer.bias.resize(static_cast<size_t>(ggml_nelements(b)));
    ggml_backend_tensor_get(w, layer.weight.data(), 0, ggml_nbytes(w));
    ggml_backend_tensor_get(b, layer.bias.data(), 0, ggml_nbytes(b));
    model.layers.push_back(std::move(layer));
  }
  model.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return model;
}

namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// x: [n, in] -> [n, out] = x W^T + b for a dense layer stored as w[o * in + i].
RowMatrix Dense(const RowMatrix& x, const Layer& l) {
  Eigen::Map<const RowMatrix> w(l.weight.data(), l.shape[1], l.shape[0]);
  Eigen::Map<const Eigen::RowVectorXf> b(l.bias.data(), l.shape[1]);
  RowMatrix y = x * w.transpose();
  y.rowwise() += b;
  return y;
}

// 3x3 convolution, stride 1, zero padding 1, + bias, ReLU, then 2x2 max
// pooling. in: [in_ch, side, side] for one image -> [out_ch, side/2, side/2].
// Returns the L2 norm of the pooled activation (the feature norm).
float ConvReluPool(const float* in, int side, const Layer& l, float* out) {
  const int in_ch = static_cast<int>(l.shape[2]), out_ch = static_cast<int>(l.shape[3]);
  std::vector<float> full(static_cast<size_t>(side * side));
  const int half = side / 2;
  double norm2 = 0;
  for (int oc = 0; oc < out_ch; ++oc) {
    std::fill(full.begin(), full.end(), l.bias[oc]);
    for (int ic = 0; ic < in_ch; ++ic) {
      const float* k = l.weight.data() + (oc * in_ch + ic) * 9;
      const float* src = in + ic * side * side;
      for (int y = 0; y < side; ++y)
        for (int x = 0; x < side; ++x) {
          float acc = 0;
          for (int ky = 0; ky < 3; ++ky) {
            int sy = y + ky - 1;
            if (sy < 0 || sy >= side) continue;
            for (int kx = 0; kx < 3; ++kx) {
              int sx = x + kx - 1;
              if (sx < 0 || sx >= side) continue;
              acc += k[ky * 3 + kx] * src[sy * side + sx];
            }
          }
          full[y * side + x] += acc;
        }
    }
    for (int y = 0; y < half; ++y)
      for (int x = 0; x < half; ++x) {
        float m = std::max(std::max(full[2 * y * side + 2 * x], full[2 * y * side + 2 * x + 1]),
                           std::max(full[(2 * y + 1) * side + 2 * x], full[(2 * y + 1) * side + 2 * x + 1]));
        m = std::max(m, 0.0f);  // ReLU commutes with max pooling
        out[(oc * half + y) * half + x] = m;
        norm2 += static_cast<double>(m) * m;
      }
  }
  return static_cast<float>(std::sqrt(norm2));
}

}  // namespace

Predictions Predict(const Classifier& model, const ImageSet& images) {
  Predictions p;
  p.n_outputs = model.n_outputs;
  const int64_t n = images.size();
  p.outputs.resize(static_cast<size_t>(n * model.n_outputs));
  p.feature_names = model.arch == Arch::kMlp ? std::vector<std::string>{"dense1", "dense2"}
                                             : std::vector<std::string>{"conv1", "conv2"};
  p.feature_norms.assign(2, std::vector<float>(static_cast<size_t>(n)));
  constexpr int64_t kChunk = 256;
  for (int64_t s = 0; s < n; s += kChunk) {
    const int64_t m = std::min(kChunk, n - s);
    RowMatrix logits;
    if (model.arch == Arch::kMlp) {
      Eigen::Map<const RowMatrix> x(images.image(s), m, kImagePixels);
      RowMatrix h1 = Dense(x, model.layers[0]).cwiseMax(0.0f);
      RowMatrix h2 = Dense(h1, model.layers[1]).cwiseMax(0.0f);
      for (int64_t i = 0; i < m; ++i) {
        p.feature_norms[0][s + i] = h1.row(i).norm();
        p.feature_norms[1][s + i] = h2.row(i).norm();
      }
      logits = Dense(h2, model.layers[2]);
    } else {
      const Layer& c1 = model.layers[0];
      const Layer& c2 = model.layers[1];
      const int side1 = kImageSide / 2, side2 = kImageSide / 4;
      std::vector<float> a1(static_cast<size_t>(c1.shape[3] * side1 * side1));
      RowMatrix flat(m, c2.shape[3] * side2 * side2);
      for (int64_t i = 0; i < m; ++i) {
        p.feature_norms[0][s + i] = ConvReluPool(images.image(s + i), kImageSide, c1, a1.data());
        p.feature_norms[1][s + i] = ConvReluPool(a1.data(), side1, c2, flat.row(i).data());
      }
      logits = Dense(flat, model.layers[2]);
    }
    std::copy(logits.data(), logits.data() + logits.size(), p.outputs.begin() + s * model.n_outputs);
  }
  return p;
}

double Accuracy(const Classifier& model, const Predictions& p, const ImageSet& images) {
  if (images.size() == 0) return 0;
  int64_t right = 0;
  for (int64_t i = 0; i < images.size(); ++i) {
    const float* o = p.outputs.data() + i * p.n_outputs;
    int pred;
    if (model.loss == Loss::kGaussianNll) {
      pred = static_cast<int>(std::lround(o[0] * kTargetStd + kTargetMean));
      pred = std::clamp(pred, 0, kNumClasses - 1);
    } else {
      pred = static_cast<int>(std::max_element(o, o + p.n_outputs) - o);
    }
    right += pred == images.labels[i];
  }
  return static_cast<double>(right) / static_cast<double>(images.size());
}

}  // namespace lmlab::ood
