// Checked JSON (core/json.h): cache manifests, checkpoints' headers, run
// files and endpoint replies all go through ParseJson and JsonGet.
#include <string>
#include <vector>

#include "lmlab/core/json.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lmlab;
  auto j = ParseJson(fuzz::Text(data, size), "fuzz.json");
  if (!j) return 0;
  for (const char* key : {"n_prompts", "layers", "prompts_hash", "dtype", "id"}) {
    (void)JsonGet<int64_t>(*j, key, "fuzz.json");
    (void)JsonGet<int>(*j, key, "fuzz.json");
    (void)JsonGet<uint32_t>(*j, key, "fuzz.json");
    (void)JsonGet<double>(*j, key, "fuzz.json");
    (void)JsonGet<bool>(*j, key, "fuzz.json");
    (void)JsonGet<std::string>(*j, key, "fuzz.json");
    (void)JsonGet<std::vector<int64_t>>(*j, key, "fuzz.json");
    (void)JsonGetOr<std::vector<std::string>>(*j, key, {}, "fuzz.json");
  }
  auto again = ParseJson(DumpJson(*j), "dump");
  fuzz::Check(again && *again == *j, "DumpJson of parsed JSON parses back to the same value");
  return 0;
}
