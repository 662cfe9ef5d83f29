// .npy files and the resumable activation cache. The model here is a small
// deterministic stand-in for runtime::ActivationModel (the cache only needs
// its interface); the real llama.cpp model runs in pipeline_test.cc.
#include "lmlab/probe/activation_cache.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <fstream>
#include <functional>
#include <iterator>

#include <nlohmann/json.hpp>

#include "lmlab/core/file.h"

namespace lmlab::probe {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    std::string t = (fs::temp_directory_path() / "lmlab-probe-cache-XXXXXX").string();
    path = mkdtemp(t.data());
  }
  ~TempDir() { fs::remove_all(path); }
};

// Activation e of layer l for prompt text p: a function of the text, so a
// resumed run can be checked value by value.
float Value(const std::string& p, int64_t l, int64_t e) {
  return static_cast<float>(std::sin(0.1 * static_cast<double>(p.size() * 7 + l * 13 + e)) + p[0] * 0.01);
}

// MLP neuron j of block l: another function of the text.
float MlpValue(const std::string& p, int64_t l, int64_t j) {
  return static_cast<float>(std::cos(0.3 * static_cast<double>(p.size() * 3 + l * 5 + j)) - p.back() * 0.01);
}

class FakeModel : public runtime::ActivationModel {
 public:
  int64_t fail_on_call = -1;  // return an error on this call (0-based)
  int64_t calls = 0;
  int64_t prompts_seen = 0;
  std::vector<int64_t> last_mlp_layers;  // of the last MLP request
  Result<runtime::Activations> CaptureActivations(const runtime::ActivationRequest& r) override {
    if (calls++ == fail_on_call) return MakeError(ErrorCode::kIo, "simulated crash");
    runtime::Activations a;
    a.n_prompts = static_cast<int64_t>(r.prompts.size());
    a.n_layers = 3;
    a.n_embd = 4;
    if (r.streams != runtime::ActivationStreams::kMlp)
      for (const auto& p : r.prompts)
        for (int64_t l = 0; l < 3; ++l)
          for (int64_t e = 0; e < 4; ++e) a.data.push_back(Value(p, l, e));
    a.mlp.resize(3);
    if (r.streams != runtime::ActivationStreams::kResidual) {
      last_mlp_layers = r.mlp_layers;
      a.n_ff = 5;
      for (int64_t l : r.mlp_layers) {
        if (l < 0 || l >= 3) return InvalidArgument("mlp_layers: block " + std::to_string(l) + " does not exist");
        a.mlp[l].clear();
        for (const auto& p : r.prompts)
          for (int64_t j = 0; j < 5; ++j) a.mlp[l].push_back(MlpValue(p, l, j));
      }
    }
    prompts_seen += a.n_prompts;
    return a;
  }
  Result<std::vector<int32_t>> Tokenize(std::string_view text, runtime::AddBos) override {
    return std::vector<int32_t>(text.begin(), text.end());
  }
  int64_t n_vocab() const override { return 256; }
};

class NoLayersModel : public runtime::ActivationModel {
 public:
  Result<runtime::Activations> CaptureActivations(const runtime::ActivationRequest&) override {
    return Unsupported("this model's graph has no l_out tensors");
  }
  Result<std::vector<int32_t>> Tokenize(std::string_view, runtime::AddBos) override { return std::vector<int32_t>{}; }
  int64_t n_vocab() const override { return 0; }
};

std::vector<std::string> Prompts(int n) {
  std::vector<std::string> p;
  for (int i = 0; i < n; ++i) p.push_back("entity number " + std::to_string(i));
  return p;
}

