// Server throughput on loopback: requests per second with 64 concurrent
// clients against a single client, as a ratio measured in the same run, with
// wrk (Debian package `wrk`) as the load generator.
//
//   scripts/dev-build.sh server_throughput_bench && build/bench/server_throughput_bench
//   build/bench/server_throughput_bench --model m.gguf --parallel 2 --seconds 10
//
// Two routes:
//   GET  /v1/models            the HTTP layer alone (routing, JSON, keep-alive)
//   POST /v1/chat/completions  the whole path: request parsing, FreshPrompt
//                              search over a SQLite index, the model (8 tokens)
// With P model instances (--parallel) the chat route can at best scale by P
// (and by the cores there are); the models route shows what the HTTP layer
// adds on top.
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "lmlab/core/threads.h"
#include "lmlab/runtime/language_model.h"
#include "lmlab/runtime/tiny_model.h"
#include "lmlab/search/local_index.h"
#include "lmlab/server/server.h"

namespace {

using namespace lmlab;
namespace fs = std::filesystem;

struct WrkResult {
  double requests_per_second = 0;
  double p50_ms = 0, p99_ms = 0;
  int64_t requests = 0, errors = 0;
};

double ToMs(const std::string& value, const std::string& unit) {
  double v = std::stod(value);
  if (unit == "us") return v / 1000;
  if (unit == "s") return v * 1000;
  if (unit == "m") return v * 60000;
  return v;
}

WrkResult RunWrk(const std::string& url, const std::string& script, int connections, int seconds) {
  int threads = std::min(connections, 2);
  std::string cmd = fmt::format("wrk -t{} -c{} -d{}s --latency --timeout 30s {} {} 2>&1", threads, connections, seconds,
                                script.empty() ? "" : "-s " + script, url);
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
  }
  WrkResult r;
  std::smatch m;
  if (std::regex_search(out, m, std::regex(R"(Requests/sec:\s+([0-9.]+))"))) r.requests_per_second = std::stod(m[1]);
  if (std::regex_search(out, m, std::regex(R"(\s50%\s+([0-9.]+)(us|ms|s|m)\b)"))) r.p50_ms = ToMs(m[1], m[2]);
  if (std::regex_search(out, m, std::regex(R"(\s99%\s+([0-9.]+)(us|ms|s|m)\b)"))) r.p99_ms = ToMs(m[1], m[2]);
  if (std::regex_search(out, m, std::regex(R"((\d+) requests in)"))) r.requests = std::stoll(m[1]);
  if (std::regex_search(out, m, std::regex(R"(Non-2xx or 3xx responses: (\d+))"))) r.errors += std::stoll(m[1]);
  if (std::regex_search(out, m, std::regex(R"(Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+))")))
    r.errors += std::stoll(m[1]) + std::stoll(m[2]) + std::stoll(m[3]) + std::stoll(m[4]);
  if (r.requests_per_second == 0) std::cerr << "wrk said:\n" << out << "\n";
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  lmlab::ApplyThreadWaitPolicy(argv);  // the thread policy lmlab runs with (core/threads.h)
  CLI::App app{"lmlab server throughput: 64 concurrent clients vs 1 (wrk, loopback)"};
  std::string model;
  int parallel = 2, seconds = 5, connections = 64, threads = 1;
  app.add_option("--model", model, "GGUF model (default: the tiny test model, written to a temporary file)");
  app.add_option("--parallel", parallel, "Model instances in the server")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads per model instance")->capture_default_str();
  app.add_option("--seconds", seconds, "Duration of each wrk run")->capture_default_str();
  app.add_option("--connections", connections, "Concurrent clients of the loaded run")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (std::system("command -v wrk >/dev/null 2>&1") != 0) {
    std::cerr << "wrk is not installed (apt-get install wrk)\n";
    return 1;
  }

