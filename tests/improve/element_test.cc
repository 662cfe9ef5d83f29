// The meta-utility one element at a time (RunElement and `lmlab improve
// element`), then gathered: the same number as the in-process pool, with the
// replay TEST FIXTURE model. Element files: idempotent, missing ones named,
// corrupt ones a parse error.
#include "lmlab/improve/element.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "lmlab/core/file.h"
#include "tests/improve/replay_fixture.h"
#include "tests/support/run_command.h"

namespace lmlab::improve {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::LmlabBinary;
using testing::Replay;
using testing::RunCommand;
using testing::TempDir;

// These tests check the element/gather machinery on lmlab's protocol (fresh
// instances per element) with the keep-best seed improver: the paper protocol
// scores every element on the same fixed instances (protocol_test.cc).
constexpr SeedImproverKind kSeed = SeedImproverKind::kKeepBest;

// The seed improver asks for min(samples, utility calls - 1) = 4 rewrites in
// one call, and the fixture's "def algorithm(" group holds exactly 4: every
// element gets the same replies whichever replay instance serves it and
// whatever it served before, as a real model does with lmlab's per-prompt
// sampling seeds. So one element at a time must equal the pool exactly.
// On lpn the fixture's brute-force solver wins (1.0 whatever the seeds); on
// 3sat_lmlab no reply runs and the random seed solution stays, so the value
// depends on every element's instance seeds.
StopOptions Options(const fs::path& dir) {
  StopOptions o;
  o.run_dir = dir;
  o.tasks = {"lpn", "3sat_lmlab"};
  o.protocol = Protocol::kLmlab;
  o.seed_improver = kSeed;
  o.repeats = 2;
  o.test_instances = 3;
  o.budgets = {.samples_per_call = 4, .lm_calls = 1, .utility_calls = 5};
  o.time_limit_scale = 20;  // a loaded 2-core machine must not turn a solution's speed into a score
  o.improver_wall_seconds = 60;
  return o;
}

constexpr const char* kFlags =
    " --protocol lmlab --seed-improver keep-best --samples 4 --lm-calls 1 --utility-calls 5 --test-instances 3 "
    "--time-limit-scale 20 --improver-wall 60";

void ExpectSameMeta(const MetaUtility& a, const MetaUtility& b) {
  EXPECT_EQ(a.value, b.value);  // exactly: the same sum in the same order
  EXPECT_EQ(a.runs, b.runs);
  EXPECT_EQ(a.failed_runs, b.failed_runs);
  EXPECT_EQ(a.model_calls, b.model_calls);
  EXPECT_EQ(a.samples, b.samples);
  EXPECT_EQ(a.utility_calls, b.utility_calls);
  EXPECT_EQ(a.prompt_tokens, b.prompt_tokens);
  EXPECT_EQ(a.completion_tokens, b.completion_tokens);
  EXPECT_EQ(json(a.audit), json(b.audit));
}

ElementResult Fake(const std::string& task, int repeat, double utility) {
  ElementResult e;
  e.task = task;
  e.repeat = repeat;
  e.improver_hash = ImproverHash(SeedImprover(kSeed));
  e.utility = utility;
  e.failed = utility == 0;
  e.model_calls = 1;
  e.options = ElementOptionsJson(StopOptions{});
  e.audit.offending = {"evaluate/solutions/abc.py (wrong shape x1, broadcast score 1.20)"};
  return e;
}

TEST(Element, OneByOneThenGatheredEqualsTheInProcessPool) {
  TempDir d("elements");
  StopOptions o = Options(d.path);
  auto box = sandbox::MakeBubblewrapSandbox();
  auto lm = Replay();
  auto pool = EvaluateImprover(o, SeedImprover(kSeed), o.tasks, *lm, *box);
  ASSERT_TRUE(pool) << pool.error().ToString();

  for (const auto& task : o.tasks)
    for (int r = 0; r < o.repeats; ++r) {
      auto fresh = Replay();  // as a separate process would have
      auto e = RunElement(o, SeedImprover(kSeed), task, r, *fresh, *box);
      ASSERT_TRUE(e) << e.error().ToString();
      EXPECT_EQ(e->task, task);
      EXPECT_EQ(e->repeat, r);
      EXPECT_EQ(e->model_calls, 1);
      EXPECT_EQ(e->samples, 4);
      EXPECT_GT(e->wall_seconds, 0);
      ASSERT_TRUE(SaveElement(ElementPath(d.path, SeedImprover(kSeed), task, r), *e));
    }
  auto g = GatherElements(d.path, SeedImprover(kSeed), o.tasks, o.repeats);
  ASSERT_TRUE(g) << g.error().ToString();
  EXPECT_TRUE(g->missing.empty());
  ASSERT_EQ(g->elements.size(), 4u);
  SCOPED_TRACE(ToJson(*pool).dump(1));
  ExpectSameMeta(g->meta, *pool);
  // Not a vacuous equality: the brute-force solver wins on lpn, the random
  // seed stays on 3sat_lmlab, and the wrong-shape reply is caught.
  EXPECT_GT(pool->value, 0.8);
  EXPECT_LT(pool->value, 1.0);
  EXPECT_EQ(pool->runs, 4);
  EXPECT_EQ(pool->model_calls, 4);
  EXPECT_GE(pool->audit.wrong_shape_outputs, 2);
  EXPECT_NE(g->elements[2].utility, g->elements[3].utility);  // 3sat_lmlab, repeats 0 and 1: other instances
  EXPECT_EQ(g->options, ElementOptionsJson(o));

  // A repeat outside the gathered range and a missing one.
  fs::remove(ElementPath(d.path, SeedImprover(kSeed), "3sat_lmlab", 1));
  auto partial = GatherElements(d.path, SeedImprover(kSeed), o.tasks, o.repeats);
  ASSERT_TRUE(partial);
  ASSERT_EQ(partial->missing.size(), 1u);
  EXPECT_EQ(partial->missing[0], "3sat_lmlab repeat 1 (elements/" + ImproverHash(SeedImprover(kSeed)) + "-3sat_lmlab-1.json)");
}

TEST(Element, CombineSumsInTaskMajorOrderAndListsAFileOnce) {
  std::vector<ElementResult> es = {Fake("lpn", 0, 0.1), Fake("lpn", 1, 0.7), Fake("3sat_lmlab", 0, 0)};
  MetaUtility m = CombineElements(es);
  EXPECT_EQ(m.value, 0.1 / 3 + 0.7 / 3 + 0.0 / 3);
  EXPECT_EQ(m.runs, 3);
  EXPECT_EQ(m.failed_runs, 1);
  EXPECT_EQ(m.model_calls, 3);
  EXPECT_EQ(m.audit.offending.size(), 1u);
}

TEST(Element, FilesRoundTripAndBadOnesAreNamed) {
  TempDir d("element-files");
  std::string improver = SeedImprover(kSeed);
  fs::path p = ElementPath(d.path, improver, "lpn", 0);
  EXPECT_EQ(p, d.path / "elements" / (ImproverHash(improver) + "-lpn-0.json"));
  ElementResult e = Fake("lpn", 0, 0.25);
  ASSERT_TRUE(SaveElement(p, e));
  auto back = LoadElement(p);
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(ToJson(*back), ToJson(e));

  // Truncated, not JSON, a field missing: a parse error naming the file.
  for (const char* bad : {"{\"task\": \"lpn\"", "not json", "{\"task\": \"lpn\", \"repeat\": 0}"}) {
    ASSERT_TRUE(WriteFileAtomic(p, bad));
    auto r = GatherElements(d.path, improver, {"lpn"}, 1);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kParse) << bad;
    EXPECT_NE(r.error().message.find(p.string()), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("not a complete element result"), std::string::npos) << r.error().message;
  }
  json j = ToJson(e);
  j["utility"] = "high";
  ASSERT_TRUE(WriteFileAtomic(p, j.dump()));
  auto typed = LoadElement(p);
  ASSERT_FALSE(typed);
  EXPECT_NE(typed.error().message.find("\"utility\""), std::string::npos) << typed.error().message;

