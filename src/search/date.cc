#include "lmlab/search/date.h"

#include <array>
#include <cctype>
#include <charconv>
#include <fmt/format.h>
#include <vector>

#include "lmlab/core/text.h"

namespace lmlab::search {
namespace {

using namespace std::chrono;

constexpr std::array<std::string_view, 12> kMonthAbbrev = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<std::string_view, 12> kMonthFull = {"january", "february", "march",     "april",
                                                         "may",     "june",     "july",      "august",
                                                         "september", "october", "november", "december"};

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

int ToInt(std::string_view s) {
  int v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// 1..12 for "mar", "march", "Sept."; 0 otherwise.
int MonthFromName(std::string_view word) {
  std::string w = Lower(word);
  if (!w.empty() && w.back() == '.') w.pop_back();
  if (w == "sept") return 9;
  for (int i = 0; i < 12; ++i) {
    if (w == kMonthFull[i]) return i + 1;
    if (w == Lower(kMonthAbbrev[i])) return i + 1;
  }
  return 0;
}

bool IsWeekday(std::string_view word) {
  static constexpr std::array<std::string_view, 14> kDays = {
      "mon", "tue", "wed", "thu", "fri", "sat", "sun",
      "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"};
  std::string w = Lower(word);
  if (!w.empty() && w.back() == '.') w.pop_back();
  for (auto d : kDays)
    if (w == d) return true;
  return false;
}

std::optional<Day> MakeDay(int y, int m, int d) {
  year_month_day ymd{year{y}, month{static_cast<unsigned>(m)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || y < 1000 || y > 9999) return std::nullopt;
  return sys_days(ymd);
}

std::optional<Timestamp> Combine(Day d, int hh, int mm, int ss, int offset_seconds) {
  if (hh < 0 || hh > 24 || mm < 0 || mm > 59 || ss < 0 || ss > 60) return std::nullopt;
  return Timestamp(d) + hours(hh) + minutes(mm) + seconds(ss) - seconds(offset_seconds);
}

// "+0100", "+01:00", "-05", "Z" -> seconds east of UTC.
std::optional<int> ParseOffset(std::string_view z) {
  if (z == "Z" || z == "z") return 0;
  if (z.size() < 3 || (z[0] != '+' && z[0] != '-')) return std::nullopt;
  int sign = z[0] == '-' ? -1 : 1;
  std::string digits;
  for (char c : z.substr(1))
    if (c != ':') digits += c;
  if (!AllDigits(digits) || (digits.size() != 2 && digits.size() != 4)) return std::nullopt;
  int h = ToInt(std::string_view(digits).substr(0, 2));
  int m = digits.size() == 4 ? ToInt(std::string_view(digits).substr(2, 2)) : 0;
  if (h > 14 || m > 59) return std::nullopt;
  return sign * (h * 3600 + m * 60);
}

// RFC-2822 zone names (obsolete but common in mail and changelogs).
std::optional<int> ZoneName(std::string_view word) {
  struct Zone {
    std::string_view name;
    int hours;
  };
  static constexpr Zone kZones[] = {{"ut", 0},   {"utc", 0},  {"gmt", 0},  {"z", 0},   {"est", -5}, {"edt", -4},
                                    {"cst", -6}, {"cdt", -5}, {"mst", -7}, {"mdt", -6}, {"pst", -8}, {"pdt", -7},
                                    {"cet", 1},  {"cest", 2}};
  std::string w = Lower(word);
  for (const auto& z : kZones)
    if (w == z.name) return z.hours * 3600;
  return std::nullopt;
}

// "hh:mm[:ss[.fff]]" -> seconds into the day.
std::optional<std::array<int, 3>> ParseClock(std::string_view s) {
  std::array<int, 3> hms = {0, 0, 0};
  int part = 0;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find(':', i);
    std::string_view field = s.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i);
    if (part == 2) field = field.substr(0, field.find_first_of(".,"));  // drop fractions
    if (field.size() != 2 || !AllDigits(field) || part > 2) return std::nullopt;
    hms[part++] = ToInt(field);
    if (j == std::string_view::npos) break;
    i = j + 1;
  }
  if (part < 2) return std::nullopt;
  return hms;
}

// YYYY[-MM[-DD[(T| )hh:mm[:ss[.fff]][Z|±hh[:mm]]]]]
std::optional<Timestamp> ParseIso(std::string_view s) {
  if (s.size() < 4 || !AllDigits(s.substr(0, 4))) return std::nullopt;
  int y = ToInt(s.substr(0, 4)), m = 1, d = 1;
  size_t pos = 4;
  if (pos < s.size()) {
    if (s[pos] != '-' || s.size() < pos + 3 || !AllDigits(s.substr(pos + 1, 2))) return std::nullopt;
    m = ToInt(s.substr(pos + 1, 2));
    pos += 3;
    if (pos < s.size()) {
      if (s[pos] != '-' || s.size() < pos + 3 || !AllDigits(s.substr(pos + 1, 2))) return std::nullopt;
      d = ToInt(s.substr(pos + 1, 2));
      pos += 3;
    }
  }
  auto day = MakeDay(y, m, d);
  if (!day) return std::nullopt;
  if (pos == s.size()) return Timestamp(*day);
  if (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' ') return std::nullopt;
  std::string_view rest = Trim(s.substr(pos + 1));
  size_t zone_at = rest.find_first_of("Zz+-");
  std::string_view clock = Trim(rest.substr(0, zone_at));
  auto hms = ParseClock(clock);
  if (!hms) return std::nullopt;
  int offset = 0;
  if (zone_at != std::string_view::npos) {
    auto o = ParseOffset(Trim(rest.substr(zone_at)));
    if (!o) return std::nullopt;
    offset = *o;
  }
  return Combine(*day, (*hms)[0], (*hms)[1], (*hms)[2], offset);
}

std::vector<std::string_view> Words(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (std::isspace(static_cast<unsigned char>(s[i])) || s[i] == ',')) ++i;
    size_t j = i;
    while (j < s.size() && !std::isspace(static_cast<unsigned char>(s[j])) && s[j] != ',') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// RFC-2822 and month-name forms: every word must play a role (weekday, day,
// month, year, clock, zone), so free text is not mistaken for a date.
std::optional<Timestamp> ParseWords(std::string_view s) {
  int y = 0, m = 0, d = 0;
  std::optional<std::array<int, 3>> clock;
  std::optional<int> offset;
  for (std::string_view w : Words(s)) {
    std::string_view bare = w;
    if (bare.size() > 2) {  // "5th", "1st"
      std::string tail = Lower(bare.substr(bare.size() - 2));
      if ((tail == "st" || tail == "nd" || tail == "rd" || tail == "th") && AllDigits(bare.substr(0, bare.size() - 2)))
        bare = bare.substr(0, bare.size() - 2);
    }
    if (AllDigits(bare) && bare.size() == 4 && !y) {
      y = ToInt(bare);
    } else if (AllDigits(bare) && bare.size() <= 2 && !d) {
      d = ToInt(bare);
    } else if (int mon = MonthFromName(w); mon && !m) {
      m = mon;
    } else if (IsWeekday(w)) {
      continue;
    } else if (w.find(':') != std::string_view::npos && !clock) {
      clock = ParseClock(w);
      if (!clock) return std::nullopt;
    } else if (auto o = ParseOffset(w); o && clock && !offset) {
      offset = o;
    } else if (auto z = ZoneName(w); z && !offset) {
      offset = z;
    } else if (w.front() == '(' && offset) {
      continue;  // "+0000 (UTC)" comments
    } else {
      return std::nullopt;
    }
  }
  if (!y || !m || !d) return std::nullopt;
  auto day = MakeDay(y, m, d);
  if (!day) return std::nullopt;
  if (!clock) return Timestamp(*day) - seconds(offset.value_or(0));
  return Combine(*day, (*clock)[0], (*clock)[1], (*clock)[2], offset.value_or(0));
}

// "3 days ago", "an hour ago", "yesterday", "today", "last week".
std::optional<Timestamp> ParseRelative(std::string_view s, Day today, bool& looked_relative) {
  std::string t = Lower(s);
  looked_relative = true;
  if (t == "today" || t == "just now" || t == "now") return Timestamp(today);
  if (t == "yesterday") return Timestamp(today - days(1));
  std::vector<std::string_view> w = Words(t);
  int n = 0;
  std::string_view unit;
  if (w.size() == 2 && w[0] == "last") {
    n = 1;
    unit = w[1];
  } else if (w.size() == 3 && w[2] == "ago") {
    if (AllDigits(w[0])) n = ToInt(w[0]);
    else if (w[0] == "a" || w[0] == "an" || w[0] == "one") n = 1;
    else return std::nullopt;
    unit = w[1];
  } else {
    looked_relative = false;
    return std::nullopt;
  }
  if (unit.size() > 1 && unit.back() == 's') unit.remove_suffix(1);
  Timestamp base(today);
  if (unit == "second" || unit == "sec") return base - seconds(n);
  if (unit == "minute" || unit == "min") return base - minutes(n);
  if (unit == "hour" || unit == "hr") return base - hours(n);
  if (unit == "day") return base - days(n);
  if (unit == "week") return base - days(7 * n);
  if (unit == "month" || unit == "year") {
    year_month_day ymd(today);
    ymd = unit == "month" ? ymd - months(n) : ymd - years(n);
    if (!ymd.ok()) ymd = year_month_day(ymd.year() / ymd.month() / last);
    return Timestamp(sys_days(ymd));
  }
  return std::nullopt;
}

}  // namespace

Result<Timestamp> ParseDate(std::string_view text, const DateContext& context) {
  std::string_view s = Trim(text);
  if (s.empty()) return ParseError("empty date");
  if (auto t = ParseIso(s)) return *t;
  if (auto t = ParseWords(s)) return *t;
  std::string lower = Lower(s);
  bool relative_form = lower.ends_with(" ago") || lower == "today" || lower == "yesterday" || lower == "now" ||
                       lower == "just now" || lower.starts_with("last ");
  if (relative_form) {
    if (!context.today)
      return ParseError("relative date '" + std::string(s) + "' needs today's date (`today`)");
    bool looked = false;
    if (auto t = ParseRelative(s, *context.today, looked)) return *t;
  }
  return ParseError("unrecognised date '" + std::string(s.substr(0, 80)) +
                    "' (use ISO-8601 like 2024-03-05, RFC-2822 like 'Tue, 05 Mar 2024 10:00:00 +0100', "
                    "or '3 days ago')");
}

std::optional<Timestamp> ParseDateOrUndated(std::string_view text, const DateContext& context) {
  auto t = ParseDate(text, context);
  if (!t) return std::nullopt;
  return *t;
}

Result<Day> ParseDay(std::string_view text) {
  std::string_view s = Trim(text);
  if (s.size() == 10 && s[4] == '-' && s[7] == '-' && AllDigits(s.substr(0, 4)) && AllDigits(s.substr(5, 2)) &&
      AllDigits(s.substr(8, 2))) {
    if (auto d = MakeDay(ToInt(s.substr(0, 4)), ToInt(s.substr(5, 2)), ToInt(s.substr(8, 2)))) return *d;
  }
  return InvalidArgument("'" + std::string(s.substr(0, 40)) + "' is not a date in YYYY-MM-DD form (e.g. 2026-11-27)");
}

std::string FormatDay(Day d) {
  year_month_day ymd(d);
  return fmt::format("{} {:02d}, {:04d}", kMonthAbbrev[unsigned(ymd.month()) - 1], unsigned(ymd.day()),
                     int(ymd.year()));
}
std::string FormatDay(Timestamp t) { return FormatDay(floor<days>(t)); }

std::string FormatIsoDay(Day d) {
  year_month_day ymd(d);
  return fmt::format("{:04d}-{:02d}-{:02d}", int(ymd.year()), unsigned(ymd.month()), unsigned(ymd.day()));
}
std::string FormatIsoDay(Timestamp t) { return FormatIsoDay(floor<days>(t)); }

std::string FormatIsoTime(Timestamp t) {
  Day d = floor<days>(t);
  hh_mm_ss hms(t - Timestamp(d));
  return fmt::format("{}T{:02d}:{:02d}:{:02d}Z", FormatIsoDay(d), hms.hours().count(), hms.minutes().count(),
                     hms.seconds().count());
}

Day TodayUtc() { return floor<days>(system_clock::now()); }

}  // namespace lmlab::search