  fs::path dir = fs::temp_directory_path() / fmt::format("lmlab-server-bench-{}", getpid());
  fs::create_directories(dir);
  if (model.empty()) {
    model = (dir / "tiny.gguf").string();
    if (auto s = runtime::WriteTinyModel(model, {}); !s) {
      std::cerr << s.error().ToString() << "\n";
      return 1;
    }
  }
  // A small dated corpus: enough for search to return a full window.
  std::string index_path = (dir / "docs.sqlite").string();
  {
    auto index = search::LocalIndex::Open(index_path, search::OpenMode::kCreate);
    if (!index) {
      std::cerr << index.error().ToString() << "\n";
      return 1;
    }
    std::vector<search::Document> docs;
    for (int i = 0; i < 200; ++i)
      docs.push_back({fmt::format("https://example.org/zlib/{}", i), "", fmt::format("zlib release note {}", i),
                      search::Timestamp(std::chrono::seconds(1'600'000'000 + i * 86'400)),
                      fmt::format("zlib version 1.{}.{} was released with fixes to compression number {}.", i / 10,
                                  i % 10, i)});
    if (auto a = (*index)->Add(docs); !a) {
      std::cerr << a.error().ToString() << "\n";
      return 1;
    }
  }

  std::vector<server::FreshSlot> slots;
  for (int i = 0; i < parallel; ++i) {
    auto lm = runtime::OpenModel({.gguf_path = model, .threads = threads, .n_ctx = 2048});
    auto index = search::LocalIndex::Open(index_path, search::OpenMode::kReadOnly);
    if (!lm || !index) {
      std::cerr << (lm ? index.error() : lm.error()).ToString() << "\n";
      return 1;
    }
    slots.push_back({std::move(*lm), std::move(*index)});
  }
  auto created = server::Server::Create(
      server::MakeFreshEngine(std::move(slots), {.k = 5, .today = [] { return *search::ParseDay("2026-11-27"); }}),
      {.port = 0, .http_threads = connections + 16});
  if (!created) {
    std::cerr << created.error().ToString() << "\n";
    return 1;
  }
  std::unique_ptr<server::Server> srv = std::move(*created);
  std::thread t([&] { (void)srv->Run(); });

  std::string lua = (dir / "chat.lua").string();
  std::ofstream(lua) << "wrk.method = \"POST\"\n"
                        "wrk.headers[\"Content-Type\"] = \"application/json\"\n"
                        "wrk.body = '{\"messages\":[{\"role\":\"user\",\"content\":\"What is the latest zlib "
                        "version?\"}],\"max_tokens\":8}'\n";

  struct Row {
    std::string route;
    WrkResult one, many;
  };
  std::vector<Row> rows;
  rows.push_back({"GET /v1/models", RunWrk(srv->url() + "/v1/models", "", 1, seconds),
                  RunWrk(srv->url() + "/v1/models", "", connections, seconds)});
  rows.push_back({"POST /v1/chat/completions", RunWrk(srv->url() + "/v1/chat/completions", lua, 1, seconds),
                  RunWrk(srv->url() + "/v1/chat/completions", lua, connections, seconds)});
  srv->Stop();
  t.join();
  fs::remove_all(dir);

  std::cout << fmt::format("lmlab server throughput on loopback ({} CPU cores, {} model instance(s), {} s per run)\n\n",
                           std::thread::hardware_concurrency(), parallel, seconds);
  std::cout << fmt::format("{:<28} {:>12} {:>12} {:>8} {:>10} {:>10} {:>7}\n", "route", "1 client/s",
                           fmt::format("{} clients/s", connections), "ratio", "p50 ms", "p99 ms", "errors");
  nlohmann::json j = nlohmann::json::array();
  for (const Row& r : rows) {
    double ratio = r.one.requests_per_second > 0 ? r.many.requests_per_second / r.one.requests_per_second : 0;
    std::cout << fmt::format("{:<28} {:>12.1f} {:>12.1f} {:>8.2f} {:>10.2f} {:>10.2f} {:>7}\n", r.route,
                             r.one.requests_per_second, r.many.requests_per_second, ratio, r.many.p50_ms,
                             r.many.p99_ms, r.one.errors + r.many.errors);
    j.push_back({{"route", r.route},
                 {"rps_1", r.one.requests_per_second},
                 {"rps_many", r.many.requests_per_second},
                 {"connections", connections},
                 {"ratio", ratio},
                 {"p50_ms_many", r.many.p50_ms},
                 {"p99_ms_many", r.many.p99_ms},
                 {"errors", r.one.errors + r.many.errors}});
  }
  std::cout << "\n" << j.dump() << "\n";
  return 0;
}
