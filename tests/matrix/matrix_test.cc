// Every command on every cell of the fixture matrix (tests/matrix/arch_matrix.h):
// seven architectures people run, each with its real tokenizer and chat
// template, in F16, Q8_0 and Q4_K_M. Each command is run as a user runs it
// (the lmlab binary), with assertions that fit it:
//   model info      architecture, parameters, weight type, context, template, layers, width
//   model tokenize  llama.cpp's own tokenizer test vectors, for every vocabulary
//   model generate  the chat template is applied (the prompt equals what
//     --chat        llama-server's Jinja renders) and generation stops at the
//                   model's end-of-turn token
//   ask             FreshPrompt through the chat template, stopped at end of turn
//   serve           chat, streaming, logprobs, completions, embeddings
//   probe run       the entity's last token, capture shapes, neuron search
//                   on the (quantised) MLP weights
//   ood lm          OCS distances over the whole vocabulary
//   improve         STOP through llama-server serving the same file
// The fixtures' weights make greedy decoding end at once and sampling after
// a few tokens (tests/tools/make_arch_model.cc explains how).
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "lmlab/runtime/language_model.h"
#include "tests/matrix/arch_matrix.h"
#include "tests/support/child_process.h"
#include "tests/support/llama_server.h"
#include "tests/support/run_command.h"

namespace lmlab {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::ArchCell;
using testing::CommandResult;
using testing::LmlabBinary;
using testing::RunCommand;
using testing::ShellQuote;

// The weight type's name as llama.cpp reports it (general.file_type).
std::string QuantizationName(const std::string& type) {
  if (type == "f16") return "F16";
  if (type == "q8_0") return "Q8_0";
  return "Q4_K - Medium";
}

CommandResult Lmlab(const std::string& args, int timeout = 300) {
  return RunCommand(LmlabBinary() + " " + args, timeout);
}

json ParseOrFail(const CommandResult& r) {
  json j = json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r.out.substr(0, 400) << "\n" << r.err;
  return j;
}

const char* const kQuestion = "What is the capital of France?";

class Cell : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {
 protected:
  void SetUp() override {
    cell_ = testing::FindCell(std::get<0>(GetParam()));
    ASSERT_NE(cell_, nullptr);
    type_ = std::get<1>(GetParam());
    path_ = cell_->Path(type_);
    ASSERT_TRUE(fs::exists(path_)) << path_;
    scratch_ = fs::temp_directory_path() / ScratchName("lmlab-matrix");
    fs::create_directories(scratch_);
  }
  void TearDown() override { fs::remove_all(scratch_); }
  std::string ScratchName(const std::string& prefix) const {
    return prefix + "-" + cell_->name + "-" + type_ + "-" + std::to_string(::getpid());
  }
  std::string Model() const { return "--model " + ShellQuote(path_) + " --threads 2"; }

