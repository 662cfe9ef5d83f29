// `lmlab index`, `lmlab ask` and `lmlab freshqa` as users meet them: real
// binary, real index file, real tiny model; JSON output, exit codes, errors.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "tests/support/run_command.h"
#include "tests/support/tiny_model.h"

namespace lmlab {
namespace {

namespace fs = std::filesystem;
using lmlab::testing::LmlabBinary;
using lmlab::testing::RunCommand;

class FreshCli : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lmlab-fresh-cli-XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::ofstream(dir_ / "news.jsonl")
        << R"({"url": "https://z.example/1", "title": "zlib 1.2.11 out", "text": "zlib 1.2.11 is released.", "date": "2017-01-15"})" "\n"
        << R"({"url": "https://z.example/2", "title": "zlib 1.3.1 out", "text": "zlib 1.3.1 is released.", "date": "2024-01-22"})" "\n"
        << R"({"url": "https://z.example/3", "title": "zlib 1.3 out", "text": "zlib 1.3 is released.", "date": "Fri, 18 Aug 2023 10:00:00 +0200"})" "\n";
    index_ = (dir_ / "i.sqlite").string();
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Lm() { return LmlabBinary(); }
  fs::path dir_;
  std::string index_;
};

TEST_F(FreshCli, IndexAddSearchStats) {
  auto r = RunCommand(Lm() + " index add " + (dir_ / "news.jsonl").string() + " --index " + index_ + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["added"], 3);
  r = RunCommand(Lm() + " index search 'zlib released' --index " + index_ + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["evidences"].size(), 3u);
  EXPECT_EQ(j["evidences"][0]["source"], "z.example");
  r = RunCommand(Lm() + " index stats --index " + index_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("2017-01-15"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2024-01-22"), std::string::npos) << r.out;
}

TEST_F(FreshCli, MalformedInputLeavesTheIndexAlone) {
  ASSERT_EQ(RunCommand(Lm() + " index add " + (dir_ / "news.jsonl").string() + " --index " + index_).exit_code, 0);
  std::ofstream(dir_ / "bad.jsonl") << "{\"text\": \"fine\"}\n{\"text\": \n";
  auto r = RunCommand(Lm() + " index add " + (dir_ / "bad.jsonl").string() + " --index " + index_);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("line 2"), std::string::npos) << r.err;
  auto stats = RunCommand(Lm() + " index stats --index " + index_ + " --json");
  EXPECT_EQ(nlohmann::json::parse(stats.out)["documents"], 3);
  auto missing = RunCommand(Lm() + " index search zlib --index " + (dir_ / "none.sqlite").string());
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("lmlab index add"), std::string::npos);
}

TEST_F(FreshCli, AskWithTheTinyModel) {
  ASSERT_EQ(RunCommand(Lm() + " index add " + (dir_ / "news.jsonl").string() + " --index " + index_).exit_code, 0);
  std::string model = " --model " + lmlab::testing::TinyModelPath() + " --ctx 4096 --threads 1 --max-tokens 6";
  auto r = RunCommand(Lm() + " ask 'What is the latest zlib release?' --index " + index_ +
                      " --today 2026-11-27 --json --show-prompt" + model);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["grounded"], true);
  ASSERT_EQ(j["evidences"].size(), 3u);
  EXPECT_EQ(j["evidences"][0]["date"], "2017-01-15");
  EXPECT_EQ(j["evidences"][1]["date"], "2023-08-18");
  EXPECT_EQ(j["evidences"][2]["date"], "2024-01-22");
  std::string prompt = j["prompt"];
  size_t q = prompt.rfind("question: What is the latest zlib release?");
  EXPECT_LT(prompt.rfind("title: zlib 1.3.1 out"), q);
  EXPECT_GT(prompt.rfind("title: zlib 1.3.1 out"), prompt.rfind("title: zlib 1.2.11 out"));
  EXPECT_TRUE(std::string(j["answer"]).starts_with("As of today November 27, 2026, the most up-to-date")) << j["answer"];
  EXPECT_EQ(prompt.find("[1]"), std::string::npos);  // --protocol paper is the default
  // People get the answer and an evidence table.
  r = RunCommand(Lm() + " ask 'What is the latest zlib release?' --index " + index_ + " --today 2026-11-27" + model);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("2024-01-22"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Grounded in 3"), std::string::npos) << r.out;
  // No search: still an answer, flagged.
  r = RunCommand(Lm() + " ask 'What is new?' --no-search --today 2026-11-27 --demos 0" + model);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("UNGROUNDED"), std::string::npos) << r.out;
}

