#include "lmlab/ood/classifier.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <random>
#include <thread>

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
// Images per forward (and backward) graph outside training.
constexpr int64_t kEvalBatch = 128;

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
struct GallocFree {
  void operator()(ggml_gallocr* g) const { ggml_gallocr_free(g); }
};
using CtxPtr = std::unique_ptr<ggml_context, CtxFree>;
using BackendPtr = std::unique_ptr<ggml_backend, BackendFree>;
using BufPtr = std::unique_ptr<ggml_backend_buffer, BufFree>;

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

bool IsConv(const std::vector<int64_t>& shape) { return shape.size() == 4; }

// The layer shapes of an architecture (ggml ne order).
std::vector<std::vector<int64_t>> LayerShapes(const TrainOptions& o) {
  const int64_t out = OutputsFor(o.loss);
  switch (o.arch) {
    case Arch::kMlp:
      return {{kImagePixels, o.mlp_hidden1}, {o.mlp_hidden1, o.mlp_hidden2}, {o.mlp_hidden2, out}};
    case Arch::kCnn: {
      int64_t flat = o.cnn_channels2 * (kImageSide / 4) * (kImageSide / 4);
      return {{3, 3, 1, o.cnn_channels1}, {3, 3, o.cnn_channels1, o.cnn_channels2}, {flat, out}};
    }
    case Arch::kPaperCnn:
      // 28 -> 26 -> 24 (3x3 without padding) -> 12 (pool): 64 * 12 * 12 = 9216.
      return {{3, 3, 1, 32}, {3, 3, 32, 64}, {9216, 128}, {128, out}};
  }
  return {};
}

std::vector<std::string> FeatureNames(Arch arch) {
  switch (arch) {
    case Arch::kMlp: return {"dense1", "dense2"};
    case Arch::kCnn: return {"conv1", "conv2"};
    case Arch::kPaperCnn: return {"conv1", "conv2", "dense1"};
  }
  return {};
}

using Params = std::vector<std::pair<ggml_tensor*, ggml_tensor*>>;  // (weight, bias) per layer

// A convolution in f32 (ggml_conv_2d rounds its im2col buffer to f16), plus
// bias and ReLU. kernel [kw, kh, in_ch, out_ch], x [w, h, in_ch, n] ->
// [w', h', out_ch, n].
ggml_tensor* ConvRelu(ggml_context* ctx, ggml_tensor* kernel, ggml_tensor* bias, ggml_tensor* x, int pad) {
  ggml_tensor* cols = ggml_im2col(ctx, kernel, x, 1, 1, pad, pad, 1, 1, true, GGML_TYPE_F32);  // [kw*kh*ic, w', h', n]
  ggml_tensor* y = ggml_mul_mat(ctx, ggml_reshape_2d(ctx, cols, cols->ne[0], cols->ne[1] * cols->ne[2] * cols->ne[3]),
                                ggml_reshape_2d(ctx, kernel, kernel->ne[0] * kernel->ne[1] * kernel->ne[2],
                                                kernel->ne[3]));  // [w'*h'*n, oc]
  y = ggml_reshape_4d(ctx, y, cols->ne[1], cols->ne[2], cols->ne[3], kernel->ne[3]);  // [w', h', n, oc]
  y = ggml_cont(ctx, ggml_permute(ctx, y, 0, 1, 3, 2));                               // [w', h', oc, n]
  return ggml_relu(ctx, ggml_add(ctx, y, bias));
}

ggml_tensor* DenseLayer(ggml_context* ctx, const std::pair<ggml_tensor*, ggml_tensor*>& p, ggml_tensor* x) {
  return ggml_add(ctx, ggml_mul_mat(ctx, p.first, x), p.second);
}

struct Forward {
  ggml_tensor* out = nullptr;         // [n_outputs, batch]
  std::vector<ggml_tensor*> hidden;   // each holds one image's activation contiguously; the last is the penultimate layer
};