  const ArchCell* cell_ = nullptr;
  std::string type_, path_;
  fs::path scratch_;
};

std::string CellName(const ::testing::TestParamInfo<std::tuple<std::string, std::string>>& info) {
  return std::get<0>(info.param) + "_" + std::get<1>(info.param);
}

INSTANTIATE_TEST_SUITE_P(Matrix, Cell,
                         ::testing::Combine(::testing::ValuesIn(testing::ArchNames()),
                                            ::testing::ValuesIn(testing::WeightTypes())),
                         CellName);

TEST(MatrixManifest, ListsEveryCellInEveryWeightType) {
  const auto& m = testing::ArchMatrix();
  std::set<std::string> arches;
  for (const std::string& name : testing::ArchNames()) {
    auto it = m.find(name);
    ASSERT_NE(it, m.end()) << name;
    arches.insert(it->second.arch);
    for (const std::string& type : testing::WeightTypes()) {
      ASSERT_TRUE(it->second.files.contains(type)) << name << " " << type;
      EXPECT_TRUE(fs::exists(it->second.Path(type))) << it->second.Path(type);
    }
  }
  EXPECT_EQ(m.size(), testing::ArchNames().size());
  EXPECT_GE(arches.size(), 6u);  // distinct llama.cpp graphs
}

// ---------------------------------------------------------------- info --
TEST_P(Cell, InfoReportsWhatTheFileHolds) {
  CommandResult r = Lmlab("model info --json " + Model());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = ParseOrFail(r);
  EXPECT_EQ(j["architecture"], cell_->arch);
  EXPECT_EQ(j["n_layers"], cell_->n_layer);
  EXPECT_EQ(j["n_embd"], cell_->n_embd);
  EXPECT_EQ(j["n_ctx_train"], cell_->n_ctx_train);
  EXPECT_EQ(j["n_vocab"], cell_->n_vocab);
  EXPECT_EQ(j["n_params"], cell_->n_params);
  EXPECT_EQ(j["quantization"], QuantizationName(type_));
  EXPECT_EQ(j["chat_template"], cell_->chat_template);
  // A model with a template is formatted with it, never the ChatML fallback.
  std::string format = j["chat_format"];
  if (cell_->chat_template.empty()) EXPECT_TRUE(format.starts_with("chatml (fallback")) << format;
  else EXPECT_FALSE(format.starts_with("chatml (fallback")) << format;

  // The table a person reads says the same.
  CommandResult t = Lmlab("model info " + Model());
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.out.find(QuantizationName(type_)), std::string::npos) << t.out;
  EXPECT_NE(t.out.find(cell_->arch), std::string::npos) << t.out;
}

// ------------------------------------------------------------ tokenize --
// Quantisation leaves the vocabulary alone: the CLI's tokens of an entity
// sentence are the same in every weight type, BOS first when the vocabulary
// asks for one, and they spell the text back.
TEST_P(Cell, TokenizeSpellsTheTextBack) {
  const std::string text = "The Eiffel Tower stands in Paris, Île-de-France.";
  CommandResult r = Lmlab("model tokenize --json " + Model() + " " + ShellQuote(text));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = ParseOrFail(r);
  std::string spelled;
  for (const json& t : j["tokens"]) spelled += t["piece"].get<std::string>();
  while (!spelled.empty() && spelled.front() == ' ' && !text.starts_with(" ")) spelled.erase(0, 1);
  EXPECT_EQ(spelled, text);
  CommandResult f16 = Lmlab("model tokenize --json --model " + ShellQuote(cell_->Path("f16")) + " " + ShellQuote(text));
  ASSERT_EQ(f16.exit_code, 0) << f16.err;
  EXPECT_EQ(ParseOrFail(f16)["tokens"], j["tokens"]);
}

class Vocabulary : public ::testing::TestWithParam<std::string> {};
INSTANTIATE_TEST_SUITE_P(Matrix, Vocabulary, ::testing::ValuesIn(testing::ArchNames()));

// lmlab's tokenization equals llama.cpp's tokenizer test vectors
// (models/ggml-vocab-*.gguf.inp/.out) for every vocabulary in the matrix.
TEST_P(Vocabulary, MatchesLlamaCppTestVectors) {
  const ArchCell* c = testing::FindCell(GetParam());
  ASSERT_NE(c, nullptr);
  std::vector<testing::TokenizerCase> cases = testing::TokenizerVectors(c->vocab);
  ASSERT_GE(cases.size(), 20u) << c->vocab;
  auto lm = runtime::OpenModel({.gguf_path = c->Path("q4_k_m"), .threads = 1, .n_ctx = 512});
  ASSERT_TRUE(lm) << lm.error().ToString();
  int mismatches = 0;
  for (const testing::TokenizerCase& tc : cases) {
    auto ids = (*lm)->Tokenize(tc.text, runtime::AddBos::kNo);
    ASSERT_TRUE(ids) << ids.error().ToString();
    if (*ids != tc.ids && ++mismatches <= 5)
      ADD_FAILURE() << c->vocab << ": " << json(tc.text).dump() << " gave " << json(*ids).dump() << ", llama.cpp's vector "
                    << json(tc.ids).dump();
  }
  EXPECT_EQ(mismatches, 0) << "of " << cases.size() << " vectors";
}