TEST(Npy, RoundTripFloat32AndFloat16) {
  TempDir dir;
  std::vector<float> v = {0.0f, 1.0f, -2.5f, 65504.0f, 1e-5f, 3.14159f};
  ASSERT_TRUE(WriteNpy(dir.path / "a.npy", v.data(), {2, 3}, StoreDtype::kFloat32));
  auto a = ReadNpy(dir.path / "a.npy");
  ASSERT_TRUE(a) << a.error().ToString();
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a->data, v);
  // The header is what numpy writes: magic, version 1.0, 64-byte aligned, newline-terminated.
  std::ifstream in(dir.path / "a.npy", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  size_t hlen = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
  EXPECT_EQ((10 + hlen) % 64, 0u);
  EXPECT_EQ(bytes[10 + hlen - 1], '\n');
  EXPECT_NE(bytes.find("'shape': (2, 3), "), std::string::npos);

  ASSERT_TRUE(WriteNpy(dir.path / "h.npy", v.data(), {6}, StoreDtype::kFloat16));
  auto h = ReadNpy(dir.path / "h.npy");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->shape, std::vector<int64_t>{6});
  EXPECT_EQ(h->data[3], 65504.0f);  // the largest half
  EXPECT_NEAR(h->data[5], 3.14159f, 2e-3);
  EXPECT_NEAR(h->data[4], 1e-5f, 1e-7);  // a subnormal half
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xc000);
  EXPECT_EQ(HalfToFloat(0x3555), 0.333251953125f);
}

TEST(Npy, RejectsOtherFiles) {
  TempDir dir;
  std::ofstream(dir.path / "x.npy") << "hello";
  EXPECT_FALSE(ReadNpy(dir.path / "x.npy"));
  EXPECT_FALSE(ReadNpy(dir.path / "missing.npy"));
}

TEST(ActivationCache, WritesLayersManifestAndReloads) {
  TempDir dir;
  FakeModel model;
  auto prompts = Prompts(10);
  CaptureOptions o;
  o.dir = dir.path / "entry";
  o.chunk_prompts = 4;
  CaptureStats st;
  auto acts = CaptureCached(model, prompts, o, &st);
  ASSERT_TRUE(acts) << acts.error().ToString();
  EXPECT_EQ(st.captured, 10);
  EXPECT_EQ(acts->n, 10);
  EXPECT_EQ(acts->n_layers, 3);
  EXPECT_EQ(acts->LayerMatrix(2)(7, 1), static_cast<double>(Value(prompts[7], 2, 1)));
  for (int l = 0; l < 3; ++l) EXPECT_TRUE(fs::exists(o.dir / ("layer_00" + std::to_string(l) + ".npy")));
  EXPECT_TRUE(fs::exists(o.dir / "manifest.json"));
  EXPECT_FALSE(fs::exists(o.dir / "partial"));
  auto layer = ReadNpy(o.dir / "layer_001.npy");
  ASSERT_TRUE(layer);
  EXPECT_EQ(layer->shape, (std::vector<int64_t>{10, 4}));

  // A second run reads the cache and never calls the model.
  FakeModel again;
  auto cached = CaptureCached(again, prompts, o, &st);
  ASSERT_TRUE(cached);
  EXPECT_TRUE(st.from_cache);
  EXPECT_EQ(again.calls, 0);
  EXPECT_EQ(cached->data, acts->data);
}

TEST(ActivationCache, ResumesAfterAnInterruptedRun) {
  TempDir dir;
  auto prompts = Prompts(10);
  CaptureOptions o;
  o.dir = dir.path / "entry";
  o.chunk_prompts = 3;  // chunks of 3, 3, 3, 1
  FakeModel crashing;
  crashing.fail_on_call = 2;  // dies on the third chunk
  auto first = CaptureCached(crashing, prompts, o);
  ASSERT_FALSE(first);
  EXPECT_NE(first.error().message.find("prompts 7..9 of 10"), std::string::npos) << first.error().message;
  EXPECT_FALSE(fs::exists(o.dir / "manifest.json"));  // nothing looks complete
  EXPECT_FALSE(fs::exists(o.dir / "layer_000.npy"));
  EXPECT_TRUE(fs::exists(o.dir / "partial" / "chunk_000001.npy"));

  FakeModel model;
  CaptureStats st;
  auto resumed = CaptureCached(model, prompts, o, &st);
  ASSERT_TRUE(resumed) << resumed.error().ToString();
  EXPECT_EQ(st.resumed, 6);
  EXPECT_EQ(st.captured, 4);
  EXPECT_EQ(model.prompts_seen, 4);
  for (int p = 0; p < 10; ++p)
    EXPECT_EQ(resumed->layer(1)[p * 4 + 3], Value(prompts[p], 1, 3)) << p;

  // Different prompts in the same directory start over instead of mixing.
  auto other = Prompts(11);
  FakeModel fresh;
  ASSERT_TRUE(CaptureCached(fresh, other, o, &st));
  EXPECT_EQ(fresh.prompts_seen, 11);
}

