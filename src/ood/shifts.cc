#include "lmlab/ood/shifts.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>
#include <random>
#include <span>

#include <fmt/format.h>

#include "lmlab/ood/corruptions.h"

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
    case Shift::kImpulseNoise: return "impulse-noise";
    case Shift::kShotNoise: return "shot-noise";
    case Shift::kSpeckleNoise: return "speckle-noise";
    case Shift::kDefocusBlur: return "defocus-blur";
    case Shift::kMotionBlur: return "motion-blur";
    case Shift::kFgsm: return "fgsm";
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
    case Shift::kImpulseNoise:
    case Shift::kShotNoise:
    case Shift::kSpeckleNoise:
    case Shift::kDefocusBlur:
    case Shift::kMotionBlur: return "CIFAR-10-C severity";
    case Shift::kFgsm: return "FGSM steps";
  }
  return "";
}

Result<Shift> ParseShift(std::string_view s) {
  for (Shift k : AllShifts())
    if (ShiftName(k) == s) return k;
  return InvalidArgument(fmt::format(
      "unknown shift '{}': use impulse-noise, shot-noise, speckle-noise, defocus-blur, motion-blur, fgsm (the "
      "paper's), rotation, noise, blur, contrast, permutation or dataset (lmlab's)",
      s));
}

std::vector<Shift> AllShifts() {
  std::vector<Shift> all = LmlabShifts();
  for (Shift s : PaperShifts()) all.push_back(s);
  return all;
}

std::vector<Shift> PaperShifts() {
  return {Shift::kImpulseNoise, Shift::kShotNoise, Shift::kSpeckleNoise, Shift::kDefocusBlur, Shift::kMotionBlur,
          Shift::kFgsm};
}

std::vector<Shift> LmlabShifts() {
  return {Shift::kRotation, Shift::kNoise, Shift::kBlur, Shift::kContrast, Shift::kPermutation, Shift::kDataset};
}

bool IsCorruption(Shift s) {
  return s == Shift::kImpulseNoise || s == Shift::kShotNoise || s == Shift::kSpeckleNoise ||
         s == Shift::kDefocusBlur || s == Shift::kMotionBlur;
}

std::vector<double> DefaultSeverities(Shift s) {
  switch (s) {
    case Shift::kRotation: return {0, 30, 60, 90, 120, 150, 180};
    case Shift::kNoise: return {0, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0};
    case Shift::kBlur: return {0, 0.5, 1, 1.5, 2, 3, 4};
    case Shift::kContrast: return {0, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0};
    case Shift::kPermutation: return {0, 0.1, 0.25, 0.5, 0.75, 1.0};
    case Shift::kDataset: return {0, 0.2, 0.4, 0.6, 0.8, 1.0};
    case Shift::kFgsm: return {0, 1, 2, 4, 6, 8, 10};
    default: return {0, 1, 2, 3, 4, 5};  // the CIFAR-10-C corruptions
  }
}

Status CheckSeverity(Shift shift, double severity) {
  auto [lo, hi] = [&]() -> std::pair<double, double> {
    switch (shift) {
      case Shift::kRotation: return {0, 360};
      case Shift::kNoise: return {0, 10};
      case Shift::kBlur: return {0, 28};
      case Shift::kFgsm: return {0, 50};
      default: return IsCorruption(shift) ? std::pair<double, double>{0, kCorruptionSeverities} : std::pair{0.0, 1.0};
    }
  }();
  if (!(severity >= lo && severity <= hi))
    return InvalidArgument(fmt::format("{} severity {} is outside [{}, {}]", ShiftName(shift), severity, lo, hi));
  if ((IsCorruption(shift) || shift == Shift::kFgsm) && severity != std::floor(severity))
    return InvalidArgument(fmt::format("{} severity {} is not a whole number", ShiftName(shift), severity));
  return {};
}

Result<ImageSet> ApplyShift(const ImageSet& images, Shift shift, double severity, uint64_t seed,
                            const ImageSet* other) {
  LMLAB_RETURN_IF_ERROR(CheckSeverity(shift, severity));
  if (shift == Shift::kDataset && (!other || other->size() == 0))
    return InvalidArgument("the dataset shift needs the other dataset's images");
  if (shift == Shift::kFgsm) return InvalidArgument("FGSM attacks a model: use Fgsm() (ood/adversarial.h)");
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
  std::uniform_real_distribution<double> angle(-45.0, 45.0);
  const int level = static_cast<int>(severity);
  for (int64_t i = 0; i < images.size(); ++i) {
    const float* src = images.image(i);
    float* dst = out.pixels.data() + i * kImagePixels;
    std::span<const float> in(src, kImagePixels);
    std::span<float> to(dst, kImagePixels);
    switch (shift) {
      case Shift::kImpulseNoise: ImpulseNoise(in, to, level, rng); break;
      case Shift::kShotNoise: ShotNoise(in, to, level, rng); break;
      case Shift::kSpeckleNoise: SpeckleNoise(in, to, level, rng); break;
      case Shift::kDefocusBlur: DefocusBlur(in, to, level); break;
      case Shift::kMotionBlur: MotionBlur(in, to, level, angle(rng)); break;
      case Shift::kFgsm: break;  // refused above
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