// The network of `arch` over x [784, batch]. One definition for training,
// inference and input gradients.
Forward BuildForward(ggml_context* ctx, Arch arch, const Params& p, ggml_tensor* x, int64_t batch) {
  Forward f;
  if (arch == Arch::kMlp) {
    ggml_tensor* h1 = ggml_relu(ctx, DenseLayer(ctx, p[0], x));
    ggml_tensor* h2 = ggml_relu(ctx, DenseLayer(ctx, p[1], h1));
    f.hidden = {h1, h2};
    f.out = DenseLayer(ctx, p[2], h2);
    return f;
  }
  ggml_tensor* img = ggml_reshape_4d(ctx, x, kImageSide, kImageSide, 1, batch);  // [28, 28, 1, batch]
  if (arch == Arch::kCnn) {
    ggml_tensor* c1 = ggml_pool_2d(ctx, ConvRelu(ctx, p[0].first, p[0].second, img, 1), GGML_OP_POOL_MAX, 2, 2, 2, 2,
                                   0, 0);  // [14, 14, c1, batch]
    ggml_tensor* c2 = ggml_pool_2d(ctx, ConvRelu(ctx, p[1].first, p[1].second, c1, 1), GGML_OP_POOL_MAX, 2, 2, 2, 2,
                                   0, 0);  // [7, 7, c2, batch]
    ggml_tensor* flat = ggml_reshape_2d(ctx, c2, c2->ne[0] * c2->ne[1] * c2->ne[2], batch);
    f.hidden = {c1, flat};
    f.out = DenseLayer(ctx, p[2], flat);
    return f;
  }
  ggml_tensor* c1 = ConvRelu(ctx, p[0].first, p[0].second, img, 0);                    // [26, 26, 32, batch]
  ggml_tensor* c2 = ConvRelu(ctx, p[1].first, p[1].second, c1, 0);                     // [24, 24, 64, batch]
  c2 = ggml_pool_2d(ctx, c2, GGML_OP_POOL_MAX, 2, 2, 2, 2, 0, 0);                      // [12, 12, 64, batch]
  ggml_tensor* flat = ggml_reshape_2d(ctx, c2, c2->ne[0] * c2->ne[1] * c2->ne[2], batch);  // [9216, batch]
  ggml_tensor* d1 = ggml_relu(ctx, DenseLayer(ctx, p[2], flat));                       // [128, batch]
  f.hidden = {c1, flat, d1};
  f.out = DenseLayer(ctx, p[3], d1);
  return f;
}

// Per-image training loss of `out` [n_out, batch] for the targets carried by
// `target` ([n_out, batch] one-hot or rewards; NLL: [1, batch] regression
// targets), summed over the batch. CE uses ggml's fused loss, which divides
// by the batch; it is scaled back so every loss is a plain sum.
ggml_tensor* BatchLoss(ggml_context* ctx, Loss loss, ggml_tensor* out, ggml_tensor* target, int64_t batch) {
  switch (loss) {
    case Loss::kCrossEntropy:
    case Loss::kAbstainClass:
      return ggml_scale(ctx, ggml_cross_entropy_loss(ctx, out, target), static_cast<float>(batch));
    case Loss::kMse:
    case Loss::kReward: return ggml_sum(ctx, ggml_sqr(ctx, ggml_sub(ctx, out, target)));
    case Loss::kGaussianNll: {
      // 0.5 * (s + (y - mu)^2 * exp(-s)), s = log variance.
      ggml_tensor* mu = ggml_cont(ctx, ggml_view_2d(ctx, out, 1, batch, out->nb[1], 0));
      ggml_tensor* s = ggml_cont(ctx, ggml_view_2d(ctx, out, 1, batch, out->nb[1], sizeof(float)));
      ggml_tensor* err2 = ggml_sqr(ctx, ggml_sub(ctx, ggml_cont(ctx, target), mu));
      return ggml_sum(ctx, ggml_scale(ctx, ggml_add(ctx, s, ggml_mul(ctx, err2, ggml_exp(ctx, ggml_scale(ctx, s, -1.0f)))),
                                      0.5f));
    }
  }
  return nullptr;
}

// The target row of image `label` for `loss`: [n_out] (one-hot, rewards) or [1] (NLL).
void FillTarget(Loss loss, int32_t label, float* row) {
  switch (loss) {
    case Loss::kGaussianNll: row[0] = static_cast<float>(RegressionTarget(label)); return;
    case Loss::kReward:
      for (int c = 0; c < kNumClasses; ++c) row[c] = static_cast<float>(c == label ? kRewardRight : kRewardWrong);
      row[kAbstainAction] = static_cast<float>(kRewardAbstain);
      return;
    default:
      for (int c = 0; c < OutputsFor(loss); ++c) row[c] = c == label ? 1.0f : 0.0f;
  }
}
int TargetWidth(Loss loss) { return loss == Loss::kGaussianNll ? 1 : OutputsFor(loss); }

