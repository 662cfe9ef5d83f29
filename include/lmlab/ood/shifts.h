// Distribution shifts with a severity knob, applied to 28x28 images in [0,1].
// Severity 0 is the unshifted image for every kind.
//
//   kRotation     degrees, 0-180, bilinear, about the image centre
//   kNoise        standard deviation of added Gaussian noise, clipped to [0,1]
//   kBlur         Gaussian blur sigma in pixels
//   kContrast     contrast loss c in [0,1]: x' = m + (1-c)(x - m), m the image mean
//   kPermutation  fraction of pixel positions shuffled by one fixed permutation
//   kDataset      blend a with the other dataset: x' = (1-a) x + a x_other
//
//   LMLAB_ASSIGN_OR_RETURN(ImageSet rotated, ApplyShift(test, Shift::kRotation, 90, /*seed=*/1));
#pragma once

#include <string_view>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/ood/datasets.h"

namespace lmlab::ood {

enum class Shift { kRotation, kNoise, kBlur, kContrast, kPermutation, kDataset };

std::string_view ShiftName(Shift s);  // "rotation", "noise", "blur", "contrast", "permutation", "dataset"
std::string_view ShiftUnit(Shift s);  // "degrees", "sigma", "pixels", "fraction", ...
Result<Shift> ParseShift(std::string_view s);
std::vector<Shift> AllShifts();
// The severities swept by default, starting at 0 (ascending).
std::vector<double> DefaultSeverities(Shift s);

// kInvalidArgument unless `severity` lies in the shift's range: rotation
// [0, 360] degrees, noise sigma [0, 10], blur sigma [0, 28] px, the others [0, 1].
Status CheckSeverity(Shift shift, double severity);

// A shifted copy; labels are kept. kDataset needs `other` (images are
// paired by index, cycling through `other`). kInvalidArgument for a severity
// outside the kind's range.
Result<ImageSet> ApplyShift(const ImageSet& images, Shift shift, double severity, uint64_t seed,
                            const ImageSet* other = nullptr);

}  // namespace lmlab::ood