TEST(ActivationCache, ATruncatedLayerFileIsCapturedAgain) {
  TempDir dir;
  auto prompts = Prompts(6);
  CaptureOptions o;
  o.dir = dir.path / "entry";
  FakeModel first;
  ASSERT_TRUE(CaptureCached(first, prompts, o));
  fs::resize_file(o.dir / "layer_002.npy", 100);  // what a power loss can leave behind
  EXPECT_FALSE(LoadCacheEntry(o.dir));
  FakeModel second;
  CaptureStats st;
  auto again = CaptureCached(second, prompts, o, &st);
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_FALSE(st.from_cache);
  EXPECT_EQ(second.prompts_seen, 6);
  EXPECT_TRUE(LoadCacheEntry(o.dir));
}

TEST(ActivationCache, CancelStopsBetweenChunks) {
  TempDir dir;
  std::atomic<bool> cancel{false};
  CaptureOptions o;
  o.dir = dir.path / "entry";
  o.chunk_prompts = 2;
  o.cancel = &cancel;
  int reports = 0;
  o.progress = [&](const Progress&) {
    if (++reports == 2) cancel = true;
  };
  FakeModel model;
  auto r = CaptureCached(model, Prompts(8), o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kCancelled);
  EXPECT_EQ(model.prompts_seen, 4);
  EXPECT_FALSE(fs::exists(o.dir / "manifest.json"));
}

TEST(ActivationCache, ModelWithoutLayerOutputsWritesNothing) {
  TempDir dir;
  NoLayersModel model;
  CaptureOptions o;
  o.dir = dir.path / "entry";
  auto r = CaptureCached(model, Prompts(3), o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnsupported);
  EXPECT_NE(r.error().message.find("l_out"), std::string::npos);
  EXPECT_FALSE(fs::exists(o.dir));
}

TEST(ActivationCache, Float16Entry) {
  TempDir dir;
  FakeModel model;
  CaptureOptions o;
  o.dir = dir.path / "entry";
  o.dtype = StoreDtype::kFloat16;
  auto prompts = Prompts(5);
  auto acts = CaptureCached(model, prompts, o);
  ASSERT_TRUE(acts);
  auto loaded = LoadCacheEntry(o.dir);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->data, acts->data);
  EXPECT_NEAR(acts->layer(0)[0], Value(prompts[0], 0, 0), 1e-3);
  EXPECT_EQ(fs::file_size(o.dir / "layer_000.npy"), 128 + 5 * 4 * 2u);  // 2 bytes a value after the header
}

TEST(ActivationCache, EntryDirSeparatesModelsAndPrompts) {
  TempDir dir;
  std::ofstream(dir.path / "a.gguf") << "a";
  std::ofstream(dir.path / "b.gguf") << "b";
  auto p = Prompts(2);
  EXPECT_NE(CacheEntryDir("/c", dir.path / "a.gguf", "world", "bare", p),
            CacheEntryDir("/c", dir.path / "b.gguf", "world", "bare", p));
  EXPECT_NE(CacheEntryDir("/c", dir.path / "a.gguf", "world", "bare", p),
            CacheEntryDir("/c", dir.path / "a.gguf", "world", "bare", Prompts(3)));
  EXPECT_EQ(CacheEntryDir("/c", dir.path / "a.gguf", "world", "bare", p),
            CacheEntryDir("/c", dir.path / "a.gguf", "world", "bare", p));
}

