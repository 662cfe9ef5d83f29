#include "lmlab/runtime/tiny_model.h"

#include <fmt/format.h>

#include <cmath>
#include <map>
#include <set>
#include <string_view>
#include <vector>

namespace lmlab::runtime {
namespace {

// SentencePiece writes a space as U+2581 LOWER ONE EIGHTH BLOCK.
constexpr std::string_view kSpace = "\xE2\x96\x81";

// The text the tiny vocabulary's merges are learned from: plain sentences of
// the kind the tests and examples prompt with.
constexpr std::string_view kMergeText =
    "The capital of France is Paris. The capital of Germany is Berlin. The capital of Italy is Rome. "
    "The capital of Spain is Madrid. The capital of Japan is Tokyo. Paris is a city in France and it is "
    "the largest city of the country. The river that runs through the city is the Seine. "
    "Water is made of hydrogen and oxygen. The sun is a star and the earth is a planet that moves around it. "
    "A language model predicts the next token of a text from the tokens before it. It is trained on a "
    "large amount of text and then it can answer questions, write code and translate between languages. "
    "When you ask a question, the model reads the prompt and writes an answer one token at a time. "
    "The quick brown fox jumps over the lazy dog. Hello world, this is a small test of the model. "
    "What is the name of the president of the United States? Who wrote the book? Where is the station? "
    "There are seven days in a week and twelve months in a year. One, two, three, four, five, six, seven. "
    "The cat sat on the mat. The dog ran in the park with the children. We will meet at the station at noon. "
    "In the beginning there was nothing, and then there was the first light of the morning. ";

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform in [-sqrt(3) * stddev, sqrt(3) * stddev): mean 0, the given stddev.
void FillUniform(std::vector<float>& out, float stddev, uint64_t seed) {
  uint64_t state = seed;
  const double half_width = std::sqrt(3.0) * stddev;
  for (float& v : out) {
    double u = static_cast<double>(SplitMix64(state) >> 11) * 0x1.0p-53;  // [0, 1)
    v = static_cast<float>((2 * u - 1) * half_width);
  }
}

// Byte-pair merges learned greedily from kMergeText, most frequent pair first
// (ties broken by the pair's text, so the result never varies).
std::vector<std::string> LearnMerges(int n_merges) {
  std::map<std::vector<std::string>, int> words;  // word as symbols -> count
  std::string word;
  auto flush = [&] {
    if (word.empty()) return;
    std::vector<std::string> symbols{std::string(kSpace)};
    for (char c : word) symbols.emplace_back(1, c);
    ++words[symbols];
    word.clear();
  };
  for (char c : kMergeText) {
    if (c == ' ') {
      flush();
    } else {
      word += c;
    }
  }
  flush();

  std::vector<std::string> merges;
  std::set<std::string> have;
  while (static_cast<int>(merges.size()) < n_merges) {
    std::map<std::pair<std::string, std::string>, int> pairs;
    for (const auto& [symbols, count] : words)
      for (size_t i = 0; i + 1 < symbols.size(); ++i) pairs[{symbols[i], symbols[i + 1]}] += count;
    if (pairs.empty()) break;
    auto best = pairs.begin();
    for (auto it = pairs.begin(); it != pairs.end(); ++it)
      if (it->second > best->second) best = it;
    const auto [left, right] = best->first;
    std::string joined = left + right;
    std::map<std::vector<std::string>, int> next;
    for (const auto& [symbols, count] : words) {
      std::vector<std::string> merged;
      for (size_t i = 0; i < symbols.size(); ++i) {
        if (i + 1 < symbols.size() && symbols[i] == left && symbols[i + 1] == right) {
          merged.push_back(joined);
          ++i;
        } else {
          merged.push_back(symbols[i]);
        }
      }
      next[merged] += count;
    }
    words = std::move(next);
    if (have.insert(joined).second) merges.push_back(joined);
  }
  return merges;
}

}  // namespace

LlamaVocab TinyVocab(int n_merges) {
  LlamaVocab v;
  auto add = [&](std::string token, float score, TokenType type) {
    v.tokens.push_back(std::move(token));
    v.scores.push_back(score);
    v.types.push_back(type);
  };
  add("<unk>", 0, TokenType::kUnknown);
  add("<s>", 0, TokenType::kControl);
  add("</s>", 0, TokenType::kControl);
  v.unk_id = 0;
  v.bos_id = 1;
  v.eos_id = 2;
  for (int b = 0; b < 256; ++b) add(fmt::format("<0x{:02X}>", b), 0, TokenType::kByte);
  // Single characters score below every merge; among merges, earlier (more
  // frequent) ones score higher and so are applied first by the tokenizer.
  const float char_score = -static_cast<float>(std::max(n_merges, 0) + 1);
  add(std::string(kSpace), char_score, TokenType::kNormal);
  for (char c = 33; c < 127; ++c) add(std::string(1, c), char_score, TokenType::kNormal);
  std::set<std::string> present(v.tokens.begin(), v.tokens.end());
  int rank = 0;
  for (std::string& m : LearnMerges(n_merges)) {
    if (present.insert(m).second) add(std::move(m), -static_cast<float>(rank), TokenType::kNormal);
    ++rank;
  }
  return v;
}

Status WriteTinyModel(const std::filesystem::path& path, const TinyModelOptions& options) {
  if (options.n_merges < 0) return InvalidArgument("n_merges must not be negative");
  LlamaVocab vocab = TinyVocab(options.n_merges);
  LlamaHparams hp{
      .name = "lmlab-tiny",
      .n_vocab = static_cast<int64_t>(vocab.tokens.size()),
      .n_ctx_train = options.n_ctx_train,
      .n_embd = options.n_embd,
      .n_layer = options.n_layer,
      .n_head = options.n_head,
      .n_head_kv = options.n_head_kv,
      .n_ff = options.n_ff,
      .chat_template = options.chat_template,
  };
  LMLAB_RETURN_IF_ERROR(ValidateLlama(hp, vocab));

  std::vector<TensorShape> layout = LlamaTensorLayout(hp);
  std::vector<std::vector<float>> storage(layout.size());
  std::vector<GgufTensor> tensors;
  tensors.reserve(layout.size());
  for (size_t i = 0; i < layout.size(); ++i) {
    const TensorShape& s = layout[i];
    int64_t count = 1;
    for (int64_t d : s.shape) count *= d;
    std::vector<float>& data = storage[i];
    if (s.shape.size() == 1) {
      data.assign(count, 1.0f);  // RMS norm gains
    } else {
      data.resize(count);
      // Embeddings of unit scale; other matrices scaled by 1/sqrt(fan-in) so
      // the residual stream and the logits stay of order one.
      float stddev = s.name == "token_embd.weight" ? 1.0f : 1.0f / std::sqrt(static_cast<float>(s.shape[0]));
      FillUniform(data, stddev, options.seed * 0x100000001B3ull + i);
    }
    tensors.push_back({s.name, s.shape, data});
  }
  return WriteLlamaGguf(path, hp, vocab, tensors);
}

}  // namespace lmlab::runtime
