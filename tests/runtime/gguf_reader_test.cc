// Reading tensors back out of GGUF files: ones runtime's writer made, and
// hand-built ones with F16, quantised (Q8_0) and unsupported tensors.
#include "lmlab/runtime/gguf_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "lmlab/runtime/gguf_writer.h"
#include "lmlab/runtime/tiny_model.h"

namespace lmlab::runtime {
namespace {

namespace fs = std::filesystem;

fs::path TempPath(const std::string& name) {
  // The pid keeps concurrent runs (ctest -j, other checkouts) apart.
  return fs::path(::testing::TempDir()) / ("lmlab-gguf-reader-" + std::to_string(::getpid()) + "-" + name);
}

// A small llama model from the writer: every value is (i % 97) * 0.5, plus
// 1000 in blk.0.ffn_down.weight.
struct SmallModel {
  fs::path path;
  std::vector<std::vector<float>> data;
  std::vector<GgufTensor> tensors;  // views of data
};

SmallModel WriteSmallModel(const std::string& name) {
  LlamaHparams hp;
  hp.n_embd = 8;
  hp.n_layer = 1;
  hp.n_head = 2;
  hp.n_head_kv = 2;
  hp.n_ff = 12;
  LlamaVocab vocab = TinyVocab(0);
  hp.n_vocab = static_cast<int64_t>(vocab.tokens.size());
  SmallModel m;
  std::vector<TensorShape> layout = LlamaTensorLayout(hp);
  for (const TensorShape& s : layout) {
    int64_t count = 1;
    for (int64_t d : s.shape) count *= d;
    std::vector<float> v(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i)
      v[i] = static_cast<float>(i % 97) * 0.5f + (s.name == "blk.0.ffn_down.weight" ? 1000 : 0);
    m.data.push_back(std::move(v));
  }
  for (size_t i = 0; i < layout.size(); ++i) m.tensors.push_back({layout[i].name, layout[i].shape, m.data[i]});
  m.path = TempPath(name);
  auto written = WriteLlamaGguf(m.path, hp, vocab, m.tensors);
  EXPECT_TRUE(written) << written.error().ToString();
  return m;
}

TEST(GgufReader, ReadsWhatTheWriterWrote) {
  SmallModel model = WriteSmallModel("model.gguf");
  const fs::path& path = model.path;
  const std::vector<GgufTensor>& tensors = model.tensors;

  auto list = ListGgufTensors(path);
  ASSERT_TRUE(list) << list.error().ToString();
  ASSERT_EQ(list->size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ((*list)[i].name, tensors[i].name);
    EXPECT_EQ((*list)[i].shape, tensors[i].shape);
    EXPECT_EQ((*list)[i].type, 0u);
    EXPECT_EQ((*list)[i].type_name, "f32");
    EXPECT_EQ((*list)[i].n_bytes, tensors[i].data.size() * 4);
  }
  // ffn_down is [n_ff, n_embd] in ggml order: 8 rows (one per residual unit) of 12 neurons.
  auto down = ReadGgufMatrix(path, "blk.0.ffn_down.weight");
  ASSERT_TRUE(down) << down.error().ToString();
  EXPECT_EQ(down->rows, 8);
  EXPECT_EQ(down->cols, 12);
  EXPECT_FLOAT_EQ(down->at(2, 5), 1000 + (2 * 12 + 5) % 97 * 0.5f);
  auto norm = ReadGgufMatrix(path, "blk.0.ffn_norm.weight");
  ASSERT_TRUE(norm) << norm.error().ToString();
  EXPECT_EQ(norm->rows, 1);
  EXPECT_EQ(norm->cols, 8);
  EXPECT_FLOAT_EQ(norm->at(0, 7), 3.5f);
  auto missing = ReadGgufMatrix(path, "blk.9.ffn_up.weight");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("blk.9.ffn_up.weight"), std::string::npos);
  fs::remove(path);
}

// A GGUF v3 file written byte by byte (no key-value pairs, alignment 32).
class GgufBuilder {
 public:
  void Add(const std::string& name, std::vector<int64_t> ne, uint32_t type, std::string bytes) {
    tensors_.push_back({name, std::move(ne), type, std::move(bytes)});
  }
  std::string Bytes() const {
    std::string out = "GGUF";
    Put<uint32_t>(out, 3);
    Put<uint64_t>(out, tensors_.size());
    Put<uint64_t>(out, 0);
    uint64_t offset = 0;
    for (const Tensor& t : tensors_) {
      Put<uint64_t>(out, t.name.size());
      out += t.name;
      Put<uint32_t>(out, static_cast<uint32_t>(t.ne.size()));
      for (int64_t d : t.ne) Put<uint64_t>(out, static_cast<uint64_t>(d));
      Put<uint32_t>(out, t.type);
      Put<uint64_t>(out, offset);
      offset += Pad(t.bytes.size());
    }
    out.resize(Pad(out.size()), '\0');
    for (const Tensor& t : tensors_) {
      out += t.bytes;
      out.resize(Pad(out.size()), '\0');
    }
    return out;
  }

