// Test helpers for checking generated text (SVG, HTML, tables) by counting
// what it holds rather than pinning every byte.
//
//   #include "tests/support/text.h"
//   EXPECT_EQ(testing::Count(svg, "<polyline"), 2u);
#pragma once

#include <cstddef>
#include <string>

namespace lmlab::testing {

// Occurrences of `what` in `s`, overlapping ones included.
inline size_t Count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

}  // namespace lmlab::testing
