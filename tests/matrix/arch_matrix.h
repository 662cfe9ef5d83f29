// The fixture matrix: small random models of the architectures people run
// (Llama 3, Qwen 2.5, Qwen 3, Phi-3.5, Mistral, GPT-2, Falcon), each with its
// real tokenizer and chat template, in F16, Q8_0 and Q4_K_M. Written by the
// test tool tests/tools/make_arch_model.cc into <build>/test-fixtures/arch-v1/
// the first time a test asks, then reused (a manifest lists every cell).
//
//   const ArchCell& c = ArchMatrix().at("llama3");
//   std::string path = c.Path("q4_k_m");
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/run_command.h"

namespace lmlab::testing {

// The cells, in the tool's order (the tests are instantiated before the
// manifest exists, so the names are listed here too; a test checks they agree).
inline const std::vector<std::string>& ArchNames() {
  static const std::vector<std::string> names = {"llama3", "qwen2", "qwen3", "phi3", "mistral", "gpt2", "falcon"};
  return names;
}
inline const std::vector<std::string>& WeightTypes() {
  static const std::vector<std::string> types = {"f16", "q8_0", "q4_k_m"};
  return types;
}

struct ArchCell {
  std::string name, label, arch, vocab, chat_template_file, chat_template, end_of_turn;
  int32_t end_of_turn_id = -1, bos_id = -1;
  int64_t n_vocab = 0, n_layer = 0, n_embd = 0, n_ff = 0, n_head = 0, n_ctx_train = 0, n_params = 0;
  bool tied_embeddings = false;
  std::map<std::string, std::string> files;  // weight type -> absolute path

  std::string Path(const std::string& type) const { return files.at(type); }
};

inline std::filesystem::path ArchFixtureDir() {
  return std::filesystem::path(LMLAB_BINARY_DIR) / "test-fixtures" / "arch-v1";
}

// Generates what is missing (once per process; the tool locks, so parallel
// test processes share one generation) and reads the manifest.
inline const std::map<std::string, ArchCell>& ArchMatrix() {
  static const std::map<std::string, ArchCell> cells = [] {
    std::map<std::string, ArchCell> out;
#ifndef LMLAB_MAKE_ARCH_MODEL
    ADD_FAILURE() << "the fixture matrix needs llama.cpp's source tree (LMLAB_LLAMA_INSTALLED builds have none)";
    return out;
#else
    const std::filesystem::path dir = ArchFixtureDir();
    CommandResult r = RunCommand(std::string(LMLAB_MAKE_ARCH_MODEL) + " --llama-source " + LMLAB_LLAMA_SOURCE_DIR +
                                     " --out " + dir.string(),
                                 1200);
    if (r.exit_code != 0) {
      ADD_FAILURE() << "make_arch_model failed (" << r.exit_code << "): " << r.err;
      return out;
    }
    std::ifstream in(dir / "manifest.json");
    std::stringstream ss;
    ss << in.rdbuf();
    nlohmann::json m = nlohmann::json::parse(ss.str(), nullptr, false);
    if (!m.is_object()) {
      ADD_FAILURE() << "unreadable " << (dir / "manifest.json");
      return out;
    }
    for (const auto& [name, j] : m.items()) {
      ArchCell c;
      c.name = name;
      c.label = j.value("label", "");
      c.arch = j.value("arch", "");
      c.vocab = j.value("vocab", "");
      c.chat_template_file = j.value("chat_template_file", "");
      c.chat_template = j.value("chat_template", "");
      c.end_of_turn = j.value("end_of_turn", "");
      c.end_of_turn_id = j.value("end_of_turn_id", -1);
      c.bos_id = j.value("bos_id", -1);
      c.n_vocab = j.value("n_vocab", 0);
      c.n_layer = j.value("n_layer", 0);
      c.n_embd = j.value("n_embd", 0);
      c.n_ff = j.value("n_ff", 0);
      c.n_head = j.value("n_head", 0);
      c.n_ctx_train = j.value("n_ctx_train", 0);
      c.n_params = j.value("n_params", 0);
      c.tied_embeddings = j.value("tied_embeddings", false);
      for (const auto& [type, file] : j["files"].items()) c.files[type] = (dir / file.get<std::string>()).string();
      out[name] = std::move(c);
    }
    return out;
#endif
  }();
  return cells;
}

// The cell (fails the test when the matrix has no such cell).
inline const ArchCell* FindCell(const std::string& name) {
  const auto& m = ArchMatrix();
  auto it = m.find(name);
  if (it == m.end()) {
    ADD_FAILURE() << "the fixture matrix has no cell " << name;
    return nullptr;
  }
  return &it->second;
}

// llama.cpp's tokenizer test vectors of a vocabulary: models/ggml-vocab-<v>.gguf.inp
// holds texts separated by "\n__ggml_vocab_test__\n", .out the token ids of
// each (no BOS), one line per text.
struct TokenizerCase {
  std::string text;
  std::vector<int32_t> ids;
};
inline std::vector<TokenizerCase> TokenizerVectors(const std::string& vocab) {
  std::vector<TokenizerCase> out;
#ifdef LMLAB_LLAMA_SOURCE_DIR
  const std::filesystem::path base = std::filesystem::path(LMLAB_LLAMA_SOURCE_DIR) / "models" / ("ggml-vocab-" + vocab + ".gguf");
  auto read = [](const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  const std::string inp = read(base.string() + ".inp"), outs = read(base.string() + ".out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (size_t pos = 0;;) {
    size_t end = inp.find(sep, pos);
    if (end == std::string::npos) break;  // the file ends with a separator
    texts.push_back(inp.substr(pos, end - pos));
    pos = end + sep.size();
  }
  std::istringstream lines(outs);
  std::string line;
  for (const std::string& t : texts) {
    if (!std::getline(lines, line)) break;
    TokenizerCase c{t, {}};
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) c.ids.push_back(id);
    out.push_back(std::move(c));
  }
  if (out.size() != texts.size()) ADD_FAILURE() << base << ": " << texts.size() << " texts but " << out.size() << " results";
#endif
  return out;
}

}  // namespace lmlab::testing
