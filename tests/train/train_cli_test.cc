// `lmlab train` as a user meets it: a run killed with SIGKILL after its first
// checkpoint resumes from it; bad corpora and shapes get one-line errors.
// Needs the lmlab binary (scripts/dev-build.sh lmlab_cli).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/run_command.h"
#include "tests/train/train_fixture.h"

namespace lmlab::train {
namespace {

using lmlab::testing::LmlabBinary;
using lmlab::testing::RunCommand;

std::filesystem::path WriteCorpus(const std::filesystem::path& dir) {
  auto p = dir / "corpus.txt";
  std::ofstream f(p);
  for (const std::string& d : testing::SmallCorpus()) f << d << "\n\n";
  return p;
}

const char* kTinyFlags = " --layers 2 --width 32 --heads 2 --ctx 32 --vocab 400 --batch 4 --lr 5e-3 --threads 1";

TEST(TrainCli, KilledRunResumesFromItsCheckpoint) {
  ASSERT_TRUE(std::filesystem::exists(LmlabBinary())) << "build it: scripts/dev-build.sh lmlab_cli";
  testing::TempDir dir;
  auto corpus = WriteCorpus(dir.path());
  auto out = dir.path() / "m.gguf";
  auto ckpt = dir.path() / "m.gguf.ckpt";
  const std::string flags = std::string(kTinyFlags) + " --steps 300 --checkpoint-every 5";

  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::freopen("/dev/null", "w", stdout);
    std::freopen("/dev/null", "w", stderr);
    std::string cmd = "exec " + LmlabBinary() + " train run --corpus " + corpus.string() + " --out " + out.string() + flags;
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Kill it as soon as the first checkpoint is in place.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!std::filesystem::exists(ckpt) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(std::filesystem::exists(ckpt)) << "no checkpoint within 60 s";
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run finished before it could be killed; make it longer";
  EXPECT_FALSE(std::filesystem::exists(out));

  auto r = RunCommand(LmlabBinary() + " train run --corpus " + corpus.string() + " --out " + out.string() + flags +
                          " --resume --json",
                      300);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  const int64_t resumed = j["resumed_from_step"].get<int64_t>();
  EXPECT_GT(resumed, 0);
  EXPECT_LT(resumed, 300);
  EXPECT_EQ(resumed % 5, 0);
  EXPECT_EQ(j["steps"].get<int64_t>(), 300);
  EXPECT_LT(j["final_val_loss"].get<double>(), j["initial_val_loss"].get<double>() - 1.0);
  EXPECT_TRUE(std::filesystem::exists(out));
  EXPECT_FALSE(std::filesystem::exists(ckpt)) << "a finished run removes its checkpoint";
}

TEST(TrainCli, TrainsAndPrintsATable) {
  testing::TempDir dir;
  auto corpus = WriteCorpus(dir.path());
  auto out = dir.path() / "m.gguf";
  auto r = RunCommand(LmlabBinary() + " train run --corpus " + corpus.string() + " --out " + out.string() + kTinyFlags +
                      " --epochs 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("val loss"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Wrote " + out.string()), std::string::npos) << r.out;
  EXPECT_TRUE(std::filesystem::exists(out));
}

TEST(TrainCli, BadInputGetsOneLineErrors) {
  testing::TempDir dir;
  auto corpus = WriteCorpus(dir.path());
  auto out = (dir.path() / "m.gguf").string();
  auto run = [&](const std::string& args) { return RunCommand(LmlabBinary() + " train run --out " + out + " " + args); };

  std::ofstream(dir.path() / "empty.txt") << "\n\n";
  auto r = run("--corpus " + (dir.path() / "empty.txt").string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("is empty"), std::string::npos) << r.err;

  std::ofstream(dir.path() / "bin.dat", std::ios::binary) << std::string("\x7f" "ELF\x02\x01\0\0\0\0", 10);
  r = run("--corpus " + (dir.path() / "bin.dat").string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("looks binary"), std::string::npos) << r.err;

  r = run("--corpus " + corpus.string() + " --width 128 --heads 3");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--heads 3 does not divide --width 128"), std::string::npos) << r.err;

  std::ofstream(dir.path() / "short.txt") << "Only a short line of text.\n";
  r = run("--corpus " + (dir.path() / "short.txt").string() + " --ctx 64 --vocab 300");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("too small for a context of 64"), std::string::npos) << r.err;

  r = run("--corpus " + (dir.path() / "nope.txt").string());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out)) << "a failed run writes nothing";
}

}  // namespace
}  // namespace lmlab::train
