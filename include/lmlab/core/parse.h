// Checked parsing of text from outside lmlab (CSV cells, file headers, /proc,
// cache file names). Numbers: the whole text must be the number, in range, or
// the result is a kParse error naming `what`; replaces std::sto*, which
// throw, and atoi/strtod, which accept garbage silently. UTF-8: where the
// first byte that breaks it is, so a reader can name the line.
//
//   LMLAB_ASSIGN_OR_RETURN(int64_t year, ParseInt(cell, "birth year"));
//   LMLAB_ASSIGN_OR_RETURN(double lat, ParseDouble(cell, "latitude"));
//   LMLAB_ASSIGN_OR_RETURN(uint64_t seed, ParseUint(s, "seed"));
//   LMLAB_ASSIGN_OR_RETURN(int64_t byte, ParseInt("ff", "escape", 16));
//   if (size_t bad = FirstInvalidUtf8(text); bad != std::string_view::npos)
//     return InvalidArgument("places.csv " + DescribeOffset(text, bad) + ": not UTF-8");
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lmlab/core/error.h"
#include "lmlab/core/text.h"

namespace lmlab {

// Base 10 (or `base`), an optional leading '-'; no spaces, no "+", no "0x".
Result<int64_t> ParseInt(std::string_view text, std::string_view what, int base = 10);
Result<uint64_t> ParseUint(std::string_view text, std::string_view what, int base = 10);

// Decimal or scientific notation ("1.5", "-2e-3"); "inf" and "nan" are
// refused unless `allow_non_finite` (a CSV may spell a missing value "nan";
// the caller decides).
enum class NonFinite { kRefuse, kAllow };
Result<double> ParseDouble(std::string_view text, std::string_view what, NonFinite non_finite = NonFinite::kRefuse);

// FirstInvalidUtf8 (core/text.h, included here) finds where text stops
// being UTF-8 (RFC 3629; exactly what nlohmann::json refuses to serialize);
// DescribeOffset says where that is.
// "line 12, byte 0xfc": where offset `at` of `text` is, for messages.
std::string DescribeOffset(std::string_view text, size_t at);

}  // namespace lmlab
