// The flags every model-using subcommand shares (ask, improve, probe, ood,
// model): which model to open, and how. One struct, one AddModelFlags call.
//
//   ModelFlags model;
//   AddModelFlags(sub, model);
//   ...
//   std::unique_ptr<runtime::LanguageModel> lm = OpenModelOrExit(model);
#pragma once

#include <CLI/CLI.hpp>
#include <memory>

#include "cli/common.h"
#include "lmlab/runtime/language_model.h"

namespace lmlab::cli {

struct ModelFlags {
  runtime::ModelSpec spec;
};

// Adds, in a "Model" group: --model PATH.gguf, --endpoint URL, --api-model
// NAME, --api-key-env VAR, --threads N, --ctx N, --gpu-layers N.
void AddModelFlags(CLI::App* app, ModelFlags& flags);

// Opens the model the flags name. Throws UsageError when the flags are
// incomplete or contradictory, CommandError when opening fails.
std::unique_ptr<runtime::LanguageModel> OpenModelOrExit(const ModelFlags& flags);

// probe, ood and demo run on lmlab's embedded default model when the user
// names none: fills in its path (training it on first use, with `bar`
// showing progress) and returns true; returns false when a model was given.
bool UseDefaultModelIfNone(ModelFlags& flags, ProgressBar& bar);

// Checks the flags as OpenModelOrExit would, without opening anything
// (for commands that open the model later, e.g. through OpenActivationModel).
void CheckModelFlags(const ModelFlags& flags);

}  // namespace lmlab::cli