TEST(MlpCache, WritesBlockFilesAndReloadsOnlyWhatItHas) {
  TempDir dir;
  auto prompts = Prompts(7);
  CaptureOptions o;
  o.dir = dir.path / "entry";
  o.chunk_prompts = 3;
  FakeModel model;
  CaptureStats st;
  auto mlp = CaptureMlpCached(model, prompts, {2, 0, 2}, o, &st);
  ASSERT_TRUE(mlp) << mlp.error().ToString();
  EXPECT_FALSE(st.from_cache);
  EXPECT_EQ(st.captured, 7);
  EXPECT_EQ(model.calls, 3);  // chunks of 3, 3, 1
  EXPECT_EQ(mlp->n, 7);
  EXPECT_EQ(mlp->n_ff, 5);
  EXPECT_EQ(mlp->layers, (std::vector<int64_t>{0, 2}));
  ASSERT_NE(mlp->layer(2), nullptr);
  EXPECT_EQ(mlp->layer(1), nullptr);
  EXPECT_EQ(mlp->layer(2)[6 * 5 + 4], MlpValue(prompts[6], 2, 4));
  EXPECT_EQ(mlp->layer(0)[1 * 5 + 0], MlpValue(prompts[1], 0, 0));
  auto file = ReadNpy(o.dir / "mlp_002.npy");
  ASSERT_TRUE(file);
  EXPECT_EQ(file->shape, (std::vector<int64_t>{7, 5}));
  EXPECT_FALSE(fs::exists(o.dir / "mlp_001.npy"));
  EXPECT_TRUE(fs::exists(o.dir / "mlp.json"));
  EXPECT_TRUE(fs::exists(o.dir / "prompts.json"));
  // The residual entry is not made complete by MLP files.
  EXPECT_FALSE(fs::exists(o.dir / "manifest.json"));

  // Held blocks come from the cache without running the model.
  FakeModel again;
  auto cached = CaptureMlpCached(again, prompts, {2}, o, &st);
  ASSERT_TRUE(cached);
  EXPECT_TRUE(st.from_cache);
  EXPECT_EQ(again.calls, 0);
  EXPECT_EQ(cached->data[0], mlp->data[1]);

  // A new block is captured alone; the cached one is reused.
  FakeModel more;
  auto both = CaptureMlpCached(more, prompts, {1, 2}, o, &st);
  ASSERT_TRUE(both) << both.error().ToString();
  EXPECT_FALSE(st.from_cache);
  EXPECT_EQ(more.last_mlp_layers, (std::vector<int64_t>{1}));
  EXPECT_EQ(both->layer(1)[3 * 5 + 2], MlpValue(prompts[3], 1, 2));
  EXPECT_EQ(both->layer(2)[3 * 5 + 2], MlpValue(prompts[3], 2, 2));
  FakeModel all;
  ASSERT_TRUE(CaptureMlpCached(all, prompts, {0, 1, 2}, o, &st));
  EXPECT_TRUE(st.from_cache);
  EXPECT_EQ(all.calls, 0);

  // Other prompts, another position or dtype, or a damaged file: captured again.
  FakeModel other;
  auto fewer = CaptureMlpCached(other, Prompts(6), {2}, o, &st);
  ASSERT_TRUE(fewer);
  EXPECT_EQ(other.prompts_seen, 6);
  EXPECT_EQ(fewer->n, 6);
  FakeModel mean;
  CaptureOptions om = o;
  om.position = runtime::TokenPosition::kMean;
  ASSERT_TRUE(CaptureMlpCached(mean, Prompts(6), {2}, om, &st));
  EXPECT_FALSE(st.from_cache);
  FakeModel half;
  CaptureOptions oh = o;
  oh.dtype = StoreDtype::kFloat16;
  auto h = CaptureMlpCached(half, Prompts(6), {2}, oh, &st);
  ASSERT_TRUE(h);
  EXPECT_FALSE(st.from_cache);
  EXPECT_NEAR(h->layer(2)[0], MlpValue(Prompts(6)[0], 2, 0), 1e-3);
  FakeModel half_again;
  auto h2 = CaptureMlpCached(half_again, Prompts(6), {2}, oh, &st);
  ASSERT_TRUE(h2);
  EXPECT_TRUE(st.from_cache);
  EXPECT_EQ(h2->data, h->data);  // what was returned is what a load sees
  fs::resize_file(o.dir / "mlp_002.npy", 100);
  FakeModel repair;
  ASSERT_TRUE(CaptureMlpCached(repair, Prompts(6), {2}, oh, &st));
  EXPECT_FALSE(st.from_cache);
  EXPECT_EQ(repair.prompts_seen, 6);
}

