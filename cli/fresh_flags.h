// The flags `lmlab ask`, `lmlab serve` and `lmlab freshqa run` share: the
// search backend (--index, --searxng, --no-search), FreshPrompt's protocol
// and its options, and the model, with lmlab's trained reader as the
// default when none is named.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "cli/common.h"
#include "cli/model_flags.h"
#include "lmlab/fresh/backend.h"
#include "lmlab/fresh/fresh_prompt.h"

namespace lmlab::cli {

struct SearchFlags {
  std::string index;
  std::string searxng;
  bool no_search = false;
};

// Adds --index, --searxng and --no-search in a "Search" group.
void AddSearchFlags(CLI::App* app, SearchFlags& flags, const std::string& index_help);

// Opens the backend by fresh::OpenSearchBackend's one rule; its errors are
// turned into usage errors that name the flags.
fresh::OpenedBackend OpenSearchOrExit(const SearchFlags& flags, fresh::WhenUnset when_unset, ProgressBar& bar);

struct AnswerFlags {
  std::string protocol = "paper";
  int k = 5;
  int num_results = 0;
  std::string order = "date";
  uint64_t seed = 0;
  bool check_premise = false;
  bool check_premise_everywhere = false;
  bool numbered = false;
  bool instruction = false;
  std::string answer_style = "concise";
  std::string prefix = "auto";
  int demos = 5;
  int snippet_chars = 0;
  int max_tokens = 256;
  float temperature = 0;
  double search_timeout = 10;
  bool chat = false;
  CLI::App* app = nullptr;  // to tell which flags were given
};

enum class AnswerFlagSet { kAll, kServer };  // kServer: no per-request sampling flags

// Adds the FreshPrompt flags in a "FreshPrompt" group.
void AddAnswerFlags(CLI::App* app, AnswerFlags& flags, AnswerFlagSet set = AnswerFlagSet::kAll);

// The answer options: `base` (the paper's defaults, or the reader's) with
// every flag the user gave applied. Throws UsageError for a bad value.
fresh::AnswerOptions ToAnswerOptions(const AnswerFlags& flags, fresh::AnswerOptions base);

// When no --model/--endpoint is given: fills in lmlab's reader model (built
// on first use, with progress on `bar`) and returns true.
bool UseReaderModelIfNone(ModelFlags& model, ProgressBar& bar);
// Whether UseReaderModelIfNone would use the reader (without building it), so
// that flags are checked and the search backend opened before minutes of training.
bool NoModelGiven(const ModelFlags& model);

}  // namespace lmlab::cli
