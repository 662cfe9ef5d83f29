// Gurnee & Tegmark's protocol as their code runs it (repo wesg52/world-models:
// feature_datasets/*.py, probe_experiment.py, generalization_experiment.py),
// next to lmlab's own variants:
//
//   | step            | paper (Protocol::kPaper, the default)                 | lmlab (Protocol::kLmlab)        |
//   |-----------------|-------------------------------------------------------|---------------------------------|
//   | entity text     | places "X, Y" and "X (Y)" become "Y's X"; works       | the name as given               |
//   |                 | "{creator}'s {title}"                                 |                                 |
//   | random prompt   | ten random token ids in [100, n_vocab) after BOS      | five random filler words        |
//   | question prompt | places "What are the lat/lon coordinates of ";        | places the same; times "In what |
//   |                 | people "When did "; works "When was the release date  | year did this happen: "         |
//   |                 | of "; events/headlines "Publication date of: "        |                                 |
//   | penalty grid    | logspace(0.8, 4.1|4.3|4.5, 12) by model size, kept    | logspace(0.8, 4.1, 12), extended|
//   |                 | at its edges (RidgeCV)                                | past an edge while LOO improves |
//   | block hold-out  | fixed penalty, 20 blocks, proximity error against all | LOO penalty, 12 blocks, 5-fold  |
//   |                 | entities, baseline = the standard train/test split    | random-split baseline           |
//
//   std::vector<double> grid = PaperAlphaGrid(4096);          // logspace(0.8, 4.1, 12)
//   std::string text = PaperEntityText("Paris, France", EntityKind::kPlace);   // "France's Paris"
//   StudyPrompts p = MakeStudyPrompts(ds, PromptTemplate::kRandomPrefix, Protocol::kPaper, n_vocab, seed);
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/probe/dataset.h"

namespace lmlab::probe {

enum class Protocol {
  kPaper,  // Gurnee & Tegmark's code, as far as it carries over (the default)
  kLmlab,  // lmlab's variants (see the table above)
};
std::string_view ProtocolName(Protocol p);  // "paper", "lmlab"
Result<Protocol> ParseProtocol(std::string_view name);

// The ridge penalty grid of probe_experiment.py's RIDGE_ALPHAS by model size:
// logspace(0.8, 4.1, 12) for Llama-2-7B (width 4096), 4.3 for 13B (5120), 4.5
// for 70B (8192). Widths in between interpolate the upper exponent linearly in
// log2(width); smaller models get the 7B grid (the paper probes nothing
// smaller with RidgeCV), larger ones the 70B grid.
std::vector<double> PaperAlphaGrid(int64_t n_embd);

// The fixed penalty of generalization_experiment.py's MODEL_ALPHAS: 3000 for
// width 4096 (7B), 6000 for 5120 (13B), 18000 for 8192 (70B); nullopt for any
// other width (the study then fixes the penalty its standard-split probe chose
// by leave-one-out at that layer, and says so).
std::optional<double> PaperFixedAlpha(int64_t n_embd);

// The paper's entity text: for places the part in parentheses or after the
// last comma is moved to the front as a possessive ("Paris, France" ->
// "France's Paris", "Springfield (Illinois)" -> "Illinois's Springfield"), so
// the activation is read at the place's own last token, not its country's.
// Other kinds are unchanged (works are formatted "{creator}'s {title}" when
// loaded: CsvSchema's "{creator's}" placeholder).
std::string PaperEntityText(std::string_view name, EntityKind kind);

// The paper's random prompt: ten token ids per prompt.
constexpr int kPaperRandomTokens = 10;
constexpr int32_t kPaperRandomTokenLow = 100;  // torch.randint(low=100, high=max id)

struct StudyPrompts {
  std::vector<std::string> text;                    // [n]: what is tokenized (BOS is added by the model)
  std::vector<std::vector<int32_t>> prefix_tokens;  // [n][k] ids inserted after BOS, or empty
  std::vector<std::string> entity_text;             // [n]: the entity as it stands in the prompt (after
                                                    // rewrites and capitals): the static-embedding control's input
};

// One prompt per entity under a protocol. The entity ends every prompt (the
// activation is read at its last token). Paper random prompts draw ids
// uniformly from [100, n_vocab) (the paper's upper end is the largest id in its
// tokenized batch; the vocabulary size is the same bound without tokenizing
// first), a pure function of (seed, row).
StudyPrompts MakeStudyPrompts(const EntityDataset& ds, PromptTemplate t, Protocol protocol, int64_t n_vocab,
                              uint64_t seed);

// The question prefix of a template under a protocol ("" for bare, caps and random).
std::string QuestionPrefix(const EntityDataset& ds, Protocol protocol);

}  // namespace lmlab::probe
