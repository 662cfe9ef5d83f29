#include "lmlab/ood/shifts.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>
#include <random>

#include <fmt/format.h>

namespace lmlab::ood {
namespace {

void Rotate(const float* in, float* out, double degrees) {
  const double a = degrees * std::numbers::pi / 180.0;
  const double c = std::cos(a), s = std::sin(a), centre = (kImageSide - 1) / 2.0;
  for (int y = 0; y < kImageSide; ++y)
    for (int x = 0; x < kImageSide; ++x) {
      // inverse map: where in the source does output (x, y) come from
      double dx = x - centre, dy = y - centre;
      double sx = c * dx + s * dy + centre, sy = -s * dx + c * dy + centre;
      int x0 = static_cast<int>(std::floor(sx)), y0 = static_cast<int>(std::floor(sy));
      double fx = sx - x0, fy = sy - y0, v = 0;
      auto px = [&](int xx, int yy) {
        return (xx < 0 || yy < 0 || xx >= kImageSide || yy >= kImageSide) ? 0.0 : in[yy * kImageSide + xx];
      };
      v = (1 - fx) * (1 - fy) * px(x0, y0) + fx * (1 - fy) * px(x0 + 1, y0) + (1 - fx) * fy * px(x0, y0 + 1) +
          fx * fy * px(x0 + 1, y0 + 1);
      out[y * kImageSide + x] = static_cast<float>(std::clamp(v, 0.0, 1.0));
    }
}

void Blur(const float* in, float* out, double sigma) {
  int radius = std::max(1, static_cast<int>(std::ceil(3 * sigma)));
  std::vector<double> k(static_cast<size_t>(2 * radius + 1));
  for (int i = -radius; i <= radius; ++i) k[i + radius] = std::exp(-0.5 * i * i / (sigma * sigma));
  double sum = std::accumulate(k.begin(), k.end(), 0.0);
  for (double& v : k) v /= sum;
  std::vector<double> tmp(kImagePixels);
  // separable, zero padding (the background is black)
  for (int y = 0; y < kImageSide; ++y)
    for (int x = 0; x < kImageSide; ++x) {
      double acc = 0;
      for (int i = -radius; i <= radius; ++i)
        if (x + i >= 0 && x + i < kImageSide) acc += k[i + radius] * in[y * kImageSide + x + i];
      tmp[y * kImageSide + x] = acc;
    }
  for (int y = 0; y < kImageSide; ++y)
    for (int x = 0; x < kImageSide; ++x) {
      double acc = 0;
      for (int i = -radius; i <= radius; ++i)
        if (y + i >= 0 && y + i < kImageSide) acc += k[i + radius] * tmp[(y + i) * kImageSide + x];
      out[y * kImageSide + x] = static_cast<float>(std::clamp(acc, 0.0, 1.0));
    }
}

}  // namespace

std::string_view ShiftName(Shift s) {
  switch (s) {
    case Shift::kRotation: return "rotation";
    case Shift::kNoise: return "noise";
    case Shift::kBlur: return "blur";
    case Shift::kContrast: return "contrast";
    case Shift::kPermutation: return "permutation";
    case Shift::kDataset: return "dataset";
  }
  return "?";
}

std::string_view ShiftUnit(Shift s) {
  switch (s) {
    case Shift::kRotation: return "degrees";
    case Shift::kNoise: return "noise sigma";
    case Shift::kBlur: return "blur sigma (px)";
    case Shift::kContrast: return "contrast lost";
    case Shift::kPermutation: return "pixels permuted";
    case Shift::kDataset: return "other-dataset blend";
  }
  return "";
}

Result<Shift> ParseShift(std::string_view s) {
  for (Shift k : AllShifts())
    if (ShiftName(k) == s) return k;
  return InvalidArgument(
      fmt::format("unknown shift '{}': use rotation, noise, blur, contrast, permutation or dataset", s));
}

std::vector<Shift> AllShifts() {
  return {Shift::kRotation, Shift::kNoise, Shift::kBlur, Shift::kContrast, Shift::kPermutation, Shift::kDataset};
}

std::vector<double> DefaultSeverities(Shift s) {
  switch (s) {
    case Shift::kRotation: return {0, 30, 60, 90, 120, 150, 180};
    case Shift::kNoise: return {0, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0};
    case Shift::kBlur: return {0, 0.5, 1, 1.5, 2, 3, 4};
    case Shift::kContrast: return {0, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0};
    case Shift::kPermutation: return {0, 0.1, 0.25, 0.5, 0.75, 1.0};
    case Shift::kDataset: return {0, 0.2, 0.4, 0.6, 0.8, 1.0};
  }
  return {0};
}

Status CheckSeverity(Shift shift, double severity) {
  auto [lo, hi] = [&]() -> std::pair<double, double> {
    switch (shift) {
      case Shift::kRotation: return {0, 360};
      case Shift::kNoise: return {0, 10};
      case Shift::kBlur: return {0, 28};
      default: return {0, 1};
    }
  }();
  if (!(severity >= lo && severity <= hi))
    return InvalidArgument(fmt::format("{} severity {} is outside [{}, {}]", ShiftName(shift), severity, lo, hi));
  return {};
}

Result<ImageSet> ApplyShift(const ImageSet& images, Shift shift, double severity, uint64_t seed,
                            const ImageSet* other) {
  LMLAB_RETURN_IF_ERROR(CheckSeverity(shift, severity));
  if (shift == Shift::kDataset && (!other || other->size() == 0))
    return InvalidArgument("the dataset shift needs the other dataset's images");
  ImageSet out = images;
  out.name = fmt::format("{} {} {}", images.name, ShiftName(shift), severity);
  if (severity == 0) return out;
  std::mt19937_64 rng(seed);
  std::vector<int> perm;
  if (shift == Shift::kPermutation) {
    // A fixed subset of positions, shuffled among themselves.
    std::vector<int> pos(kImagePixels);
    std::iota(pos.begin(), pos.end(), 0);
    std::shuffle(pos.begin(), pos.end(), rng);
    pos.resize(static_cast<size_t>(std::lround(severity * kImagePixels)));
    std::vector<int> target = pos;
    std::shuffle(target.begin(), target.end(), rng);
    perm.resize(kImagePixels);
    std::iota(perm.begin(), perm.end(), 0);
    for (size_t i = 0; i < pos.size(); ++i) perm[pos[i]] = target[i];
  }
  std::normal_distribution<float> gauss(0.0f, static_cast<float>(severity));
  for (int64_t i = 0; i < images.size(); ++i) {
    const float* src = images.image(i);
    float* dst = out.pixels.data() + i * kImagePixels;
    switch (shift) {
      case Shift::kRotation: Rotate(src, dst, severity); break;
      case Shift::kNoise:
        for (int p = 0; p < kImagePixels; ++p) dst[p] = std::clamp(src[p] + gauss(rng), 0.0f, 1.0f);
        break;
      case Shift::kBlur: Blur(src, dst, severity); break;
      case Shift::kContrast: {
        double mean = std::accumulate(src, src + kImagePixels, 0.0) / kImagePixels;
        for (int p = 0; p < kImagePixels; ++p)
          dst[p] = static_cast<float>(mean + (1 - severity) * (src[p] - mean));
        break;
      }
      case Shift::kPermutation:
        for (int p = 0; p < kImagePixels; ++p) dst[p] = src[perm[p]];
        break;
      case Shift::kDataset: {
        const float* o = other->image(i % other->size());
        for (int p = 0; p < kImagePixels; ++p)
          dst[p] = static_cast<float>((1 - severity) * src[p] + severity * o[p]);
        break;
      }
    }
  }
  return out;
}

}  // namespace lmlab::ood
