#include "lmlab/fresh/reader.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <map>
#include <random>
#include <set>

#include "lmlab/core/file.h"
#include "lmlab/core/format.h"
#include "lmlab/core/table.h"
#include "lmlab/core/text.h"
#include "lmlab/core/csv.h"
#include "lmlab/core/hash.h"
#include "lmlab/search/ingest.h"
#include "lmlab/search/local_index.h"
#include "lmlab/train/model_cache.h"

namespace lmlab::fresh {
namespace {

namespace fs = std::filesystem;
using search::Evidence;

// Packages every Debian machine lmlab runs on has (the base image and what
// scripts/setup.sh installs): always held out, so that `lmlab ask` about them
// measures reading, never memory.
constexpr std::string_view kAlwaysHeldOut[] = {
    "zlib", "bash",  "coreutils", "tar",        "gzip",    "sed",   "grep",    "dpkg",    "apt",
    "findutils", "diffutils", "util-linux", "glibc", "openssl", "curl", "sqlite3", "xz-utils", "bzip2",
    "ca-certificates", "systemd", "perl", "python3-defaults", "gcc-12", "cmake", "git"};

// "zlib 1:1.2.13.dfsg-1 (unstable)" -> "zlib", "1:1.2.13.dfsg-1".
std::string TitlePackage(std::string_view title) { return std::string(title.substr(0, title.find(' '))); }
std::string TitleVersion(std::string_view title) {
  size_t sp = title.find(' ');
  if (sp == std::string_view::npos) return "";
  size_t end = title.find(' ', sp + 1);
  return std::string(title.substr(sp + 1, end == std::string_view::npos ? std::string_view::npos : end - sp - 1));
}

// The name in a changelog trailer " -- Mark Brown <broonie@debian.org>  date".
std::string TrailerName(std::string_view text) {
  size_t at = text.rfind("-- ");
  if (at == std::string_view::npos) return "";
  size_t lt = text.find(" <", at);
  if (lt == std::string_view::npos) return "";
  return CollapseWhitespace(text.substr(at + 3, lt - at - 3));
}

// "Nov 05, 2022", "Nov 5, 2022", "November 05, 2022", "November 5, 2022", "2022-11-05".
std::vector<std::string> DateAliases(search::Timestamp t) {
  static constexpr const char* kMonths[] = {"January", "February", "March",     "April",   "May",      "June",
                                            "July",    "August",   "September", "October", "November", "December"};
  std::chrono::year_month_day ymd{std::chrono::floor<std::chrono::days>(t)};
  const std::string month = kMonths[static_cast<unsigned>(ymd.month()) - 1];
  const unsigned day = static_cast<unsigned>(ymd.day());
  const int year = static_cast<int>(ymd.year());
  return {search::FormatDay(t), fmt::format("{} {}, {}", month.substr(0, 3), day, year),
          fmt::format("{} {:02}, {}", month, day, year), fmt::format("{} {}, {}", month, day, year),
          search::FormatIsoDay(t)};
}

bool IsVersionChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == ':' || c == '~' || c == '+' || c == '-';
}

// `needle` occurs in `text` as a whole: not inside a longer word or version
// ("1.2" is not in "1.2.3" nor in "11.2"; a sentence's full stop may follow).
bool ContainsWhole(std::string_view text, std::string_view needle) {
  if (needle.empty()) return false;
  for (size_t at = text.find(needle); at != std::string_view::npos; at = text.find(needle, at + 1)) {
    bool left = at == 0 || !IsVersionChar(text[at - 1]) || !std::isalnum(static_cast<unsigned char>(needle.front()));
    if (at > 0 && (text[at - 1] == '.' || text[at - 1] == ':' || text[at - 1] == '-' || text[at - 1] == '+' ||
                   text[at - 1] == '~') &&
        at >= 2 && std::isalnum(static_cast<unsigned char>(text[at - 2])))
      left = false;
    size_t end = at + needle.size();
    bool right = end >= text.size() || !std::isalnum(static_cast<unsigned char>(text[end]));
    if (right && end < text.size() && IsVersionChar(text[end]) && end + 1 < text.size() &&
        std::isalnum(static_cast<unsigned char>(text[end + 1])))
      right = false;  // "1.2" followed by ".3"
    if (left && right) return true;
  }
  return false;
}

// The response minus the paper's reasoning prefix (whose date would match).
std::string_view WithoutPrefix(std::string_view response) {
  if (response.starts_with("As of today")) {
    size_t end = response.find("as follows.");
    if (end != std::string_view::npos) return response.substr(end + 11);
  }
  return response;
}

bool Denies(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (std::string_view cue : {" not ", "n't ", " never ", " no longer ", "no such", " false premise"})
    if (lower.find(cue) != std::string::npos) return true;
  return false;
}

// A sentence said twice: the ill-formed, repeating output strict grading rejects.
bool RepeatsASentence(std::string_view text) {
  std::set<std::string> seen;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(". ", start);
    std::string sentence = CollapseWhitespace(text.substr(start, end == std::string_view::npos ? end : end - start));
    while (!sentence.empty() && sentence.back() == '.') sentence.pop_back();
    if (sentence.size() > 8 && !seen.insert(sentence).second) return true;
    if (end == std::string_view::npos) break;
    start = end + 2;
  }
  return false;
}

