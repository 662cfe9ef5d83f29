// Entity CSVs, bad input, built-in datasets and prompt templates.
#include "lmlab/probe/dataset.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "lmlab/probe/experiment.h"
#include "lmlab/train/world_model.h"

namespace lmlab::probe {
namespace {

// The paper's entity files, cut to every 100th row (tests/data/world-models/PROVENANCE.md).
const std::filesystem::path kPaperData = std::filesystem::path(LMLAB_SOURCE_DIR) / "tests" / "data" / "world-models";

TEST(Dataset, ParsesPlacesWithQuotesGroupsAndSplit) {
  auto ds = ParseEntityCsv(
      "name,country,latitude,longitude,is_test\n"
      "Paris,France,48.8566,2.3522,False\n"
      "\"Washington, D.C.\",United States,38.9072,-77.0369,True\n"
      "\"The \"\"Big\"\" Apple\",United States,40.7,-74.0,False\r\n",
      {}, "places.csv");
  ASSERT_TRUE(ds) << ds.error().ToString();
  EXPECT_EQ(ds->kind, TargetKind::kPlace);
  ASSERT_EQ(ds->size(), 3);
  EXPECT_EQ(ds->entities[1], "Washington, D.C.");
  EXPECT_EQ(ds->entities[2], "The \"Big\" Apple");
  EXPECT_DOUBLE_EQ(ds->target(1, 1), -77.0369);
  ASSERT_EQ(ds->group_index("country"), 0);
  EXPECT_EQ(ds->groups[0][1], "United States");
  EXPECT_EQ(ds->is_test, (std::vector<uint8_t>{0, 1, 0}));
  EXPECT_TRUE(ValidateDataset(*ds));
}

TEST(Dataset, DatesBecomeFractionalYears) {
  auto y = ParseYear("1986-09-15");
  ASSERT_TRUE(y);
  EXPECT_NEAR(*y, 1986 + 257.0 / 365, 1e-12);  // 15 Sep is day 258 of a common year
  EXPECT_EQ(*ParseYear("-384"), -384);
  EXPECT_FALSE(ParseYear("1986-13-01"));
  EXPECT_FALSE(ParseYear("soon"));
  CsvSchema s;
  s.name_format = "{title} by {creator}";
  auto ds = ParseEntityCsv("title,creator,release_date,decade\nIt,Stephen King,1986-09-15,1980\n", s, "art.csv");
  ASSERT_TRUE(ds) << ds.error().ToString();
  EXPECT_EQ(ds->kind, TargetKind::kTime);
  EXPECT_EQ(ds->entities[0], "It by Stephen King");
  EXPECT_EQ(ds->groups[ds->group_index("decade")][0], "1980");
}

TEST(Dataset, BadInputSaysWhatAndWhere) {
  auto empty = ParseEntityCsv("", {}, "empty.csv");
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message.find("empty"), std::string::npos);
  EXPECT_FALSE(ParseEntityCsv("name,latitude,longitude\n", {}, "header.csv"));

  auto missing = ParseEntityCsv("name,latitude,longitude\nA,1,2\nB,,3\n", {}, "m.csv");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("line 3"), std::string::npos) << missing.error().message;
  EXPECT_NE(missing.error().message.find("`missing=drop`"), std::string::npos);

  auto nan = ParseEntityCsv("name,latitude,longitude\nA,nan,2\n", {}, "n.csv");
  ASSERT_FALSE(nan);
  EXPECT_NE(nan.error().message.find("latitude"), std::string::npos) << nan.error().message;

  auto range = ParseEntityCsv("name,latitude,longitude\nA,95,2\n", {}, "r.csv");
  ASSERT_FALSE(range);
  EXPECT_NE(range.error().message.find("[-90, 90]"), std::string::npos);

  CsvSchema drop;
  drop.missing = MissingPolicy::kDrop;
  auto dropped = ParseEntityCsv("name,latitude,longitude\nA,1,2\nB,,3\nC,NaN,1\n", drop, "m.csv");
  ASSERT_TRUE(dropped);
  EXPECT_EQ(dropped->size(), 1);

  auto notarget = ParseEntityCsv("name,colour\nA,red\n", {}, "t.csv");
  ASSERT_FALSE(notarget);
  EXPECT_NE(notarget.error().message.find("`target_columns`"), std::string::npos);

  auto unterminated = ParseEntityCsv("name,latitude,longitude\n\"A,1,2\n", {}, "q.csv");
  ASSERT_FALSE(unterminated);
  EXPECT_EQ(unterminated.error().code, ErrorCode::kParse);
}

TEST(Dataset, DuplicateNames) {
  const char* csv = "name,latitude,longitude\nSpringfield,39.8,-89.6\nParis,48.9,2.4\nSpringfield,42.1,-72.6\n";
  auto err = ParseEntityCsv(csv, {}, "d.csv");
  ASSERT_FALSE(err);
  EXPECT_NE(err.error().message.find("'Springfield' on lines 2 and 4"), std::string::npos) << err.error().message;
  CsvSchema first;
  first.duplicates = DuplicatePolicy::kKeepFirst;
  auto f = ParseEntityCsv(csv, first, "d.csv");
  ASSERT_TRUE(f);
  ASSERT_EQ(f->size(), 2);
  EXPECT_DOUBLE_EQ(f->target(0, 0), 39.8);
  CsvSchema drop;
  drop.duplicates = DuplicatePolicy::kDropAll;
  auto d = ParseEntityCsv(csv, drop, "d.csv");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->entities, std::vector<std::string>{"Paris"});
}

