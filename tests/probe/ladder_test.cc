// The world-model ladder's goals (issue 17) as EvaluateLadderGoals judges
// them from the rows: the largest rung's gap to its strongest control, the gap
// growing with size, and the held-out blocks' proximity error against the
// standard split's. Rows are made by hand, so each goal is seen met and not met.
#include <gtest/gtest.h>

#include "lmlab/probe/ladder.h"

namespace lmlab::probe {
namespace {

LadderRow Row(const std::string& rung, const std::string& dataset, double r2, double control, double block,
              double split) {
  LadderRow r;
  r.rung = rung;
  r.dataset = dataset;
  r.headline = {.layer = 1, .r2 = r2, .strongest_control = "static-embedding", .control_r2 = control,
                .gap = r2 - control};
  r.holdout_block_proximity = block;
  r.holdout_baseline_proximity = split;
  return r;
}

const LadderGoal* Find(const std::vector<LadderGoal>& goals, const std::string& start) {
  for (const LadderGoal& g : goals)
    if (g.name.starts_with(start)) return &g;
  return nullptr;
}

TEST(LadderGoals, MetWhenTheLargestRungLeadsByThreeTenthsAndTheGapGrows) {
  const std::vector<LadderRow> rows = {Row("s", "places", 0.20, 0.05, 0.30, 0.29),
                                       Row("m", "places", 0.35, 0.06, 0.25, 0.24),
                                       Row("l", "places", 0.45, 0.07, 0.22, 0.20)};
  const std::vector<LadderGoal> goals = EvaluateLadderGoals(rows);
  ASSERT_EQ(goals.size(), 3u);
  for (const LadderGoal& g : goals) EXPECT_TRUE(g.met) << g.name << ": " << g.detail;
  const LadderGoal* gap = Find(goals, "places: the largest rung");
  ASSERT_NE(gap, nullptr);
  EXPECT_NE(gap->detail.find("rung l"), std::string::npos) << gap->detail;
  EXPECT_NE(gap->detail.find("+0.380"), std::string::npos) << gap->detail;
}

TEST(LadderGoals, NotMetWhenTheGapIsSmallShrinksOrTheBlocksDoWorse) {
  const std::vector<LadderRow> rows = {Row("s", "people", 0.30, 0.05, 0.30, 0.30),
                                       Row("m", "people", 0.25, 0.05, 0.30, 0.30),
                                       Row("l", "people", 0.33, 0.06, 0.40, 0.30)};
  const std::vector<LadderGoal> goals = EvaluateLadderGoals(rows);
  ASSERT_EQ(goals.size(), 3u);
  const LadderGoal* gap = Find(goals, "people: the largest rung");
  const LadderGoal* grows = Find(goals, "people: the gap grows");
  const LadderGoal* blocks = Find(goals, "people: held-out blocks");
  ASSERT_TRUE(gap && grows && blocks);
  EXPECT_FALSE(gap->met) << gap->detail;     // +0.27 < 0.3
  EXPECT_FALSE(grows->met) << grows->detail;  // s +0.25 > m +0.20
  EXPECT_FALSE(blocks->met) << blocks->detail;  // 0.40 vs 0.30
}

TEST(LadderGoals, OneRungCannotShowGrowthAndDatasetsAreJudgedApart) {
  const std::vector<LadderRow> rows = {Row("l", "places", 0.50, 0.10, -1, -1), Row("l", "people", 0.20, 0.10, -1, -1)};
  const std::vector<LadderGoal> goals = EvaluateLadderGoals(rows);
  ASSERT_EQ(goals.size(), 4u);  // no hold-out goal without a hold-out
  EXPECT_TRUE(Find(goals, "places: the largest rung")->met);
  EXPECT_FALSE(Find(goals, "people: the largest rung")->met);
  EXPECT_FALSE(Find(goals, "places: the gap grows")->met);
  EXPECT_EQ(Find(goals, "places: the gap grows")->detail, "needs at least two rungs");
}

}  // namespace
}  // namespace lmlab::probe