// Digits replaced at random, everything else kept: "1:1.2.13.dfsg-1" ->
// "4:7.0.58.dfsg-3". The shape of a Debian version stays; its value must be read.
std::string RandomVersion(std::string_view v, std::mt19937_64& rng) {
  std::string out(v);
  for (size_t i = 0; i < out.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(out[i]))) continue;
    bool run_start = i == 0 || !std::isdigit(static_cast<unsigned char>(out[i - 1]));
    bool run_long = i + 1 < out.size() && std::isdigit(static_cast<unsigned char>(out[i + 1]));
    int lo = run_start && run_long ? 1 : 0;  // no leading zero in a multi-digit number
    out[i] = static_cast<char>('0' + lo + static_cast<int>(rng() % static_cast<uint64_t>(10 - lo)));
  }
  return out;
}

// Letters replaced by random lowercase letters, everything else kept: a
// made-up name of the same shape ("zlib" -> "qhtw").
std::string RandomLetters(std::string_view v, std::mt19937_64& rng) {
  std::string out(v);
  for (char& c : out)
    if (std::isalpha(static_cast<unsigned char>(c))) c = static_cast<char>('a' + rng() % 26);
  return out;
}

// "adwaita-icon-theme" -> {"adwaita", "icon", "theme"}: the pieces the
// highlight field lists one by one.
std::vector<std::string_view> SplitNameParts(std::string_view name) {
  std::vector<std::string_view> out;
  for (size_t start = 0; start <= name.size();) {
    size_t end = name.find('-', start);
    if (end == std::string_view::npos) end = name.size();
    if (end > start) out.push_back(name.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// `from` replaced where it stands as a whole word (no letter or digit on
// either side), so that "icon" is renamed in "adwaita-icon-theme" but not in
// "iconv".
void ReplaceWord(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty() || from == to) return;
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  for (size_t at = s.find(from); at != std::string::npos;) {
    const size_t end = at + from.size();
    if ((at == 0 || !alnum(s[at - 1])) && (end >= s.size() || !alnum(s[end]))) {
      s.replace(at, from.size(), to);
      at = s.find(from, at + to.size());
    } else {
      at = s.find(from, at + 1);
    }
  }
}

void ReplaceAll(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty() || from == to) return;
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
}

std::vector<fs::path> Spread(const std::vector<fs::path>& all, size_t n) {
  if (n == 0 || all.size() <= n) return all;
  std::vector<fs::path> out;
  for (size_t i = 0; i < n; ++i) out.push_back(all[i * all.size() / n]);
  return out;
}

Status ReadReleases(const fs::path& dir, const search::Day today, DatedSources& out) {
  if (dir.empty()) return {};
  for (const char* distro : {"debian", "ubuntu"}) {
    fs::path path = dir / (std::string(distro) + ".csv");
    std::error_code ec;
    if (!fs::exists(path, ec)) continue;  // distro-info-data missing: changelogs alone still work
    LMLAB_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
    auto table = ParseCsv(text, {.short_rows = ShortRows::kPad});
    if (!table) return std::unexpected(table.error().WithContext(path.string()));
    const int c_version = table->Column("version"), c_codename = table->Column("codename"),
              c_series = table->Column("series"), c_release = table->Column("release");
    if (c_version < 0 || c_series < 0 || c_release < 0) return ParseError(path.string() + ": not a distro-info table");
    const bool debian = std::string_view(distro) == "debian";
    for (const auto& row : table->rows) {
      auto day = search::ParseDay(row[c_release]);
      if (row[c_version].empty() || !day || *day > today) continue;
      Release r;
      r.distribution = debian ? "Debian" : "Ubuntu";
      r.name = debian ? fmt::format("Debian {} ({})", row[c_version], row[c_series])
                      : fmt::format("Ubuntu {} ({})", row[c_version], c_codename >= 0 ? row[c_codename] : row[c_series]);
      r.date = search::Timestamp(*day);
      search::Document d;
      d.url = std::string(debian ? "https://wiki.debian.org/DebianReleases#" : "https://wiki.ubuntu.com/Releases#") +
              row[c_series];
      d.source = "distro-info";
      d.title = r.name;
      d.date = r.date;
      d.text = r.name + " was released on " + search::FormatDay(r.date) + ".";
      out.documents.push_back(std::move(d));
      out.releases.push_back(std::move(r));
    }
  }
  std::stable_sort(out.releases.begin(), out.releases.end(),
                   [](const Release& a, const Release& b) { return a.date < b.date; });
  return {};
}

// The newest evidence about `package` in `window` (by date; the later one
// on a tie), or -1.
int NewestAbout(std::span<const Evidence> window, std::string_view package) {
  int best = -1;
  for (int i = 0; i < static_cast<int>(window.size()); ++i) {
    if (!window[i].date || TitlePackage(window[i].title) != package) continue;
    if (best < 0 || *window[i].date >= *window[best].date) best = i;
  }
  return best;
}

std::string ReaderAnswerText(const ReaderQuestion& q, const Evidence* newest, std::string_view premise,
                             train::ReaderAnswerSentence sentence) {
  // kValueOnly leaves the package's name out: the answer copies only the
  // value asked for, and no made-up name has to be copied before it.
  const bool named = sentence == train::ReaderAnswerSentence::kNamed;
  const std::string of = named ? " of " + q.package : "";
  if (!newest) return named ? "The search results say nothing about " + q.package + "." : "The search results say nothing about it.";
  const std::string version = TitleVersion(newest->title);
  switch (q.kind) {
    case ReaderQuestionKind::kVersion: return "The latest version" + of + " is " + version + ".";
    case ReaderQuestionKind::kUploadDate:
      return "The last upload" + of + " was on " + search::FormatDay(*newest->date) + ".";
    case ReaderQuestionKind::kUploader: {
      std::string name = TrailerName(newest->snippet);
      if (name.empty()) return "The search results do not say who made the last upload" + of + ".";
      return "The last upload" + of + " was made by " + name + ".";
    }
    case ReaderQuestionKind::kFalsePremise:
      return std::string(premise) + " is not the latest version" + of + ". The latest version" + of + " is " + version + ".";
  }
  return "";
}

// k for one episode, drawn from the recipe's mix.
int DrawK(const train::ReaderRecipe& recipe, std::mt19937_64& rng) {
  int total = 0;
  for (int p : recipe.k_percent) total += std::max(0, p);
  if (total <= 0) return 1;
  int roll = static_cast<int>(rng() % static_cast<uint64_t>(total));
  for (int k = 0; k < static_cast<int>(recipe.k_percent.size()); ++k) {
    roll -= std::max(0, recipe.k_percent[k]);
    if (roll < 0) return k;
  }
  return train::MaxK(recipe);
}

PromptFormat PaperFormat() { return PromptFormat{}; }

}  // namespace

