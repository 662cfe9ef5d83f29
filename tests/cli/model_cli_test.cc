// `lmlab model ...` as a user meets it, on a tiny model the command writes itself.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "tests/support/run_command.h"

namespace lmlab {
namespace {

using lmlab::testing::LmlabBinary;
using lmlab::testing::RunCommand;

int Lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

class ModelCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::filesystem::path(LMLAB_BINARY_DIR) / "test-tmp" / "model-cli";
    std::filesystem::create_directories(dir_);
    model_ = (dir_ / "tiny.gguf").string();
    auto r = RunCommand(LmlabBinary() + " model tiny " + model_ + " --json");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["path"], model_);
    EXPECT_GT(j["bytes"].get<int64_t>(), 100000);
  }
  static std::string Lmlab(const std::string& args) { return LmlabBinary() + " model " + args; }
  static inline std::filesystem::path dir_;
  static inline std::string model_;
};

TEST_F(ModelCli, InfoTableAndJson) {
  auto r = RunCommand(Lmlab("info --model " + model_));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("architecture      llama"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("none (chat uses ChatML)"), std::string::npos) << r.out;
  r = RunCommand(Lmlab("info --json --ctx 64 --threads 1 --model " + model_));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["architecture"], "llama");
  EXPECT_EQ(j["n_layers"], 2);
  EXPECT_EQ(j["n_embd"], 64);
  EXPECT_EQ(j["n_ctx"], 64);
  EXPECT_EQ(j["backend"], "llama.cpp");
}

TEST_F(ModelCli, GenerateStreamsAndIsReproducible) {
  std::string cmd = Lmlab("generate --model " + model_ + " --threads 1 'Once upon a time' -n 12 --temperature 0.9 --seed 5");
  auto a = RunCommand(cmd), b = RunCommand(cmd);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_FALSE(a.out.empty());
  EXPECT_EQ(a.out, b.out);
  auto j = RunCommand(Lmlab("generate --model " + model_ + " --threads 1 'Once upon a time' -n 12 --temperature 0.9 "
                            "--seed 5 --json --top-logprobs 2"));
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto parsed = nlohmann::json::parse(j.out);
  EXPECT_EQ(parsed["completion_tokens"], 12);
  EXPECT_EQ(parsed["finish_reason"], "length");
  EXPECT_EQ(parsed["logprobs"].size(), 12u);
  EXPECT_EQ(parsed["logprobs"][0]["top"].size(), 2u);

  auto chat = RunCommand(Lmlab("generate --model " + model_ + " --threads 1 --chat --system 'Be brief.' Hi -n 4 --json"));
  ASSERT_EQ(chat.exit_code, 0) << chat.err;
  EXPECT_GT(nlohmann::json::parse(chat.out)["prompt_tokens"].get<int>(), 10) << "the ChatML wrapping is in the prompt";
}

TEST_F(ModelCli, Tokenize) {
  auto r = RunCommand(Lmlab("tokenize --model " + model_ + " --json 'The capital of France'"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_GE(j["n_tokens"].get<int>(), 3);
  EXPECT_EQ(j["tokens"][0]["id"], 1) << "BOS first";
  std::string joined;
  for (const auto& t : j["tokens"]) joined += t["piece"].get<std::string>();
  EXPECT_EQ(joined, " The capital of France");
  auto no_bos = RunCommand(Lmlab("tokenize --model " + model_ + " --json --no-bos 'The capital of France'"));
  ASSERT_EQ(no_bos.exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(no_bos.out)["n_tokens"].get<int>(), j["n_tokens"].get<int>() - 1);
  auto table = RunCommand(Lmlab("tokenize --model " + model_ + " Hello"));
  ASSERT_EQ(table.exit_code, 0);
  EXPECT_NE(table.out.find("tokens\n"), std::string::npos);
}

TEST_F(ModelCli, BadInputIsOneLineExitTwo) {
  struct Case {
    std::string args, expect;
  } cases[] = {
      {"info", "no model given"},
      {"info --model " + model_ + " --endpoint http://127.0.0.1:1", "not both"},
      {"info --endpoint http://127.0.0.1:1", "--api-model"},
      {"info --model /nonexistent/x.gguf", "no such GGUF file"},
      {"info --model " + model_ + " --ctx -5", "--ctx"},
      {"generate --model " + model_ + " hi --temperature -1", "--temperature"},
      {"generate --model " + model_ + " hi --top-p 0", "--top-p"},
      {"generate --model " + model_ + " hi --system x", "--chat"},
      {"tiny " + (dir_ / "bad.gguf").string() + " --heads 3", "divisible"},
      {"tiny " + (dir_ / "bad.gguf").string() + " --chat-template llama9", "chatml"},
      {"frobnicate", "subcommand"},
  };
  for (const Case& c : cases) {
    auto r = RunCommand(Lmlab(c.args));
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.err;
    EXPECT_EQ(Lines(r.err), 1) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.args << "\n" << r.err;
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ / "bad.gguf"));
}

TEST_F(ModelCli, CorruptModelFileFailsCleanly) {
  std::string bad = (dir_ / "corrupt.gguf").string();
  auto w = RunCommand("head -c 3000 " + model_ + " > " + bad);
  ASSERT_EQ(w.exit_code, 0);
  auto r = RunCommand(Lmlab("info --model " + bad));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(Lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("cannot load"), std::string::npos) << r.err;
}

TEST_F(ModelCli, HelpHasExamples) {
  for (const char* sub : {"info", "generate", "tokenize", "tiny"}) {
    auto r = RunCommand(Lmlab(std::string(sub) + " --help"));
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_NE(r.out.find("Examples:"), std::string::npos) << sub;
  }
}

}  // namespace
}  // namespace lmlab
