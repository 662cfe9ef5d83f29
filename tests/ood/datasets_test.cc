// IDX and MNIST-JSON readers: handmade files, real packages, and bad input.
#include "lmlab/ood/datasets.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "lmlab/core/file.h"

namespace lmlab::ood {
namespace {

namespace fs = std::filesystem;

class IdxFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lmlab_ood_idx_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::string Header(uint32_t magic, std::vector<uint32_t> dims) {
    std::string s;
    auto put = [&](uint32_t v) {
      for (int shift = 24; shift >= 0; shift -= 8) s.push_back(static_cast<char>((v >> shift) & 0xff));
    };
    put(magic);
    for (uint32_t d : dims) put(d);
    return s;
  }
  fs::path Write(const std::string& name, const std::string& bytes) {
    fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  fs::path WriteGz(const std::string& name, const std::string& bytes) {
    fs::path p = dir_ / name;
    gzFile f = gzopen(p.c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
    return p;
  }
  // Two 28x28 images: the first all 0, the second all 255 except pixel 5 = 51.
  std::string TwoImages() {
    std::string s = Header(0x803, {2, 28, 28});
    s.append(784, '\0');
    std::string second(784, static_cast<char>(255));
    second[5] = 51;
    return s + second;
  }
  fs::path dir_;
};

TEST_F(IdxFiles, HandmadeGzipAndPlain) {
  auto images = WriteGz("img.gz", TwoImages());
  auto labels = Write("lab", Header(0x801, {2}) + std::string{'\x03', '\x09'});
  auto set = LoadIdxPair(images, labels, "handmade");
  ASSERT_TRUE(set.has_value()) << set.error().ToString();
  ASSERT_EQ(set->size(), 2);
  EXPECT_EQ(set->labels[0], 3);
  EXPECT_EQ(set->labels[1], 9);
  EXPECT_FLOAT_EQ(set->image(0)[100], 0.0f);
  EXPECT_FLOAT_EQ(set->image(1)[0], 1.0f);
  EXPECT_FLOAT_EQ(set->image(1)[5], 0.2f);
}

TEST_F(IdxFiles, CorruptFilesAreParseErrors) {
  auto labels = Write("lab", Header(0x801, {2}) + std::string{'\x01', '\x02'});
  // wrong magic (a label file given as images)
  auto r = LoadIdxPair(labels, labels, "x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kParse);
  EXPECT_NE(r.error().message.find("magic"), std::string::npos) << r.error().message;
  // truncated image data
  std::string img = TwoImages();
  auto truncated = Write("trunc", img.substr(0, img.size() - 10));
  r = LoadIdxPair(truncated, labels, "x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kParse);
  EXPECT_NE(r.error().message.find("promises"), std::string::npos) << r.error().message;
  // a truncated header and garbage that claims to be gzip
  r = LoadIdxPair(Write("short", "\x00\x00"), labels, "x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kParse);
  std::string gz = "\x1f\x8b\x08\x00garbage-not-deflate";
  r = LoadIdxPair(Write("bad.gz", gz), labels, "x");
  ASSERT_FALSE(r);
  // missing file
  r = LoadIdxPair(dir_ / "nope", labels, "x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
}

TEST_F(IdxFiles, LabelOutOfRangeCountMismatchAndEmpty) {
  auto images = Write("img", TwoImages());
  auto r = LoadIdxPair(images, Write("lab", Header(0x801, {2}) + std::string{'\x01', '\x0a'}), "x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("label 10"), std::string::npos) << r.error().message;
  r = LoadIdxPair(images, Write("lab1", Header(0x801, {1}) + std::string{'\x01'}), "x");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("1 labels but 2 images"), std::string::npos) << r.error().message;
  r = LoadIdxPair(Write("img0", Header(0x803, {0, 28, 28})), Write("lab0", Header(0x801, {0})), "x");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("empty"), std::string::npos) << r.error().message;
}

TEST(DigitJson, ParsesAndRejectsBadInput) {
  std::string ok = "{\"data\": [";
  for (int i = 0; i < 784 * 2; ++i) ok += (i ? "," : "") + std::string(i == 3 ? "0.5" : "0");
  ok += "]}";
  auto set = ParseDigitJson(ok, 7);
  ASSERT_TRUE(set) << set.error().ToString();
  EXPECT_EQ(set->size(), 2);
  EXPECT_EQ(set->labels[1], 7);
  EXPECT_FLOAT_EQ(set->pixels[3], 0.5f);

  EXPECT_EQ(ParseDigitJson("{\"data\": [0, 1,", 1).error().code, ErrorCode::kParse);
  EXPECT_EQ(ParseDigitJson("[1, 2]", 1).error().code, ErrorCode::kParse);
  EXPECT_EQ(ParseDigitJson("{\"data\": [0.5, 0.5]}", 1).error().code, ErrorCode::kParse);  // not 784k values
  EXPECT_EQ(ParseDigitJson("{\"data\": []}", 1).error().code, ErrorCode::kInvalidArgument);
  std::string out_of_range = ok;
  out_of_range.replace(out_of_range.find("0.5"), 3, "7.5");
  EXPECT_EQ(ParseDigitJson(out_of_range, 1).error().code, ErrorCode::kParse);
  EXPECT_EQ(ParseDigitJson(ok, 10).error().code, ErrorCode::kInvalidArgument);  // label out of range
}

TEST(RealData, FashionMnistTestAndMnistDigits) {
  auto test = LoadFashionMnist(Split::kTest);
  ASSERT_TRUE(test) << test.error().ToString();
  EXPECT_EQ(test->size(), 10000);
  // Fashion-MNIST is balanced: 1,000 images per class in the test set.
  EXPECT_EQ(std::count(test->labels.begin(), test->labels.end(), 4), 1000);
  auto digits = LoadMnistDigits();
  ASSERT_TRUE(digits) << digits.error().ToString();
  EXPECT_GT(digits->size(), 9000);
  for (int d = 0; d < 10; ++d) EXPECT_GT(std::count(digits->labels.begin(), digits->labels.end(), d), 500) << d;
}

TEST(RealData, SubsampleKeepsPairs) {
  ImageSet s;
  s.name = "s";
  for (int i = 0; i < 5; ++i) {
    s.pixels.insert(s.pixels.end(), 784, i / 10.0f);
    s.labels.push_back(i);
  }
  ImageSet sub = Subsample(s, 3, 42);
  ASSERT_EQ(sub.size(), 3);
  for (int64_t i = 0; i < 3; ++i) EXPECT_FLOAT_EQ(sub.image(i)[10], sub.labels[i] / 10.0f);
}

}  // namespace
}  // namespace lmlab::ood
