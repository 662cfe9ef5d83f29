// Reading a training corpus: one text file, or every regular file under a
// directory (recursively, in path order). Documents are separated by blank
// lines; each becomes "<s> text </s>" in the token stream.
//
//   LMLAB_ASSIGN_OR_RETURN(std::vector<std::string> docs, LoadCorpus("corpus/"));
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "lmlab/core/error.h"

namespace lmlab::train {

// kNotFound for a missing path; kInvalidArgument for an empty corpus or one
// that looks binary (NUL bytes or invalid UTF-8), naming the file.
Result<std::vector<std::string>> LoadCorpus(const std::filesystem::path& file_or_dir);

// Splits text into documents at blank lines (trimmed, empty ones dropped).
std::vector<std::string> SplitDocuments(std::string_view text);

// kInvalidArgument when `text` has a NUL byte or is not valid UTF-8; `what`
// names it in the message.
Status CheckText(std::string_view text, std::string_view what);

}  // namespace lmlab::train
