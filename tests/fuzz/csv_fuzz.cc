// The CSV readers of outside files: core's RFC-4180 parser (index ingest,
// FreshQA, probe) under both quote rules, probe's entity-CSV schema handling
// and FreshQA's question file.
#include "lmlab/core/csv.h"
#include "lmlab/fresh/freshqa.h"
#include "lmlab/probe/dataset.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lmlab;
  std::string_view text = fuzz::Text(data, size);
  for (BareQuotes quotes : {BareQuotes::kError, BareQuotes::kLiteral}) {
    if (auto table = ParseCsv(text, {.bare_quotes = quotes})) {
      fuzz::Check(table->row_lines.size() == table->rows.size(), "a line number for every row");
      for (size_t i = 1; i < table->row_lines.size(); ++i)
        fuzz::Check(table->row_lines[i] > table->row_lines[i - 1], "rows start on increasing lines");
      for (const auto& row : table->rows) fuzz::Check(row.size() == table->header.size(), "every row as wide as the header");
    }
  }
  if (auto ds = probe::ParseEntityCsv(text, {}, "fuzz.csv")) {
    fuzz::Check(ds->targets.size() == ds->entities.size() * static_cast<size_t>(ds->n_targets()), "targets [n, k]");
    fuzz::Check(static_cast<bool>(probe::ValidateDataset(*ds)), "a parsed dataset validates");
  }
  probe::CsvSchema art;
  art.name_format = "{title} by {creator}";
  art.missing = probe::MissingPolicy::kDrop;
  (void)probe::ParseEntityCsv(text, art, "fuzz.csv");
  (void)fresh::ParseFreshQa(text);
  return 0;
}
