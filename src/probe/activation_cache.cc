#include "lmlab/probe/activation_cache.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "lmlab/core/file.h"
#include "lmlab/core/hash.h"
#include "lmlab/core/json.h"
#include "lmlab/core/parse.h"

namespace lmlab::probe {
namespace {

constexpr std::string_view kNpyMagic = "\x93NUMPY";
constexpr int kManifestVersion = 1;

// The fields both manifests (residual stream, MLP blocks) start with.
nlohmann::json ManifestHeader(std::string_view format, const CaptureOptions& o, int64_t n_prompts) {
  return {
      {"format", format},
      {"version", kManifestVersion},
      {"model", o.model},
      {"dataset", o.dataset},
      {"prompt_template", o.prompt_template},
      {"position", o.position == runtime::TokenPosition::kLast ? "last" : "mean"},
      {"n_prompts", n_prompts},
  };
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += fmt::format("{}{}", shape[i], shape.size() == 1 ? "," : (i + 1 < shape.size() ? ", " : ""));
  return s + ")";
}

std::filesystem::path ChunkPath(const std::filesystem::path& dir, int64_t chunk) {
  return dir / "partial" / fmt::format("chunk_{:06d}.npy", chunk);
}
std::filesystem::path LayerPath(const std::filesystem::path& dir, int64_t layer) {
  return dir / fmt::format("layer_{:03d}.npy", layer);
}
std::filesystem::path MlpPath(const std::filesystem::path& dir, int64_t layer) {
  return dir / fmt::format("mlp_{:03d}.npy", layer);
}

std::string PromptsHash(const std::vector<std::string>& prompts, runtime::TokenPosition position) {
  uint64_t h = Fnv1a(position == runtime::TokenPosition::kLast ? "last" : "mean");
  for (const auto& p : prompts) {
    h = Fnv1a(p, h);
    h = Fnv1a(std::string_view("\0", 1), h);
  }
  return HashHex(h);
}

// Cache files skip fsync (FileSync::kNone): every reader checks sizes against
// the header and the manifest, and a bad entry or chunk is simply captured
// again; fsync per chunk and per layer cost ~15% of capture time on small models.
Status WriteFast(const std::filesystem::path& path, std::string_view contents) {
  return WriteFileAtomic(path, contents, FileSync::kNone);
}

double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// What an MLP manifest (mlp.json) lists for exactly these prompts, position
// and dtype: the block width and the complete blocks. nullopt when the file is
// missing, not a manifest, or describes other activations.
struct MlpManifest {
  int64_t n_ff = 0;
  std::vector<int64_t> layers;
};
std::optional<MlpManifest> ReadMlpManifest(const std::filesystem::path& path, const std::string& hash,
                                           const std::string& dtype, int64_t n) {
  auto text = ReadFile(path);
  if (!text) return std::nullopt;
  auto m = ParseJson(*text, path.string());
  if (!m) return std::nullopt;
  const std::string what = path.string();
  auto got_hash = JsonGet<std::string>(*m, "prompts_hash", what);
  auto got_dtype = JsonGet<std::string>(*m, "dtype", what);
  auto got_n = JsonGet<int64_t>(*m, "n_prompts", what);
  auto n_ff = JsonGet<int64_t>(*m, "n_ff", what);
  auto layers = JsonGet<std::vector<int64_t>>(*m, "layers", what);
  if (!got_hash || *got_hash != hash || !got_dtype || *got_dtype != dtype || !got_n || *got_n != n || !n_ff ||
      *n_ff <= 0 || !layers)
    return std::nullopt;  // another entry's or a damaged manifest: its blocks are captured again
  return MlpManifest{*n_ff, std::move(*layers)};
}

// The request settings both caches share; the caller adds streams and blocks.
runtime::ActivationRequest BaseRequest(const CaptureOptions& o) {
  runtime::ActivationRequest req;
  req.position = o.position;
  req.batch_tokens = o.batch_tokens;
  return req;
}

// Captures prompts [begin, end) with `req`'s settings, timing the call into
// st.capture_seconds. `what` names the activations in the error context.
Result<runtime::Activations> CaptureChunk(runtime::ActivationModel& model, const std::vector<std::string>& prompts,
                                          int64_t begin, int64_t end, runtime::ActivationRequest req,
                                          std::string_view what, CaptureStats& st) {
  req.prompts.assign(prompts.begin() + begin, prompts.begin() + end);
  const double t0 = Now();
  auto acts = model.CaptureActivations(req);
  st.capture_seconds += Now() - t0;
  if (!acts)
    return std::unexpected(acts.error().WithContext(
        fmt::format("capturing {}prompts {}..{} of {}", what, begin + 1, end, prompts.size())));
  return acts;
}

// Progress after prompts [0, end) of n, with the capture rate so far.
void ReportCaptured(const CaptureOptions& o, std::string_view stage, int64_t end, int64_t n, const CaptureStats& st) {
  Report(o.progress, {std::string(stage), static_cast<double>(end), static_cast<double>(n), "prompts",
                      fmt::format("{:.0f} prompts/s", st.captured / std::max(1e-9, st.capture_seconds))});
}

}  // namespace

Eigen::MatrixXd LayerActivations::LayerMatrix(int64_t l) const {
  Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> m(layer(l), n, n_embd);
  return m.cast<double>();
}

Eigen::MatrixXd LayerActivations::LayerMatrix(int64_t l, const std::vector<int64_t>& rows) const {
  Eigen::MatrixXd out(static_cast<Eigen::Index>(rows.size()), n_embd);
  const float* base = layer(l);
  for (size_t r = 0; r < rows.size(); ++r)
    for (int64_t e = 0; e < n_embd; ++e) out(static_cast<Eigen::Index>(r), e) = base[rows[r] * n_embd + e];
  return out;
}

LayerActivations ToLayerMajor(const runtime::Activations& a) {
  LayerActivations out{a.n_prompts, a.n_layers, a.n_embd, {}};
  out.data.resize(static_cast<size_t>(a.n_prompts * a.n_layers * a.n_embd));
  for (int64_t p = 0; p < a.n_prompts; ++p)
    for (int64_t l = 0; l < a.n_layers; ++l)
      std::memcpy(out.data.data() + (l * a.n_prompts + p) * a.n_embd, a.at(p, l), sizeof(float) * a.n_embd);
  return out;
}

uint16_t FloatToHalf(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t exp = (x >> 23) & 0xffu;
  uint32_t mant = x & 0x7fffffu;
  if (exp == 0xff) return static_cast<uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0));  // inf / nan
  int32_t e = static_cast<int32_t>(exp) - 127 + 15;
  if (e >= 0x1f) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (e <= 0) {                                                 // subnormal or zero
    if (e < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000u;
    uint32_t shift = static_cast<uint32_t>(14 - e);
    uint32_t half = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = sign | (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1))) ++half;  // may carry into the exponent: correct
  return static_cast<uint16_t>(half);
}

float HalfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t x;
  if (exp == 0) {
    if (mant == 0) {
      x = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while (!(mant & 0x400u));
      x = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 0x1f) {
    x = sign | 0x7f800000u | (mant << 13);
  } else {
    x = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  return std::bit_cast<float>(x);
}

namespace {
std::string NpyBytes(const float* data, const std::vector<int64_t>& shape, StoreDtype dtype);
}  // namespace

Status WriteNpy(const std::filesystem::path& path, const float* data, const std::vector<int64_t>& shape,
                StoreDtype dtype) {
  return WriteFileAtomic(path, NpyBytes(data, shape, dtype));
}

namespace {
std::string NpyBytes(const float* data, const std::vector<int64_t>& shape, StoreDtype dtype) {
  int64_t count = 1;
  for (int64_t s : shape) count *= s;
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
                                   dtype == StoreDtype::kFloat16 ? "<f2" : "<f4", ShapeText(shape));
  // magic(6) + version(2) + length(2) + header + '\n' is padded to a multiple of 64.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out;
  size_t elem = dtype == StoreDtype::kFloat16 ? 2 : 4;
  out.reserve(10 + header.size() + static_cast<size_t>(count) * elem);
  out += kNpyMagic;
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  out += header;
  size_t at = out.size();
  out.resize(at + static_cast<size_t>(count) * elem);
  if (dtype == StoreDtype::kFloat16) {
    for (int64_t i = 0; i < count; ++i) {
      uint16_t h = FloatToHalf(data[i]);
      std::memcpy(out.data() + at + 2 * i, &h, 2);
    }
  } else {
    std::memcpy(out.data() + at, data, static_cast<size_t>(count) * 4);
  }
  return out;
}
}  // namespace

