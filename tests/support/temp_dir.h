// Test helper: a fresh directory under $TMPDIR (or /tmp), removed with
// everything in it when the TempDir goes out of scope.
//
//   testing::TempDir dir("core");           // /tmp/lmlab-core-XXXXXX
//   WriteFileAtomic(dir.path() / "x", "...");
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <string_view>

namespace lmlab::testing {

class TempDir {
 public:
  explicit TempDir(std::string_view name = "test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / ("lmlab-" + std::string(name) + "-XXXXXX")).string();
    if (mkdtemp(tmpl.data())) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Empty when the directory could not be made (the test's first write fails).
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace lmlab::testing
