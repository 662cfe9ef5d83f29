#include "lmlab/runtime/gguf_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <set>

#include "ggml.h"
#include "gguf.h"
#include "runtime/gguf_handles.h"

#include "lmlab/core/text.h"

namespace lmlab::runtime {
namespace {

using internal::GgmlFree;
using internal::GgufFree;

std::string ShapeString(const std::vector<int64_t>& shape) {
  return "[" + Join(shape, ", ", [](int64_t d) { return std::to_string(d); }) + "]";
}

}  // namespace

std::vector<TensorShape> LlamaTensorLayout(const LlamaHparams& hp) {
  const int64_t head_dim = hp.n_head > 0 ? hp.n_embd / hp.n_head : 0;
  const int64_t n_embd_kv = head_dim * hp.n_head_kv;
  std::vector<TensorShape> out;
  out.push_back({"token_embd.weight", {hp.n_embd, hp.n_vocab}});
  for (int64_t il = 0; il < hp.n_layer; ++il) {
    auto blk = [&](const char* what) { return fmt::format("blk.{}.{}.weight", il, what); };
    out.push_back({blk("attn_norm"), {hp.n_embd}});
    out.push_back({blk("attn_q"), {hp.n_embd, hp.n_embd}});
    out.push_back({blk("attn_k"), {hp.n_embd, n_embd_kv}});
    out.push_back({blk("attn_v"), {hp.n_embd, n_embd_kv}});
    out.push_back({blk("attn_output"), {hp.n_embd, hp.n_embd}});
    out.push_back({blk("ffn_norm"), {hp.n_embd}});
    out.push_back({blk("ffn_gate"), {hp.n_embd, hp.n_ff}});
    out.push_back({blk("ffn_down"), {hp.n_ff, hp.n_embd}});
    out.push_back({blk("ffn_up"), {hp.n_embd, hp.n_ff}});
  }
  out.push_back({"output_norm.weight", {hp.n_embd}});
  out.push_back({"output.weight", {hp.n_embd, hp.n_vocab}});
  return out;
}

Status ValidateLlama(const LlamaHparams& hp, const LlamaVocab& vocab) {
  if (hp.n_embd <= 0 || hp.n_layer <= 0 || hp.n_head <= 0 || hp.n_head_kv <= 0 || hp.n_ff <= 0 ||
      hp.n_ctx_train <= 0)
    return InvalidArgument("llama hyperparameters must be positive (n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx_train)");
  if (hp.n_embd % hp.n_head != 0)
    return InvalidArgument(fmt::format("n_embd {} is not divisible by n_head {}", hp.n_embd, hp.n_head));
  if ((hp.n_embd / hp.n_head) % 2 != 0)
    return InvalidArgument(fmt::format("head size n_embd/n_head = {} must be even for RoPE", hp.n_embd / hp.n_head));
  if (hp.n_head % hp.n_head_kv != 0)
    return InvalidArgument(fmt::format("n_head {} is not divisible by n_head_kv {}", hp.n_head, hp.n_head_kv));
  if (!(hp.rms_norm_eps > 0) || !(hp.rope_freq_base > 0))
    return InvalidArgument("rms_norm_eps and rope_freq_base must be positive");
  const int64_t n = static_cast<int64_t>(vocab.tokens.size());
  if (n == 0) return InvalidArgument("the vocabulary is empty");
  if (hp.n_vocab != n)
    return InvalidArgument(fmt::format("n_vocab is {} but the vocabulary has {} tokens", hp.n_vocab, n));
  if (vocab.scores.size() != vocab.tokens.size() || vocab.types.size() != vocab.tokens.size())
    return InvalidArgument(fmt::format("vocabulary has {} tokens, {} scores and {} types; they must match", n,
                                       vocab.scores.size(), vocab.types.size()));
  auto in_range = [&](int32_t id) { return id >= 0 && id < n; };
  if (!in_range(vocab.unk_id) || !in_range(vocab.bos_id) || !in_range(vocab.eos_id) ||
      (vocab.pad_id != -1 && !in_range(vocab.pad_id)))
    return InvalidArgument(fmt::format("special token ids (unk {}, bos {}, eos {}, pad {}) must be within [0, {})",
                                       vocab.unk_id, vocab.bos_id, vocab.eos_id, vocab.pad_id, n));
  std::set<std::string_view> seen;
  for (const std::string& t : vocab.tokens) {
    if (t.empty()) return InvalidArgument("the vocabulary has an empty token");
    if (!seen.insert(t).second) return InvalidArgument("the vocabulary has a duplicate token: " + t);
  }
  return {};
}

Status WriteLlamaGguf(const std::filesystem::path& path, const LlamaHparams& hp, const LlamaVocab& vocab,
                      std::span<const GgufTensor> tensors) {
  LMLAB_RETURN_IF_ERROR(ValidateLlama(hp, vocab));

  // Check the tensors against the layout llama.cpp will expect, so a mistake
  // shows up here with a name and shapes, not later as a failed load.
  std::map<std::string, std::vector<int64_t>> expected;
  for (TensorShape& s : LlamaTensorLayout(hp)) expected.emplace(std::move(s.name), std::move(s.shape));
  std::set<std::string> given;
  for (const GgufTensor& t : tensors) {
    auto it = expected.find(t.name);
    if (it == expected.end()) return InvalidArgument("unexpected tensor for a llama model: " + t.name);
    if (!given.insert(t.name).second) return InvalidArgument("duplicate tensor: " + t.name);
    if (t.shape != it->second)
      return InvalidArgument(fmt::format("tensor {} has shape {}, expected {}", t.name, ShapeString(t.shape),
                                         ShapeString(it->second)));
    int64_t count = 1;
    for (int64_t d : t.shape) count *= d;
    if (static_cast<int64_t>(t.data.size()) != count)
      return InvalidArgument(fmt::format("tensor {} of shape {} needs {} values, got {}", t.name,
                                         ShapeString(t.shape), count, t.data.size()));
  }
  for (const auto& [name, shape] : expected)
    if (name != "output.weight" && !given.contains(name)) return InvalidArgument("missing tensor: " + name);

  std::unique_ptr<gguf_context, GgufFree> gguf(gguf_init_empty());
  gguf_context* g = gguf.get();
  gguf_set_val_str(g, "general.architecture", "llama");
  gguf_set_val_str(g, "general.name", hp.name.c_str());
  gguf_set_val_u32(g, "general.file_type", 0);  // LLAMA_FTYPE_ALL_F32
  gguf_set_val_u32(g, "llama.context_length", static_cast<uint32_t>(hp.n_ctx_train));
  gguf_set_val_u32(g, "llama.embedding_length", static_cast<uint32_t>(hp.n_embd));
  gguf_set_val_u32(g, "llama.block_count", static_cast<uint32_t>(hp.n_layer));
  gguf_set_val_u32(g, "llama.feed_forward_length", static_cast<uint32_t>(hp.n_ff));
  gguf_set_val_u32(g, "llama.attention.head_count", static_cast<uint32_t>(hp.n_head));
  gguf_set_val_u32(g, "llama.attention.head_count_kv", static_cast<uint32_t>(hp.n_head_kv));
  gguf_set_val_f32(g, "llama.attention.layer_norm_rms_epsilon", hp.rms_norm_eps);
  gguf_set_val_u32(g, "llama.rope.dimension_count", static_cast<uint32_t>(hp.n_embd / hp.n_head));
  gguf_set_val_f32(g, "llama.rope.freq_base", hp.rope_freq_base);
  gguf_set_val_u32(g, "llama.vocab_size", static_cast<uint32_t>(hp.n_vocab));

  gguf_set_val_str(g, "tokenizer.ggml.model", "llama");
  std::vector<const char*> token_ptrs;
  token_ptrs.reserve(vocab.tokens.size());
  for (const std::string& t : vocab.tokens) token_ptrs.push_back(t.c_str());
  gguf_set_arr_str(g, "tokenizer.ggml.tokens", token_ptrs.data(), token_ptrs.size());
  gguf_set_arr_data(g, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, vocab.scores.data(), vocab.scores.size());
  std::vector<int32_t> types(vocab.types.size());
  for (size_t i = 0; i < types.size(); ++i) types[i] = static_cast<int32_t>(vocab.types[i]);
  gguf_set_arr_data(g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types.data(), types.size());
  gguf_set_val_u32(g, "tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(vocab.unk_id));
  gguf_set_val_u32(g, "tokenizer.ggml.bos_token_id", static_cast<uint32_t>(vocab.bos_id));
  gguf_set_val_u32(g, "tokenizer.ggml.eos_token_id", static_cast<uint32_t>(vocab.eos_id));
  if (vocab.pad_id >= 0) gguf_set_val_u32(g, "tokenizer.ggml.padding_token_id", static_cast<uint32_t>(vocab.pad_id));
  gguf_set_val_bool(g, "tokenizer.ggml.add_bos_token", vocab.add_bos);
  gguf_set_val_bool(g, "tokenizer.ggml.add_eos_token", false);
  if (!hp.chat_template.empty()) gguf_set_val_str(g, "tokenizer.chat_template", hp.chat_template.c_str());

  // Tensor descriptions live in a no_alloc ggml context; the data stays in the
  // caller's buffers (gguf_set_tensor_data borrows it until the write).
  ggml_init_params params{.mem_size = (tensors.size() + 1) * ggml_tensor_overhead(), .mem_buffer = nullptr,
                          .no_alloc = true};
  std::unique_ptr<ggml_context, GgmlFree> meta(ggml_init(params));
  if (!meta) return Internal("ggml_init failed");
  for (const GgufTensor& t : tensors) {
    if (t.name.size() >= GGML_MAX_NAME) return InvalidArgument("tensor name too long: " + t.name);
    ggml_tensor* tensor = ggml_new_tensor(meta.get(), GGML_TYPE_F32, static_cast<int>(t.shape.size()), t.shape.data());
    ggml_set_name(tensor, t.name.c_str());
    gguf_add_tensor(g, tensor);
    gguf_set_tensor_data(g, t.name.c_str(), t.data.data());
  }

  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return IoError("cannot create " + dir.string() + ": " + ec.message());
  std::string tmp = (dir / ("." + path.filename().string() + ".XXXXXX")).string();
  int fd = mkstemp(tmp.data());
  if (fd < 0) return IoError("cannot create a temporary file in " + dir.string() + ": " + std::strerror(errno));
  FILE* f = fdopen(fd, "wb");
  if (!f) {
    close(fd);
    unlink(tmp.c_str());
    return IoError("cannot open " + tmp + ": " + std::strerror(errno));
  }
  bool ok = gguf_write_to_file_ptr(g, f, /*only_meta=*/false);
  ok = ok && std::fflush(f) == 0 && fsync(fileno(f)) == 0;
  int err = errno;
  if (std::fclose(f) != 0) ok = false;
  if (!ok) {
    unlink(tmp.c_str());
    return IoError("cannot write " + path.string() + ": " + std::strerror(err));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    err = errno;
    unlink(tmp.c_str());
    return IoError("cannot rename into " + path.string() + ": " + std::strerror(err));
  }
  chmod(path.c_str(), 0644);  // mkstemp made it 0600
  return {};
}

}  // namespace lmlab::runtime
