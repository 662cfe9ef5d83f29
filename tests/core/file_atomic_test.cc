// WriteFileAtomic's durability contract (core/file.h): the mode is set before
// the name appears, the descriptor is closed on every path, and a failed write
// leaves the old file and no temporary behind.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "lmlab/core/file.h"

namespace lmlab {
namespace {

namespace fs = std::filesystem;

fs::path TempDir() {
  char tmpl[] = "/tmp/lmlab-atomic-XXXXXX";
  return mkdtemp(tmpl);
}

int OpenDescriptors() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

int Entries(const fs::path& dir) {
  int n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

TEST(AtomicWrite, ModeIsAPlainFilesEvenUnderATightUmask) {
  fs::path dir = TempDir();
  mode_t old = umask(077);
  auto written = WriteFileAtomic(dir / "out.json", "{}");
  umask(old);
  ASSERT_TRUE(written) << written.error().ToString();
  struct stat st {};
  ASSERT_EQ(stat((dir / "out.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);  // mkstemp's 0600 would hide it from the server's readers
  fs::remove_all(dir);
}

TEST(AtomicWrite, NoDescriptorLeaksOnSuccess) {
  fs::path dir = TempDir();
  int before = OpenDescriptors();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(WriteFileAtomic(dir / "f", std::to_string(i)));
  EXPECT_EQ(OpenDescriptors(), before);
  EXPECT_EQ(ReadFile(dir / "f").value(), "19");
  fs::remove_all(dir);
}

// A write that fails half way (the file-size limit stands in for a full disk)
// keeps the old contents, removes its temporary file and closes its descriptor.
TEST(AtomicWrite, AFailedWriteKeepsTheOldFileAndLeaksNothing) {
  fs::path dir = TempDir();
  ASSERT_TRUE(WriteFileAtomic(dir / "f", "old"));
  int before = OpenDescriptors();

  struct rlimit saved {};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  auto old_handler = signal(SIGXFSZ, SIG_IGN);  // write() then fails with EFBIG
  struct rlimit small = saved;
  small.rlim_cur = 16;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  auto failed = WriteFileAtomic(dir / "f", std::string(4096, 'x'));
  setrlimit(RLIMIT_FSIZE, &saved);
  signal(SIGXFSZ, old_handler);

  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, ErrorCode::kIo);
  EXPECT_NE(failed.error().message.find((dir / "f").string()), std::string::npos) << failed.error().message;
  EXPECT_EQ(ReadFile(dir / "f").value(), "old");
  EXPECT_EQ(Entries(dir), 1) << "the temporary file is removed";
  EXPECT_EQ(OpenDescriptors(), before) << "the descriptor is closed on the error path";
  fs::remove_all(dir);
}

TEST(AtomicWrite, ARelativePathSyncsTheCurrentDirectory) {
  fs::path dir = TempDir();
  fs::path cwd = fs::current_path();
  fs::current_path(dir);
  auto written = WriteFileAtomic("plain.txt", "x");
  fs::current_path(cwd);
  ASSERT_TRUE(written) << written.error().ToString();
  EXPECT_EQ(ReadFile(dir / "plain.txt").value(), "x");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace lmlab
