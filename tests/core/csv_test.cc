// core/csv: the one CSV parser and its rules (see csv.h).
#include "lmlab/core/csv.h"

#include <gtest/gtest.h>

namespace lmlab {
namespace {

std::string ErrorOf(std::string_view text, CsvOptions o = {}) {
  auto t = ParseCsv(text, o);
  if (t) return "parsed";
  EXPECT_EQ(t.error().code, ErrorCode::kParse);
  return t.error().message;
}

TEST(Csv, QuotedFieldsWithCommasQuotesAndNewlines) {
  auto t = ParseCsv("id,text\n1,\"a, \"\"quoted\"\"\nline\"\n2,plain\r\n");
  ASSERT_TRUE(t) << t.error().ToString();
  ASSERT_EQ(t->rows.size(), 2u);
  EXPECT_EQ(t->rows[0][1], "a, \"quoted\"\nline");
  EXPECT_EQ(t->rows[1][1], "plain");
  EXPECT_EQ(t->row_lines[0], 2);
  EXPECT_EQ(t->row_lines[1], 4);  // the quoted newline counts as a line
  EXPECT_EQ(t->Column("text"), 1);
  EXPECT_EQ(t->Column("nope"), -1);
}

TEST(Csv, CrLfLineEndsAndCrLfInsideQuotes) {
  auto t = ParseCsv("a,b\r\n1,\"x\r\ny\"\r\n\r\n2,z");  // no final line end
  ASSERT_TRUE(t) << t.error().ToString();
  ASSERT_EQ(t->rows.size(), 2u);
  EXPECT_EQ(t->rows[0][1], "x\r\ny");  // kept as written inside quotes
  EXPECT_EQ(t->rows[1], (std::vector<std::string>{"2", "z"}));
  EXPECT_EQ(t->row_lines[1], 5);
}

TEST(Csv, EmptyFieldsLinesBomAndQuotedEmpty) {
  auto t = ParseCsv("\xEF\xBB\xBFname,x,y\n\n,,\n\"\",\"\",last\n\n");
  ASSERT_TRUE(t) << t.error().ToString();
  EXPECT_EQ(t->header[0], "name");  // the byte-order mark is not part of the name
  ASSERT_EQ(t->rows.size(), 2u);
  EXPECT_EQ(t->rows[0], (std::vector<std::string>{"", "", ""}));
  EXPECT_EQ(t->rows[1], (std::vector<std::string>{"", "", "last"}));
  EXPECT_EQ(t->row_lines[0], 3);
}

TEST(Csv, ShortAndLongRowsAreErrorsWithTheirLine) {
  EXPECT_NE(ErrorOf("a,b\n1,2,3\n").find("line 2: 3 fields but the header has 2"), std::string::npos);
  EXPECT_NE(ErrorOf("a,b,c\n1,2,3\n4,5\n").find("line 3: 2 fields"), std::string::npos);
}

TEST(Csv, ShortRowsPadOnlyWhenAskedAndLongRowsStayErrors) {
  // distro-info-data's tables leave trailing dates off a release's row.
  CsvOptions pad{.short_rows = ShortRows::kPad};
  auto t = ParseCsv("version,codename,eol\n12,bookworm\n11,bullseye,2024-08-14\n", pad);
  ASSERT_TRUE(t) << t.error().ToString();
  ASSERT_EQ(t->rows.size(), 2u);
  EXPECT_EQ(t->rows[0], (std::vector<std::string>{"12", "bookworm", ""}));
  EXPECT_EQ(t->rows[1][2], "2024-08-14");
  EXPECT_NE(ErrorOf("a,b\n1,2,3\n", pad).find("line 2: 3 fields but the header has 2"), std::string::npos);
  EXPECT_NE(ErrorOf("a,b,c\n1,2\n").find("line 2: 2 fields"), std::string::npos);  // the default is strict
}

TEST(Csv, StrayQuotesAreErrorsByDefault) {
  EXPECT_NE(ErrorOf("a,b\n1,the \"Case-Book\" of\n").find("line 2: a quote inside an unquoted field"),
            std::string::npos);
  EXPECT_NE(ErrorOf("a,b\n1,\"quoted\" tail\n").find("line 2: text after the closing quote"), std::string::npos);
}

TEST(Csv, BareQuotesLiteralAcceptsOnlyBareQuotes) {
  // FreshQA's questions quote titles inside unquoted fields.
  CsvOptions literal{.bare_quotes = BareQuotes::kLiteral};
  auto t = ParseCsv("a,b\n1,the \"Case-Book\" of\n", literal);
  ASSERT_TRUE(t) << t.error().ToString();
  EXPECT_EQ(t->rows[0][1], "the \"Case-Book\" of");
  // It does not make other mistakes acceptable.
  EXPECT_NE(ErrorOf("a,b\n1,\"quoted\" tail\n", literal).find("text after the closing quote"), std::string::npos);
  EXPECT_NE(ErrorOf("a,b\n1,2,3\n", literal).find("3 fields"), std::string::npos);
}

TEST(Csv, LoneCarriageReturnIsAnError) {
  EXPECT_NE(ErrorOf("a,b\r1,2\r").find("line 1: a carriage return without a line feed"), std::string::npos);
  EXPECT_NE(ErrorOf("a,b\n1,x\ry\n").find("line 2"), std::string::npos);
}

TEST(Csv, UnclosedQuoteNamesTheLineItStartsOn) {
  EXPECT_NE(ErrorOf("a,b\n1,\"open\n\nmore\n").find("line 2: a quoted field is never closed"), std::string::npos);
}

TEST(Csv, EmptyTextHasNoHeader) {
  EXPECT_NE(ErrorOf("").find("empty"), std::string::npos);
  EXPECT_NE(ErrorOf("\n\n").find("empty"), std::string::npos);
  auto header_only = ParseCsv("a,b\n");
  ASSERT_TRUE(header_only);
  EXPECT_TRUE(header_only->rows.empty());
}

TEST(Csv, FreshQaShapedRecords) {
  // The shapes FreshQA's file has (checked against the real file by hand):
  // CR LF line ends, multi-line quoted URL lists, bare quotes in questions.
  const char* text =
      "id,split,question,source,answer_0\r\n"
      "0,TEST,Who holds \"The Case-Book\"?,\"https://a.org/x\r\nhttps://b.org/y\",Someone\r\n"
      "1,DEV,plain,,\"a, b\"\r\n";
  auto t = ParseCsv(text, {.bare_quotes = BareQuotes::kLiteral});
  ASSERT_TRUE(t) << t.error().ToString();
  ASSERT_EQ(t->rows.size(), 2u);
  EXPECT_EQ(t->rows[0][2], "Who holds \"The Case-Book\"?");
  EXPECT_EQ(t->rows[0][3], "https://a.org/x\r\nhttps://b.org/y");
  EXPECT_EQ(t->rows[1][4], "a, b");
  EXPECT_EQ(t->row_lines[1], 4);
}

}  // namespace
}  // namespace lmlab
