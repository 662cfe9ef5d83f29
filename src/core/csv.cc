#include "lmlab/core/csv.h"

#include <fmt/format.h>

namespace lmlab {

int CsvTable::Column(std::string_view name) const {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return static_cast<int>(i);
  return -1;
}

namespace {

// Field state while scanning.
enum class Field {
  kStart,      // nothing read yet
  kUnquoted,   // inside a field that did not start with a quote
  kQuoted,     // inside quotes
  kAfterQuote  // after a closing quote: only ',' or a line end may follow
};

}  // namespace

Result<CsvTable> ParseCsv(std::string_view text, const CsvOptions& options) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // UTF-8 byte-order mark
  std::vector<std::vector<std::string>> records;
  std::vector<int64_t> record_lines;
  std::vector<std::string> record;
  std::string field;
  Field state = Field::kStart;
  int64_t line = 1, record_line = 1;
  auto fail = [&](int64_t at, std::string_view what) { return ParseError(fmt::format("CSV line {}: {}", at, what)); };
  auto end_field = [&] {
    record.push_back(std::move(field));
    field.clear();
    state = Field::kStart;
  };
  auto end_record = [&] {
    end_field();
    if (!(record.size() == 1 && record[0].empty())) {  // an empty line holds no record
      records.push_back(std::move(record));
      record_lines.push_back(record_line);
    }
    record.clear();
  };

  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (state == Field::kQuoted) {
      if (c != '"') {
        if (c == '\n') ++line;
        field += c;
      } else if (i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else {
        state = Field::kAfterQuote;
      }
      continue;
    }
    switch (c) {
      case ',':
        end_field();
        break;
      case '\r':
        if (i + 1 >= text.size() || text[i + 1] != '\n') return fail(line, "a carriage return without a line feed");
        break;  // the '\n' that follows ends the record
      case '\n':
        end_record();
        record_line = ++line;
        break;
      case '"':
        if (state == Field::kStart) {
          state = Field::kQuoted;
        } else if (options.bare_quotes == BareQuotes::kLiteral) {
          field += c;  // kUnquoted: after a closing quote a '"' would have been read as ""
        } else {
          return fail(line, "a quote inside an unquoted field (quote the whole field and double the quote)");
        }
        break;
      default:
        if (state == Field::kAfterQuote)
          return fail(line, "text after the closing quote of a field (quote the whole field)");
        state = Field::kUnquoted;
        field += c;
    }
  }
  if (state == Field::kQuoted) return fail(record_line, "a quoted field is never closed");
  if (state != Field::kStart || !field.empty() || !record.empty()) end_record();
  if (records.empty()) return ParseError("CSV is empty (expected a header line)");

  CsvTable t;
  t.header = std::move(records[0]);
  t.rows.reserve(records.size() - 1);
  for (size_t r = 1; r < records.size(); ++r) {
    if (options.short_rows == ShortRows::kPad && records[r].size() < t.header.size())
      records[r].resize(t.header.size());
    if (records[r].size() != t.header.size())
      return fail(record_lines[r],
                  fmt::format("{} fields but the header has {}", records[r].size(), t.header.size()));
    t.rows.push_back(std::move(records[r]));
    t.row_lines.push_back(record_lines[r]);
  }
  return t;
}

}  // namespace lmlab
