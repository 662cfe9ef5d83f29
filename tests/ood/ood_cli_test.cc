// `lmlab ood` as a user meets it: JSON that parses, plots on disk, one-line
// errors with exit code 2 for bad flags.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "tests/support/run_command.h"
#include "tests/support/tiny_model.h"

namespace lmlab {
namespace {

using lmlab::testing::LmlabBinary;
using lmlab::testing::RunCommand;
namespace fs = std::filesystem;

class OodCli : public ::testing::Test {
 protected:
  void SetUp() override {
    out_ = fs::temp_directory_path() / ("lmlab_ood_cli_" + std::to_string(::getpid()));
    fs::create_directories(out_);
  }
  void TearDown() override { fs::remove_all(out_); }
  fs::path out_;
};

TEST_F(OodCli, ClassifierPaperProtocolJsonAndPlots) {
  auto r = RunCommand(LmlabBinary() + " ood classifier --arch mlp --seeds 2 --train-size 1280 --eval-size 100 " +
                      "--fgsm-size 20 --epochs 1 --losses ce mse --shifts defocus-blur fgsm --threads 1 --json -o " +
                      out_.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["protocol"], "paper");
  EXPECT_EQ(j["distance"], "paper");
  EXPECT_EQ(j["axis"], "ood-score");
  EXPECT_EQ(j["seeds"], 2);
  // ce, mse, and the decision's reward model and xent+1.
  EXPECT_EQ(j["models"].size(), 4u);
  EXPECT_EQ(j["curves"].size(), 2u * 2u * 2u);  // seeds x losses x shifts
  EXPECT_EQ(j["summary"].size(), 4u);
  EXPECT_EQ(j["summary"][0]["points"].size(), 6u);  // clean and CIFAR-10-C's five severities
  EXPECT_TRUE(j["summary"][0]["spearman_ood_score"].is_number());
  EXPECT_TRUE(j["summary"][0]["points"][5]["ood_score"]["std"].is_number());
  EXPECT_EQ(j["rewards"].size(), 2u * 6u);
  EXPECT_EQ(j["reward_bins"].size(), 5u);
  EXPECT_TRUE(j["reward_bins"][0]["reward"].contains("xent+1"));
  for (const char* f : {"classifier.json", "distance.svg", "auroc.svg", "reward.svg"})
    EXPECT_TRUE(fs::exists(out_ / f)) << f;
}

TEST_F(OodCli, ClassifierLmlabProtocolCustomSeveritiesAndTraining) {
  auto r = RunCommand(LmlabBinary() + " ood classifier --protocol lmlab --train-size 1280 --eval-size 50 --epochs 1 " +
                      "--losses mse --shifts rotation --severities 0 90 180 --hidden 32 16 --weight-decay 0.1 " +
                      "--learning-rate 0.003 --no-decision --threads 1 --json -o " + out_.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["distance"], "lmlab");
  EXPECT_EQ(j["axis"], "severity");
  EXPECT_EQ(j["arch"], "mlp");
  // The CE model always trains: the detection table's max-softmax baseline needs it.
  ASSERT_EQ(j["curves"].size(), 2u);
  const auto& points = j["curves"][1]["points"];
  EXPECT_EQ(j["curves"][1]["loss"], "mse");
  ASSERT_EQ(points.size(), 3u);
  EXPECT_EQ(points[1]["severity"], 90.0);
  EXPECT_EQ(points[2]["severity"], 180.0);
  EXPECT_TRUE(points[2]["ood_score"].is_null());
  EXPECT_FALSE(fs::exists(out_ / "reward.svg"));
}

TEST_F(OodCli, LmOnTinyModelWithAReferenceText) {
  std::string ref = (out_ / "ref.txt").string();
  {
    std::string text;
    for (int i = 0; i < 12; ++i)
      text += "Paragraph " + std::to_string(i) + ": the city lies on a river and has many old houses.\n\n";
    FILE* f = std::fopen(ref.c_str(), "w");
    std::fputs(text.c_str(), f);
    std::fclose(f);
  }
  auto r = RunCommand(LmlabBinary() + " ood lm --model " + testing::TinyModelPath() + " --reference " + ref +
                      " --texts 2 --calibration-texts 4 --max-tokens 8 --ocs-positions 16 --levels 0 1 " +
                      "--corruptions script --threads 1 --json -o " + out_.string() + " --save-monitor " +
                      (out_ / "m.json").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["ocs_source"], "average prediction");
  ASSERT_EQ(j["curves"].size(), 1u);
  EXPECT_EQ(j["curves"][0]["points"].size(), 2u);
  EXPECT_TRUE(fs::exists(out_ / "lm.svg"));
  EXPECT_TRUE(fs::exists(out_ / "m.json"));
}

TEST_F(OodCli, BadFlagsExitWithTwo) {
  for (const char* args : {" ood classifier --losses hinge", " ood classifier --shifts sideways",
                           " ood classifier --epochs 0", " ood classifier --dataset cifar",
                           " ood classifier --severities 0 1 --shifts noise blur", " ood classifier --hidden 0 8",
                           " ood classifier --weight-decay -0.5", " ood classifier --learning-rate 0",
                           " ood classifier --shifts rotation --severities 0 400",
                           " ood classifier --shifts rotation --severities 30 60",
                           " ood classifier --protocol cifar", " ood classifier --distance js",
                           " ood classifier --axis time", " ood classifier --seeds 0",
                           " ood classifier --shifts defocus-blur --severities 0 2.5",
                           " ood classifier --losses reward", " ood classifier --arch resnet",
                           " ood lm --model /nonexistent.gguf --levels 2"}) {
    auto r = RunCommand(LmlabBinary() + args + " -o " + out_.string());
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.err;
    EXPECT_NE(r.err.find("lmlab"), std::string::npos) << r.err;
  }
  // A model without known training text needs --corpus or --reference.
  auto r = RunCommand(LmlabBinary() + " ood lm --model " + testing::TinyModelPath() + " -o " + out_.string());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--reference"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace lmlab
