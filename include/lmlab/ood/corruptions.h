// The five CIFAR-10-C corruptions Kang et al. 2023 evaluate (impulse, shot
// and speckle noise; defocus and motion blur), written from their
// definitions in Hendrycks & Dietterich 2019 (make_cifar_c.py,
// hendrycks/robustness) for one 28x28 grey image with pixels in [0, 1], at
// CIFAR-10-C's five severities and with its parameters:
//
//   impulse noise  salt and pepper: each pixel, with probability a, becomes 1 or 0 (even odds)
//                  a = .01 .02 .03 .05 .07                   (skimage random_noise 's&p')
//   shot noise     Poisson(x c) / c                 c = 500 250 100 75 50
//   speckle noise  x + x N(0, c^2)                  c = .06 .10 .12 .16 .20
//   defocus blur   a disk of radius r on a 17x17 grid, normalised, smoothed by a
//                  3x3 Gaussian of sigma s; correlated with the image, edges
//                  reflected (OpenCV's BORDER_REFLECT_101)
//                  (r, s) = (.3,.4) (.4,.5) (.5,.6) (1,.2) (1.5,.1)
//   motion blur    ImageMagick's MotionBlurImage: a one-sided Gaussian of sigma s
//                  over 2r+1 taps along the angle, edge pixels repeated; the
//                  angle is uniform in [-45, 45] degrees per image
//                  (r, s) = (6,1) (6,1.5) (6,2) (8,2) (9,2.5)
//
// Every result is clipped to [0, 1] and stored as 8 bits, truncated, as
// CIFAR-10-C stores its images (np.uint8 of x * 255).
//
//   std::mt19937_64 rng(seed);
//   ImpulseNoise(image, out, /*severity=*/5, rng);   // image, out: [784]
#pragma once

#include <array>
#include <random>
#include <span>
#include <vector>

namespace lmlab::ood {

inline constexpr int kCorruptionSeverities = 5;

inline constexpr std::array<double, 5> kImpulseAmount = {0.01, 0.02, 0.03, 0.05, 0.07};
inline constexpr std::array<double, 5> kShotPhotons = {500, 250, 100, 75, 50};
inline constexpr std::array<double, 5> kSpeckleSigma = {0.06, 0.10, 0.12, 0.16, 0.20};
inline constexpr std::array<std::array<double, 2>, 5> kDefocusRadiusSigma = {
    {{0.3, 0.4}, {0.4, 0.5}, {0.5, 0.6}, {1.0, 0.2}, {1.5, 0.1}}};
inline constexpr std::array<std::array<double, 2>, 5> kMotionRadiusSigma = {
    {{6, 1}, {6, 1.5}, {6, 2}, {8, 2}, {9, 2.5}}};

// `severity` is 1..5 in every function; images are 28x28 ([784], row-major).
void ImpulseNoise(std::span<const float> image, std::span<float> out, int severity, std::mt19937_64& rng);
void ShotNoise(std::span<const float> image, std::span<float> out, int severity, std::mt19937_64& rng);
void SpeckleNoise(std::span<const float> image, std::span<float> out, int severity, std::mt19937_64& rng);
void DefocusBlur(std::span<const float> image, std::span<float> out, int severity);
// `angle_degrees`: the direction of the streak (0 = along +x, 90 = along +y).
void MotionBlur(std::span<const float> image, std::span<float> out, int severity, double angle_degrees);

// The defocus kernel: [17 * 17], row-major, sums to 1.
std::vector<double> DefocusKernel(int severity);
// The motion-blur taps: weights [2r + 1] (sum 1) for offsets i = 0..2r.
std::vector<double> MotionKernel(int severity);

// Clip to [0, 1] and truncate to a multiple of 1/255, as CIFAR-10-C's uint8 storage does.
float StoreAsByte(double value);

}  // namespace lmlab::ood
