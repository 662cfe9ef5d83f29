// Step 3: FreshPrompt over a local dated corpus. Debian changelogs on this
// machine become a SQLite FTS5 index; the recency study (fresh::RunRecencyStudy,
// the same call as `lmlab freshqa recency`) measures whether each evidence
// order puts the newest changelog entry into the k-evidence window next to
// the question; lmlab's reader model, trained on this machine's dated
// sources with some packages held out, answers the held-out packages'
// questions under the reader experiment's conditions (fresh::RunReaderExperiment,
// the same call as `lmlab freshqa reader`).
#include <algorithm>
#include <fmt/format.h>

#include "lmlab/core/format.h"
#include "lmlab/fresh/reader.h"
#include "lmlab/fresh/recency.h"
#include "lmlab/report/html.h"
#include "lmlab/search/local_index.h"
#include "lmlab/report/internal/steps.h"

namespace lmlab::report::internal {
namespace {
namespace fs = std::filesystem;

std::string Clip(std::string s, size_t n) {
  if (s.size() <= n) return s;
  size_t cut = n;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // keep UTF-8 whole
  return s.substr(0, cut) + "...";
}

std::string Pct(int a, int b) { return b ? FormatPercent(double(a) / b, 1) : std::string("n/a"); }

// The settings of the demo's recency study (the CLI equivalent is
// `lmlab freshqa recency --packages N --max-questions M`).
fresh::RecencyStudyOptions DemoRecencyOptions(const StepContext& ctx) {
  fresh::RecencyStudyOptions o;
  o.changelogs = ctx.quick ? 80 : 600;
  o.max_questions = ctx.quick ? 30 : 200;
  o.index = ctx.out_dir / "search" / "changelogs.sqlite";
  return o;
}

}  // namespace

Result<Section> FreshStep(StepContext& ctx) {
  Section s;
  s.title = "FreshPrompt over a local dated corpus";
  s.citation = "Vu et al. 2023, \"FreshLLMs: Refreshing Large Language Models with Search Engine Augmentation\", "
               "arXiv:2310.03214.";

  // ---- Retrieval side: where the newest evidence lands --------------------
  LMLAB_ASSIGN_OR_RETURN(fresh::RecencyStudy study, fresh::RunRecencyStudy(DemoRecencyOptions(ctx), ctx.progress));
  const fresh::RecencyReport& rec = study.report;
  const fresh::RecencyRow* by_date = nullptr;
  const fresh::RecencyRow* by_relevance = nullptr;
  for (const auto& r : rec.rows) {
    if (r.order == fresh::EvidenceOrder::kDate) by_date = &r;
    if (r.order == fresh::EvidenceOrder::kRelevance) by_relevance = &r;
  }
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> cats;
  BarGroup g_ret{"retrieved", {}}, g_win{"in window", {}}, g_adj{"adjacent to question", {}};
  for (const auto& r : rec.rows) {
    std::string name(fresh::EvidenceOrderName(r.order));
    rows.push_back({name, std::to_string(r.questions), Pct(r.retrieved, r.questions), Pct(r.in_window, r.questions),
                    Pct(r.adjacent, r.questions), r.in_window ? FormatFixed(r.mean_distance, 2) : "-"});
    cats.push_back(name);
    g_ret.values.push_back(r.questions ? 100.0 * r.retrieved / r.questions : 0);
    g_win.values.push_back(r.questions ? 100.0 * r.in_window / r.questions : 0);
    g_adj.values.push_back(r.questions ? 100.0 * r.adjacent / r.questions : 0);
  }
  s.table_html = "<h3>Recency benchmark (retrieval side)</h3>\n" +
                 HtmlTable({"order", "questions", "retrieved", "in window", "adjacent", "mean distance"}, rows);
  s.figures.push_back({"Share of questions whose newest changelog entry was retrieved, kept in the window, and "
                       "placed right next to the question, for each evidence order.",
                       BarChartSvg({.title = "Where the newest evidence lands", .x_label = "evidence order",
                                    .y_label = "% of questions"},
                                   cats, {g_ret, g_win, g_adj})});
  if (by_date)
    s.headline.push_back(fmt::format("date order puts the newest entry next to the question for {} of {} questions",
                                     by_date->adjacent, by_date->questions));
  s.headline.push_back(fmt::format("recency index: {} dated entries from {} changelogs ({} unreadable)",
                                   FormatThousands(double(study.documents)), study.changelogs, study.unreadable));

  // ---- Answer side: lmlab's reader on held-out packages -------------------
  const train::ReaderRecipe recipe = ctx.quick ? train::QuickReaderRecipe() : train::DemoReaderRecipe();
  nlohmann::json reader_json;
  // This machine's dated sources, read once for the reader's corpus (when it
  // has to be trained), the index it answers from, and the held-out questions.
  auto sources = fresh::ReadDatedSources({}, ctx.progress);
  std::string reader_error;
  Result<fresh::ReaderBuild> build = std::unexpected(Error{ErrorCode::kInternal, "not built"});
  Result<fs::path> index_path = std::unexpected(Error{ErrorCode::kInternal, "not built"});
  if (!sources) {
    reader_error = sources.error().ToString();
  } else {
    build = fresh::BuildReaderModel(recipe, ctx.progress, &*sources);
    index_path = fresh::EnsureDatedSourceIndex(ctx.progress, &*sources);
    if (!build) reader_error = "the reader model could not be built: " + build.error().ToString();
    else if (!index_path) reader_error = index_path.error().ToString();
  }
  std::optional<fresh::ReaderReport> rr;
  if (reader_error.empty()) {
    runtime::ModelSpec spec{.gguf_path = build->path.string()};
    spec.threads = ModelThreads(ctx);
    auto lm = runtime::OpenModel(spec);
    auto index = search::LocalIndex::Open(*index_path, search::OpenMode::kReadOnly);
    if (!lm) reader_error = lm.error().ToString();
    else if (!index) reader_error = index.error().ToString();
    else {
      std::vector<fresh::ReaderQuestion> questions = fresh::HeldOutQuestions(*sources, recipe);
      fresh::ReaderExperimentOptions eo;
      eo.answer = fresh::ReaderAnswerOptions(recipe);
      eo.today = search::TodayUtc();
      eo.max_questions = ctx.quick ? 8 : 120;
      eo.examples = ctx.quick ? 2 : 4;
      auto r = fresh::RunReaderExperiment(**lm, **index, questions, eo, ctx.progress);
      if (!r) reader_error = r.error().ToString();
      else rr = std::move(*r);
    }
  }
  if (!rr) {
    s.headline.push_back("reader experiment skipped: " + reader_error);
    AddWarning(s, "the reader experiment did not run: " + reader_error);
  } else {
    const fresh::ReaderRow* none = nullptr;
    const fresh::ReaderRow* date5 = nullptr;
    const fresh::ReaderRow* rel5 = nullptr;
    std::vector<std::vector<std::string>> arows;
    std::vector<std::string> acats;
    BarGroup relaxed{"relaxed", {}}, strict{"strict", {}};
    for (const auto& r : rr->rows) {
      if (r.condition.search == fresh::SearchMode::kNoSearch) none = &r;
      if (r.condition.search == fresh::SearchMode::kSearch && r.condition.k == 5) {
        if (r.condition.order == fresh::EvidenceOrder::kDate) date5 = &r;
        if (r.condition.order == fresh::EvidenceOrder::kRelevance) rel5 = &r;
      }
      arows.push_back({r.condition.name, std::to_string(r.questions), Pct(r.relaxed, r.questions),
                       Pct(r.strict, r.questions),
                       r.condition.search == fresh::SearchMode::kNoSearch ? "-" : Pct(r.newest_in_window, r.questions)});
      acats.push_back(r.condition.name);
      relaxed.values.push_back(r.questions ? 100.0 * r.relaxed / r.questions : 0);
      strict.values.push_back(r.questions ? 100.0 * r.strict / r.questions : 0);
    }
    s.table_html += "<h3>The reader experiment: held-out packages</h3>\n<p>" +
                    EscapeHtml(ctx.quick ? "--quick trains a tiny reader for seconds: these numbers check the "
                                           "pipeline, not the model."
                                         : "The demo's reader (" + recipe.corpus_version +
                                               ", a third of the full recipe's training tokens, to keep the demo "
                                               "within 15 minutes), trained on this machine's dated sources; the "
                                               "packages asked about were held out of training. The full reader "
                                               "(ask's offline default) is measured by `lmlab freshqa reader`.") +
                    "</p>\n" + HtmlTable({"condition", "questions", "relaxed", "strict", "newest entry shown"}, arows);
    s.figures.push_back({"Answer accuracy on held-out packages by FreshQA's alias rules, per condition.",
                         BarChartSvg({.title = "The reader: search vs no search, order, k", .x_label = "condition",
                                      .y_label = "% correct"},
                                     acats, {relaxed, strict})});
    if (none && date5) {
      s.comparisons.push_back(
          {"gain of FreshPrompt over no search",
           "GPT-4: +47.0 points (strict), +31.4 (relaxed) on FreshQA",
           fmt::format("{:+.1f} points (strict), {:+.1f} (relaxed) on held-out packages",
                       100.0 * (double(date5->strict) / std::max(1, date5->questions) -
                                double(none->strict) / std::max(1, none->questions)),
                       100.0 * (double(date5->relaxed) / std::max(1, date5->questions) -
                                double(none->relaxed) / std::max(1, none->questions))),
           "a model trained here, on questions whose answer only the evidence holds"});
      s.headline.push_back(fmt::format("reader, date order, k = 5: {} relaxed ({} strict); no search: {}",
                                       Pct(date5->relaxed, date5->questions), Pct(date5->strict, date5->questions),
                                       Pct(none->relaxed, none->questions)));
    }
    if (date5 && rel5)
      s.comparisons.push_back({"evidence order", "newest evidence nearest the question works best",
                               fmt::format("relaxed accuracy {} by date vs {} by relevance",
                                           Pct(date5->relaxed, date5->questions), Pct(rel5->relaxed, rel5->questions)),
                               ""});
    int asked = 0, right = 0;
    for (const auto& r : rr->rows) asked += r.questions, right += r.relaxed;
    if (asked == 0)
      AddWarning(s, "the reader experiment asked nothing: no held-out package has two dated changelog entries here");
    else if (right == 0)
      AddWarning(s, fmt::format("the reader answered none of its {} answers right under any condition{}", asked,
                                ctx.quick ? " (--quick trains it for seconds)"
                                          : " (the demo's reader has a third of the full recipe's training; "
                                            "`lmlab freshqa reader` measures the full one)"));
    // Answers with their sources.
    std::vector<std::vector<std::string>> ex;
    for (const auto& e : rr->examples) {
      std::string src;
      for (const auto& ev : e.evidences)
        src += (src.empty() ? "" : "; ") + (ev.date ? search::FormatIsoDay(*ev.date) : std::string("undated")) + " " +
               ev.title;
      ex.push_back({e.question, Clip(e.answer, 260), e.truth, e.relaxed ? "yes" : "no", Clip(src, 400)});
    }
    if (!ex.empty())
      s.table_html += "<h3>Answers with their sources (date order, k = 5)</h3>\n" +
                      HtmlTable({"question", "answer", "truth (newest entry)", "right", "sources, oldest first"}, ex);
    reader_json = fresh::ToJson(*rr);
    reader_json["model"] = build->path.string();
    reader_json["built"] = build->built;
    if (build->built) {
      reader_json["training_seconds"] = build->training.seconds;
      reader_json["final_val_loss"] = build->training.final_val_loss;
      reader_json["episodes"] = build->corpus.episodes;
    }
  }
  s.measured = fmt::format(
      "Retrieval: {} dated entries from {} Debian changelogs on this machine (SQLite FTS5, BM25); for {} packages the "
      "question \"what is the latest version of P?\" has a known answer, the newest entry, and each evidence order "
      "either keeps it in the k = {} window next to the question or not. Answers: lmlab's reader ({}) answers "
      "questions about packages held out of its training, with no search and with FreshPrompt in the paper's "
      "format, graded by FreshQA's alias rules.",
      FormatThousands(double(study.documents)), study.changelogs, study.questions.size(), rec.k,
      ctx.quick ? "the --quick recipe" : "trained on first use");
  if (by_date && by_date->retrieved == 0)
    AddWarning(s, "the recency benchmark retrieved the newest entry for no question: the index search found nothing "
                  "it should have");
  if (by_date && by_relevance)
    s.comparisons.push_back(
        {"newest evidence next to the question", "sorting by date puts the newest evidence last",
         fmt::format("{} by date vs {} by relevance", Pct(by_date->adjacent, by_date->questions),
                     Pct(by_relevance->adjacent, by_relevance->questions)),
         "retrieval side"});
  s.rerun = {"lmlab freshqa recency --packages 600 --max-questions 200",
             "lmlab freshqa reader                       # the reader experiment on every held-out package",
             "lmlab ask \"What is the latest version of zlib?\"",
             "lmlab ask \"...\" --index deb.sqlite --endpoint http://127.0.0.1:8080 --api-model NAME --k 15"};
  s.data = {{"recency", fresh::ToJson(study)}, {"reader", reader_json}};
  if (!reader_error.empty()) s.data["reader_error"] = reader_error;
  return s;
}

}  // namespace lmlab::report::internal
