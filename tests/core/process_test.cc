// core/process.h: the system ProcessRunner with real programs.
#include "lmlab/core/process.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>

namespace lmlab {
namespace {

TEST(ProcessRunner, OutputStdinExitCodesTimeoutAndAMissingProgram) {
  auto runner = MakeSystemProcessRunner();
  auto cat = runner->Run({.argv = {"sh", "-c", "cat; echo err >&2; exit 4"}, .stdin_data = "hello"});
  ASSERT_TRUE(cat);
  EXPECT_EQ(cat->out, "hello");
  EXPECT_EQ(cat->err, "err\n");
  EXPECT_EQ(cat->exit_code, 4);
  EXPECT_EQ(DescribeFailure({.argv = {"sh"}}, *cat), "sh exited with 4: err");
  auto env = runner->Run({.argv = {"sh", "-c", "printf %s \"$LMLAB_X\""}, .env = {{"LMLAB_X", "a b"}}});
  EXPECT_EQ(env->out, "a b");
  auto here = runner->Run({.argv = {"pwd"}, .work_dir = "/tmp"});
  ASSERT_TRUE(here);
  EXPECT_EQ(here->out, "/tmp\n");
  std::atomic<bool> stop{true};
  auto cancelled = runner->Run({.argv = {"sleep", "20"}, .cancel = &stop});
  ASSERT_FALSE(cancelled);
  EXPECT_EQ(cancelled.error().code, ErrorCode::kCancelled);
  auto slow = runner->Run({.argv = {"sleep", "20"}, .timeout_seconds = 0.3});
  ASSERT_FALSE(slow);
  EXPECT_EQ(slow.error().code, ErrorCode::kTimeout);
  auto missing = runner->Run({.argv = {"lmlab-no-such-program"}});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  // A program that does not read its stdin does not kill this process with SIGPIPE.
  auto deaf = runner->Run({.argv = {"true"}, .stdin_data = std::string(1 << 20, 'x')});
  ASSERT_TRUE(deaf);
  EXPECT_EQ(deaf->exit_code, 0);
}

}  // namespace
}  // namespace lmlab