std::string_view ReaderQuestionKindName(ReaderQuestionKind kind) {
  switch (kind) {
    case ReaderQuestionKind::kVersion: return "latest version";
    case ReaderQuestionKind::kUploadDate: return "last upload date";
    case ReaderQuestionKind::kUploader: return "last uploader";
    case ReaderQuestionKind::kFalsePremise: return "false premise";
  }
  return "?";
}

Result<DatedSources> ReadDatedSources(const DatedSourceOptions& options, const ProgressCallback& progress) {
  std::vector<fs::path> paths = search::DebianChangelogPaths(options.doc_root);
  if (paths.empty())
    return NotFound("no changelog.Debian.gz under " + options.doc_root.string() +
                    ": the dated sources are built from Debian changelogs");
  paths = Spread(paths, options.max_changelogs > 0 ? static_cast<size_t>(options.max_changelogs) : 0);
  DatedSources out;
  std::set<std::string> urls;
  std::map<std::string, PackageHistory> histories;
  for (size_t i = 0; i < paths.size(); ++i) {
    Report(progress, {"reading changelogs", double(i), double(paths.size()), "files", ""});
    auto text = search::ReadGzip(paths[i]);
    auto parsed = text ? search::ParseDebianChangelog(*text, paths[i].string())
                       : Result<std::vector<search::Document>>(std::unexpected(text.error()));
    if (!parsed) {
      ++out.unreadable;
      continue;
    }
    ++out.changelogs;
    for (auto& d : *parsed) {
      if (!d.date || !urls.insert(d.url).second) continue;  // binary packages of one source share a changelog
      PackageHistory& h = histories[TitlePackage(d.title)];
      h.package = TitlePackage(d.title);
      h.entries.push_back({TitleVersion(d.title), *d.date, TrailerName(d.text), d.url});
      out.documents.push_back(std::move(d));
    }
  }
  Report(progress, {"reading changelogs", double(paths.size()), double(paths.size()), "files", ""});
  for (auto& [name, h] : histories) {
    std::stable_sort(h.entries.begin(), h.entries.end(),
                     [](const ChangelogEntry& a, const ChangelogEntry& b) { return a.date > b.date; });
    out.packages.push_back(std::move(h));
  }
  if (out.documents.empty()) return NotFound("none of the Debian changelogs under " + options.doc_root.string() + " could be read");
  LMLAB_RETURN_IF_ERROR(ReadReleases(options.distro_info, search::TodayUtc(), out));
  return out;
}

