// What quantisation does to a model's map: the same model at F32, F16, Q8_0
// and Q4_K (llama.cpp's own quantiser, runtime/model_files.h), probed on the
// same entities with the same prompts and split; per layer the test R^2 of
// each, and the cosine between each one's probe direction and the first
// type's (is it the same direction, or a different probe that scores alike?).
//
//   QuantStudyOptions q;
//   q.study.model.gguf_path = "model-f32.gguf";   // an F32 or F16 source
//   q.study.dataset.source = "world-model-places";
//   LMLAB_ASSIGN_OR_RETURN(QuantStudyReport r, RunQuantStudy(q));
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/probe/study.h"
#include "lmlab/runtime/model_files.h"

namespace lmlab::probe {

struct QuantStudyOptions {
  StudyOptions study;  // the source model (F32, F16 or BF16), dataset, prompts, controls
  std::vector<runtime::QuantType> types = {runtime::QuantType::kF32, runtime::QuantType::kF16,
                                           runtime::QuantType::kQ8_0, runtime::QuantType::kQ4_K};
  std::filesystem::path models_dir;  // where the quantised copies go; "" = <cache root>/quantised
};

struct QuantRow {
  std::string type;                            // "F32", "F16", "Q8_0", "Q4_K"
  std::string model;                           // the GGUF probed
  uint64_t bytes = 0;
  std::map<std::string, int64_t> tensor_types; // ggml type -> tensors
  int64_t fallback_tensors = 0;                // 2-D tensors llama.cpp could not give the requested type
  std::vector<double> test_r2;                 // [layers]
  std::vector<double> cosine;                  // [layers]: probe direction vs the first row's (mean over targets)
  Headline headline;                           // best layer vs the strongest control
};

struct QuantStudyReport {
  std::string model;
  std::string dataset;
  std::vector<int64_t> layers;
  std::vector<QuantRow> rows;  // in QuantStudyOptions::types order
};

// kInvalidArgument for an empty type list or a quantised source (requantising
// compounds the error: start from F32 or F16).
Result<QuantStudyReport> RunQuantStudy(const QuantStudyOptions& options);

std::string RenderQuantText(const QuantStudyReport& report);
void to_json(nlohmann::json& j, const QuantStudyReport& r);

}  // namespace lmlab::probe
