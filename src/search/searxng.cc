#include "lmlab/search/searxng.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <nlohmann/json.hpp>
#include <set>

namespace lmlab::search {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// SearXNG has no highlight of its own: the query's words found in the
// content, as a results page would bold them.
std::string HighlightTerms(std::string_view query, std::string_view content) {
  std::string lc = Lower(content), out, word;
  std::set<std::string> seen;
  auto flush = [&] {
    if (word.size() >= 3 && !seen.contains(word)) {
      size_t at = lc.find(word);
      if (at != std::string::npos) {
        seen.insert(word);
        if (!out.empty()) out += ", ";
        out += std::string(content.substr(at, word.size()));
      }
    }
    word.clear();
  };
  for (char c : query) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || u >= 0x80) word += static_cast<char>(std::tolower(u));
    else flush();
  }
  flush();
  return out;
}

size_t Collect(char* data, size_t size, size_t n, void* user) {
  auto* body = static_cast<std::string*>(user);
  constexpr size_t kMaxBody = 16 << 20;  // a results page is ~100 KB; refuse runaway responses
  if (body->size() + size * n > kMaxBody) return 0;
  body->append(data, size * n);
  return size * n;
}

std::string Escape(CURL* curl, std::string_view s) {
  char* e = curl_easy_escape(curl, s.data(), static_cast<int>(s.size()));
  std::string out = e ? e : "";
  curl_free(e);
  return out;
}

class SearxngBackend : public SearchBackend {
 public:
  explicit SearxngBackend(SearxngOptions o) : o_(std::move(o)) {
    while (!o_.base_url.empty() && o_.base_url.back() == '/') o_.base_url.pop_back();
    if (o_.base_url.ends_with("/search")) o_.base_url.resize(o_.base_url.size() - 7);
  }
  std::string name() const override { return "searxng"; }

  Result<SearchResults> Search(std::string_view query, const SearchOptions& options) override {
    auto start = std::chrono::steady_clock::now();
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
    if (!curl) return Internal("curl_easy_init failed");
    std::string url = o_.base_url + "/search?format=json&q=" + Escape(curl.get(), query);
    if (!o_.language.empty()) url += "&language=" + Escape(curl.get(), o_.language);
    if (!o_.categories.empty()) url += "&categories=" + Escape(curl.get(), o_.categories);
    if (!o_.time_range.empty()) url += "&time_range=" + Escape(curl.get(), o_.time_range);
    std::string body;
    char err[CURL_ERROR_SIZE] = {0};
    auto ms = static_cast<long>(options.timeout_seconds * 1000);
    curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, Collect);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, std::max(1L, ms));
    curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT_MS, std::max(1L, std::min(ms, 5000L)));
    curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_USERAGENT, "lmlab/0.1 (+FreshPrompt)");
    CURLcode rc = curl_easy_perform(curl.get());
    if (rc == CURLE_OPERATION_TIMEDOUT)
      return Timeout("SearXNG at " + o_.base_url + fmt::format(" did not answer within {:g} s", options.timeout_seconds));
    if (rc != CURLE_OK)
      return Unavailable("SearXNG at " + o_.base_url + " is unreachable: " + (err[0] ? err : curl_easy_strerror(rc)));
    long status = 0;
    curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
    if (status == 403)
      return Unavailable("SearXNG at " + o_.base_url +
                         " refused format=json (HTTP 403): enable it in settings.yml under search.formats");
    if (status != 200)
      return Unavailable("SearXNG at " + o_.base_url + " answered HTTP " + std::to_string(status));
    auto r = ParseSearxngJson(body, query, options);
    if (!r) return r;
    r->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
  }

 private:
  SearxngOptions o_;
};

}  // namespace

std::unique_ptr<SearchBackend> OpenSearxng(const SearxngOptions& options) {
  static const bool curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  (void)curl_ready;
  return std::make_unique<SearxngBackend>(options);
}

Result<SearchResults> ParseSearxngJson(std::string_view body, std::string_view query, const SearchOptions& options) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return ParseError("SearXNG answered with something that is not JSON");
  auto results = j.find("results");
  if (results == j.end() || !results->is_array())
    return ParseError("SearXNG JSON has no \"results\" array");
  SearchResults r;
  r.query = std::string(query);
  r.backend = "searxng";
  for (const auto& item : *results) {
    if (!item.is_object()) continue;
    if (static_cast<int>(r.evidences.size()) >= options.max_results) break;
    Evidence e;
    e.url = ToValidUtf8(Str(item, "url"));
    if (e.url.empty()) continue;
    e.title = ToValidUtf8(Str(item, "title"));
    e.snippet = ToValidUtf8(Str(item, "content"));
    e.source = SourceFromUrl(e.url);
    std::string date = Str(item, "publishedDate");
    if (date.empty()) date = Str(item, "pubdate");
    if (!date.empty()) e.date = ParseDateOrUndated(date, options.dates);
    e.highlight = HighlightTerms(query, e.snippet + " " + e.title);
    if (auto s = item.find("score"); s != item.end() && s->is_number()) e.score = s->get<double>();
    e.relevance_rank = static_cast<int>(r.evidences.size());
    r.evidences.push_back(std::move(e));
  }
  if (auto answers = j.find("answers"); answers != j.end() && answers->is_array() && !answers->empty()) {
    const auto& a = answers->front();
    AnswerBox box;
    if (a.is_string()) box.text = a.get<std::string>();
    else if (a.is_object()) {
      box.text = Str(a, "answer");
      box.url = Str(a, "url");
    }
    box.title = "answer";
    if (!box.text.empty()) r.answer_box = box;
  }
  if (auto boxes = j.find("infoboxes"); !r.answer_box && boxes != j.end() && boxes->is_array() && !boxes->empty()) {
    const auto& b = boxes->front();
    AnswerBox box;
    box.title = Str(b, "infobox");
    box.text = Str(b, "content");
    box.url = Str(b, "id");
    if (box.url.empty())
      if (auto urls = b.find("urls"); urls != b.end() && urls->is_array() && !urls->empty() && urls->front().is_object())
        box.url = Str(urls->front(), "url");
    if (!box.text.empty()) r.answer_box = box;
  }
  if (r.answer_box) {
    r.answer_box->title = ToValidUtf8(r.answer_box->title);
    r.answer_box->text = ToValidUtf8(r.answer_box->text);
  }
  return r;
}

}  // namespace lmlab::search
