// Streams generated text while never emitting a stop string, even when a stop
// string arrives split across several tokens ("<|im" + "_end|>"): text that
// could still be the start of a stop string is held back until the next
// piece decides it. Also holds back an incomplete UTF-8 character at the end,
// so streamed pieces are always whole characters. Pure logic; no llama.h.
// Under internal/: used by runtime's backends and tested on its own, not a
// stable API.
//
//   StopStrings stop({"\n\n"});
//   for (piece : pieces) { auto r = stop.Add(piece); emit(r.emit); if (r.stopped) break; }
//   emit(stop.Flush());
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace lmlab::runtime::internal {

class StopStrings {
 public:
  explicit StopStrings(std::vector<std::string> stops);

  struct Step {
    std::string emit;      // text now safe to pass on
    bool stopped = false;  // a stop string appeared; `emit` ends just before it
  };
  Step Add(std::string_view piece);
  // What is left held back, at the end of generation.
  std::string Flush();
  // Everything emitted so far (and flushed), without any stop string.
  const std::string& text() const { return text_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;  // received but not yet emitted
  std::string text_;     // emitted
  bool stopped_ = false;
};

// Bytes at the end of `s` that start a UTF-8 character not yet complete.
size_t IncompleteUtf8Tail(std::string_view s);

}  // namespace lmlab::runtime::internal