  // A file holding another element.
  ASSERT_TRUE(SaveElement(p, Fake("lpn", 1, 0.5)));
  auto other = FindElement(d.path, improver, "lpn", 0);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::kParse);

  // Elements run with other options do not average together.
  ASSERT_TRUE(SaveElement(p, e));
  ElementResult seeded = Fake("lpn", 1, 0.5);
  StopOptions o;
  o.seed = 7;
  seeded.options = ElementOptionsJson(o);
  ASSERT_TRUE(SaveElement(ElementPath(d.path, improver, "lpn", 1), seeded));
  auto mixed = GatherElements(d.path, improver, {"lpn"}, 2);
  ASSERT_FALSE(mixed);
  EXPECT_EQ(mixed.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(mixed.error().message.find("seed: 0 vs 7"), std::string::npos) << mixed.error().message;
  auto found = FindElement(d.path, improver, "lpn", 1, &o);
  ASSERT_TRUE(found && *found);
  StopOptions unseeded = Options("");
  auto refused = FindElement(d.path, improver, "lpn", 1, &unseeded);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(GatherElements(d.path, improver, {"nope"}, 1));
}

std::string ElementCommand(const fs::path& dir, const fs::path& improver, int repeat, const std::string& replay) {
  return LmlabBinary() + " improve element --run-dir " + dir.string() + " --improver " + improver.string() +
         " --task 3sat_lmlab --repeat " + std::to_string(repeat) + kFlags + " --replay " + replay + " --json";
}

