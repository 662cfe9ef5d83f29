// What every fuzz target shares: the input as text, and a check that stops
// the run (libFuzzer records the input as a crash) when an invariant breaks.
// Each target also fails on any exception escaping the library: libFuzzer
// reports an uncaught exception as a crash, which is the "library code never
// throws" rule checked on arbitrary input.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace lmlab::fuzz {

inline std::string_view Text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Aborts (a crash to libFuzzer, with the input saved) when `ok` is false.
inline void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
  }
}

}  // namespace lmlab::fuzz
