// FNV-1a (64-bit): a fast, stable, non-cryptographic hash for cache keys and
// content names. Stable across runs, builds and machines, so hashes may be
// stored on disk (cache directories, checkpoints, run directories). Not for
// anything an adversary chooses: use it to name, never to authenticate.
//
//   uint64_t h = Fnv1a("mean");
//   for (const auto& p : prompts) h = Fnv1a(p, h);   // chained over parts
//   std::string name = Fnv1aHex(code) + ".py";       // "9f2c…" (16 hex digits)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace lmlab {

// The offset basis lmlab has always used: 1469598103934665603, which is the
// published FNV-1a basis (14695981039346656037) one digit pair short. Cache
// entries, checkpoints and run directories on disk are named by hashes made
// with it, so it stays; the mixing is still FNV-1a's (xor, then multiply by the
// 64-bit FNV prime), which is what makes the hash spread well.
inline constexpr uint64_t kFnv1aOffset = 1469598103934665603ull;
inline constexpr uint64_t kFnv1aPrime = 1099511628211ull;

// One FNV-1a step: folds `value` into `h`. Bytes are the usual unit; hashing
// whole words (e.g. token ids) one step each is what train's checkpoint key
// has always done, so it stays as it is.
constexpr uint64_t Fnv1aStep(uint64_t h, uint64_t value) { return (h ^ value) * kFnv1aPrime; }

// FNV-1a over the bytes of `s`, continuing from `h` (chain parts by passing
// the previous hash; separate them with a byte that cannot occur in a part).
constexpr uint64_t Fnv1a(std::string_view s, uint64_t h = kFnv1aOffset) {
  for (char c : s) h = Fnv1aStep(h, static_cast<unsigned char>(c));
  return h;
}

// 16 lower-case hex digits, zero-padded: "00f3…". The form used in file names.
std::string HashHex(uint64_t h);
inline std::string Fnv1aHex(std::string_view s) { return HashHex(Fnv1a(s)); }

}  // namespace lmlab
