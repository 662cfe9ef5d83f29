// A small SentencePiece-style ("llama") vocabulary learned from a corpus by
// byte-pair merges, and the encoder that llama.cpp's SPM tokenizer runs on it,
// so text tokenized here for training is tokenized the same way by llama.cpp
// when the exported GGUF is used (tests/train/tokenizer_test.cc checks this
// against the runtime on held-out text).
//
//   LMLAB_ASSIGN_OR_RETURN(Tokenizer tok, Tokenizer::Learn(documents, {.vocab_size = 2048}));
//   std::vector<int32_t> ids = tok.Encode("Paris is in France.", runtime::AddBos::kYes);
//
// Vocabulary layout: 0 <unk>, 1 <s> (BOS), 2 </s> (EOS), 3..258 the byte
// tokens <0x00>..<0xFF> (byte fallback for characters outside the
// vocabulary), then single characters ("▁" = space first, by frequency), then
// merged pieces scored by merge rank (earlier merges score higher, which is
// the order llama.cpp's SPM tokenizer applies them in).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/runtime/gguf_writer.h"
#include "lmlab/runtime/language_model.h"

namespace lmlab::train {

struct TokenizerOptions {
  int vocab_size = 2048;       // total tokens, specials and byte tokens included (>= 300)
  int64_t min_char_count = 2;  // rarer characters are left to byte fallback
  int max_piece_bytes = 24;    // merged pieces stay at most this long
  // No merged piece holds a digit, so every number is read digit by digit
  // (as Llama's SentencePiece model splits digits); models that copy numbers
  // out of their context learn that far more easily.
  bool split_digits = false;
};

class Tokenizer {
 public:
  // Learns a vocabulary from `documents` (UTF-8 text). kInvalidArgument when
  // vocab_size is too small or the documents hold no text.
  static Result<Tokenizer> Learn(std::span<const std::string> documents, const TokenizerOptions& options);
  // Wraps an existing vocabulary (e.g. read back from a checkpoint).
  static Result<Tokenizer> FromVocab(runtime::LlamaVocab vocab);

  // Tokenizes like llama.cpp's SPM tokenizer with add_space_prefix: a space
  // is prepended, spaces become "▁", the highest-scored adjacent pair whose
  // concatenation is a token merges first (leftmost on ties), and pieces that
  // are not tokens fall back to byte tokens.
  std::vector<int32_t> Encode(std::string_view text, runtime::AddBos add_bos) const;
  // The text of `tokens` (control tokens skipped, byte tokens joined back into
  // UTF-8, the leading space of the prefix removed).
  std::string Decode(std::span<const int32_t> tokens) const;

  const runtime::LlamaVocab& vocab() const { return vocab_; }
  int32_t size() const { return static_cast<int32_t>(vocab_.tokens.size()); }
  int32_t bos() const { return vocab_.bos_id; }
  int32_t eos() const { return vocab_.eos_id; }

 private:
  explicit Tokenizer(runtime::LlamaVocab vocab);

  runtime::LlamaVocab vocab_;
  std::unordered_map<std::string, int32_t> ids_;  // token text -> id
  int32_t byte_ids_[256] = {};                    // byte -> <0xXX> token id
};

}  // namespace lmlab::train
