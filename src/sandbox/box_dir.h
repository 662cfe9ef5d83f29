// A run's files on the host: a fresh directory under the system temp dir,
// bound read-only at /box inside the sandbox, removed when the BoxDir goes
// away (on every path out of Run).
//
// The host holds an exclusive flock on the directory for the whole run, so
// another lmlab (in another pid namespace, or on another node sharing the
// temp dir, where the pid in the name says nothing) can tell a live run from
// a dead one: RemoveBoxDirsOfDeadHosts.
#pragma once

#include <filesystem>
#include <optional>
#include <span>

#include "lmlab/core/error.h"
#include "lmlab/core/file.h"
#include "lmlab/sandbox/sandbox.h"

namespace lmlab::sandbox::internal {

class BoxDir {
 public:
  // <temp>/lmlab-sandbox-<host pid>-XXXXXX, mode 0755, empty.
  static Result<BoxDir> Create();
  // Writes `files` into it (mode 0644, directories 0755) so that the
  // sandbox's unprivileged uid can read them. A path that is absolute or
  // climbs out ("..") is an error, and nothing is written then.
  Status WriteFiles(std::span<const File> files) const;

  BoxDir(BoxDir&& other) noexcept;
  BoxDir& operator=(BoxDir&&) = delete;
  BoxDir(const BoxDir&) = delete;
  ~BoxDir();

  const std::filesystem::path& path() const { return path_; }

 private:
  BoxDir() = default;
  std::filesystem::path path_;  // empty: nothing to remove
  std::optional<FileLock> lock_;  // released after the removal (members die after ~BoxDir's body)
};

// A host killed with SIGKILL cannot remove its dir, so each new sandbox
// removes the dirs in `tmp` of hosts that are gone: the pid in the name names
// no process here, nobody holds the dir's flock anywhere, and the dir is over
// a minute old (so a host between mkdtemp and flock is never caught).
void RemoveBoxDirsOfDeadHosts(const std::filesystem::path& tmp);

}  // namespace lmlab::sandbox::internal
