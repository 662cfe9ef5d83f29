#include "lmlab/ood/datasets.h"

#include <zlib.h>

#include <algorithm>
#include <memory>
#include <numeric>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lmlab/core/data_packages.h"
#include "lmlab/core/file.h"

namespace lmlab::ood {
namespace {

constexpr uint32_t kIdxImagesMagic = 0x00000803;  // u8 data, 3 dimensions
constexpr uint32_t kIdxLabelsMagic = 0x00000801;  // u8 data, 1 dimension
// More than this is not an image set we could hold anyway; guards against a
// corrupt header asking for terabytes.
constexpr uint64_t kMaxIdxBytes = uint64_t{1} << 31;

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};

// The whole (decompressed) file. zlib reads plain files transparently.
Result<std::string> ReadMaybeGzip(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return NotFound(path.string() + ": no such file");
  std::unique_ptr<gzFile_s, GzCloser> f(gzopen(path.c_str(), "rb"));
  if (!f) return IoError(path.string() + ": cannot open");
  std::string out;
  char buf[1 << 16];
  while (true) {
    int n = gzread(f.get(), buf, sizeof buf);
    if (n < 0) {
      int errnum = 0;
      const char* msg = gzerror(f.get(), &errnum);
      return ParseError(path.string() + ": corrupt gzip data (" + (msg ? msg : "unknown") + ")");
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxIdxBytes) return ParseError(path.string() + ": larger than 2 GiB, not an IDX file");
  }
  return out;
}

uint32_t BigEndian32(const std::string& s, size_t at) {
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(s[at + i])); };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

Result<std::string> ReadIdx(const std::filesystem::path& path, uint32_t magic, std::vector<uint64_t>* dims) {
  LMLAB_ASSIGN_OR_RETURN(std::string data, ReadMaybeGzip(path));
  size_t n_dims = magic & 0xff;
  size_t header = 4 + 4 * n_dims;
  if (data.size() < 4)
    return ParseError(fmt::format("{}: truncated IDX header ({} bytes)", path.string(), data.size()));
  uint32_t got = BigEndian32(data, 0);
  if (got != magic)
    return ParseError(fmt::format("{}: not an IDX {} file (magic 0x{:08x}, expected 0x{:08x})", path.string(),
                                  n_dims == 1 ? "label" : "image", got, magic));
  if (data.size() < header)
    return ParseError(fmt::format("{}: truncated IDX header ({} bytes)", path.string(), data.size()));
  uint64_t count = 1;
  dims->clear();
  for (size_t i = 0; i < n_dims; ++i) {
    dims->push_back(BigEndian32(data, 4 + 4 * i));
    count *= dims->back();
    if (count > kMaxIdxBytes) return ParseError(path.string() + ": IDX header claims an absurd size");
  }
  if (data.size() - header != count)
    return ParseError(fmt::format("{}: IDX header promises {} bytes of data, file has {}", path.string(), count,
                                  data.size() - header));
  return data.substr(header);
}

}  // namespace

Result<std::vector<float>> ReadIdxImages(const std::filesystem::path& path, int64_t* rows, int64_t* cols) {
  std::vector<uint64_t> dims;
  LMLAB_ASSIGN_OR_RETURN(std::string data, ReadIdx(path, kIdxImagesMagic, &dims));
  *rows = static_cast<int64_t>(dims[1]);
  *cols = static_cast<int64_t>(dims[2]);
  std::vector<float> out(data.size());
  for (size_t i = 0; i < data.size(); ++i) out[i] = static_cast<unsigned char>(data[i]) / 255.0f;
  return out;
}

Result<std::vector<int32_t>> ReadIdxLabels(const std::filesystem::path& path) {
  std::vector<uint64_t> dims;
  LMLAB_ASSIGN_OR_RETURN(std::string data, ReadIdx(path, kIdxLabelsMagic, &dims));
  std::vector<int32_t> out(data.size());
  for (size_t i = 0; i < data.size(); ++i) out[i] = static_cast<unsigned char>(data[i]);
  return out;
}

Status Validate(const ImageSet& set) {
  if (set.labels.empty()) return InvalidArgument(set.name + ": the image set is empty");
  if (set.rows != kImageSide || set.cols != kImageSide)
    return InvalidArgument(fmt::format("{}: images are {}x{}, expected {}x{}", set.name, set.rows, set.cols,
                                       kImageSide, kImageSide));
  if (set.pixels.size() != set.labels.size() * static_cast<size_t>(set.rows * set.cols))
    return InvalidArgument(fmt::format("{}: {} labels but {} images", set.name, set.labels.size(),
                                       set.pixels.size() / static_cast<size_t>(set.rows * set.cols)));
  for (size_t i = 0; i < set.labels.size(); ++i)
    if (set.labels[i] < 0 || set.labels[i] >= set.n_classes)
      return InvalidArgument(fmt::format("{}: label {} of image {} is outside [0, {})", set.name, set.labels[i], i,
                                         set.n_classes));
  for (float p : set.pixels)
    if (!(p >= 0.0f && p <= 1.0f)) return InvalidArgument(set.name + ": a pixel value is outside [0, 1]");
  return {};
}

Result<ImageSet> LoadIdxPair(const std::filesystem::path& images, const std::filesystem::path& labels,
                             std::string name) {
  ImageSet set;
  set.name = std::move(name);
  LMLAB_ASSIGN_OR_RETURN(set.pixels, ReadIdxImages(images, &set.rows, &set.cols));
  LMLAB_ASSIGN_OR_RETURN(set.labels, ReadIdxLabels(labels));
  LMLAB_RETURN_IF_ERROR(Validate(set));
  return set;
}