// ---------------------------------------------------------------- chat --
// Greedy: the end-of-turn token is the most likely, so the answer ends at
// once with "stop". Sampled: a few tokens, then the end of turn, which is
// never part of the text.
TEST_P(Cell, ChatAppliesTheTemplateAndStopsAtTheEndOfTurn) {
  CommandResult g = Lmlab("model generate --chat --show-prompt --json --max-tokens 32 " + Model() + " " +
                          ShellQuote(kQuestion));
  ASSERT_EQ(g.exit_code, 0) << g.err;
  json greedy = ParseOrFail(g);
  EXPECT_EQ(greedy["finish_reason"], "stop") << greedy.dump();
  EXPECT_EQ(greedy["completion_tokens"], 0) << greedy.dump();
  std::string prompt = greedy["prompt"];
  EXPECT_NE(prompt.find(kQuestion), std::string::npos) << prompt;
  // The template adds the assistant's turn after the question.
  EXPECT_FALSE(prompt.ends_with(kQuestion)) << prompt;

  CommandResult s = Lmlab("model generate --chat --json --max-tokens 64 --temperature 1 --seed 11 " + Model() + " " +
                          ShellQuote(kQuestion));
  ASSERT_EQ(s.exit_code, 0) << s.err;
  json sampled = ParseOrFail(s);
  EXPECT_EQ(sampled["finish_reason"], "stop") << sampled.dump();
  EXPECT_LT(sampled["completion_tokens"].get<int>(), 64);
  EXPECT_EQ(sampled["text"].get<std::string>().find(cell_->end_of_turn), std::string::npos) << sampled.dump();
  EXPECT_EQ(sampled["prompt_tokens"], greedy["prompt_tokens"]);
}

// ----------------------------------------------------------------- ask --
// `ask --chat` sends FreshPrompt as a user message through the model's chat
// template, and the model writes the answer (date sentence included) itself;
// plain `ask` gives a local GGUF the paper's raw-text prompt with the date
// sentence prefilled. The fixture's model ends its turn at once: ask stops at
// the end-of-generation token, and says when nothing was generated rather
// than pass the prefill off as an answer.
TEST_P(Cell, AskStopsAtTheEndOfTurnWithAndWithoutTheTemplate) {
  const std::string question = ShellQuote("Who won the most recent Tour de France?");
  CommandResult chat = Lmlab("ask --no-search --chat --today 2026-11-27 --max-tokens 32 --json " + Model() + " " + question);
  ASSERT_EQ(chat.exit_code, 0) << chat.err;
  json c = ParseOrFail(chat);
  EXPECT_EQ(c["finish_reason"], "stop") << c.dump();
  EXPECT_EQ(c["completion_tokens"], 0) << c.dump();
  EXPECT_EQ(c["answer"], "") << c.dump();
  ASSERT_FALSE(c["warnings"].empty()) << c.dump();
  EXPECT_NE(c["warnings"][0].get<std::string>().find("generated nothing"), std::string::npos) << c.dump();

  CommandResult raw = Lmlab("ask --no-search --today 2026-11-27 --max-tokens 32 --json " + Model() + " " + question);
  ASSERT_EQ(raw.exit_code, 0) << raw.err;
  json r = ParseOrFail(raw);
  EXPECT_EQ(r["finish_reason"], "stop") << r.dump();
  EXPECT_EQ(r["completion_tokens"], 0) << r.dump();
  EXPECT_EQ(r["answer"],
            "As of today November 27, 2026, the most up-to-date and relevant information regarding this query is as "
            "follows.")
      << r.dump();
  // The template's turns cost tokens the raw prompt does not have.
  EXPECT_NE(c["prompt_tokens"], r["prompt_tokens"]) << c.dump() << r.dump();
  EXPECT_GT(r["prompt_tokens"].get<int>(), 100) << r.dump();  // the paper's demonstrations, through this vocabulary
}

