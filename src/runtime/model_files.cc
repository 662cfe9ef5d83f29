#include "lmlab/runtime/model_files.h"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cmath>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <vector>

#include "ggml.h"
#include "gguf.h"
#include "lmlab/runtime/gguf_reader.h"
#include "runtime/gguf_handles.h"
#include "runtime/llama_common.h"

namespace lmlab::runtime {
namespace {

// A temporary path beside `path`, unique per process and call.
std::filesystem::path TempBeside(const std::filesystem::path& path) {
  static std::atomic<uint64_t> counter{0};
  std::filesystem::path tmp = path;
  tmp += fmt::format(".tmp{}.{}", static_cast<long>(::getpid()), counter.fetch_add(1));
  return tmp;
}

Status RenameInto(const std::filesystem::path& tmp, const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    return IoError(fmt::format("cannot rename into {}: {}", path.string(), ec.message()));
  }
  return {};
}

bool EndsWith(std::string_view s, std::string_view suffix) { return s.ends_with(suffix); }

}  // namespace

Status WriteRandomInitGguf(const std::filesystem::path& src, const std::filesystem::path& dst,
                           const RandomInitOptions& o) {
  if (!(o.stddev > 0)) return InvalidArgument("random init: stddev must be positive");
  LMLAB_ASSIGN_OR_RETURN(internal::GgufHeader source_header, internal::OpenGgufHeader(src, /*with_meta=*/true));
  const internal::GgufPtr& in = source_header.gguf;
  const internal::GgmlPtr& meta = source_header.meta;
  internal::GgufPtr out(gguf_init_empty());
  gguf_set_kv(out.get(), in.get());
  std::string name = "model";
  if (int64_t k = gguf_find_key(in.get(), "general.name"); k >= 0 && gguf_get_kv_type(in.get(), k) == GGUF_TYPE_STRING)
    name = gguf_get_val_str(in.get(), k);
  gguf_set_val_str(out.get(), "general.name", (name + " (random init)").c_str());
  int64_t n_layer = 1;
  if (int64_t k = gguf_find_key(in.get(), "general.architecture"); k >= 0) {
    const std::string key = std::string(gguf_get_val_str(in.get(), k)) + ".block_count";
    if (int64_t b = gguf_find_key(in.get(), key.c_str()); b >= 0 && gguf_get_kv_type(in.get(), b) == GGUF_TYPE_UINT32)
      n_layer = std::max<int64_t>(1, gguf_get_val_u32(in.get(), b));
  }

  // Output types: F32 stays F32, everything else (F16, BF16, quantised) becomes F16.
  const int64_t n_tensors = gguf_get_n_tensors(in.get());
  bool all_f32 = true;
  for (int64_t i = 0; i < n_tensors; ++i) {
    const char* tname = gguf_get_tensor_name(in.get(), i);
    ggml_tensor* t = ggml_get_tensor(meta.get(), tname);
    if (!t) return Internal(fmt::format("{}: tensor {} is listed but not in the metadata", src.string(), tname));
    gguf_add_tensor(out.get(), t);
    const bool keep = std::string_view(tname).starts_with("rope_");
    if (!keep && t->type != GGML_TYPE_F32) {
      gguf_set_tensor_type(out.get(), tname, GGML_TYPE_F16);
      all_f32 = false;
    }
  }
  gguf_set_val_u32(out.get(), "general.file_type", all_f32 ? 0u : 1u);  // LLAMA_FTYPE_ALL_F32 / MOSTLY_F16

  const std::filesystem::path tmp = TempBeside(dst);
  std::error_code ec;
  std::filesystem::create_directories(dst.parent_path().empty() ? "." : dst.parent_path(), ec);
  std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
  if (!file) return IoError(fmt::format("cannot write {}", tmp.string()));
  auto fail = [&](const std::string& why) {
    file.close();
    std::filesystem::remove(tmp, ec);
    return IoError(fmt::format("writing {}: {}", dst.string(), why));
  };
  const size_t meta_size = gguf_get_meta_size(out.get());
  const size_t align = gguf_get_alignment(out.get());
  std::vector<char> zeros(std::max<size_t>(meta_size, align), 0);
  file.write(zeros.data(), static_cast<std::streamsize>(meta_size));

  std::ifstream source(src, std::ios::binary);
  const uint64_t src_data = gguf_get_data_offset(in.get());
  std::vector<float> values;
  std::vector<ggml_fp16_t> halves;
  std::vector<char> raw;
  for (int64_t i = 0; i < n_tensors; ++i) {
    const std::string tname = gguf_get_tensor_name(out.get(), i);
    const ggml_type type = gguf_get_tensor_type(out.get(), i);
    const size_t size = gguf_get_tensor_size(out.get(), i);
    const int64_t* ne = gguf_get_tensor_ne(out.get(), i);
    const int64_t count = ne[0] * ne[1] * ne[2] * ne[3];
    if (tname.starts_with("rope_")) {
      // Not learned: copy the bytes.
      const int64_t sid = gguf_find_tensor(in.get(), tname.c_str());
      raw.resize(size);
      source.seekg(static_cast<std::streamoff>(src_data + gguf_get_tensor_offset(in.get(), sid)));
      source.read(raw.data(), static_cast<std::streamsize>(size));
      if (!source) return fail("cannot read " + tname + " from " + src.string());
      file.write(raw.data(), static_cast<std::streamsize>(size));
    } else {
      values.assign(static_cast<size_t>(count), 0.0f);
      const bool vector = ne[1] == 1 && ne[2] == 1 && ne[3] == 1;
      if (vector) {
        if (tname.find("norm") != std::string::npos) std::fill(values.begin(), values.end(), 1.0f);
      } else {
        double sd = o.stddev;
        if (EndsWith(tname, "attn_output.weight") || EndsWith(tname, "ffn_down.weight"))
          sd /= std::sqrt(2.0 * static_cast<double>(n_layer));
        std::seed_seq seq{static_cast<uint32_t>(o.seed), static_cast<uint32_t>(o.seed >> 32), static_cast<uint32_t>(i)};
        std::mt19937_64 rng(seq);
        std::normal_distribution<float> normal(0.0f, static_cast<float>(sd));
        for (float& v : values) v = normal(rng);
      }
      if (type == GGML_TYPE_F32) {
        file.write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(size));
      } else {
        halves.resize(static_cast<size_t>(count));
        ggml_fp32_to_fp16_row(values.data(), halves.data(), count);
        file.write(reinterpret_cast<const char*>(halves.data()), static_cast<std::streamsize>(size));
      }
    }
    const size_t pad = (align - size % align) % align;
    file.write(zeros.data(), static_cast<std::streamsize>(pad));
    if (!file) return fail("disk full?");
  }
  std::vector<char> header(meta_size);
  gguf_get_meta_data(out.get(), header.data());
  file.seekp(0);
  file.write(header.data(), static_cast<std::streamsize>(meta_size));
  file.close();
  if (!file) return fail("cannot finish the file");
  return RenameInto(tmp, dst);
}

