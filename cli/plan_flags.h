// Flags `lmlab plan`, `plan infer` and `plan tokens` share: the device and its
// overrides, and the model shape (a preset or a config.json).
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "lmlab/plan/model_shape.h"
#include "lmlab/plan/planner.h"

namespace lmlab::cli {

struct HardwareFlags {
  std::string device;
  std::string precision = "bf16";
  bool sparse = false;
  std::optional<double> device_flops, mfu, memory_gb, bandwidth_tbs, tdp, price;
  double pue = plan::kDefaultPue;
};

// Adds, in a "Hardware" group: --device, --device-flops, --precision,
// --sparse, --mfu (with `mfu_help`), --memory-gb, --bandwidth, --tdp, --price, --pue.
void AddHardwareFlags(CLI::App* app, HardwareFlags& flags, const std::string& mfu_help);
// The request the flags describe; `default_device` when none is named and no rate is given.
plan::HardwareRequest ToHardwareRequest(const HardwareFlags& flags, const std::string& default_device);

struct ModelShapeFlags {
  std::string preset;
  std::string config;
};

// Adds, in a "Model" group: --preset NAME and --model-config FILE.
void AddModelShapeFlags(CLI::App* app, ModelShapeFlags& flags);
// The shape, or nullopt when neither flag is given; exits with the library's error otherwise.
std::optional<plan::ModelShape> ModelShapeOrExit(const ModelShapeFlags& flags);

}  // namespace lmlab::cli