// --------------------------------------------------------------- serve --
TEST_P(Cell, ServeSpeaksTheOpenAiApi) {
  testing::ChildProcess serve({LmlabBinary(), "serve", "--model", path_, "--threads", "2", "--no-search", "--port",
                               "0", "--json"},
                              (scratch_ / "serve.log").string());
  json started = json::parse(serve.FirstLine(120), nullptr, false);
  ASSERT_TRUE(started.is_object() && started.contains("port")) << started.dump();
  httplib::Client c("127.0.0.1", started["port"].get<int>());
  c.set_read_timeout(120, 0);
  auto post = [&](const std::string& route, const json& body) {
    auto res = c.Post(route, body.dump(), "application/json");
    EXPECT_TRUE(res) << route;
    EXPECT_EQ(res ? res->status : 0, 200) << route << ": " << (res ? res->body : "");
    return res ? json::parse(res->body, nullptr, false) : json();
  };
  const json messages = json::array({{{"role", "user"}, {"content", kQuestion}}});

  // Chat, sampled, with log-probabilities from the same pass.
  json chat = post("/v1/chat/completions", {{"messages", messages}, {"temperature", 1}, {"seed", 11},
                                            {"max_tokens", 64}, {"logprobs", true}, {"top_logprobs", 3}});
  ASSERT_TRUE(chat.contains("choices")) << chat.dump();
  const json& choice = chat["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "stop");
  std::string text = choice["message"]["content"];
  std::string spelled;
  for (const json& t : choice["logprobs"]["content"]) {
    spelled += t["token"].get<std::string>();
    ASSERT_EQ(t["top_logprobs"].size(), 3u);
    EXPECT_LE(t["logprob"].get<double>(), 0.0);
    EXPECT_GE(t["top_logprobs"][0]["logprob"].get<double>(), t["top_logprobs"][2]["logprob"].get<double>());
  }
  EXPECT_EQ(spelled, text);
  EXPECT_EQ(choice["logprobs"]["content"].size(), chat["usage"]["completion_tokens"].get<size_t>());

  // The same request streamed gives the same text.
  auto streamed = c.Post("/v1/chat/completions",
                         json({{"messages", messages}, {"temperature", 1}, {"seed", 11}, {"max_tokens", 64},
                               {"stream", true}})
                             .dump(),
                         "application/json");
  ASSERT_TRUE(streamed);
  std::string joined;
  for (size_t pos = 0; (pos = streamed->body.find("data: {", pos)) != std::string::npos; ++pos) {
    size_t end = streamed->body.find("\n\n", pos);
    json e = json::parse(streamed->body.substr(pos + 6, end - pos - 6), nullptr, false);
    if (e.contains("choices") && !e["choices"].empty() && e["choices"][0]["delta"].contains("content"))
      joined += e["choices"][0]["delta"]["content"].get<std::string>();
  }
  EXPECT_EQ(joined, text);
  EXPECT_NE(streamed->body.find("data: [DONE]"), std::string::npos);

  // Completions: raw text, log-probabilities in the legacy arrays.
  json completion = post("/v1/completions", {{"prompt", "The capital of France is"}, {"max_tokens", 8},
                                             {"temperature", 1}, {"seed", 3}, {"logprobs", 2}});
  ASSERT_TRUE(completion.contains("choices")) << completion.dump();
  EXPECT_EQ(completion["object"], "text_completion");
  const json& lp = completion["choices"][0]["logprobs"];
  EXPECT_EQ(lp["tokens"].size(), lp["token_logprobs"].size());
  EXPECT_EQ(lp["top_logprobs"].size(), lp["tokens"].size());

  // Embeddings: one vector of the model's width per input, finite, distinct.
  json emb = post("/v1/embeddings", {{"input", json::array({"Paris", "Tokyo"})}, {"encoding_format", "float"}});
  ASSERT_EQ(emb["data"].size(), 2u) << emb.dump().substr(0, 300);
  std::vector<float> a = emb["data"][0]["embedding"], b = emb["data"][1]["embedding"];
  ASSERT_EQ(a.size(), static_cast<size_t>(cell_->n_embd));
  for (float x : a) ASSERT_TRUE(std::isfinite(x));
  EXPECT_NE(a, b);
  EXPECT_EQ(serve.SignalAndWait(SIGTERM, 20), 0);
}

// --------------------------------------------------------------- probe --
// The probe reads each entity at its last token: whatever pieces the
// vocabulary splits the name into (BPE with or without a leading space,
// SentencePiece's "▁"), that token ends the name. The captures have the
// model's shape, and the neuron search reads the MLP weights in this file's
// weight type.
TEST_P(Cell, ProbeRunsOnTheEntitiesLastTokens) {
  fs::path csv = scratch_ / "places.csv";
  {
    std::ofstream out(csv);
    out << "name,latitude,longitude,country\n";
    const char* rows[] = {"Paris,48.85,2.35,France",           "Lima,-12.04,-77.04,Peru",
                          "Tokyo,35.68,139.69,Japan",          "São Paulo,-23.55,-46.63,Brazil",
                          "Reykjavík,64.15,-21.94,Iceland",    "Nairobi,-1.29,36.82,Kenya",
                          "Zürich,47.37,8.54,Switzerland",     "Kraków,50.06,19.94,Poland",
                          "New York City,40.71,-74.01,USA",    "Cape Town,-33.92,18.42,South Africa",
                          "Ulaanbaatar,47.89,106.91,Mongolia", "Wellington,-41.29,174.78,New Zealand",
                          "Québec,46.81,-71.21,Canada",        "Marrakesh,31.63,-8.01,Morocco",
                          "Hà Nội,21.03,105.85,Vietnam",       "Buenos Aires,-34.60,-58.38,Argentina",
                          "Oslo,59.91,10.75,Norway",           "Kyiv,50.45,30.52,Ukraine",
                          "Seoul,37.57,126.98,South Korea",    "Anchorage,61.22,-149.90,USA",
                          "Dakar,14.72,-17.47,Senegal",        "Perth,-31.95,115.86,Australia",
                          "Lisbon,38.72,-9.14,Portugal",       "Cairo,30.04,31.24,Egypt",
                          "Mumbai,19.08,72.88,India"};
    for (const char* r : rows) out << r << "\n";
  }
  // The last token of each prompt ends the entity's name.
  auto lm = runtime::OpenModel({.gguf_path = path_, .threads = 2, .n_ctx = 256});
  ASSERT_TRUE(lm) << lm.error().ToString();
  for (const std::string name : {"São Paulo", "New York City", "Hà Nội", "Reykjavík"}) {
    for (const std::string prompt : {name, "What are the lat/lon coordinates of " + name}) {
      auto ids = (*lm)->Tokenize(prompt, runtime::AddBos::kYes);
      ASSERT_TRUE(ids && !ids->empty());
      EXPECT_NE(ids->back(), cell_->end_of_turn_id);
      auto upto = (*lm)->Detokenize(*ids);
      auto before = (*lm)->Detokenize(std::span(ids->data(), ids->size() - 1));
      ASSERT_TRUE(upto && before);
      ASSERT_TRUE(upto->starts_with(*before)) << *upto;
      std::string last = upto->substr(before->size());
      while (!last.empty() && last.front() == ' ') last.erase(0, 1);
      EXPECT_FALSE(last.empty()) << prompt;
      EXPECT_TRUE(name.ends_with(last)) << prompt << ": last token " << json(last).dump();
    }
  }
  CommandResult r = Lmlab("probe run " + Model() + " --dataset " + csv.string() + " --prompt question --neurons 3" +
                          " --seed 1 --cache-dir " + (scratch_ / "cache").string() + " -o " +
                          (scratch_ / "out").string() + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = ParseOrFail(r);
  ASSERT_TRUE(j.is_object());
  // One probe per layer (and the embeddings), on n_embd-wide activations.
  std::string dump = j.dump();
  EXPECT_NE(dump.find("\"n_embd\":" + std::to_string(cell_->n_embd)), std::string::npos) << dump.substr(0, 600);
  EXPECT_NE(dump.find("neurons"), std::string::npos) << dump.substr(0, 600);
  EXPECT_TRUE(fs::exists(scratch_ / "out" / "report.json"));
}

// ----------------------------------------------------------------- ood --
TEST_P(Cell, OodLmScoresTheWholeVocabulary) {
  fs::path ref = scratch_ / "ref.txt";
  {
    std::ofstream out(ref);
    for (int i = 0; i < 12; ++i)
      out << "Paragraph " << i << ": the city lies on a river and has many old houses, bridges and markets.\n\n";
  }
  CommandResult r = Lmlab("ood lm " + Model() + " --reference " + ref.string() +
                          " --texts 2 --calibration-texts 4 --max-tokens 8 --ocs-positions 16 --levels 0 1"
                          " --corruptions token-replace --json -o " + (scratch_ / "ood").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = ParseOrFail(r);
  ASSERT_EQ(j["curves"].size(), 1u) << j.dump().substr(0, 400);
  ASSERT_EQ(j["curves"][0]["points"].size(), 2u);
  for (const json& p : j["curves"][0]["points"]) {
    std::string s = p.dump();
    EXPECT_EQ(s.find("null"), std::string::npos) << s;  // no NaN distances
  }
}

// ------------------------------------------------------------- improve --
// STOP through llama-server serving the same file with its own Jinja
// template: the replies are whatever a random model writes (nothing runs),
// and the round still completes with the seed solution kept.
class Arch : public ::testing::TestWithParam<std::string> {};
INSTANTIATE_TEST_SUITE_P(Matrix, Arch, ::testing::ValuesIn(testing::ArchNames()));

TEST_P(Arch, ImproveRunsThroughLlamaServer) {
  const ArchCell* c = testing::FindCell(GetParam());
  ASSERT_NE(c, nullptr);
  auto server = testing::LlamaServer::Start({.model_path = c->Path("q4_k_m"), .context = 4096, .threads = 2});
  ASSERT_TRUE(server) << server.error().ToString();

  // lmlab formats the conversation exactly as llama-server's Jinja does.
  json messages = json::array({{{"role", "user"}, {"content", kQuestion}}});
  httplib::Client http("127.0.0.1", (*server)->port());
  http.set_read_timeout(60, 0);
  auto applied = http.Post("/apply-template",
                           json({{"messages", messages}, {"chat_template_kwargs", {{"enable_thinking", false}}}}).dump(),
                           "application/json");
  ASSERT_TRUE(applied);
  ASSERT_EQ(applied->status, 200) << applied->body;
  CommandResult g = Lmlab("model generate --chat --show-prompt --json --max-tokens 1 --model " +
                          ShellQuote(c->Path("q4_k_m")) + " " + ShellQuote(kQuestion));
  ASSERT_EQ(g.exit_code, 0) << g.err;
  EXPECT_EQ(ParseOrFail(g)["prompt"], json::parse(applied->body)["prompt"]);

  fs::path dir = fs::temp_directory_path() / ("lmlab-matrix-improve-" + c->name + "-" + std::to_string(getpid()));
  fs::remove_all(dir);
  CommandResult r = Lmlab("improve run --task lpn --rounds 1 --repeats 1 --samples 2 --lm-calls 1 --utility-calls 2"
                          " --test-instances 2 --max-tokens 64 --endpoint " + (*server)->url() +
                          " --api-model m --api-key-env '' --run-dir " + dir.string() + " --json",
                          600);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = ParseOrFail(r);
  ASSERT_EQ(j["rounds"].size(), 2u) << j.dump().substr(0, 400);
  EXPECT_GT(j["rounds"][0]["model_calls"].get<int>(), 0) << j["rounds"][0].dump();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace lmlab
