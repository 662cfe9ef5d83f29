#include "lmlab/runtime/internal/stop_strings.h"

#include <algorithm>

namespace lmlab::runtime::internal {

StopStrings::StopStrings(std::vector<std::string> stops) {
  for (std::string& s : stops)
    if (!s.empty()) stops_.push_back(std::move(s));
}

size_t IncompleteUtf8Tail(std::string_view s) {
  // Look back at most 3 bytes for the lead byte of the last character.
  for (size_t back = 1; back <= std::min<size_t>(4, s.size()); ++back) {
    unsigned char c = static_cast<unsigned char>(s[s.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    size_t need = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return need > back ? back : 0;
  }
  return 0;  // only continuation bytes: invalid UTF-8, nothing to wait for
}

StopStrings::Step StopStrings::Add(std::string_view piece) {
  Step step;
  if (stopped_) {
    step.stopped = true;
    return step;
  }
  pending_ += piece;
  // The earliest stop string in what is pending wins.
  size_t cut = std::string::npos;
  for (const std::string& s : stops_) cut = std::min(cut, pending_.find(s));
  if (cut != std::string::npos) {
    step.emit = pending_.substr(0, cut);
    text_ += step.emit;
    pending_.clear();
    stopped_ = step.stopped = true;
    return step;
  }
  // Hold back the longest suffix that is a proper prefix of some stop string.
  size_t hold = 0;
  for (const std::string& s : stops_)
    for (size_t k = std::min(s.size() - 1, pending_.size()); k > hold; --k)
      if (std::string_view(pending_).substr(pending_.size() - k) == std::string_view(s).substr(0, k)) {
        hold = k;
        break;
      }
  size_t safe = pending_.size() - hold;
  safe -= IncompleteUtf8Tail(std::string_view(pending_).substr(0, safe));
  step.emit = pending_.substr(0, safe);
  pending_.erase(0, safe);
  text_ += step.emit;
  return step;
}

std::string StopStrings::Flush() {
  std::string rest = stopped_ ? std::string() : std::move(pending_);
  pending_.clear();
  text_ += rest;
  return rest;
}

}  // namespace lmlab::runtime::internal
