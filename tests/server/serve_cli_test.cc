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

#include "tests/server/server_support.h"
#include "tests/support/run_command.h"

namespace lmlab::server {
namespace {

using nlohmann::json;

const ::testing::Environment* const kEnv =
    ::testing::AddGlobalTestEnvironment(new testing::SharedLlamaServerEnvironment);

// `lmlab serve ...` as a child process; reads its first stdout line.
class ServeProcess {
 public:
  explicit ServeProcess(std::vector<std::string> args) {
    int out[2];
    EXPECT_EQ(pipe2(out, O_CLOEXEC), 0);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      int null_fd = open("/dev/null", O_RDWR);
      dup2(null_fd, 0);
      args.insert(args.begin(), lmlab::testing::LmlabBinary());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    out_ = out[0];
  }
  ~ServeProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(out_);
  }
  // The first line of stdout, or "" after `seconds`.
  std::string FirstLine(double seconds) {
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char c;
      if (read(out_, &c, 1) != 1) break;
      if (c == '\n') return line;
      line += c;
    }
    return line;
  }
  // Sends `sig` and returns the exit status (-1 if it did not exit in time).
  int SignalAndWait(int sig, double seconds) {
    kill(pid_, sig);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
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

}  // namespace
}  // namespace lmlab::server
