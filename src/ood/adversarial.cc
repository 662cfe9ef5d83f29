#include "lmlab/ood/adversarial.h"

#include <algorithm>

#include <fmt/format.h>

namespace lmlab::ood {

Result<std::vector<ImageSet>> Fgsm(const Classifier& model, const ImageSet& images, std::span<const int> steps,
                                   const FgsmOptions& o) {
  if (!(o.step > 0 && o.step <= 1)) return InvalidArgument(fmt::format("FGSM step {} is outside (0, 1]", o.step));
  for (size_t i = 0; i < steps.size(); ++i)
    if (steps[i] < 0 || (i > 0 && steps[i] < steps[i - 1]))
      return InvalidArgument("FGSM step counts must be whole numbers >= 0, ascending");
  std::vector<ImageSet> out;
  ImageSet current = images;
  int done = 0;
  for (int want : steps) {
    for (; done < want; ++done) {
      LMLAB_ASSIGN_OR_RETURN(std::vector<float> grad, InputGradients(model, current, o.threads));
      for (size_t p = 0; p < current.pixels.size(); ++p) {
        const float g = grad[p];
        const double sign = g > 0 ? 1.0 : (g < 0 ? -1.0 : 0.0);
        current.pixels[p] = static_cast<float>(std::clamp(current.pixels[p] + o.step * sign, 0.0, 1.0));
      }
    }
    ImageSet level = current;
    level.name = fmt::format("{} fgsm {}", images.name, want);
    out.push_back(std::move(level));
  }
  return out;
}

}  // namespace lmlab::ood
