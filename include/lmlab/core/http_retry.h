// Retries with exponential backoff for HTTP calls: 429 and
// 5xx answers and transport failures (connection refused or dropped, timeouts)
// are tried again, honouring the server's Retry-After; other statuses are
// returned at once for the caller to report.
//
//   RetryPolicy policy{.max_retries = 3};
//   LMLAB_ASSIGN_OR_RETURN(HttpResponse res, SendWithRetry(*http, request, policy));
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string_view>

#include "lmlab/core/http.h"

namespace lmlab {

struct RetryPolicy {
  int max_retries = 3;               // attempts after the first
  double initial_backoff_seconds = 0.5;
  double max_backoff_seconds = 8;    // also caps a server's Retry-After
  double multiplier = 2;
  // > 0: the whole call, waits and retries included, fits in this many
  // seconds: no retry starts whose wait would end past it, and each retry's
  // timeout is cut to what is left (for callers with a deadline, like a search
  // inside an answer). 0 = no overall limit.
  double budget_seconds = 0;
  // How to wait; tests pass a recorder. Null = std::this_thread::sleep_for.
  std::function<void(std::chrono::duration<double>)> sleep;
};

// A status worth retrying: 408, 429, 500, 502, 503, 504.
bool IsRetryableStatus(int status);

// Seconds to wait from a Retry-After value: delta-seconds ("3") or an
// HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT", compared with `now`).
// nullopt when the value is neither.
std::optional<double> ParseRetryAfter(std::string_view value,
                                      std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// Sends `request`, retrying as the policy says. Returns the last response
// (which may still be a 429 or 5xx once retries are spent) or the last
// transport error. A streamed request is not retried once its callback has
// received data, since the caller has already seen part of the answer.
Result<HttpResponse> SendWithRetry(HttpClient& client, const HttpRequest& request, const RetryPolicy& policy,
                                   const BodyCallback& on_body = {});

}  // namespace lmlab
