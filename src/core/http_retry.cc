#include "lmlab/core/http_retry.h"

#include <time.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <thread>

#include "lmlab/core/text.h"

namespace lmlab {

bool IsRetryableStatus(int status) {
  return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

std::optional<double> ParseRetryAfter(std::string_view value, std::chrono::system_clock::time_point now) {
  value = Trim(value);
  if (value.empty()) return std::nullopt;
  double seconds = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec == std::errc() && end == value.data() + value.size()) {
    if (!(seconds >= 0) || !std::isfinite(seconds)) return std::nullopt;
    return seconds;
  }
  // IMF-fixdate, the form RFC 9110 requires senders to use.
  std::string text(value);
  std::tm tm{};
  const char* parsed = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!parsed || *parsed != '\0') return std::nullopt;
  auto when = std::chrono::system_clock::from_time_t(timegm(&tm));
  double delta = std::chrono::duration<double>(when - now).count();
  return std::max(0.0, delta);
}

Result<HttpResponse> SendWithRetry(HttpClient& client, const HttpRequest& request, const RetryPolicy& policy,
                                   const BodyCallback& on_body) {
  bool delivered = false;
  BodyCallback tracking;
  if (on_body) {
    tracking = [&](std::string_view chunk) {
      delivered = true;
      return on_body(chunk);
    };
  }
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  HttpRequest attempt_request = request;
  double backoff = policy.initial_backoff_seconds;
  for (int attempt = 0;; ++attempt) {
    Result<HttpResponse> r = client.Send(attempt_request, tracking);
    bool retry = false;
    double wait = backoff;
    if (!r) {
      ErrorCode code = r.error().code;
      retry = !delivered && (code == ErrorCode::kUnavailable || code == ErrorCode::kTimeout);
    } else if (IsRetryableStatus(r->status) && !delivered) {
      retry = true;
      if (auto after = r->Header("retry-after"))
        if (auto s = ParseRetryAfter(*after)) wait = *s;
    }
    if (!retry || attempt >= policy.max_retries) return r;
    wait = std::min(wait, policy.max_backoff_seconds);
    if (policy.budget_seconds > 0) {
      const double left = policy.budget_seconds - elapsed() - wait;
      if (left <= 0) return r;  // no time for another attempt
      attempt_request.timeout_seconds = std::min(request.timeout_seconds, left);
    }
    if (policy.sleep) policy.sleep(std::chrono::duration<double>(wait));
    else std::this_thread::sleep_for(std::chrono::duration<double>(wait));
    backoff = std::min(backoff * policy.multiplier, policy.max_backoff_seconds);
  }
}

}  // namespace lmlab
