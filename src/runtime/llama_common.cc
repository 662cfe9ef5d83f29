#include "runtime/llama_common.h"

#include "lmlab/core/parse.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "lmlab/core/threads.h"

#include "lmlab/core/text.h"

namespace lmlab::runtime::internal {
namespace {

struct LogState {
  std::mutex mu;
  bool echo = false;               // LMLAB_LLAMA_LOG=1: also print to stderr
  ggml_log_level last_level = GGML_LOG_LEVEL_NONE;
  std::vector<std::string> errors; // ERROR messages (with their CONT pieces) since the last take
};

LogState& Log() {
  static LogState* state = new LogState;  // never destroyed: llama.cpp may log during exit
  return *state;
}

void LogCallback(ggml_log_level level, const char* text, void* /*user_data*/) {
  LogState& s = Log();
  std::lock_guard lock(s.mu);
  if (s.echo) std::fputs(text, stderr);
  if (level == GGML_LOG_LEVEL_CONT) {
    if (s.last_level == GGML_LOG_LEVEL_ERROR && !s.errors.empty()) s.errors.back() += text;
    return;
  }
  s.last_level = level;
  if (level == GGML_LOG_LEVEL_ERROR && s.errors.size() < 32) s.errors.emplace_back(text);
}

}  // namespace

void EnsureLlamaBackend() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* echo = std::getenv("LMLAB_LLAMA_LOG");
    Log().echo = echo && *echo && std::string_view(echo) != "0";
    llama_log_set(LogCallback, nullptr);
    llama_backend_init();
  });
}

std::string TakeLlamaError() {
  std::vector<std::string> errors;
  {
    LogState& s = Log();
    std::lock_guard lock(s.mu);
    errors.swap(s.errors);
  }
  // llama.cpp writes "function: error loading model: the reason", then
  // "function: failed to load model": keep the reasons, without the
  // function names and the generic lines.
  std::string out;
  for (std::string e : errors) {
    e.resize(TrimEnd(e).size());
    size_t colon = e.find(": ");
    if (colon != std::string::npos && e.find(' ') > colon) e.erase(0, colon + 2);
    for (std::string_view prefix : {"error loading model: ", "llama_model_loader: "})
      if (e.starts_with(prefix)) e.erase(0, prefix.size());
    if (e.empty() || e.starts_with("failed to load model")) continue;
    if (!out.empty()) out += "; ";
    out += e;
  }
  if (out.empty() && !errors.empty()) out = TrimEnd(errors.back());
  return out;
}

