// The subcommands of `lmlab`, one file each under cli/. Each file has an
// Options struct, Register(CLI::App&) that declares its flags, and
// Run(const Options&) that does the work through the library.
#pragma once

#include <CLI/CLI.hpp>

namespace lmlab::cli {

namespace plan_cmd { void Register(CLI::App& app); }
namespace plan_infer_cmd { void Register(CLI::App& plan); }   // `plan infer`, under `plan`
namespace plan_tokens_cmd { void Register(CLI::App& plan); }  // `plan tokens`, under `plan`
namespace ood_cmd { void Register(CLI::App& app); }
namespace improve_cmd { void Register(CLI::App& app); }
namespace train_cmd { void Register(CLI::App& app); }
namespace model_cmd { void Register(CLI::App& app); }
namespace probe_cmd { void Register(CLI::App& app); }
namespace demo_cmd { void Register(CLI::App& app); }
namespace doctor_cmd { void Register(CLI::App& app); }
namespace index_cmd { void Register(CLI::App& app); }
namespace ask_cmd { void Register(CLI::App& app); }
namespace freshqa_cmd { void Register(CLI::App& app); }
namespace serve_cmd { void Register(CLI::App& app); }

}  // namespace lmlab::cli