TEST(ElementCli, ElementsThenGatherEqualInProcessAndNeverRunTwice) {
  TempDir d("element-cli");
  fs::path improver = d.path / "improver.py";
  ASSERT_TRUE(WriteFileAtomic(improver, SeedImprover(kSeed)));
  StopOptions o = Options("");
  o.tasks = {"3sat_lmlab"};
  auto box = sandbox::MakeBubblewrapSandbox();
  auto lm = Replay();
  auto pool = EvaluateImprover(o, SeedImprover(kSeed), o.tasks, *lm, *box);
  ASSERT_TRUE(pool) << pool.error().ToString();

  for (int r = 0; r < 2; ++r) {
    auto run = RunCommand(ElementCommand(d.path, improver, r, testing::ReplayFile()), 300);
    ASSERT_EQ(run.exit_code, 0) << run.err;
    json j = json::parse(run.out);
    EXPECT_EQ(j["repeat"], r);
    EXPECT_EQ(*ReadFile(ElementPath(d.path, SeedImprover(kSeed), "3sat_lmlab", r)), run.out);  // the file, printed
  }
  std::string gather = LmlabBinary() + " improve gather --run-dir " + d.path.string() + " --improver " +
                       improver.string() + " --tasks 3sat_lmlab --repeats 2";
  auto g = RunCommand(gather + " --json");
  ASSERT_EQ(g.exit_code, 0) << g.err;
  json gj = json::parse(g.out);
  EXPECT_EQ(gj["meta_utility"].get<double>(), pool->value);  // exactly
  EXPECT_EQ(gj["runs"], 2);
  EXPECT_EQ(gj["failed_runs"], pool->failed_runs);
  EXPECT_EQ(gj["model_calls"], pool->model_calls);
  EXPECT_EQ(gj["utility_calls"], pool->utility_calls);
  EXPECT_EQ(gj["audit"], json(pool->audit));
  auto text = RunCommand(gather);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("meta-utility"), std::string::npos) << text.out;

  // Done is done: a marked file comes back as it is, even with a model that
  // could not even be opened.
  fs::path one = ElementPath(d.path, SeedImprover(kSeed), "3sat_lmlab", 1);
  json marked = json::parse(*ReadFile(one));
  marked["wall_seconds"] = 4242.5;
  ASSERT_TRUE(WriteFileAtomic(one, marked.dump(2) + "\n"));
  auto again = RunCommand(ElementCommand(d.path, improver, 1, "/nonexistent/replay.jsonl"));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(json::parse(again.out)["wall_seconds"], 4242.5);
  // The same element with other options is refused, not silently reused.
  auto other = RunCommand(ElementCommand(d.path, improver, 1, "/nonexistent/replay.jsonl") + " --seed 9");
  EXPECT_EQ(other.exit_code, 2) << other.err;
  EXPECT_NE(other.err.find("other options (seed: 0 vs 9)"), std::string::npos) << other.err;

  // A missing element: gather fails and names it.
  fs::path zero = ElementPath(d.path, SeedImprover(kSeed), "3sat_lmlab", 0);
  std::string saved = *ReadFile(zero);
  fs::remove(zero);
  auto missing = RunCommand(gather);
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("1 of 2 elements missing"), std::string::npos) << missing.err;
  EXPECT_NE(missing.err.find("3sat_lmlab repeat 0 (elements/" + zero.filename().string() + ")"), std::string::npos)
      << missing.err;
  auto missing_json = RunCommand(gather + " --json");
  EXPECT_NE(missing_json.exit_code, 0);
  EXPECT_EQ(json::parse(missing_json.out)["missing"].size(), 1u);

  // A corrupt element: a parse error naming the file, for gather; the
  // element command runs it again over it.
  ASSERT_TRUE(WriteFileAtomic(zero, saved.substr(0, saved.size() / 2)));
  auto corrupt = RunCommand(gather);
  EXPECT_EQ(corrupt.exit_code, 1);
  EXPECT_NE(corrupt.err.find(zero.string() + " is not a complete element result"), std::string::npos) << corrupt.err;
  auto redo = RunCommand(ElementCommand(d.path, improver, 0, testing::ReplayFile()), 300);
  ASSERT_EQ(redo.exit_code, 0) << redo.err;
  EXPECT_NE(redo.err.find("running the element again"), std::string::npos) << redo.err;
  auto regathered = RunCommand(gather + " --json");
  ASSERT_EQ(regathered.exit_code, 0) << regathered.err;
  EXPECT_EQ(json::parse(regathered.out)["meta_utility"].get<double>(), pool->value);
}