// A trained model's parameters as constant tensors in a CPU backend buffer.
struct LoadedModel {
  BackendPtr backend;
  CtxPtr ctx;
  BufPtr buffer;
  Params params;
};

Result<LoadedModel> Load(const Classifier& model, int threads) {
  LoadedModel m;
  m.backend.reset(ggml_backend_cpu_init());
  if (!m.backend) return Internal("ggml CPU backend failed to initialise");
  ggml_backend_cpu_set_n_threads(m.backend.get(), ResolveThreads(threads));
  m.ctx.reset(ggml_init({(2 * model.layers.size() + 2) * ggml_tensor_overhead(), nullptr, /*no_alloc=*/true}));
  for (const Layer& l : model.layers) {
    ggml_tensor* w = ggml_new_tensor(m.ctx.get(), GGML_TYPE_F32, static_cast<int>(l.shape.size()), l.shape.data());
    ggml_tensor* b = IsConv(l.shape) ? ggml_new_tensor_4d(m.ctx.get(), GGML_TYPE_F32, 1, 1, l.shape[3], 1)
                                     : ggml_new_tensor_1d(m.ctx.get(), GGML_TYPE_F32, l.shape[1]);
    if (static_cast<size_t>(ggml_nelements(w)) != l.weight.size() ||
        static_cast<size_t>(ggml_nelements(b)) != l.bias.size())
      return InvalidArgument("a layer's parameters do not match its shape");
    m.params.emplace_back(w, b);
  }
  m.buffer.reset(ggml_backend_alloc_ctx_tensors(m.ctx.get(), m.backend.get()));
  if (!m.buffer) return Internal("could not allocate the model's parameters");
  for (size_t i = 0; i < model.layers.size(); ++i) {
    ggml_backend_tensor_set(m.params[i].first, model.layers[i].weight.data(), 0, ggml_nbytes(m.params[i].first));
    ggml_backend_tensor_set(m.params[i].second, model.layers[i].bias.data(), 0, ggml_nbytes(m.params[i].second));
  }
  return m;
}

// One graph over kEvalBatch images: the forward pass, and with `gradient` the
// summed loss and its gradient with respect to the input.
struct EvalGraph {
  CtxPtr ctx;
  ggml_cgraph* graph = nullptr;
  ggml_tensor* input = nullptr;   // [784, batch]
  ggml_tensor* target = nullptr;  // gradient graphs: [target width, batch]
  Forward forward;
  ggml_tensor* input_grad = nullptr;
  std::unique_ptr<ggml_gallocr, GallocFree> galloc;
};

Result<EvalGraph> BuildEvalGraph(const Classifier& model, const LoadedModel& m, bool gradient) {
  EvalGraph g;
  const size_t graph_size = 4096;
  g.ctx.reset(ggml_init({1024 * ggml_tensor_overhead() + ggml_graph_overhead_custom(graph_size, gradient), nullptr,
                         /*no_alloc=*/true}));
  ggml_context* ctx = g.ctx.get();
  g.input = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, kImagePixels, kEvalBatch);
  ggml_set_input(g.input);
  if (gradient) ggml_set_param(g.input);  // the only "parameter": gradients flow to the pixels, not the weights
  g.forward = BuildForward(ctx, model.arch, m.params, g.input, kEvalBatch);
  ggml_set_output(g.forward.out);
  for (ggml_tensor* h : g.forward.hidden) ggml_set_output(h);
  g.graph = ggml_new_graph_custom(ctx, graph_size, gradient);
  if (gradient) {
    g.target = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, TargetWidth(model.loss), kEvalBatch);
    ggml_set_input(g.target);
    ggml_tensor* loss = BatchLoss(ctx, model.loss, g.forward.out, g.target, kEvalBatch);
    ggml_set_loss(loss);
    ggml_build_forward_expand(g.graph, loss);
    ggml_build_backward_expand(ctx, g.graph, nullptr);
    g.input_grad = ggml_graph_get_grad(g.graph, g.input);
    if (!g.input_grad) return Internal("ggml built no gradient for the input");
    ggml_set_output(g.input_grad);
  } else {
    ggml_build_forward_expand(g.graph, g.forward.out);
  }
  g.galloc.reset(ggml_gallocr_new(ggml_backend_get_default_buffer_type(m.backend.get())));
  if (!ggml_gallocr_alloc_graph(g.galloc.get(), g.graph)) return Internal("could not allocate the evaluation graph");
  return g;
}

