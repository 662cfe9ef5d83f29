#include "lmlab/probe/mlp.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace lmlab::probe {
namespace {

using MatF = Eigen::MatrixXf;
using RowF = Eigen::RowVectorXf;

// AdamW state for one parameter tensor (decoupled weight decay, as PyTorch).
struct Adam {
  MatF m, v;
  void Init(Eigen::Index r, Eigen::Index c) {
    m = MatF::Zero(r, c);
    v = MatF::Zero(r, c);
  }
  void Step(MatF& w, const MatF& g, float lr, float wd, int t) {
    constexpr float kB1 = 0.9f, kB2 = 0.999f, kEps = 1e-8f;
    m = kB1 * m + (1 - kB1) * g;
    v = kB2 * v + (1 - kB2) * g.cwiseProduct(g);
    float c1 = 1 - std::pow(kB1, static_cast<float>(t)), c2 = 1 - std::pow(kB2, static_cast<float>(t));
    if (wd > 0) w *= (1 - lr * wd);
    w.array() -= lr * (m.array() / c1) / ((v.array() / c2).sqrt() + kEps);
  }
};

struct Net {
  MatF w1, w2;
  MatF b1, b2;  // [1, hidden], [1, k]
};

MatF Forward(const Net& net, const MatF& x, MatF* hidden) {
  MatF h = (x * net.w1.transpose()).rowwise() + net.b1.row(0);
  h = h.cwiseMax(0.0f);
  MatF out = (h * net.w2.transpose()).rowwise() + net.b2.row(0);
  if (hidden) *hidden = std::move(h);
  return out;
}

double Mse(const Net& net, const MatF& x, const MatF& y) {
  if (x.rows() == 0) return 0;
  return static_cast<double>((Forward(net, x, nullptr) - y).squaredNorm()) / static_cast<double>(y.size());
}

MatF Rows(const MatF& m, const std::vector<int64_t>& idx, size_t begin, size_t end) {
  MatF out(static_cast<Eigen::Index>(end - begin), m.cols());
  for (size_t i = begin; i < end; ++i) out.row(static_cast<Eigen::Index>(i - begin)) = m.row(idx[i]);
  return out;
}

struct Trained {
  Net net;
  double val = 0;
  int epochs = 0;
};

Trained Train(const MatF& xt, const MatF& yt, const MatF& xv, const MatF& yv, double wd, const MlpOptions& o) {
  std::mt19937_64 rng(o.seed * 7919 + 17);
  const Eigen::Index d = xt.cols(), k = yt.cols(), h = o.hidden;
  auto uniform = [&](Eigen::Index r, Eigen::Index c, double fan_in) {
    std::uniform_real_distribution<float> u(-1.0f / std::sqrt(static_cast<float>(fan_in)),
                                            1.0f / std::sqrt(static_cast<float>(fan_in)));
    MatF m(r, c);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = u(rng);
    return m;
  };
  Net net{uniform(h, d, d), uniform(k, h, h), uniform(1, h, d), uniform(1, k, h)};
  Adam aw1, aw2, ab1, ab2;
  aw1.Init(h, d);
  aw2.Init(k, h);
  ab1.Init(1, h);
  ab2.Init(1, k);
  Trained best{net, std::numeric_limits<double>::infinity(), 0};
  std::vector<int64_t> order(xt.rows());
  std::iota(order.begin(), order.end(), 0);
  int step = 0, since_best = 0;
  const float lr = static_cast<float>(o.learning_rate), decay = static_cast<float>(wd);
  for (int epoch = 1; epoch <= o.max_epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t b = 0; b < order.size(); b += static_cast<size_t>(o.batch_size)) {
      size_t e = std::min(order.size(), b + static_cast<size_t>(o.batch_size));
      MatF xb = Rows(xt, order, b, e), yb = Rows(yt, order, b, e);
      MatF hid;
      MatF out = Forward(net, xb, &hid);
      MatF dout = (out - yb) * (2.0f / static_cast<float>(yb.size()));
      MatF gw2 = dout.transpose() * hid;
      MatF gb2 = dout.colwise().sum();
      MatF dh = (dout * net.w2).cwiseProduct((hid.array() > 0).cast<float>().matrix());
      MatF gw1 = dh.transpose() * xb;
      MatF gb1 = dh.colwise().sum();
      ++step;
      aw1.Step(net.w1, gw1, lr, decay, step);
      aw2.Step(net.w2, gw2, lr, decay, step);
      ab1.Step(net.b1, gb1, lr, 0, step);  // biases are not decayed
      ab2.Step(net.b2, gb2, lr, 0, step);
    }
    double val = Mse(net, xv, yv);
    if (val < best.val) {
      best = {net, val, epoch};
      since_best = 0;
    } else if (++since_best >= o.patience) {
      break;
    }
  }
  return best;
}

}  // namespace

