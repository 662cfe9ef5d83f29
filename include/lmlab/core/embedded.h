// Files embedded into the binary at build time (cmake/embed.cmake): the device
// catalog, prompt demonstrations, the web page. Paths are relative to the
// repository root, e.g. "data/devices.json".
#pragma once

#include <span>
#include <string_view>

#include "lmlab/core/error.h"

namespace lmlab::embedded {

struct File {
  std::string_view path;
  std::string_view contents;
};

// Every embedded file, in a stable order.
std::span<const File> All();

// The contents of one embedded file, or kNotFound.
Result<std::string_view> Find(std::string_view path);

}  // namespace lmlab::embedded