Result<fs::path> EnsureDatedSourceIndex(const ProgressCallback& progress, const DatedSources* read) {
  // The fingerprint: every changelog's path, size and mtime, and the distro tables'.
  std::vector<fs::path> inputs = search::DebianChangelogPaths();
  for (const char* f : {"/usr/share/distro-info/debian.csv", "/usr/share/distro-info/ubuntu.csv"}) inputs.emplace_back(f);
  uint64_t h = Fnv1a("dated-sources-v1");
  for (const auto& p : inputs) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) continue;
    h = Fnv1a(fmt::format("{}|{}|{}\n", p.string(), st.st_size, st.st_mtime), h);
  }
  LMLAB_ASSIGN_OR_RETURN(fs::path cache, CacheDir());
  const fs::path dir = cache / "fresh";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return IoError("cannot create " + dir.string() + ": " + ec.message());
  const fs::path path = dir / fmt::format("dated-sources-{:016x}.sqlite", h);
  if (fs::exists(path, ec)) return path;
  std::optional<DatedSources> own;
  if (!read) {
    LMLAB_ASSIGN_OR_RETURN(own, ReadDatedSources({}, progress));
    read = &*own;
  }
  const DatedSources& src = *read;
  // Built under a temporary name and renamed: a reader never sees half an index.
  const fs::path tmp = dir / fmt::format("dated-sources-{:016x}.{}.tmp", h, ::getpid());
  {
    LMLAB_ASSIGN_OR_RETURN(auto index, search::LocalIndex::Open(tmp, search::OpenMode::kCreate));
    LMLAB_RETURN_IF_ERROR(index->Add(src.documents, progress));
  }
  for (const char* suffix : {"-wal", "-shm"}) fs::remove(tmp.string() + suffix, ec);
  fs::rename(tmp, path, ec);
  if (ec) return IoError("cannot move the index into " + path.string() + ": " + ec.message());
  return path;
}

bool IsHeldOut(std::string_view package, int percent) {
  for (std::string_view p : kAlwaysHeldOut)
    if (p == package) return true;
  return static_cast<int>(Fnv1a(package) % 100) < percent;
}

std::vector<ReaderQuestion> ReaderQuestions(const PackageHistory& h) {
  std::vector<ReaderQuestion> out;
  if (h.entries.empty()) return out;
  const ChangelogEntry& newest = h.entries.front();
  auto base = [&](ReaderQuestionKind kind, std::string question) {
    ReaderQuestion q;
    q.kind = kind;
    q.package = h.package;
    q.question = std::move(question);
    q.newest_url = newest.url;
    return q;
  };
  std::vector<std::string> older_versions;
  for (size_t i = 1; i < h.entries.size(); ++i)
    if (h.entries[i].version != newest.version) older_versions.push_back(h.entries[i].version);

  ReaderQuestion v = base(ReaderQuestionKind::kVersion, "What is the latest version of " + h.package + "?");
  v.answers = {newest.version};
  v.outdated = older_versions;
  out.push_back(v);

  ReaderQuestion d = base(ReaderQuestionKind::kUploadDate, "When was the last upload of " + h.package + "?");
  d.answers = DateAliases(newest.date);
  for (size_t i = 1; i < h.entries.size(); ++i)
    if (search::FormatDay(h.entries[i].date) != search::FormatDay(newest.date))
      d.outdated.push_back(search::FormatDay(h.entries[i].date));
  out.push_back(d);

  if (!newest.uploader.empty()) {
    ReaderQuestion u = base(ReaderQuestionKind::kUploader, "Who made the last upload of " + h.package + "?");
    u.answers = {newest.uploader};
    for (size_t i = 1; i < h.entries.size(); ++i)
      if (!h.entries[i].uploader.empty() && h.entries[i].uploader != newest.uploader &&
          std::find(u.outdated.begin(), u.outdated.end(), h.entries[i].uploader) == u.outdated.end())
        u.outdated.push_back(h.entries[i].uploader);
    out.push_back(u);
  }

  if (!older_versions.empty()) {
    const std::string& premise = older_versions.front();  // the previous version: the belief most likely held
    ReaderQuestion f =
        base(ReaderQuestionKind::kFalsePremise, "Why is " + premise + " still the latest version of " + h.package + "?");
    f.answers = {newest.version};
    f.premise = premise;
    for (const auto& o : older_versions)
      if (o != premise) f.outdated.push_back(o);
    out.push_back(f);
  }
  return out;
}

std::vector<ReaderQuestion> HeldOutQuestions(const DatedSources& sources, const train::ReaderRecipe& recipe,
                                             int min_entries) {
  std::vector<ReaderQuestion> out;
  for (const auto& h : sources.packages) {
    if (static_cast<int>(h.entries.size()) < min_entries || !IsHeldOut(h.package, recipe.held_out_percent)) continue;
    // Not "who made the last upload": the evidence rarely shows the trailer
    // that names the uploader (see BuildReaderCorpus).
    for (ReaderQuestion& q : ReaderQuestions(h))
      if (q.kind != ReaderQuestionKind::kUploader) out.push_back(std::move(q));
  }
  return out;
}

