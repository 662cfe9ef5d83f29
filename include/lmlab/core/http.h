// HttpClient: the one interface through which lmlab talks HTTP(S), to model
// endpoints and to search engines alike. The libcurl implementation
// (MakeCurlHttpClient, the only code in lmlab that calls libcurl) does TLS,
// timeouts, redirects, body limits and streaming; retry/backoff
// (http_retry.h) and response parsing are written against the interface, so
// they are tested without the network.
//
//   std::unique_ptr<HttpClient> http = MakeCurlHttpClient();
//   HttpRequest req{.method = "POST", .url = "http://127.0.0.1:8080/v1/completions",
//                   .headers = {{"Content-Type", "application/json"}}, .body = R"({"prompt":"Hi"})"};
//   LMLAB_ASSIGN_OR_RETURN(HttpResponse res, http->Send(req));
//   if (res.status != 200) ...
//
// Thread-safety: one HttpClient serves one caller at a time.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lmlab/core/error.h"

namespace lmlab {

struct HttpRequest {
  std::string method = "GET";  // "GET" or "POST"
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // secrets allowed: never logged
  std::string body;
  double timeout_seconds = 120;        // the whole exchange, streaming included
  double connect_timeout_seconds = 10;
  bool follow_redirects = false;       // follow 3xx Location answers (at most 10)
  size_t max_body_bytes = 0;           // a collected body larger than this fails with
                                       // kUnavailable; 0 = no limit. Bodies handed
                                       // to a BodyCallback are not collected or counted.
};

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;  // empty when a 2xx body was handed to a BodyCallback

  // The first header of that (lower-case) name, if any.
  std::optional<std::string> Header(std::string_view name) const;
};

// Receives the body of a 2xx response piece by piece as it arrives (for
// server-sent events). Return false to stop reading: Send then fails with
// kCancelled. Bodies of other statuses are collected in HttpResponse::body.
using BodyCallback = std::function<bool(std::string_view chunk)>;

class HttpClient {
 public:
  virtual ~HttpClient() = default;

  // Performs one exchange. Any HTTP status is a successful Result; transport
  // failures are errors: kUnavailable (cannot connect, connection dropped,
  // TLS failure), kTimeout, kCancelled (the callback said stop), kInvalidArgument
  // (a malformed URL). Error messages name the URL, never header values.
  virtual Result<HttpResponse> Send(const HttpRequest& request, const BodyCallback& on_body = {}) = 0;
};

// libcurl with TLS verification on. Safe to create from several threads;
// initialises libcurl once per process, on first use.
std::unique_ptr<HttpClient> MakeCurlHttpClient();

// Percent-encoding for a URL query value (RFC 3986): every byte but the
// unreserved A-Z a-z 0-9 - . _ ~ becomes %XX. UrlEncode("a b&c") == "a%20b%26c".
std::string UrlEncode(std::string_view value);

}  // namespace lmlab
