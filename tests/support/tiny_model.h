// Test helper: the tiny llama-architecture GGUF (runtime/tiny_model.h) that
// every module's tests run real llama.cpp inference on.
//
//   #include "tests/support/tiny_model.h"
//   auto lm = runtime::OpenModel({.gguf_path = testing::TinyModelPath()});
//
// The file is written once under <build>/test-fixtures/ and reused by later
// tests and test processes; it is written atomically, so test binaries running
// in parallel never see half a file. Its name carries a version: change the
// options here and bump it.
//
// TinyModelPath is inline on purpose: tests/support/*.cc is compiled into
// every module's test binary, and only binaries whose module links
// lmlab_runtime may refer to runtime symbols.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "lmlab/core/error.h"
#include "lmlab/runtime/tiny_model.h"

namespace lmlab::testing {

// <build>/test-fixtures/<name>, written by `write` (given a path) when the
// file is missing. Fails the calling test (and returns "") when writing fails.
std::string FixtureFile(std::string_view name, const std::function<Status(const std::string& path)>& write);

// The default tiny model: 2 layers x 64, ~600 tokens, no chat template.
inline std::string TinyModelPath() {
  return FixtureFile("tiny-v1.gguf", [](const std::string& p) { return runtime::WriteTinyModel(p, {}); });
}

// The same model with a ChatML chat template in its GGUF metadata.
inline std::string TinyChatModelPath() {
  return FixtureFile("tiny-chatml-v1.gguf", [](const std::string& p) {
    runtime::TinyModelOptions o;
    o.chat_template = runtime::kChatmlTemplate;
    return runtime::WriteTinyModel(p, o);
  });
}

}  // namespace lmlab::testing