Result<NpyArray> ReadNpy(const std::filesystem::path& path) {
  LMLAB_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  return ParseNpy(bytes, path.string());
}

Result<NpyArray> ParseNpy(std::string_view bytes, std::string_view label) {
  auto bad = [&](const std::string& why) { return ParseError(std::string(label) + ": " + why); };
  if (bytes.size() < 10 || bytes.substr(0, 6) != kNpyMagic) return bad("not a .npy file");
  size_t hlen = static_cast<unsigned char>(bytes[8]) | (static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8);
  if (bytes[6] != 1) return bad("only .npy format version 1.0 is supported");
  if (10 + hlen > bytes.size()) return bad("truncated header");
  std::string header(bytes.substr(10, hlen));
  StoreDtype dtype;
  if (header.find("'<f4'") != std::string::npos) dtype = StoreDtype::kFloat32;
  else if (header.find("'<f2'") != std::string::npos) dtype = StoreDtype::kFloat16;
  else return bad("dtype must be float32 or float16 (<f4, <f2)");
  if (header.find("'fortran_order': False") == std::string::npos) return bad("Fortran order is not supported");
  size_t open = header.find("'shape': (");
  size_t close = open == std::string::npos ? open : header.find(')', open);
  if (close == std::string::npos) return bad("no shape");
  NpyArray arr;
  std::string dims = header.substr(open + 10, close - open - 10);
  int64_t count = 1;
  for (size_t i = 0; i < dims.size();) {
    while (i < dims.size() && (dims[i] == ' ' || dims[i] == ',')) ++i;
    if (i >= dims.size()) break;
    size_t j = i;
    while (j < dims.size() && std::isdigit(static_cast<unsigned char>(dims[j]))) ++j;
    if (j == i) return bad("bad shape");
    LMLAB_ASSIGN_OR_RETURN(int64_t dim, ParseInt(std::string_view(dims).substr(i, j - i), std::string(label) + ": shape"));
    // Bounded by the file itself: a dimension or product beyond its bytes is corrupt.
    if (dim > static_cast<int64_t>(bytes.size()) || (dim > 0 && count > static_cast<int64_t>(bytes.size()) / dim))
      return bad("shape (" + dims + ") is larger than the file");
    arr.shape.push_back(dim);
    count *= dim;
    i = j;
  }
  size_t elem = dtype == StoreDtype::kFloat16 ? 2 : 4;
  size_t at = 10 + hlen;
  if (bytes.size() - at != static_cast<size_t>(count) * elem)
    return bad(fmt::format("holds {} bytes of data, the shape needs {}", bytes.size() - at, count * elem));
  arr.data.resize(static_cast<size_t>(count));
  if (dtype == StoreDtype::kFloat16) {
    for (int64_t i = 0; i < count; ++i) {
      uint16_t h;
      std::memcpy(&h, bytes.data() + at + 2 * i, 2);
      arr.data[i] = HalfToFloat(h);
    }
  } else if (count > 0) {
    std::memcpy(arr.data.data(), bytes.data() + at, static_cast<size_t>(count) * 4);
  }
  return arr;
}