// `--monitor` (a saved ood ignorance monitor) adds "is the model guessing?"
// to the answer; a broken monitor file is a clear error before answering.
TEST_F(FreshCli, AskReportsIgnoranceWithAMonitor) {
  ASSERT_EQ(RunCommand(Lm() + " index add " + (dir_ / "news.jsonl").string() + " --index " + index_).exit_code, 0);
  std::string model = " --model " + lmlab::testing::TinyModelPath() + " --ctx 4096 --threads 1 --max-tokens 6";
  auto info = RunCommand(Lm() + " model info --json --model " + lmlab::testing::TinyModelPath());
  ASSERT_EQ(info.exit_code, 0) << info.err;
  int64_t n_vocab = nlohmann::json::parse(info.out)["n_vocab"].get<int64_t>();
  // A uniform OCS; calibration distances spread over [0, 10).
  nlohmann::json ids = nlohmann::json::array(), probs = nlohmann::json::array(), dist = nlohmann::json::array();
  for (int64_t v = 0; v < n_vocab; ++v) ids.push_back(v), probs.push_back(1.0 / static_cast<double>(n_vocab));
  for (int i = 0; i < 100; ++i) dist.push_back(i * 0.1);
  nlohmann::json monitor = {{"ocs", {{"source", "test"}, {"n_vocab", n_vocab}, {"tokens", 1}, {"ids", ids}, {"probs", probs}}},
                            {"calibration_distances", dist}, {"token_level", 0.95}, {"window", 16}, {"answer_level", 0.95}};
  std::ofstream(dir_ / "monitor.json") << monitor.dump();
  auto r = RunCommand(Lm() + " ask 'What is the latest zlib release?' --index " + index_ +
                      " --today 2026-11-27 --json --monitor " + (dir_ / "monitor.json").string() + model);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.contains("ignorance")) << r.out;
  ASSERT_TRUE(j["ignorance"].contains("ignorance")) << j["ignorance"].dump();
  EXPECT_GE(j["ignorance"]["ignorance"].get<double>(), 0.0);
  EXPECT_LE(j["ignorance"]["ignorance"].get<double>(), 1.0);
  r = RunCommand(Lm() + " ask 'What is the latest zlib release?' --index " + index_ +
                 " --today 2026-11-27 --monitor " + (dir_ / "monitor.json").string() + model);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Ignorance "), std::string::npos) << r.out;
  std::ofstream(dir_ / "broken.json") << "{\"ocs\": 3}";
  r = RunCommand(Lm() + " ask 'q' --no-search --monitor " + (dir_ / "broken.json").string() + model);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("broken.json"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(FreshCli, AskBadInput) {
  std::string model = " --model " + lmlab::testing::TinyModelPath();
  for (const char* args : {"'' --no-search", "'   ' --no-search", "'q' --no-search --order newest", "'q' --no-search --k 0",
                           "'q' --no-search --today 2026-13-01"}) {
    auto r = RunCommand(Lm() + " ask " + args + model);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  // No model named: lmlab's reader ($LMLAB_READER_MODEL stands in for it here).
  auto r = RunCommand("LMLAB_READER_MODEL=/nonexistent.gguf " + Lm() + " ask 'q' --no-search");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("LMLAB_READER_MODEL"), std::string::npos) << r.err;
  r = RunCommand("LMLAB_READER_MODEL=" + lmlab::testing::TinyModelPath() + " " + Lm() +
                 " ask 'q' --no-search --max-tokens 2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["grounded"], false);
  // Contradicting search flags: one rule, one line.
  for (const char* args : {"'q' --index a.sqlite --searxng http://127.0.0.1:9", "'q' --no-search --index a.sqlite"}) {
    r = RunCommand(Lm() + " ask " + args + model);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

// The demo's recency section and `lmlab freshqa recency` are one library
// call: with the same settings they report the same numbers.
TEST_F(FreshCli, DemoAndCliRecencyAgree) {
  const std::string env = "LMLAB_CACHE_DIR=" + (dir_ / "cache").string() +
                          " LMLAB_READER_MODEL=" + lmlab::testing::TinyModelPath() + " ";
  auto demo = RunCommand(env + Lm() + " demo --quick --only fresh --out " + (dir_ / "demo").string(), 600);
  ASSERT_EQ(demo.exit_code, 0) << demo.err;
  auto step = nlohmann::json::parse(std::ifstream(dir_ / "demo" / "steps" / "fresh.json"));
  auto data = step.contains("data") ? step["data"] : step["section"]["data"];
  ASSERT_TRUE(data.contains("recency")) << step.dump().substr(0, 2000);
  auto cli = RunCommand(env + Lm() + " freshqa recency --packages 80 --max-questions 30 --json", 300);
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  auto j = nlohmann::json::parse(cli.out);
  ASSERT_EQ(j["rows"].size(), 3u);
  EXPECT_GT(j["rows"][0]["questions"].get<int>(), 0);
  for (const char* key : {"packages", "changelogs", "documents", "k", "num_results"})
    EXPECT_EQ(j[key], data["recency"][key]) << key;
  for (size_t i = 0; i < 3; ++i)
    for (const char* key : {"order", "questions", "newest_retrieved", "newest_in_window", "newest_next_to_question",
                            "mean_distance"})
      EXPECT_EQ(j["rows"][i][key], data["recency"]["rows"][i][key]) << i << " " << key;
  // The demo's reader section ran on the same pipeline as `lmlab freshqa reader`.
  ASSERT_TRUE(data.contains("reader")) << data.dump().substr(0, 2000);
  ASSERT_TRUE(data["reader"].contains("rows")) << data.dump().substr(0, 2000);
  EXPECT_EQ(data["reader"]["rows"].size(), 6u);
  auto reader = RunCommand(env + Lm() + " freshqa reader --max-questions 2 --json", 600);
  ASSERT_EQ(reader.exit_code, 0) << reader.err;
  auto rj = nlohmann::json::parse(reader.out);
  ASSERT_EQ(rj["rows"].size(), 6u);
  EXPECT_EQ(rj["rows"][0]["condition"], "no search");
  EXPECT_EQ(rj["rows"][0]["questions"], 2);
}

TEST_F(FreshCli, AgreementWithHandLabels) {
  auto r = RunCommand(Lm() + " freshqa agreement --labelled " + std::string(LMLAB_SOURCE_DIR) +
                      "/tests/fresh/data/fresheval_labelled.json --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["labelled"], 30);
  EXPECT_EQ(j["modes"][0]["mode"], "relaxed");
  EXPECT_EQ(j["modes"][0]["n"], 30);
}

TEST_F(FreshCli, RecencyBenchmarkRuns) {
  auto r = RunCommand(Lm() + " freshqa recency --packages 15 --json", 120);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["rows"].size(), 3u);
  EXPECT_EQ(j["rows"][0]["order"], "date");
  EXPECT_GT(j["rows"][0]["questions"].get<int>(), 0);
}

}  // namespace
}  // namespace lmlab
