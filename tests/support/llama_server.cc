#include "tests/support/llama_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace lmlab::testing {
namespace {

using Clock = std::chrono::steady_clock;

// GET /health over a plain socket (no HTTP library needed here): true on "200".
bool Healthy(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  bool ok = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const char req[] = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof req - 1)) {
      char buf[64] = {0};
      ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
      ok = n > 12 && std::string(buf, static_cast<size_t>(n)).substr(9, 3) == "200";
    }
  }
  close(fd);
  return ok;
}

}  // namespace

std::string LlamaServerBinary() { return std::string(LMLAB_BINARY_DIR) + "/bin/llama-server"; }

int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    socklen_t len = sizeof addr;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

std::string LlamaServer::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

std::string LlamaServer::Log() const {
  std::ifstream in(dir_ + "/server.log", std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<std::unique_ptr<LlamaServer>> LlamaServer::Start(const LlamaServerOptions& options) {
  std::string binary = LlamaServerBinary();
  if (!std::filesystem::exists(binary))
    return NotFound(binary + " is missing: build it with scripts/dev-build.sh llama-server");
  if (!std::filesystem::exists(options.model_path)) return NotFound("model " + options.model_path + " is missing");

  // A port can be taken between FreeLoopbackPort and the server's bind: try a few.
  std::string last_log;
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::unique_ptr<LlamaServer> s(new LlamaServer());
    char dir_template[] = "/tmp/lmlab-llama-server-XXXXXX";
    if (!mkdtemp(dir_template)) return IoError("mkdtemp failed");
    s->dir_ = dir_template;
    s->port_ = FreeLoopbackPort();
    std::vector<std::string> args = {binary, "-m", options.model_path, "--host", "127.0.0.1",
                                     "--port", std::to_string(s->port_), "-c", std::to_string(options.context),
                                     "-t", std::to_string(options.threads), "-tb", std::to_string(options.threads),
                                     "-np", std::to_string(options.parallel), "--no-webui", "--no-warmup"};
    args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
    std::string log_path = s->dir_ + "/server.log";

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return IoError("fork failed");
    if (pid == 0) {
      setpgid(0, 0);
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test
      if (getppid() != parent) _exit(127);
      int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int null_in = open("/dev/null", O_RDONLY);
      if (log >= 0) {
        dup2(log, 1);
        dup2(log, 2);
      }
      if (null_in >= 0) dup2(null_in, 0);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
    setpgid(pid, pid);
    s->pid_ = pid;

    auto deadline = Clock::now() + std::chrono::duration<double>(options.startup_timeout_seconds);
    bool exited = false;
    while (Clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        exited = true;
        s->pid_ = -1;
        break;
      }
      if (Healthy(s->port_)) return s;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    last_log = s->Log();
    if (!exited) {
      s->Stop();
      return Unavailable("llama-server did not become healthy within the startup timeout; log:\n" + last_log);
    }
    // It exited: maybe the port was taken; try another.
  }
  return Unavailable("llama-server exited during startup; log:\n" + last_log);
}

void LlamaServer::Reap(int signal, double grace_seconds) {
  if (pid_ <= 0) return;
  kill(-pid_, signal);
  auto deadline = Clock::now() + std::chrono::duration<double>(grace_seconds);
  int status = 0;
  while (Clock::now() < deadline) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      kill(-pid_, SIGKILL);  // anything it left in its group
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(-pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

void LlamaServer::Kill() { Reap(SIGKILL, 5); }

void LlamaServer::Stop() { Reap(SIGTERM, 5); }

LlamaServer::~LlamaServer() {
  Stop();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

}  // namespace lmlab::testing
