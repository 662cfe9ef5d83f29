// The bubblewrap Sandbox. The host forks, drops to a fresh unprivileged user
// id (when root), sets rlimits, starts a new session and execs bwrap, which
// builds the mount, pid, network, ipc and uts namespaces. The host then pumps
// stdin/stdout/stderr and the RPC pipes with poll(), enforces the output cap
// and the wall clock, and SIGKILLs the session on either. Killing bwrap kills
// the pid namespace's init (--die-with-parent), and the kernel then kills
// every process left inside: nothing outlives a run. bwrap loads the
// seccomp deny-list (seccomp.h), compiled once per sandbox and handed over on
// a pipe, just before it execs the program.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "lmlab/sandbox/sandbox.h"
#include "sandbox/seccomp.h"

namespace lmlab::sandbox {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Child-side fd numbers.
constexpr int kRpcRequestFd = 3;   // program writes requests
constexpr int kRpcResponseFd = 4;  // program reads responses
constexpr int kStatusFd = 5;       // bwrap's --json-status-fd
constexpr int kSeccompFd = 6;      // bwrap's --seccomp: reads the filter, closes it

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct Pipe {
  int read = -1, write = -1;
  Status Open() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return IoError(std::string("pipe: ") + std::strerror(errno));
    read = fds[0];
    write = fds[1];
    return {};
  }
};

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

void SetNonBlocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

std::atomic<uint32_t> g_run_counter{0};

bool ValidRelativePath(const std::string& p) {
  if (p.empty() || p.front() == '/') return false;
  for (const auto& part : fs::path(p))
    if (part == ".." || part == ".") return false;
  return true;
}

// Removes the run's temp dir on every path out of Run.
// The host holds an exclusive flock on the dir for the whole run, so another
// lmlab (in another pid namespace, or on another node sharing the temp dir,
// where the pid says nothing) can tell a live run from a dead one.
struct TempDir {
  fs::path path;
  int lock_fd = -1;
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
    if (lock_fd >= 0) close(lock_fd);
  }
};

// Run dirs are named lmlab-sandbox-<host pid>-XXXXXX. A host killed with
// SIGKILL cannot remove its dir, so each new sandbox removes the dirs of
// hosts that are gone: the pid names no process here, the dir's flock is
// free (nobody holds it anywhere), and the dir is over a minute old (so a
// host between mkdtemp and flock is never caught).
constexpr std::string_view kRunDirPrefix = "lmlab-sandbox-";

