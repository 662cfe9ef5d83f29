// lmlab's world-model recipe: its corpus states relations only (no
// coordinates, no dates), every entity appears in it, the held-out split is
// fixed by the recipe, and the ladder's rungs are distinct sizes.
#include <gtest/gtest.h>

#include <cctype>
#include <set>

#include "lmlab/train/world_model.h"

namespace lmlab::train {
namespace {

TEST(WorldModel, CorpusHasNoCoordinatesAndNoDates) {
  const WorldRecipe recipe = WorldModelRecipe();
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
  // Every entity, held out or not, appears in the corpus.
  std::string all;
  for (const std::string& d : docs) all += d + "\n";
  for (const auto& p : e->places) ASSERT_NE(all.find(p.name + " "), std::string::npos) << p.name;
  for (const auto& p : e->people) ASSERT_NE(all.find(p.name + " "), std::string::npos) << p.name;
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
