// CSV (RFC 4180), one parser and one set of rules for every reader in lmlab:
// FreshQA's question file, `index add` documents, probe entity datasets.
//
//   LMLAB_ASSIGN_OR_RETURN(CsvTable t, ParseCsv(text));
//   int year = t.Column("year");                     // -1 when absent
//   for (size_t r = 0; r < t.rows.size(); ++r) use(t.rows[r][year], t.row_lines[r]);
//
// The rules:
//   - Fields are separated by ','; a record ends at LF or CR LF outside quotes.
//     A CR that is not followed by LF, outside quotes, is an error (old Mac
//     line ends would otherwise run every line into one record).
//   - A field that starts with '"' is quoted: it ends at the next single '"';
//     "" inside it is one quote, and commas, CR and LF inside it are kept as
//     they are. Only ',' or the end of the record may follow the closing quote.
//   - A '"' inside an unquoted field (`the "Case-Book" of`) is an error unless
//     options.bare_quotes is kLiteral, which keeps it as a character. That is
//     the one lenience lmlab's real inputs need: FreshQA's CSV has 14 such
//     fields (its questions quote titles), and spreadsheets that do not quote
//     such fields are common in files users index.
//   - Every record has as many fields as the header; a short or long record is
//     an error naming its line (a missing comma shifts every later column, and
//     guessing would silently pair values with the wrong names).
//   - Empty lines are skipped. A leading UTF-8 byte-order mark is skipped.
//   - A quoted field still open at the end of the text is an error naming the
//     line where its record starts. Empty text (no header) is an error.
// All errors are kParse with "line N" (1-based, counting physical lines).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lmlab/core/error.h"

namespace lmlab {

enum class BareQuotes {
  kError,    // RFC 4180: a quote may only open a field
  kLiteral,  // a quote inside an unquoted field is an ordinary character
};

enum class ShortRows {
  kError,  // every row has as many fields as the header
  kPad,    // a row with fewer fields gets empty ones (distro-info-data leaves
           // trailing columns off for releases without those dates)
};

struct CsvOptions {
  BareQuotes bare_quotes = BareQuotes::kError;
  ShortRows short_rows = ShortRows::kError;
};

struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  // [n_rows][header.size()]
  std::vector<int64_t> row_lines;              // [n_rows]: 1-based line where each row starts

  // Index of the first header field equal to `name`, or -1.
  int Column(std::string_view name) const;
};

Result<CsvTable> ParseCsv(std::string_view text, const CsvOptions& options = {});

}  // namespace lmlab
