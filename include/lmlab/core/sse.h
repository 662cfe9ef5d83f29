// Server-sent events (text/event-stream), as OpenAI-compatible servers stream
// completions: lines "data: {json}", events separated by a blank line, and a
// final "data: [DONE]". The parser is fed arbitrary chunks (a network read may
// end mid-line) and hands out whole events; SseFormat writes them (the server).
//
//   SseParser parser;
//   for (SseEvent& e : parser.Feed(chunk)) handle(e.data);
//   sink.write(SseFormat(json.dump()));
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace lmlab {

struct SseEvent {
  std::string event;  // the "event:" field; "" for the default "message"
  std::string data;   // "data:" lines joined with '\n'
};

class SseParser {
 public:
  // Consumes a chunk; returns the events it completed, in order.
  std::vector<SseEvent> Feed(std::string_view chunk);
  // Call at end of stream: returns an event left without its blank line.
  std::vector<SseEvent> Finish();
  // Bytes received that are not (yet) part of an event; a non-SSE body
  // (an HTML error page, a JSON error) shows up here.
  const std::string& pending() const { return buffer_; }
  bool saw_any_field() const { return saw_field_; }

 private:
  void Line(std::string_view line, std::vector<SseEvent>& out);
  std::string buffer_;
  SseEvent current_;
  bool has_data_ = false;
  bool saw_field_ = false;
};

// Formats one event for sending: "data: <payload>\n\n" (multi-line payloads
// become several data lines).
std::string SseFormat(std::string_view data);

}  // namespace lmlab
