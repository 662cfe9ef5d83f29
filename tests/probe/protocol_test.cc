// The paper protocol pinned: prompt strings for a fixed entity set, name
// rewrites, the random prompt's token ids, the penalty grids and fixed
// penalties by model size, the target detection (death_year) and the works'
// possessive names (wesg52/world-models feature_datasets/*.py,
// probe_experiment.py, generalization_experiment.py).
#include <gtest/gtest.h>

#include <cmath>

#include "lmlab/probe/dataset.h"
#include "lmlab/probe/protocol.h"
#include "lmlab/probe/ridge.h"

namespace lmlab::probe {
namespace {

EntityDataset Places() {
  EntityDataset ds;
  ds.name = "places";
  ds.kind = TargetKind::kPlace;
  ds.entity_kind = EntityKind::kPlace;
  ds.entities = {"Paris, France", "Springfield (Illinois)", "Lima", "Washington, D.C., United States"};
  ds.target_names = {"latitude", "longitude"};
  ds.targets = {48.9, 2.4, 39.8, -89.6, -12.0, -77.0, 38.9, -77.0};
  return ds;
}

EntityDataset Times(EntityKind kind, std::vector<std::string> names) {
  EntityDataset ds;
  ds.name = "times";
  ds.kind = TargetKind::kTime;
  ds.entity_kind = kind;
  ds.entities = std::move(names);
  ds.target_names = {"year"};
  ds.targets.assign(ds.entities.size(), 1900.0);
  return ds;
}

TEST(Protocol, PaperRewritesPlaceNamesToPossessives) {
  EXPECT_EQ(PaperEntityText("Paris, France", EntityKind::kPlace), "France's Paris");
  // The last comma's part moves; parentheses take precedence.
  EXPECT_EQ(PaperEntityText("Washington, D.C., United States", EntityKind::kPlace), "United States's Washington, D.C.");
  EXPECT_EQ(PaperEntityText("Springfield (Illinois)", EntityKind::kPlace), "Illinois's Springfield");
  EXPECT_EQ(PaperEntityText("Lima", EntityKind::kPlace), "Lima");
  // Only places are rewritten.
  EXPECT_EQ(PaperEntityText("Smith, John", EntityKind::kPerson), "Smith, John");
}

TEST(Protocol, PaperPromptStringsForFixedEntities) {
  EntityDataset ds = Places();
  StudyPrompts bare = MakeStudyPrompts(ds, PromptTemplate::kBare, Protocol::kPaper, 32000, 0);
  EXPECT_EQ(bare.text, (std::vector<std::string>{"France's Paris", "Illinois's Springfield", "Lima",
                                                 "United States's Washington, D.C."}));
  EXPECT_TRUE(bare.prefix_tokens.empty());
  EXPECT_EQ(bare.entity_text, bare.text);
  StudyPrompts q = MakeStudyPrompts(ds, PromptTemplate::kQuestion, Protocol::kPaper, 32000, 0);
  EXPECT_EQ(q.text[0], "What are the lat/lon coordinates of France's Paris");
  EXPECT_EQ(q.entity_text[0], "France's Paris");
  StudyPrompts caps = MakeStudyPrompts(ds, PromptTemplate::kAllCaps, Protocol::kPaper, 32000, 0);
  EXPECT_EQ(caps.text[0], "FRANCE'S PARIS");
  EXPECT_EQ(caps.text[2], "LIMA");
  // lmlab's protocol keeps the names and its own question for times.
  StudyPrompts lm = MakeStudyPrompts(ds, PromptTemplate::kBare, Protocol::kLmlab, 32000, 0);
  EXPECT_EQ(lm.text[0], "Paris, France");
}

TEST(Protocol, PaperQuestionFormsForTimes) {
  EntityDataset people = Times(EntityKind::kPerson, {"Aristotle", "Ada Lovelace"});
  EXPECT_EQ(MakeStudyPrompts(people, PromptTemplate::kQuestion, Protocol::kPaper, 100, 0).text[0], "When did Aristotle");
  EXPECT_EQ(MakeStudyPrompts(people, PromptTemplate::kAllCaps, Protocol::kPaper, 100, 0).text[1], "ADA LOVELACE");
  EntityDataset works = Times(EntityKind::kWork, {"Bob Dylan's Blonde on Blonde"});
  EXPECT_EQ(MakeStudyPrompts(works, PromptTemplate::kQuestion, Protocol::kPaper, 100, 0).text[0],
            "When was the release date of Bob Dylan's Blonde on Blonde");
  EntityDataset events = Times(EntityKind::kEvent, {"Castro expels Cuban President Batista"});
  EXPECT_EQ(MakeStudyPrompts(events, PromptTemplate::kQuestion, Protocol::kPaper, 100, 0).text[0],
            "Publication date of: Castro expels Cuban President Batista");
  EXPECT_EQ(MakeStudyPrompts(events, PromptTemplate::kQuestion, Protocol::kLmlab, 100, 0).text[0],
            "In what year did this happen: Castro expels Cuban President Batista");
}

TEST(Protocol, PaperRandomPromptIsTenTokenIdsFrom100) {
  EntityDataset ds = Places();
  StudyPrompts r = MakeStudyPrompts(ds, PromptTemplate::kRandomPrefix, Protocol::kPaper, 32000, 7);
  ASSERT_EQ(r.prefix_tokens.size(), ds.entities.size());
  for (const auto& ids : r.prefix_tokens) {
    ASSERT_EQ(ids.size(), 10u);
    for (int32_t id : ids) {
      EXPECT_GE(id, 100);
      EXPECT_LT(id, 32000);
    }
  }
  EXPECT_EQ(r.text[0], "France's Paris");  // the text is the entity; the ids go between BOS and it
  EXPECT_NE(r.prefix_tokens[0], r.prefix_tokens[1]);
  EXPECT_EQ(MakeStudyPrompts(ds, PromptTemplate::kRandomPrefix, Protocol::kPaper, 32000, 7).prefix_tokens,
            r.prefix_tokens);
  EXPECT_NE(MakeStudyPrompts(ds, PromptTemplate::kRandomPrefix, Protocol::kPaper, 32000, 8).prefix_tokens,
            r.prefix_tokens);
  // A vocabulary of 100 tokens or fewer draws from all of it.
  // (Held in a named value: GCC 12 does not extend a temporary's life through a range-for member access.)
  StudyPrompts small = MakeStudyPrompts(ds, PromptTemplate::kRandomPrefix, Protocol::kPaper, 60, 1);
  for (int32_t id : small.prefix_tokens[0]) EXPECT_LT(id, 60);
  // lmlab's random prompt: five filler words in the text.
  StudyPrompts lm = MakeStudyPrompts(ds, PromptTemplate::kRandomPrefix, Protocol::kLmlab, 32000, 7);
  EXPECT_TRUE(lm.prefix_tokens.empty());
  int spaces = 0;
  for (char c : lm.text[2]) spaces += c == ' ';
  EXPECT_EQ(spaces, 5);
}

TEST(Protocol, AlphaGridsBySize) {
  auto expect_grid = [](const std::vector<double>& g, double upper) {
    ASSERT_EQ(g.size(), 12u);
    EXPECT_NEAR(g.front(), std::pow(10.0, 0.8), 1e-9);
    EXPECT_NEAR(g.back(), std::pow(10.0, upper), 1e-6 * std::pow(10.0, upper));
  };
  expect_grid(PaperAlphaGrid(4096), 4.1);  // Llama-2-7B
  expect_grid(PaperAlphaGrid(5120), 4.3);  // 13B
  expect_grid(PaperAlphaGrid(8192), 4.5);  // 70B
  expect_grid(PaperAlphaGrid(128), 4.1);   // smaller models: the 7B grid
  expect_grid(PaperAlphaGrid(16384), 4.5);
  // In between, log-width interpolation: 4608 is 1/2 of the log2 way... between 4096 and 5120 it rises.
  const double mid = std::log10(PaperAlphaGrid(4608).back());
  EXPECT_GT(mid, 4.1);
  EXPECT_LT(mid, 4.3);
  EXPECT_EQ(PaperAlphaGrid(4096), LogSpace(0.8, 4.1, 12));
  EXPECT_EQ(PaperFixedAlpha(4096), 3000.0);
  EXPECT_EQ(PaperFixedAlpha(5120), 6000.0);
  EXPECT_EQ(PaperFixedAlpha(8192), 18000.0);
  EXPECT_FALSE(PaperFixedAlpha(192).has_value());
}

TEST(Protocol, DeathYearIsTheHistoricalFiguresTarget) {
  const std::string csv =
      "name,birth_year,death_year,occupation,is_test\n"
      "Aristotle,-384,-322,philosopher,False\n"
      "Ada Lovelace,1815,1852,mathematician,True\n";
  auto ds = ParseEntityCsv(csv, {}, "historical_figure.csv");
  ASSERT_TRUE(ds) << ds.error().ToString();
  EXPECT_EQ(ds->target_names, std::vector<std::string>{"death_year"});
  EXPECT_EQ(ds->target(0, 0), -322);
  EXPECT_EQ(ds->entity_kind, EntityKind::kPerson);
  // Without death_year a birth year is used, still as a person.
  auto born = ParseEntityCsv("name,birthyear\nA,1900\nB,1910\n", {}, "b.csv");
  ASSERT_TRUE(born) << born.error().ToString();
  EXPECT_EQ(born->target_names, std::vector<std::string>{"birthyear"});
  EXPECT_EQ(born->entity_kind, EntityKind::kPerson);
}

TEST(Protocol, WorksAreCreatorsPossessiveTitle) {
  const std::string csv =
      "title,creator,release_date,is_test\n"
      "Blonde on Blonde,Bob Dylan,1966-06-20,False\n"
      "Abbey Road,The Beatles,1969-09-26,True\n";
  auto ds = ParseEntityCsv(csv, {}, "art.csv");
  ASSERT_TRUE(ds) << ds.error().ToString();
  EXPECT_EQ(ds->entities, (std::vector<std::string>{"Bob Dylan's Blonde on Blonde", "The Beatles' Abbey Road"}));
  EXPECT_EQ(ds->entity_kind, EntityKind::kWork);
  EXPECT_EQ(ds->target_names, std::vector<std::string>{"release_date"});
}

TEST(Protocol, BuiltinPeopleSayTheyUseBirthYears) {
  auto ds = BuildPeople({.limit = 5});
  ASSERT_TRUE(ds) << ds.error().ToString();
  EXPECT_EQ(ds->target_names, std::vector<std::string>{"birth_year"});
  EXPECT_NE(ds->target_note.find("birth year"), std::string::npos);
  EXPECT_NE(ds->target_note.find("death year"), std::string::npos);
}

}  // namespace
}  // namespace lmlab::probe
