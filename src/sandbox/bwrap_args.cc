#include "sandbox/bwrap_args.h"

#include <string_view>
#include <utility>

#include "sandbox/bwrap_process.h"

namespace lmlab::sandbox::internal {

std::vector<std::string> BwrapArgs(const std::string& bwrap, const Request& req, const std::string& box_dir,
                                   RunAs run_as, Seccomp seccomp) {
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
                                "--block-fd", std::to_string(kBlockFd),
                                "--clearenv"};
  if (seccomp == Seccomp::kOn) {
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
  if (run_as == RunAs::kCallerInUserNamespace) {
    // Not root: the run shares our user id, so RLIMIT_NPROC is set inside the
    // new user namespace, where it counts only the sandbox's processes.
    a.push_back("/usr/bin/prlimit");
    a.push_back("--nproc=" + std::to_string(req.limits.max_processes));
    a.push_back("--");
  }
  for (const auto& s : req.argv) a.push_back(s);
  return a;
}

}  // namespace lmlab::sandbox::internal
