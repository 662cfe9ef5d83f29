// Test helper: a real HTTP server (cpp-httplib) on a free loopback port, in
// its own thread, for fake endpoints and search engines. Add routes through
// server() (before or after construction); stopped and joined on destruction.
//
//   testing::LoopbackServer lo;
//   lo.server().Get("/search", [](const httplib::Request&, httplib::Response& res) { ... });
//   auto r = http->Send({.url = lo.url("/search?q=x")});
#pragma once

#include <httplib.h>

#include <chrono>
#include <string>
#include <string_view>
#include <thread>

namespace lmlab::testing {

class LoopbackServer {
 public:
  LoopbackServer() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~LoopbackServer() {
    server_.stop();
    thread_.join();
  }
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  httplib::Server& server() { return server_; }
  int port() const { return port_; }
  // "http://127.0.0.1:<port>" + path.
  std::string url(std::string_view path = "") const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace lmlab::testing
