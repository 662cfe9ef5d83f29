#include "lmlab/ood/corruptions.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>

#include "lmlab/ood/datasets.h"

namespace lmlab::ood {
namespace {

constexpr int kDiskHalf = 8;  // make_cifar_c.py's disk() uses L = -8..8 for radii up to 8
constexpr int kDiskSide = 2 * kDiskHalf + 1;

size_t Level(int severity) { return static_cast<size_t>(std::clamp(severity, 1, kCorruptionSeverities) - 1); }

// OpenCV's BORDER_REFLECT_101: ... 2 1 | 0 1 2 ... n-1 | n-2 n-3 ...
int Reflect101(int i, int n) {
  while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
  return i;
}

}  // namespace

float StoreAsByte(double value) {
  value = std::clamp(value, 0.0, 1.0);
  // A pixel already on the 1/255 grid stays put (k/255 * 255 may land a hair below k).
  return static_cast<float>(std::floor(value * 255.0 + 1e-4) / 255.0);
}

void ImpulseNoise(std::span<const float> image, std::span<float> out, int severity, std::mt19937_64& rng) {
  const double amount = kImpulseAmount[Level(severity)];
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (size_t p = 0; p < image.size(); ++p) {
    // skimage draws "flipped" and "salted" independently for every pixel.
    const bool flipped = u(rng) <= amount;
    const bool salted = u(rng) <= 0.5;
    out[p] = StoreAsByte(flipped ? (salted ? 1.0 : 0.0) : image[p]);
  }
}

void ShotNoise(std::span<const float> image, std::span<float> out, int severity, std::mt19937_64& rng) {
  const double photons = kShotPhotons[Level(severity)];
  for (size_t p = 0; p < image.size(); ++p) {
    const double mean = image[p] * photons;
    // std::poisson_distribution needs a positive mean; Poisson(0) is 0.
    const double count = mean > 0 ? static_cast<double>(std::poisson_distribution<int64_t>(mean)(rng)) : 0.0;
    out[p] = StoreAsByte(count / photons);
  }
}

void SpeckleNoise(std::span<const float> image, std::span<float> out, int severity, std::mt19937_64& rng) {
  std::normal_distribution<double> noise(0.0, kSpeckleSigma[Level(severity)]);
  for (size_t p = 0; p < image.size(); ++p) out[p] = StoreAsByte(image[p] + image[p] * noise(rng));
}

std::vector<double> DefocusKernel(int severity) {
  const auto [radius, alias_sigma] = kDefocusRadiusSigma[Level(severity)];
  std::vector<double> disk(kDiskSide * kDiskSide, 0.0);
  for (int y = -kDiskHalf; y <= kDiskHalf; ++y)
    for (int x = -kDiskHalf; x <= kDiskHalf; ++x)
      if (x * x + y * y <= radius * radius) disk[(y + kDiskHalf) * kDiskSide + x + kDiskHalf] = 1.0;
  const double total = std::accumulate(disk.begin(), disk.end(), 0.0);
  for (double& v : disk) v /= total;
  // cv2.GaussianBlur(ksize 3x3, sigma): a separable [g, 1, g] / (1 + 2g),
  // g = exp(-1 / (2 sigma^2)), borders reflected.
  const double g = std::exp(-1.0 / (2.0 * alias_sigma * alias_sigma));
  const double taps[3] = {g / (1 + 2 * g), 1 / (1 + 2 * g), g / (1 + 2 * g)};
  std::vector<double> rows(disk.size()), kernel(disk.size());
  for (int y = 0; y < kDiskSide; ++y)
    for (int x = 0; x < kDiskSide; ++x) {
      double acc = 0;
      for (int k = -1; k <= 1; ++k) acc += taps[k + 1] * disk[y * kDiskSide + Reflect101(x + k, kDiskSide)];
      rows[y * kDiskSide + x] = acc;
    }
  for (int y = 0; y < kDiskSide; ++y)
    for (int x = 0; x < kDiskSide; ++x) {
      double acc = 0;
      for (int k = -1; k <= 1; ++k) acc += taps[k + 1] * rows[Reflect101(y + k, kDiskSide) * kDiskSide + x];
      kernel[y * kDiskSide + x] = acc;
    }
  return kernel;
}

void DefocusBlur(std::span<const float> image, std::span<float> out, int severity) {
  const std::vector<double> kernel = DefocusKernel(severity);
  // cv2.filter2D: correlation with the anchor at the kernel's centre.
  for (int y = 0; y < kImageSide; ++y)
    for (int x = 0; x < kImageSide; ++x) {
      double acc = 0;
      for (int ky = 0; ky < kDiskSide; ++ky)
        for (int kx = 0; kx < kDiskSide; ++kx) {
          const double k = kernel[ky * kDiskSide + kx];
          if (k == 0) continue;
          const int sy = Reflect101(y + ky - kDiskHalf, kImageSide), sx = Reflect101(x + kx - kDiskHalf, kImageSide);
          acc += k * image[sy * kImageSide + sx];
        }
      out[y * kImageSide + x] = StoreAsByte(acc);
    }
}

std::vector<double> MotionKernel(int severity) {
  const auto [radius, sigma] = kMotionRadiusSigma[Level(severity)];
  // ImageMagick's GetOptimalKernelWidth1D for a given radius: 2 ceil(r) + 1.
  const int width = 2 * static_cast<int>(std::ceil(radius)) + 1;
  std::vector<double> k(static_cast<size_t>(width));
  for (int i = 0; i < width; ++i) k[i] = std::exp(-static_cast<double>(i * i) / (2.0 * sigma * sigma));
  const double total = std::accumulate(k.begin(), k.end(), 0.0);
  for (double& v : k) v /= total;
  return k;
}

void MotionBlur(std::span<const float> image, std::span<float> out, int severity, double angle_degrees) {
  const std::vector<double> k = MotionKernel(severity);
  const double a = angle_degrees * std::numbers::pi / 180.0;
  std::vector<int> dx(k.size()), dy(k.size());
  for (size_t i = 0; i < k.size(); ++i) {
    dx[i] = static_cast<int>(std::ceil(static_cast<double>(i) * std::cos(a) - 0.5));
    dy[i] = static_cast<int>(std::ceil(static_cast<double>(i) * std::sin(a) - 0.5));
  }
  auto at = [&](int x, int y) {  // ImageMagick's default virtual pixels: the nearest edge pixel
    return image[std::clamp(y, 0, kImageSide - 1) * kImageSide + std::clamp(x, 0, kImageSide - 1)];
  };
  for (int y = 0; y < kImageSide; ++y)
    for (int x = 0; x < kImageSide; ++x) {
      double acc = 0;
      for (size_t i = 0; i < k.size(); ++i) acc += k[i] * at(x + dx[i], y + dy[i]);
      out[y * kImageSide + x] = StoreAsByte(acc);
    }
}

}  // namespace lmlab::ood
