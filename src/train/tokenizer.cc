#include "lmlab/train/tokenizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <queue>
#include <unordered_set>
#include <utility>

#include "lmlab/core/parse.h"

namespace lmlab::train {
namespace {

using runtime::LlamaVocab;
using runtime::TokenType;

constexpr std::string_view kSpace = "\xe2\x96\x81";  // U+2581, SentencePiece's visible space
constexpr int kNumSpecials = 3;                       // <unk>, <s>, </s>
constexpr int kMinVocab = kNumSpecials + 256 + 1;

// Byte length of the UTF-8 sequence that starts with `c`, as llama.cpp's
// unicode_len_utf8 computes it (a stray continuation byte counts as 1).
size_t Utf8Len(char c) {
  static constexpr size_t kLookup[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLookup[static_cast<uint8_t>(c) >> 4];
}

// What llama.cpp feeds its SPM session: " " + text with every space as "▁".
std::string Escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  out += kSpace;
  for (char c : text) {
    if (c == ' ') out += kSpace;
    else out += c;
  }
  return out;
}

// Splits escaped text into UTF-8 characters.
std::vector<std::string_view> Chars(std::string_view s) {
  std::vector<std::string_view> out;
  for (size_t i = 0; i < s.size();) {
    size_t n = std::min(Utf8Len(s[i]), s.size() - i);
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

// Words for merge learning: a word starts at each "▁" and newlines stand
// alone, so no learned piece spans two words (pieces then mean something and
// the vocabulary is not spent on phrases).
void CountWords(std::string_view escaped, std::unordered_map<std::string, int64_t>& counts) {
  size_t start = 0;
  auto flush = [&](size_t end) {
    if (end > start) ++counts[std::string(escaped.substr(start, end - start))];
    start = end;
  };
  for (size_t i = 0; i < escaped.size();) {
    size_t n = std::min(Utf8Len(escaped[i]), escaped.size() - i);
    std::string_view ch = escaped.substr(i, n);
    if (ch == kSpace) {
      flush(i);
    } else if (ch == "\n") {
      flush(i);
      flush(i + n);
    }
    i += n;
  }
  flush(escaped.size());
}

bool HasDigit(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

uint64_t PairKey(int32_t a, int32_t b) { return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b); }

}  // namespace

Tokenizer::Tokenizer(LlamaVocab vocab) : vocab_(std::move(vocab)) {
  for (int32_t i = 0; i < static_cast<int32_t>(vocab_.tokens.size()); ++i) ids_.emplace(vocab_.tokens[i], i);
  for (int b = 0; b < 256; ++b) {
    auto it = ids_.find(fmt::format("<0x{:02X}>", b));
    byte_ids_[b] = it == ids_.end() ? vocab_.unk_id : it->second;
  }
}

Result<Tokenizer> Tokenizer::FromVocab(LlamaVocab vocab) {
  if (vocab.tokens.empty() || vocab.scores.size() != vocab.tokens.size() || vocab.types.size() != vocab.tokens.size())
    return InvalidArgument("vocabulary is empty or its tokens, scores and types differ in length");
  return Tokenizer(std::move(vocab));
}

Result<Tokenizer> Tokenizer::Learn(std::span<const std::string> documents, const TokenizerOptions& options) {
  if (options.vocab_size < kMinVocab)
    return InvalidArgument(fmt::format("vocabulary size {} is too small: it needs at least {} (3 specials, 256 "
                                       "byte tokens and the space)",
                                       options.vocab_size, kMinVocab));
  std::unordered_map<std::string, int64_t> word_counts;
  for (const std::string& d : documents) CountWords(Escape(d), word_counts);
  if (word_counts.empty()) return InvalidArgument("the corpus holds no text to learn a vocabulary from");

  LlamaVocab v;
  auto add = [&](std::string text, float score, TokenType type) {
    v.tokens.push_back(std::move(text));
    v.scores.push_back(score);
    v.types.push_back(type);
    return static_cast<int32_t>(v.tokens.size() - 1);
  };
  v.unk_id = add("<unk>", 0, TokenType::kUnknown);
  v.bos_id = add("<s>", 0, TokenType::kControl);
  v.eos_id = add("</s>", 0, TokenType::kControl);
  for (int b = 0; b < 256; ++b) add(fmt::format("<0x{:02X}>", b), 0, TokenType::kByte);

  // Sorted words give a deterministic order whatever the hash map did.
  std::vector<std::pair<std::string, int64_t>> words(word_counts.begin(), word_counts.end());
  std::sort(words.begin(), words.end());

  // Characters by frequency (ties by text); at most a quarter of the free
  // slots so merges keep most of the vocabulary.
  std::map<std::string, int64_t> char_counts;
  for (const auto& [w, c] : words)
    for (std::string_view ch : Chars(w)) char_counts[std::string(ch)] += c;
  std::vector<std::pair<std::string, int64_t>> chars(char_counts.begin(), char_counts.end());
  std::stable_sort(chars.begin(), chars.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  const int free_slots = options.vocab_size - static_cast<int>(v.tokens.size());
  const int max_chars = std::max(1, free_slots / 4);
  std::unordered_map<std::string, int32_t> id_of;
  for (int32_t i = 0; i < static_cast<int32_t>(v.tokens.size()); ++i) id_of.emplace(v.tokens[i], i);
  // Characters score below every merge; their scores never decide a merge
  // (a character is never the concatenation of two symbols).
  constexpr float kCharScore = -1e9f;
  id_of.emplace(std::string(kSpace), add(std::string(kSpace), kCharScore, TokenType::kNormal));
  int n_chars = 1;
  for (const auto& [ch, c] : chars) {
    if (n_chars >= max_chars) break;
    if (c < options.min_char_count || id_of.contains(ch)) continue;
    id_of.emplace(ch, add(ch, kCharScore, TokenType::kNormal));
    ++n_chars;
  }

  // Words as symbol ids; -1 marks a character left to byte fallback, which
  // no merge may cross.
  std::vector<std::vector<int32_t>> syms(words.size());
  std::vector<int64_t> freq(words.size());
  for (size_t w = 0; w < words.size(); ++w) {
    freq[w] = words[w].second;
    for (std::string_view ch : Chars(words[w].first)) {
      auto it = id_of.find(std::string(ch));
      syms[w].push_back(it == id_of.end() ? -1 : it->second);
    }
  }
  std::unordered_map<uint64_t, int64_t> pair_count;
  std::unordered_map<uint64_t, std::vector<int32_t>> pair_words;
  auto add_pairs = [&](int32_t w, int64_t sign, std::vector<uint64_t>* changed) {
    const auto& s = syms[w];
    for (size_t i = 1; i < s.size(); ++i) {
      if (s[i - 1] < 0 || s[i] < 0) continue;
      uint64_t k = PairKey(s[i - 1], s[i]);
      pair_count[k] += sign * freq[w];
      if (sign > 0) pair_words[k].push_back(w);
      if (changed) changed->push_back(k);
    }
  };
  for (int32_t w = 0; w < static_cast<int32_t>(words.size()); ++w) add_pairs(w, +1, nullptr);

  // Candidate pairs in a max-heap by (count, then the smaller key), the
  // order the merges are taken in; an entry whose count is no longer the
  // pair's count is stale and skipped when it surfaces. Counts change only
  // for pairs in the words a merge touches, so each merge costs the heap
  // operations of those pairs instead of a scan over every pair.
  struct Candidate {
    int64_t count;
    uint64_t key;
    bool operator<(const Candidate& o) const { return count < o.count || (count == o.count && key > o.key); }
  };
  std::priority_queue<Candidate> heap;
  for (const auto& [k, c] : pair_count) heap.push({c, k});
  std::vector<uint64_t> changed;  // pairs whose count a merge changed
  auto count_of = [&](uint64_t k) {
    auto it = pair_count.find(k);
    return it == pair_count.end() ? int64_t{0} : it->second;
  };

  std::vector<int32_t> stamp(words.size(), -1);
  for (int rank = 0; static_cast<int>(v.tokens.size()) < options.vocab_size; ++rank) {
    // The most frequent pair that fits max_piece_bytes; ties go to the smaller key so runs repeat.
    uint64_t best = 0;
    int64_t best_count = 0;
    while (!heap.empty()) {
      const Candidate top = heap.top();
      if (top.count != count_of(top.key) || top.count <= 0) {
        heap.pop();  // stale
        continue;
      }
      const std::string& a = v.tokens[top.key >> 32];
      const std::string& b = v.tokens[top.key & 0xffffffffu];
      if (static_cast<int>(a.size() + b.size()) > options.max_piece_bytes ||
          (options.split_digits && (HasDigit(a) || HasDigit(b)))) {
        heap.pop();  // never mergeable: its pieces only grow, and keep their digits
        continue;
      }
      best = top.key;
      best_count = top.count;
      break;
    }
    if (best_count < 2) break;  // nothing repeats: more merges would only memorise
    heap.pop();
    const int32_t a = static_cast<int32_t>(best >> 32), b = static_cast<int32_t>(best & 0xffffffffu);
    std::string merged = v.tokens[a] + v.tokens[b];
    int32_t id;
    if (auto it = id_of.find(merged); it != id_of.end()) {
      id = it->second;  // the same text reached by another split: reuse it
    } else {
      id = add(merged, -static_cast<float>(rank), TokenType::kNormal);
      id_of.emplace(merged, id);
    }
    std::vector<int32_t> touched = std::move(pair_words[best]);
    pair_words.erase(best);
    changed.clear();
    for (int32_t w : touched) {
      if (stamp[w] == rank) continue;
      stamp[w] = rank;
      add_pairs(w, -1, &changed);
      auto& s = syms[w];
      std::vector<int32_t> out;
      out.reserve(s.size());
      for (size_t i = 0; i < s.size(); ++i) {
        if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
          out.push_back(id);
          ++i;
        } else {
          out.push_back(s[i]);
        }
      }
      s = std::move(out);
      add_pairs(w, +1, &changed);
    }
    pair_count.erase(best);
    std::sort(changed.begin(), changed.end());
    changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
    for (uint64_t k : changed) {
      if (k == best) continue;
      auto it = pair_count.find(k);
      if (it == pair_count.end()) continue;
      if (it->second <= 0) pair_count.erase(it);
      else heap.push({it->second, k});
    }
  }
  return Tokenizer(std::move(v));
}

std::vector<int32_t> Tokenizer::Encode(std::string_view raw, runtime::AddBos add_bos) const {
  std::vector<int32_t> out;
  if (add_bos == runtime::AddBos::kYes) out.push_back(vocab_.bos_id);
  if (raw.empty()) return out;
  const std::string text = Escape(raw);

  // The same algorithm and tie-breaking as llama.cpp's llm_tokenizer_spm_session.
  struct Symbol {
    int prev, next;
    const char* text;
    size_t n;
  };
  struct Bigram {
    int left, right;
    float score;
    size_t size;
  };
  struct Cmp {
    bool operator()(const Bigram& l, const Bigram& r) const {
      return l.score < r.score || (l.score == r.score && l.left > r.left);
    }
  };
  std::vector<Symbol> symbols;
  for (size_t offs = 0; offs < text.size();) {
    size_t n = std::min(Utf8Len(text[offs]), text.size() - offs);
    int index = static_cast<int>(symbols.size());
    symbols.push_back({index - 1, offs + n == text.size() ? -1 : index + 1, text.data() + offs, n});
    offs += n;
  }
  std::priority_queue<Bigram, std::vector<Bigram>, Cmp> queue;
  std::map<std::string, std::pair<int, int>> rev_merge;
  auto try_add = [&](int left, int right) {
    if (left == -1 || right == -1) return;
    std::string s(symbols[left].text, symbols[left].n + symbols[right].n);
    auto it = ids_.find(s);
    if (it == ids_.end()) return;
    queue.push({left, right, vocab_.scores[it->second], s.size()});
    rev_merge[s] = {left, right};
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) try_add(i - 1, i);
  while (!queue.empty()) {
    Bigram bg = queue.top();
    queue.pop();
    Symbol& l = symbols[bg.left];
    Symbol& r = symbols[bg.right];
    if (l.n == 0 || r.n == 0 || l.n + r.n != bg.size) continue;
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) symbols[r.next].prev = bg.left;
    try_add(l.prev, bg.left);
    try_add(bg.left, l.next);
  }
  // Pieces that are not tokens split back along their merges, then to bytes.
  auto resegment = [&](auto&& self, const Symbol& s) -> void {
    std::string piece(s.text, s.n);
    if (auto it = ids_.find(piece); it != ids_.end()) {
      out.push_back(it->second);
      return;
    }
    auto p = rev_merge.find(piece);
    if (p == rev_merge.end()) {
      for (size_t j = 0; j < s.n; ++j) out.push_back(byte_ids_[static_cast<uint8_t>(s.text[j])]);
      return;
    }
    self(self, symbols[p->second.first]);
    self(self, symbols[p->second.second]);
  };
  for (int i = 0; i != -1; i = symbols[i].next) resegment(resegment, symbols[i]);
  return out;
}

std::string Tokenizer::Decode(std::span<const int32_t> tokens) const {
  std::string out;
  for (int32_t t : tokens) {
    if (t < 0 || t >= size()) continue;
    const std::string& piece = vocab_.tokens[t];
    switch (vocab_.types[t]) {
      case TokenType::kControl:
      case TokenType::kUnknown:
      case TokenType::kUnused:
        break;
      case TokenType::kByte:
        // "<0xAB>"; a malformed byte piece (a damaged vocabulary) decodes to nothing.
        if (piece.size() == 6 && piece.starts_with("<0x") && piece.back() == '>')
          if (auto byte = ParseUint(std::string_view(piece).substr(3, 2), "byte token", 16)) out += static_cast<char>(*byte);
        break;
      default:
        for (size_t i = 0; i < piece.size();) {
          if (piece.compare(i, kSpace.size(), kSpace) == 0) {
            out += ' ';
            i += kSpace.size();
          } else {
            out += piece[i++];
          }
        }
    }
  }
  if (!out.empty() && out[0] == ' ') out.erase(0, 1);
  return out;
}

}  // namespace lmlab::train
