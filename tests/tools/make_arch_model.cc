// make_arch_model: writes the fixture matrix of tests/matrix/ — small
// random-weight models of the architectures people run, each carrying its
// REAL tokenizer (llama.cpp's models/ggml-vocab-*.gguf) and its real chat
// template (models/templates/*.jinja), in F16, Q8_0 and Q4_K_M.
//
//   make_arch_model --llama-source build/_deps/llama.cpp --out build/test-fixtures/arch-v1
//   make_arch_model ... --only llama3 --types f16
//
// How, per architecture (public llama.cpp and gguf API only):
//   1. the vocabulary file's tokenizer.* keys plus small hyperparameters
//      (2 layers x 256, 4 heads, FFN 512) go into a GGUF context;
//   2. llama_model_init_from_user builds the model llama.cpp would load from
//      it (every tensor the architecture has, with llama.cpp's shapes) and
//      llama_model_save_to_file writes it;
//   3. the tensors are refilled with the weights below, the chat template is
//      added, and the F32 file is written;
//   4. llama_model_quantize (the function behind llama-quantize) writes
//      F16, Q8_0 and Q4_K_M from it.
// A manifest (manifest.json) lists every cell with what the tests assert.
//
// The weights make a model whose behaviour tests can rely on without being
// trained: residual dimension 0 carries a constant C in every token
// embedding, which the final norm turns into a near-constant component h0
// of the last hidden state; the output head reads it only for the model's
// end-of-turn token, with a weight that lifts that token's logit by
// b = ln(n_vocab) - 1.1 over the others. Greedy decoding therefore stops at
// once (the end-of-turn token is always the most likely), and sampling at
// temperature 1 stops after about 3 tokens (p ~ 0.25 per step). Everything
// else is small Gaussian noise, norms are 1 and biases 0. Tied-embedding
// models (no output.weight) get the lift through the token's embedding.
//
// The files are written under a lock (<out>/.lock) and renamed into place,
// so test processes running in parallel share one generation.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "ggml.h"
#include "gguf.h"
#include "llama.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// One architecture of the matrix.
struct Cell {
  const char* name;          // fixture name, e.g. "llama3"
  const char* label;         // what people call it
  const char* arch;          // general.architecture
  const char* vocab;         // models/ggml-vocab-<vocab>.gguf
  const char* chat_template;  // models/templates/<file>; "vocab" = the vocabulary file's own; "" = none
  const char* end_of_turn;   // the token the template ends the assistant's turn with
  int n_ctx_train;
  bool tied;                 // no output.weight: the head reads the token embeddings
  float rope_freq_base;
};

constexpr Cell kCells[] = {
    {"llama3", "Llama 3.1 (BPE, 128k vocabulary)", "llama", "llama-bpe", "meta-llama-Llama-3.1-8B-Instruct.jinja",
     "<|eot_id|>", 8192, false, 500000.0f},
    {"qwen2", "Qwen 2.5", "qwen2", "qwen2", "Qwen-Qwen2.5-7B-Instruct.jinja", "<|im_end|>", 8192, true, 1000000.0f},
    {"qwen3", "Qwen 3", "qwen3", "qwen2", "Qwen-Qwen3-0.6B.jinja", "<|im_end|>", 8192, true, 1000000.0f},
    {"phi3", "Phi-3.5 mini", "phi3", "phi-3", "microsoft-Phi-3.5-mini-instruct.jinja", "<|end|>", 4096, false,
     10000.0f},
    {"mistral", "Mistral 7B (Llama 2 SentencePiece vocabulary)", "llama", "llama-spm",
     "mistralai-Mistral-Nemo-Instruct-2407.jinja", "</s>", 8192, false, 1000000.0f},
    {"gpt2", "GPT-2", "gpt2", "gpt-2", "", "<|endoftext|>", 1024, true, 10000.0f},
    {"falcon", "Falcon (BPE, parallel attention and MLP)", "falcon", "falcon", "", "<|endoftext|>", 2048, false,
     10000.0f},
};

struct WeightType {
  const char* name;  // file suffix
  llama_ftype ftype;
};
constexpr WeightType kTypes[] = {
    {"f16", LLAMA_FTYPE_MOSTLY_F16},
    {"q8_0", LLAMA_FTYPE_MOSTLY_Q8_0},
    {"q4_k_m", LLAMA_FTYPE_MOSTLY_Q4_K_M},
};

// Hyperparameters shared by every cell. n_embd and n_ff are multiples of
// 256, so K-quants (256-element super-blocks) apply to every matrix.
constexpr uint32_t kLayers = 2, kEmbd = 256, kHeads = 4, kHeadsKv = 2, kFf = 512;
constexpr float kConstant = 4.0f;       // residual dimension 0 of every token embedding
constexpr float kEmbdNoise = 0.05f;     // the other dimensions
constexpr float kMatrixNoise = 0.02f;   // block matrices
constexpr float kOutputNoise = 0.1f;    // output head (untied)

