// Step 3: FreshPrompt over a local dated corpus. Debian changelogs on this
// machine become a SQLite FTS5 index; the recency benchmark measures whether
// each evidence order puts the newest changelog entry into the k-evidence
// window next to the question; the default model answers a few questions
// through FreshPrompt over the same index.
#include <algorithm>
#include <fmt/format.h>

#include "lmlab/core/format.h"
#include "lmlab/fresh/fresh_prompt.h"
#include "lmlab/fresh/recency.h"
#include "lmlab/report/html.h"
#include "lmlab/search/date.h"
#include "lmlab/search/ingest.h"
#include "lmlab/search/local_index.h"
#include "report/steps.h"

namespace lmlab::report::internal {
namespace {
namespace fs = std::filesystem;

// `n` items spread evenly over `all` (sorted paths: a spread of packages, not
// just those starting with "a").
std::vector<fs::path> Spread(const std::vector<fs::path>& all, size_t n) {
  if (all.size() <= n) return all;
  std::vector<fs::path> out;
  for (size_t i = 0; i < n; ++i) out.push_back(all[i * all.size() / n]);
  return out;
}

std::string Clip(std::string s, size_t n) {
  if (s.size() <= n) return s;
  size_t cut = n;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // keep UTF-8 whole
  return s.substr(0, cut) + "...";
}

}  // namespace

Result<Section> FreshStep(StepContext& ctx) {
  const size_t n_changelogs = ctx.quick ? 80 : 600;
  const size_t n_questions = ctx.quick ? 30 : 200;
  const int n_answers = ctx.quick ? 2 : 4;

  std::vector<fs::path> paths = search::DebianChangelogPaths();
  if (paths.empty())
    return NotFound("no /usr/share/doc/*/changelog.Debian.gz on this machine: the local corpus is built from them");
  paths = Spread(paths, n_changelogs);
  std::vector<search::Document> docs;
  int unreadable = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    lmlab::Report(ctx.progress, {.stage = "reading changelogs", .done = double(i), .total = double(paths.size()),
                                 .unit = "files"});
    auto text = search::ReadGzip(paths[i]);
    if (!text) {
      ++unreadable;
      continue;
    }
    auto parsed = search::ParseDebianChangelog(*text, paths[i].string());
    if (!parsed) {
      ++unreadable;
      continue;
    }
    for (auto& d : *parsed) docs.push_back(std::move(d));
  }
  if (docs.empty()) return NotFound("none of the Debian changelogs could be read");

  fs::path index_path = ctx.out_dir / "search" / "changelogs.sqlite";
  std::error_code ec;
  fs::create_directories(index_path.parent_path(), ec);
  fs::remove(index_path, ec);  // rebuilt from scratch: the step's numbers describe this index only
  LMLAB_ASSIGN_OR_RETURN(auto index, search::LocalIndex::Open(index_path, search::OpenMode::kCreate));
  LMLAB_ASSIGN_OR_RETURN(search::AddStats added, index->Add(docs, ctx.progress));
  LMLAB_ASSIGN_OR_RETURN(search::IndexStats stats, index->Stats());

  std::vector<fresh::RecencyQuestion> questions = fresh::RecencyQuestions(docs);
  if (questions.size() > n_questions) questions.resize(n_questions);
  if (questions.empty()) return NotFound("no package had enough dated changelog entries for a recency question");
  fresh::RecencyOptions ro;
  LMLAB_ASSIGN_OR_RETURN(fresh::RecencyReport rec, fresh::RunRecencyBenchmark(*index, questions, ro, ctx.progress));

