// The host's RPC line handler on its own, with fake services: every hostile
// line of the seed corpus (tests/fuzz/corpus/stop_rpc/hostile_*) gets an
// error reply and is counted, every valid one (valid_*) a result; budgets,
// model failures, utility failures and invalid UTF-8 from the model.
#include "lmlab/improve/host_rpc.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lmlab/core/file.h"

namespace lmlab::improve {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Fake services that count what reaches them.
struct Fakes {
  int model_calls = 0, messages = 0, utility_calls = 0;
  std::vector<Result<runtime::Completion>> next_replies;  // empty: one "ok" per message
  Result<double> next_utility = 0.5;
  std::string last_system;

  RpcServices Services() {
    return {.model =
                [this](const ModelCall& call) {
                  ++model_calls;
                  messages += int(call.messages.size());
                  last_system = call.system;
                  if (!next_replies.empty()) return next_replies;
                  std::vector<Result<runtime::Completion>> out;
                  for (size_t i = 0; i < call.messages.size(); ++i)
                    out.push_back(runtime::Completion{.text = "ok", .prompt_tokens = 3, .completion_tokens = 1});
                  return out;
                },
            .utility =
                [this](const std::string&) {
                  ++utility_calls;
                  return next_utility;
                }};
  }
};

// The reply as JSON; fails the test when it is not one line of a JSON object
// with exactly one of "result" and "error".
json Reply(const std::string& line) {
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  EXPECT_TRUE(j.is_object()) << line;
  if (!j.is_object()) return json::object();
  EXPECT_EQ(j.size(), 1u) << line;
  EXPECT_TRUE(j.contains("result") || (j.contains("error") && j["error"].is_string())) << line;
  return j;
}

struct CorpusLine {
  std::string name;
  std::string text;
};

void PrintTo(const CorpusLine& c, std::ostream* os) { *os << c.name; }

std::vector<CorpusLine> Corpus() {
  std::vector<CorpusLine> lines;
  for (const auto& e : fs::directory_iterator(fs::path(LMLAB_SOURCE_DIR) / "tests/fuzz/corpus/stop_rpc"))
    lines.push_back({e.path().filename().string(), ReadFile(e.path()).value_or("")});
  std::sort(lines.begin(), lines.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return lines;
}

class StopRpcCorpus : public ::testing::TestWithParam<CorpusLine> {};

TEST_P(StopRpcCorpus, HostileLinesGetAnErrorValidOnesAResult) {
  const CorpusLine& c = GetParam();
  bool hostile = c.name.starts_with("hostile_");
  ASSERT_TRUE(hostile || c.name.starts_with("valid_")) << "name corpus files hostile_* or valid_*: " << c.name;
  Fakes fakes;
  RpcSession s{.budgets = {.samples_per_call = 3, .lm_calls = 2, .utility_calls = 2}};
  json reply = Reply(HandleRpcLine(c.text, s, fakes.Services()));
  if (hostile) {
    EXPECT_TRUE(reply.contains("error")) << reply.dump();
    EXPECT_EQ(s.counts.audit.unknown_requests, 1);
    // Nothing reached the model or the utility, and no budget was spent.
    EXPECT_EQ(fakes.model_calls + fakes.utility_calls, 0);
    EXPECT_EQ(s.lm_calls_used + s.utility_calls_used, 0);
    EXPECT_FALSE(s.returned);
  } else {
    EXPECT_TRUE(reply.contains("result")) << reply.dump();
    EXPECT_EQ(s.counts.audit.unknown_requests, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Lines, StopRpcCorpus, ::testing::ValuesIn(Corpus()),
                         [](const ::testing::TestParamInfo<CorpusLine>& info) { return info.param.name; });

TEST(StopRpc, TheCorpusHasBothKinds) {
  auto lines = Corpus();
  EXPECT_GE(std::count_if(lines.begin(), lines.end(), [](const auto& c) { return c.name.starts_with("hostile_"); }), 30);
  EXPECT_GE(std::count_if(lines.begin(), lines.end(), [](const auto& c) { return c.name.starts_with("valid_"); }), 5);
}

TEST(StopRpc, TheIssueReproducerIsAMalformedRequestNotACrash) {
  Fakes fakes;
  RpcSession s{.budgets = {}};
  json reply = Reply(HandleRpcLine(R"({"op":"lm","system":1,"messages":["x"]})", s, fakes.Services()));
  ASSERT_TRUE(reply.contains("error"));
  EXPECT_NE(reply["error"].get<std::string>().find("\"system\" must be a string"), std::string::npos) << reply;
  EXPECT_EQ(s.counts.audit.unknown_requests, 1);
  EXPECT_EQ(s.lm_calls_used, 0);
  EXPECT_EQ(fakes.model_calls, 0);
}

TEST(StopRpc, ExtractionOutcomesAreCountedAndUnknownOnesRefused) {
  Fakes fakes;
  RpcSession s{.budgets = {}};
  for (const char* line : {R"({"op":"extraction","outcome":"diff"})", R"({"op":"extraction","outcome":"diff"})",
                           R"({"op":"extraction","outcome":"none"})"})
    EXPECT_TRUE(Reply(HandleRpcLine(line, s, fakes.Services())).contains("result")) << line;
  EXPECT_EQ(s.counts.extraction, (std::map<std::string, int>{{"diff", 2}, {"none", 1}}));
  EXPECT_EQ(ExtractionSummary(s.counts.extraction), "diff 2, none 1");
  for (const char* line : {R"({"op":"extraction","outcome":"magic"})", R"({"op":"extraction","outcome":3})",
                           R"({"op":"extraction"})"})
    EXPECT_TRUE(Reply(HandleRpcLine(line, s, fakes.Services())).contains("error")) << line;
  EXPECT_EQ(s.counts.audit.unknown_requests, 3);
  EXPECT_EQ(s.counts.extraction.size(), 2u);
  // Read back from a run's files: an unknown outcome is a parse error naming it.
  EXPECT_TRUE(ExtractionFromJson(json{{"diff", 2}}, "round-1.json"));
  auto bad = ExtractionFromJson(json{{"magic", 1}}, "round-1.json");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("round-1.json: unknown extraction outcome \"magic\""), std::string::npos);
}

TEST(StopRpc, ModelCallsAreCappedAndCounted) {
  Fakes fakes;
  RpcSession s{.budgets = {.samples_per_call = 2, .lm_calls = 2, .utility_calls = 1}};
  std::string five = R"({"op":"lm","system":"role","messages":["a","b","c","d","e"],"temperature":9})";
  json first = Reply(HandleRpcLine(five, s, fakes.Services()));
  EXPECT_EQ(first["result"], json::array({"ok", "ok"}));  // two of five: the host's cap
  EXPECT_EQ(fakes.messages, 2);
  EXPECT_EQ(fakes.last_system, "role");
  EXPECT_EQ(s.counts.audit.over_budget_requests, 1);
  Reply(HandleRpcLine(five, s, fakes.Services()));
  json third = Reply(HandleRpcLine(five, s, fakes.Services()));
  EXPECT_NE(third["error"].get<std::string>().find("model call budget spent (2 calls)"), std::string::npos);
  EXPECT_EQ(fakes.model_calls, 2);
  EXPECT_EQ(s.counts.model_calls, 2);
  EXPECT_EQ(s.counts.samples, 4);
  EXPECT_EQ(s.counts.prompt_tokens, 12);
  EXPECT_EQ(s.counts.completion_tokens, 4);
  EXPECT_EQ(s.counts.audit.over_budget_requests, 3);  // two caps, one refusal
  EXPECT_EQ(s.counts.model_errors, 0);
}

TEST(StopRpc, AFailedModelReplyIsAnErrorAndCountedNeverAnEmptyReply) {
  Fakes fakes;
  fakes.next_replies.push_back(runtime::Completion{.text = "fine"});
  fakes.next_replies.push_back(std::unexpected(Error{ErrorCode::kParse, "the endpoint answered garbage"}));
  RpcSession s{.budgets = {}};
  json reply = Reply(HandleRpcLine(R"({"op":"lm","messages":["a","b"]})", s, fakes.Services()));
  ASSERT_TRUE(reply.contains("error")) << reply;
  std::string why = reply["error"];
  EXPECT_NE(why.find("1 of 2"), std::string::npos) << why;
  EXPECT_NE(why.find("the endpoint answered garbage"), std::string::npos) << why;
  EXPECT_EQ(s.counts.model_errors, 1);
  EXPECT_EQ(s.counts.samples, 1);
  EXPECT_EQ(s.counts.model_calls, 1);
  EXPECT_EQ(s.lm_calls_used, 1);  // the call was made: it used the budget
}

TEST(StopRpc, InvalidUtf8FromTheModelIsReplacedNotThrown) {
  Fakes fakes;
  fakes.next_replies.push_back(runtime::Completion{.text = "half a character: \xe2\x82"});
  RpcSession s{.budgets = {}};
  json reply = Reply(HandleRpcLine(R"({"op":"lm","messages":["a"]})", s, fakes.Services()));
  ASSERT_TRUE(reply.contains("result")) << reply;
  EXPECT_NE(reply["result"][0].get<std::string>().find("\xef\xbf\xbd"), std::string::npos);  // U+FFFD
}

TEST(StopRpc, UtilityFailuresAndOutOfRangeValuesAreCounted) {
  Fakes fakes;
  RpcSession s{.budgets = {.samples_per_call = 1, .lm_calls = 1, .utility_calls = 4}};
  std::string call = R"({"op":"utility","solution":"x","use_sandbox":true})";
  fakes.next_utility = 0.25;
  EXPECT_EQ(Reply(HandleRpcLine(call, s, fakes.Services()))["result"], 0.25);
  fakes.next_utility = std::unexpected(Error{ErrorCode::kIo, "the sandbox could not start"});
  json failed = Reply(HandleRpcLine(call, s, fakes.Services()));
  ASSERT_TRUE(failed.contains("error"));
  EXPECT_NE(failed["error"].get<std::string>().find("the sandbox could not start"), std::string::npos);
  EXPECT_EQ(s.counts.utility_errors, 1);
  fakes.next_utility = 7.0;
  EXPECT_EQ(Reply(HandleRpcLine(call, s, fakes.Services()))["result"], 0.0);
  EXPECT_EQ(s.counts.audit.out_of_range_utilities, 1);
  EXPECT_EQ(Reply(HandleRpcLine(R"({"op":"utility","solution":"x"})", s, fakes.Services()))["result"], 0.0);
  EXPECT_EQ(s.counts.audit.sandbox_flag_off_calls, 1);
  EXPECT_TRUE(Reply(HandleRpcLine(call, s, fakes.Services())).contains("error"));  // the fifth: over budget
  EXPECT_EQ(s.counts.audit.over_budget_requests, 1);
  EXPECT_EQ(fakes.utility_calls, 4);
}

TEST(StopRpc, TheResultIsRecorded) {
  Fakes fakes;
  RpcSession s{.budgets = {}};
  Reply(HandleRpcLine(R"({"op":"result","type":"str","solution":"def improve_algorithm(): pass"})", s,
                      fakes.Services()));
  EXPECT_TRUE(s.returned);
  EXPECT_EQ(s.solution, "def improve_algorithm(): pass");
  EXPECT_EQ(s.result_type, "str");
  Reply(HandleRpcLine(R"({"op":"result","type":"int","solution":null})", s, fakes.Services()));
  EXPECT_FALSE(s.solution);
  EXPECT_EQ(s.result_type, "int");
}

TEST(StopRpc, RunWithTheSandboxOffIsCountedAndSpendsNothing) {
  Fakes fakes;
  RpcSession s{.budgets = {}};
  json reply = Reply(HandleRpcLine(R"({"op":"sandbox_off"})", s, fakes.Services()));
  EXPECT_TRUE(reply.contains("result")) << reply.dump();
  EXPECT_EQ(s.counts.audit.sandbox_flag_off_calls, 1);
  EXPECT_EQ(s.counts.audit.unknown_requests, 0);
  EXPECT_EQ(s.lm_calls_used + s.utility_calls_used, 0);
}

TEST(StopRpc, NestingDepthIsCountedOutsideStrings) {
  EXPECT_EQ(JsonNestingDepth(R"({"a":[1,{"b":2}]})", 100), 3);
  EXPECT_EQ(JsonNestingDepth(R"({"a":"[[[[{{{{\"["})", 100), 1);
  EXPECT_EQ(JsonNestingDepth(std::string(100000, '['), 16), 17);  // stops counting past the limit
  EXPECT_EQ(JsonNestingDepth("", 16), 0);
}

}  // namespace
}  // namespace lmlab::improve