void RemoveRunDirsOfDeadHosts(const fs::path& tmp) {
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  for (fs::directory_iterator it(tmp, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::directory_entry& entry = *it;
    std::string name = entry.path().filename().string();
    if (!name.starts_with(kRunDirPrefix)) continue;
    size_t dash = name.find('-', kRunDirPrefix.size());
    if (dash == std::string::npos) continue;
    pid_t pid = 0;
    try {
      pid = static_cast<pid_t>(std::stol(name.substr(kRunDirPrefix.size(), dash - kRunDirPrefix.size())));
    } catch (const std::exception&) {
      continue;
    }
    struct stat st;
    if (pid <= 0 || lstat(entry.path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
      continue;
    if (kill(pid, 0) == 0 || errno != ESRCH) continue;
    std::error_code time_ec;
    auto modified = fs::last_write_time(entry.path(), time_ec);
    if (time_ec || now - modified < std::chrono::minutes(1)) continue;
    int fd = open(entry.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) continue;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
      std::error_code remove_ec;
      fs::remove_all(entry.path(), remove_ec);
    }
    close(fd);
  }
}

bool Contains(const std::string& s, std::string_view needle) { return s.find(needle) != std::string::npos; }

class BubblewrapSandbox final : public Sandbox {
 public:
  explicit BubblewrapSandbox(BubblewrapOptions o) : options_(std::move(o)) {
    std::error_code ec;
    fs::path tmp = fs::temp_directory_path(ec);
    if (!ec) RemoveRunDirsOfDeadHosts(tmp);
    if (options_.seccomp) seccomp_filter_ = CompileSeccompFilter();
  }
  Result<RunResult> Run(const Request& request) override;

 private:
  BubblewrapOptions options_;
  // The compiled filter (or why it failed: then every Run fails, closed).
  Result<std::string> seccomp_filter_ = std::string();
};

std::vector<std::string> BwrapArgs(const std::string& bwrap, const Request& req, const std::string& box_dir,
                                   bool as_root, bool seccomp) {
  std::vector<std::string> a = {bwrap,
                                "--unshare-all",  // user (when possible), pid, net, ipc, uts, cgroup
                                "--die-with-parent",
                                "--new-session",
                                "--ro-bind", "/usr", "/usr",
                                "--symlink", "usr/bin", "/bin",
                                "--symlink", "usr/sbin", "/sbin",
                                "--symlink", "usr/lib", "/lib",
                                "--symlink", "usr/lib64", "/lib64",
                                // numpy's BLAS is found through these two.
                                "--ro-bind-try", "/etc/alternatives", "/etc/alternatives",
                                "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
                                "--proc", "/proc",
                                "--dev", "/dev",
                                "--size", std::to_string(req.limits.tmp_bytes), "--tmpfs", "/tmp",
                                "--ro-bind", box_dir, "/box",
                                "--remount-ro", "/",  // the root tmpfs too: only /tmp is writable
                                "--chdir", "/tmp",
                                "--hostname", "sandbox",
                                "--json-status-fd", std::to_string(kStatusFd),
                                "--clearenv"};
  if (seccomp) {
    a.push_back("--seccomp");
    a.push_back(std::to_string(kSeccompFd));
  }
  auto has = [&](std::string_view k) {
    for (const auto& [key, v] : req.env)
      if (key == k) return true;
    return false;
  };
  std::vector<std::pair<std::string, std::string>> env = req.env;
  if (!has("PATH")) env.emplace_back("PATH", "/usr/bin:/bin");
  if (!has("HOME")) env.emplace_back("HOME", "/tmp");
  if (!has("LANG")) env.emplace_back("LANG", "C.UTF-8");
  for (const auto& [k, v] : env) {
    a.push_back("--setenv");
    a.push_back(k);
    a.push_back(v);
  }
  a.push_back("--");
  if (!as_root) {
    // Not root: the run shares our user id, so RLIMIT_NPROC is set inside the
    // new user namespace, where it counts only the sandbox's processes.
    a.push_back("/usr/bin/prlimit");
    a.push_back("--nproc=" + std::to_string(req.limits.max_processes));
    a.push_back("--");
  }
  for (const auto& s : req.argv) a.push_back(s);
  return a;
}

Verdict Classify(RunResult& r, bool timed_out, bool output_limit, bool started, const Limits& limits) {
  if (timed_out) {
    r.detail = "killed after " + std::to_string(limits.wall_seconds).substr(0, 5) + " s wall clock";
    return Verdict::kTimeout;
  }
  if (output_limit) {
    r.detail = "killed: wrote more than " + std::to_string(limits.output_bytes) + " bytes of output";
    return Verdict::kOutputLimit;
  }
  if (!started) {
    r.detail = "bubblewrap failed to set up the sandbox";
    return Verdict::kSandboxError;
  }
  if (r.signal == SIGXCPU || (r.signal == SIGKILL && r.cpu_seconds >= limits.cpu_seconds - 0.05)) {
    r.detail = "used up " + std::to_string(limits.cpu_seconds) + " CPU seconds";
    return Verdict::kCpuLimit;
  }
  if (r.signal == SIGXFSZ) {
    r.detail = "wrote past the file size limit";
    return Verdict::kFileSizeLimit;
  }
  if (r.exit_code != 0) {
    const std::string& e = r.stderr_data;
    if (Contains(e, "MemoryError") || Contains(e, "Cannot allocate memory") || Contains(e, "bad_alloc") ||
        Contains(e, "out of memory")) {
      r.detail = "an allocation failed under the memory limit";
      return Verdict::kMemoryLimit;
    }
    if (Contains(e, "File too large") || Contains(e, "No space left on device")) {
      r.detail = "a write failed at the file size or /tmp limit";
      return Verdict::kFileSizeLimit;
    }
  }
  if (r.signal != 0) {
    r.detail = std::string("ended by signal ") + std::to_string(r.signal) + " (" + strsignal(r.signal) + ")";
    return Verdict::kSignal;
  }
  if (r.exit_code == 0) return Verdict::kOk;
  r.detail = "exited with status " + std::to_string(r.exit_code);
  return Verdict::kNonZeroExit;
}

Result<RunResult> BubblewrapSandbox::Run(const Request& req) {
  if (req.argv.empty() || req.argv[0].empty() || req.argv[0][0] != '/')
    return InvalidArgument("sandbox: argv[0] must be an absolute path inside the sandbox (e.g. /usr/bin/python3)");
  const Limits& L = req.limits;
  if (!(L.wall_seconds > 0) || L.cpu_seconds <= 0 || L.memory_bytes <= 0 || L.max_processes <= 0 ||
      L.file_size_bytes <= 0 || L.tmp_bytes <= 0 || L.output_bytes <= 0)
    return InvalidArgument("sandbox: every limit must be positive");
  if (!seccomp_filter_) return std::unexpected(seccomp_filter_.error());
  const std::string& seccomp_bpf = *seccomp_filter_;

  // The program's files, world-readable so the unprivileged uid can read them.
  TempDir box;
  {
    std::string tmpl =
        (fs::temp_directory_path() / (std::string(kRunDirPrefix) + std::to_string(getpid()) + "-XXXXXX")).string();
    if (!mkdtemp(tmpl.data())) return IoError(std::string("sandbox: cannot create a temp dir: ") + std::strerror(errno));
    box.path = tmpl;
    box.lock_fd = open(tmpl.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (box.lock_fd < 0 || flock(box.lock_fd, LOCK_EX) != 0)
      return IoError(std::string("sandbox: cannot lock the temp dir: ") + std::strerror(errno));
    chmod(tmpl.c_str(), 0755);
  }
  for (const File& f : req.files) {
    if (!ValidRelativePath(f.path)) return InvalidArgument("sandbox: bad file path '" + f.path + "'");
    fs::path p = box.path / f.path;
    std::error_code ec;
    fs::create_directories(p.parent_path(), ec);
    for (fs::path d = p.parent_path(); d != box.path && !d.empty(); d = d.parent_path()) chmod(d.c_str(), 0755);
    std::ofstream out(p, std::ios::binary);
    out << f.contents;
    if (!out) return IoError("sandbox: cannot write " + p.string());
    out.close();
    chmod(p.c_str(), 0644);
  }

  const bool as_root = geteuid() == 0;
  RunResult r;
  r.uid = as_root ? options_.uid_base + (static_cast<uint32_t>(getpid()) * 64 + g_run_counter++) % options_.uid_count
                  : geteuid();
  std::vector<std::string> args = BwrapArgs(options_.bwrap, req, box.path.string(), as_root, !seccomp_bpf.empty());
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);

  Pipe in, out, err, status, rpc_req, rpc_resp, seccomp;
  auto close_all = [&] {
    for (Pipe* p : {&in, &out, &err, &status, &rpc_req, &rpc_resp, &seccomp}) {
      CloseFd(p->read);
      CloseFd(p->write);
    }
  };
  for (Pipe* p : {&in, &out, &err, &status}) {
    if (Status s = p->Open(); !s) {
      close_all();
      return std::unexpected(s.error());
    }
  }
  if (req.rpc) {
    for (Pipe* p : {&rpc_req, &rpc_resp}) {
      if (Status s = p->Open(); !s) {
        close_all();
        return std::unexpected(s.error());
      }
    }
  }
  if (!seccomp_bpf.empty()) {
    // The whole filter goes into the pipe now (a few KiB; the pipe is grown
    // first should it ever outgrow the default 64 KiB) and the write end is
    // closed, so bwrap reads it to EOF without the host's help.
    Status s = seccomp.Open();
    if (s && seccomp_bpf.size() > 65536 && fcntl(seccomp.write, F_SETPIPE_SZ, int(seccomp_bpf.size())) < 0)
      s = IoError(std::string("sandbox: cannot grow the seccomp pipe: ") + std::strerror(errno));
    for (size_t done = 0; s && done < seccomp_bpf.size();) {
      ssize_t w = write(seccomp.write, seccomp_bpf.data() + done, seccomp_bpf.size() - done);
      if (w > 0) done += size_t(w);
      else if (w < 0 && errno != EINTR) s = IoError(std::string("sandbox: seccomp pipe: ") + std::strerror(errno));
    }
    CloseFd(seccomp.write);
    if (!s) {
      close_all();
      return std::unexpected(s.error());
    }
  }

  prctl(PR_SET_CHILD_SUBREAPER, 1);  // see the reaping of bwrap's init below
  const pid_t host_pid = getpid();
  auto start = Clock::now();
  pid_t pid = fork();
  if (pid < 0) {
    close_all();
    return IoError(std::string("sandbox: fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls from here to exec.
    setsid();
    auto lim = [](int res, rlim_t soft, rlim_t hard) {
      struct rlimit rl = {soft, hard};
      setrlimit(res, &rl);
    };
    lim(RLIMIT_CPU, static_cast<rlim_t>(L.cpu_seconds), static_cast<rlim_t>(L.cpu_seconds) + 1);
    lim(RLIMIT_AS, static_cast<rlim_t>(L.memory_bytes), static_cast<rlim_t>(L.memory_bytes));
    lim(RLIMIT_FSIZE, static_cast<rlim_t>(L.file_size_bytes), static_cast<rlim_t>(L.file_size_bytes));
    lim(RLIMIT_CORE, 0, 0);
    if (as_root) {
      lim(RLIMIT_NPROC, static_cast<rlim_t>(L.max_processes), static_cast<rlim_t>(L.max_processes));
      if (setgroups(0, nullptr) != 0 || setresgid(r.uid, r.uid, r.uid) != 0 || setresuid(r.uid, r.uid, r.uid) != 0)
        _exit(126);
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // after the uid change, which clears it
    if (getppid() != host_pid) _exit(125);  // the host died before the line above: nobody would kill us
    // Move every end to a high number first so dup2 cannot clobber another.
    int src[7] = {in.read, out.write, err.write, rpc_req.write, rpc_resp.read, status.write, seccomp.read};
    int dst[7] = {0, 1, 2, kRpcRequestFd, kRpcResponseFd, kStatusFd, kSeccompFd};
    int high[7];
    for (int i = 0; i < 7; ++i) high[i] = src[i] >= 0 ? fcntl(src[i], F_DUPFD_CLOEXEC, 100) : -1;
    for (int i = 0; i < 7; ++i) {
      if (high[i] >= 0) dup2(high[i], dst[i]);
      else if (i >= 3) close(dst[i]);  // unused: must not be some host fd
    }
    syscall(SYS_close_range, kSeccompFd + 1, ~0U, 0);  // no host fd (sockets, files) leaks in
    // bwrap's own init (pid 1 inside) keeps the environment it was started
    // with, readable at /proc/1/environ: start it with none.
    char* no_env[] = {nullptr};
    execve(argv[0], argv.data(), no_env);
    _exit(127);
  }

  // Parent.
  CloseFd(in.read);
  CloseFd(out.write);
  CloseFd(err.write);
  CloseFd(status.write);
  CloseFd(rpc_req.write);
  CloseFd(rpc_resp.read);
  CloseFd(seccomp.read);
  int pidfd = PidfdOpen(pid);
  for (int fd : {in.write, out.read, err.read, status.read, rpc_req.read, rpc_resp.write})
    if (fd >= 0) SetNonBlocking(fd);
  signal(SIGPIPE, SIG_IGN);  // a program that closes stdin must not kill the host

  size_t stdin_done = 0;
  if (req.stdin_data.empty()) CloseFd(in.write);
  std::string status_json, rpc_in, rpc_out;
  bool timed_out = false, output_limit = false, exited = false, killed = false;
  double rpc_seconds = 0;
  auto kill_tree = [&] {
    if (!killed) kill(-pid, SIGKILL);
    killed = true;
  };
  auto drain = [&](int& fd, std::string& into, bool capped) {
    char buf[65536];
    for (;;) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n > 0) {
        size_t room = capped ? static_cast<size_t>(L.output_bytes) - std::min(into.size(), size_t(L.output_bytes))
                             : size_t(n);
        into.append(buf, std::min(room, size_t(n)));
        if (capped && size_t(n) > room) {
          output_limit = true;
          kill_tree();
        }
        continue;
      }
      if (n == 0) CloseFd(fd);
      else if (errno == EINTR) continue;
      return;
    }
  };

  while (true) {
    double elapsed = Seconds(Clock::now() - start) - rpc_seconds;
    if (!timed_out && !exited && elapsed >= L.wall_seconds) {
      timed_out = true;
      kill_tree();
    }
    std::vector<pollfd> fds;
    auto add = [&](int fd, short ev) {
      if (fd >= 0) fds.push_back({fd, ev, 0});
    };
    add(out.read, POLLIN);
    add(err.read, POLLIN);
    add(status.read, POLLIN);
    add(rpc_req.read, POLLIN);
    if (in.write >= 0) add(in.write, POLLOUT);
    if (!rpc_out.empty()) add(rpc_resp.write, POLLOUT);
    if (!exited) add(pidfd, POLLIN);
    if (exited && out.read < 0 && err.read < 0) break;
    int wait_ms = exited ? 200 : std::max(1, static_cast<int>((L.wall_seconds - elapsed) * 1000) + 1);
    if (timed_out) wait_ms = 200;
    int n = poll(fds.data(), fds.size(), wait_ms);
    if (n < 0 && errno != EINTR) break;
    if (n == 0 && exited) break;  // the tree is gone; a pipe still open elsewhere cannot hold us
    for (const pollfd& p : fds) {
      if (!p.revents) continue;
      if (p.fd == out.read) drain(out.read, r.stdout_data, true);
      else if (p.fd == err.read) drain(err.read, r.stderr_data, true);
      else if (p.fd == status.read) drain(status.read, status_json, false);
      else if (p.fd == rpc_req.read) {
        size_t before = rpc_in.size();
        drain(rpc_req.read, rpc_in, false);
        if (rpc_in.size() > size_t(L.output_bytes) * 8 && rpc_in.find('\n', before) == std::string::npos) {
          output_limit = true;  // an endless request line
          kill_tree();
        }
        size_t nl;
        while (!killed && (nl = rpc_in.find('\n')) != std::string::npos) {
          std::string line = rpc_in.substr(0, nl);
          rpc_in.erase(0, nl + 1);
          auto t0 = Clock::now();
          rpc_out += req.rpc(line);
          rpc_out += '\n';
          rpc_seconds += Seconds(Clock::now() - t0);
          ++r.rpc_requests;
        }
      } else if (p.fd == in.write) {
        ssize_t w = write(in.write, req.stdin_data.data() + stdin_done, req.stdin_data.size() - stdin_done);
        if (w > 0) stdin_done += size_t(w);
        if (w < 0 && errno != EAGAIN && errno != EINTR) CloseFd(in.write);
        if (stdin_done == req.stdin_data.size()) CloseFd(in.write);
      } else if (p.fd == rpc_resp.write) {
        ssize_t w = write(rpc_resp.write, rpc_out.data(), rpc_out.size());
        if (w > 0) rpc_out.erase(0, size_t(w));
        if (w < 0 && errno != EAGAIN && errno != EINTR) rpc_out.clear();
      } else if (p.fd == pidfd) {
        exited = true;
      }
    }
  }
  // The tree must be gone: bwrap has exited (or was killed), and the kernel
  // killed everything in its pid namespace with it. Kill the session anyway.
  struct rusage ru {};
  int wstatus = 0;
  kill(-pid, SIGKILL);
  while (wait4(pid, &wstatus, 0, &ru) < 0 && errno == EINTR) {
  }
  if (status.read >= 0) drain(status.read, status_json, false);
  close_all();
  CloseFd(pidfd);
  r.wall_seconds = Seconds(Clock::now() - start) - rpc_seconds;
  r.rpc_seconds = rpc_seconds;
  r.cpu_seconds = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
  r.max_rss_bytes = int64_t(ru.ru_maxrss) * 1024;

  // bwrap's outer process may exit before the namespace's init has been
  // reaped; that init was reparented to us (we are a child subreaper), so
  // reap it here instead of leaving a zombie to a host init that may not.
  if (size_t k = status_json.find("\"child-pid\""); k != std::string::npos) {
    pid_t init_pid = std::atoi(status_json.c_str() + status_json.find(':', k) + 1);
    siginfo_t info{};
    // Only when it is our child: if bwrap reaped it itself, the pid may already belong to someone else.
    if (init_pid > 0 && waitid(P_PID, init_pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0) {
      kill(init_pid, SIGKILL);  // already dying: bwrap exited and --die-with-parent fired
      struct rusage init_ru {};
      while (wait4(init_pid, nullptr, 0, &init_ru) < 0 && errno == EINTR) {
      }
      // The program's CPU time was collected by that init, not by bwrap.
      r.cpu_seconds += init_ru.ru_utime.tv_sec + init_ru.ru_utime.tv_usec * 1e-6 + init_ru.ru_stime.tv_sec +
                       init_ru.ru_stime.tv_usec * 1e-6;
      r.max_rss_bytes = std::max(r.max_rss_bytes, int64_t(init_ru.ru_maxrss) * 1024);
    }
  }
  if (as_root) {
    for (int p : ProcessesOfUid(r.uid)) {
      kill(p, SIGKILL);
      ++r.survivors;
    }
  }

  // bwrap reports the program's end as {"exit-code": N}, N = 128 + signal
  // when a signal ended it. Without that line bwrap itself failed (or was killed).
  bool started = false;
  if (size_t k = status_json.find("\"exit-code\""); k != std::string::npos) {
    size_t colon = status_json.find(':', k);
    int code = std::atoi(status_json.c_str() + colon + 1);
    started = true;
    if (code > 128 && code <= 128 + 64) {
      r.signal = code - 128;
      r.exit_code = -1;
    } else {
      r.exit_code = code;
    }
  } else if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 126) {
    r.stderr_data += "sandbox: cannot switch to user id " + std::to_string(r.uid) + "\n";
  } else if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 127) {
    r.stderr_data += "sandbox: cannot run " + options_.bwrap + "\n";
  }
  if (!started && WIFSIGNALED(wstatus) && !killed) {
    // bwrap itself was ended by a signal: its rlimit (CPU) hit before status.
    r.signal = WTERMSIG(wstatus);
    started = true;
  }
  r.verdict = Classify(r, timed_out, output_limit, started, L);
  if (r.verdict == Verdict::kSandboxError && !r.stderr_data.empty()) {
    std::string first = r.stderr_data.substr(0, r.stderr_data.find('\n'));
    r.detail += ": " + first;
  }
  return r;
}

}  // namespace

std::string_view VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kOk: return "ok";
    case Verdict::kNonZeroExit: return "nonzero exit";
    case Verdict::kTimeout: return "timeout";
    case Verdict::kCpuLimit: return "cpu limit";
    case Verdict::kMemoryLimit: return "memory limit";
    case Verdict::kOutputLimit: return "output limit";
    case Verdict::kFileSizeLimit: return "file size limit";
    case Verdict::kSignal: return "signal";
    case Verdict::kSandboxError: return "sandbox error";
  }
  return "?";
}

