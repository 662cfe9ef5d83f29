// `lmlab model`: look at a model, generate with it, tokenize, and write the
// tiny test model. See docs/runtime.md.
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "lmlab/core/text.h"
#include "cli/model_flags.h"
#include "lmlab/core/format.h"
#include "lmlab/core/table.h"
#include "lmlab/runtime/tiny_model.h"

namespace lmlab::cli::model_cmd {
namespace {

using runtime::ChatMessage;
using runtime::Completion;
using runtime::LanguageModel;
using runtime::ModelInfo;
using runtime::SamplingParams;

// Generated text from a small or random model may hold invalid UTF-8 (byte
// tokens in odd orders): print it with U+FFFD instead of failing.
void PrintJsonText(const nlohmann::json& j) {
  std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

std::string Quoted(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json ToJson(const ModelInfo& i) {
  return {{"backend", i.backend},         {"name", i.name},       {"architecture", i.architecture},
          {"n_layers", i.n_layers},       {"n_embd", i.n_embd},   {"n_ctx_train", i.n_ctx_train},
          {"n_ctx", i.n_ctx},             {"n_vocab", i.n_vocab}, {"n_params", i.n_params},
          {"quantization", i.quantization}, {"chat_template", i.chat_template}, {"chat_format", i.chat_format}};
}

nlohmann::json ToJson(const Completion& c) {
  nlohmann::json j = {{"text", c.text},
                      {"finish_reason", c.finish_reason},
                      {"prompt_tokens", c.prompt_tokens},
                      {"completion_tokens", c.completion_tokens},
                      {"seconds", c.seconds}};
  if (!c.logprobs.empty()) {
    nlohmann::json lps = nlohmann::json::array();
    for (const auto& t : c.logprobs) {
      nlohmann::json top = nlohmann::json::array();
      for (const auto& [piece, lp] : t.top) top.push_back({{"token", piece}, {"logprob", lp}});
      lps.push_back({{"token", t.token}, {"id", t.id}, {"logprob", t.logprob}, {"top", top}});
    }
    j["logprobs"] = lps;
  }
  return j;
}

// ---------------------------------------------------------------- info --
struct InfoOptions {
  ModelFlags model;
  bool json = false;
};

int RunInfo(const InfoOptions& o) {
  std::unique_ptr<LanguageModel> lm = OpenModelOrExit(o.model);
  const ModelInfo& i = lm->info();
  if (o.json) {
    PrintJsonText(ToJson(i));
    return 0;
  }
  auto known = [](int64_t v) { return v > 0 ? FormatThousands(static_cast<double>(v)) : std::string("?"); };
  Table t({"property", "value"}, {Align::kLeft, Align::kLeft});
  t.AddRow({"backend", i.backend});
  t.AddRow({"name", i.name});
  t.AddRow({"architecture", i.architecture.empty() ? "?" : i.architecture});
  t.AddRow({"parameters", i.n_params > 0 ? FormatThousands(double(i.n_params)) + " (" + FormatSi(double(i.n_params), "", 2) + ")" : "?"});
  t.AddRow({"weights", i.quantization.empty() ? "?" : i.quantization});
  t.AddRow({"layers", known(i.n_layers)});
  t.AddRow({"width (n_embd)", known(i.n_embd)});
  t.AddRow({"vocabulary", known(i.n_vocab)});
  t.AddRow({"training context", known(i.n_ctx_train)});
  t.AddRow({"session context", known(i.n_ctx)});
  std::string tmpl = i.chat_template.empty() ? "none (chat uses ChatML)" : i.chat_template;
  if (tmpl.size() > 60) tmpl = tmpl.substr(0, 57) + "...";
  for (char& c : tmpl)
    if (c == '\n') c = ' ';
  t.AddRow({"chat template", tmpl});
  if (!i.chat_format.empty()) t.AddRow({"chat format", i.chat_format});
  std::cout << t.Render();
  return 0;
}

// ------------------------------------------------------------- generate --
struct GenerateOptions {
  ModelFlags model;
  std::string prompt;
  bool chat = false;
  std::string system;
  bool show_prompt = false;
  SamplingParams sampling;
  bool json = false;
};

int RunGenerate(const GenerateOptions& o) {
  if (o.prompt.empty()) throw UsageError("give a prompt: lmlab model generate --model M.gguf \"Once upon a time\"");
  if (o.sampling.max_tokens < 0) throw UsageError("--max-tokens must not be negative");
  if (o.sampling.temperature < 0) throw UsageError("--temperature must be 0 (greedy) or positive");
  if (!(o.sampling.top_p > 0 && o.sampling.top_p <= 1)) throw UsageError("--top-p must be in (0, 1]");
  if (o.sampling.top_k < 0) throw UsageError("--top-k must be 0 (off) or positive");
  if (o.sampling.top_logprobs < 0) throw UsageError("--top-logprobs must not be negative");
  std::unique_ptr<LanguageModel> lm = OpenModelOrExit(o.model);
  runtime::TokenCallback stream;
  if (!o.json) {
    stream = [](std::string_view piece) {
      std::cout << piece << std::flush;
      return true;
    };
  }
  Completion c;
  std::string prompt;  // --show-prompt: what the chat template made of the messages
  if (o.chat) {
    std::vector<ChatMessage> messages;
    if (!o.system.empty()) messages.push_back({"system", o.system});
    messages.push_back({"user", o.prompt});
    if (o.show_prompt) prompt = OrExit(lm->FormatChat(messages));
    if (o.show_prompt && !o.json) std::cout << "--- prompt ---\n" << prompt << "\n--- end of prompt ---\n" << std::flush;
    c = OrExit(lm->Chat(messages, o.sampling, stream));
  } else {
    if (!o.system.empty()) throw UsageError("--system needs --chat");
    if (o.show_prompt) throw UsageError("--show-prompt needs --chat (without it the prompt is sent as given)");
    c = OrExit(lm->Complete(o.prompt, o.sampling, stream));
  }
  if (o.json) {
    nlohmann::json j = ToJson(c);
    if (o.show_prompt) j["prompt"] = prompt;
    PrintJsonText(j);
    return 0;
  }
  std::cout << "\n";
  if (isatty(STDERR_FILENO))
    std::cerr << fmt::format("[{} prompt + {} generated tokens, {}, {:.1f} tokens/s]\n", c.prompt_tokens,
                             c.completion_tokens, c.finish_reason,
                             c.seconds > 0 ? double(c.completion_tokens) / c.seconds : 0.0);
  return 0;
}

// ------------------------------------------------------------- tokenize --
struct TokenizeOptions {
  ModelFlags model;
  std::string text;
  bool no_bos = false;
  bool json = false;
};

int RunTokenize(const TokenizeOptions& o) {
  std::unique_ptr<LanguageModel> lm = OpenModelOrExit(o.model);
  std::vector<int32_t> ids = OrExit(lm->Tokenize(o.text, o.no_bos ? runtime::AddBos::kNo : runtime::AddBos::kYes));
  // Each token's text as it appears in context: the growth of the detokenized
  // prefix (detokenizing one token alone would drop SentencePiece's leading
  // space). A byte-level BPE token (GPT-2, Llama 3, Qwen) can end inside a
  // UTF-8 character: the character's bytes go to the token that completes it,
  // so every piece is valid UTF-8 and the pieces spell the text back.
  std::vector<std::string> pieces;
  std::string before;
  for (size_t i = 0; i < ids.size(); ++i) {
    std::string upto = OrExit(lm->Detokenize(std::span(ids.data(), i + 1)));
    const size_t unfinished = FirstInvalidUtf8(upto);  // a character the next tokens complete waits for them
    if (i + 1 < ids.size() && unfinished != std::string_view::npos) upto.resize(unfinished);
    pieces.push_back(upto.starts_with(before) ? upto.substr(before.size())
                                              : OrExit(lm->Detokenize(std::span(ids.data() + i, 1))));
    before = std::move(upto);
  }
  if (o.json) {
    nlohmann::json tokens = nlohmann::json::array();
    for (size_t i = 0; i < ids.size(); ++i) tokens.push_back({{"id", ids[i]}, {"piece", pieces[i]}});
    PrintJsonText({{"n_tokens", ids.size()}, {"tokens", tokens}});
    return 0;
  }
  Table t({"#", "id", "piece"}, {Align::kRight, Align::kRight, Align::kLeft});
  for (size_t i = 0; i < ids.size(); ++i) {
    t.AddRow({std::to_string(i), std::to_string(ids[i]), Quoted(pieces[i])});  // quoted: spaces and newlines show
  }
  std::cout << t.Render() << ids.size() << " tokens\n";
  return 0;
}

// ----------------------------------------------------------------- tiny --
struct TinyOptions {
  std::string out;
  runtime::TinyModelOptions model;
  std::string chat_template = "none";
  bool json = false;
};

int RunTiny(const TinyOptions& o) {
  runtime::TinyModelOptions m = o.model;
  if (o.chat_template == "chatml") {
    m.chat_template = runtime::kChatmlTemplate;
  } else if (o.chat_template != "none") {
    throw UsageError("--chat-template must be none or chatml (got '" + o.chat_template + "')");
  }
  OrExit(runtime::WriteTinyModel(o.out, m));
  std::error_code ec;
  auto bytes = std::filesystem::file_size(o.out, ec);
  if (o.json) {
    PrintJson({{"path", o.out},
               {"bytes", bytes},
               {"n_layer", m.n_layer},
               {"n_embd", m.n_embd},
               {"n_ff", m.n_ff},
               {"n_head", m.n_head},
               {"n_head_kv", m.n_head_kv},
               {"n_ctx_train", m.n_ctx_train},
               {"seed", m.seed}});
    return 0;
  }
  std::cout << fmt::format("wrote {} ({}): random llama model, {} layers x {}, {} context\n", o.out,
                           FormatBytes(double(bytes)), m.n_layer, m.n_embd, m.n_ctx_train)
            << "try: lmlab model generate --model " << o.out << " \"The capital of France is\"\n";
  return 0;
}

}  // namespace

void Register(CLI::App& app) {
  CLI::App* model = AddCommand(app, "model", "Inspect a model, generate text, tokenize, or write a tiny test model",
                               "  lmlab model tiny tiny.gguf\n"
                               "  lmlab model info --model tiny.gguf\n"
                               "  lmlab model generate --model tiny.gguf \"The capital of France is\" --max-tokens 16\n"
                               "  lmlab model tokenize --model tiny.gguf \"Hello world\"\n"
                               "  lmlab model info --endpoint http://127.0.0.1:8080 --api-model qwen2.5 --json\n");
  model->require_subcommand(1, 1);

  {
    auto o = std::make_shared<InfoOptions>();
    CLI::App* sub = AddCommand(*model, "info", "Architecture, size, context and chat template of a model",
                               "  lmlab model info --model tiny.gguf\n"
                               "  lmlab model info --model tiny.gguf --json\n");
    AddModelFlags(sub, o->model);
    sub->add_flag("--json", o->json, "Print JSON instead of a table");
    SetRun(sub, [o] { return RunInfo(*o); });
  }
  {
    auto o = std::make_shared<GenerateOptions>();
    CLI::App* sub =
        AddCommand(*model, "generate", "Generate text from a prompt, streamed to stdout",
                   "  lmlab model generate --model tiny.gguf \"The capital of France is\"\n"
                   "  lmlab model generate --model tiny.gguf \"Once upon a time\" --temperature 0.8 --seed 7 --max-tokens 64\n"
                   "  lmlab model generate --model tiny.gguf --chat --system \"Be brief.\" \"What is water made of?\"\n"
                   "  lmlab model generate --model tiny.gguf \"Hello\" --stop . --top-logprobs 3 --json\n");
    sub->add_option("prompt", o->prompt, "The prompt (with --chat: the user's message)")->required();
    AddModelFlags(sub, o->model);
    sub->option_defaults()->group("Sampling");
    sub->add_option("--max-tokens,-n", o->sampling.max_tokens, "Tokens to generate at most")->capture_default_str();
    sub->add_option("--temperature,-t", o->sampling.temperature, "Sampling temperature; 0 = greedy")
        ->capture_default_str();
    sub->add_option("--top-p", o->sampling.top_p, "Nucleus sampling: keep the smallest set with this much probability")
        ->capture_default_str();
    sub->add_option("--top-k", o->sampling.top_k, "Keep the k most likely tokens (0 = off)")->capture_default_str();
    sub->add_option("--seed", o->sampling.seed, "Random seed: the same seed gives the same text")->capture_default_str();
    sub->add_option("--stop", o->sampling.stop, "Stop before this text (repeatable); it is not printed");
    sub->add_option("--top-logprobs", o->sampling.top_logprobs, "With --json: log-probabilities of the top k tokens at each step")
        ->capture_default_str();
    sub->option_defaults()->group("Chat");
    sub->add_flag("--chat", o->chat, "Format the prompt as a user message with the model's chat template");
    sub->add_option("--system", o->system, "System message (with --chat)");
    sub->add_flag("--show-prompt", o->show_prompt,
                  "With --chat: print the prompt the chat template made (in --json: a \"prompt\" field)");
    sub->option_defaults()->group("Output");
    sub->add_flag("--json", o->json, "Print the completion as JSON at the end instead of streaming");
    SetRun(sub, [o] { return RunGenerate(*o); });
  }
  {
    auto o = std::make_shared<TokenizeOptions>();
    CLI::App* sub = AddCommand(*model, "tokenize", "Show how a model splits text into tokens",
                               "  lmlab model tokenize --model tiny.gguf \"The capital of France is\"\n"
                               "  lmlab model tokenize --model tiny.gguf --no-bos --json \"Hello\"\n");
    sub->add_option("text", o->text, "Text to tokenize")->required();
    AddModelFlags(sub, o->model);
    sub->add_flag("--no-bos", o->no_bos, "Do not prepend the beginning-of-sequence token");
    sub->add_flag("--json", o->json, "Print JSON instead of a table");
    SetRun(sub, [o] { return RunTokenize(*o); });
  }
  {
    auto o = std::make_shared<TinyOptions>();
    CLI::App* sub = AddCommand(
        *model, "tiny", "Write a tiny random llama-architecture GGUF for smoke tests (no download needed)",
        "  lmlab model tiny tiny.gguf\n"
        "  lmlab model tiny bench.gguf --layers 4 --embd 256 --ff 768\n"
        "  lmlab model tiny chat.gguf --chat-template chatml\n");
    sub->add_option("out", o->out, "Output .gguf path (written atomically)")->required();
    sub->add_option("--layers", o->model.n_layer, "Transformer blocks")->capture_default_str();
    sub->add_option("--embd", o->model.n_embd, "Width (n_embd)")->capture_default_str();
    sub->add_option("--ff", o->model.n_ff, "Feed-forward width")->capture_default_str();
    sub->add_option("--heads", o->model.n_head, "Attention heads")->capture_default_str();
    sub->add_option("--kv-heads", o->model.n_head_kv, "Key/value heads (grouped-query attention)")->capture_default_str();
    sub->add_option("--ctx-train", o->model.n_ctx_train, "Training context length")->capture_default_str();
    sub->add_option("--merges", o->model.n_merges, "Multi-character tokens in the vocabulary")->capture_default_str();
    sub->add_option("--seed", o->model.seed, "Weights seed")->capture_default_str();
    sub->add_option("--chat-template", o->chat_template, "none or chatml")->capture_default_str();
    sub->add_flag("--json", o->json, "Print JSON instead of a sentence");
    SetRun(sub, [o] { return RunTiny(*o); });
  }
}

}  // namespace lmlab::cli::model_cmd