std::string_view QuantTypeName(QuantType t) {
  switch (t) {
    case QuantType::kF32: return "F32";
    case QuantType::kF16: return "F16";
    case QuantType::kQ8_0: return "Q8_0";
    case QuantType::kQ4_K: return "Q4_K";
  }
  return "?";
}

Result<QuantType> ParseQuantType(std::string_view name) {
  for (QuantType t : {QuantType::kF32, QuantType::kF16, QuantType::kQ8_0, QuantType::kQ4_K}) {
    std::string n(QuantTypeName(t));
    std::string lower = n;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name == n || name == lower) return t;
  }
  return InvalidArgument(fmt::format("unknown quantisation '{}' (known: F32, F16, Q8_0, Q4_K)", name));
}

Result<QuantizeResult> QuantizeGguf(const std::filesystem::path& src, const std::filesystem::path& dst, QuantType type,
                                    int threads) {
  std::error_code ec;
  if (std::filesystem::equivalent(src, dst, ec))
    return InvalidArgument("quantise: the output would overwrite the input " + src.string());
  LMLAB_RETURN_IF_ERROR(internal::CheckGgufFile(src));
  internal::EnsureLlamaBackend();
  internal::TakeLlamaError();
  llama_model_quantize_params p = llama_model_quantize_default_params();
  switch (type) {
    case QuantType::kF32: p.ftype = LLAMA_FTYPE_ALL_F32; break;
    case QuantType::kF16: p.ftype = LLAMA_FTYPE_MOSTLY_F16; break;
    case QuantType::kQ8_0: p.ftype = LLAMA_FTYPE_MOSTLY_Q8_0; break;
    case QuantType::kQ4_K: p.ftype = LLAMA_FTYPE_MOSTLY_Q4_K_M; break;
  }
  p.nthread = threads;
  std::filesystem::create_directories(dst.parent_path().empty() ? "." : dst.parent_path(), ec);
  const std::filesystem::path tmp = TempBeside(dst);
  if (llama_model_quantize(src.c_str(), tmp.c_str(), &p) != 0) {
    std::filesystem::remove(tmp, ec);
    const std::string why = internal::TakeLlamaError();
    return Internal(fmt::format("llama.cpp could not quantise {} to {}{}{}", src.string(), QuantTypeName(type),
                                why.empty() ? "" : ": ", why));
  }
  LMLAB_RETURN_IF_ERROR(RenameInto(tmp, dst));
  return DescribeQuantised(dst, type);
}

Result<QuantizeResult> DescribeQuantised(const std::filesystem::path& path, QuantType type) {
  const ggml_type wanted = type == QuantType::kF32    ? GGML_TYPE_F32
                           : type == QuantType::kF16  ? GGML_TYPE_F16
                           : type == QuantType::kQ8_0 ? GGML_TYPE_Q8_0
                                                      : GGML_TYPE_Q4_K;
  QuantizeResult r;
  std::error_code ec;
  r.bytes = std::filesystem::file_size(path, ec);
  LMLAB_ASSIGN_OR_RETURN(std::vector<GgufTensorInfo> tensors, ListGgufTensors(path));
  for (const GgufTensorInfo& t : tensors) {
    ++r.tensor_types[t.type_name];
    // Q4_K_M deliberately mixes in Q6_K for some tensors: only other types count as fallbacks.
    const bool mix = type == QuantType::kQ4_K && t.type == GGML_TYPE_Q6_K;
    if (t.shape.size() >= 2 && t.type != static_cast<uint32_t>(wanted) && !mix) ++r.fallback_tensors;
  }
  return r;
}

}  // namespace lmlab::runtime
