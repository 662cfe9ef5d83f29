// Documents for the local index: JSONL, CSV, Debian changelogs, and text or
// Markdown files with front matter. The first byte picks the format.
#include "lmlab/core/text.h"
#include "lmlab/search/document.h"
#include "lmlab/search/ingest.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lmlab;
  if (size == 0) return 0;
  std::string_view text = fuzz::Text(data + 1, size - 1);
  search::DateContext dates{.today = std::chrono::sys_days(std::chrono::year{2024} / 3 / 5)};
  Result<std::vector<search::Document>> docs = InvalidArgument("none");
  switch (data[0] % 4) {
    case 0: docs = search::ParseJsonl(text, "fuzz.jsonl", dates); break;
    case 1: docs = search::ParseCsvDocuments(text, "fuzz.csv", dates); break;
    case 2: docs = search::ParseDebianChangelog(text, "fuzz/changelog.Debian"); break;
    default: {
      auto d = search::ParseTextDocument(text, "/nonexistent/lmlab-fuzz/notes.md");
      if (d) docs = std::vector<search::Document>{*d};
    }
  }
  if (docs)
    for (const auto& d : *docs) {
      // The index and the prompts take these as UTF-8: ingest repairs them.
      fuzz::Check(IsValidUtf8(d.text) && IsValidUtf8(d.title) && IsValidUtf8(d.url),
                  "ingested documents are valid UTF-8");
    }
  return 0;
}
