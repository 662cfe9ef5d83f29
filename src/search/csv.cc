#include "lmlab/search/csv.h"

namespace lmlab::search {

int CsvTable::Column(std::string_view name) const {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return static_cast<int>(i);
  return -1;
}

Result<CsvTable> ParseCsv(std::string_view text) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // UTF-8 byte-order mark
  std::vector<std::vector<std::string>> records;
  std::vector<int> lines;
  std::vector<std::string> record;
  std::string field;
  bool in_quotes = false, field_was_quoted = false, record_open = false;
  int line = 1, record_line = 1;
  auto end_field = [&] {
    record.push_back(std::move(field));
    field.clear();
    field_was_quoted = false;
  };
  auto end_record = [&] {
    end_field();
    bool blank = record.size() == 1 && record[0].empty();
    if (!blank) {
      records.push_back(std::move(record));
      lines.push_back(record_line);
    }
    record.clear();
    record_open = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (!record_open) {
      record_open = true;
      record_line = line;
    }
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '"') {
      if (!field.empty() || field_was_quoted) {
        // Lenient, as spreadsheets export: a quote inside an unquoted field
        // ('the "Case-Book"') is a literal character.
        field += c;
        continue;
      }
      in_quotes = true;
      field_was_quoted = true;
    } else if (c == ',') {
      end_field();
    } else if (c == '\r') {
      continue;
    } else if (c == '\n') {
      end_record();
      ++line;
    } else {
      field += c;  // text after a closing quote is kept (lenient)
    }
  }
  if (in_quotes) return ParseError("CSV line " + std::to_string(record_line) + ": a quoted field is never closed");
  if (record_open || !field.empty() || !record.empty()) end_record();
  if (records.empty()) return ParseError("CSV is empty (expected a header line)");
  CsvTable t;
  t.header = std::move(records[0]);
  for (size_t r = 1; r < records.size(); ++r) {
    if (records[r].size() > t.header.size())
      return ParseError("CSV line " + std::to_string(lines[r]) + ": " + std::to_string(records[r].size()) +
                        " fields but the header has " + std::to_string(t.header.size()));
    records[r].resize(t.header.size());
    t.rows.push_back(std::move(records[r]));
    t.row_lines.push_back(lines[r]);
  }
  return t;
}

}  // namespace lmlab::search