  Section s;
  s.title = "FreshPrompt over a local dated corpus";
  s.citation = "Vu et al. 2023, \"FreshLLMs: Refreshing Large Language Models with Search Engine Augmentation\", "
               "arXiv:2310.03214.";
  s.measured = fmt::format(
      "Indexed {} dated entries from {} Debian changelogs on this machine (SQLite FTS5, BM25). For {} packages the "
      "question \"what is the latest version of P?\" has a known answer: the newest entry. For each evidence order "
      "we measured whether that entry was retrieved (top {}), kept in the k = {} window, and placed next to the "
      "question.",
      FormatThousands(double(stats.documents)), paths.size() - unreadable, rec.rows.empty() ? 0 : rec.rows[0].questions,
      rec.num_results, rec.k);
  const fresh::RecencyRow* by_date = nullptr;
  const fresh::RecencyRow* by_relevance = nullptr;
  for (const auto& r : rec.rows) {
    if (r.order == fresh::EvidenceOrder::kDate) by_date = &r;
    if (r.order == fresh::EvidenceOrder::kRelevance) by_relevance = &r;
  }
  auto pct = [](int a, int b) { return b ? FormatPercent(double(a) / b) : std::string("n/a"); };
  if (by_date && by_relevance) {
    s.comparisons.push_back(
        {"evidence order", "newest evidence nearest the question works best (the paper's ablation of orderings)",
         fmt::format("newest entry adjacent to the question: {} by date vs {} by relevance", pct(by_date->adjacent, by_date->questions),
                     pct(by_relevance->adjacent, by_relevance->questions)),
         "retrieval-side measure; answer accuracy needs a capable model"});
  }
  s.comparisons.push_back({"evidence count", "more evidences (15 vs 5) help strong models",
                           fmt::format("k = {} of {} retrieved", rec.k, rec.num_results),
                           "rerun with a capable endpoint and --k 15 to compare"});
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> cats;
  BarGroup g_ret{"retrieved", {}}, g_win{"in window", {}}, g_adj{"adjacent to question", {}};
  for (const auto& r : rec.rows) {
    std::string name(fresh::EvidenceOrderName(r.order));
    rows.push_back({name, std::to_string(r.questions), pct(r.retrieved, r.questions), pct(r.in_window, r.questions),
                    pct(r.adjacent, r.questions), r.in_window ? FormatFixed(r.mean_distance, 2) : "-"});
    cats.push_back(name);
    g_ret.values.push_back(r.questions ? 100.0 * r.retrieved / r.questions : 0);
    g_win.values.push_back(r.questions ? 100.0 * r.in_window / r.questions : 0);
    g_adj.values.push_back(r.questions ? 100.0 * r.adjacent / r.questions : 0);
  }
  s.table_html = "<h3>Recency benchmark</h3>\n" +
                 HtmlTable({"order", "questions", "retrieved", "in window", "adjacent", "mean distance"}, rows);
  s.figures.push_back({"Share of questions whose newest changelog entry was retrieved, kept in the window, and "
                       "placed right next to the question, for each evidence order.",
                       BarChartSvg({.title = "Where the newest evidence lands", .x_label = "evidence order",
                                    .y_label = "% of questions"},
                                   cats, {g_ret, g_win, g_adj})});
  if (by_date)
    s.headline.push_back(fmt::format("date order puts the newest entry next to the question for {} of {} questions",
                                     by_date->adjacent, by_date->questions));
  s.headline.push_back(fmt::format("index: {} documents ({} dated), {} changelogs unreadable",
                                   FormatThousands(double(stats.documents)), FormatThousands(double(stats.dated)),
                                   unreadable));

