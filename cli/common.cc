#include "cli/common.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fmt/format.h>
#include <iostream>
#include <map>
#include <vector>

namespace lmlab::cli {
namespace {

const std::map<std::string, double> kUnits = {{"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"B", 1e9}, {"G", 1e9},
                                              {"T", 1e12}, {"P", 1e15}};

// "70B" -> "70000000000": a number with an optional k/M/B/G/T/P suffix.
CLI::Validator QuantityTransform() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        std::string number = text;
        double scale = 1;
        if (!number.empty()) {
          auto it = kUnits.find(std::string(1, number.back()));
          if (it != kUnits.end()) {
            scale = it->second;
            number.pop_back();
          }
        }
        size_t used = 0;
        double v = 0;
        try {
          v = std::stod(number, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (number.empty() || used != number.size())
          return "'" + text + "' is not a number (examples: 1e24, 7e9, 70B, 15T)";
        text = fmt::format("{:.17g}", v * scale);
        return "";
      },
      "NUM", "quantity");
}

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The subcommand whose run callback is executing (set by SetRun): the one
// whose flags InCliTerms names.
const CLI::App* g_running = nullptr;

// Option fields whose flag is not "--" + the name with '_' as '-'.
const std::map<std::string, std::vector<std::string>, std::less<>> kFlagsForOptions = {
    {"gguf_path", {"--model"}},
    {"n_ctx", {"--ctx"}},
    {"n_gpu_layers", {"--gpu-layers"}},
    {"n_layer", {"--layers"}},
    {"n_embd", {"--width"}},
    {"n_head", {"--heads"}},
    {"n_ff", {"--ff"}},
    {"memory_bytes", {"--memory-gb"}},
    {"bandwidth_bytes_per_s", {"--bandwidth"}},
    {"tdp_watts", {"--tdp"}},
    {"price_per_hour", {"--price"}},
    {"responses_path", {"--out"}},
    {"target_columns", {"--target"}},
    {"group_columns", {"--group"}},
};

// The flag of `command` (or a command above it) that sets `name`, or "".
std::string FlagFor(std::string_view name, const CLI::App* command) {
  std::vector<std::string> candidates;
  if (auto it = kFlagsForOptions.find(name); it != kFlagsForOptions.end()) candidates = it->second;
  std::string dashed(name);
  std::replace(dashed.begin(), dashed.end(), '_', '-');
  candidates.push_back("--" + dashed);
  for (const CLI::App* app = command; app != nullptr; app = app->get_parent())
    for (const std::string& flag : candidates)
      if (app->get_option_no_throw(flag) != nullptr) return flag;
  return "";
}

}  // namespace

std::string InCliTerms(std::string_view message) {
  return RenderOptionNames(message, [](const OptionMention& m) {
    std::string flag = FlagFor(m.name, g_running);
    if (flag.empty()) flag = m.name;  // no flag here: the option's own name
    return m.value.empty() ? flag : flag + " " + std::string(m.value);
  });
}

std::string InCliTerms(const Error& e) { return std::string(ErrorCodeName(e.code)) + ": " + InCliTerms(e.message); }

int ExitCodeFor(const Error& e) {
  switch (e.code) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kNotFound:
    case ErrorCode::kOutOfRange:
      return 2;
    default:
      return 1;
  }
}

CLI::Option* AddQuantity(CLI::App* app, const std::string& name, double& value, const std::string& help) {
  return app->add_option(name, value, help)->transform(QuantityTransform())->type_name("NUM");
}

CLI::Option* AddQuantity(CLI::App* app, const std::string& name, std::optional<double>& value,
                         const std::string& help) {
  return app->add_option(name, value, help)->transform(QuantityTransform())->type_name("NUM");
}

CLI::App* AddCommand(CLI::App& app, const std::string& name, const std::string& description,
                     const std::string& examples) {
  CLI::App* sub = app.add_subcommand(name, description);
  if (!examples.empty()) sub->footer("\nExamples:\n" + examples);
  return sub;
}

void SetRun(CLI::App* sub, std::function<int()> run) {
  sub->callback([sub, run = std::move(run)] {
    g_running = sub;
    int rc = run();
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

// Model output can hold invalid UTF-8: replace it rather than fail.
void PrintJson(const nlohmann::json& j) {
  std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

ProgressBar::ProgressBar() : tty_(isatty(STDERR_FILENO)), start_seconds_(NowSeconds()) {}
ProgressBar::~ProgressBar() { Finish(); }

ProgressCallback ProgressBar::Callback() {
  return [this](const Progress& p) { (*this)(p); };
}

void ProgressBar::operator()(const Progress& p) {
  if (p.stage != last_stage_) {
    Finish();
    last_stage_ = p.stage;
    last_decile_ = -1;
    start_seconds_ = NowSeconds();
  }
  double fraction = p.total > 0 ? std::clamp(p.done / p.total, 0.0, 1.0) : 0.0;
  double elapsed = NowSeconds() - start_seconds_;
  std::string eta;
  if (p.total > 0 && fraction > 0.01 && fraction < 1) eta = fmt::format(" eta {:.0f}s", elapsed / fraction * (1 - fraction));
  std::string count = p.total > 0 ? fmt::format("{:.0f}/{:.0f} {}", p.done, p.total, p.unit)
                                  : fmt::format("{:.0f} {}", p.done, p.unit);
  if (tty_) {
    constexpr int kWidth = 28;
    int filled = static_cast<int>(fraction * kWidth);
    std::string bar = std::string(filled, '#') + std::string(kWidth - filled, '.');
    std::fprintf(stderr, "\r\033[K%s [%s] %s %s%s", p.stage.c_str(), bar.c_str(), count.c_str(), p.detail.c_str(),
                 eta.c_str());
    open_line_ = true;
  } else {
    int decile = static_cast<int>(fraction * 10);
    if (decile != last_decile_) {
      last_decile_ = decile;
      std::fprintf(stderr, "%s: %s %s%s\n", p.stage.c_str(), count.c_str(), p.detail.c_str(), eta.c_str());
    }
  }
  std::fflush(stderr);
}

void ProgressBar::Finish() {
  if (open_line_) std::fprintf(stderr, "\n");
  open_line_ = false;
}

}  // namespace lmlab::cli
