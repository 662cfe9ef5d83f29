// Tables, plots and the animated page of a probe run.
#include "lmlab/probe/render.h"

#include <gtest/gtest.h>

#include "lmlab/core/file.h"
#include "tests/support/text.h"

namespace lmlab::probe {
namespace {

using testing::Count;

ProbeReport SmallReport() {
  ProbeReport r;
  r.model = "tiny <test>.gguf";
  r.dataset = "cities";
  r.prompt_template = "bare";
  r.n_entities = 4;
  r.n_layers = 2;
  r.n_embd = 8;
  SweepResult& s = r.sweep;
  s.dataset = "cities";
  s.kind = TargetKind::kPlace;
  s.target_names = {"latitude", "longitude"};
  s.train_rows = {0, 1};
  s.test_rows = {2, 3};
  s.test_entities = {"Paris", "Lima & Co"};
  s.test_colour = {"France", "Peru"};
  s.colour_by = "country";
  s.test_truth = {48.9, 2.35, -12.0, -77.0};
  s.shuffle_ran = 1;
  for (int l = 0; l < 2; ++l) {
    LayerResult lr;
    lr.layer = l;
    lr.alpha = 10;
    lr.test.r2 = 0.3 + 0.5 * l;
    lr.test.targets = {{"latitude", 0.3, 0.5, 0.5, 10, 12}, {"longitude", 0.2, 0.4, 0.4, 20, 25}};
    lr.test.mean_km = 1234.4;
    lr.test.median_km = 1000;
    lr.test.proximity_error = 0.25;
    lr.shuffled_test_r2 = -0.01;
    lr.test_predictions = {40.0, 10.0, -20.0, -60.0};
    s.layers.push_back(lr);
  }
  s.best_layer = 1;
  s.best_r2 = 0.8;
  r.controls.push_back(
      {.name = "random-init model", .layers = {0, 1}, .test_r2 = {0.01, 0.02}, .best_r2 = 0.02, .best_layer = 1});
  return r;
}

TEST(Render, TableHasEveryLayerAndMarksTheBest) {
  ProbeReport r = SmallReport();
  std::string t = RenderSweepTable(r.sweep);
  EXPECT_NE(t.find("1*"), std::string::npos) << t;
  EXPECT_NE(t.find("1,234"), std::string::npos) << t;  // mean km
  EXPECT_NE(t.find("shuffled R2"), std::string::npos);
  std::string text = RenderReportText(r);
  EXPECT_NE(text.find("Best layer 1: test R2 0.800"), std::string::npos) << text;
  EXPECT_NE(text.find("Control 'random-init model': best test R2 0.020"), std::string::npos) << text;
}

TEST(Render, PlotsAndPage) {
  ProbeReport r = SmallReport();
  std::string map = MapSvg(r.sweep, 1);
  EXPECT_EQ(map.rfind("<svg", 0), 0u);
  EXPECT_NE(map.find("Lima &amp; Co"), std::string::npos);  // escaped
  EXPECT_EQ(Count(map, "<title>"), 2u);                    // one coloured dot per test entity
  std::string chart = R2ByLayerSvg(r);
  EXPECT_EQ(Count(chart, "<polyline"), 3u);  // linear, shuffled, random-init model
  std::string html = ReportHtml(r);
  EXPECT_EQ(Count(html, "class=\"frame\""), 2u);
  EXPECT_NE(html.find("tiny &lt;test&gt;.gguf"), std::string::npos);

  std::string dir = ::testing::TempDir() + "/lmlab-probe-render";
  auto files = WriteReportFiles(r, dir);
  ASSERT_TRUE(files) << files.error().ToString();
  EXPECT_EQ(files->size(), 7u);  // report.json, r2 chart, 2 scatters, 2 maps, index.html
  auto json = ReadFile(dir + "/report.json");
  ASSERT_TRUE(json);
  auto back = ParseReport(*json);
  ASSERT_TRUE(back);
  EXPECT_EQ(RenderReportText(*back), RenderReportText(r));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace lmlab::probe