  // FreshPrompt answers from the demo's model over the same index.
  nlohmann::json answers = nlohmann::json::array();
  auto model_path = RequireModel(ctx);
  int asked = 0, errored = 0, empty = 0;  // for the degenerate-measurement warnings below
  if (!model_path) {
    s.headline.push_back("FreshPrompt answers skipped: " + model_path.error().message);
    AddWarning(s, "no FreshPrompt answer was generated: " + model_path.error().message);
  } else {
    runtime::ModelSpec spec{.gguf_path = model_path->string()};
    // The small default model's training window is short; llama.cpp runs past
    // it so the whole FreshPrompt prompt fits (quality is not the point here).
    spec.n_ctx = 4096;
    spec.threads = ModelThreads(ctx);
    auto lm = runtime::OpenModel(spec);
    if (!lm) {
      s.headline.push_back("FreshPrompt answers skipped: " + lm.error().ToString());
      AddWarning(s, "no FreshPrompt answer was generated: " + lm.error().ToString());
    } else {
      std::vector<std::vector<std::string>> arows;
      for (int i = 0; i < n_answers && i < static_cast<int>(questions.size()); ++i) {
        lmlab::Report(ctx.progress, {.stage = "FreshPrompt answers", .done = double(i), .total = double(n_answers),
                                     .unit = "questions"});
        fresh::AnswerOptions ao{.question = questions[i].question, .today = search::TodayUtc()};
        ao.k = 5;
        ao.num_demonstrations = ctx.quick ? 2 : 5;
        ao.max_tokens = ctx.quick ? 24 : 48;
        auto a = fresh::AnswerWithEvidence(**lm, *index, ao);
        ++asked;
        errored += !a;
        empty += a && a->completion_tokens == 0;
        if (!a) {
          arows.push_back({questions[i].question, "error: " + a.error().ToString(), "-", "-", questions[i].newest_version});
          answers.push_back({{"question", questions[i].question}, {"error", a.error().ToString()}});
          continue;
        }
        bool newest_in_window = false;
        for (const auto& e : a->evidences) newest_in_window |= e.evidence.url == questions[i].newest_url;
        std::string text = a->answer;
        if (a->completion_tokens == 0) text += " [the model generated nothing after the prefilled date sentence]";
        arows.push_back({questions[i].question, Clip(text, 240),
                         fmt::format("{} of {} found in the prompt ({} dropped to fit the context); newest entry {}",
                                     a->evidences.size(), a->evidences_found, a->dropped_for_context,
                                     newest_in_window ? "in the prompt" : "not in the prompt"),
                         fmt::format("{} in, {} out", a->prompt_tokens, a->completion_tokens),
                         questions[i].newest_version});
        nlohmann::json aj = fresh::ToJson(*a, fresh::IncludePrompt::kNo);
        aj["newest_version"] = questions[i].newest_version;
        aj["newest_in_window"] = newest_in_window;
        answers.push_back(aj);
      }
      s.table_html += "<h3>FreshPrompt answers from the demo's model</h3>\n<p>The demo's model is small and trained on "
                      "a tiny corpus: these answers show the pipeline (search, date order, prompt, citations), not "
                      "answer quality.</p>\n" +
                      HtmlTable({"question", "answer", "evidences", "tokens", "truth (newest version)"}, arows);
    }
  }
  if (asked > 0 && errored == asked)
    AddWarning(s, fmt::format("every FreshPrompt answer failed ({} of {}); first error: {}", errored, asked,
                              answers.front().value("error", std::string())));
  else if (asked > 0 && errored + empty == asked)
    AddWarning(s, fmt::format("the model generated nothing for any of the {} questions (no tokens after the "
                              "prefilled date sentence)", asked));
  if (by_date && by_date->retrieved == 0)
    AddWarning(s, "the recency benchmark retrieved the newest entry for no question: the index search found nothing "
                  "it should have");
  s.rerun = {"lmlab index add --debian-changelogs --index deb.sqlite",
             "lmlab ask \"What is the latest version of zlib and when was it released?\" --index deb.sqlite \\\n"
             "    --endpoint http://127.0.0.1:8080 --api-model NAME --chat --k 15",
             "lmlab ask \"...\" --index deb.sqlite --model your-model.gguf --order relevance   # the ordering ablation"};
  s.data = {{"recency", fresh::ToJson(rec)},
            {"index", {{"documents", stats.documents}, {"dated", stats.dated}, {"added", added.added},
                       {"changelogs", paths.size()}, {"unreadable", unreadable}}},
            {"answers", answers}};
  return s;
}

}  // namespace lmlab::report::internal