// Captures of different blocks into one entry, one after another or with the
// manifest rewritten by someone else mid-capture, keep every block listed.
TEST(MlpCache, CapturesOfOtherBlocksKeepEachOthersBlocks) {
  TempDir dir;
  auto prompts = Prompts(5);
  CaptureOptions o;
  o.dir = dir.path / "entry";
  o.chunk_prompts = 2;
  FakeModel first;
  ASSERT_TRUE(CaptureMlpCached(first, prompts, {0}, o));
  FakeModel second;
  ASSERT_TRUE(CaptureMlpCached(second, prompts, {1}, o));
  auto listed = [&] {
    std::ifstream in(o.dir / "mlp.json");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<int64_t> layers;
    const size_t at = text.find("\"layers\"");
    if (at == std::string::npos) return layers;
    for (size_t i = text.find('[', at) + 1; i < text.size() && text[i] != ']'; ++i)
      if (std::isdigit(static_cast<unsigned char>(text[i]))) layers.push_back(text[i] - '0');
    return layers;
  };
  EXPECT_EQ(listed(), (std::vector<int64_t>{0, 1}));

  // Block 2 is captured while another process finishes block 1 of a fresh
  // entry and lists it: the manifest read before the capture lacks block 1.
  const fs::path full = dir.path / "full";
  fs::rename(o.dir, full);
  FakeModel again;
  ASSERT_TRUE(CaptureMlpCached(again, prompts, {0}, o));
  std::ifstream manifest_in(full / "mlp.json");
  const std::string full_manifest((std::istreambuf_iterator<char>(manifest_in)), std::istreambuf_iterator<char>());
  struct MidCaptureWriter : FakeModel {
    std::function<void()> during;
    Result<runtime::Activations> CaptureActivations(const runtime::ActivationRequest& r) override {
      if (calls == 1) during();
      return FakeModel::CaptureActivations(r);
    }
  } concurrent;
  concurrent.during = [&] {
    fs::copy_file(full / "mlp_001.npy", o.dir / "mlp_001.npy");
    std::ofstream(o.dir / "mlp.json", std::ios::trunc) << full_manifest;  // lists 0 and 1
  };
  auto third = CaptureMlpCached(concurrent, prompts, {2}, o);
  ASSERT_TRUE(third) << third.error().ToString();
  EXPECT_EQ(concurrent.last_mlp_layers, (std::vector<int64_t>{2}));
  EXPECT_EQ(listed(), (std::vector<int64_t>{0, 1, 2}));
  FakeModel none;
  auto all = CaptureMlpCached(none, prompts, {0, 1, 2}, o);
  ASSERT_TRUE(all) << all.error().ToString();
  EXPECT_EQ(none.calls, 0);
  EXPECT_EQ(all->layer(1)[4 * 5 + 3], MlpValue(prompts[4], 1, 3));
  // No temporary files are left behind.
  for (const auto& e : fs::directory_iterator(o.dir))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
}

TEST(MlpCache, Errors) {
  TempDir dir;
  CaptureOptions o;
  o.dir = dir.path / "entry";
  FakeModel model;
  auto none = CaptureMlpCached(model, Prompts(3), {}, o);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kInvalidArgument);
  auto negative = CaptureMlpCached(model, Prompts(3), {-1}, o);
  ASSERT_FALSE(negative);
  EXPECT_EQ(negative.error().code, ErrorCode::kInvalidArgument);
  // A block the model lacks: the model's kInvalidArgument, with the prompt range.
  auto beyond = CaptureMlpCached(model, Prompts(3), {1, 3}, o);
  ASSERT_FALSE(beyond);
  EXPECT_EQ(beyond.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(beyond.error().message.find("block 3 does not exist"), std::string::npos) << beyond.error().message;
  EXPECT_FALSE(fs::exists(o.dir / "mlp.json"));
  EXPECT_FALSE(fs::exists(o.dir / "mlp_001.npy"));
  std::atomic<bool> cancel{true};
  o.cancel = &cancel;
  auto stopped = CaptureMlpCached(model, Prompts(3), {1}, o);
  ASSERT_FALSE(stopped);
  EXPECT_EQ(stopped.error().code, ErrorCode::kCancelled);
}