std::filesystem::path CacheEntryDir(const std::filesystem::path& root, const std::filesystem::path& model_path,
                                    const std::string& dataset, const std::string& prompt_template,
                                    const std::vector<std::string>& prompts, runtime::TokenPosition position) {
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(model_path, ec);
  uint64_t size = std::filesystem::file_size(model_path, ec);
  if (ec) size = 0;
  auto mtime = std::filesystem::last_write_time(model_path, ec);
  int64_t ticks = ec ? 0 : mtime.time_since_epoch().count();
  uint64_t h = Fnv1a(fmt::format("{}|{}|{}", abs.string(), size, ticks));
  std::string model_dir = fmt::format("{}-{:08x}", model_path.stem().string(), h & 0xffffffffu);
  return root / model_dir / fmt::format("{}-{}-{}", dataset, prompt_template, PromptsHash(prompts, position).substr(0, 12));
}

Result<LayerActivations> LoadCacheEntry(const std::filesystem::path& dir) {
  auto text = ReadFile(dir / "manifest.json");
  if (!text) return NotFound("no complete activation cache in " + dir.string());
  const std::string what = (dir / "manifest.json").string();
  auto m = ParseJson(*text, what);
  if (!m) return ParseError(m.error().message + " (not an lmlab activation manifest; delete the entry to rebuild it)");
  LayerActivations acts;
  LMLAB_ASSIGN_OR_RETURN(acts.n, JsonGet<int64_t>(*m, "n_prompts", what));
  LMLAB_ASSIGN_OR_RETURN(acts.n_layers, JsonGet<int64_t>(*m, "n_layers", what));
  LMLAB_ASSIGN_OR_RETURN(acts.n_embd, JsonGet<int64_t>(*m, "n_embd", what));
  // Sizes come from a file: bound them before allocating (each layer file must
  // hold n * n_embd floats, so a real entry is never near these limits).
  constexpr int64_t kMaxDim = int64_t{1} << 31;
  if (acts.n <= 0 || acts.n_layers <= 0 || acts.n_embd <= 0 || acts.n > kMaxDim || acts.n_layers > 4096 ||
      acts.n_embd > (int64_t{1} << 20) || acts.n * acts.n_embd > kMaxDim)
    return ParseError(fmt::format("{}: implausible sizes (n_prompts {}, n_layers {}, n_embd {})", what, acts.n,
                                  acts.n_layers, acts.n_embd));
  acts.data.resize(static_cast<size_t>(acts.n * acts.n_layers * acts.n_embd));
  for (int64_t l = 0; l < acts.n_layers; ++l) {
    LMLAB_ASSIGN_OR_RETURN(NpyArray a, ReadNpy(LayerPath(dir, l)));
    if (a.shape != std::vector<int64_t>{acts.n, acts.n_embd})
      return ParseError(fmt::format("{} has shape {}, the manifest says ({}, {})", LayerPath(dir, l).string(),
                                    ShapeText(a.shape), acts.n, acts.n_embd));
    std::memcpy(acts.data.data() + l * acts.n * acts.n_embd, a.data.data(), a.data.size() * sizeof(float));
  }
  return acts;
}

