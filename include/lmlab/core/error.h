// lmlab::Error and lmlab::Result<T>: how every library function reports
// failure. Library code never throws, prints, or exits; the CLI turns an
// Error into one line on stderr and an exit code.
//
//   lmlab::Result<Model> m = Model::Open(path);
//   if (!m) return std::unexpected(m.error());
//   LMLAB_ASSIGN_OR_RETURN(auto plan, MakePlan(request));
//
// Messages say what is wrong, never which CLI flag fixes it: the same message
// reaches the CLI, the HTTP server and C++ callers. Where an option of the
// call would fix it, the message names that option as the field of the
// options struct the call took, in backticks, with a value that fixes it after
// '=' where there is one:
//
//   InvalidArgument("`max_tokens` must be at least 1 (got 0)")
//   InvalidArgument("data.csv line 3: latitude is empty; fix the file or skip such rows with `missing=drop`")
//
// Each front end says it in its own terms with RenderOptionNames: the CLI as
// its flags ("--max-tokens", "--missing drop"), the server as request fields.
#pragma once

#include <expected>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lmlab {

enum class ErrorCode {
  kInvalidArgument,  // the caller (often the user) passed a bad value
  kNotFound,         // a file, model, device or key that does not exist
  kParse,            // malformed input: GGUF, CSV, JSON, a date
  kIo,               // the OS refused a read or write
  kUnsupported,      // valid request this build or model cannot serve
  kOutOfRange,       // e.g. a prompt longer than the context window
  kUnavailable,      // a server or backend that did not answer
  kTimeout,          // ran past its time budget
  kCancelled,        // stopped by the user or a signal
  kInternal,         // a bug in lmlab: please report it
};

std::string_view ErrorCodeName(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;

  // "invalid argument: `devices` must be positive"
  std::string ToString() const;
  // Returns a copy with "context: " prepended to the message.
  Error WithContext(std::string_view context) const;
};

// An option named in a message: `name` or `name=value`.
struct OptionMention {
  std::string_view name;   // "max_tokens"
  std::string_view value;  // "drop" in `missing=drop`; empty when none
};

// `message` with each option mention (a backticked lower-case identifier,
// optionally "=value") replaced by render(mention); other text, other
// backticks included, is kept as it is.
std::string RenderOptionNames(std::string_view message, const std::function<std::string(const OptionMention&)>& render);

// The option mentions in `message`, in order.
std::vector<OptionMention> OptionMentions(std::string_view message);

template <class T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

inline std::unexpected<Error> MakeError(ErrorCode code, std::string message) {
  return std::unexpected(Error{code, std::move(message)});
}
inline std::unexpected<Error> InvalidArgument(std::string m) { return MakeError(ErrorCode::kInvalidArgument, std::move(m)); }
inline std::unexpected<Error> NotFound(std::string m) { return MakeError(ErrorCode::kNotFound, std::move(m)); }
inline std::unexpected<Error> ParseError(std::string m) { return MakeError(ErrorCode::kParse, std::move(m)); }
inline std::unexpected<Error> IoError(std::string m) { return MakeError(ErrorCode::kIo, std::move(m)); }
inline std::unexpected<Error> Unsupported(std::string m) { return MakeError(ErrorCode::kUnsupported, std::move(m)); }
inline std::unexpected<Error> OutOfRange(std::string m) { return MakeError(ErrorCode::kOutOfRange, std::move(m)); }
inline std::unexpected<Error> Unavailable(std::string m) { return MakeError(ErrorCode::kUnavailable, std::move(m)); }
inline std::unexpected<Error> Timeout(std::string m) { return MakeError(ErrorCode::kTimeout, std::move(m)); }
inline std::unexpected<Error> Internal(std::string m) { return MakeError(ErrorCode::kInternal, std::move(m)); }

}  // namespace lmlab

#define LMLAB_CONCAT_INNER(a, b) a##b
#define LMLAB_CONCAT(a, b) LMLAB_CONCAT_INNER(a, b)

// Evaluates `expr` (a Status or Result); returns its error from the caller.
#define LMLAB_RETURN_IF_ERROR(expr)                                   \
  do {                                                                \
    auto&& lmlab_status_ = (expr);                                    \
    if (!lmlab_status_) return std::unexpected(lmlab_status_.error()); \
  } while (0)

// `LMLAB_ASSIGN_OR_RETURN(auto x, MakeX());` binds the value or returns the error.
#define LMLAB_ASSIGN_OR_RETURN(lhs, expr)                                    \
  auto LMLAB_CONCAT(lmlab_result_, __LINE__) = (expr);                       \
  if (!LMLAB_CONCAT(lmlab_result_, __LINE__))                                \
    return std::unexpected(LMLAB_CONCAT(lmlab_result_, __LINE__).error());   \
  lhs = std::move(*LMLAB_CONCAT(lmlab_result_, __LINE__))
