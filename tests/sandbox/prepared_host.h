// Test binaries that run sandboxes in-process prepare their process once, as
// lmlab's main() does (sandbox/host_process.h): include this header in each
// such test file; the environment is registered once per binary.
#pragma once

#include <gtest/gtest.h>

#include "lmlab/sandbox/host_process.h"

namespace lmlab::testing {

class PreparedHostProcess : public ::testing::Environment {
 public:
  void SetUp() override {
    Status s = sandbox::PrepareHostProcess();
    ASSERT_TRUE(s) << s.error().ToString();
  }
};

inline ::testing::Environment* const kPreparedHostProcess =
    ::testing::AddGlobalTestEnvironment(new PreparedHostProcess);

}  // namespace lmlab::testing