Status CheckGgufFile(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return NotFound("no such GGUF file: " + path.string());
  if (std::filesystem::is_directory(path, ec))
    return InvalidArgument(path.string() + " is a directory, not a GGUF file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError("cannot open " + path.string());
  char magic[4] = {};
  in.read(magic, 4);
  if (in.gcount() < 4 || std::string_view(magic, 4) != "GGUF")
    return ParseError(path.string() + " is not a GGUF file (it does not start with \"GGUF\")");
  return {};
}

Result<ModelPtr> LoadLlamaModel(const ModelSpec& spec) {
  EnsureLlamaBackend();
  LMLAB_RETURN_IF_ERROR(CheckGgufFile(spec.gguf_path));
  if (spec.n_gpu_layers < -1) return InvalidArgument("`n_gpu_layers` must be -1 (all), 0 or positive");

  llama_model_params params = llama_model_default_params();
  // 0 (the flag's default) defers to $LMLAB_GPU_LAYERS, so a GPU machine sets
  // its default once (scripts/gpu-check.sh runs the test suite offloaded).
  int gpu_layers = spec.n_gpu_layers;
  if (const char* env = std::getenv("LMLAB_GPU_LAYERS"); gpu_layers == 0 && env && *env) {
    auto parsed = ParseInt(env, "LMLAB_GPU_LAYERS");
    if (!parsed || *parsed < -1 || *parsed > 100000) return InvalidArgument("LMLAB_GPU_LAYERS must be -1 (all), 0 or positive");
    gpu_layers = static_cast<int>(*parsed);
  }
  params.n_gpu_layers = gpu_layers;  // ignored by a CPU-only build
  TakeLlamaError();
  llama_model* model = llama_model_load_from_file(spec.gguf_path.c_str(), params);
  if (!model) {
    std::string why = TakeLlamaError();
    return ParseError(fmt::format("cannot load {}{}{}", spec.gguf_path, why.empty() ? "" : ": ", why));
  }
  return ModelPtr(model);
}

llama_context_params ContextParams(const ModelSpec& spec, const llama_model* model) {
  llama_context_params p = llama_context_default_params();
  int64_t n_ctx = spec.n_ctx > 0 ? spec.n_ctx : std::min<int64_t>(llama_model_n_ctx_train(model), 4096);
  if (n_ctx <= 0) n_ctx = 4096;
  p.n_ctx = static_cast<uint32_t>(n_ctx);
  p.n_batch = static_cast<uint32_t>(std::min<int64_t>(n_ctx, 2048));
  p.n_ubatch = std::min<uint32_t>(p.n_batch, 512);
  const int threads = ResolveThreads(spec.threads);
  p.n_threads = threads;
  p.n_threads_batch = threads;
  p.no_perf = true;
  return p;
}

ModelInfo DescribeModel(const llama_model* model, const ModelSpec& spec, int64_t n_ctx) {
  ModelInfo info;
  info.backend = "llama.cpp";
  info.name = std::filesystem::path(spec.gguf_path).filename().string();
  char buf[256];
  if (llama_model_meta_val_str(model, "general.architecture", buf, sizeof buf) >= 0) info.architecture = buf;
  info.n_layers = llama_model_n_layer(model);
  info.n_embd = llama_model_n_embd(model);
  info.n_ctx_train = llama_model_n_ctx_train(model);
  info.n_ctx = n_ctx;
  info.n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
  info.n_params = static_cast<int64_t>(llama_model_n_params(model));
  // general.file_type, or llama.cpp's guess from the tensor types when a
  // file does not say (lmlab's own writer, llama.cpp's model saver).
  if (const char* q = llama_ftype_name(llama_model_ftype(model))) info.quantization = q;
  if (const char* t = llama_model_chat_template(model, nullptr)) info.chat_template = t;
  return info;
}

Result<std::vector<llama_token>> TokenizeText(const llama_vocab* vocab, std::string_view text, AddBos add_bos,
                                              ParseSpecial parse_special) {
  if (text.size() > static_cast<size_t>(INT32_MAX / 2)) return InvalidArgument("text too long to tokenize");
  const int32_t len = static_cast<int32_t>(text.size());
  std::vector<llama_token> tokens(text.size() + 2);
  int32_t n = llama_tokenize(vocab, text.data(), len, tokens.data(), static_cast<int32_t>(tokens.size()),
                             /*add_special=*/false, parse_special == ParseSpecial::kYes);
  if (n < 0) {
    if (n == INT32_MIN) return InvalidArgument("text too long to tokenize");
    tokens.resize(static_cast<size_t>(-n));
    n = llama_tokenize(vocab, text.data(), len, tokens.data(), static_cast<int32_t>(tokens.size()), false,
                       parse_special == ParseSpecial::kYes);
    if (n < 0) return Internal("llama_tokenize failed");
  }
  tokens.resize(static_cast<size_t>(n));
  const llama_token bos = llama_vocab_bos(vocab);
  if (add_bos == AddBos::kYes && bos != LLAMA_TOKEN_NULL) tokens.insert(tokens.begin(), bos);
  return tokens;
}

std::string TokenPiece(const llama_vocab* vocab, llama_token token) {
  char buf[128];
  int32_t n = llama_token_to_piece(vocab, token, buf, sizeof buf, 0, /*special=*/false);
  if (n >= 0) return std::string(buf, static_cast<size_t>(n));
  std::string big(static_cast<size_t>(-n), '\0');
  n = llama_token_to_piece(vocab, token, big.data(), static_cast<int32_t>(big.size()), 0, false);
  big.resize(static_cast<size_t>(std::max(n, 0)));
  return big;
}

std::unexpected<Error> ContextOverflow(int64_t n_tokens, int64_t n_ctx, std::string_view what) {
  return OutOfRange(fmt::format("{} has {} tokens but the context holds {}; shorten it or give a larger `n_ctx`", what,
                                n_tokens, n_ctx));
}

}  // namespace lmlab::runtime::internal