// A damaged or hostile manifest (hand-edited, half-synced, another tool's) is
// an error from LoadCacheEntry and a rebuild from CaptureCached, never an
// exception or a giant allocation.
TEST(ActivationCache, ACorruptManifestIsRebuiltNotACrash) {
  TempDir dir;
  auto prompts = Prompts(5);
  CaptureOptions o;
  o.dir = dir.path / "entry";
  FakeModel first;
  ASSERT_TRUE(CaptureCached(first, prompts, o));
  auto good = ReadFile(o.dir / "manifest.json").value();
  const std::string hash = nlohmann::json::parse(good)["prompts_hash"];
  const std::vector<std::string> corrupt = {
      "",
      "{not json",
      "[1, 2, 3]",
      "42",
      R"({"prompts_hash": 7, "dtype": "float32"})",
      R"({"prompts_hash": ")" + hash + R"(", "dtype": "float32", "n_prompts": "five", "n_layers": 3, "n_embd": 4})",
      R"({"prompts_hash": ")" + hash + R"(", "dtype": "float32", "n_prompts": 5, "n_layers": 3, "n_embd": 1e300})",
      R"({"prompts_hash": ")" + hash + R"(", "dtype": "float32", "n_prompts": 4000000000000, "n_layers": 3, "n_embd": 4})",
      R"({"prompts_hash": ")" + hash + R"(", "dtype": "float32", "n_prompts": -5, "n_layers": 3, "n_embd": 4})",
  };
  for (const std::string& text : corrupt) {
    SCOPED_TRACE(text);
    ASSERT_TRUE(WriteFileAtomic(o.dir / "manifest.json", text));
    auto loaded = LoadCacheEntry(o.dir);
    ASSERT_FALSE(loaded);
    EXPECT_EQ(loaded.error().code, ErrorCode::kParse);
    EXPECT_NE(loaded.error().message.find("manifest.json"), std::string::npos) << loaded.error().message;
    FakeModel again;
    CaptureStats st;
    auto rebuilt = CaptureCached(again, prompts, o, &st);
    ASSERT_TRUE(rebuilt) << rebuilt.error().ToString();
    EXPECT_FALSE(st.from_cache);
    EXPECT_EQ(again.prompts_seen, 5);
    EXPECT_EQ(rebuilt->LayerMatrix(1)(3, 2), static_cast<double>(Value(prompts[3], 1, 2)));
  }
  // The MLP manifest: damaged means its blocks are captured again.
  FakeModel mlp_first;
  ASSERT_TRUE(CaptureMlpCached(mlp_first, prompts, {1}, o));
  for (const std::string& text : {std::string("[]"), std::string(R"({"prompts_hash": [], "layers": "all"})")}) {
    ASSERT_TRUE(WriteFileAtomic(o.dir / "mlp.json", text));
    FakeModel again;
    auto mlp = CaptureMlpCached(again, prompts, {1}, o);
    ASSERT_TRUE(mlp) << mlp.error().ToString();
    EXPECT_EQ(again.last_mlp_layers, std::vector<int64_t>{1});
  }
}

TEST(Npy, AShapeLargerThanTheFileIsAnErrorNotAnAllocation) {
  TempDir dir;
  std::vector<float> v = {1, 2, 3, 4};
  ASSERT_TRUE(WriteNpy(dir.path / "a.npy", v.data(), {2, 2}, StoreDtype::kFloat32));
  std::string bytes = ReadFile(dir.path / "a.npy").value();
  for (std::string shape : {"(99999999999999999999, 2)", "(4294967296, 4294967296)", "(2, 3)"}) {
    std::string hacked = bytes;
    size_t at = hacked.find("(2, 2)");
    ASSERT_NE(at, std::string::npos);
    hacked.replace(at, 6, shape);
    hacked[8] = static_cast<char>(static_cast<unsigned char>(hacked[8]) + shape.size() - 6);  // header length
    ASSERT_TRUE(WriteFileAtomic(dir.path / "b.npy", hacked));
    auto r = ReadNpy(dir.path / "b.npy");
    ASSERT_FALSE(r) << shape;
    EXPECT_EQ(r.error().code, ErrorCode::kParse) << r.error().message;
  }
}

}  // namespace
}  // namespace lmlab::probe
