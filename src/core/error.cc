#include "lmlab/core/error.h"

namespace lmlab {

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kNotFound: return "not found";
    case ErrorCode::kParse: return "parse error";
    case ErrorCode::kIo: return "I/O error";
    case ErrorCode::kUnsupported: return "unsupported";
    case ErrorCode::kOutOfRange: return "out of range";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kTimeout: return "timeout";
    case ErrorCode::kCancelled: return "cancelled";
    case ErrorCode::kInternal: return "internal error";
  }
  return "error";
}

std::string Error::ToString() const {
  return std::string(ErrorCodeName(code)) + ": " + message;
}

Error Error::WithContext(std::string_view context) const {
  return Error{code, std::string(context) + ": " + message};
}

namespace {

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9') || c == '.'; }

// The mention that starts with the backtick at text[at], if any; `length`
// gets its length including both backticks.
bool ParseMention(std::string_view text, size_t at, OptionMention& m, size_t& length) {
  const size_t close = text.find('`', at + 1);
  if (close == std::string_view::npos) return false;
  std::string_view inside = text.substr(at + 1, close - at - 1);
  const size_t eq = inside.find('=');
  std::string_view name = inside.substr(0, eq);
  if (name.empty() || !IsNameStart(name[0])) return false;
  for (char c : name)
    if (!IsNameChar(c)) return false;
  m.name = name;
  m.value = eq == std::string_view::npos ? std::string_view() : inside.substr(eq + 1);
  if (eq != std::string_view::npos && m.value.empty()) return false;
  length = close - at + 1;
  return true;
}

}  // namespace

std::string RenderOptionNames(std::string_view message, const std::function<std::string(const OptionMention&)>& render) {
  std::string out;
  out.reserve(message.size());
  for (size_t i = 0; i < message.size();) {
    OptionMention m;
    size_t length = 0;
    if (message[i] == '`' && ParseMention(message, i, m, length)) {
      out += render(m);
      i += length;
    } else {
      out += message[i++];
    }
  }
  return out;
}

std::vector<OptionMention> OptionMentions(std::string_view message) {
  std::vector<OptionMention> out;
  for (size_t i = 0; i < message.size(); ++i) {
    OptionMention m;
    size_t length = 0;
    if (message[i] == '`' && ParseMention(message, i, m, length)) {
      out.push_back(m);
      i += length - 1;
    }
  }
  return out;
}

}  // namespace lmlab