TEST(ElementCli, ARunDirectoryDefinesItsElementsAndGatherReproducesARound) {
  // Round 0 of `improve run` is the seed improver's held-out meta-utility,
  // computed by the in-process pool; its elements, run one by one in the
  // run's directory with no budget flags, gather to the same number.
  TempDir d("element-run");
  std::string replay = testing::ReplayFile();
  auto run = RunCommand(LmlabBinary() + " improve run --task 3sat_lmlab --rounds 0 --repeats 2" + kFlags + " --replay " +
                            replay + " --run-dir " + d.path.string(),
                        300);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  double round0 = json::parse(*ReadFile(d.path / "round-0.json"))["meta_utility"];
  fs::path improver = d.path / "improver-0.py";
  for (int r = 0; r < 2; ++r) {
    auto e = RunCommand(LmlabBinary() + " improve element --run-dir " + d.path.string() + " --improver " +
                            improver.string() + " --task 3sat_lmlab --repeat " + std::to_string(r) + " --replay " + replay,
                        300);
    ASSERT_EQ(e.exit_code, 0) << e.err;
    EXPECT_NE(e.out.find("Saved: "), std::string::npos) << e.out;
  }
  auto g = RunCommand(LmlabBinary() + " improve gather --json --run-dir " + d.path.string() + " --improver " +
                      improver.string());
  ASSERT_EQ(g.exit_code, 0) << g.err;
  json gj = json::parse(g.out);
  EXPECT_EQ(gj["tasks"], json::array({"3sat_lmlab"}));
  EXPECT_EQ(gj["repeats"], 2);
  EXPECT_EQ(gj["options"]["samples_per_call"], 4);
  EXPECT_EQ(gj["meta_utility"].get<double>(), round0);
  // A budget flag that contradicts the run is refused.
  auto contra = RunCommand(LmlabBinary() + " improve element --run-dir " + d.path.string() + " --improver " +
                           improver.string() + " --task 3sat_lmlab --repeat 0 --samples 2 --replay " + replay);
  EXPECT_EQ(contra.exit_code, 2);
  EXPECT_NE(contra.err.find("--samples 4"), std::string::npos) << contra.err;
  // So is an improver wall clock other than the run's (config.json records it).
  EXPECT_TRUE(json::parse(*ReadFile(d.path / "config.json")).contains("improver_wall_seconds"));
  contra = RunCommand(LmlabBinary() + " improve element --run-dir " + d.path.string() + " --improver " +
                      improver.string() + " --task 3sat_lmlab --repeat 0 --improver-wall 7 --replay " + replay);
  EXPECT_EQ(contra.exit_code, 2);
  EXPECT_NE(contra.err.find("--improver-wall"), std::string::npos) << contra.err;
}

}  // namespace
}  // namespace lmlab::improve