 private:
  struct Tensor {
    std::string name;
    std::vector<int64_t> ne;
    uint32_t type;
    std::string bytes;
  };
  template <class T>
  static void Put(std::string& out, T v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  static size_t Pad(size_t n) { return (n + 31) / 32 * 32; }
  std::vector<Tensor> tensors_;
};

template <class T>
std::string Raw(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

fs::path WriteFile(const std::string& name, const std::string& bytes) {
  fs::path path = TempPath(name);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

TEST(GgufReader, ConvertsHalfAndQuantisedTensors) {
  GgufBuilder b;
  // F16 [4, 2]: 0, 1, -2, 0.5 / 3, 4, -1, 2.
  b.Add("half", {4, 2}, 1, Raw<uint16_t>({0x0000, 0x3C00, 0xC000, 0x3800, 0x4200, 0x4400, 0xBC00, 0x4000}));
  // Q8_0 [32, 2]: one block per row, an F16 scale then 32 int8 values: row 0
  // is 0.5 * (i - 16), row 1 is 2 * (i - 16).
  std::string q8;
  for (uint16_t scale : {uint16_t{0x3800}, uint16_t{0x4000}}) {
    q8 += Raw<uint16_t>({scale});
    for (int i = 0; i < 32; ++i) q8 += static_cast<char>(static_cast<int8_t>(i - 16));
  }
  b.Add("q8", {32, 2}, 8, q8);
  b.Add("ints", {4}, 26, Raw<int32_t>({1, 2, 3, 4}));                 // I32
  b.Add("cube", {2, 2, 2}, 0, Raw<float>({1, 2, 3, 4, 5, 6, 7, 8}));  // 3-D F32
  fs::path path = WriteFile("mixed.gguf", b.Bytes());

  auto list = ListGgufTensors(path);
  ASSERT_TRUE(list) << list.error().ToString();
  ASSERT_EQ(list->size(), 4u);
  EXPECT_EQ((*list)[0].type_name, "f16");
  EXPECT_EQ((*list)[1].type_name, "q8_0");
  EXPECT_EQ((*list)[1].n_bytes, 68u);
  EXPECT_EQ((*list)[1].shape, (std::vector<int64_t>{32, 2}));
  EXPECT_EQ((*list)[3].shape, (std::vector<int64_t>{2, 2, 2}));

  auto half = ReadGgufMatrix(path, "half");
  ASSERT_TRUE(half) << half.error().ToString();
  EXPECT_EQ(half->data, (std::vector<float>{0, 1, -2, 0.5f, 3, 4, -1, 2}));
  EXPECT_EQ(half->rows, 2);

  auto q = ReadGgufMatrix(path, "q8");
  ASSERT_TRUE(q) << q.error().ToString();
  ASSERT_EQ(q->rows, 2);
  ASSERT_EQ(q->cols, 32);
  for (int i = 0; i < 32; ++i) {
    EXPECT_FLOAT_EQ(q->at(0, i), 0.5f * (i - 16));
    EXPECT_FLOAT_EQ(q->at(1, i), 2.0f * (i - 16));
  }

  auto ints = ReadGgufMatrix(path, "ints");
  ASSERT_FALSE(ints);
  EXPECT_EQ(ints.error().code, ErrorCode::kUnsupported);
  EXPECT_NE(ints.error().message.find("i32"), std::string::npos) << ints.error().message;
  auto cube = ReadGgufMatrix(path, "cube");
  ASSERT_FALSE(cube);
  EXPECT_EQ(cube.error().code, ErrorCode::kUnsupported);
  fs::remove(path);
}

TEST(GgufReader, MalformedAndTruncatedFiles) {
  EXPECT_EQ(ListGgufTensors(TempPath("does-not-exist.gguf")).error().code, ErrorCode::kNotFound);

  fs::path junk = WriteFile("junk.gguf", "not a model");
  auto not_gguf = ListGgufTensors(junk);
  ASSERT_FALSE(not_gguf);
  EXPECT_EQ(not_gguf.error().code, ErrorCode::kParse);
  EXPECT_NE(not_gguf.error().message.find("not a GGUF file"), std::string::npos);
  fs::remove(junk);

  fs::path model = WriteSmallModel("whole.gguf").path;
  std::string bytes;
  {
    std::ifstream in(model, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  fs::remove(model);
  ASSERT_GT(bytes.size(), 4096u);

  // Cut inside the header (the vocabulary): ggml's reader refuses it.
  fs::path header_cut = WriteFile("header-cut.gguf", bytes.substr(0, 1000));
  auto h = ListGgufTensors(header_cut);
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().code, ErrorCode::kParse);
  EXPECT_NE(h.error().message.find("malformed, truncated"), std::string::npos) << h.error().message;
  EXPECT_EQ(ReadGgufMatrix(header_cut, "output.weight").error().code, ErrorCode::kParse);
  fs::remove(header_cut);

  // Cut inside the data: the header still lists, the last tensor cannot be read.
  fs::path data_cut = WriteFile("data-cut.gguf", bytes.substr(0, bytes.size() - 100));
  auto list = ListGgufTensors(data_cut);
  ASSERT_TRUE(list) << list.error().ToString();
  auto last = ReadGgufMatrix(data_cut, list->back().name);
  ASSERT_FALSE(last);
  EXPECT_EQ(last.error().code, ErrorCode::kParse);
  EXPECT_NE(last.error().message.find("truncated"), std::string::npos) << last.error().message;
  EXPECT_TRUE(ReadGgufMatrix(data_cut, list->front().name)) << "tensors before the cut stay readable";
  fs::remove(data_cut);

  // An unsupported version.
  std::string v9 = bytes;
  v9[4] = 9;
  fs::path version = WriteFile("version.gguf", v9);
  EXPECT_EQ(ListGgufTensors(version).error().code, ErrorCode::kParse);
  fs::remove(version);
}

}  // namespace
}  // namespace lmlab::runtime
