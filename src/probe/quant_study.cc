#include "lmlab/probe/quant_study.h"

#include <fmt/format.h>

#include <algorithm>

#include "lmlab/core/file.h"
#include "lmlab/core/format.h"
#include "lmlab/core/table.h"
#include "lmlab/runtime/gguf_reader.h"

namespace lmlab::probe {
namespace fs = std::filesystem;
namespace {

// The mean over targets of the cosine between two [d, k] coefficient matrices' columns.
double MeanColumnCosine(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  if (a.rows() != b.rows() || a.cols() != b.cols() || a.cols() == 0) return 0;
  double sum = 0;
  for (Eigen::Index t = 0; t < a.cols(); ++t) {
    const double den = a.col(t).norm() * b.col(t).norm();
    sum += den > 0 ? a.col(t).dot(b.col(t)) / den : 0.0;
  }
  return sum / static_cast<double>(a.cols());
}

// The ggml type most of the 2-D tensors have.
Result<std::string> MainType(const fs::path& gguf) {
  LMLAB_ASSIGN_OR_RETURN(std::vector<runtime::GgufTensorInfo> tensors, runtime::ListGgufTensors(gguf));
  std::map<std::string, int64_t> count;
  for (const auto& t : tensors)
    if (t.shape.size() >= 2) ++count[t.type_name];
  if (count.empty()) return std::string("f32");
  return std::max_element(count.begin(), count.end(), [](const auto& a, const auto& b) { return a.second < b.second; })
      ->first;
}

}  // namespace

Result<QuantStudyReport> RunQuantStudy(const QuantStudyOptions& o) {
  if (o.types.empty()) return InvalidArgument("the quantisation study needs at least one type");
  const fs::path source = o.study.model.gguf_path;
  LMLAB_ASSIGN_OR_RETURN(std::string main_type, MainType(source));
  if (main_type != "f32" && main_type != "f16" && main_type != "bf16")
    return InvalidArgument(fmt::format("{} is quantised ({}): start the study from an F32 or F16 model (requantising "
                                       "compounds the error)",
                                       source.string(), main_type));
  fs::path cache_root = o.study.cache_root;
  if (cache_root.empty()) {
    LMLAB_ASSIGN_OR_RETURN(fs::path cache, CacheDir());
    cache_root = cache / "probe";
  }
  const fs::path dir = o.models_dir.empty() ? cache_root / "quantised" : o.models_dir;

  QuantStudyReport report;
  report.model = source.filename().string();
  std::vector<Eigen::MatrixXd> reference;  // the first row's directions
  for (runtime::QuantType type : o.types) {
    QuantRow row;
    row.type = std::string(runtime::QuantTypeName(type));
    fs::path path = source;
    const bool same = (type == runtime::QuantType::kF32 && main_type == "f32") ||
                      (type == runtime::QuantType::kF16 && main_type == "f16");
    if (!same) {
      // Named by the source's stem and its cache key, so a changed source gets new copies.
      path = dir / fmt::format("{}-{}.gguf", CacheEntryDir("", source, "q", row.type, {}).parent_path().string(),
                               row.type);
      std::error_code ec;
      if (!fs::exists(path, ec)) {
        Report(o.study.progress, {"quantising", 0, 0, "", fmt::format("{} to {}", source.filename().string(), row.type)});
        LMLAB_RETURN_IF_ERROR(runtime::QuantizeGguf(source, path, type, std::max(0, o.study.model.threads)));
      }
    }
    LMLAB_ASSIGN_OR_RETURN(runtime::QuantizeResult q, runtime::DescribeQuantised(path, type));
    row.tensor_types = q.tensor_types;
    row.fallback_tensors = q.fallback_tensors;
    row.bytes = q.bytes;
    row.model = path.string();
    StudyOptions s = o.study;
    s.model.gguf_path = path.string();
    s.cache_root = cache_root;
    s.keep_directions = true;
    LMLAB_ASSIGN_OR_RETURN(ProbeReport r, RunStudy(s));
    if (report.layers.empty()) {
      report.dataset = r.dataset;
      for (const LayerResult& l : r.sweep.layers) report.layers.push_back(l.layer);
    }
    for (const LayerResult& l : r.sweep.layers) row.test_r2.push_back(l.test.r2);
    if (reference.empty()) reference = r.sweep.directions;
    for (size_t i = 0; i < r.sweep.directions.size() && i < reference.size(); ++i)
      row.cosine.push_back(MeanColumnCosine(reference[i], r.sweep.directions[i]));
    row.headline = r.headline;
    report.rows.push_back(std::move(row));
  }
  return report;
}

std::string RenderQuantText(const QuantStudyReport& r) {
  std::vector<std::string> headers = {"layer"};
  for (const QuantRow& row : r.rows) headers.push_back(row.type + " R2");
  for (size_t i = 1; i < r.rows.size(); ++i) headers.push_back("cos " + r.rows[i].type);
  Table t(headers, std::vector<Align>(headers.size(), Align::kRight));
  for (size_t li = 0; li < r.layers.size(); ++li) {
    std::vector<std::string> cells = {std::to_string(r.layers[li])};
    for (const QuantRow& row : r.rows) cells.push_back(li < row.test_r2.size() ? FormatFixed(row.test_r2[li], 3) : "-");
    for (size_t i = 1; i < r.rows.size(); ++i)
      cells.push_back(li < r.rows[i].cosine.size() ? FormatFixed(r.rows[i].cosine[li], 4) : "-");
    t.AddRow(cells);
  }
  std::string out = fmt::format("Quantisation study: {} on {} (cosine: probe direction against {}'s)\n{}", r.model,
                                r.dataset, r.rows.empty() ? "" : r.rows[0].type, t.Render());
  Table files({"type", "file", "tensor types", "fallbacks", "best layer", "best R2", "gap to strongest control"},
              {Align::kLeft, Align::kRight, Align::kLeft, Align::kRight, Align::kRight, Align::kRight, Align::kRight});
  for (const QuantRow& row : r.rows) {
    std::string types;
    for (const auto& [name, n] : row.tensor_types) types += fmt::format("{}{} {}", types.empty() ? "" : ", ", n, name);
    files.AddRow({row.type, FormatBytes(static_cast<double>(row.bytes)), types, std::to_string(row.fallback_tensors),
                  std::to_string(row.headline.layer), FormatFixed(row.headline.r2, 3),
                  fmt::format("{:+.3f}", row.headline.gap)});
  }
  out += "\n" + files.Render();
  for (const QuantRow& row : r.rows)
    if (row.fallback_tensors > 0)
      out += fmt::format("Note: {} of {}'s matrices are not {}: llama.cpp falls back where a row is not a multiple of "
                         "the type's block (Q4_K: 256 values).\n",
                         row.fallback_tensors, row.type, row.type);
  return out;
}

void to_json(nlohmann::json& j, const QuantStudyReport& r) {
  nlohmann::json rows = nlohmann::json::array();
  for (const QuantRow& row : r.rows)
    rows.push_back({{"type", row.type},
                    {"model", row.model},
                    {"bytes", row.bytes},
                    {"tensor_types", row.tensor_types},
                    {"fallback_tensors", row.fallback_tensors},
                    {"test_r2", row.test_r2},
                    {"cosine", row.cosine},
                    {"headline", row.headline}});
  j = {{"model", r.model}, {"dataset", r.dataset}, {"layers", r.layers}, {"rows", rows}};
}

}  // namespace lmlab::probe
