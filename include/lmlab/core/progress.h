// How long-running library work reports progress without printing: it calls
// a ProgressCallback, and the CLI draws a bar (cli/common.h) or the server
// streams events. Callbacks are cheap to skip: a null callback is allowed.
#pragma once

#include <functional>
#include <string>

namespace lmlab {

struct Progress {
  std::string stage;   // "training", "capturing activations", ...
  double done = 0;     // units finished
  double total = 0;    // units in all; 0 when unknown
  std::string unit;    // "tokens", "prompts", ...
  std::string detail;  // "loss 2.31, 4,400 tok/s"
};

using ProgressCallback = std::function<void(const Progress&)>;

inline void Report(const ProgressCallback& cb, const Progress& p) {
  if (cb) cb(p);
}

}  // namespace lmlab
