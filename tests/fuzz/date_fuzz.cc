// Dates from outside: search results, front matter, JSONL and CSV documents,
// changelog trailers, entity files' release dates.
#include "lmlab/probe/dataset.h"
#include "lmlab/search/date.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lmlab;
  std::string_view text = fuzz::Text(data, size);
  search::DateContext today{.today = std::chrono::sys_days(std::chrono::year{2024} / 3 / 5)};
  (void)search::ParseDate(text);
  if (auto t = search::ParseDate(text, today)) {
    (void)search::FormatDay(*t);
    (void)search::FormatIsoTime(*t);
  }
  if (auto d = search::ParseDay(text)) {
    auto again = search::ParseDay(search::FormatIsoDay(*d));
    fuzz::Check(again && *again == *d, "a day survives FormatIsoDay and ParseDay");
  }
  (void)probe::ParseYear(text);
  return 0;
}
