// lmlab's world-model recipe: its corpus states relations only (no
// coordinates, no dates), every entity appears in it, the held-out split is
// fixed by the recipe, and the ladder's rungs are distinct sizes.
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <map>
#include <numbers>
#include <set>
#include <unordered_map>

#include "lmlab/core/hash.h"
#include "lmlab/train/world_model.h"

namespace lmlab::train {
namespace {

TEST(WorldModel, CorpusHasNoCoordinatesAndNoDates) {
 for (const WorldRecipe& recipe : {WorldModelRecipe(), WorldModelRecipeV1(), WorldModelRecipeV2()}) {
  SCOPED_TRACE(recipe.corpus_version);
  auto e = LoadWorldEntities(recipe);
  ASSERT_TRUE(e) << e.error().ToString();
  EXPECT_EQ(static_cast<int64_t>(e->places.size()), recipe.max_cities);
  EXPECT_EQ(static_cast<int64_t>(e->people.size()), recipe.max_people);
  std::vector<CorpusSection> sections;
  const std::vector<std::string> docs = BuildWorldCorpus(recipe, *e, &sections);
  ASSERT_GT(docs.size(), 10000u);
  int64_t counted = 0;
  for (const auto& s : sections) counted += s.documents;
  EXPECT_GT(counted, 0);
  for (const std::string& d : docs) {
    for (const char* word : {"latitude", "longitude", "coordinates", "century", " BC", " AD ", "born in 1", "in the year"})
      ASSERT_EQ(d.find(word), std::string::npos) << d;
    // A decimal number would be a coordinate: every number is a whole count of km or years.
    for (size_t i = 1; i + 1 < d.size(); ++i)
      ASSERT_FALSE(d[i] == '.' && std::isdigit(static_cast<unsigned char>(d[i - 1])) &&
                   std::isdigit(static_cast<unsigned char>(d[i + 1])))
          << d;
    // Numbers only measure distances or differences between two people.
    for (size_t i = 0; i < d.size(); ++i)
      if (std::isdigit(static_cast<unsigned char>(d[i])) && (i == 0 || !std::isdigit(static_cast<unsigned char>(d[i - 1])))) {
        const std::string rest = d.substr(i);
        const size_t digits = rest.find_first_not_of("0123456789");
        // An ordinal is part of a name ("Horatio Nelson, 1st Viscount Nelson"), not a quantity.
        if (digits != std::string::npos && (rest.compare(digits, 3, "st ") == 0 || rest.compare(digits, 3, "nd ") == 0 ||
                                           rest.compare(digits, 3, "rd ") == 0 || rest.compare(digits, 3, "th ") == 0))
          continue;
        const size_t space = rest.find(' ');
        const std::string unit = space == std::string::npos ? "" : rest.substr(space + 1, 5);
        ASSERT_TRUE(unit.starts_with("km") || unit.starts_with("years")) << d;
      }
  }
  // Every entity, held out or not, appears in the corpus, followed by a
  // space (names looked up by their first word at every word start: 10,000
  // names in 70,000 documents).
  std::vector<std::string> names;
  for (const auto& p : e->places) names.push_back(p.name);
  for (const auto& p : e->people) names.push_back(p.name);
  std::unordered_map<std::string, std::vector<size_t>> by_first_word;
  for (size_t i = 0; i < names.size(); ++i) by_first_word[names[i].substr(0, names[i].find(' '))].push_back(i);
  std::vector<char> found(names.size(), 0);
  for (const std::string& d : docs)
    for (size_t at = 0, end = d.find(' '); end != std::string::npos; at = end + 1, end = d.find(' ', at)) {
      const auto it = by_first_word.find(d.substr(at, end - at));
      if (it == by_first_word.end()) continue;
      for (size_t i : it->second)
        if (d.compare(at, names[i].size() + 1, names[i] + " ") == 0) found[i] = 1;
    }
  for (size_t i = 0; i < names.size(); ++i) EXPECT_TRUE(found[i]) << names[i] << " is in no document";
 }
}

double HaversineKm(const WorldPlace& a, const WorldPlace& b) {
  const double r = std::numbers::pi / 180;
  const double h = std::pow(std::sin((b.latitude - a.latitude) * r / 2), 2) +
                   std::cos(a.latitude * r) * std::cos(b.latitude * r) *
                       std::pow(std::sin((b.longitude - a.longitude) * r / 2), 2);
  return 2 * 6371.0088 * std::asin(std::min(1.0, std::sqrt(h)));
}

// The relations the map has to explain are true of the coordinates the corpus
// never states: "A is north of B" orders latitudes, "A is east of B"
// longitudes, and "X is near A (d km), ..." lists X's nearest cities first.
TEST(WorldModel, RelationsAgreeWithTheMap) {
  const WorldRecipe recipe = WorldModelRecipeV2();  // v1's relations are a subset
  auto e = LoadWorldEntities(recipe);
  ASSERT_TRUE(e) << e.error().ToString();
  std::map<std::string, const WorldPlace*> city;
  std::set<std::string> country_names;
  for (const auto& p : e->places) {
    city[p.name] = &p;
    country_names.insert(p.country);
  }
  auto is_city = [&](const std::string& name) { return city.count(name) && !country_names.count(name); };
  int64_t axis = 0, near = 0, countries = 0;
  for (const std::string& d : BuildWorldCorpus(recipe, *e)) {
    for (const char* word : {"north", "south", "east", "west"}) {
      const std::string sep = std::string(" is ") + word + " of ";
      const size_t at = d.find(sep);
      if (at == std::string::npos || d.back() != '.') continue;
      const std::string a = d.substr(0, at), b = d.substr(at + sep.size(), d.size() - 1 - at - sep.size());
      if (!is_city(a) || !is_city(b)) {
        countries += country_names.count(a) && country_names.count(b);
        continue;
      }
      const WorldPlace &pa = *city[a], &pb = *city[b];
      const double dlat = pa.latitude - pb.latitude, dlon = pa.longitude - pb.longitude;
      if (word == std::string("north")) {
        EXPECT_GE(dlat, 1.0) << d;
      }
      if (word == std::string("south")) {
        EXPECT_LE(dlat, -1.0) << d;
      }
      if (word == std::string("east")) {
        EXPECT_TRUE(dlon >= 1.0 && dlon <= 150.0) << d;
      }
      if (word == std::string("west")) {
        EXPECT_TRUE(dlon <= -1.0 && dlon >= -150.0) << d;
      }
      ++axis;
    }
    const size_t near_at = d.find(" is near ");
    if (near_at != std::string::npos && is_city(d.substr(0, near_at))) {
      const WorldPlace& x = *city[d.substr(0, near_at)];
      const size_t open = d.find(" (", near_at);
      ASSERT_NE(open, std::string::npos) << d;
      const std::string first = d.substr(near_at + 9, open - near_at - 9);
      ASSERT_TRUE(city.count(first)) << d;
      double nearest = 1e18;
      for (const auto& p : e->places)
        if (p.name != x.name) nearest = std::min(nearest, HaversineKm(x, p));
      EXPECT_NEAR(HaversineKm(x, *city[first]), nearest, 1e-6) << d;
      ++near;
    }
  }
  EXPECT_GT(axis, static_cast<int64_t>(e->places.size()));     // about axis_pairs per city
  EXPECT_GT(near, static_cast<int64_t>(e->places.size()) * 9 / 10);
  EXPECT_GT(countries, 100);
}

// The recipes' corpora are pinned: the cached rungs (and a checkpoint resumed
// after an interruption) are named by the recipe's hash, which does not see
// the corpus builder's code, so a change to the builder that alters a
// recipe's documents must bump its corpus_version instead. relations-v1 is
// the corpus the superseded ladder in docs/probe.md was trained on.
TEST(WorldModel, RecipeCorporaAreUnchanged) {
  struct Pin {
    WorldRecipe recipe;
    size_t documents;
    std::string corpus_hash, l_hash;
  };
  for (const Pin& pin : {Pin{WorldModelRecipeV1(), 19996u, "c8d14cc4cecce2ce", "1b6f3fcc52541652"},
                         Pin{WorldModelRecipe(), 65654u, "26b8fb7866743027", "135013bbd1e45c3b"}}) {
    SCOPED_TRACE(pin.recipe.corpus_version);
    auto e = LoadWorldEntities(pin.recipe);
    ASSERT_TRUE(e) << e.error().ToString();
    const std::vector<std::string> docs = BuildWorldCorpus(pin.recipe, *e);
    std::string all;
    for (const std::string& d : docs) all += d + "\n";
    EXPECT_EQ(docs.size(), pin.documents);
    EXPECT_EQ(Fnv1aHex(all), pin.corpus_hash);
    EXPECT_EQ(WorldRecipeHash(pin.recipe, pin.recipe.ladder.back()), pin.l_hash);
  }
  EXPECT_EQ(WorldModelRecipeV1().corpus_version, "relations-v1");
  EXPECT_EQ(WorldModelRecipe().corpus_version, "relations-v3");
}

TEST(WorldModel, SplitAndLadderBelongToTheRecipe) {
  const WorldRecipe recipe = WorldModelRecipe();
  auto a = LoadWorldEntities(recipe), b = LoadWorldEntities(recipe);
  ASSERT_TRUE(a && b);
  int64_t test = 0;
  for (size_t i = 0; i < a->places.size(); ++i) {
    EXPECT_EQ(a->places[i].is_test, b->places[i].is_test);
    test += a->places[i].is_test;
  }
  EXPECT_NEAR(static_cast<double>(test) / static_cast<double>(a->places.size()), recipe.test_fraction, 0.01);
  std::set<std::string> names;
  for (const auto& p : a->places) EXPECT_TRUE(names.insert(p.name).second) << p.name;
  for (const auto& p : a->people) EXPECT_TRUE(names.insert(p.name).second) << p.name;
  ASSERT_GE(recipe.ladder.size(), 3u);
  for (size_t i = 1; i < recipe.ladder.size(); ++i)
    EXPECT_GT(recipe.ladder[i].n_embd * recipe.ladder[i].n_layer,
              recipe.ladder[i - 1].n_embd * recipe.ladder[i - 1].n_layer);
  EXPECT_NE(WorldRecipeHash(recipe, recipe.ladder[0]), WorldRecipeHash(recipe, recipe.ladder[1]));
  EXPECT_FALSE(FindRung(recipe, "xxl"));
}

}  // namespace
}  // namespace lmlab::train
