#include "tests/support/tiny_model.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace lmlab::testing {

std::string FixtureFile(std::string_view name, const std::function<Status(const std::string& path)>& write) {
  std::filesystem::path path = std::filesystem::path(LMLAB_BINARY_DIR) / "test-fixtures" / name;
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return path.string();
  // Written to a temporary name and renamed (the writers are atomic), so two
  // processes racing here both end with the same complete file.
  Status s = write(path.string());
  if (!s) {
    ADD_FAILURE() << "cannot write test fixture " << path << ": " << s.error().ToString();
    return "";
  }
  return path.string();
}

}  // namespace lmlab::testing
