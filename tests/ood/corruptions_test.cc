// The CIFAR-10-C corruptions against small images worked out by hand: the
// blurs exactly (their kernels follow from the parameters), the noises by
// what they must do to every pixel and by their hand-computed moments.
#include "lmlab/ood/corruptions.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "lmlab/ood/datasets.h"
#include "lmlab/ood/shifts.h"

namespace lmlab::ood {
namespace {

std::vector<float> Blank(float value = 0) { return std::vector<float>(kImagePixels, value); }
float& At(std::vector<float>& img, int x, int y) { return img[y * kImageSide + x]; }
float Byte(int k) { return static_cast<float>(k / 255.0); }

// Mean and standard deviation of every pixel of 100 noisy copies of a flat image.
template <class Noise>
std::pair<double, double> Moments(Noise noise, float value, std::mt19937_64& rng) {
  std::vector<float> flat = Blank(value), out(kImagePixels);
  double sum = 0, sq = 0, n = 0;
  for (int k = 0; k < 100; ++k) {
    noise(flat, out, 5, rng);
    for (float v : out) sum += v, sq += v * v, ++n;
  }
  const double mean = sum / n;
  return {mean, std::sqrt(sq / n - mean * mean)};
}

TEST(Corruptions, StoredAsTruncatedBytes) {
  EXPECT_EQ(StoreAsByte(0.8449), Byte(215));  // 215.45 -> 215
  EXPECT_EQ(StoreAsByte(100 / 255.0), Byte(100));  // already on the grid: stays
  EXPECT_EQ(StoreAsByte(-0.3), 0.0f);
  EXPECT_EQ(StoreAsByte(1.7), 1.0f);
}

// Severity 1: the disk of radius 0.3 on the integer grid is the centre pixel
// alone, so the kernel is a 3x3 Gaussian of sigma 0.4: per axis
// [g, 1, g] / (1 + 2g), g = exp(-1 / 0.32) = 0.043937.
TEST(Corruptions, DefocusBlurSeverityOneIsA3x3Gaussian) {
  const double g = std::exp(-1 / (2 * 0.4 * 0.4)), t0 = 1 / (1 + 2 * g), t1 = g / (1 + 2 * g);
  std::vector<double> k = DefocusKernel(1);
  ASSERT_EQ(k.size(), 17u * 17u);
  EXPECT_NEAR(k[8 * 17 + 8], t0 * t0, 1e-12);  // 0.84497
  EXPECT_NEAR(k[8 * 17 + 9], t0 * t1, 1e-12);  // 0.03713
  EXPECT_NEAR(k[7 * 17 + 9], t1 * t1, 1e-12);  // 0.00163
  EXPECT_EQ(k[8 * 17 + 10], 0.0);
  std::vector<float> img = Blank(), out(kImagePixels);
  At(img, 10, 10) = 1;
  DefocusBlur(img, out, 1);
  EXPECT_EQ(At(out, 10, 10), Byte(215));  // 0.84497 * 255 = 215.5
  EXPECT_EQ(At(out, 11, 10), Byte(9));    // 0.03713 * 255 = 9.47
  EXPECT_EQ(At(out, 10, 9), Byte(9));
  EXPECT_EQ(At(out, 11, 11), 0.0f);       // 0.42 of a byte
  EXPECT_EQ(At(out, 12, 10), 0.0f);
}

// Severity 5: the disk of radius 1.5 is the 3x3 block (1/9 each), and an
// alias blur of sigma 0.1 moves e^-50 of it: a box blur. Edges reflect
// without repeating the edge pixel (OpenCV's BORDER_REFLECT_101), so a pixel
// one step from the edge is seen twice by the edge pixel's window.
TEST(Corruptions, DefocusBlurSeverityFiveIsABoxBlurWithReflectedEdges) {
  std::vector<float> img = Blank(), out(kImagePixels);
  At(img, 10, 10) = 1;
  At(img, 1, 20) = 1;
  DefocusBlur(img, out, 5);
  for (int dy = -1; dy <= 1; ++dy)
    for (int dx = -1; dx <= 1; ++dx) EXPECT_EQ(At(out, 10 + dx, 10 + dy), Byte(28)) << dx << "," << dy;  // 255/9 = 28.3
  EXPECT_EQ(At(out, 12, 10), 0.0f);
  EXPECT_EQ(At(out, 0, 20), Byte(56));  // columns -1 and 1 both read column 1: 2/9 * 255 = 56.7
  EXPECT_EQ(At(out, 2, 20), Byte(28));
}

// Severity 1 of motion blur: 13 one-sided Gaussian taps of sigma 1,
// k_i = exp(-i^2 / 2) / 1.753314: 0.5703, 0.3459, 0.0772, 0.0063, ...; the
// output at x reads x + i along the angle, so a bright pixel streaks back
// towards -x (angle 0) or -y (angle 90).
TEST(Corruptions, MotionBlurTapsAlongTheAngle) {
  std::vector<double> k = MotionKernel(1);
  ASSERT_EQ(k.size(), 13u);
  EXPECT_NEAR(k[0], 0.570348, 1e-6);
  EXPECT_NEAR(k[1], 0.345934, 1e-6);
  EXPECT_NEAR(k[2], 0.077188, 1e-6);
  EXPECT_EQ(MotionKernel(5).size(), 19u);  // radius 9: 2 * 9 + 1 taps
  std::vector<float> img = Blank(), out(kImagePixels);
  At(img, 10, 10) = 1;
  MotionBlur(img, out, 1, 0);
  EXPECT_EQ(At(out, 10, 10), Byte(145));  // 0.5703 * 255 = 145.4
  EXPECT_EQ(At(out, 9, 10), Byte(88));    // 88.2
  EXPECT_EQ(At(out, 8, 10), Byte(19));    // 19.7
  EXPECT_EQ(At(out, 7, 10), Byte(1));     // 1.6
  EXPECT_EQ(At(out, 6, 10), 0.0f);
  EXPECT_EQ(At(out, 11, 10), 0.0f);       // nothing ahead of the pixel
  EXPECT_EQ(At(out, 10, 9), 0.0f);
  MotionBlur(img, out, 1, 90);
  EXPECT_EQ(At(out, 10, 9), Byte(88));
  EXPECT_EQ(At(out, 9, 10), 0.0f);
  // 45 degrees: taps 1 and 2 both land on (+1, +1) (ceil(0.71 - 0.5) = ceil(1.41 - 0.5) = 1).
  MotionBlur(img, out, 1, 45);
  EXPECT_EQ(At(out, 9, 9), Byte(107));  // (0.3459 + 0.0772) * 255 = 107.9
  // Edge pixels repeat outward, so a flat image stays flat.
  std::vector<float> flat = Blank(Byte(100));
  MotionBlur(flat, out, 5, 30);
  for (float v : out) ASSERT_EQ(v, Byte(100));
}

// skimage's salt and pepper: a fraction `amount` of pixels becomes 0 or 1 at
// even odds; the rest are untouched. Severity 5: 7% of 78,400 pixels = 5,488
// expected flips, standard deviation 71.
TEST(Corruptions, ImpulseNoiseFlipsItsShareToBlackOrWhite) {
  std::mt19937_64 rng(3);
  std::vector<float> img = Blank(Byte(100)), out(kImagePixels);
  int flipped = 0, salt = 0;
  for (int n = 0; n < 100; ++n) {
    ImpulseNoise(img, out, 5, rng);
    for (float v : out) {
      if (v == Byte(100)) continue;
      ASSERT_TRUE(v == 0.0f || v == 1.0f) << v;
      ++flipped;
      salt += v == 1.0f;
    }
  }
  EXPECT_NEAR(flipped, 5488, 360);
  EXPECT_NEAR(static_cast<double>(salt) / flipped, 0.5, 0.03);
}

// Poisson(x c) / c: black stays black; x = 0.2 at c = 50 gives counts of mean
// 10 and variance 10, so the pixel has mean 0.2 and standard deviation
// sqrt(10) / 50 = 0.063, less up to a byte's truncation (mean ~0.002 lower).
TEST(Corruptions, ShotNoiseHasPoissonMoments) {
  std::mt19937_64 rng(4);
  std::vector<float> black = Blank(), out(kImagePixels);
  ShotNoise(black, out, 5, rng);
  for (float v : out) ASSERT_EQ(v, 0.0f);
  auto [mean, sd] = Moments(ShotNoise, Byte(51), rng);
  EXPECT_NEAR(mean, 0.2 - 0.002, 0.002);
  EXPECT_NEAR(sd, std::sqrt(10.0) / 50, 0.004);
}

// x + x N(0, c^2): black stays black; x = 0.4 at c = 0.2 has standard
// deviation 0.08.
TEST(Corruptions, SpeckleNoiseScalesWithThePixel) {
  std::mt19937_64 rng(5);
  std::vector<float> black = Blank(), out(kImagePixels);
  SpeckleNoise(black, out, 5, rng);
  for (float v : out) ASSERT_EQ(v, 0.0f);
  auto [mean, sd] = Moments(SpeckleNoise, Byte(102), rng);
  EXPECT_NEAR(mean, 0.4 - 0.002, 0.002);
  EXPECT_NEAR(sd, 0.08, 0.004);
}

TEST(Corruptions, AsShiftsTheyKeepLabelsAndRefuseFractions) {
  ImageSet set;
  set.name = "one";
  set.pixels = Blank(Byte(60));
  At(set.pixels, 5, 5) = 1;
  set.labels = {3};
  for (Shift s : PaperShifts()) {
    if (s == Shift::kFgsm) {
      EXPECT_FALSE(ApplyShift(set, s, 1, 1)) << "FGSM needs a model";
      continue;
    }
    auto clean = ApplyShift(set, s, 0, 1);
    ASSERT_TRUE(clean);
    EXPECT_EQ(clean->pixels, set.pixels) << ShiftName(s);
    auto hit = ApplyShift(set, s, 5, 1);
    ASSERT_TRUE(hit) << hit.error().ToString();
    EXPECT_EQ(hit->labels, set.labels);
    EXPECT_NE(hit->pixels, set.pixels) << ShiftName(s);
    EXPECT_FALSE(ApplyShift(set, s, 2.5, 1));
    EXPECT_FALSE(ApplyShift(set, s, 6, 1));
  }
  EXPECT_TRUE(CheckSeverity(Shift::kFgsm, 10));
  EXPECT_FALSE(CheckSeverity(Shift::kFgsm, 1.5));
  EXPECT_EQ(*ParseShift("motion-blur"), Shift::kMotionBlur);
  EXPECT_FALSE(ParseShift("zoom-blur"));
}

}  // namespace
}  // namespace lmlab::ood
