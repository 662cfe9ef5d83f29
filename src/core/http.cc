// HttpClient over libcurl (easy interface, one handle per exchange). The only
// file in lmlab that includes curl.h.
#include "lmlab/core/http.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <mutex>

#include "lmlab/core/text.h"

namespace lmlab {

std::optional<std::string> HttpResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return std::nullopt;
}

namespace {

// curl_global_init is not thread-safe and must run once per process before
// any handle exists: here, on the first client.
void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Exchange {
  CURL* curl = nullptr;
  const BodyCallback* on_body = nullptr;
  size_t max_body_bytes = 0;
  HttpResponse response;
  bool cancelled = false;
  bool too_large = false;
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  std::string_view line(data, size * n);
  // A new status line (after a redirect or "100 Continue") starts a new header set.
  if (line.starts_with("HTTP/")) ex->response.headers.clear();
  size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    ex->response.headers.emplace_back(Lower(line.substr(0, colon)), std::string(Trim(line.substr(colon + 1))));
  }
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  long status = 0;
  curl_easy_getinfo(ex->curl, CURLINFO_RESPONSE_CODE, &status);
  std::string_view chunk(data, size * n);
  if (ex->on_body && *ex->on_body && status >= 200 && status < 300) {
    if (!(*ex->on_body)(chunk)) {
      ex->cancelled = true;
      return 0;  // makes curl stop with CURLE_WRITE_ERROR
    }
  } else {
    if (ex->max_body_bytes > 0 && ex->response.body.size() + chunk.size() > ex->max_body_bytes) {
      ex->too_large = true;
      return 0;  // makes curl stop with CURLE_WRITE_ERROR
    }
    ex->response.body.append(chunk);
  }
  return size * n;
}

class CurlHttpClient : public HttpClient {
 public:
  CurlHttpClient() { GlobalInit(); }

  Result<HttpResponse> Send(const HttpRequest& request, const BodyCallback& on_body) override {
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
    if (!curl) return Internal("curl_easy_init failed");
    Exchange ex;
    ex.curl = curl.get();
    ex.on_body = &on_body;
    ex.max_body_bytes = request.max_body_bytes;

    curl_slist* headers = nullptr;
    for (const auto& [k, v] : request.headers) headers = curl_slist_append(headers, (k + ": " + v).c_str());
    // Without this curl sends "Expect: 100-continue" for large bodies and waits for it.
    headers = curl_slist_append(headers, "Expect:");
    std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_guard(headers, curl_slist_free_all);

    char error_buffer[CURL_ERROR_SIZE] = {0};
    CURL* c = curl.get();
    curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM: we run in threads
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_buffer);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &ex);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &ex);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout_seconds * 1000));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(std::min(request.connect_timeout_seconds, request.timeout_seconds) * 1000));
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // whatever this libcurl can decode
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    if (request.follow_redirects) {
      curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
      curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
      curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    }
    if (request.method == "POST") {
      curl_easy_setopt(c, CURLOPT_POST, 1L);
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    } else if (request.method != "GET") {
      return InvalidArgument("unsupported HTTP method " + request.method);
    }

    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
      if (ex.cancelled) return MakeError(ErrorCode::kCancelled, "stopped reading " + request.url);
      if (ex.too_large)
        return Unavailable(fmt::format("{} answered with a body over {} bytes", request.url, request.max_body_bytes));
      std::string detail = error_buffer[0] ? error_buffer : curl_easy_strerror(rc);
      switch (rc) {
        case CURLE_OPERATION_TIMEDOUT:
          return Timeout(fmt::format("{} did not answer within {:g} s ({})", request.url, request.timeout_seconds,
                                     detail));
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL:
          return InvalidArgument(fmt::format("bad endpoint URL '{}': {}", request.url, detail));
        default:
          return Unavailable(fmt::format("could not reach {}: {}", request.url, detail));
      }
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    ex.response.status = static_cast<int>(status);
    return std::move(ex.response);
  }
};

}  // namespace

std::unique_ptr<HttpClient> MakeCurlHttpClient() { return std::make_unique<CurlHttpClient>(); }

std::string UrlEncode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                            c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

}  // namespace lmlab
