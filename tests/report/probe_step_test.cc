// The demo's probe section and `lmlab probe run` are one library call
// (probe::RunStudy): the section's rerun command, run through the CLI on the
// same model, gives the same numbers as the section.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "lmlab/report/internal/steps.h"
#include "tests/support/run_command.h"
#include "tests/support/tiny_model.h"

namespace lmlab::report::internal {
namespace {

namespace fs = std::filesystem;
using lmlab::testing::LmlabBinary;
using lmlab::testing::RunCommand;

TEST(ProbeStep, SectionAndCliGiveTheSameNumbers) {
  fs::path out = fs::temp_directory_path() / ("lmlab-probe-step-" + std::to_string(::getpid()));
  fs::remove_all(out);
  DemoOptions demo;
  StepContext ctx;
  ctx.options = &demo;
  ctx.out_dir = out / "demo";
  ctx.quick = true;
  ctx.model_path = testing::TinyModelPath();
  auto section = ProbeStep(ctx);
  ASSERT_TRUE(section) << section.error().ToString();
  const nlohmann::json& demo_report = section->data;
  ASSERT_FALSE(section->rerun.empty());

  // The same settings through the CLI, in its own cache (a fresh capture).
  std::vector<probe::StudyOptions> studies = DemoProbeStudies(ctx, ctx.model_path);
  ASSERT_EQ(studies.size(), 1u);
  studies[0].cache_root = out / "cli-cache";
  const std::string cmd = StudyCommandLine(studies[0]);
  ASSERT_EQ(cmd.rfind("lmlab probe run ", 0), 0u) << cmd;
  EXPECT_EQ(section->rerun[0].substr(0, section->rerun[0].find(" --cache-dir")), cmd.substr(0, cmd.find(" --cache-dir")));
  auto r = RunCommand(LmlabBinary() + cmd.substr(5) + " --out " + (out / "cli-out").string() + " --json", 300);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json cli = nlohmann::json::parse(r.out);

  EXPECT_EQ(cli["protocol"], demo_report["protocol"]);
  EXPECT_EQ(cli["prompt_example"], demo_report["prompt_example"]);
  EXPECT_EQ(cli["sweep"]["best_layer"], demo_report["sweep"]["best_layer"]);
  ASSERT_EQ(cli["sweep"]["layers"].size(), demo_report["sweep"]["layers"].size());
  for (size_t l = 0; l < cli["sweep"]["layers"].size(); ++l) {
    EXPECT_NEAR(cli["sweep"]["layers"][l]["test"]["r2"].get<double>(),
                demo_report["sweep"]["layers"][l]["test"]["r2"].get<double>(), 1e-6)
        << "layer " << l;
    EXPECT_EQ(cli["sweep"]["layers"][l]["alpha"], demo_report["sweep"]["layers"][l]["alpha"]);
  }
  ASSERT_EQ(cli["controls"].size(), demo_report["controls"].size());
  for (size_t c = 0; c < cli["controls"].size(); ++c) {
    EXPECT_EQ(cli["controls"][c]["name"], demo_report["controls"][c]["name"]);
    EXPECT_NEAR(cli["controls"][c]["best_r2"].get<double>(), demo_report["controls"][c]["best_r2"].get<double>(), 1e-6)
        << cli["controls"][c]["name"];
  }
  EXPECT_NEAR(cli["headline"]["gap"].get<double>(), demo_report["headline"]["gap"].get<double>(), 1e-6);
  fs::remove_all(out);
}

}  // namespace
}  // namespace lmlab::report::internal
