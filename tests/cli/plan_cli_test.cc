// The `lmlab` binary as a user meets it: output, exit codes, one-line errors.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

#include "tests/support/run_command.h"
#include "tests/support/tiny_model.h"

namespace lmlab {
namespace {

using lmlab::testing::LmlabBinary;
using lmlab::testing::RunCommand;

int Lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

TEST(PlanCli, ReferenceFigures) {
  auto r = RunCommand(LmlabBinary() + " plan --flops 1e24 --device-flops 1e14 --devices 1000");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("115.7"), std::string::npos) << r.out;
  r = RunCommand(LmlabBinary() + " plan --flops 1e24 --device-flops 1e14 --devices 22000");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("5.26"), std::string::npos) << r.out;
}

TEST(PlanCli, DefaultRunIsTheReferenceTable) {
  auto r = RunCommand(LmlabBinary() + " plan");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("115.7"), std::string::npos);
  EXPECT_NE(r.out.find("5.26"), std::string::npos);
  EXPECT_NE(r.out.find("22,000"), std::string::npos);
}

TEST(PlanCli, JsonOutputParses) {
  auto r = RunCommand(LmlabBinary() + " plan --params 70B --tokens 15T --device h100 --days 90 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_DOUBLE_EQ(j["plan"]["compute"]["flops"].get<double>(), 6 * 70e9 * 15e12);
  EXPECT_EQ(j["plan"]["scenarios"][0]["solved_for"], "devices");
  EXPECT_LE(j["plan"]["scenarios"][0]["days"].get<double>(), 90.0);
}

TEST(PlanCli, SweepAndCatalog) {
  auto r = RunCommand(LmlabBinary() + " plan --flops 1e25 --device b200 --sweep");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("devices \\ MFU"), std::string::npos);
  r = RunCommand(LmlabBinary() + " plan --list-devices");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* id : {"a100-sxm", "h100-sxm", "h200-sxm", "b200", "gb200", "mi300x"})
    EXPECT_NE(r.out.find(id), std::string::npos) << id;
}