TEST(Dataset, ReadsThePapersFiles) {
  CsvSchema s;
  s.duplicates = DuplicatePolicy::kKeepFirst;
  auto world = LoadEntityCsv(kPaperData / "world_place.csv", s);
  ASSERT_TRUE(world) << world.error().ToString();
  EXPECT_EQ(world->size(), 396);  // PROVENANCE.md: 396 rows, no duplicate names in the cut
  EXPECT_GE(world->group_index("country"), 0);
  int64_t world_tests = 0;
  for (auto t : world->is_test) world_tests += t;
  EXPECT_EQ(world_tests, 80);  // the authors' split flag, read as written
  EXPECT_EQ(world->is_test.size(), static_cast<size_t>(world->size()));
  s.name_format = "{title} by {creator}";
  auto art = LoadEntityCsv(kPaperData / "art.csv", s);
  ASSERT_TRUE(art) << art.error().ToString();
  EXPECT_EQ(art->kind, TargetKind::kTime);
  EXPECT_EQ(art->size(), 314);
  EXPECT_GE(art->group_index("decade"), 0);
}

TEST(Dataset, BuiltinsFromInstalledPackages) {
  auto cities = BuildWorldCities({.limit = 300});
  ASSERT_TRUE(cities) << cities.error().ToString();
  EXPECT_EQ(cities->size(), 300);
  EXPECT_EQ(cities->entities[0], "Tokyo, Japan");  // by population
  EXPECT_TRUE(ValidateDataset(*cities));
  auto us = BuildUsPlaces({.limit = 50});
  ASSERT_TRUE(us);
  EXPECT_EQ(us->entities[0], "New York, New York");
  auto people = BuildPeople({.limit = 100});
  ASSERT_TRUE(people) << people.error().ToString();
  EXPECT_EQ(people->kind, TargetKind::kTime);
  EXPECT_TRUE(ValidateDataset(*people));
  auto events = BuildEvents({});
  ASSERT_TRUE(events) << events.error().ToString();
  EXPECT_GT(events->size(), 500);
  EXPECT_TRUE(ValidateDataset(*events));
  int64_t tests = 0;
  for (auto t : events->is_test) tests += t;
  EXPECT_GT(tests, events->size() / 10);
  EXPECT_LT(tests, events->size() * 3 / 10);
  EXPECT_FALSE(BuildBuiltin("moon-craters", {}));
}

TEST(Dataset, PromptTemplatesEndWithTheEntity) {
  EntityDataset ds;
  ds.kind = TargetKind::kPlace;
  ds.entities = {"Paris", "Lima"};
  for (auto t : {PromptTemplate::kBare, PromptTemplate::kQuestion, PromptTemplate::kRandomPrefix}) {
    auto p = MakePrompts(ds, t, 3);
    ASSERT_EQ(p.size(), 2u);
    EXPECT_TRUE(p[0].ends_with("Paris")) << p[0];
  }
  EXPECT_EQ(MakePrompts(ds, PromptTemplate::kAllCaps)[1], "LIMA");
  EXPECT_EQ(MakePrompts(ds, PromptTemplate::kQuestion)[0], "What are the lat/lon coordinates of Paris");
  EXPECT_EQ(MakePrompts(ds, PromptTemplate::kRandomPrefix, 3), MakePrompts(ds, PromptTemplate::kRandomPrefix, 3));
  EXPECT_NE(MakePrompts(ds, PromptTemplate::kRandomPrefix, 3)[0], MakePrompts(ds, PromptTemplate::kRandomPrefix, 4)[0]);
  EXPECT_TRUE(ParsePromptTemplate("caps"));
  EXPECT_FALSE(ParsePromptTemplate("shout"));
}

// The world-model datasets are exactly the recipe's entities with the
// recipe's held-out split, and a probe's training rows never include a
// held-out entity, whatever the study's seed.
TEST(Dataset, WorldModelDatasetsKeepTheRecipesEntitiesAndSplit) {
  const train::WorldRecipe recipe = train::WorldModelRecipe();
  auto e = train::LoadWorldEntities(recipe);
  ASSERT_TRUE(e) << e.error().ToString();
  DatasetSpec spec;
  spec.limit = 0;
  spec.source = "world-model-places";
  auto places = LoadDataset(spec);
  spec.source = "world-model-people";
  auto people = LoadDataset(spec);
  ASSERT_TRUE(places && people);
  ASSERT_EQ(places->size(), recipe.max_cities);
  ASSERT_EQ(people->size(), recipe.max_people);
  int64_t held_out = 0;
  for (int64_t i = 0; i < places->size(); ++i) {
    ASSERT_EQ(places->entities[i], e->places[i].name);
    ASSERT_EQ(places->is_test[i], e->places[i].is_test) << places->entities[i];
    held_out += e->places[i].is_test;
  }
  for (int64_t i = 0; i < people->size(); ++i) ASSERT_EQ(people->is_test[i], e->people[i].is_test);
  EXPECT_NEAR(static_cast<double>(held_out), recipe.test_fraction * static_cast<double>(places->size()), 1.0);
  for (uint64_t seed : {0u, 7u}) {
    const Split split = TrainTestSplit(*places, seed);
    EXPECT_EQ(static_cast<int64_t>(split.test.size()), held_out);
    for (int64_t i : split.train) ASSERT_FALSE(e->places[i].is_test) << places->entities[i];
  }
}

}  // namespace
}  // namespace lmlab::probe
