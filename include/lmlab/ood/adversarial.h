// The counterexample of Kang et al. 2023: adversarial inputs do not revert to
// the OCS. Their MNIST attack (MNIST/generate_adversarial_data.py) is the fast
// gradient sign method iterated: every step moves each pixel by 0.1, in the
// normalised units of their model (pixels divided by MNIST's 0.3081), in the
// sign of the loss's gradient at the image the step starts from. Gradients
// come from the model's ggml graph (InputGradients). lmlab's models read raw
// [0, 1] pixels, so a step is 0.1 * 0.3081 in pixel units, and every step is
// clipped back to [0, 1] (the paper's attack is unclipped, in normalised space).
//
//   std::vector<int> steps = {0, 1, 2, 4};
//   LMLAB_ASSIGN_OR_RETURN(std::vector<ImageSet> attacked, Fgsm(model, images, steps));
//   // attacked[k]: the images after steps[k] FGSM steps
#pragma once

#include <span>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/ood/classifier.h"

namespace lmlab::ood {

inline constexpr double kFgsmPaperStep = 0.1 * 0.3081;

struct FgsmOptions {
  double step = kFgsmPaperStep;  // L-infinity size of one step, pixel units
  int threads = 0;
};

// One image set per entry of `steps` (ascending whole numbers >= 0): the
// images after that many steps, each step continuing from the previous one.
// kInvalidArgument for a bad list.
Result<std::vector<ImageSet>> Fgsm(const Classifier& model, const ImageSet& images, std::span<const int> steps,
                                   const FgsmOptions& options = {});

}  // namespace lmlab::ood
