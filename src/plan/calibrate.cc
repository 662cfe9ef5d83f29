#include "lmlab/plan/calibrate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <regex>

#include "lmlab/core/parse.h"

namespace lmlab::plan {
namespace {

constexpr const char* kNumber = R"(([0-9][0-9,]*(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?))";

// "12,345.6" -> 12345.6; nullopt when out of range ("1e999").
std::optional<double> ParseNumber(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), ','), s.end());
  Result<double> v = ParseDouble(s, "throughput");
  return v ? std::optional<double>(*v) : std::nullopt;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// lmlab train --json, or `lmlab train default --json` (under "training").
std::optional<TrainingLog> ParseLmlabJson(std::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  if (j.contains("training") && j["training"].is_object()) j = j["training"];
  if (!j.contains("tokens_per_second") || !j["tokens_per_second"].is_number()) return std::nullopt;
  TrainingLog log;
  log.format = LogFormat::kLmlabTrainJson;
  log.tokens_per_second = j["tokens_per_second"].get<double>();
  log.samples.push_back({1, log.tokens_per_second});
  if (j.contains("params") && j["params"].is_number()) log.params = j["params"].get<double>();
  if (j.contains("config") && j["config"].is_object()) {
    const nlohmann::json& c = j["config"];
    auto get = [&](const char* key) { return c.contains(key) && c[key].is_number_integer() ? c[key].get<int64_t>() : 0; };
    // lmlab's own model: Llama-style (SwiGLU, RMSNorm, MHA, untied output).
    ModelShape m;
    m.name = "lmlab train log";
    m.model_type = "llama";
    m.hidden = get("width");
    m.layers = get("layers");
    m.heads = get("heads");
    m.kv_heads = m.heads;
    m.head_dim = m.heads > 0 ? m.hidden / m.heads : 0;
    m.intermediate = get("ff");
    m.vocab = get("vocab");
    m.max_position = get("ctx");
    if (ValidateShape(m)) log.model = m;
    if (m.max_position > 0) log.seq_len = m.max_position;
  }
  return log;
}

}  // namespace

std::string_view LogFormatName(LogFormat f) {
  switch (f) {
    case LogFormat::kLmlabTrainJson: return "lmlab train --json";
    case LogFormat::kThroughputLines: return "tokens/s lines";
    case LogFormat::kGgmlOptProgress: return "llama.cpp finetune progress";
  }
  return "?";
}

Result<TrainingLog> ParseTrainingLog(std::string_view text, std::optional<int64_t> seq_len) {
  if (auto json = ParseLmlabJson(text)) {
    if (!(json->tokens_per_second > 0)) return ParseError("the lmlab train log reports no tokens per second");
    return *json;
  }
  static const std::regex kKeyValue(
      std::string(R"((?:tokens_per_second|tokens_per_sec|tok_per_sec|tokens/sec|tokens/s|tok/sec|tok/s)['"]?\s*[:=]\s*['"]?)") +
          kNumber,
      std::regex::icase);
  static const std::regex kValueUnit(std::string(kNumber) + R"(\s*(?:tokens|toks|tok)\s*(?:/\s*|per\s+)(?:s|sec|second)\b)",
                                     std::regex::icase);
  static const std::regex kGgmlOpt(R"(^\s*train:.*data=0*([0-9]+)/0*([0-9]+).*\bt=([0-9]+):([0-9]+):([0-9]+))");

  TrainingLog log;
  std::vector<ThroughputSample> lines, ggml;
  int64_t line_no = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find_first_of("\r\n", start);
    if (end == std::string_view::npos) end = text.size();
    std::string line(text.substr(start, end - start));
    ++line_no;
    start = end + 1;
    if (line.empty()) continue;
    std::smatch m;
    if (std::regex_search(line, m, kGgmlOpt)) {
      if (!seq_len)
        return InvalidArgument("llama.cpp finetune progress counts sequences: give the run's context length (`log_seq_len`)");
      std::optional<double> data = ParseNumber(m[1].str()), h = ParseNumber(m[3].str()), min = ParseNumber(m[4].str()),
                            sec = ParseNumber(m[5].str());
      if (!data || !h || !min || !sec) continue;
      const double seconds = 3600 * *h + 60 * *min + *sec;
      if (seconds > 0 && *data > 0) ggml.push_back({line_no, *data * static_cast<double>(*seq_len) / seconds});
      continue;
    }
    if (std::regex_search(line, m, kKeyValue) || std::regex_search(line, m, kValueUnit)) {
      std::optional<double> v = ParseNumber(m[1].str());
      if (v && std::isfinite(*v) && *v > 0) lines.push_back({line_no, *v});
    }
  }
  if (!ggml.empty()) {
    // Each progress line is the cumulative rate since the start: the last is the run's.
    log.format = LogFormat::kGgmlOptProgress;
    log.samples = ggml;
    log.tokens_per_second = ggml.back().tokens_per_second;
    log.seq_len = seq_len;
    return log;
  }
  if (lines.empty())
    return ParseError("no throughput found in the log: expected lmlab train --json output, lines with tokens/s "
                      "(\"1234 tok/s\", \"tokens/s: 1234\", \"... 102.87 tokens per second\") or llama.cpp finetune "
                      "progress (\"train: ... data=N/M ... t=HH:MM:SS\")");
  log.format = LogFormat::kThroughputLines;
  log.samples = lines;
  // The first report usually includes start-up (compilation, data loading, warm caches).
  log.warmup_skipped = lines.size() >= 3 ? 1 : 0;
  std::vector<double> rates;
  for (size_t i = static_cast<size_t>(log.warmup_skipped); i < lines.size(); ++i) rates.push_back(lines[i].tokens_per_second);
  log.tokens_per_second = Median(rates);
  log.seq_len = seq_len;
  return log;
}

