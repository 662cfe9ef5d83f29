// TEST FIXTURE: a LanguageModel that serves recorded completions from a JSONL
// file instead of generating. It exists so the STOP loop can be checked end to
// end, offline and deterministically (`lmlab improve run --replay FILE`). It
// knows nothing; never use it to measure anything.
//
// Each line: {"prompt_contains": "def improve_algorithm", "completion": "..."}
// ("prompt_contains" optional). A request is answered from the group of lines
// whose key first matches the prompt (file order of first appearance), cycling
// through that group's completions in order. Token counts are words.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "lmlab/runtime/language_model.h"

namespace lmlab::improve {

struct ReplayEntry {
  std::string prompt_contains;
  std::string completion;
};

// kParse names the bad line; kInvalidArgument when the file has no entries.
Result<std::vector<ReplayEntry>> LoadReplayFile(const std::filesystem::path& path);

std::unique_ptr<runtime::LanguageModel> MakeReplayModel(std::vector<ReplayEntry> entries);

}  // namespace lmlab::improve
