// The `lmlab` binary as a user meets it: output, exit codes, one-line errors.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/run_command.h"

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
                      BadInput{"--params 7B", "--tokens"}, BadInput{"--flops 1e24 --device h100 --precision fp7", "fp7"}));

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
