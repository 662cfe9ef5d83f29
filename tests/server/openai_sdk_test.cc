// The official OpenAI Node SDK (npm "openai", pinned and checksummed in
// scripts/fetch-data.sh) drives a real `lmlab serve` on the text-only tiny
// model: models, chat, streaming, logprobs, n/seed/stop, completions (whole
// and streamed), embeddings (base64 and float), and a refused unknown field.
// The checks themselves are in tests/server/openai_sdk.mjs.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>

#include "lmlab/core/data_packages.h"
#include "tests/support/child_process.h"
#include "tests/support/llama_server.h"
#include "tests/support/run_command.h"

namespace lmlab {
namespace {

using nlohmann::json;

TEST(OpenAiSdk, DrivesLmlabServe) {
  auto sdk = NpmPackageDir("openai");
  ASSERT_TRUE(sdk) << sdk.error().ToString();
  testing::CommandResult node = testing::RunCommand("node --version", 30);
  ASSERT_EQ(node.exit_code, 0) << "node is needed (setup.sh installs it with npm): " << node.err;

  testing::ChildProcess serve({testing::LmlabBinary(), "serve", "--model", testing::TextOnlyTinyModelPath(),
                               "--threads", "1", "--no-search", "--port", "0", "--json"});
  json started = json::parse(serve.FirstLine(60), nullptr, false);
  ASSERT_TRUE(started.is_object() && started.contains("url")) << started.dump();

  const std::string script = std::string(LMLAB_SOURCE_DIR) + "/tests/server/openai_sdk.mjs";
  testing::CommandResult r = testing::RunCommand(
      "node " + testing::ShellQuote(script) + " " + started["url"].get<std::string>() + " " +
          testing::ShellQuote(sdk->string()) + " 64",
      240);
  json results = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(results.is_object()) << "exit " << r.exit_code << "\n" << r.out << "\n" << r.err;
  for (const char* name : {"models.list", "chat", "chat.stream", "chat.logprobs", "chat.n_seed_stop", "completions",
                           "completions.stream", "embeddings", "unknown field rejected"}) {
    ASSERT_TRUE(results.contains(name)) << name;
    EXPECT_EQ(results[name], "ok") << name << ": " << results[name].get<std::string>();
  }
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(serve.SignalAndWait(SIGTERM, 20), 0);
}

}  // namespace
}  // namespace lmlab
