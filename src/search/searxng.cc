#include "lmlab/search/searxng.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <nlohmann/json.hpp>
#include <set>

#include "lmlab/core/text.h"

namespace lmlab::search {
namespace {

constexpr size_t kMaxBody = 16 << 20;  // a results page is ~100 KB; refuse runaway responses

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

class SearxngBackend : public SearchBackend {
 public:
  explicit SearxngBackend(SearxngOptions o) : o_(std::move(o)) {
    while (!o_.base_url.empty() && o_.base_url.back() == '/') o_.base_url.pop_back();
    if (o_.base_url.ends_with("/search")) o_.base_url.resize(o_.base_url.size() - 7);
    if (!o_.http) o_.http = MakeCurlHttpClient();
  }
  std::string name() const override { return "searxng"; }

  Result<SearchResults> Search(std::string_view query, const SearchOptions& options) override {
    auto start = std::chrono::steady_clock::now();
    HttpRequest request;
    request.url = o_.base_url + "/search?format=json&q=" + UrlEncode(query);
    if (!o_.language.empty()) request.url += "&language=" + UrlEncode(o_.language);
    if (!o_.categories.empty()) request.url += "&categories=" + UrlEncode(o_.categories);
    if (!o_.time_range.empty()) request.url += "&time_range=" + UrlEncode(o_.time_range);
    request.headers = {{"User-Agent", "lmlab/0.1 (+FreshPrompt)"}};
    request.timeout_seconds = std::max(0.001, options.timeout_seconds);
    request.connect_timeout_seconds = 5;
    request.follow_redirects = true;
    request.max_body_bytes = kMaxBody;
    RetryPolicy retry = o_.retry;
    retry.budget_seconds = request.timeout_seconds;
    Result<HttpResponse> res = SendWithRetry(*o_.http, request, retry);
    if (!res && res.error().code == ErrorCode::kTimeout)
      return Timeout("SearXNG at " + o_.base_url + fmt::format(" did not answer within {:g} s", options.timeout_seconds));
    if (!res) return MakeError(res.error().code, "SearXNG at " + o_.base_url + " is unreachable: " + res.error().message);
    if (res->status == 403)
      return Unavailable("SearXNG at " + o_.base_url +
                         " refused format=json (HTTP 403): enable it in settings.yml under search.formats");
    if (res->status != 200)
      return Unavailable("SearXNG at " + o_.base_url + " answered HTTP " + std::to_string(res->status));
    auto r = ParseSearxngJson(res->body, query, options);
    if (!r) return r;
    r->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
  }

 private:
  SearxngOptions o_;
};

}  // namespace

std::unique_ptr<SearchBackend> OpenSearxng(const SearxngOptions& options) {
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
