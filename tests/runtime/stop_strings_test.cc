#include "lmlab/runtime/internal/stop_strings.h"

#include <gtest/gtest.h>

namespace lmlab::runtime::internal {
namespace {

std::string Feed(StopStrings& s, const std::vector<std::string>& pieces, bool* stopped) {
  std::string out;
  *stopped = false;
  for (const std::string& p : pieces) {
    auto step = s.Add(p);
    out += step.emit;
    if (step.stopped) {
      *stopped = true;
      return out;
    }
  }
  return out + s.Flush();
}

TEST(StopStrings, StopSplitAcrossPiecesIsNeverEmitted) {
  StopStrings s({"<|im_end|>"});
  bool stopped;
  EXPECT_EQ(Feed(s, {"Hello", " <|im", "_e", "nd|> more"}, &stopped), "Hello ");
  EXPECT_TRUE(stopped);
  EXPECT_EQ(s.text(), "Hello ");
}

TEST(StopStrings, HeldBackTextIsReleasedWhenItIsNotAStop) {
  StopStrings s({"END"});
  auto a = s.Add("abcE");
  EXPECT_EQ(a.emit, "abc");
  auto b = s.Add("Nx");
  EXPECT_EQ(b.emit, "ENx");
  EXPECT_EQ(s.Flush(), "");
  StopStrings t({"END"});
  t.Add("tail E");
  EXPECT_EQ(t.Flush(), "E") << "held back text comes out at the end";
  EXPECT_EQ(t.text(), "tail E");
}

TEST(StopStrings, EarliestOfSeveralStopsWins) {
  StopStrings s({"\n\n", "bc"});
  bool stopped;
  EXPECT_EQ(Feed(s, {"a", "b", "c\n\n"}, &stopped), "a");
  EXPECT_TRUE(stopped);
}

TEST(StopStrings, HoldsBackIncompleteUtf8) {
  StopStrings s({});
  std::string arrow = "\xE2\x86\x92";  // →
  auto a = s.Add("x" + arrow.substr(0, 2));
  EXPECT_EQ(a.emit, "x");
  auto b = s.Add(arrow.substr(2));
  EXPECT_EQ(b.emit, arrow);
  EXPECT_EQ(IncompleteUtf8Tail("ab\xF0\x9F"), 2u);
  EXPECT_EQ(IncompleteUtf8Tail("ab\xF0\x9F\x98\x80"), 0u);
}

}  // namespace
}  // namespace lmlab::runtime::internal