// Runs `g` over every image in chunks of kEvalBatch (the last one padded
// with zeros); `each(first, count)` reads the results of images first..first+count.
template <class F>
Status RunBatches(const Classifier& model, const LoadedModel& m, EvalGraph& g, const ImageSet& images, F&& each) {
  const int64_t n = images.size();
  std::vector<float> input(static_cast<size_t>(kImagePixels * kEvalBatch));
  std::vector<float> target(g.target ? static_cast<size_t>(ggml_nelements(g.target)) : 0);
  const int width = TargetWidth(model.loss);
  for (int64_t s = 0; s < n; s += kEvalBatch) {
    const int64_t count = std::min(kEvalBatch, n - s);
    std::fill(input.begin(), input.end(), 0.0f);
    std::copy(images.image(s), images.image(s) + count * kImagePixels, input.begin());
    ggml_backend_tensor_set(g.input, input.data(), 0, ggml_nbytes(g.input));
    if (g.target) {
      std::fill(target.begin(), target.end(), 0.0f);
      for (int64_t i = 0; i < count; ++i) FillTarget(model.loss, images.labels[s + i], target.data() + i * width);
      ggml_backend_tensor_set(g.target, target.data(), 0, ggml_nbytes(g.target));
      ggml_graph_reset(g.graph);  // d loss / d loss = 1, other accumulators 0
    }
    if (ggml_backend_graph_compute(m.backend.get(), g.graph) != GGML_STATUS_SUCCESS)
      return Internal("ggml failed to evaluate the model");
    each(s, count);
  }
  return {};
}

}  // namespace

std::string_view ArchName(Arch a) {
  switch (a) {
    case Arch::kMlp: return "mlp";
    case Arch::kCnn: return "cnn";
    case Arch::kPaperCnn: return "paper-cnn";
  }
  return "?";
}

std::string_view LossName(Loss l) {
  switch (l) {
    case Loss::kCrossEntropy: return "ce";
    case Loss::kMse: return "mse";
    case Loss::kGaussianNll: return "nll";
    case Loss::kReward: return "reward";
    case Loss::kAbstainClass: return "xent+1";
  }
  return "?";
}

Result<Arch> ParseArch(std::string_view s) {
  for (Arch a : {Arch::kMlp, Arch::kCnn, Arch::kPaperCnn})
    if (ArchName(a) == s) return a;
  return InvalidArgument(fmt::format("unknown architecture '{}': use mlp, cnn or paper-cnn", s));
}

Result<Loss> ParseLoss(std::string_view s) {
  for (Loss l : {Loss::kCrossEntropy, Loss::kMse, Loss::kGaussianNll, Loss::kReward, Loss::kAbstainClass})
    if (LossName(l) == s) return l;
  return InvalidArgument(fmt::format("unknown loss '{}': use ce, mse, nll, reward or xent+1", s));
}

