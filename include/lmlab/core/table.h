// A plain-text table for people: column headers, right-aligned numbers,
// left-aligned text. Every command's human output goes through it, so tables
// look the same everywhere.
//
//   Table t({"devices", "days"}, {Align::kRight, Align::kRight});
//   t.AddRow({"1,000", "115.7"});
//   std::cout << t.Render();
#pragma once

#include <string>
#include <vector>

namespace lmlab {

enum class Align { kLeft, kRight };

class Table {
 public:
  explicit Table(std::vector<std::string> headers, std::vector<Align> align = {});

  // A row must have as many cells as there are headers (extra cells are dropped,
  // missing ones are empty).
  void AddRow(std::vector<std::string> cells);
  size_t num_rows() const { return rows_.size(); }

  // Headers, a rule of dashes, then rows; columns separated by two spaces.
  // Widths count UTF-8 code points, not bytes.
  std::string Render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<Align> align_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace lmlab
