// The single-node test cluster: see slurm_cluster.h.
#include "tests/support/slurm_cluster.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <thread>

#include "lmlab/core/file.h"

namespace lmlab::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// A TCP port nothing listens on now (the kernel's choice).
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

std::string ShortHostname() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "localhost";
  std::string h = name;
  return h.substr(0, h.find('.'));
}

pid_t ReadPid(const fs::path& file) {
  Result<std::string> text = ReadFile(file);
  if (!text) return 0;
  return static_cast<pid_t>(std::atol(text->c_str()));
}

// The daemons live in /usr/sbin, which a non-login shell's PATH may lack.
std::string Daemon(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = std::string(path ? path : "") + ":/usr/sbin:/sbin";
  for (size_t at = 0; at <= dirs.size();) {
    size_t colon = dirs.find(':', at);
    std::string dir = dirs.substr(at, colon == std::string::npos ? std::string::npos : colon - at);
    if (!dir.empty() && ::access((dir + "/" + name).c_str(), X_OK) == 0) return dir + "/" + name;
    if (colon == std::string::npos) break;
    at = colon + 1;
  }
  return name;  // not found: starting it fails naming it
}

bool Alive(pid_t pid) { return pid > 0 && ::kill(pid, 0) == 0; }

// SIGTERM, then SIGKILL after `grace` seconds. The test cluster's state is
// thrown away, so there is nothing to wait for: slurmctld and slurmd take
// seconds to shut down cleanly, which every test process would pay.
void StopDaemon(const fs::path& pid_file, double grace = 1) {
  pid_t pid = ReadPid(pid_file);
  if (!Alive(pid)) return;
  ::kill(pid, SIGTERM);
  auto until = Clock::now() + std::chrono::duration<double>(grace);
  while (Alive(pid) && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (Alive(pid)) ::kill(pid, SIGKILL);
}

constexpr const char* kDaemons[] = {"slurmd", "slurmctld", "munged"};  // the order they stop in

void StopDaemons(const fs::path& dir) {
  for (const char* d : kDaemons) StopDaemon(dir / (std::string(d) + ".pid"));
}

// Clusters left by test processes that died without stopping them (a crash,
// a CTest timeout): their daemons would hold memory and ports forever.
void ReapOrphans() {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(fs::temp_directory_path(), ec)) {
    std::string name = entry.path().filename().string();
    if (!name.starts_with("lmlab-slurm-")) continue;
    pid_t owner = static_cast<pid_t>(std::atol(name.c_str() + std::string("lmlab-slurm-").size()));
    if (owner <= 0 || owner == ::getpid() || Alive(owner)) continue;
    StopDaemons(entry.path());
    fs::remove_all(entry.path(), ec);
  }
}

std::string Tail(const fs::path& file, size_t lines) {
  Result<std::string> text = ReadFile(file);
  if (!text) return "(no " + file.filename().string() + ")\n";
  size_t pos = text->size();
  for (size_t n = 0; n <= lines && pos > 0; ++n) {
    size_t nl = text->rfind('\n', pos - 1);
    if (nl == std::string::npos) {
      pos = 0;
      break;
    }
    pos = nl;
  }
  return text->substr(pos == 0 ? 0 : pos + 1);
}

}  // namespace

SlurmCluster::SlurmCluster(fs::path dir) : dir_(std::move(dir)), runner_(MakeSystemProcessRunner()) {}

