// The subcommands of `lmlab`, one file each under cli/. Each file has an
// Options struct, Register(CLI::App&) that declares its flags, and
// Run(const Options&) that does the work through the library.
#pragma once

#include <CLI/CLI.hpp>

namespace lmlab::cli {

namespace plan_cmd { void Register(CLI::App& app); }

}  // namespace lmlab::cli