TEST(PlanCli, MeasureRunsHere) {
  auto r = RunCommand(LmlabBinary() + " plan --measure --measure-size 256 --params 10M --tokens 1B --devices 1 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  double measured = j["measurement"]["achieved_flops"].get<double>();
  EXPECT_GT(measured, 0);
  EXPECT_DOUBLE_EQ(j["plan"]["device"]["sustained_flops"].get<double>(), measured);
}

TEST(PlanCli, TokensReferenceIsTheSeedsFigures) {
  auto r = RunCommand(LmlabBinary() + " plan tokens");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("5.00e14"), std::string::npos) << r.out;  // $1B / $2 per million
  EXPECT_NE(r.out.find("1.00e5"), std::string::npos) << r.out;   // per person per year, 5e9 people
  EXPECT_NE(r.out.find("1.00e4"), std::string::npos) << r.out;   // the seed's GPT-4 figure
  r = RunCommand(LmlabBinary() + " plan tokens --budget 1B --price-per-million GPT-3.5=2 --population 5e9 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_DOUBLE_EQ(j["rows"][0]["tokens"].get<double>(), 5e14);
  EXPECT_DOUBLE_EQ(j["rows"][0]["tokens_per_person_per_year"].get<double>(), 1e5);
  EXPECT_EQ(j["rows"][0]["label"], "GPT-3.5");
}

TEST(PlanCli, TokensSelfHostedPrice) {
  auto r = RunCommand(LmlabBinary() + " plan tokens --budget 1M --preset llama-3-8b --device h100 --batch 64 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["self_hosted_point"]["batch"], 64);
  EXPECT_DOUBLE_EQ(j["rows"][0]["usd_per_million"].get<double>(),
                   j["self_hosted_point"]["usd_per_million_output"].get<double>());
}

TEST(PlanCli, InferGqaModel) {
  auto r = RunCommand(LmlabBinary() + " plan infer --preset llama-3-8b --device h100 --users 100 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_DOUBLE_EQ(j["plan"]["kv_bytes_per_token"].get<double>(), 2.0 * 32 * 8 * 128 * 2);
  EXPECT_EQ(j["plan"]["decode_batch1"]["bound"], "memory");
  EXPECT_TRUE(j["plan"]["serving"]["feasible"].get<bool>());
  r = RunCommand(LmlabBinary() + " plan infer --preset mixtral-8x7b --device a100 --weights q4_K --batch 1,16");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("8 experts, 2 per token"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("decode by batch"), std::string::npos);
}

TEST(PlanCli, InferFromAConfigFile) {
  std::string path = std::string(LMLAB_BINARY_DIR) + "/plan_cli_test_config.json";
  {
    std::ofstream f(path);
    f << R"({"model_type": "qwen2", "hidden_size": 3584, "intermediate_size": 18944, "num_attention_heads": 28,
             "num_key_value_heads": 4, "num_hidden_layers": 28, "vocab_size": 152064})";
  }
  auto r = RunCommand(LmlabBinary() + " plan infer --model-config " + path + " --device h100 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_DOUBLE_EQ(j["plan"]["model"]["params"]["total"].get<double>(), 7'615'616'512.0);
  EXPECT_DOUBLE_EQ(j["plan"]["kv_bytes_per_token"].get<double>(), 2.0 * 28 * 4 * 128 * 2);
}

TEST(PlanCli, PresetsTrainingAndEpoch) {
  auto r = RunCommand(LmlabBinary() + " plan --list-models");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* id : {"llama-3-8b", "qwen2.5-7b", "mixtral-8x7b", "gemma-7b", "phi-2"})
    EXPECT_NE(r.out.find(id), std::string::npos) << id;
  r = RunCommand(LmlabBinary() +
                 " plan --params 175B --tokens 300B --device v100 --precision fp16 --run-devices 10000 --run-days 14.8 "
                 "--devices 10000 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  const double ops = 6 * 175e9 * 300e9, hw = 10000 * 14.8 * 86400 * 125e12 * 0.3;
  EXPECT_DOUBLE_EQ(j["plan"]["epoch"]["operations_flops"].get<double>(), ops);
  EXPECT_NEAR(j["plan"]["epoch"]["hardware_flops"].get<double>(), hw, hw * 1e-12);
  EXPECT_NEAR(j["plan"]["epoch"]["geometric_mean"].get<double>(), std::sqrt(ops * hw), hw * 1e-9);
  r = RunCommand(LmlabBinary() + " plan --preset mixtral-8x7b --tokens 1T --device h100 --devices 512 --pipeline-parallel 4");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("2 of 8 experts"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("pipeline 4 stages"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("fp32 logits"), std::string::npos) << r.out;
}

TEST(PlanCli, FromLogFitsTheMfu) {
  std::string log = std::string(LMLAB_SOURCE_DIR) + "/tests/plan/data/pytorch_train.log";
  auto r = RunCommand(LmlabBinary() + " plan --from-log " + log +
                      " --log-params 1.3B --log-device a100 --log-devices 8 --params 7B --tokens 1T --device h100 --devices 64 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  const double mfu = 41100 * 6 * 1.3e9 / (312e12 * 8);
  EXPECT_DOUBLE_EQ(j["calibration"]["mfu"].get<double>(), mfu);
  EXPECT_DOUBLE_EQ(j["plan"]["device"]["mfu"].get<double>(), mfu);
  r = RunCommand(LmlabBinary() + " plan --from-log " + std::string(LMLAB_SOURCE_DIR) +
                 "/tests/plan/data/lmlab_train.json --params 1B --tokens 20B --devices 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("the log's model config"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("target run at the fitted MFU"), std::string::npos) << r.out;
}

TEST(PlanCli, InferMeasureOnATinyModel) {
  auto r = RunCommand(LmlabBinary() + " plan infer --measure --model " + testing::TinyModelPath() +
                      " --measure-prompt 16 --measure-tokens 8 --measure-repeats 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("measured / bound"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("decode"), std::string::npos) << r.out;
  r = RunCommand(LmlabBinary() + " plan infer --measure --model " + testing::TinyModelPath() +
                 " --measure-prompt 16 --measure-tokens 8 --measure-repeats 1 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  const auto& m = j["measurement"];
  EXPECT_DOUBLE_EQ(m["ratio"]["decode"].get<double>(),
                   m["measured"]["decode_tokens_per_s"].get<double>() / m["bound"]["decode_tokens_per_s"].get<double>());
}

TEST(PlanCli, SubcommandHelpExplainsFlags) {
  auto r = RunCommand(LmlabBinary() + " plan infer --help");
  ASSERT_EQ(r.exit_code, 0);
  for (const char* flag : {"--kv-cache", "--weights", "--users", "--latency-ms", "--measure", "--mbu", "--preset"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
  r = RunCommand(LmlabBinary() + " plan tokens --help");
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--price-per-million"), std::string::npos);
  r = RunCommand(LmlabBinary() + " plan --help");
  for (const char* flag : {"--from-log", "--run-devices", "--pipeline-parallel", "--preset", "infer", "tokens"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
}

struct BadInput {
  const char* args;
  const char* expect;  // fragment of the error line
};

class PlanCliBadInput : public ::testing::TestWithParam<BadInput> {};

TEST_P(PlanCliBadInput, OneLineExitTwo) {
  auto r = RunCommand(LmlabBinary() + " plan " + GetParam().args);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_EQ(Lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(GetParam().expect), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("terminate"), std::string::npos);
  EXPECT_TRUE(r.out.empty()) << r.out;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, PlanCliBadInput,
    ::testing::Values(BadInput{"--flops -1 --device h100", "--flops"}, BadInput{"--flops 0 --device h100", "--flops"},
                      BadInput{"--flops abc", "--flops"}, BadInput{"--device tpu-v9000 --flops 1e24", "tpu-v9000"},
                      BadInput{"--flops 1e24 --device-flops 1e14 --devices -5", "--devices"},
                      BadInput{"--flops 1e24 --device-flops 1e14 --devices x", "--devices"},
                      BadInput{"--no-such-flag", "--no-such-flag"}, BadInput{"--flops 1e24 --device h100 --mfu 2", "--mfu"},
                      BadInput{"--params 7B", "--tokens"}, BadInput{"--flops 1e24 --device h100 --precision fp7", "fp7"},
                      BadInput{"infer", "--preset"}, BadInput{"infer --preset gpt-9", "gpt-9"},
                      BadInput{"infer --preset llama-3-8b --weights q9", "q9"},
                      BadInput{"infer --preset llama-3-8b --mbu 2", "--mbu"},
                      BadInput{"infer --model x.gguf", "--measure"},
                      BadInput{"infer --measure --model /no/such.gguf", "/no/such.gguf"},
                      BadInput{"infer --model-config /no/such/config.json", "config.json"},
                      BadInput{"tokens --price-per-million abc", "abc"}, BadInput{"tokens --budget -5", "--budget"},
                      BadInput{"tokens --budget 1B", "--price-per-million"},
                      BadInput{"--preset llama-3-8b --params 7B --tokens 1T", "--params"},
                      BadInput{"--params 7B --tokens 1T --run-devices 10", "--run-days"},
                      BadInput{"--from-log /no/such.log --params 7B --tokens 1T", "/no/such.log"},
                      BadInput{"--params 7B --tokens 1T --mfu-range 0.6,0.5", "--mfu-range"}));

TEST(Cli, HelpListsSubcommandsAndExamples) {
  auto r = RunCommand(LmlabBinary() + " --help");
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("plan"), std::string::npos);
  r = RunCommand(LmlabBinary() + " plan --help");
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("Examples:"), std::string::npos);
  r = RunCommand(LmlabBinary() + " no-such-command");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(Lines(r.err), 1) << r.err;
}

}  // namespace
}  // namespace lmlab