int OutputsFor(Loss loss) {
  switch (loss) {
    case Loss::kGaussianNll: return 2;
    case Loss::kReward:
    case Loss::kAbstainClass: return kNumClasses + 1;
    default: return kNumClasses;
  }
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
  const int64_t n_label = nll ? 0 : model.n_outputs;

  // --- the OCS of this training set ---
  std::span<const int32_t> labels(train.labels.data(), static_cast<size_t>(n));
  std::vector<double> marginal = LabelMarginal(labels, kNumClasses);
  if (o.loss == Loss::kReward) {
    for (double p : marginal) model.ocs.push_back(p * kRewardRight + (1 - p) * kRewardWrong);
    model.ocs.push_back(kRewardAbstain);
  } else if (!nll) {
    model.ocs = marginal;
    if (o.loss == Loss::kAbstainClass) model.ocs.push_back(0.0);
  } else {
    double sum = 0, sq = 0;
    for (int32_t y : labels) sum += RegressionTarget(y);
    model.ocs_mean = sum / n;
    for (int32_t y : labels) sq += (RegressionTarget(y) - model.ocs_mean) * (RegressionTarget(y) - model.ocs_mean);
    model.ocs_var = sq / n;
  }

  // --- backend ---
  BackendPtr backend(ggml_backend_cpu_init());
  if (!backend) return Internal("ggml CPU backend failed to initialise");
  ggml_backend_cpu_set_n_threads(backend.get(), ResolveThreads(o.threads));
  ggml_backend_t backends[] = {backend.get()};
  std::unique_ptr<ggml_backend_sched, SchedFree> sched(
      ggml_backend_sched_new(backends, nullptr, 1, GGML_DEFAULT_GRAPH_SIZE, false, true));

  // --- parameters and the input batch (static: they live across batches) ---
  CtxPtr ctx_static(ggml_init({/*mem_size=*/16 * ggml_tensor_overhead(), /*mem_buffer=*/nullptr, /*no_alloc=*/true}));
  ggml_tensor* input = ggml_new_tensor_2d(ctx_static.get(), GGML_TYPE_F32, n_in, o.batch);  // [n_in, batch]
  ggml_set_name(input, "images");
  ggml_set_input(input);
  auto shapes = LayerShapes(o);
  Params params;
  for (size_t l = 0; l < shapes.size(); ++l) {
    const auto& s = shapes[l];
    ggml_tensor* w = ggml_new_tensor(ctx_static.get(), GGML_TYPE_F32, static_cast<int>(s.size()), s.data());
    ggml_tensor* b = IsConv(s) ? ggml_new_tensor_4d(ctx_static.get(), GGML_TYPE_F32, 1, 1, s[3], 1)
                               : ggml_new_tensor_1d(ctx_static.get(), GGML_TYPE_F32, s[1]);
    ggml_set_name(w, fmt::format("w{}", l).c_str());
    ggml_set_name(b, fmt::format("b{}", l).c_str());
    params.emplace_back(w, b);
  }
  BufPtr buf(ggml_backend_alloc_ctx_tensors(ctx_static.get(), backend.get()));
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
  CtxPtr ctx_compute(ggml_init({compute_size, nullptr, /*no_alloc=*/true}));
  ggml_context* ctx = ctx_compute.get();
  ggml_tensor* x = input;
  if (nll) x = ggml_cont(ctx, ggml_view_2d(ctx, input, kImagePixels, o.batch, input->nb[1], 0));  // [784, batch]
  ggml_tensor* out = BuildForward(ctx, o.arch, params, x, o.batch).out;  // [n_out, batch]
  ggml_opt_loss_type loss_type = GGML_OPT_LOSS_TYPE_CROSS_ENTROPY;
  if (o.loss == Loss::kMse || o.loss == Loss::kReward) loss_type = GGML_OPT_LOSS_TYPE_MEAN_SQUARED_ERROR;
  if (nll) {
    // ggml-opt's MEAN loss averages this per-example NLL over the batch.
    ggml_tensor* y = ggml_view_2d(ctx, input, 1, o.batch, input->nb[1], kImagePixels * sizeof(float));
    out = ggml_scale(ctx, BatchLoss(ctx, Loss::kGaussianNll, out, y, o.batch), 1.0f / static_cast<float>(o.batch));
    loss_type = GGML_OPT_LOSS_TYPE_MEAN;
  }

  // --- data ---
  std::unique_ptr<ggml_opt_dataset, DatasetFree> dataset(
      ggml_opt_dataset_init(GGML_TYPE_F32, GGML_TYPE_F32, n_in, n_label, n, /*ndata_shard=*/1));
  {
    float* data = static_cast<float*>(ggml_opt_dataset_data(dataset.get())->data);  // [n_in, n]
    for (int64_t i = 0; i < n; ++i) {
      std::copy(train.image(i), train.image(i) + kImagePixels, data + i * n_in);
      if (nll) FillTarget(o.loss, train.labels[i], data + i * n_in + kImagePixels);
    }
    if (!nll) {
      float* lab = static_cast<float*>(ggml_opt_dataset_labels(dataset.get())->data);  // [n_out, n]
      for (int64_t i = 0; i < n; ++i) FillTarget(o.loss, train.labels[i], lab + i * n_label);
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

Result<Predictions> Predict(const Classifier& model, const ImageSet& images, int threads) {
  LMLAB_ASSIGN_OR_RETURN(LoadedModel m, Load(model, threads));
  LMLAB_ASSIGN_OR_RETURN(EvalGraph g, BuildEvalGraph(model, m, /*gradient=*/false));
  Predictions p;
  p.n_outputs = model.n_outputs;
  const int64_t n = images.size();
  p.outputs.resize(static_cast<size_t>(n * model.n_outputs));
  p.feature_names = FeatureNames(model.arch);
  p.feature_norms.assign(g.forward.hidden.size(), std::vector<float>(static_cast<size_t>(n)));
  ggml_tensor* last = g.forward.hidden.back();
  p.feature_dim = static_cast<int>(ggml_nelements(last) / kEvalBatch);
  p.features.resize(static_cast<size_t>(n * p.feature_dim));
  std::vector<float> buf;
  LMLAB_RETURN_IF_ERROR(RunBatches(model, m, g, images, [&](int64_t s, int64_t count) {
    ggml_backend_tensor_get(g.forward.out, p.outputs.data() + s * model.n_outputs, 0,
                            static_cast<size_t>(count * model.n_outputs) * sizeof(float));
    for (size_t h = 0; h < g.forward.hidden.size(); ++h) {
      ggml_tensor* t = g.forward.hidden[h];
      const int64_t width = ggml_nelements(t) / kEvalBatch;  // one image's activation, contiguous
      buf.resize(static_cast<size_t>(count * width));
      ggml_backend_tensor_get(t, buf.data(), 0, buf.size() * sizeof(float));
      for (int64_t i = 0; i < count; ++i) {
        double sq = 0;
        for (int64_t k = 0; k < width; ++k) sq += static_cast<double>(buf[i * width + k]) * buf[i * width + k];
        p.feature_norms[h][s + i] = static_cast<float>(std::sqrt(sq));
      }
      if (t == last) std::copy(buf.begin(), buf.end(), p.features.begin() + s * width);
    }
  }));
  return p;
}

std::vector<double> PerImageLoss(const Classifier& model, const Predictions& p, const ImageSet& images) {
  std::vector<double> out(static_cast<size_t>(images.size()));
  std::vector<float> target(static_cast<size_t>(TargetWidth(model.loss)));
  for (int64_t i = 0; i < images.size(); ++i) {
    std::span<const float> o(p.outputs.data() + i * p.n_outputs, static_cast<size_t>(p.n_outputs));
    FillTarget(model.loss, images.labels[i], target.data());
    double l = 0;
    switch (model.loss) {
      case Loss::kCrossEntropy:
      case Loss::kAbstainClass: l = -std::log(std::max(Softmax(o)[images.labels[i]], 1e-300)); break;
      case Loss::kMse:
      case Loss::kReward:
        for (size_t c = 0; c < o.size(); ++c) l += (o[c] - target[c]) * (o[c] - target[c]);
        break;
      case Loss::kGaussianNll:
        l = 0.5 * (o[1] + (target[0] - o[0]) * (target[0] - o[0]) * std::exp(-static_cast<double>(o[1])));
        break;
    }
    out[static_cast<size_t>(i)] = l;
  }
  return out;
}

Result<std::vector<float>> InputGradients(const Classifier& model, const ImageSet& images, int threads) {
  LMLAB_ASSIGN_OR_RETURN(LoadedModel m, Load(model, threads));
  LMLAB_ASSIGN_OR_RETURN(EvalGraph g, BuildEvalGraph(model, m, /*gradient=*/true));
  std::vector<float> grad(static_cast<size_t>(images.size() * kImagePixels));
  LMLAB_RETURN_IF_ERROR(RunBatches(model, m, g, images, [&](int64_t s, int64_t count) {
    // Images are independent in the summed loss, so the padded rows add nothing.
    ggml_backend_tensor_get(g.input_grad, grad.data() + s * kImagePixels, 0,
                            static_cast<size_t>(count * kImagePixels) * sizeof(float));
  }));
  return grad;
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
      pred = static_cast<int>(std::max_element(o, o + kNumClasses) - o);  // the class outputs, never "abstain"
    }
    right += pred == images.labels[i];
  }
  return static_cast<double>(right) / static_cast<double>(images.size());
}

}  // namespace lmlab::ood
