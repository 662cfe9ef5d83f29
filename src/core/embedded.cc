#include "lmlab/core/embedded.h"

#include <string>

namespace lmlab::embedded {

Result<std::string_view> Find(std::string_view path) {
  for (const File& f : All()) {
    if (f.path == path) return f.contents;
  }
  return NotFound("no embedded file " + std::string(path));
}

}  // namespace lmlab::embedded