Result<std::vector<std::string>> BuildReaderCorpus(const train::ReaderRecipe& recipe, const DatedSources& sources,
                                                   const ProgressCallback& progress, ReaderCorpusStats* stats) {
  ReaderCorpusStats st;
  // Training documents only: held-out packages' entries are not in the index
  // the training episodes are retrieved from.
  std::vector<search::Document> docs;
  for (const auto& d : sources.documents)
    if (d.source == "distro-info" || !IsHeldOut(TitlePackage(d.title), recipe.held_out_percent)) docs.push_back(d);
  char tmpl[] = "/tmp/lmlab-reader-XXXXXX";
  if (!::mkdtemp(tmpl)) return IoError("cannot create a temporary directory for the training index");
  const fs::path tmp_dir = tmpl;
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{tmp_dir};
  LMLAB_ASSIGN_OR_RETURN(auto index, search::LocalIndex::Open(tmp_dir / "train.sqlite", search::OpenMode::kCreate));
  LMLAB_RETURN_IF_ERROR(index->Add(docs, progress));

  AnswerOptions retrieval = ReaderAnswerOptions(recipe);
  std::vector<std::string> corpus;
  const uint64_t seed = recipe.train.seed;
  const search::Day latest = search::TodayUtc();
  int done = 0;
  for (const auto& h : sources.packages) {
    ++done;
    if (IsHeldOut(h.package, recipe.held_out_percent)) {
      ++st.held_out_packages;
      continue;
    }
    ++st.training_packages;
    Report(progress, {"building reader episodes", double(done), double(sources.packages.size()), "packages", ""});
    for (const ReaderQuestion& q : ReaderQuestions(h)) {
      search::SearchOptions so;
      so.max_results = retrieval.num_results > 0 ? retrieval.num_results : 15;
      so.max_recent = retrieval.num_recent;
      LMLAB_ASSIGN_OR_RETURN(search::SearchResults found, index->Search(q.question, so));
      std::vector<Evidence> merged = MergeResultTypes(found);
      for (Evidence& e : merged) e = ClipSnippet(std::move(e), recipe.max_snippet_chars);
      for (int ep = 0; ep < recipe.episodes_per_question; ++ep) {
        std::mt19937_64 rng(Fnv1a(fmt::format("{}|{}|{}", q.question, ep, seed)));
        // k from the recipe's mix (weighted to small k: more episodes per
        // minute of training; see train/reader_model.cc).
        const int k = DrawK(recipe, rng);
        // Order: mostly the paper's date order (the newest next to the
        // question), some relevance and random order so that the newest
        // evidence must also be found by its date.
        const int o = static_cast<int>(rng() % 100);
        const EvidenceOrder order = o < recipe.date_order_percent ? EvidenceOrder::kDate
                                    : o < recipe.date_order_percent + (100 - recipe.date_order_percent) / 2
                                        ? EvidenceOrder::kRelevance
                                        : EvidenceOrder::kRandom;
        std::vector<Evidence> window = k == 0 ? std::vector<Evidence>{} : OrderEvidence(merged, order, k, rng());
        // Fresh versions for every package in the episode, the asked one's
        // whole history included (its premise may not be in the window).
        std::map<std::string, std::string> fake;
        for (const auto& e : h.entries) fake.emplace(e.version, RandomVersion(e.version, rng));
        for (Evidence& e : window) {
          std::string v = TitleVersion(e.title);
          if (v.empty() || e.source == "distro-info") continue;
          auto [it, fresh] = fake.emplace(v, RandomVersion(v, rng));
          ReplaceAll(e.title, v, it->second);
          ReplaceAll(e.snippet, v, it->second);
          ReplaceAll(e.highlight, v, it->second);
        }
        const int newest = NewestAbout(window, q.package);
        // Who made an upload is in the changelog's trailer, which clipped
        // snippets rarely show: train on it only where the evidence shows it.
        if (q.kind == ReaderQuestionKind::kUploader && (newest < 0 || TrailerName(window[newest].snippet).empty()))
          continue;
        std::string premise;
        if (q.kind == ReaderQuestionKind::kFalsePremise) {
          premise = fake[q.premise];
          // The evidence must contradict the premise: a newer version is shown.
          if (newest < 0 || TitleVersion(window[newest].title) == premise) continue;
        }
        // Names and days are fresh in every episode too: a reader that could
        // recall a training package's name or last upload day from the
        // question would never learn to copy them, and held-out packages
        // have names it never saw (the 600- and 3,000-step readers of
        // reader-v1/v2 answered "the latest version of z3" about zlib).
        ReaderQuestion asked = q;
        if (recipe.randomise_names) {
          std::map<std::string, std::string> names;  // name part -> random part of the same shape
          auto add = [&](std::string_view package) {
            for (std::string_view part : SplitNameParts(package)) names.emplace(part, RandomVersion(RandomLetters(part, rng), rng));
          };
          add(q.package);
          for (const Evidence& e : window)
            if (e.source != "distro-info") add(TitlePackage(e.title));
          auto rename = [&](std::string& text) {
            for (const auto& [from, to] : names) ReplaceWord(text, from, to);
          };
          for (Evidence& e : window) {
            if (e.source == "distro-info") continue;
            rename(e.title);
            rename(e.snippet);
            rename(e.highlight);
          }
          rename(asked.package);
          rename(asked.question);
          const auto shift = std::chrono::days(static_cast<int>(rng() % 3001) - 1500);
          for (Evidence& e : window)
            if (e.date && e.source != "distro-info") *e.date += shift;
        }
        Block b;
        b.question = asked.kind == ReaderQuestionKind::kFalsePremise
                         ? "Why is " + premise + " still the latest version of " + asked.package + "?"
                         : asked.question;
        b.answer = ReaderAnswerText(asked, newest >= 0 ? &window[newest] : nullptr, premise, recipe.answer_sentence);
        b.evidences = std::move(window);
        // Today: some days after the newest evidence shown, so the prefix's date varies.
        search::Day today = latest;
        std::optional<search::Timestamp> last;
        for (const Evidence& e : b.evidences)
          if (e.date && (!last || *e.date > *last)) last = e.date;
        if (last) today = std::chrono::floor<std::chrono::days>(*last) + std::chrono::days(1 + static_cast<int>(rng() % 1500));
        std::string episode = RenderPaperBlock(b, today, PaperFormat(), false);
        st.bytes += static_cast<int64_t>(episode.size());
        corpus.push_back(std::move(episode));
        ++st.episodes;
      }
    }
  }
  // Releases: "What is the latest release of Debian?" as of a day drawn at
  // random; the answer changes with the day, so it must be read.
  for (const char* distro : {"Debian", "Ubuntu"}) {
    std::vector<const Release*> rs;
    for (const auto& r : sources.releases)
      if (r.distribution == distro) rs.push_back(&r);
    if (rs.size() < 2) continue;
    const int n = 2 * recipe.episodes_per_question * static_cast<int>(rs.size());
    for (int ep = 0; ep < n; ++ep) {
      std::mt19937_64 rng(Fnv1a(fmt::format("{}|{}|{}", distro, ep, seed)));
      const size_t upto = 1 + rng() % rs.size();  // releases out by the episode's day
      std::vector<Evidence> all;
      for (size_t i = 0; i < upto; ++i) {
        Evidence e;
        e.source = "distro-info";
        e.title = rs[i]->name;
        e.date = rs[i]->date;
        e.snippet = rs[i]->name + " was released on " + search::FormatDay(rs[i]->date) + ".";
        e.highlight = distro;
        e.relevance_rank = static_cast<int>(rng() % 100);
        all.push_back(std::move(e));
      }
      const int k = std::max(1, DrawK(recipe, rng));
      const EvidenceOrder order = rng() % 4 == 0 ? EvidenceOrder::kRandom : EvidenceOrder::kDate;
      Block b;
      b.question = std::string("What is the latest release of ") + distro + "?";
      // The window is the last k by date (as a search of every release would
      // give), then ordered; the newest among them is the answer.
      std::vector<Evidence> window = OrderEvidence(all, EvidenceOrder::kDate, k);
      b.answer = recipe.answer_sentence == train::ReaderAnswerSentence::kNamed
                     ? std::string("The latest release of ") + distro + " is " + window.back().title + "."
                     : "The latest release is " + window.back().title + ".";
      search::Day today = std::chrono::floor<std::chrono::days>(*window.back().date) +
                          std::chrono::days(1 + static_cast<int>(rng() % 1500));
      b.evidences = OrderEvidence(window, order, k, rng());
      std::string episode = RenderPaperBlock(b, today, PaperFormat(), false);
      st.bytes += static_cast<int64_t>(episode.size());
      corpus.push_back(std::move(episode));
      ++st.release_episodes;
    }
  }
  if (corpus.empty()) return InvalidArgument("no training episodes: every package with a changelog is held out");
  if (stats) *stats = st;
  return corpus;
}

