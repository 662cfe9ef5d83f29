// The system ProcessRunner: posix_spawnp, three pipes, one poll loop.
#include "lmlab/core/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>

extern char** environ;

namespace lmlab {
namespace {

using Clock = std::chrono::steady_clock;

// Both ends closed on scope exit, on every path.
struct Pipe {
  int fd[2] = {-1, -1};
  Pipe() = default;
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  ~Pipe() {
    CloseEnd(0);
    CloseEnd(1);
  }
  bool Open() { return ::pipe2(fd, O_CLOEXEC) == 0; }
  void CloseEnd(int i) {
    if (fd[i] >= 0) ::close(fd[i]);
    fd[i] = -1;
  }
};

// Writes to a pipe whose reader may be gone without killing this process
// with SIGPIPE (EPIPE comes back instead), leaving the signal disposition
// of the process alone.
ssize_t WriteNoSigpipe(int fd, const char* data, size_t n) {
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  ssize_t w = ::write(fd, data, n);
  if (w < 0 && errno == EPIPE) {
    const timespec zero{0, 0};
    while (sigtimedwait(&pipe_set, nullptr, &zero) > 0) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return w;
}

std::vector<std::string> Environment(const std::vector<std::pair<std::string, std::string>>& extra) {
  std::map<std::string, std::string> vars;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    size_t eq = kv.find('=');
    if (eq != std::string::npos) vars[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : extra) vars[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : vars) out.push_back(k + "=" + v);
  return out;
}

class SystemRunner final : public ProcessRunner {
 public:
  Result<ProcessResult> Run(const ProcessRequest& r) override {
    if (r.argv.empty() || r.argv[0].empty()) return InvalidArgument("no program to run");
    const std::string& program = r.argv[0];
    Pipe in, out, err;
    if (!in.Open() || !out.Open() || !err.Open()) return IoError(std::string("cannot create pipes: ") + std::strerror(errno));

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in.fd[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out.fd[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err.fd[1], 2);
    if (!r.work_dir.empty()) posix_spawn_file_actions_addchdir_np(&actions, r.work_dir.c_str());
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    // Its own process group, so a kill reaches whatever it started too; the
    // default signal dispositions, whatever this process ignores.
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    sigset_t no_mask;
    sigemptyset(&no_mask);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setsigmask(&attr, &no_mask);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

    std::vector<std::string> env = Environment(r.env);
    std::vector<char*> envp, argv;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::vector<std::string> args = r.argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    pid_t pid = -1;
    const auto start = Clock::now();
    int rc = posix_spawnp(&pid, program.c_str(), &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
      if (rc == ENOENT) return NotFound(program + ": not found (is it installed and on PATH?)");
      return IoError("cannot start " + program + ": " + std::strerror(rc));
    }
    in.CloseEnd(0);
    out.CloseEnd(1);
    err.CloseEnd(1);
    if (r.stdin_data.empty()) in.CloseEnd(1);
    for (int fd : {in.fd[1], out.fd[0], err.fd[0]})
      if (fd >= 0) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);

    ProcessResult result;
    size_t written = 0;
    enum class Stop { kNo, kTimeout, kCancel } stop = Stop::kNo;
    char buf[65536];
    while (out.fd[0] >= 0 || err.fd[0] >= 0) {
      pollfd fds[3];
      int n = 0;
      if (out.fd[0] >= 0) fds[n++] = {out.fd[0], POLLIN, 0};
      if (err.fd[0] >= 0) fds[n++] = {err.fd[0], POLLIN, 0};
      if (in.fd[1] >= 0) fds[n++] = {in.fd[1], POLLOUT, 0};
      int ready = ::poll(fds, n, 100);
      if (ready < 0 && errno != EINTR) break;
      for (int i = 0; i < n && ready > 0; ++i) {
        if (!fds[i].revents) continue;
        if (fds[i].fd == in.fd[1]) {
          ssize_t w = WriteNoSigpipe(in.fd[1], r.stdin_data.data() + written, r.stdin_data.size() - written);
          if (w > 0) written += static_cast<size_t>(w);
          if (w < 0 && errno != EAGAIN) written = r.stdin_data.size();  // the reader is gone
          if (written >= r.stdin_data.size()) in.CloseEnd(1);
          continue;
        }
        ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
        if (got > 0) {
          (fds[i].fd == out.fd[0] ? result.out : result.err).append(buf, static_cast<size_t>(got));
        } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
          (fds[i].fd == out.fd[0] ? out : err).CloseEnd(0);
        }
      }
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      if (r.timeout_seconds > 0 && elapsed > r.timeout_seconds) stop = Stop::kTimeout;
      if (r.cancel && r.cancel->load()) stop = Stop::kCancel;
      if (stop != Stop::kNo) {
        ::kill(-pid, SIGKILL);
        break;
      }
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (stop == Stop::kTimeout)
      return Timeout(program + " ran past " + std::to_string(static_cast<int>(r.timeout_seconds)) + " s and was killed");
    if (stop == Stop::kCancel) return MakeError(ErrorCode::kCancelled, program + " was stopped");
    return result;
  }
};

}  // namespace

std::unique_ptr<ProcessRunner> MakeSystemProcessRunner() { return std::make_unique<SystemRunner>(); }

std::string DescribeFailure(const ProcessRequest& request, const ProcessResult& result) {
  std::string text = result.err.find_first_not_of(" \t\r\n") == std::string::npos ? result.out : result.err;
  // The first three lines are enough to say what went wrong.
  size_t pos = 0;
  for (int line = 0; line < 3 && pos != std::string::npos; ++line) {
    size_t nl = text.find('\n', pos);
    pos = nl == std::string::npos ? nl : nl + 1;
  }
  if (pos != std::string::npos) text.resize(pos);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  std::string name = request.argv.empty() ? "the program" : request.argv[0];
  return name + " exited with " + std::to_string(result.exit_code) + (text.empty() ? "" : ": " + text);
}

}  // namespace lmlab
