// Checked parsing (core/parse.h) and checked JSON (core/json.h): every bad
// input is an Error naming what was read, never an exception.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "lmlab/core/json.h"
#include "lmlab/core/parse.h"

namespace lmlab {
namespace {

using nlohmann::json;

bool Has(const Error& e, std::string_view s) { return e.message.find(s) != std::string::npos; }

TEST(ParseNumber, WholeTextOrError) {
  EXPECT_EQ(ParseInt("42", "n").value(), 42);
  EXPECT_EQ(ParseInt("-7", "n").value(), -7);
  EXPECT_EQ(ParseInt("ff", "escape", 16).value(), 255);
  EXPECT_EQ(ParseUint("18446744073709551615", "seed").value(), 18446744073709551615ull);
  for (std::string_view bad : {"", " 1", "1 ", "+1", "0x10", "1.5", "12abc", "--1"}) {
    auto r = ParseInt(bad, "count");
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kParse);
    EXPECT_TRUE(Has(r.error(), "count")) << r.error().message;
  }
  EXPECT_TRUE(Has(ParseInt("99999999999999999999", "n").error(), "out of range"));
  EXPECT_TRUE(Has(ParseUint("-1", "seed").error(), "negative"));
  EXPECT_FALSE(ParseInt("1", "n", 99));
}

TEST(ParseNumber, Doubles) {
  EXPECT_DOUBLE_EQ(ParseDouble("48.8566", "latitude").value(), 48.8566);
  EXPECT_DOUBLE_EQ(ParseDouble("-2e-3", "x").value(), -0.002);
  EXPECT_FALSE(ParseDouble("1e999", "x"));
  EXPECT_FALSE(ParseDouble("nan", "x"));
  EXPECT_TRUE(std::isnan(ParseDouble("nan", "x", NonFinite::kAllow).value()));
  EXPECT_FALSE(ParseDouble("", "x"));
  EXPECT_FALSE(ParseDouble("1,5", "x"));
  auto r = ParseDouble("\x01\x02", "cpu MHz");
  ASSERT_FALSE(r);
  EXPECT_TRUE(Has(r.error(), "cpu MHz")) << r.error().message;
  EXPECT_EQ(r.error().message.find('\x01'), std::string::npos) << "control bytes are not quoted raw";
}

TEST(Utf8, FirstInvalidByteAndWhereItIs) {
  constexpr size_t npos = std::string_view::npos;
  EXPECT_EQ(FirstInvalidUtf8("Zürich, 東京, 🙂"), npos);
  EXPECT_EQ(FirstInvalidUtf8(""), npos);
  EXPECT_EQ(FirstInvalidUtf8("ab\xfc"), 2u);           // Latin-1 ü
  EXPECT_EQ(FirstInvalidUtf8("\xc3"), 0u);             // cut short
  EXPECT_EQ(FirstInvalidUtf8("x\xc0\xaf"), 1u);        // overlong '/'
  EXPECT_EQ(FirstInvalidUtf8("\xed\xa0\x80"), 0u);     // a surrogate
  EXPECT_EQ(FirstInvalidUtf8("\xf4\x90\x80\x80"), 0u); // above U+10FFFF
  // Whatever it accepts, nlohmann::json serializes without throwing.
  for (std::string s : {std::string("\xe0\xa0\x80"), std::string("\xf0\x90\x80\x80"), std::string("\xef\xbf\xbf")}) {
    ASSERT_EQ(FirstInvalidUtf8(s), npos);
    EXPECT_NO_THROW((void)json(s).dump());
  }
  std::string text = "name,lat\nParis,1\nZ\xfcrich,2\n";
  EXPECT_EQ(DescribeOffset(text, FirstInvalidUtf8(text)), "line 3, column 2 (byte 0xfc)");
}

TEST(CheckedJson, ParseErrorsNameTheDocumentAndTheByte) {
  auto r = ParseJson("{\"a\": [1, 2", "manifest.json");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kParse);
  EXPECT_TRUE(Has(r.error(), "manifest.json is not valid JSON")) << r.error().message;
  EXPECT_TRUE(Has(r.error(), "byte")) << r.error().message;
  EXPECT_FALSE(ParseJson("\"\xff\"", "reply")) << "invalid UTF-8 inside a string is refused";
  EXPECT_EQ(ParseJson(" [1] ", "x").value(), json::array({1}));
}

TEST(CheckedJson, TypedFieldsNeverThrow) {
  json j = json::parse(R"({"n": 3, "big": 18446744073709551615, "neg": -1, "x": 1.5, "s": "hi",
                           "b": true, "v": [1, 2, 3], "mixed": [1, "a"], "nul": null})");
  EXPECT_EQ(JsonGet<int>(j, "n", "f").value(), 3);
  EXPECT_EQ(JsonGet<uint64_t>(j, "big", "f").value(), 18446744073709551615ull);
  EXPECT_FALSE(JsonGet<int64_t>(j, "big", "f"));
  EXPECT_FALSE(JsonGet<uint32_t>(j, "neg", "f"));
  EXPECT_FALSE(JsonGet<int>(j, "x", "f")) << "1.5 is not an integer";
  EXPECT_DOUBLE_EQ(JsonGet<double>(j, "n", "f").value(), 3.0);
  EXPECT_EQ(JsonGet<std::string>(j, "s", "f").value(), "hi");
  EXPECT_TRUE(JsonGet<bool>(j, "b", "f").value());
  EXPECT_EQ(JsonGet<std::vector<int>>(j, "v", "f").value(), (std::vector<int>{1, 2, 3}));
  auto mixed = JsonGet<std::vector<int>>(j, "mixed", "layers.json");
  ASSERT_FALSE(mixed);
  EXPECT_TRUE(Has(mixed.error(), "layers.json: \"mixed\" must be an array")) << mixed.error().message;
  auto missing = JsonGet<std::string>(j, "name", "reply");
  ASSERT_FALSE(missing);
  EXPECT_TRUE(Has(missing.error(), "\"name\" is missing")) << missing.error().message;
  EXPECT_FALSE(JsonGet<std::string>(json::array(), "s", "f"));
  EXPECT_FALSE(JsonGet<std::string>(j, "n", "f"));
  EXPECT_EQ(JsonGetOr<std::string>(j, "name", "none", "f").value(), "none");
  EXPECT_EQ(JsonGetOr<int>(j, "nul", 5, "f").value(), 5);
  EXPECT_FALSE(JsonGetOr<int>(j, "s", 5, "f")) << "present with the wrong type is an error, not the fallback";
}

TEST(CheckedJson, DumpReplacesInvalidUtf8) {
  json j = {{"name", std::string("Z\xfcrich")}, {"ok", "Zürich"}};
  EXPECT_THROW((void)j.dump(), json::type_error);  // what the helper exists for
  std::string out = DumpJson(j);
  EXPECT_NE(out.find("Z\xef\xbf\xbd" "rich"), std::string::npos) << out;  // U+FFFD
  EXPECT_NE(out.find("Zürich"), std::string::npos);
  EXPECT_TRUE(ParseJson(out, "dump"));
  EXPECT_NE(DumpJson(j, 2).find("\n  "), std::string::npos);
}

}  // namespace
}  // namespace lmlab