Result<Calibration> FitMfu(const FromLogRequest& r) {
  if (!(std::isfinite(r.peak_flops) && r.peak_flops > 0))
    return InvalidArgument("the logged run's peak FLOP/s per device is needed (`log_device` or `log_peak_flops`)");
  if (r.devices < 1) return InvalidArgument(fmt::format("`log_devices` must be at least 1 (got {})", r.devices));
  if (!(r.log.tokens_per_second > 0)) return InvalidArgument("the log reports no positive tokens per second");
  Calibration c;
  c.log = r.log;
  c.peak_flops = r.peak_flops;
  c.devices = r.devices;
  c.hardware = r.hardware;
  std::optional<int64_t> seq_len = r.seq_len ? r.seq_len : r.log.seq_len;
  if (seq_len && *seq_len < 1) return InvalidArgument("`log_seq_len` must be at least 1");
  const ModelShape* shape = nullptr;
  if (r.model) {
    shape = &*r.model;
    c.model_source = "--log-preset/--log-model-config";
  } else if (r.params) {
    c.params = *r.params;
    c.model_source = "--log-params";
  } else if (r.log.model) {
    shape = &*r.log.model;
    c.model_source = "the log's model config";
  } else if (r.log.params) {
    c.params = *r.log.params;
    c.model_source = "the log's parameter count";
  } else {
    return InvalidArgument("the log does not say which model ran: give `log_params`, `log_preset` or `log_model_config`");
  }
  if (shape) {
    LMLAB_RETURN_IF_ERROR(ValidateShape(*shape));
    c.params = CountParams(*shape).total;
    if (!seq_len) return InvalidArgument("the attention term needs the logged run's sequence length (`log_seq_len`)");
    c.flops_per_token = TrainingFlopsPerToken(*shape, static_cast<double>(*seq_len));
    if (r.log.params && shape == &*r.log.model && std::abs(c.params - *r.log.params) > 0.005 * *r.log.params)
      c.note = fmt::format("the log's config gives {:.0f} parameters but the log reports {:.0f}", c.params, *r.log.params);
  } else {
    if (!(std::isfinite(c.params) && c.params > 0)) return InvalidArgument("`log_params` must be positive");
    c.flops_per_token = kFlopsPerParamToken * c.params;
  }
  c.achieved_flops = r.log.tokens_per_second * c.flops_per_token;
  c.mfu = c.achieved_flops / (r.peak_flops * static_cast<double>(r.devices));
  if (c.mfu > 1)
    return InvalidArgument(fmt::format("the log implies {:.0f}% MFU, above 100%: check the logged run's peak "
                                       "(`log_device` or `log_peak_flops`), `log_devices` and its model",
                                       c.mfu * 100));
  return c;
}

Result<CalibratedPlan> PlanFromLog(const FromLogRequest& log, PlanRequest target, const DeviceCatalog& catalog) {
  if (target.hardware.mfu) return InvalidArgument("fitting the MFU from a log (`from_log`) and giving one (`mfu`) contradict: drop `mfu`");
  CalibratedPlan out;
  LMLAB_ASSIGN_OR_RETURN(out.calibration, FitMfu(log));
  target.hardware.mfu = out.calibration.mfu;
  LMLAB_ASSIGN_OR_RETURN(out.plan, MakePlan(target, catalog));
  return out;
}

}  // namespace lmlab::plan
