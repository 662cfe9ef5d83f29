#include "lmlab/core/hash.h"

#include <fmt/format.h>

namespace lmlab {

std::string HashHex(uint64_t h) { return fmt::format("{:016x}", h); }

}  // namespace lmlab
