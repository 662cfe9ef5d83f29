#include "lmlab/train/tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "lmlab/train/corpus.h"
#include "tests/train/train_fixture.h"

namespace lmlab::train {
namespace {

using runtime::AddBos;
using runtime::TokenType;

TEST(TokenizerTest, LearnsSpecialsBytesCharactersAndMerges) {
  ASSERT_OK_AND_ASSIGN(Tokenizer tok, Tokenizer::Learn(testing::SmallCorpus(), {.vocab_size = 400}));
  const runtime::LlamaVocab& v = tok.vocab();
  ASSERT_EQ(tok.size(), 400);
  EXPECT_EQ(v.tokens[0], "<unk>");
  EXPECT_EQ(v.tokens[1], "<s>");
  EXPECT_EQ(v.tokens[2], "</s>");
  EXPECT_EQ(v.tokens[3], "<0x00>");
  EXPECT_EQ(v.tokens[3 + 0x41], "<0x41>");
  EXPECT_EQ(v.types[3 + 0xFF], TokenType::kByte);
  EXPECT_EQ(v.tokens[259], "\xe2\x96\x81");
  // Frequent words of the corpus became single pieces, scored by merge rank.
  auto id = [&](const std::string& t) {
    auto it = std::find(v.tokens.begin(), v.tokens.end(), t);
    return it == v.tokens.end() ? -1 : static_cast<int>(it - v.tokens.begin());
  };
  ASSERT_GE(id("\xe2\x96\x81" "capital"), 0);
  ASSERT_GE(id("\xe2\x96\x81" "is"), 0);
  EXPECT_GT(v.scores[id("\xe2\x96\x81" "is")], v.scores[id("\xe2\x96\x81" "capital")])
      << "shorter, more frequent merges come first and score higher";
}

TEST(TokenizerTest, EncodesWithSpacePrefixAndRoundTrips) {
  ASSERT_OK_AND_ASSIGN(Tokenizer tok, Tokenizer::Learn(testing::SmallCorpus(), {.vocab_size = 400}));
  std::vector<int32_t> ids = tok.Encode("Paris is the capital of France.", AddBos::kYes);
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids[0], tok.bos());
  EXPECT_LT(ids.size(), std::string("Paris is the capital of France.").size() / 2) << "merges should make this short";
  EXPECT_EQ(tok.Decode(ids), "Paris is the capital of France.");
  EXPECT_EQ(tok.vocab().tokens[ids[1]].rfind("\xe2\x96\x81", 0), 0u) << "first piece carries the space prefix";
  EXPECT_EQ(tok.Encode("", AddBos::kNo).size(), 0u);
}

TEST(TokenizerTest, UnseenCharactersFallBackToBytes) {
  ASSERT_OK_AND_ASSIGN(Tokenizer tok, Tokenizer::Learn(testing::SmallCorpus(), {.vocab_size = 400}));
  const std::string text = "the \xc3\xbc is \xe2\x82\xac";  // ü and the euro sign are not in the corpus
  std::vector<int32_t> ids = tok.Encode(text, AddBos::kNo);
  int bytes = 0;
  for (int32_t id : ids) bytes += tok.vocab().types[id] == TokenType::kByte;
  EXPECT_EQ(bytes, 2 + 3);
  EXPECT_EQ(tok.Decode(ids), text);
}

// Found by tests/fuzz/tokenizer_fuzz.cc: U+2581 is the space marker of
// SentencePiece vocabularies, so a literal one in the text decodes as a space,
// as in llama.cpp's own tokenizer (which runs the models lmlab exports).
// Every other UTF-8 text round-trips (the fuzz target checks that).
TEST(TokenizerTest, ALiteralSpaceMarkerDecodesAsASpace) {
  ASSERT_OK_AND_ASSIGN(Tokenizer tok, Tokenizer::Learn(testing::SmallCorpus(), {.vocab_size = 400}));
  EXPECT_EQ(tok.Decode(tok.Encode("a\xe2\x96\x81" "b", AddBos::kNo)), "a b");
  EXPECT_EQ(tok.Decode(tok.Encode("a\x06" "b  c\x18", AddBos::kNo)), "a\x06" "b  c\x18");
}

TEST(TokenizerTest, LearningIsDeterministic) {
  ASSERT_OK_AND_ASSIGN(Tokenizer a, Tokenizer::Learn(testing::SmallCorpus(), {.vocab_size = 380}));
  ASSERT_OK_AND_ASSIGN(Tokenizer b, Tokenizer::Learn(testing::SmallCorpus(), {.vocab_size = 380}));
  EXPECT_EQ(a.vocab().tokens, b.vocab().tokens);
  EXPECT_EQ(a.vocab().scores, b.vocab().scores);
}

TEST(TokenizerTest, RejectsTooSmallVocabularyAndEmptyText) {
  auto r = Tokenizer::Learn(testing::SmallCorpus(), {.vocab_size = 100});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("too small"), std::string::npos);
  std::vector<std::string> empty;
  EXPECT_FALSE(Tokenizer::Learn(empty, {}).has_value());
}