AnswerOptions ReaderAnswerOptions(const train::ReaderRecipe& recipe) {
  AnswerOptions o;
  o.format = PaperFormat();
  o.format.prefix = AnswerPrefix::kPrefilled;
  // The reader learned the format in training; the paper's five
  // demonstrations (which teach it in context) would fill its whole window.
  o.num_demonstrations = 0;
  o.max_snippet_chars = recipe.max_snippet_chars;
  o.num_results = 15;
  o.num_recent = 3;
  o.max_tokens = 48;
  return o;
}

Result<ReaderBuild> BuildReaderModel(const train::ReaderRecipe& recipe, const ProgressCallback& progress,
                                     const DatedSources* read) {
  ReaderBuild b;
  if (const char* p = std::getenv("LMLAB_READER_MODEL"); p && *p) {
    std::error_code ec;
    if (!fs::exists(p, ec))
      return NotFound(fmt::format("$LMLAB_READER_MODEL is {}, which does not exist; unset it to use the built-in reader", p));
    b.path = p;
    return b;
  }
  train::CachedModelRequest request{.name = "reader", .recipe_hash = train::ReaderRecipeHash(recipe),
                                    .train = recipe.train,
                                    .corpus = [&]() -> Result<std::vector<std::string>> {
                                      if (read) return BuildReaderCorpus(recipe, *read, progress, &b.corpus);
                                      LMLAB_ASSIGN_OR_RETURN(DatedSources src, ReadDatedSources({}, progress));
                                      return BuildReaderCorpus(recipe, src, progress, &b.corpus);
                                    }};
  LMLAB_ASSIGN_OR_RETURN(train::CachedModel m, train::BuildCachedModel(request, train::Rebuild::kIfMissing, progress));
  b.path = m.path;
  b.built = m.built;
  b.training = std::move(m.training);
  return b;
}