// The directory goes too: a failed test has printed the logs it needed.
SlurmCluster::~SlurmCluster() {
  Stop();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

Result<ProcessResult> SlurmCluster::Run(std::vector<std::string> argv, double timeout_seconds) {
  return runner_->Run({.argv = std::move(argv), .env = {{"SLURM_CONF", conf().string()}},
                       .timeout_seconds = timeout_seconds});
}

std::string SlurmCluster::Logs() const {
  std::string out;
  for (const char* log : {"daemons.out", "munged.log", "slurmctld.log", "slurmd.log"})
    out += "---- " + (dir_ / log).string() + " (last lines)\n" + Tail(dir_ / log, 25);
  return out;
}

Result<std::unique_ptr<SlurmCluster>> SlurmCluster::Start(const fs::path& dir, double timeout_seconds) {
  if (::geteuid() != 0)
    return Unavailable(
        "the test Slurm cluster needs root: slurmd starts every job as its user (run the Slurm tests as root, as CI "
        "does)");
  ReapOrphans();
  std::error_code ec;
  fs::remove_all(dir, ec);
  for (const char* sub : {"state", "spool", "logs"}) fs::create_directories(dir / sub, ec);
  if (ec) return IoError("cannot create " + dir.string() + ": " + ec.message());
  // munged refuses a socket directory that others cannot enter, and a key
  // anyone else can read.
  fs::permissions(dir, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                           fs::perms::others_read | fs::perms::others_exec, ec);
  std::string key(1024, '\0');
  std::random_device rd;
  for (char& c : key) c = static_cast<char>(rd());
  LMLAB_RETURN_IF_ERROR(WriteFileAtomic(dir / "munge.key", key));
  fs::permissions(dir / "munge.key", fs::perms::owner_read, ec);

  const std::string d = dir.string();
  const std::string host = ShortHostname();
  const int ctld_port = FreePort(), slurmd_port = FreePort();
  if (ctld_port == 0 || slurmd_port == 0 || ctld_port == slurmd_port) return IoError("no free TCP ports for Slurm");
  // Accounting off (no slurmdbd): sacct is not used, squeue --states=all
  // knows ended elements for MinJobAge seconds. No cgroups (none in a
  // container): processes are tracked by their parent ids. The node claims
  // 4 CPUs whatever the machine has (config_overrides), so 4 light elements
  // run side by side even on 2 cores.
  std::string conf = "ClusterName=lmlabtest\n";
  conf += "SlurmctldHost=" + host + "(127.0.0.1)\n";
  conf += "SlurmctldPort=" + std::to_string(ctld_port) + "\nSlurmdPort=" + std::to_string(slurmd_port) + "\n";
  conf += "SlurmUser=root\nSlurmdUser=root\n";
  conf += "AuthType=auth/munge\nCredType=cred/munge\nAuthInfo=socket=" + d + "/munge.socket\n";
  conf += "StateSaveLocation=" + d + "/state\nSlurmdSpoolDir=" + d + "/spool\n";
  conf += "SlurmctldPidFile=" + d + "/slurmctld.pid\nSlurmdPidFile=" + d + "/slurmd.pid\n";
  conf += "SlurmctldLogFile=" + d + "/slurmctld.log\nSlurmdLogFile=" + d + "/slurmd.log\n";
  conf += "PlugStackConfig=" + d + "/plugstack.conf\n";
  conf += "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nJobAcctGatherType=jobacct_gather/none\n";
  conf += "AccountingStorageType=accounting_storage/none\nJobCompType=jobcomp/none\nMpiDefault=none\n";
  conf += "SchedulerType=sched/builtin\nSelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n";
  conf += "SlurmdParameters=config_overrides\nReturnToService=2\nMinJobAge=600\nKillWait=2\n";
  conf += "NodeName=" + host + " NodeAddr=127.0.0.1 CPUs=4 RealMemory=4000 State=UNKNOWN\n";
  conf += "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n";
  LMLAB_RETURN_IF_ERROR(WriteFileAtomic(dir / "slurm.conf", conf));
  LMLAB_RETURN_IF_ERROR(WriteFileAtomic(dir / "plugstack.conf", ""));

  std::unique_ptr<SlurmCluster> c(new SlurmCluster(dir));
  // Each daemon detaches; its output goes to daemons.out, not to a pipe this
  // process would wait on.
  auto start = [&](std::vector<std::string> argv) -> Status {
    std::vector<std::string> wrapped = {"sh", "-c", "exec \"$0\" \"$@\" </dev/null >>" + d + "/daemons.out 2>&1"};
    wrapped.insert(wrapped.end(), argv.begin(), argv.end());
    Result<ProcessResult> r = c->runner_->Run(
        {.argv = wrapped, .env = {{"SLURM_CONF", c->conf().string()}}, .timeout_seconds = 30});
    if (!r) return std::unexpected(r.error().WithContext("starting " + argv[0] + "\n" + c->Logs()));
    if (r->exit_code != 0)
      return Unavailable(argv[0] + " exited with " + std::to_string(r->exit_code) + " at start-up" +
                         (r->exit_code == 127 ? " (not installed: scripts/setup.sh installs slurm-wlm and munge)" : "") +
                         "\n" + c->Logs());
    return {};
  };
  LMLAB_RETURN_IF_ERROR(start({Daemon("munged"), "--key-file=" + d + "/munge.key", "--socket=" + d + "/munge.socket",
                               "--pid-file=" + d + "/munged.pid", "--log-file=" + d + "/munged.log",
                               "--seed-file=" + d + "/munge.seed"}));
  LMLAB_RETURN_IF_ERROR(start({Daemon("slurmctld"), "-f", c->conf().string(), "-i"}));
  LMLAB_RETURN_IF_ERROR(start({Daemon("slurmd"), "-f", c->conf().string(), "-N", host}));
  LMLAB_RETURN_IF_ERROR(c->WaitIdle(timeout_seconds));
  return c;
}

Status SlurmCluster::WaitIdle(double timeout_seconds) {
  auto until = Clock::now() + std::chrono::duration<double>(timeout_seconds);
  std::string last;
  while (Clock::now() < until) {
    Result<ProcessResult> r = Run({"sinfo", "--noheader", "--format=%T"}, 10);
    if (r && r->exit_code == 0 && r->out.starts_with("idle")) return {};
    last = r ? r->out + r->err : r.error().message;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return Timeout("the test Slurm cluster's node was not idle within " + std::to_string(int(timeout_seconds)) +
                 " s (sinfo: " + last + ")\n" + Logs());
}

Status SlurmCluster::WaitEmpty(double timeout_seconds) {
  auto until = Clock::now() + std::chrono::duration<double>(timeout_seconds);
  while (Clock::now() < until) {
    Result<ProcessResult> r = Run({"squeue", "--noheader", "--array"}, 10);
    if (r && r->exit_code == 0 && r->out.find_first_not_of(" \n") == std::string::npos) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return Timeout("jobs still queued or running after " + std::to_string(int(timeout_seconds)) + " s\n" + Logs());
}

void SlurmCluster::Stop() {
  if (stopped_) return;
  stopped_ = true;
  (void)Run({"scancel", "--full", "--user=root"}, 10);
  (void)WaitEmpty(10);
  StopDaemons(dir_);
}

SlurmCluster* SharedSlurmCluster(std::string* why) {
  static std::unique_ptr<SlurmCluster> cluster;
  static std::string error;
  static bool tried = false;
  if (!tried) {
    tried = true;
    fs::path dir = fs::temp_directory_path() / ("lmlab-slurm-" + std::to_string(::getpid()));
    Result<std::unique_ptr<SlurmCluster>> c = SlurmCluster::Start(dir);
    if (c) {
      cluster = std::move(*c);
      ::setenv("SLURM_CONF", cluster->conf().c_str(), 1);
    } else {
      error = c.error().ToString();
      StopDaemons(dir);
    }
  }
  if (!cluster && why) *why = error;
  return cluster.get();
}

}  // namespace lmlab::testing
