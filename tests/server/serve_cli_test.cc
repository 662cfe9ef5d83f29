// `lmlab serve` as a user runs it: the binary starts, prints where it listens,
// answers with dated sources, refuses bad flags with one line, and exits 0 on
// SIGTERM and SIGINT.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "tests/server/server_support.h"
#include "tests/support/child_process.h"
#include "tests/support/run_command.h"

namespace lmlab::server {
namespace {

using nlohmann::json;

const ::testing::Environment* const kEnv =
    ::testing::AddGlobalTestEnvironment(new testing::SharedLlamaServerEnvironment);

// `lmlab serve ...` as a child process.
class ServeProcess : public lmlab::testing::ChildProcess {
 public:
  explicit ServeProcess(std::vector<std::string> args) : ChildProcess(WithBinary(std::move(args))) {}

 private:
  static std::vector<std::string> WithBinary(std::vector<std::string> args) {
    args.insert(args.begin(), lmlab::testing::LmlabBinary());
    return args;
  }
};

std::vector<std::string> ServeArgs() {
  return {"serve", "--endpoint", testing::SharedLlamaServer()->url(), "--api-model", "tiny", "--api-key-env", "",
          "--index", testing::ZlibIndexPath(), "--today", "2026-11-27", "--port", "0", "--json"};
}

TEST(ServeCli, ServesGroundedAnswersAndStopsCleanlyOnSignals) {
  ASSERT_NE(testing::SharedLlamaServer(), nullptr);
  for (int sig : {SIGTERM, SIGINT}) {
    ServeProcess p(ServeArgs());
    std::string line = p.FirstLine(30);
    json started = json::parse(line, nullptr, false);
    ASSERT_TRUE(started.is_object()) << "first line: " << line;
    int port = started["port"];
    ASSERT_GT(port, 0);
    EXPECT_NE(started["search"].get<std::string>().find("docs.sqlite"), std::string::npos);

    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60, 0);
    json body = {{"messages", {{{"role", "user"}, {"content", "What is the latest zlib version?"}}}},
                 {"max_tokens", 8}};
    auto res = c.Post("/v1/chat/completions", body.dump(), "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    json j = json::parse(res->body);
    // An endpoint gets chat messages with the paper's date framing and writes
    // its answer (prefix included) itself: nothing is prefilled.
    EXPECT_FALSE(j["choices"][0]["message"]["content"].get<std::string>().empty());
    ASSERT_FALSE(j["lmlab_sources"].empty());
    EXPECT_EQ(j["lmlab_sources"].back()["date"], "2026-11-20");

    EXPECT_EQ(p.SignalAndWait(sig, 10), 0) << "signal " << sig;
    EXPECT_FALSE(c.Get("/health"));  // nothing listens any more
  }
}

TEST(ServeCli, BadFlagsGetOneLineAndExitCode2) {
  struct Case {
    std::string args, message;
  } cases[] = {
      {"serve --index x.sqlite", "no index at x.sqlite"},
      {"serve --model m.gguf --endpoint http://127.0.0.1:1 --api-model x", "not both"},
      {"serve --endpoint http://127.0.0.1:1 --api-model x --index a --searxng http://b", "not both"},
      {"serve --endpoint http://127.0.0.1:1 --api-model x --port 99999", "port"},
      {"serve --endpoint http://127.0.0.1:1 --api-model x --today 27/11/2026", "YYYY-MM-DD"},
      {"serve --endpoint http://127.0.0.1:1 --api-model x --token-env LMLAB_SURELY_UNSET_VAR", "LMLAB_SURELY_UNSET_VAR"},
  };
  for (const Case& c : cases) {
    auto r = lmlab::testing::RunCommand(lmlab::testing::LmlabBinary() + " " + c.args, 30);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.args << "\n" << r.err;
    EXPECT_LE(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  // An endpoint nobody answers: a runtime failure, exit 1, saying where.
  auto r = lmlab::testing::RunCommand(
      lmlab::testing::LmlabBinary() + " serve --endpoint http://127.0.0.1:" +
          std::to_string(lmlab::testing::FreeLoopbackPort()) + " --api-model x --api-key-env '' --port 0",
      60);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("could not reach"), std::string::npos) << r.err;
}

// llama.cpp's common library (the chat-template engine) comes with its own
// cpp-httplib (0.54); lmlab uses Debian's (0.11). Both are namespace httplib,
// so a binary holding both runs one version's code on the other's objects
// (heap corruption: cmake/llama.cmake keeps llama.cpp's out of the link). Its
// Headers container, detail::insertion_ordered_multimap, is the mark: Debian's
// version has none. Checked on the lmlab binary and on this test binary,
// whose link line once put llama.cpp's copy first.
TEST(ServeCli, OneHttplibInEveryBinary) {
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  for (const std::string& binary : {lmlab::testing::LmlabBinary(), self}) {
    auto r = lmlab::testing::RunCommand("nm -C " + binary + " | grep -c 'httplib::.*insertion_ordered_multimap'", 120);
    EXPECT_EQ(r.out, "0\n") << binary << " links llama.cpp's cpp-httplib next to Debian's";
    auto ours = lmlab::testing::RunCommand("nm -C " + binary + " | grep -c 'httplib::'", 120);
    EXPECT_NE(ours.out, "0\n") << binary << ": no httplib symbols at all (stripped? the check would see nothing)";
  }
}

}  // namespace
}  // namespace lmlab::server
