#include "sandbox/bwrap_process.h"

#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <limits>
#include <string_view>

#include <nlohmann/json.hpp>

namespace lmlab::sandbox::internal {
namespace {

double CpuSeconds(const struct rusage& ru) {
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

void SetLimit(int resource, rlim_t soft, rlim_t hard) {
  struct rlimit rl = {soft, hard};
  setrlimit(resource, &rl);
}

// In the forked child: only async-signal-safe calls from here to exec (the
// host may have other threads, whose locks the child inherits held).
[[noreturn]] void ExecChild(const ChildSpec& spec, char* const* argv, pid_t host_pid) {
  setsid();
  const Limits& L = spec.limits;
  SetLimit(RLIMIT_CPU, static_cast<rlim_t>(L.cpu_seconds), static_cast<rlim_t>(L.cpu_seconds) + 1);
  SetLimit(RLIMIT_AS, static_cast<rlim_t>(L.memory_bytes), static_cast<rlim_t>(L.memory_bytes));
  SetLimit(RLIMIT_FSIZE, static_cast<rlim_t>(L.file_size_bytes), static_cast<rlim_t>(L.file_size_bytes));
  SetLimit(RLIMIT_CORE, 0, 0);
  if (spec.run_as_uid) {
    uint32_t uid = *spec.run_as_uid;
    SetLimit(RLIMIT_NPROC, static_cast<rlim_t>(L.max_processes), static_cast<rlim_t>(L.max_processes));
    if (setgroups(0, nullptr) != 0 || setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0) _exit(126);
  }
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // after the uid change, which clears it
  if (getppid() != host_pid) _exit(125);  // the host died before the line above: nobody would kill us
  // The host ignores SIGPIPE (PrepareHostProcess); an ignored signal stays
  // ignored across exec, so give the program the default back.
  signal(SIGPIPE, SIG_DFL);
  // Move every end to a high number first so dup2 cannot clobber another.
  int high[kChildFds];
  for (int i = 0; i < kChildFds; ++i) high[i] = spec.fds[i] >= 0 ? fcntl(spec.fds[i], F_DUPFD_CLOEXEC, 100) : -1;
  for (int i = 0; i < kChildFds; ++i) {
    if (high[i] >= 0) dup2(high[i], i);
    else if (i >= 3) close(i);  // unused: must not be some host fd
  }
  syscall(SYS_close_range, kChildFds, ~0U, 0);  // no host fd (sockets, files) leaks in
  // bwrap's own init (pid 1 inside) keeps the environment it was started
  // with, readable at /proc/1/environ: start it with none.
  char* no_env[] = {nullptr};
  execve(argv[0], argv, no_env);
  _exit(127);
}

// The integer `key` of one --json-status-fd line, e.g. {"child-pid": 17}.
std::optional<int> StatusField(std::string_view line, const char* key) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return std::nullopt;
  int64_t v = it->get<int64_t>();
  if (v < 0 || v > std::numeric_limits<int>::max()) return std::nullopt;
  return static_cast<int>(v);
}

// Everything left in a pipe whose writers are gone (or, non-blocking, all
// that is there now).
std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) out.append(buf, size_t(n));
    else if (n < 0 && errno == EINTR) continue;
    else return out;
  }
}

}  // namespace

Result<BwrapProcess> BwrapProcess::Spawn(const ChildSpec& spec, UniqueFd status_read) {
  if (spec.argv.empty()) return InvalidArgument("sandbox: nothing to run");
  // Everything the child needs is built before the fork.
  std::vector<std::string> args = spec.argv;
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  const pid_t host_pid = getpid();
  BwrapProcess child;
  child.pid_ = fork();
  if (child.pid_ < 0) return IoError(std::string("sandbox: fork: ") + std::strerror(errno));
  if (child.pid_ == 0) ExecChild(spec, argv.data(), host_pid);
  child.pidfd_ = UniqueFd(static_cast<int>(syscall(SYS_pidfd_open, child.pid_, 0)));
  child.status_ = std::move(status_read);
  SetNonBlocking(child.status_);
  return child;
}

BwrapProcess::BwrapProcess(BwrapProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      pidfd_(std::move(other.pidfd_)),
      status_(std::move(other.status_)),
      killed_(other.killed_),
      exit_(std::move(other.exit_)) {}

BwrapProcess::~BwrapProcess() {
  if (pid_ > 0) Finish();
}

void BwrapProcess::KillSession() {
  if (pid_ > 0 && !exit_ && !killed_) kill(-pid_, SIGKILL);
  killed_ = true;
}

BwrapProcess::Exit BwrapProcess::Finish() {
  if (exit_) return *exit_;
  Exit e;
  // The tree must be gone: bwrap has exited (or is killed now), and the
  // kernel kills everything in its pid namespace with it.
  struct rusage ru {};
  kill(-pid_, SIGKILL);
  while (wait4(pid_, &e.wait_status, 0, &ru) < 0 && errno == EINTR) {
  }
  e.cpu_seconds = CpuSeconds(ru);
  e.max_rss_bytes = int64_t(ru.ru_maxrss) * 1024;
  // bwrap is gone: its status pipe holds all it wrote, a JSON object a line.
  pid_t init_pid = 0;
  if (status_.is_open()) {
    std::string status = ReadAll(status_.get());
    for (size_t at = 0; at < status.size();) {
      size_t nl = std::min(status.find('\n', at), status.size());
      std::string_view line(status.data() + at, nl - at);
      if (auto pid = StatusField(line, "child-pid")) init_pid = *pid;
      if (auto code = StatusField(line, "exit-code")) e.program_status = *code;
      at = nl + 1;
    }
    status_.Close();
  }
  // bwrap may exit before its namespace's init has been reaped; that init
  // was reparented to us (a child subreaper), so reap it here instead of
  // leaving a zombie to a host init that may never reap it. Only when it is
  // our child: if bwrap reaped it itself, the pid may belong to someone else.
  siginfo_t info{};
  if (init_pid > 0 && waitid(P_PID, init_pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0) {
    kill(init_pid, SIGKILL);  // already dying: bwrap exited and --die-with-parent fired
    struct rusage init_ru {};
    while (wait4(init_pid, nullptr, 0, &init_ru) < 0 && errno == EINTR) {
    }
    // The program's CPU time was collected by that init, not by bwrap.
    e.cpu_seconds += CpuSeconds(init_ru);
    e.max_rss_bytes = std::max(e.max_rss_bytes, int64_t(init_ru.ru_maxrss) * 1024);
  }
  pidfd_.Close();
  exit_ = e;
  return e;
}

}  // namespace lmlab::sandbox::internal
