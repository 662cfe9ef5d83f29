// The server-sent-events parser of streamed endpoint replies. The network may
// cut a stream anywhere, so the events must not depend on where: the input
// fed whole and fed in two pieces (split where its first byte says) agree.
#include <vector>

#include "lmlab/core/sse.h"
#include "tests/fuzz/fuzz_support.h"

namespace {
bool Same(const std::vector<lmlab::SseEvent>& a, const std::vector<lmlab::SseEvent>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].event != b[i].event || a[i].data != b[i].data) return false;
  return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lmlab;
  if (size == 0) return 0;
  std::string_view text = fuzz::Text(data + 1, size - 1);
  size_t cut = text.empty() ? 0 : data[0] % (text.size() + 1);

  SseParser whole;
  std::vector<SseEvent> a = whole.Feed(text);
  for (auto& e : whole.Finish()) a.push_back(std::move(e));

  SseParser split;
  std::vector<SseEvent> b = split.Feed(text.substr(0, cut));
  for (auto& e : split.Feed(text.substr(cut))) b.push_back(std::move(e));
  for (auto& e : split.Finish()) b.push_back(std::move(e));

  fuzz::Check(Same(a, b), "events do not depend on where the stream was cut");
  fuzz::Check(whole.saw_any_field() == split.saw_any_field(), "saw_any_field does not depend on the cut");
  return 0;
}
