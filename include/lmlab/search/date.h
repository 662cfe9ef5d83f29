// Dates of documents and search results, parsed from the forms the web and
// Debian use and normalised to UTC:
//   ISO-8601     "2024-03-05", "2024-03-05T10:00:00Z", "2024-03-05 10:00:00+02:00", "2024-03"
//   RFC-2822     "Tue, 05 Mar 2024 10:00:00 +0100" (also GMT/UT/EST/EDT/CST/CDT/MST/MDT/PST/PDT)
//   month names  "Mar 5, 2024", "March 5, 2024", "5 March 2024"
//   relative     "3 days ago", "an hour ago", "2 weeks ago", "yesterday", "today" (against DateContext::today)
//
//   DateContext ctx{.today = ParseDay("2026-11-27").value()};
//   LMLAB_ASSIGN_OR_RETURN(Timestamp t, ParseDate("3 days ago", ctx));
//   FormatDay(t);  // "Nov 24, 2026"
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "lmlab/core/error.h"

namespace lmlab::search {

// Seconds since the Unix epoch, UTC.
using Timestamp = std::chrono::sys_seconds;
using Day = std::chrono::sys_days;

struct DateContext {
  // "Now" for relative dates; relative forms are a kParse error without it.
  std::optional<Day> today;
};

// Any supported form; kParse naming the text when none matches.
Result<Timestamp> ParseDate(std::string_view text, const DateContext& context = {});
// Like ParseDate, but an empty or unparseable text is "undated".
std::optional<Timestamp> ParseDateOrUndated(std::string_view text, const DateContext& context = {});
// Exactly "YYYY-MM-DD" (a `today` option); kInvalidArgument otherwise.
Result<Day> ParseDay(std::string_view text);

// "Mar 05, 2024": the normalised form evidences carry in prompts.
std::string FormatDay(Timestamp t);
std::string FormatDay(Day d);
// "2024-03-05" for JSON and tables.
std::string FormatIsoDay(Timestamp t);
std::string FormatIsoDay(Day d);
// "2024-03-05T10:00:00Z".
std::string FormatIsoTime(Timestamp t);

// The system clock's date, UTC (the CLI's default for --today).
Day TodayUtc();

}  // namespace lmlab::search
