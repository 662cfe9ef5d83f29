// The tokenizer lmlab trains (train/tokenizer.h) encoding arbitrary text:
// every id is in the vocabulary, and decoding gives the text back.
#include <string>
#include <vector>

#include "lmlab/core/parse.h"
#include "lmlab/train/tokenizer.h"
#include "tests/fuzz/fuzz_support.h"

namespace {
const lmlab::train::Tokenizer* g_tokenizer = nullptr;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using namespace lmlab;
  std::vector<std::string> docs = {
      "Paris is the capital of France. It lies at latitude 48.9 and longitude 2.4.",
      "Zürich, São Paulo and 東京 are cities; Москва too.",
      "On Jul 20, 1969: Apollo 11 landed on the moon.",
      "Debian 12 (bookworm) was released on 2023-06-10.",
  };
  auto tok = train::Tokenizer::Learn(docs, {.vocab_size = 320, .min_char_count = 1});
  if (!tok) {
    std::fprintf(stderr, "cannot learn the fuzz tokenizer: %s\n", tok.error().ToString().c_str());
    std::abort();
  }
  g_tokenizer = new train::Tokenizer(std::move(*tok));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lmlab;
  std::string_view text = fuzz::Text(data, size);
  std::vector<int32_t> ids = g_tokenizer->Encode(text, runtime::AddBos::kNo);
  for (int32_t id : ids) fuzz::Check(id >= 0 && id < g_tokenizer->size(), "ids are in the vocabulary");
  (void)g_tokenizer->Encode(text, runtime::AddBos::kYes);
  // Byte fallback covers any UTF-8 text, so decoding gives it back; except
  // U+2581, the space marker of SentencePiece vocabularies (llama.cpp's too),
  // which decodes as a space (found by this target: regressions/tokenizer/).
  if (FirstInvalidUtf8(text) == std::string_view::npos && text.find('\0') == std::string_view::npos &&
      text.find("\xe2\x96\x81") == std::string_view::npos)
    fuzz::Check(g_tokenizer->Decode(ids) == text, "Decode(Encode(text)) == text");
  // Arbitrary ids (a model's output) decode without crashing.
  std::vector<int32_t> raw;
  for (size_t i = 0; i + 1 < size; i += 2) raw.push_back(static_cast<int32_t>(data[i] | (data[i + 1] << 8)) - 64);
  (void)g_tokenizer->Decode(raw);
  return 0;
}
