#include "lmlab/probe/gguf_weights.h"

#include <fmt/format.h>

#include <cstring>
#include <fstream>

#include "lmlab/probe/activation_cache.h"  // HalfToFloat

namespace lmlab::probe {
namespace {

// GGUF metadata value types (gguf.h: enum gguf_type).
enum : uint32_t {
  kU8 = 0, kI8, kU16, kI16, kU32, kI32, kF32, kBool, kString, kArray, kU64, kI64, kF64,
};
constexpr uint32_t kTypeF32 = 0, kTypeF16 = 1;

struct Reader {
  std::ifstream in;
  bool ok = true;
  template <class T>
  T Get() {
    T v{};
    in.read(reinterpret_cast<char*>(&v), sizeof v);
    ok = ok && in.good();
    return v;
  }
  std::string String() {
    uint64_t n = Get<uint64_t>();
    if (!ok || n > (1u << 30)) {
      ok = false;
      return {};
    }
    std::string s(n, '\0');
    in.read(s.data(), static_cast<std::streamsize>(n));
    ok = ok && in.good();
    return s;
  }
  void Skip(uint32_t type) {
    static constexpr int kSize[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (type == kString) {
      String();
    } else if (type == kArray) {
      uint32_t inner = Get<uint32_t>();
      uint64_t n = Get<uint64_t>();
      if (inner == kString || inner == kArray) {
        for (uint64_t i = 0; i < n && ok; ++i) Skip(inner);
      } else if (inner <= kF64) {
        in.seekg(static_cast<std::streamoff>(n * kSize[inner]), std::ios::cur);
      } else {
        ok = false;
      }
    } else if (type <= kF64) {
      in.seekg(kSize[type], std::ios::cur);
    } else {
      ok = false;
    }
  }
};

struct Header {
  std::vector<GgufTensorInfo> tensors;
  std::vector<uint64_t> offsets;
  uint64_t data_start = 0;
};

Result<Header> ReadHeader(const std::filesystem::path& path) {
  Reader r{std::ifstream(path, std::ios::binary)};
  if (!r.in) return NotFound("cannot open " + path.string());
  char magic[4];
  r.in.read(magic, 4);
  if (!r.in || std::memcmp(magic, "GGUF", 4) != 0) return ParseError(path.string() + " is not a GGUF file");
  uint32_t version = r.Get<uint32_t>();
  if (version < 2 || version > 3) return ParseError(fmt::format("{}: GGUF version {} is not supported", path.string(), version));
  uint64_t n_tensors = r.Get<uint64_t>(), n_kv = r.Get<uint64_t>();
  uint64_t alignment = 32;
  for (uint64_t i = 0; i < n_kv && r.ok; ++i) {
    std::string key = r.String();
    uint32_t type = r.Get<uint32_t>();
    if (key == "general.alignment" && type == kU32) {
      alignment = r.Get<uint32_t>();
    } else {
      r.Skip(type);
    }
  }
  Header h;
  for (uint64_t i = 0; i < n_tensors && r.ok; ++i) {
    GgufTensorInfo t;
    t.name = r.String();
    uint32_t dims = r.Get<uint32_t>();
    if (dims > 4) return ParseError(path.string() + ": a tensor has more than 4 dimensions");
    for (uint32_t d = 0; d < dims; ++d) t.shape.push_back(static_cast<int64_t>(r.Get<uint64_t>()));
    t.type = r.Get<uint32_t>();
    h.offsets.push_back(r.Get<uint64_t>());
    h.tensors.push_back(std::move(t));
  }
  if (!r.ok || alignment == 0) return ParseError(path.string() + ": truncated or malformed GGUF header");
  uint64_t pos = static_cast<uint64_t>(r.in.tellg());
  h.data_start = (pos + alignment - 1) / alignment * alignment;
  return h;
}

}  // namespace

Result<std::vector<GgufTensorInfo>> ListGgufTensors(const std::filesystem::path& path) {
  LMLAB_ASSIGN_OR_RETURN(Header h, ReadHeader(path));
  return h.tensors;
}

Result<Eigen::MatrixXd> ReadGgufMatrix(const std::filesystem::path& path, const std::string& name) {
  LMLAB_ASSIGN_OR_RETURN(Header h, ReadHeader(path));
  for (size_t i = 0; i < h.tensors.size(); ++i) {
    const GgufTensorInfo& t = h.tensors[i];
    if (t.name != name) continue;
    if (t.shape.empty() || t.shape.size() > 2)
      return Unsupported(fmt::format("{} has {} dimensions; only vectors and matrices are read", name, t.shape.size()));
    if (t.type != kTypeF32 && t.type != kTypeF16)
      return Unsupported(fmt::format("{} is quantised (ggml type {}); the neuron weight search reads F32/F16 tensors only",
                                     name, t.type));
    const int64_t cols = t.shape[0], rows = t.shape.size() == 2 ? t.shape[1] : 1;
    const size_t elem = t.type == kTypeF32 ? 4 : 2;
    std::string bytes(static_cast<size_t>(rows * cols) * elem, '\0');
    std::ifstream in(path, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(h.data_start + h.offsets[i]));
    in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!in) return ParseError(fmt::format("{}: tensor {} runs past the end of the file", path.string(), name));
    Eigen::MatrixXd m(rows, cols);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        size_t at = static_cast<size_t>(r * cols + c) * elem;
        if (t.type == kTypeF32) {
          float f;
          std::memcpy(&f, bytes.data() + at, 4);
          m(r, c) = f;
        } else {
          uint16_t hv;
          std::memcpy(&hv, bytes.data() + at, 2);
          m(r, c) = HalfToFloat(hv);
        }
      }
    return m;
  }
  return NotFound(fmt::format("{} has no tensor named {}", path.string(), name));
}

}  // namespace lmlab::probe
