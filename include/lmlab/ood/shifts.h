// Distribution shifts with a severity knob, applied to 28x28 images in [0,1].
// Severity 0 is the unshifted image for every kind.
//
// Kang et al.'s shifts (the paper protocol):
//   kImpulseNoise, kShotNoise, kSpeckleNoise, kDefocusBlur, kMotionBlur
//                 CIFAR-10-C corruptions at severity 1..5 (ood/corruptions.h)
//   kFgsm         adversarial: `severity` FGSM steps of 0.1 in the paper's
//                 normalised units (ood/adversarial.h); it needs the model,
//                 so ApplyShift refuses it and the experiment attacks each model
// lmlab's own shifts:
//   kRotation     degrees, 0-180, bilinear, about the image centre
//   kNoise        standard deviation of added Gaussian noise, clipped to [0,1]
//   kBlur         Gaussian blur sigma in pixels
//   kContrast     contrast loss c in [0,1]: x' = m + (1-c)(x - m), m the image mean
//   kPermutation  fraction of pixel positions shuffled by one fixed permutation
//   kDataset      blend a with the other dataset: x' = (1-a) x + a x_other
//
//   LMLAB_ASSIGN_OR_RETURN(ImageSet blurred, ApplyShift(test, Shift::kDefocusBlur, 5, /*seed=*/1));
#pragma once

#include <string_view>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/ood/datasets.h"

namespace lmlab::ood {

enum class Shift {
  kRotation, kNoise, kBlur, kContrast, kPermutation, kDataset,                 // lmlab
  kImpulseNoise, kShotNoise, kSpeckleNoise, kDefocusBlur, kMotionBlur, kFgsm,  // Kang et al.
};

// "rotation", "noise", "blur", "contrast", "permutation", "dataset",
// "impulse-noise", "shot-noise", "speckle-noise", "defocus-blur", "motion-blur", "fgsm"
std::string_view ShiftName(Shift s);
std::string_view ShiftUnit(Shift s);  // "degrees", "noise sigma", "CIFAR-10-C severity", "FGSM steps", ...
Result<Shift> ParseShift(std::string_view s);
std::vector<Shift> AllShifts();
std::vector<Shift> PaperShifts();   // the five corruptions and FGSM
std::vector<Shift> LmlabShifts();   // rotation, noise, blur, contrast, permutation, dataset
bool IsCorruption(Shift s);         // one of the five CIFAR-10-C corruptions
// The severities swept by default, starting at 0 (ascending).
std::vector<double> DefaultSeverities(Shift s);

// kInvalidArgument unless `severity` lies in the shift's range: rotation
// [0, 360] degrees, noise sigma [0, 10], blur sigma [0, 28] px, corruptions
// the whole numbers 0..5, FGSM the whole numbers 0..50, the others [0, 1].
Status CheckSeverity(Shift shift, double severity);

// A shifted copy; labels are kept. kDataset needs `other` (images are
// paired by index, cycling through `other`). kInvalidArgument for a severity
// outside the kind's range, and for kFgsm (see ood/adversarial.h).
Result<ImageSet> ApplyShift(const ImageSet& images, Shift shift, double severity, uint64_t seed,
                            const ImageSet* other = nullptr);

}  // namespace lmlab::ood
