// Date parsing: each supported form, time zones, relative dates, undated.
#include <gtest/gtest.h>

#include "lmlab/search/date.h"

namespace lmlab::search {
namespace {

std::string Iso(std::string_view text, const DateContext& ctx = {}) {
  auto t = ParseDate(text, ctx);
  if (!t) return "error: " + t.error().message;
  return FormatIsoTime(*t);
}

TEST(ParseDate, Iso8601) {
  EXPECT_EQ(Iso("2024-03-05"), "2024-03-05T00:00:00Z");
  EXPECT_EQ(Iso("2024-03-05T10:20:30Z"), "2024-03-05T10:20:30Z");
  EXPECT_EQ(Iso("2024-03-05T10:20:30.123456Z"), "2024-03-05T10:20:30Z");
  EXPECT_EQ(Iso("2024-03-05 10:20"), "2024-03-05T10:20:00Z");
  EXPECT_EQ(Iso("2024-03"), "2024-03-01T00:00:00Z");
  EXPECT_EQ(Iso("  2024-03-05  "), "2024-03-05T00:00:00Z");
}

TEST(ParseDate, Iso8601TimeZonesNormaliseToUtc) {
  EXPECT_EQ(Iso("2024-03-05T10:00:00+02:00"), "2024-03-05T08:00:00Z");
  EXPECT_EQ(Iso("2024-03-05T01:00:00+0530"), "2024-03-04T19:30:00Z");  // crosses midnight backwards
  EXPECT_EQ(Iso("2024-03-05T22:00:00-05:00"), "2024-03-06T03:00:00Z");  // and forwards
  EXPECT_EQ(Iso("2024-12-31T23:30:00-01:00"), "2025-01-01T00:30:00Z");  // into the next year
}

TEST(ParseDate, Rfc2822) {
  EXPECT_EQ(Iso("Tue, 05 Mar 2024 10:00:00 +0100"), "2024-03-05T09:00:00Z");
  EXPECT_EQ(Iso("Sat, 29 Feb 2020 23:59:59 -0800"), "2020-03-01T07:59:59Z");
  EXPECT_EQ(Iso("5 Mar 2024 10:00 GMT"), "2024-03-05T10:00:00Z");
  EXPECT_EQ(Iso("Tue, 05 Mar 2024 10:00:00 EST"), "2024-03-05T15:00:00Z");
  EXPECT_EQ(Iso("Tue, 05 Mar 2024 10:00:00 PDT"), "2024-03-05T17:00:00Z");
  EXPECT_EQ(Iso("Tue, 05 Mar 2024 10:00:00 +0000 (UTC)"), "2024-03-05T10:00:00Z");
}

TEST(ParseDate, MonthNames) {
  EXPECT_EQ(Iso("Mar 5, 2024"), "2024-03-05T00:00:00Z");
  EXPECT_EQ(Iso("March 5, 2024"), "2024-03-05T00:00:00Z");
  EXPECT_EQ(Iso("5 March 2024"), "2024-03-05T00:00:00Z");
  EXPECT_EQ(Iso("September 1st, 2023"), "2023-09-01T00:00:00Z");
}

TEST(ParseDate, RelativeAgainstToday) {
  DateContext ctx{.today = ParseDay("2026-11-27").value()};
  EXPECT_EQ(Iso("3 days ago", ctx), "2026-11-24T00:00:00Z");
  EXPECT_EQ(Iso("an hour ago", ctx), "2026-11-26T23:00:00Z");
  EXPECT_EQ(Iso("2 weeks ago", ctx), "2026-11-13T00:00:00Z");
  EXPECT_EQ(Iso("1 month ago", ctx), "2026-10-27T00:00:00Z");
  EXPECT_EQ(Iso("2 years ago", ctx), "2024-11-27T00:00:00Z");
  EXPECT_EQ(Iso("yesterday", ctx), "2026-11-26T00:00:00Z");
  EXPECT_EQ(Iso("Today", ctx), "2026-11-27T00:00:00Z");
  DateContext march{.today = ParseDay("2024-03-31").value()};
  EXPECT_EQ(Iso("1 month ago", march), "2024-02-29T00:00:00Z");  // clamped to the month's last day
}

TEST(ParseDate, RelativeWithoutTodayIsAClearError) {
  auto t = ParseDate("3 days ago");
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message.find("`today`"), std::string::npos) << t.error().message;
}

TEST(ParseDate, RejectsNonDates) {
  for (const char* bad : {"", "   ", "not a date", "2024-13-01", "2024-02-30", "Feb 30, 2024", "12345",
                          "2024-03-05T25:00:00Z", "Tue, 05 Foo 2024", "the 5 best apps of 2024", "3 potatoes ago"}) {
    auto t = ParseDate(bad, {.today = ParseDay("2026-11-27").value()});
    EXPECT_FALSE(t) << bad << " parsed as " << FormatIsoTime(*t);
    if (!t) {
      EXPECT_EQ(t.error().code, ErrorCode::kParse);
    }
    EXPECT_FALSE(ParseDateOrUndated(bad).has_value()) << bad;
  }
}

TEST(ParseDay, OnlyYyyyMmDd) {
  EXPECT_EQ(FormatIsoDay(ParseDay("2026-11-27").value()), "2026-11-27");
  EXPECT_FALSE(ParseDay("2026-02-29"));
  EXPECT_FALSE(ParseDay("27/11/2026"));
  EXPECT_EQ(ParseDay("tomorrow").error().code, ErrorCode::kInvalidArgument);
}

TEST(FormatDay, NormalisedForm) {
  EXPECT_EQ(FormatDay(ParseDate("2024-03-05T23:59:00Z").value()), "Mar 05, 2024");
  EXPECT_EQ(FormatDay(ParseDay("1999-12-31").value()), "Dec 31, 1999");
}

}  // namespace
}  // namespace lmlab::search