Result<fs::path> EnsureReaderModel(const ProgressCallback& progress) {
  LMLAB_ASSIGN_OR_RETURN(ReaderBuild b, BuildReaderModel(train::ReaderModelRecipe(), progress));
  return b.path;
}

ReaderGrade GradeReaderAnswer(const ReaderQuestion& q, std::string_view response) {
  std::string_view body = WithoutPrefix(response);
  ReaderGrade g;
  bool found = false;
  for (const auto& a : q.answers) found = found || ContainsWhole(body, a);
  if (q.kind == ReaderQuestionKind::kFalsePremise) found = found && Denies(body);
  g.relaxed = found;
  if (!found) return g;
  bool outdated = false;
  for (const auto& o : q.outdated) outdated = outdated || ContainsWhole(body, o);
  g.strict = !outdated && !RepeatsASentence(body);
  return g;
}

std::vector<ReaderCondition> DefaultReaderConditions() {
  return {{"no search", SearchMode::kNoSearch, EvidenceOrder::kDate, 5},
          {"date order, k=5", SearchMode::kSearch, EvidenceOrder::kDate, 5},
          {"relevance order, k=5", SearchMode::kSearch, EvidenceOrder::kRelevance, 5},
          {"random order, k=5", SearchMode::kSearch, EvidenceOrder::kRandom, 5},
          {"date order, k=1", SearchMode::kSearch, EvidenceOrder::kDate, 1},
          {"date order, k=10", SearchMode::kSearch, EvidenceOrder::kDate, 10}};
}

