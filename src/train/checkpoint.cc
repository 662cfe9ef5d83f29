#include "train/checkpoint.h"

#include <fmt/format.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "lmlab/core/file.h"
#include "lmlab/core/parse.h"

namespace lmlab::train::internal {
namespace {

constexpr std::string_view kMagic = "LMLABCK1";

template <class T>
void Put(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof(T));
}

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  template <class T>
  bool Get(T& value) {
    if (data_.size() - pos_ < sizeof(T)) return false;
    std::memcpy(&value, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool Bytes(size_t n, std::string_view& out) {
    if (data_.size() - pos_ < n) return false;
    out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool Floats(size_t n, std::vector<float>& out) {
    std::string_view b;
    if (n > (data_.size() - pos_) / sizeof(float) || !Bytes(n * sizeof(float), b)) return false;
    out.resize(n);
    std::memcpy(out.data(), b.data(), b.size());
    return true;
  }
  bool AtEnd() const { return pos_ == data_.size(); }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

}  // namespace

Status WriteCheckpoint(const std::filesystem::path& path, const Checkpoint& c) {
  nlohmann::json j;
  const ModelConfig& mc = c.model.config;
  j["config"] = {{"n_vocab", mc.n_vocab}, {"n_ctx", mc.n_ctx},     {"n_embd", mc.n_embd},
                 {"n_layer", mc.n_layer}, {"n_head", mc.n_head},   {"n_ff", mc.n_ff},
                 {"rms_norm_eps", mc.rms_norm_eps}, {"rope_freq_base", mc.rope_freq_base}};
  const runtime::LlamaVocab& v = c.model.vocab;
  std::vector<int> types;
  for (runtime::TokenType t : v.types) types.push_back(static_cast<int>(t));
  j["vocab"] = {{"scores", v.scores}, {"types", types}, {"unk", v.unk_id}, {"bos", v.bos_id},
                {"eos", v.eos_id},    {"pad", v.pad_id}, {"add_bos", v.add_bos}};
  nlohmann::json tensors = nlohmann::json::array();
  for (const NamedTensor& t : c.model.tensors) tensors.push_back({{"name", t.name}, {"shape", t.shape}});
  j["tensors"] = tensors;
  j["step"] = c.step;
  j["total_steps"] = c.total_steps;
  j["batch"] = c.batch;
  j["seed"] = std::to_string(c.seed);
  j["lr"] = c.lr;
  j["data_hash"] = std::to_string(c.data_hash);
  j["losses"] = c.losses;
  nlohmann::json epochs = nlohmann::json::array();
  for (const EpochStats& e : c.epochs)
    epochs.push_back({{"epoch", e.epoch}, {"step", e.step}, {"train_loss", e.train_loss}, {"val_loss", e.val_loss}});
  j["epochs"] = epochs;
  j["initial_val_loss"] = c.initial_val_loss;
  const std::string header = j.dump();

  std::string out;
  size_t floats = 0;
  for (const NamedTensor& t : c.model.tensors) floats += 3 * t.data.size();
  out.reserve(header.size() + floats * sizeof(float) + 64 * v.tokens.size() + 64);
  out += kMagic;
  Put<uint64_t>(out, header.size());
  out += header;
  for (const std::string& tok : v.tokens) {
    Put<uint32_t>(out, static_cast<uint32_t>(tok.size()));
    out += tok;
  }
  auto put_floats = [&](const std::vector<float>& f) {
    out.append(reinterpret_cast<const char*>(f.data()), f.size() * sizeof(float));
  };
  for (size_t i = 0; i < c.model.tensors.size(); ++i) {
    put_floats(c.model.tensors[i].data);
    put_floats(c.m[i]);
    put_floats(c.v[i]);
  }
  return WriteFileAtomic(path, out);
}

Result<Checkpoint> ReadCheckpoint(const std::filesystem::path& path) {
  LMLAB_ASSIGN_OR_RETURN(std::string data, ReadFile(path));
  auto corrupt = [&](std::string_view why) {
    return ParseError(fmt::format("{} is not a complete lmlab checkpoint ({}); delete it to start over",
                                  path.string(), why));
  };
  Reader r(data);
  std::string_view magic;
  if (!r.Bytes(kMagic.size(), magic) || magic != kMagic) return corrupt("bad magic");
  uint64_t n = 0;
  std::string_view header;
  if (!r.Get(n) || !r.Bytes(n, header)) return corrupt("truncated header");
  Checkpoint c;
  try {
    nlohmann::json j = nlohmann::json::parse(header);
    ModelConfig& mc = c.model.config;
    const auto& jc = j.at("config");
    mc.n_vocab = jc.at("n_vocab");
    mc.n_ctx = jc.at("n_ctx");
    mc.n_embd = jc.at("n_embd");
    mc.n_layer = jc.at("n_layer");
    mc.n_head = jc.at("n_head");
    mc.n_ff = jc.at("n_ff");
    mc.rms_norm_eps = jc.at("rms_norm_eps");
    mc.rope_freq_base = jc.at("rope_freq_base");
    const auto& jv = j.at("vocab");
    runtime::LlamaVocab& v = c.model.vocab;
    v.scores = jv.at("scores").get<std::vector<float>>();
    for (int t : jv.at("types").get<std::vector<int>>()) v.types.push_back(static_cast<runtime::TokenType>(t));
    v.unk_id = jv.at("unk");
    v.bos_id = jv.at("bos");
    v.eos_id = jv.at("eos");
    v.pad_id = jv.at("pad");
    v.add_bos = jv.at("add_bos");
    for (const auto& t : j.at("tensors"))
      c.model.tensors.push_back({t.at("name").get<std::string>(), t.at("shape").get<std::vector<int64_t>>(), {}});
    c.step = j.at("step");
    c.total_steps = j.at("total_steps");
    c.batch = j.at("batch");
    auto seed = ParseUint(j.at("seed").get<std::string>(), "seed");
    if (!seed) return corrupt(seed.error().message);
    c.seed = *seed;
    c.lr = j.at("lr");
    auto data_hash = ParseUint(j.at("data_hash").get<std::string>(), "data_hash");
    if (!data_hash) return corrupt(data_hash.error().message);
    c.data_hash = *data_hash;
    c.losses = j.at("losses").get<std::vector<double>>();
    for (const auto& e : j.at("epochs"))
      c.epochs.push_back({e.at("epoch"), e.at("step"), e.at("train_loss"), e.at("val_loss")});
    c.initial_val_loss = j.at("initial_val_loss");
  } catch (const std::exception& e) {
    return corrupt(e.what());
  }
  for (size_t i = 0; i < c.model.vocab.scores.size(); ++i) {
    uint32_t len = 0;
    std::string_view tok;
    if (!r.Get(len) || !r.Bytes(len, tok)) return corrupt("truncated vocabulary");
    c.model.vocab.tokens.emplace_back(tok);
  }
  for (NamedTensor& t : c.model.tensors) {
    // Dimensions come from the file: each positive, the product within the
    // file's size (so it cannot wrap around to a small number).
    size_t count = 1;
    for (int64_t d : t.shape) {
      if (d <= 0 || static_cast<size_t>(d) > data.size() || count > data.size() / static_cast<size_t>(d))
        return corrupt(fmt::format("tensor {} has an impossible shape", t.name));
      count *= static_cast<size_t>(d);
    }
    c.m.emplace_back();
    c.v.emplace_back();
    if (!r.Floats(count, t.data) || !r.Floats(count, c.m.back()) || !r.Floats(count, c.v.back()))
      return corrupt("truncated tensor data");
  }
  if (!r.AtEnd()) return corrupt("trailing bytes");
  if (static_cast<int64_t>(c.model.vocab.tokens.size()) != c.model.config.n_vocab) return corrupt("vocabulary size");
  return c;
}

}  // namespace lmlab::train::internal