Result<LayerActivations> CaptureCached(runtime::ActivationModel& model, const std::vector<std::string>& prompts,
                                       const CaptureOptions& o, CaptureStats* stats) {
  CaptureStats local;
  CaptureStats& st = stats ? *stats : local;
  st = {};
  if (prompts.empty()) return InvalidArgument("no prompts to capture");
  if (o.dir.empty()) return InvalidArgument("CaptureOptions::dir is empty");
  const int64_t n = static_cast<int64_t>(prompts.size());
  const std::string hash = PromptsHash(prompts, o.position);

  if (std::filesystem::exists(o.dir / "manifest.json")) {
    // A manifest that does not parse or describes other prompts is rebuilt below.
    auto text = ReadFile(o.dir / "manifest.json");
    auto m = text ? ParseJson(*text, "manifest.json") : Result<nlohmann::json>(nlohmann::json());
    auto got_hash = m ? JsonGet<std::string>(*m, "prompts_hash", "manifest.json") : Result<std::string>("");
    auto got_dtype = m ? JsonGet<std::string>(*m, "dtype", "manifest.json") : Result<std::string>("");
    if (got_hash && *got_hash == hash && got_dtype &&
        *got_dtype == (o.dtype == StoreDtype::kFloat16 ? "float16" : "float32")) {
      auto acts = LoadCacheEntry(o.dir);
      if (acts) {
        st.from_cache = true;
        return acts;
      }
    }
  }

  const int64_t chunk = std::max<int64_t>(1, o.chunk_prompts);
  const int64_t n_chunks = (n + chunk - 1) / chunk;
  // A partial run is reused only if it captured the same prompts in the same chunks.
  nlohmann::json plan = {{"prompts_hash", hash}, {"chunk_prompts", chunk}, {"n_prompts", n}};
  const std::filesystem::path plan_path = o.dir / "partial" / "plan.json";
  bool resume = false;
  if (auto text = ReadFile(plan_path)) {
    auto old = ParseJson(*text, plan_path.string());
    resume = old && *old == plan;
  }
  if (!resume && std::filesystem::exists(o.dir / "partial")) {
    std::error_code ec;
    std::filesystem::remove_all(o.dir / "partial", ec);
  }

  int64_t n_layers = 0, n_embd = 0;
  std::vector<std::vector<float>> chunks(n_chunks);  // each [m, n_layers, n_embd]
  for (int64_t c = 0; c < n_chunks; ++c) {
    const int64_t begin = c * chunk, end = std::min(n, begin + chunk);
    if (resume) {
      if (auto arr = ReadNpy(ChunkPath(o.dir, c)); arr && arr->shape.size() == 3 && arr->shape[0] == end - begin &&
                                                    (n_layers == 0 || (arr->shape[1] == n_layers && arr->shape[2] == n_embd))) {
        n_layers = arr->shape[1];
        n_embd = arr->shape[2];
        chunks[c] = std::move(arr->data);
        st.resumed += end - begin;
        Report(o.progress, {"capturing activations", static_cast<double>(end), static_cast<double>(n), "prompts", "resumed"});
        continue;
      }
    }
    if (o.cancel && o.cancel->load())
      return MakeError(ErrorCode::kCancelled,
                       fmt::format("stopped after {} of {} prompts; run again to resume", begin, n));
    LMLAB_ASSIGN_OR_RETURN(runtime::Activations acts, CaptureChunk(model, prompts, begin, end, BaseRequest(o), "", st));
    if (acts.n_prompts != end - begin || acts.n_layers <= 0 || acts.n_embd <= 0 ||
        static_cast<int64_t>(acts.data.size()) != acts.n_prompts * acts.n_layers * acts.n_embd)
      return Internal("the model returned activations of the wrong shape");
    if (n_layers != 0 && (acts.n_layers != n_layers || acts.n_embd != n_embd))
      return Internal("the model's activation shape changed between chunks");
    n_layers = acts.n_layers;
    n_embd = acts.n_embd;
    if (!std::filesystem::exists(plan_path)) LMLAB_RETURN_IF_ERROR(WriteFast(plan_path, DumpJson(plan, 2)));
    LMLAB_RETURN_IF_ERROR(WriteFast(ChunkPath(o.dir, c),
                                    NpyBytes(acts.data.data(), {end - begin, n_layers, n_embd}, StoreDtype::kFloat32)));
    chunks[c] = std::move(acts.data);
    st.captured += end - begin;
    ReportCaptured(o, "capturing activations", end, n, st);
  }

  LayerActivations out{n, n_layers, n_embd, {}};
  out.data.resize(static_cast<size_t>(n * n_layers * n_embd));
  for (int64_t c = 0; c < n_chunks; ++c) {
    const int64_t begin = c * chunk, m = std::min(n, begin + chunk) - begin;
    for (int64_t p = 0; p < m; ++p)
      for (int64_t l = 0; l < n_layers; ++l)
        std::memcpy(out.data.data() + (l * n + begin + p) * n_embd, chunks[c].data() + (p * n_layers + l) * n_embd,
                    sizeof(float) * n_embd);
  }
  chunks.clear();
  for (int64_t l = 0; l < n_layers; ++l)
    LMLAB_RETURN_IF_ERROR(WriteFast(LayerPath(o.dir, l), NpyBytes(out.layer(l), {n, n_embd}, o.dtype)));
  if (o.dtype == StoreDtype::kFloat16)  // return what a later load would see
    for (float& v : out.data) v = HalfToFloat(FloatToHalf(v));
  LMLAB_RETURN_IF_ERROR(WriteFast(o.dir / "prompts.json", DumpJson(nlohmann::json(prompts), 1)));
  // The manifest is the commit marker: written last, durably.
  nlohmann::json manifest = ManifestHeader("lmlab activation cache", o, n);
  manifest.update({
      {"n_layers", n_layers},
      {"n_embd", n_embd},
      {"dtype", o.dtype == StoreDtype::kFloat16 ? "float16" : "float32"},
      {"layout", "layer_LLL.npy: [n_prompts, n_embd], row p is prompts.json[p]; residual stream after block L"},
      {"prompts_hash", hash},
  });
  LMLAB_RETURN_IF_ERROR(WriteFileAtomic(o.dir / "manifest.json", DumpJson(manifest, 2)));
  std::error_code ec;
  std::filesystem::remove_all(o.dir / "partial", ec);
  return out;
}