TEST(TokenizerTest, SplitDigitsKeepsEveryNumberDigitByDigit) {
  std::vector<std::string> docs = testing::SmallCorpus();
  for (int i = 0; i < 50; ++i) docs.push_back("zlib 1:1.2.13.dfsg-1 was uploaded on Nov 05, 2022 and 2022 again 1969 1969");
  ASSERT_OK_AND_ASSIGN(Tokenizer plain, Tokenizer::Learn(docs, {.vocab_size = 500}));
  ASSERT_OK_AND_ASSIGN(Tokenizer split, Tokenizer::Learn(docs, {.vocab_size = 500, .split_digits = true}));
  auto has_merged_digit = [](const Tokenizer& t) {
    for (size_t i = 0; i < t.vocab().tokens.size(); ++i) {
      const std::string& s = t.vocab().tokens[i];
      if (t.vocab().types[i] != TokenType::kNormal || s.size() < 2) continue;
      if (std::any_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) return true;
    }
    return false;
  };
  EXPECT_TRUE(has_merged_digit(plain));  // the frequent years merge without the option
  EXPECT_FALSE(has_merged_digit(split));
  // "2022" is four tokens, whatever surrounds it; the text round-trips.
  std::vector<int32_t> ids = split.Encode("in 2022", AddBos::kNo);
  ASSERT_GE(ids.size(), 4u);
  std::vector<std::string> tail;
  for (size_t i = ids.size() - 4; i < ids.size(); ++i) tail.push_back(split.vocab().tokens[ids[i]]);
  EXPECT_EQ(tail, (std::vector<std::string>{"2", "0", "2", "2"}));
  EXPECT_EQ(split.Decode(split.Encode("version 1:1.2.13", AddBos::kYes)), "version 1:1.2.13");
}

TEST(CorpusTest, SplitsDocumentsAtBlankLines) {
  auto docs = SplitDocuments("first line\nstill first\n\n\n  second  \r\n\nthird");
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(docs[0], "first line\nstill first");
  EXPECT_EQ(docs[1], "second");
  EXPECT_EQ(docs[2], "third");
}

TEST(CorpusTest, EmptyMissingAndBinaryCorporaAreClearErrors) {
  testing::TempDir dir;
  auto write = [&](const std::string& name, const std::string& body) {
    auto p = dir.path() / name;
    FILE* f = fopen(p.c_str(), "wb");
    fwrite(body.data(), 1, body.size(), f);
    fclose(f);
    return p;
  };
  auto r = LoadCorpus(write("empty.txt", "\n\n  \n"));
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("is empty"), std::string::npos) << r.error().message;
  r = LoadCorpus(write("bin.dat", std::string("\x7f" "ELF\x02\x01\x01\0\0\0", 10)));
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("looks binary"), std::string::npos) << r.error().message;
  r = LoadCorpus(write("latin1.txt", "caf\xe9 au lait"));
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("not valid UTF-8"), std::string::npos) << r.error().message;
  r = LoadCorpus(dir.path() / "missing.txt");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  auto sub = dir.path() / "sub";
  std::filesystem::create_directories(sub);
  write("sub/a.txt", "one\n\ntwo");
  write("sub/b.txt", "three");
  ASSERT_OK_AND_ASSIGN(auto docs, LoadCorpus(sub));
  EXPECT_EQ(docs, (std::vector<std::string>{"one", "two", "three"}));
}

}  // namespace
}  // namespace lmlab::train
