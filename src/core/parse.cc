#include "lmlab/core/parse.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <string>
#include <system_error>

namespace lmlab {
namespace {

// The text quoted for a message, cut and with control bytes shown as '?'.
std::string Quote(std::string_view text) {
  constexpr size_t kMax = 40;
  std::string out;
  for (char c : text.substr(0, kMax)) out += static_cast<unsigned char>(c) < 0x20 ? '?' : c;
  if (text.size() > kMax) out += "...";
  return "'" + out + "'";
}

template <class T>
Result<T> ParseInteger(std::string_view text, std::string_view what, int base) {
  if (base < 2 || base > 36) return InvalidArgument(fmt::format("{}: base {} is not in [2, 36]", what, base));
  if (text.empty()) return ParseError(fmt::format("{}: empty, expected an integer", what));
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (ec == std::errc::result_out_of_range)
    return ParseError(fmt::format("{}: {} is out of range", what, Quote(text)));
  if (ec != std::errc() || end != text.data() + text.size())
    return ParseError(fmt::format("{}: {} is not an integer", what, Quote(text)));
  return value;
}

}  // namespace

Result<int64_t> ParseInt(std::string_view text, std::string_view what, int base) {
  return ParseInteger<int64_t>(text, what, base);
}

Result<uint64_t> ParseUint(std::string_view text, std::string_view what, int base) {
  if (!text.empty() && text[0] == '-') return ParseError(fmt::format("{}: {} is negative", what, Quote(text)));
  return ParseInteger<uint64_t>(text, what, base);
}

Result<double> ParseDouble(std::string_view text, std::string_view what, NonFinite non_finite) {
  if (text.empty()) return ParseError(fmt::format("{}: empty, expected a number", what));
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, std::chars_format::general);
  if (ec == std::errc::result_out_of_range)
    return ParseError(fmt::format("{}: {} is out of range", what, Quote(text)));
  if (ec != std::errc() || end != text.data() + text.size())
    return ParseError(fmt::format("{}: {} is not a number", what, Quote(text)));
  if (!std::isfinite(value) && non_finite == NonFinite::kRefuse)
    return ParseError(fmt::format("{}: {} is not a finite number", what, Quote(text)));
  return value;
}

std::string DescribeOffset(std::string_view text, size_t at) {
  if (at >= text.size()) return fmt::format("at the end (byte {})", text.size());
  size_t line = 1, line_start = 0;
  for (size_t i = 0; i < at; ++i)
    if (text[i] == '\n') ++line, line_start = i + 1;
  return fmt::format("line {}, column {} (byte 0x{:02x})", line, at - line_start + 1,
                     static_cast<unsigned char>(text[at]));
}

}  // namespace lmlab
