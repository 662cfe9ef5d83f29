// Text helpers every module needs: ASCII case and whitespace, joining and
// splitting, UTF-8 checking and repair. Bytes, not locales: "lower case" and
// "whitespace" mean ASCII (the C locale), whatever the process locale is, so
// results are the same on every machine; bytes >= 0x80 pass through untouched.
//
//   std::string key = Lower(Trim("  Paris \n"));                 // "paris"
//   std::string cols = Join(header, ", ");                        // "name, year"
//   std::string lines = Join(curves, "\n", [](const Curve& c) { return c.name; });
//   for (std::string_view field : Split("a\tb\t", '\t')) ...      // "a", "b", ""
//   if (!IsValidUtf8(text)) text = ToValidUtf8(text);
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace lmlab {

// ---- ASCII ------------------------------------------------------------------

// ASCII letters to lower case; every other byte unchanged.
std::string Lower(std::string_view s);
// ASCII letters to upper case; every other byte unchanged.
std::string Upper(std::string_view s);
// Without leading and trailing ASCII whitespace (space, \t, \n, \v, \f, \r).
std::string_view Trim(std::string_view s);
// Without trailing ASCII whitespace only.
std::string_view TrimEnd(std::string_view s);
// Equal ignoring ASCII case: EqualsIgnoreCase("Year", "year").
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
// Runs of ASCII whitespace (newlines included) become one space; leading and
// trailing whitespace goes: "  a\n\n b " -> "a b".
std::string CollapseWhitespace(std::string_view s);

// ---- joining and splitting --------------------------------------------------

// parts[0] + sep + parts[1] + ...; "" for no parts. Parts are anything a
// string_view can be made from.
template <class Range>
std::string Join(const Range& parts, std::string_view sep) {
  std::string out;
  bool first = true;
  for (const auto& p : parts) {
    if (!first) out += sep;
    out += std::string_view(p);
    first = false;
  }
  return out;
}

// The same with each part rendered by `to_text` (returning a string).
template <class Range, class ToText>
std::string Join(const Range& parts, std::string_view sep, ToText to_text) {
  std::string out;
  bool first = true;
  for (const auto& p : parts) {
    if (!first) out += sep;
    out += to_text(p);
    first = false;
  }
  return out;
}

// The fields between separators, empty ones kept: Split("a,,b", ',') is
// {"a", "", "b"}; Split("", ',') is {""}. Views into `s`.
std::vector<std::string_view> Split(std::string_view s, char sep);

// Lines of `s`, split at '\n' with a trailing '\r' removed from each (CRLF
// files); a final newline does not start an empty line. Views into `s`.
std::vector<std::string_view> SplitLines(std::string_view s);

// ---- UTF-8 ------------------------------------------------------------------

// Length of the well-formed UTF-8 sequence starting at s[i] (1 to 4), or 0
// where none starts: a stray continuation byte, a truncated sequence, an
// overlong form, a UTF-16 surrogate (U+D800..U+DFFF) or a code point beyond
// U+10FFFF (RFC 3629). Requires i < s.size().
size_t Utf8SequenceLength(std::string_view s, size_t i);

// True when all of `s` is well-formed UTF-8 (as above).
bool IsValidUtf8(std::string_view s);

// Byte offset of the first byte that is not part of well-formed UTF-8, or
// std::string_view::npos when there is none.
size_t FirstInvalidUtf8(std::string_view s);

// Valid UTF-8 from any bytes: well-formed sequences are kept and every other
// byte is read as Latin-1 (0xE9 becomes "é"), which is what such bytes in
// changelogs, CSV exports and web pages usually are. Idempotent.
std::string ToValidUtf8(std::string_view s);

}  // namespace lmlab
