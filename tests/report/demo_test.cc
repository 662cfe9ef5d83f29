// `lmlab demo --quick` end to end, as CI runs it: every step on this machine,
// then the report rendered by a real headless Chromium (screenshot kept in
// build/test-artifacts/report.png; console errors fail the test), then a
// resumed run that skips every finished step.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "lmlab/core/file.h"
#include "tests/support/run_command.h"

namespace lmlab {
namespace {

namespace fs = std::filesystem;
using lmlab::testing::LmlabBinary;
using lmlab::testing::RunCommand;

const char* kSections[] = {"plan", "train", "fresh", "improve", "probe", "ood-classifier", "ood-lm"};

std::string ChromiumFlags(const fs::path& profile) {
  return "--headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update "
         "--disable-sync --no-first-run --user-data-dir=" + profile.string();
}

TEST(DemoQuick, EverySectionFilledAndRenderedByChromium) {
  fs::path out = fs::temp_directory_path() / ("lmlab-demo-test-" + std::to_string(::getpid()));
  fs::remove_all(out);
  // The quick demo promises <= 3 minutes on 2 cores; allow for a loaded CI machine.
  auto r = RunCommand(LmlabBinary() + " demo --quick --out " + out.string(), 480);
  ASSERT_EQ(r.exit_code, 0) << r.out << "\n" << r.err;
  EXPECT_NE(r.err.find("[7/7] ood-lm"), std::string::npos) << "progress lines missing:\n" << r.err;

  auto json_text = ReadFile(out / "report.json");
  ASSERT_TRUE(json_text) << json_text.error().ToString();
  auto j = nlohmann::json::parse(*json_text);
  ASSERT_EQ(j["sections"].size(), std::size(kSections));
  for (size_t i = 0; i < std::size(kSections); ++i) {
    const auto& s = j["sections"][i];
    EXPECT_EQ(s["id"], kSections[i]);
    // The quick demo trains its reader for seconds: it answers nothing
    // right, and the fresh section says so as a warning instead of "ok"
    // (its retrieval benchmark is still measured).
    if (std::string(kSections[i]) == "fresh" && s["status"] == "warning") {
      ASSERT_FALSE(s["warnings"].empty());
      EXPECT_NE(s["warnings"][0].get<std::string>().find("the reader answered none"), std::string::npos)
          << s["warnings"];
    } else {
      EXPECT_EQ(s["status"], "ok") << kSections[i] << ": " << s["error"] << " " << s["warnings"];
    }
    EXPECT_FALSE(s["measured"].get<std::string>().empty()) << kSections[i];
    EXPECT_FALSE(s["figures"].empty()) << kSections[i];
    EXPECT_FALSE(s["rerun"].empty()) << kSections[i];
    EXPECT_FALSE(s["data"].empty()) << kSections[i];
  }
  // lmlab doctor ran first and found what every step needs.
  EXPECT_EQ(j["doctor"]["ok"], true) << j["doctor"];
  // Numbers computed in this run, beside the paper's where there is one.
  EXPECT_NEAR(j["sections"][0]["data"]["reference"]["scenarios"][0]["days"].get<double>(), 115.74, 0.01);
  EXPECT_NEAR(j["sections"][0]["data"]["reference"]["scenarios"][1]["days"].get<double>(), 5.26, 0.01);
  EXPECT_GT(j["sections"][1]["data"]["training"]["initial_val_loss"].get<double>(),
            j["sections"][1]["data"]["training"]["final_val_loss"].get<double>());  // the model learned something
  // The probe section carries the paper's neuron analysis: MLP neurons of the best layer by activation.
  // (It is `lmlab probe run --neurons 5`: residual units and weight alignments come first.)
  const auto& neurons = j["sections"][4]["data"]["neurons"];
  const nlohmann::json* mlp = nullptr;
  for (const auto& n : neurons)
    if (n["stream"] == "mlp") mlp = &n;
  ASSERT_NE(mlp, nullptr) << neurons.dump();
  EXPECT_EQ((*mlp)["layer"], j["sections"][4]["data"]["sweep"]["best_layer"]);
  EXPECT_EQ((*mlp)["by_activation"].size(), 10u);  // 5 per target
  // Every control ran, and the headline is the gap to the strongest.
  EXPECT_EQ(j["sections"][4]["data"]["controls"].size(), 3u);
  EXPECT_TRUE(j["sections"][4]["data"]["headline"].contains("gap"));
  EXPECT_TRUE(j["sections"][3]["data"]["replay"].get<bool>());
  EXPECT_NE(j["sections"][3]["label"].get<std::string>().find("REPLAY"), std::string::npos);

  // Real Chromium: the DOM after rendering, with console messages on stderr.
  fs::path profile = out / "chromium-profile";
  std::string url = "file://" + fs::absolute(out / "index.html").string();
  auto dom = RunCommand("/usr/bin/chromium " + ChromiumFlags(profile) +
                            " --enable-logging=stderr --v=0 --dump-dom " + url,
                        120);
  ASSERT_EQ(dom.exit_code, 0) << dom.err;
  EXPECT_EQ(dom.err.find("CONSOLE"), std::string::npos) << "console messages:\n" << dom.err;
  for (size_t i = 0; i < std::size(kSections); ++i) {
    const std::string id = kSections[i];
    std::string open = "<section id=\"" + id + "\" data-status=\"" + j["sections"][i]["status"].get<std::string>() + "\">";
    size_t begin = dom.out.find(open);
    ASSERT_NE(begin, std::string::npos) << "section " << id << " missing or not ok";
    size_t end = dom.out.find("</section>", begin);
    ASSERT_NE(end, std::string::npos);
    std::string body = dom.out.substr(begin, end - begin);
    EXPECT_NE(body.find("<svg"), std::string::npos) << id << " has no plot";
    EXPECT_NE(body.find("<table"), std::string::npos) << id << " has no table";
    EXPECT_NE(body.find("Rerun with a real model"), std::string::npos) << id;
  }
  EXPECT_NE(dom.out.find("REPLAY RUN"), std::string::npos);

  fs::path artifacts = fs::path(LMLAB_BINARY_DIR) / "test-artifacts";
  fs::create_directories(artifacts);
  fs::path png = artifacts / "report.png";
  fs::remove(png);
  auto shot = RunCommand("/usr/bin/chromium " + ChromiumFlags(profile) + " --screenshot=" + png.string() +
                             " --window-size=1280,14000 " + url,
                         120);
  ASSERT_EQ(shot.exit_code, 0) << shot.err;
  ASSERT_TRUE(fs::exists(png));
  EXPECT_GT(fs::file_size(png), 50'000u);  // a rendered page, not a blank one

  // A rerun resumes: every step comes from its cache.
  auto again = RunCommand(LmlabBinary() + " demo --quick --json --out " + out.string(), 120);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  auto aj = nlohmann::json::parse(again.out);
  EXPECT_EQ(aj["steps_run"], 0);
  EXPECT_EQ(aj["steps_cached"], 7);
  fs::remove_all(out);
}

TEST(DemoCli, BadFlagsAreOneLineErrors) {
  auto r = RunCommand(LmlabBinary() + " demo --api-model gpt-4");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--api-model needs --endpoint"), std::string::npos) << r.err;
  r = RunCommand(LmlabBinary() + " demo --only nonsense --out /tmp/lmlab-demo-bad-" + std::to_string(::getpid()));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown demo step 'nonsense'"), std::string::npos) << r.err;
  fs::remove_all("/tmp/lmlab-demo-bad-" + std::to_string(::getpid()));
}

}  // namespace
}  // namespace lmlab