[[noreturn]] void Die(const std::string& message) {
  std::cerr << "make_arch_model: " << message << "\n";
  std::exit(1);
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) Die("cannot read " + p.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Quiet(ggml_log_level level, const char* text, void*) {
  if (level == GGML_LOG_LEVEL_ERROR) std::cerr << text;
}

// The expected last hidden state's dimension 0 after an RMS norm of an
// embedding row (C, noise...): sqrt(n) * C / sqrt(C^2 + (n - 1) sigma^2).
float ExpectedH0() {
  const float n = static_cast<float>(kEmbd);
  return std::sqrt(n) * kConstant / std::sqrt(kConstant * kConstant + (n - 1) * kEmbdNoise * kEmbdNoise);
}

// The tokenizer keys of a vocabulary file (everything else is its original
// model's and is dropped).
gguf_context* TokenizerKeys(const fs::path& vocab_file, bool keep_template) {
  gguf_init_params p{.no_alloc = true, .ctx = nullptr};
  gguf_context* vocab = gguf_init_from_file(vocab_file.c_str(), p);
  if (!vocab) Die("cannot read " + vocab_file.string());
  gguf_context* out = gguf_init_empty();
  gguf_set_kv(out, vocab);
  gguf_free(vocab);
  for (int64_t i = gguf_get_n_kv(out) - 1; i >= 0; --i) {
    std::string key = gguf_get_key(out, i);
    bool keep = key.starts_with("tokenizer.") && (keep_template || key != "tokenizer.chat_template");
    if (!keep) gguf_remove_key(out, key.c_str());
  }
  return out;
}

void SetHparams(gguf_context* ctx, const Cell& c, uint32_t n_vocab) {
  const std::string a = c.arch;
  auto u32 = [&](const std::string& key, uint32_t v) { gguf_set_val_u32(ctx, (a + "." + key).c_str(), v); };
  auto f32 = [&](const std::string& key, float v) { gguf_set_val_f32(ctx, (a + "." + key).c_str(), v); };
  gguf_set_val_str(ctx, "general.architecture", c.arch);
  gguf_set_val_str(ctx, "general.name", c.name);
  u32("vocab_size", n_vocab);
  u32("context_length", static_cast<uint32_t>(c.n_ctx_train));
  u32("embedding_length", kEmbd);
  u32("block_count", kLayers);
  u32("feed_forward_length", kFf);
  u32("attention.head_count", kHeads);
  const bool mha = a == "gpt2";                    // GPT-2 has no grouped-query attention
  const bool no_rope = mha || a == "starcoder";  // learned positions instead
  u32("attention.head_count_kv", mha ? kHeads : a == "starcoder" ? 1 : kHeadsKv);  // StarCoder: one K/V head
  f32("attention.layer_norm_rms_epsilon", 1e-6f);
  f32("attention.layer_norm_epsilon", 1e-5f);
  if (!no_rope) {
    f32("rope.freq_base", c.rope_freq_base);
    u32("rope.dimension_count", kEmbd / kHeads);
  }
  if (a == "phi3") u32("rope.scaling.original_context_length", static_cast<uint32_t>(c.n_ctx_train));
}

void ZeroFill(ggml_tensor* t, void*) {
  std::vector<char> zeros(ggml_nbytes(t), 0);
  ggml_backend_tensor_set(t, zeros.data(), 0, zeros.size());
}

// Refills one F32 tensor (ggml order: element (i, r) of a matrix is
// data[r * ne0 + i], r a row = one token for embeddings and the head).
void FillTensor(ggml_tensor* t, const Cell& c, int32_t end_of_turn, uint32_t n_vocab, std::mt19937_64& rng) {
  if (t->type != GGML_TYPE_F32) Die(std::string("tensor ") + t->name + " is not F32");
  float* w = static_cast<float*>(t->data);
  const int64_t n = ggml_nelements(t);
  const std::string name = t->name;
  std::normal_distribution<float> unit(0.0f, 1.0f);
  if (ggml_n_dims(t) == 1) {
    // Norm gains and rope factors 1, biases 0.
    const float v = name.find("norm") != std::string::npos || name.find("rope") != std::string::npos ? 1.0f : 0.0f;
    for (int64_t i = 0; i < n; ++i) w[i] = v;
    return;
  }
  const int64_t ne0 = t->ne[0], rows = n / ne0;
  // log(n_vocab) - 1.1: the end-of-turn token gets about a quarter of the
  // probability mass at temperature 1, and is the argmax.
  const float lift = std::log(static_cast<float>(n_vocab)) - 1.1f;
  if (name == "token_embd.weight") {
    for (int64_t r = 0; r < rows; ++r) {
      w[r * ne0] = kConstant;
      for (int64_t i = 1; i < ne0; ++i) w[r * ne0 + i] = kEmbdNoise * unit(rng);
    }
    if (c.tied) w[static_cast<int64_t>(end_of_turn) * ne0] = kConstant + lift / ExpectedH0();
    return;
  }
  if (name == "output.weight") {
    for (int64_t r = 0; r < rows; ++r) {
      w[r * ne0] = 0.0f;
      for (int64_t i = 1; i < ne0; ++i) w[r * ne0 + i] = kOutputNoise * unit(rng);
    }
    w[static_cast<int64_t>(end_of_turn) * ne0] = lift / ExpectedH0();
    return;
  }
  if (name == "position_embd.weight") {  // GPT-2's and StarCoder's learned positions: leave dimension 0 alone
    for (int64_t r = 0; r < rows; ++r) {
      w[r * ne0] = 0.0f;
      for (int64_t i = 1; i < ne0; ++i) w[r * ne0 + i] = kEmbdNoise * unit(rng);
    }
    return;
  }
  for (int64_t i = 0; i < n; ++i) w[i] = kMatrixNoise * unit(rng);
}

struct Paths {
  fs::path llama_source;
  fs::path out;
};

json MakeCell(const Cell& c, const Paths& paths, const std::vector<const WeightType*>& types) {
  const auto start = std::chrono::steady_clock::now();
  const fs::path vocab_file = paths.llama_source / "models" / (std::string("ggml-vocab-") + c.vocab + ".gguf");
  // The vocabulary alone: its size and the end-of-turn token's id.
  llama_model_params vp = llama_model_default_params();
  vp.vocab_only = true;
  llama_model* vocab_model = llama_model_load_from_file(vocab_file.c_str(), vp);
  if (!vocab_model) Die("cannot load the vocabulary " + vocab_file.string());
  const llama_vocab* vocab = llama_model_get_vocab(vocab_model);
  const uint32_t n_vocab = static_cast<uint32_t>(llama_vocab_n_tokens(vocab));
  llama_token eot[4];
  int32_t n_eot = llama_tokenize(vocab, c.end_of_turn, static_cast<int32_t>(std::strlen(c.end_of_turn)), eot, 4,
                                 /*add_special=*/false, /*parse_special=*/true);
  if (n_eot != 1) Die(std::string(c.end_of_turn) + " is not one token of " + c.vocab);
  if (!llama_vocab_is_eog(vocab, eot[0])) Die(std::string(c.end_of_turn) + " is not an end-of-generation token");
  const int32_t end_of_turn = eot[0];
  const llama_token bos = llama_vocab_bos(vocab);
  llama_model_free(vocab_model);

  // 1-2: the architecture's tensors, as llama.cpp creates them.
  const bool template_from_vocab = std::string(c.chat_template) == "vocab";
  gguf_context* meta = TokenizerKeys(vocab_file, template_from_vocab);
  std::string chat_template;
  if (template_from_vocab) {
    int64_t k = gguf_find_key(meta, "tokenizer.chat_template");
    if (k < 0) Die(std::string(c.vocab) + " has no chat template");
    chat_template = gguf_get_val_str(meta, k);
  } else if (*c.chat_template) {
    chat_template = ReadFile(paths.llama_source / "models" / "templates" / c.chat_template);
  }
  SetHparams(meta, c, n_vocab);
  llama_model_params mp = llama_model_default_params();
  ggml_backend_dev_t cpu_only[2] = {ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU), nullptr};
  mp.devices = cpu_only;
  llama_model* model = llama_model_init_from_user(meta, ZeroFill, nullptr, mp);
  gguf_free(meta);
  if (!model) Die(std::string("llama.cpp cannot build a ") + c.arch + " model from these hyperparameters");
  const fs::path shapes = paths.out / (std::string(c.name) + ".shapes.tmp.gguf");
  llama_model_save_to_file(model, shapes.c_str());
  llama_model_free(model);

  // 3: the weights, the template, the F32 file.
  ggml_context* data = nullptr;
  gguf_context* saved = gguf_init_from_file(shapes.c_str(), {.no_alloc = false, .ctx = &data});
  if (!saved) Die("cannot read back " + shapes.string());
  gguf_context* out = gguf_init_empty();
  gguf_set_kv(out, saved);
  gguf_set_val_str(out, "general.name", c.name);
  gguf_set_val_u32(out, "general.file_type", LLAMA_FTYPE_ALL_F32);
  if (!chat_template.empty()) gguf_set_val_str(out, "tokenizer.chat_template", chat_template.c_str());
  std::mt19937_64 rng(20261202);
  int64_t n_params = 0;
  for (int64_t i = 0; i < gguf_get_n_tensors(saved); ++i) {
    const char* name = gguf_get_tensor_name(saved, i);
    if (c.tied && std::string(name) == "output.weight") continue;
    ggml_tensor* t = ggml_get_tensor(data, name);
    FillTensor(t, c, end_of_turn, n_vocab, rng);
    n_params += ggml_nelements(t);
    gguf_add_tensor(out, t);
  }
  const fs::path f32 = paths.out / (std::string(c.name) + ".f32.tmp.gguf");
  if (!gguf_write_to_file(out, f32.c_str(), false)) Die("cannot write " + f32.string());
  gguf_free(out);
  gguf_free(saved);
  ggml_free(data);
  fs::remove(shapes);

  // 4: the weight types, as llama-quantize writes them.
  json files = json::object();
  for (const WeightType* type : types) {
    const fs::path dest = paths.out / (std::string(c.name) + "-" + type->name + ".gguf");
    const fs::path tmp = dest.string() + ".tmp";
    llama_model_quantize_params qp = llama_model_quantize_default_params();
    qp.ftype = type->ftype;
    qp.nthread = 2;
    if (llama_model_quantize(f32.c_str(), tmp.c_str(), &qp) != 0) Die("llama_model_quantize failed for " + dest.string());
    fs::rename(tmp, dest);
    files[type->name] = dest.filename().string();
  }
  fs::remove(f32);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cerr << "make_arch_model: " << c.name << " (" << c.arch << ", " << c.vocab << ") in " << seconds << " s\n";
  return {{"name", c.name},
          {"label", c.label},
          {"arch", c.arch},
          {"vocab", c.vocab},
          {"chat_template_file", c.chat_template},
          {"chat_template", chat_template},
          {"end_of_turn", c.end_of_turn},
          {"end_of_turn_id", end_of_turn},
          {"bos_id", bos},
          {"n_vocab", n_vocab},
          {"n_layer", kLayers},
          {"n_embd", kEmbd},
          {"n_ff", kFf},
          {"n_head", kHeads},
          {"n_ctx_train", c.n_ctx_train},
          {"tied_embeddings", c.tied},
          {"n_params", n_params},
          {"files", files}};
}

}  // namespace

