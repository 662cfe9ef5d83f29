#include "lmlab/report/html.h"

#include <cctype>
#include <string_view>

namespace lmlab::report {
namespace {

// "2,791", "43%", "$6.94e6", "-0.023", "2.33 GWh": a number, optionally
// followed by one short unit word. Such cells are right-aligned.
bool IsNumericCell(std::string_view c) {
  if (c.empty() || c.size() > 16) return false;
  size_t space = c.find(' ');
  std::string_view number = c.substr(0, space), unit = space == std::string_view::npos ? "" : c.substr(space + 1);
  size_t i = 0;
  while (i < number.size() && (number[i] == '-' || number[i] == '+' || number[i] == '$')) ++i;
  if (i >= number.size() || !std::isdigit(static_cast<unsigned char>(number[i]))) return false;
  for (; i < number.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(number[i])) && std::string_view(".,%e+-x").find(number[i]) == std::string_view::npos)
      return false;
  if (unit.size() > 4) return false;
  for (char u : unit)
    if (!std::isalpha(static_cast<unsigned char>(u))) return false;
  return true;
}

}  // namespace

std::string HtmlTable(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows) {
  std::string s = "<table>\n<thead><tr>";
  for (const auto& h : headers) s += "<th>" + EscapeHtml(h) + "</th>";
  s += "</tr></thead>\n<tbody>\n";
  for (const auto& row : rows) {
    s += "<tr>";
    for (size_t i = 0; i < headers.size(); ++i) {
      std::string_view cell = i < row.size() ? std::string_view(row[i]) : std::string_view();
      s += (IsNumericCell(cell) ? "<td class=\"num\">" : "<td>") + EscapeHtml(cell) + "</td>";
    }
    s += "</tr>\n";
  }
  return s + "</tbody>\n</table>\n";
}

}  // namespace lmlab::report
