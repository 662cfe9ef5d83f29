// Small file helpers with lmlab::Result errors. Writes are atomic: a reader
// sees the old file or the whole new one, never half (write to a temporary
// file in the same directory, fsync, rename).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "lmlab/core/error.h"

namespace lmlab {

Result<std::string> ReadFile(const std::filesystem::path& path);
Status WriteFileAtomic(const std::filesystem::path& path, std::string_view contents);

// The user's cache directory for lmlab: $LMLAB_CACHE_DIR, else
// $XDG_CACHE_HOME/lmlab, else ~/.cache/lmlab. Created if missing.
Result<std::filesystem::path> CacheDir();

}  // namespace lmlab
