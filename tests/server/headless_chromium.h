// Test helper: drives a REAL headless Chromium (Debian's `chromium`) through
// the DevTools protocol over --remote-debugging-pipe (NUL-separated JSON on
// file descriptors 3 and 4, so no WebSocket client is needed). Used by the
// web page test to load the page, wait for the answer, read the DOM, collect
// console messages and take a screenshot.
//
//   auto chrome = HeadlessChromium::Start();
//   ASSERT_TRUE(chrome) << chrome.error().ToString();
//   ASSERT_TRUE((*chrome)->Open(url));
//   auto state = (*chrome)->WaitFor("document.body.dataset.state === 'done'", 60);
//   std::string html = (*chrome)->Evaluate("document.documentElement.outerHTML")->get<std::string>();
//   WriteFileAtomic("page.png", *(*chrome)->Screenshot(1100, 1200));
//
// The browser runs in its own process group with a throw-away profile; the
// destructor closes it (Browser.close, then SIGKILL to the group).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "lmlab/core/error.h"

namespace lmlab::server::testing {

inline constexpr const char* kChromiumBinary = "/usr/bin/chromium";

inline std::string Base64Decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  int bits = 0, buffer = 0;
  for (char c : in) {
    int v = value(c);
    if (v < 0) continue;  // '=' padding, newlines
    buffer = (buffer << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return out;
}

class HeadlessChromium {
 public:
  using json = nlohmann::json;

  static Result<std::unique_ptr<HeadlessChromium>> Start() {
    if (!std::filesystem::exists(kChromiumBinary))
      return NotFound(std::string(kChromiumBinary) + " is missing: install Debian's chromium package");
    std::unique_ptr<HeadlessChromium> c(new HeadlessChromium());
    char dir_template[] = "/tmp/lmlab-chromium-XXXXXX";
    if (!mkdtemp(dir_template)) return IoError("mkdtemp failed");
    c->profile_ = dir_template;
    int to_chrome[2], from_chrome[2];
    if (pipe(to_chrome) != 0 || pipe(from_chrome) != 0) return IoError("pipe failed");
    std::string profile_flag = "--user-data-dir=" + c->profile_;
    std::string log = c->profile_ + "/chromium.log";
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return IoError("fork failed");
    if (pid == 0) {
      setpgid(0, 0);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      // Move the pipe ends out of the way, then onto fds 3 (commands in) and 4 (answers out).
      int in = fcntl(to_chrome[0], F_DUPFD, 10), out = fcntl(from_chrome[1], F_DUPFD, 10);
      dup2(in, 3);
      dup2(out, 4);
      int null_fd = open("/dev/null", O_RDWR);
      int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(null_fd, 0);
      dup2(null_fd, 1);
      dup2(log_fd >= 0 ? log_fd : null_fd, 2);
      for (int fd = 5; fd < 1024; ++fd) close(fd);
      const char* argv[] = {kChromiumBinary, "--headless", "--remote-debugging-pipe", "--no-sandbox",
                            "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                            "--disable-component-update", "--disable-sync", "--disable-extensions",
                            "--no-first-run", "--disable-default-apps", "--hide-scrollbars", "--mute-audio",
                            "--no-default-browser-check", profile_flag.c_str(), "about:blank", nullptr};
      execv(kChromiumBinary, const_cast<char**>(argv));
      _exit(127);
    }
    setpgid(pid, pid);
    close(to_chrome[0]);
    close(from_chrome[1]);
    c->pid_ = pid;
    c->write_fd_ = to_chrome[1];
    c->read_fd_ = from_chrome[0];
    // The browser is ready when it answers.
    auto version = c->Call("Browser.getVersion", json::object(), "", 30);
    if (!version) return std::unexpected(version.error().WithContext("chromium did not start"));
    return c;
  }

  ~HeadlessChromium() {
    if (pid_ > 0) {
      (void)Call("Browser.close", json::object(), "", 5);
      for (int i = 0; i < 100; ++i) {
        if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
          pid_ = -1;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (pid_ > 0) {
        kill(-pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
      }
      kill(-pid_, SIGKILL);  // helpers left in the group, if any
    }
    if (write_fd_ >= 0) close(write_fd_);
    if (read_fd_ >= 0) close(read_fd_);
    std::error_code ec;
    if (!profile_.empty()) std::filesystem::remove_all(profile_, ec);
  }

  // Sends a command (to the page session when `session` is set) and returns
  // its "result"; protocol errors are kInternal with Chromium's message.
  Result<json> Call(const std::string& method, json params, const std::string& session = "", double timeout = 30) {
    int id = next_id_++;
    json msg = {{"id", id}, {"method", method}, {"params", std::move(params)}};
    if (!session.empty()) msg["sessionId"] = session;
    std::string text = msg.dump();
    text.push_back('\0');
    for (size_t done = 0; done < text.size();) {
      ssize_t n = write(write_fd_, text.data() + done, text.size() - done);
      if (n <= 0) return Unavailable("chromium closed its DevTools pipe");
      done += static_cast<size_t>(n);
    }
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(timeout));
    while (std::chrono::steady_clock::now() < deadline) {
      LMLAB_ASSIGN_OR_RETURN(std::optional<json> m, Next(deadline));
      if (!m) break;
      if (m->contains("id") && (*m)["id"] == id) {
        if (m->contains("error")) return Internal(method + ": " + (*m)["error"].dump());
        return m->value("result", json::object());
      }
      Event(*m);
    }
    return Timeout(method + " got no answer from chromium");
  }

  // A new tab showing `url`, with console and log events collected.
  Status Open(const std::string& url, int width = 1100, int height = 1200) {
    LMLAB_ASSIGN_OR_RETURN(json target, Call("Target.createTarget", {{"url", "about:blank"}}));
    LMLAB_ASSIGN_OR_RETURN(json attached,
                           Call("Target.attachToTarget", {{"targetId", target["targetId"]}, {"flatten", true}}));
    session_ = attached["sessionId"].get<std::string>();
    for (const char* domain : {"Runtime.enable", "Log.enable", "Page.enable"})
      LMLAB_RETURN_IF_ERROR(Call(domain, json::object(), session_));
    LMLAB_RETURN_IF_ERROR(Call("Emulation.setDeviceMetricsOverride",
                               {{"width", width}, {"height", height}, {"deviceScaleFactor", 1}, {"mobile", false}},
                               session_));
    LMLAB_RETURN_IF_ERROR(Call("Page.navigate", {{"url", url}}, session_));
    return {};
  }

  // The value of a JavaScript expression in the page.
  Result<json> Evaluate(const std::string& expression) {
    LMLAB_ASSIGN_OR_RETURN(json r, Call("Runtime.evaluate", {{"expression", expression}, {"returnByValue", true}},
                                        session_));
    if (r.contains("exceptionDetails")) return Internal("page script failed: " + r["exceptionDetails"].dump());
    return r["result"].value("value", json());
  }

  // Polls `expression` until it is true; kTimeout after `seconds`.
  Status WaitFor(const std::string& expression, double seconds) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      auto v = Evaluate("Boolean(" + expression + ")");
      if (v && v->is_boolean() && v->get<bool>()) return {};
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return Timeout("the page never satisfied: " + expression);
  }

  // A PNG of the whole page.
  Result<std::string> Screenshot() {
    LMLAB_ASSIGN_OR_RETURN(json r, Call("Page.captureScreenshot", {{"format", "png"}, {"captureBeyondViewport", true}},
                                        session_, 60));
    return Base64Decode(r["data"].get<std::string>());
  }

  // Console output, uncaught exceptions and browser log errors of the page, as
  // "level: text" lines.
  const std::vector<std::string>& console() const { return console_; }

 private:
  HeadlessChromium() = default;

  // The next message, or nullopt at the deadline.
  Result<std::optional<json>> Next(std::chrono::steady_clock::time_point deadline) {
    for (;;) {
      size_t nul = buffer_.find('\0');
      if (nul != std::string::npos) {
        json m = json::parse(buffer_.substr(0, nul), nullptr, false);
        buffer_.erase(0, nul + 1);
        if (m.is_object()) return std::optional<json>(std::move(m));
        continue;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::optional<json>();
      pollfd p{read_fd_, POLLIN, 0};
      int ready = poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
      if (ready <= 0) continue;
      char chunk[65536];
      ssize_t n = read(read_fd_, chunk, sizeof chunk);
      if (n <= 0) return Unavailable("chromium exited");
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  void Event(const json& m) {
    std::string method = m.value("method", "");
    const json& p = m.contains("params") ? m["params"] : json();
    if (method == "Runtime.consoleAPICalled") {
      std::string text;
      for (const json& a : p.value("args", json::array()))
        text += (text.empty() ? "" : " ") + (a.contains("value") ? (a["value"].is_string() ? a["value"].get<std::string>()
                                                                                            : a["value"].dump())
                                                                 : a.value("description", std::string()));
      console_.push_back(p.value("type", std::string("log")) + ": " + text);
    } else if (method == "Runtime.exceptionThrown") {
      console_.push_back("exception: " + p["exceptionDetails"].dump());
    } else if (method == "Log.entryAdded") {
      const json& e = p["entry"];
      console_.push_back(e.value("level", std::string("log")) + ": " + e.value("text", std::string()) + " (" +
                         e.value("url", std::string()) + ")");
    }
  }

  pid_t pid_ = -1;
  int write_fd_ = -1, read_fd_ = -1;
  int next_id_ = 1;
  std::string buffer_;
  std::string profile_;
  std::string session_;
  std::vector<std::string> console_;
};

}  // namespace lmlab::server::testing