Eigen::MatrixXd MlpProbe::Predict(const Eigen::MatrixXd& x) const {
  MatF xs = ((x.cast<float>().rowwise() - x_mean).array().rowwise() / x_scale.array()).matrix();
  Net net{w1, w2, b1, b2};
  Eigen::MatrixXd out = Forward(net, xs, nullptr).cast<double>();
  out = (out.array().rowwise() * y_scale.array()).matrix();
  out.rowwise() += y_mean;
  return out;
}

Result<MlpProbe> FitMlp(const Eigen::MatrixXd& x, const Eigen::MatrixXd& y, const MlpOptions& o) {
  const Eigen::Index n = x.rows(), k = y.cols();
  if (n < 10) return InvalidArgument(fmt::format("an MLP probe needs at least 10 examples (got {})", n));
  if (y.rows() != n || k == 0 || x.cols() == 0) return InvalidArgument("MLP probe: activations and targets do not match");
  if (!x.allFinite() || !y.allFinite()) return InvalidArgument("MLP probe: NaN or infinity in the inputs");
  if (o.hidden <= 0 || o.batch_size <= 0 || o.max_epochs <= 0 || o.weight_decays.empty() ||
      !(o.validation_fraction > 0 && o.validation_fraction < 1))
    return InvalidArgument("MLP probe: hidden, batch size, epochs must be positive, validation fraction in (0, 1)");

  MlpProbe p;
  p.x_mean = x.colwise().mean().cast<float>();
  p.x_scale = ((x.rowwise() - x.colwise().mean()).array().square().colwise().mean().sqrt()).cast<float>();
  for (Eigen::Index j = 0; j < p.x_scale.size(); ++j)
    if (!(p.x_scale(j) > 0)) p.x_scale(j) = 1;
  p.y_mean = y.colwise().mean();
  p.y_scale = (y.rowwise() - p.y_mean).array().square().colwise().mean().sqrt();
  for (Eigen::Index j = 0; j < k; ++j)
    if (!(p.y_scale(j) > 0)) p.y_scale(j) = 1;
  MatF xs = ((x.cast<float>().rowwise() - p.x_mean).array().rowwise() / p.x_scale.array()).matrix();
  MatF ys = ((y.rowwise() - p.y_mean).array().rowwise() / p.y_scale.array()).matrix().cast<float>();

  std::vector<int64_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  std::mt19937_64 rng(o.seed);
  std::shuffle(idx.begin(), idx.end(), rng);
  size_t n_val = std::max<size_t>(1, static_cast<size_t>(std::round(o.validation_fraction * static_cast<double>(n))));
  MatF xv = Rows(xs, idx, 0, n_val), yv = Rows(ys, idx, 0, n_val);
  MatF xt = Rows(xs, idx, n_val, idx.size()), yt = Rows(ys, idx, n_val, idx.size());

  Trained best;
  best.val = std::numeric_limits<double>::infinity();
  for (double wd : o.weight_decays) {
    Trained t = Train(xt, yt, xv, yv, wd, o);
    p.validation_by_decay.push_back(t.val);
    if (t.val < best.val) {
      best = std::move(t);
      p.weight_decay = wd;
    }
  }
  p.epochs = best.epochs;
  p.validation_mse = best.val;
  p.w1 = best.net.w1;
  p.w2 = best.net.w2;
  p.b1 = best.net.b1.row(0);
  p.b2 = best.net.b2.row(0);
  return p;
}

}  // namespace lmlab::probe
