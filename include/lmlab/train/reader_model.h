// The reader recipe: a small llama-architecture model that lmlab trains to
// answer questions from dated evidence in FreshPrompt's paper format (Vu et
// al. 2023). Its corpus (fresh/reader.h) is built from dated sources on the
// machine: Debian changelogs (latest version, last upload date, who made it,
// and questions whose premise the evidence contradicts) and distro-info
// releases. Versions are randomised in every training episode, so only
// reading the evidence pays; evidence order and k vary; a set of packages is
// held out for the experiment (`lmlab freshqa reader`).
//
// This header is the recipe only (shapes, tokenizer, schedule, corpus size);
// fresh::EnsureReaderModel builds the corpus and the model on first use.
#pragma once

#include <string>
#include <vector>

#include "lmlab/train/trainer.h"

namespace lmlab::train {

// The end of FreshPrompt's reasoning prefix ("As of today <day>, the most
// up-to-date and relevant information regarding this query is as follows."):
// the reader's loss is taken on what follows it, the answer. The train
// module cannot see fresh's prompt code; a fresh test checks they agree.
inline constexpr const char* kReaderAnswerMarker = "regarding this query is as follows.";

// What a training answer says beside the value asked for.
enum class ReaderAnswerSentence {
  kNamed,      // "The latest version of <package> is <version>." (the package's name copied too)
  kValueOnly,  // "The latest version is <version>.": only the value asked for is copied
};

struct ReaderRecipe {
  std::string corpus_version;     // bumped whenever the corpus builder changes
  int episodes_per_question = 0;  // training episodes drawn per training question
  int held_out_percent = 0;       // packages held out by name hash (plus a fixed list)
  // Share of the episodes (percent, summing to 100) with k = 0, 1, 2, ...
  // evidences; the last entry is the largest k (the paper's k = 5).
  std::vector<int> k_percent;
  int date_order_percent = 0;     // episodes in date order; the rest relevance and random, half each
  ReaderAnswerSentence answer_sentence = ReaderAnswerSentence::kNamed;
  bool randomise_names = false;   // package names and days made up per episode (versions always are)
  int max_snippet_chars = 0;      // snippets clipped at a word boundary (prompt and training alike)
  TrainOptions train;             // tokenizer (digits split), shapes, schedule, seed
};

// The largest k the recipe trains on (k_percent's last index).
int MaxK(const ReaderRecipe& recipe);

// The recipe this build of lmlab uses.
ReaderRecipe ReaderModelRecipe();
// The demo's reader: ReaderModelRecipe's corpus rules and shape at about a
// third of its tokens, so that `lmlab demo` stays within its 15 minutes on 2
// cores (the full recipe alone takes 9-12 of them, docs/freshqa.md "Cost").
// At this budget it is not expected to answer: the demo says so and names
// `lmlab freshqa reader` for the full one.
ReaderRecipe DemoReaderRecipe();
// A much smaller, shorter run for `lmlab demo --quick` (CI): it checks the
// pipeline end to end; its answers are not expected to be right.
ReaderRecipe QuickReaderRecipe();
// 16 hex digits over everything in the recipe.
std::string ReaderRecipeHash(const ReaderRecipe& recipe);

}  // namespace lmlab::train
