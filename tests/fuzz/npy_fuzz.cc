// The .npy reader of the activation cache: files on disk that another tool,
// an older lmlab or a full disk may have written.
#include "lmlab/probe/activation_cache.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lmlab;
  auto arr = probe::ParseNpy(fuzz::Text(data, size), "fuzz.npy");
  if (arr) {
    size_t count = 1;
    for (int64_t d : arr->shape) count *= static_cast<size_t>(d);
    fuzz::Check(arr->data.size() == count, "data holds exactly the shape's elements");
  }
  return 0;
}
