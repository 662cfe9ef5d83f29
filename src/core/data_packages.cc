#include "lmlab/core/data_packages.h"

#include <cstdlib>
#include <string>

namespace lmlab {

std::filesystem::path DataDir() {
  if (const char* d = std::getenv("LMLAB_DATA_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return std::filesystem::path(x) / "lmlab";
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home && *home ? home : "/tmp") / ".local" / "share" / "lmlab";
}

Result<std::filesystem::path> NpmPackageDir(std::string_view name) {
  std::string dir(name);
  for (size_t i = dir.find('/'); i != std::string::npos; i = dir.find('/', i + 2)) dir.replace(i, 1, "__");
  std::filesystem::path path = DataDir() / "npm" / dir;
  if (!std::filesystem::exists(path / ".lmlab-sha256"))
    return NotFound("data package " + std::string(name) + " is not installed in " + (DataDir() / "npm").string() +
                    ": run scripts/fetch-data.sh");
  return path;
}

Result<std::filesystem::path> DebianFile(std::string_view package, const std::filesystem::path& path) {
  if (!std::filesystem::exists(path))
    return NotFound(path.string() + " is missing: install the Debian package " + std::string(package) +
                    " (apt-get install " + std::string(package) + ")");
  return path;
}

}  // namespace lmlab
