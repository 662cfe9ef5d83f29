// RFC-4180 CSV: quoted fields may hold commas, doubled quotes and newlines
// (FreshQA's `source` column does). Used by `index add` and `freshqa`.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "lmlab/core/error.h"

namespace lmlab::search {

struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;   // each padded to header.size()
  std::vector<int> row_lines;                   // 1-based line where each row starts

  // Column index of `name`, or -1.
  int Column(std::string_view name) const;
};

// kParse with the line number for an unterminated quote, a stray quote, or a
// row with more fields than the header.
Result<CsvTable> ParseCsv(std::string_view text);

}  // namespace lmlab::search