std::unique_ptr<Sandbox> MakeBubblewrapSandbox(BubblewrapOptions options) {
  return std::make_unique<BubblewrapSandbox>(std::move(options));
}

Status CheckBubblewrap(const BubblewrapOptions& options) {
  if (access(options.bwrap.c_str(), X_OK) != 0)
    return Unavailable("bubblewrap not found at " + options.bwrap + ": install it (apt-get install bubblewrap)");
  auto box = MakeBubblewrapSandbox(options);
  Request req{.argv = {"/usr/bin/true"}};
  req.limits.wall_seconds = 10;
  LMLAB_ASSIGN_OR_RETURN(RunResult r, box->Run(req));
  if (r.verdict != Verdict::kOk)
    return Unavailable("bubblewrap cannot create a sandbox here (" + r.detail +
                       "); it needs user namespaces or root");
  return {};
}

std::vector<int> ProcessesOfUid(uint32_t uid) {
  std::vector<int> pids;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    // The real uid from status (/proc/<pid> itself shows root for
    // non-dumpable processes, which any process can make itself). One read
    // per process keeps the scan cheap.
    int fd = open((e.path() / "status").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    char buf[2048];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) continue;
    buf[n] = 0;
    const char* state = std::strstr(buf, "\nState:");
    if (state && std::strchr(state + 1, '\n') && std::memchr(state, 'Z', std::strchr(state + 1, '\n') - state))
      continue;  // a zombie runs nothing
    const char* uid_line = std::strstr(buf, "\nUid:");
    if (uid_line && std::strtoul(uid_line + 5, nullptr, 10) == uid) pids.push_back(std::stoi(name));
  }
  return pids;
}

}  // namespace lmlab::sandbox