Result<ImageSet> LoadFashionMnist(Split split) {
  const std::filesystem::path dir = "/usr/share/datasets/fashion-mnist";
  std::string prefix = split == Split::kTrain ? "train" : "t10k";
  LMLAB_ASSIGN_OR_RETURN(auto images,
                         DebianFile("dataset-fashion-mnist", dir / (prefix + "-images-idx3-ubyte.gz")));
  LMLAB_ASSIGN_OR_RETURN(auto labels,
                         DebianFile("dataset-fashion-mnist", dir / (prefix + "-labels-idx1-ubyte.gz")));
  return LoadIdxPair(images, labels, split == Split::kTrain ? "fashion-mnist/train" : "fashion-mnist/test");
}

Result<ImageSet> ParseDigitJson(std::string_view json, int digit) {
  if (digit < 0 || digit >= kNumClasses) return InvalidArgument(fmt::format("digit {} is outside [0, 9]", digit));
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return ParseError(fmt::format("digit {}: not valid JSON", digit));
  if (!j.is_object() || !j.contains("data") || !j["data"].is_array())
    return ParseError(fmt::format("digit {}: expected an object {{\"data\": [...]}}", digit));
  const auto& data = j["data"];
  if (data.empty()) return InvalidArgument(fmt::format("digit {}: no images", digit));
  if (data.size() % kImagePixels != 0)
    return ParseError(fmt::format("digit {}: {} values is not a whole number of 784-pixel images", digit, data.size()));
  ImageSet set;
  set.name = "mnist";
  set.pixels.reserve(data.size());
  for (const auto& v : data) {
    if (!v.is_number()) return ParseError(fmt::format("digit {}: a pixel is not a number", digit));
    double x = v.get<double>();
    if (!(x >= 0.0 && x <= 1.0)) return ParseError(fmt::format("digit {}: pixel value {} is outside [0, 1]", digit, x));
    set.pixels.push_back(static_cast<float>(x));
  }
  set.labels.assign(data.size() / kImagePixels, digit);
  return set;
}

Result<ImageSet> LoadMnistDigitsFrom(const std::filesystem::path& package_dir) {
  ImageSet all;
  all.name = "mnist";
  std::string bundle;  // read lazily: 21 MB
  for (int d = 0; d < kNumClasses; ++d) {
    std::filesystem::path file = package_dir / "src" / "digits" / fmt::format("{}.json", d);
    std::string json;
    if (std::filesystem::exists(file)) {
      LMLAB_ASSIGN_OR_RETURN(json, ReadFile(file));
    } else {
      if (bundle.empty()) {
        LMLAB_ASSIGN_OR_RETURN(bundle, ReadFile(package_dir / "dist" / "mnist.js"));
      }
      // browserify: {..., "./digits/3.json":4, ...} maps the file to module 4,
      // whose body is `4:[function(require,module,exports){\nmodule.exports={...}\n},{}]`.
      std::string key = fmt::format("\"./digits/{}.json\":", d);
      size_t at = bundle.find(key);
      if (at == std::string::npos)
        return ParseError(fmt::format("{}: dist/mnist.js has no module for digit {}", package_dir.string(), d));
      int module = std::atoi(bundle.c_str() + at + key.size());
      std::string head = fmt::format("{}:[function(require,module,exports){{", module);
      size_t start = std::string::npos;
      for (size_t p = bundle.find(head); p != std::string::npos; p = bundle.find(head, p + 1))
        if (p > 0 && (bundle[p - 1] == '{' || bundle[p - 1] == ',')) { start = p; break; }
      if (start == std::string::npos)
        return ParseError(fmt::format("{}: dist/mnist.js: module {} not found", package_dir.string(), module));
      size_t body = bundle.find("module.exports=", start);
      size_t end = body == std::string::npos ? body : bundle.find("\n},{", body);
      if (end == std::string::npos)
        return ParseError(fmt::format("{}: dist/mnist.js: module {} is malformed", package_dir.string(), module));
      body += std::string_view("module.exports=").size();
      json = bundle.substr(body, end - body);
    }
    auto part = ParseDigitJson(json, d);
    if (!part) return std::unexpected(part.error().WithContext(file.string()));
    all.pixels.insert(all.pixels.end(), part->pixels.begin(), part->pixels.end());
    all.labels.insert(all.labels.end(), part->labels.begin(), part->labels.end());
  }
  LMLAB_RETURN_IF_ERROR(Validate(all));
  return all;
}

Result<ImageSet> LoadMnistDigits() {
  LMLAB_ASSIGN_OR_RETURN(auto dir, NpmPackageDir("mnist"));
  return LoadMnistDigitsFrom(dir);
}

ImageSet Subsample(const ImageSet& set, int64_t n, uint64_t seed) {
  std::vector<int64_t> order(static_cast<size_t>(set.size()));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  if (n < set.size()) order.resize(static_cast<size_t>(n));
  ImageSet out;
  out.name = set.name;
  out.rows = set.rows;
  out.cols = set.cols;
  out.n_classes = set.n_classes;
  const int64_t px = set.rows * set.cols;
  out.pixels.reserve(order.size() * px);
  for (int64_t i : order) {
    out.pixels.insert(out.pixels.end(), set.image(i), set.image(i) + px);
    out.labels.push_back(set.labels[i]);
  }
  return out;
}

}  // namespace lmlab::ood
