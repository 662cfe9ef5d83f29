// core/sse: server-sent events, parsed from arbitrary chunks and formatted.
#include "lmlab/core/sse.h"

#include <gtest/gtest.h>

namespace lmlab {
namespace {

TEST(SseParser, SplitsEventsAcrossArbitraryChunks) {
  std::string stream = "data: {\"a\":1}\n\n: keep-alive\n\ndata: {\"b\":2}\r\n\r\ndata: [DONE]\n\n";
  // Feed one byte at a time: a network read may end anywhere.
  SseParser p;
  std::vector<SseEvent> events;
  for (char c : stream)
    for (SseEvent& e : p.Feed(std::string_view(&c, 1))) events.push_back(std::move(e));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].data, "{\"a\":1}");
  EXPECT_EQ(events[1].data, "{\"b\":2}");
  EXPECT_EQ(events[2].data, "[DONE]");
  EXPECT_TRUE(p.Finish().empty());
}

TEST(SseParser, MultiLineDataEventNameAndUnterminatedTail) {
  SseParser p;
  auto events = p.Feed("event: error\ndata: line1\ndata: line2\n\ndata: tail");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event, "error");
  EXPECT_EQ(events[0].data, "line1\nline2");
  auto rest = p.Finish();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].data, "tail");
}

TEST(SseParser, NonSseBodyYieldsNoEvents) {
  SseParser p;
  EXPECT_TRUE(p.Feed("{\"error\": {\"message\": \"nope\"}}\n").empty());
  EXPECT_TRUE(p.Finish().empty());
  EXPECT_FALSE(p.saw_any_field());
}

TEST(SseFormat, RoundTripsThroughTheParser) {
  SseParser p;
  auto events = p.Feed(SseFormat("one\ntwo") + SseFormat("[DONE]"));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].data, "one\ntwo");
  EXPECT_EQ(events[1].data, "[DONE]");
}

}  // namespace
}  // namespace lmlab
