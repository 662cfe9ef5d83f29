#include "lmlab/core/text.h"

#include <gtest/gtest.h>

#include <locale.h>

#include <vector>

namespace lmlab {
namespace {

TEST(Text, LowerUpperAreAsciiOnly) {
  EXPECT_EQ(Lower("São PAULO 42"), "são paulo 42");
  EXPECT_EQ(Upper("true False ü"), "TRUE FALSE ü");  // UTF-8 bytes are never touched
  EXPECT_EQ(Lower("\xC3\x89T\xC3\x89"), "\xC3\x89t\xC3\x89");
}

TEST(Text, CaseDoesNotDependOnTheLocale) {
  // In a Latin-1 locale tolower(0xC9) is 0xE9, which would corrupt UTF-8.
  const char* old = setlocale(LC_CTYPE, nullptr);
  std::string saved = old ? old : "C";
  setlocale(LC_CTYPE, "C.UTF-8");
  EXPECT_EQ(Lower("\xC9"), "\xC9");
  setlocale(LC_CTYPE, saved.c_str());
}

TEST(Text, TrimAndEqualsIgnoreCase) {
  EXPECT_EQ(Trim(" \t\r\n x y \v\f"), "x y");
  EXPECT_EQ(Trim("   "), "");
  EXPECT_EQ(Trim(""), "");
  EXPECT_EQ(TrimEnd("  x \r\n"), "  x");
  EXPECT_TRUE(EqualsIgnoreCase("Latitude", "LATITUDE"));
  EXPECT_FALSE(EqualsIgnoreCase("lat", "latitude"));
  EXPECT_FALSE(EqualsIgnoreCase("a", "b"));
}

TEST(Text, Join) {
  EXPECT_EQ(Join(std::vector<std::string>{"a", "b", "c"}, ", "), "a, b, c");
  EXPECT_EQ(Join(std::vector<std::string>{}, ", "), "");
  EXPECT_EQ(Join(std::vector<std::string_view>{"x"}, "|"), "x");
  const std::vector<int> n = {1, 2, 3};
  EXPECT_EQ(Join(n, " + ", [](int v) { return std::to_string(v * 10); }), "10 + 20 + 30");
}

TEST(Text, SplitKeepsEmptyFields) {
  EXPECT_EQ(Split("a\t\tb\t", '\t'), (std::vector<std::string_view>{"a", "", "b", ""}));
  EXPECT_EQ(Split("", ','), (std::vector<std::string_view>{""}));
  EXPECT_EQ(Split("one", ','), (std::vector<std::string_view>{"one"}));
}

TEST(Text, SplitLinesDropsCrAndTheFinalEmptyLine) {
  EXPECT_EQ(SplitLines("a\r\nb\n\nc\n"), (std::vector<std::string_view>{"a", "b", "", "c"}));
  EXPECT_EQ(SplitLines("no newline"), (std::vector<std::string_view>{"no newline"}));
  EXPECT_TRUE(SplitLines("").empty());
}

TEST(Utf8, ValidationFollowsRfc3629) {
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf"));  // up to U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\x80"));              // a continuation byte alone
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong (2 bytes)
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));      // overlong (3 bytes)
  EXPECT_FALSE(IsValidUtf8("\xf0\x80\x80\xaf"));  // overlong (4 bytes)
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // UTF-16 surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // beyond U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xe2\x82"));          // truncated
  EXPECT_EQ(FirstInvalidUtf8("ok\xc3\xa9!\xe2\x82"), 5u);
  EXPECT_EQ(FirstInvalidUtf8("fine"), std::string_view::npos);
  EXPECT_EQ(Utf8SequenceLength("\xf0\x9f\x98\x80", 0), 4u);
  EXPECT_EQ(Utf8SequenceLength("a\xe2\x82\xac", 1), 3u);
}

TEST(Utf8, RepairReadsBadBytesAsLatin1AndIsIdempotent) {
  EXPECT_EQ(ToValidUtf8("a\xe9z"), "a\xc3\xa9z");
  EXPECT_EQ(ToValidUtf8("\xed\xa0\x80"), "\xc3\xad\xc2\xa0\xc2\x80");
  const std::string once = ToValidUtf8("x\xff\xc3\xa9\xe2\x82");
  EXPECT_TRUE(IsValidUtf8(once));
  EXPECT_EQ(ToValidUtf8(once), once);
}

}  // namespace
}  // namespace lmlab