const float* MlpActivations::layer(int64_t l) const {
  auto it = std::find(layers.begin(), layers.end(), l);
  return it == layers.end() ? nullptr : data[static_cast<size_t>(it - layers.begin())].data();
}

Result<MlpActivations> CaptureMlpCached(runtime::ActivationModel& model, const std::vector<std::string>& prompts,
                                        const std::vector<int64_t>& layers, const CaptureOptions& o,
                                        CaptureStats* stats) {
  CaptureStats local;
  CaptureStats& st = stats ? *stats : local;
  st = {};
  if (prompts.empty()) return InvalidArgument("no prompts to capture");
  if (o.dir.empty()) return InvalidArgument("CaptureOptions::dir is empty");
  if (layers.empty()) return InvalidArgument("no MLP blocks requested");
  for (int64_t l : layers)
    if (l < 0) return InvalidArgument(fmt::format("MLP block {} does not exist", l));
  const int64_t n = static_cast<int64_t>(prompts.size());
  const std::string hash = PromptsHash(prompts, o.position);
  const std::string dtype = o.dtype == StoreDtype::kFloat16 ? "float16" : "float32";
  MlpActivations out;
  out.n = n;
  out.layers = layers;
  std::sort(out.layers.begin(), out.layers.end());
  out.layers.erase(std::unique(out.layers.begin(), out.layers.end()), out.layers.end());
  out.data.resize(out.layers.size());

  // The blocks the entry holds for exactly these prompts, position and dtype.
  const std::filesystem::path manifest_path = o.dir / "mlp.json";
  std::vector<int64_t> held;
  if (auto m = ReadMlpManifest(manifest_path, hash, dtype, n)) {
    out.n_ff = m->n_ff;
    held = std::move(m->layers);
  }
  std::vector<int64_t> missing;
  std::vector<int64_t> kept;  // held blocks whose files are intact
  for (size_t i = 0; i < out.layers.size(); ++i) {
    const int64_t l = out.layers[i];
    if (std::find(held.begin(), held.end(), l) != held.end()) {
      auto arr = ReadNpy(MlpPath(o.dir, l));
      if (arr && arr->shape == std::vector<int64_t>{n, out.n_ff}) {
        out.data[i] = std::move(arr->data);
        continue;
      }
    }
    missing.push_back(l);
  }
  for (int64_t l : held)
    if (std::find(missing.begin(), missing.end(), l) == missing.end()) kept.push_back(l);
  if (missing.empty()) {
    st.from_cache = true;
    return out;
  }

  // One pass over the prompts for the missing blocks.
  const int64_t chunk = std::max<int64_t>(1, o.chunk_prompts);
  int64_t n_ff = 0;
  std::vector<std::vector<float>> captured(missing.size());
  for (int64_t begin = 0; begin < n; begin += chunk) {
    const int64_t end = std::min(n, begin + chunk);
    if (o.cancel && o.cancel->load())
      return MakeError(ErrorCode::kCancelled,
                       fmt::format("stopped capturing MLP activations after {} of {} prompts", begin, n));
    runtime::ActivationRequest req = BaseRequest(o);
    req.streams = runtime::ActivationStreams::kMlp;
    req.mlp_layers = missing;
    LMLAB_ASSIGN_OR_RETURN(runtime::Activations acts,
                           CaptureChunk(model, prompts, begin, end, std::move(req), "MLP activations of ", st));
    if (acts.n_prompts != end - begin || acts.n_ff <= 0 || (n_ff != 0 && acts.n_ff != n_ff))
      return Internal("the model returned MLP activations of the wrong shape");
    n_ff = acts.n_ff;
    for (size_t i = 0; i < missing.size(); ++i) {
      if (!acts.has_mlp(missing[i]) ||
          static_cast<int64_t>(acts.mlp[static_cast<size_t>(missing[i])].size()) != (end - begin) * n_ff)
        return Internal(fmt::format("the model returned no MLP activations for block {}", missing[i]));
      const std::vector<float>& rows = acts.mlp[static_cast<size_t>(missing[i])];
      if (captured[i].empty()) captured[i].reserve(static_cast<size_t>(n * n_ff));
      captured[i].insert(captured[i].end(), rows.begin(), rows.end());
    }
    st.captured += end - begin;
    ReportCaptured(o, "capturing MLP activations", end, n, st);
  }
  if (!kept.empty() && n_ff != out.n_ff)
    return Unsupported(
        fmt::format("the cached MLP blocks have {} neurons and the new ones {}; request blocks of "
                    "different widths separately",
                    out.n_ff, n_ff));
  out.n_ff = n_ff;
  for (size_t i = 0; i < missing.size(); ++i) {
    LMLAB_RETURN_IF_ERROR(WriteFast(MlpPath(o.dir, missing[i]), NpyBytes(captured[i].data(), {n, n_ff}, o.dtype)));
    if (o.dtype == StoreDtype::kFloat16)  // return what a later load would see
      for (float& v : captured[i]) v = HalfToFloat(FloatToHalf(v));
    const size_t at =
        static_cast<size_t>(std::find(out.layers.begin(), out.layers.end(), missing[i]) - out.layers.begin());
    out.data[at] = std::move(captured[i]);
  }
  if (!std::filesystem::exists(o.dir / "prompts.json"))
    LMLAB_RETURN_IF_ERROR(WriteFast(o.dir / "prompts.json", DumpJson(nlohmann::json(prompts), 1)));
  // Another process may have added blocks to the manifest since it was read
  // above: under the entry's lock, re-read it and keep what it lists.
  LMLAB_ASSIGN_OR_RETURN(FileLock lock, FileLock::Acquire(o.dir / "mlp.lock"));
  std::vector<int64_t> now = kept;
  now.insert(now.end(), missing.begin(), missing.end());
  if (auto m = ReadMlpManifest(manifest_path, hash, dtype, n); m && m->n_ff == n_ff)
    now.insert(now.end(), m->layers.begin(), m->layers.end());
  std::sort(now.begin(), now.end());
  now.erase(std::unique(now.begin(), now.end()), now.end());
  // Written after the block files: a block listed here is complete.
  nlohmann::json manifest = ManifestHeader("lmlab MLP activation cache", o, n);
  manifest.update({
      {"n_ff", n_ff},
      {"layers", now},
      {"dtype", dtype},
      {"layout",
       "mlp_LLL.npy: [n_prompts, n_ff], row p is prompts.json[p]; MLP hidden activations of block L "
       "(the input of its ffn_down: act(gate) * up for SwiGLU)"},
      {"prompts_hash", hash},
  });
  LMLAB_RETURN_IF_ERROR(WriteFileAtomic(manifest_path, DumpJson(manifest, 2)));
  return out;
}

}  // namespace lmlab::probe
