#include "lmlab/runtime/http_retry.h"

#include <time.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <thread>

namespace lmlab::runtime {

bool IsRetryableStatus(int status) {
  return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

std::optional<double> ParseRetryAfter(std::string_view value, std::chrono::system_clock::time_point now) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
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
  double backoff = policy.initial_backoff_seconds;
  for (int attempt = 0;; ++attempt) {
    Result<HttpResponse> r = client.Send(request, tracking);
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
    if (policy.sleep) policy.sleep(std::chrono::duration<double>(wait));
    else std::this_thread::sleep_for(std::chrono::duration<double>(wait));
    backoff = std::min(backoff * policy.multiplier, policy.max_backoff_seconds);
  }
}

}  // namespace lmlab::runtime