Result<ReaderReport> RunReaderExperiment(runtime::LanguageModel& model, search::SearchBackend& backend,
                                         std::span<const ReaderQuestion> questions,
                                         const ReaderExperimentOptions& options, const ProgressCallback& progress) {
  if (options.conditions.empty()) return InvalidArgument("no conditions to run");
  if (options.today == search::Day{}) return InvalidArgument("today's date is required");
  size_t n = questions.size();
  if (options.max_questions > 0) n = std::min(n, static_cast<size_t>(options.max_questions));
  if (n == 0) return InvalidArgument("no held-out questions (no held-out package has two dated changelog entries)");
  const auto start = std::chrono::steady_clock::now();
  ReaderReport report;
  report.questions = static_cast<int>(n);
  std::vector<std::map<std::string, std::pair<int, int>>> kinds(options.conditions.size());
  for (const auto& c : options.conditions) report.rows.push_back({.condition = c});
  IgnoranceGroup without{"no relevant evidence"}, with{"relevant evidence"};
  std::vector<ReaderExample> wrong_examples;
  double sum_without = 0, sum_with = 0;
  const size_t total = n * options.conditions.size();
  size_t step = 0;
  for (size_t qi = 0; qi < n; ++qi) {
    const ReaderQuestion& q = questions[qi];
    for (size_t ci = 0; ci < options.conditions.size(); ++ci) {
      const ReaderCondition& c = options.conditions[ci];
      Report(progress, {"reader experiment", double(step++), double(total), "answers", c.name});
      AnswerOptions a = options.answer;
      a.question = q.question;
      a.today = options.today;
      a.search = c.search;
      a.order = c.order;
      a.k = c.k;
      a.seed = Fnv1a(q.question);
      LMLAB_ASSIGN_OR_RETURN(GroundedAnswer g, AnswerWithEvidence(model, backend, a));
      ReaderGrade grade = GradeReaderAnswer(q, g.answer);
      ReaderRow& row = report.rows[ci];
      ++row.questions;
      row.relaxed += grade.relaxed;
      row.strict += grade.strict;
      bool newest = false, relevant = false;
      for (const auto& pe : g.evidences) {
        newest = newest || pe.evidence.url == q.newest_url;
        relevant = relevant || TitlePackage(pe.evidence.title) == q.package;
      }
      row.newest_in_window += newest;
      auto& kc = kinds[ci][std::string(ReaderQuestionKindName(q.kind))];
      kc.first += grade.relaxed;
      ++kc.second;
      if (options.ignorance) {
        auto s = options.ignorance(model, g.prompt, g.generated);
        if (s) {
          IgnoranceGroup& grp = relevant ? with : without;
          ++grp.answers;
          grp.flagged += s->flagged;
          (relevant ? sum_with : sum_without) += s->ignorance;
        }
      }
      // Examples (date order, k = 5, latest-version questions): right answers
      // first, so that a report shows what the reader gets right with its
      // sources; wrong ones fill up when there are too few right ones.
      std::vector<ReaderExample>& pool = grade.relaxed ? report.examples : wrong_examples;
      if (c.search == SearchMode::kSearch && c.order == EvidenceOrder::kDate && c.k == 5 &&
          static_cast<int>(pool.size()) < options.examples && q.kind == ReaderQuestionKind::kVersion) {
        std::vector<Evidence> ev;
        for (const auto& pe : g.evidences) ev.push_back(pe.evidence);
        pool.push_back({q.question, q.answers.front(), g.answer, grade.relaxed, std::move(ev)});
      }
    }
  }
  for (auto& e : wrong_examples)
    if (static_cast<int>(report.examples.size()) < options.examples) report.examples.push_back(std::move(e));
  for (size_t ci = 0; ci < report.rows.size(); ++ci)
    for (const auto& [kind, counts] : kinds[ci]) report.rows[ci].by_kind.push_back({kind, counts});
  if (options.ignorance) {
    without.mean_ignorance = without.answers ? sum_without / without.answers : 0;
    with.mean_ignorance = with.answers ? sum_with / with.answers : 0;
    report.ignorance = {without, with};
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

std::string RenderReaderReport(const ReaderReport& r) {
  std::vector<std::string> kinds;
  if (!r.rows.empty())
    for (const auto& [kind, counts] : r.rows.front().by_kind) kinds.push_back(kind);
  std::vector<std::string> header = {"condition", "n", "relaxed", "strict", "newest shown"};
  for (const auto& k : kinds) header.push_back(k);
  Table t(header, {Align::kLeft});
  auto pct = [](int a, int b) { return b ? FormatPercent(double(a) / b, 1) : std::string("-"); };
  for (const auto& row : r.rows) {
    std::vector<std::string> cells = {row.condition.name, std::to_string(row.questions), pct(row.relaxed, row.questions),
                                      pct(row.strict, row.questions),
                                      row.condition.search == SearchMode::kNoSearch ? "-" : pct(row.newest_in_window, row.questions)};
    for (const auto& [kind, counts] : row.by_kind) cells.push_back(pct(counts.first, counts.second));
    t.AddRow(cells);
  }
  std::string out = "Held-out packages: " + std::to_string(r.questions) +
                    " questions; accuracy by FreshQA's alias rules (relaxed, strict); the kind columns are relaxed.\n" +
                    t.Render();
  if (!r.ignorance.empty()) {
    Table ig({"answers given with", "answers", "mean ignorance", "flagged"}, {Align::kLeft});
    for (const auto& g : r.ignorance)
      ig.AddRow({g.group, std::to_string(g.answers), FormatFixed(g.mean_ignorance, 3), pct(g.flagged, g.answers)});
    out += "\nIgnorance (distance of the predictions to the model's optimal constant solution):\n" + ig.Render();
  }
  return out;
}

nlohmann::json ToJson(const ReaderReport& r) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& row : r.rows) {
    nlohmann::json kinds = nlohmann::json::object();
    for (const auto& [kind, counts] : row.by_kind) kinds[kind] = {{"relaxed", counts.first}, {"n", counts.second}};
    rows.push_back({{"condition", row.condition.name},
                    {"search", row.condition.search == SearchMode::kSearch},
                    {"order", EvidenceOrderName(row.condition.order)},
                    {"k", row.condition.k},
                    {"questions", row.questions},
                    {"relaxed", row.relaxed},
                    {"strict", row.strict},
                    {"relaxed_accuracy", row.questions ? double(row.relaxed) / row.questions : 0.0},
                    {"strict_accuracy", row.questions ? double(row.strict) / row.questions : 0.0},
                    {"newest_in_window", row.newest_in_window},
                    {"by_kind", kinds}});
  }
  nlohmann::json ig = nlohmann::json::array();
  for (const auto& g : r.ignorance)
    ig.push_back({{"group", g.group}, {"answers", g.answers}, {"mean_ignorance", g.mean_ignorance}, {"flagged", g.flagged}});
  nlohmann::json ex = nlohmann::json::array();
  for (const auto& e : r.examples) {
    nlohmann::json ev = nlohmann::json::array();
    for (const auto& x : e.evidences) ev.push_back(ToJson(x));
    ex.push_back({{"question", e.question}, {"truth", e.truth}, {"answer", e.answer}, {"relaxed", e.relaxed}, {"evidences", ev}});
  }
  return {{"questions", r.questions}, {"seconds", r.seconds}, {"rows", rows}, {"ignorance", ig}, {"examples", ex}};
}

}  // namespace lmlab::fresh