int main(int argc, char** argv) {
  Paths paths;
  std::string only, type_list = "f16,q8_0,q4_k_m";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--llama-source") paths.llama_source = next();
    else if (a == "--out") paths.out = next();
    else if (a == "--only") only = next();
    else if (a == "--types") type_list = next();
    else Die("unknown argument " + a + " (usage: --llama-source DIR --out DIR [--only NAME] [--types f16,q8_0,q4_k_m])");
  }
  if (paths.llama_source.empty() || paths.out.empty()) Die("--llama-source and --out are required");
  std::vector<const WeightType*> types;
  for (const WeightType& t : kTypes)
    if (("," + type_list + ",").find("," + std::string(t.name) + ",") != std::string::npos) types.push_back(&t);
  if (types.empty()) Die("--types names none of f16, q8_0, q4_k_m");
  fs::create_directories(paths.out);

  // One generator at a time; the others wait and then find the files.
  int lock = open((paths.out / ".lock").c_str(), O_CREAT | O_RDWR, 0644);
  if (lock < 0 || flock(lock, LOCK_EX) != 0) Die("cannot lock " + (paths.out / ".lock").string());

  llama_log_set(Quiet, nullptr);
  llama_backend_init();
  const fs::path manifest_path = paths.out / "manifest.json";
  json manifest = json::object();
  if (fs::exists(manifest_path)) manifest = json::parse(ReadFile(manifest_path), nullptr, false);
  if (!manifest.is_object()) manifest = json::object();
  bool changed = false;
  for (const Cell& c : kCells) {
    if (!only.empty() && only != c.name) continue;
    bool present = manifest.contains(c.name);
    for (const WeightType* t : types)
      present = present && fs::exists(paths.out / (std::string(c.name) + "-" + t->name + ".gguf"));
    if (present) continue;
    manifest[c.name] = MakeCell(c, paths, types);
    changed = true;
  }
  if (changed) {
    const fs::path tmp = manifest_path.string() + ".tmp";
    std::ofstream(tmp) << manifest.dump(2) << "\n";
    fs::rename(tmp, manifest_path);
  }
  llama_backend_free();
  flock(lock, LOCK_UN);
  close(lock);
  return 0;
}
