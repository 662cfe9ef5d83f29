#include "sandbox/io_pump.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <string_view>
#include <vector>

namespace lmlab::sandbox::internal {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

class IoPump {
 public:
  IoPump(BwrapProcess& child, HostEnds& ends, const Request& req) : child_(child), ends_(ends), req_(req) {
    for (UniqueFd* fd : {&ends_.stdin_write, &ends_.stdout_read, &ends_.stderr_read, &ends_.rpc_request_read,
                         &ends_.rpc_response_write})
      SetNonBlocking(*fd);
    if (req_.stdin_data.empty()) ends_.stdin_write.Close();
  }

  PumpResult Run(Clock::time_point start) {
    const Limits& L = req_.limits;
    bool exited = false;
    for (;;) {
      double elapsed = Seconds(Clock::now() - start) - r_.rpc_seconds;
      if (!r_.timed_out && !exited && elapsed >= L.wall_seconds) {
        r_.timed_out = true;
        child_.KillSession();
      }
      if (exited && !ends_.stdout_read.is_open() && !ends_.stderr_read.is_open()) break;
      std::vector<pollfd> fds;
      auto add = [&](int fd, short events) {
        if (fd >= 0) fds.push_back({fd, events, 0});
      };
      add(ends_.stdout_read.get(), POLLIN);
      add(ends_.stderr_read.get(), POLLIN);
      add(ends_.rpc_request_read.get(), POLLIN);
      add(ends_.stdin_write.get(), POLLOUT);
      if (!rpc_out_.empty()) add(ends_.rpc_response_write.get(), POLLOUT);
      if (!exited) add(child_.pidfd(), POLLIN);
      int wait_ms = exited || r_.timed_out ? 200 : std::max(1, static_cast<int>((L.wall_seconds - elapsed) * 1000) + 1);
      int n = poll(fds.data(), fds.size(), wait_ms);
      if (n < 0 && errno != EINTR) break;
      if (n == 0 && exited) break;  // the tree is gone; a pipe still open elsewhere cannot hold us
      for (const pollfd& p : fds) {
        if (!p.revents) continue;
        if (p.fd == ends_.stdout_read.get()) Drain(ends_.stdout_read, r_.stdout_data, /*capped=*/true);
        else if (p.fd == ends_.stderr_read.get()) Drain(ends_.stderr_read, r_.stderr_data, /*capped=*/true);
        else if (p.fd == ends_.rpc_request_read.get()) ServeRpc();
        else if (p.fd == ends_.stdin_write.get()) WriteStdin();
        else if (p.fd == ends_.rpc_response_write.get()) WriteRpcReplies();
        else if (p.fd == child_.pidfd()) exited = true;
      }
    }
    return std::move(r_);
  }

 private:
  // Reads what is there; closes `fd` at end of file. Capped streams keep at
  // most limits.output_bytes, and more ends the run.
  void Drain(UniqueFd& fd, std::string& into, bool capped) {
    const size_t cap = static_cast<size_t>(req_.limits.output_bytes);
    char buf[65536];
    for (;;) {
      ssize_t n = read(fd.get(), buf, sizeof buf);
      if (n > 0) {
        size_t room = capped ? cap - std::min(into.size(), cap) : size_t(n);
        into.append(buf, std::min(room, size_t(n)));
        if (capped && size_t(n) > room) Kill(r_.output_limit);
        continue;
      }
      if (n == 0) fd.Close();
      else if (errno == EINTR) continue;
      return;
    }
  }

  // Answers every complete request line, in order, until the handler fails.
  void ServeRpc() {
    size_t before = rpc_in_.size();
    Drain(ends_.rpc_request_read, rpc_in_, /*capped=*/false);
    if (rpc_in_.size() > size_t(req_.limits.output_bytes) * 8 && rpc_in_.find('\n', before) == std::string::npos)
      Kill(r_.output_limit);  // an endless request line
    size_t nl;
    while (!child_.killed() && (nl = rpc_in_.find('\n')) != std::string::npos) {
      std::string line = rpc_in_.substr(0, nl);
      rpc_in_.erase(0, nl + 1);
      auto t0 = Clock::now();
      Result<std::string> reply = CallHandler(line);
      r_.rpc_seconds += Seconds(Clock::now() - t0);
      ++r_.rpc_requests;
      if (!reply) {
        r_.rpc_failure = reply.error().message;
        child_.KillSession();
        return;
      }
      rpc_out_ += *reply;
      rpc_out_ += '\n';
    }
  }

  // The handler is the caller's code: an exception from it, or a reply that
  // would break the line protocol, fails the run rather than the host.
  Result<std::string> CallHandler(std::string_view line) {
    Result<std::string> reply;
    try {
      reply = req_.rpc(line);
    } catch (const std::exception& e) {
      return Internal(std::string("the RPC handler threw: ") + e.what());
    } catch (...) {
      return Internal("the RPC handler threw");
    }
    if (reply && reply->find('\n') != std::string::npos) return Internal("the RPC handler's reply spans several lines");
    return reply;
  }

  void WriteStdin() {
    const std::string& data = req_.stdin_data;
    ssize_t w = write(ends_.stdin_write.get(), data.data() + stdin_done_, data.size() - stdin_done_);
    if (w > 0) stdin_done_ += size_t(w);
    if ((w < 0 && errno != EAGAIN && errno != EINTR) || stdin_done_ == data.size()) ends_.stdin_write.Close();
  }

  void WriteRpcReplies() {
    ssize_t w = write(ends_.rpc_response_write.get(), rpc_out_.data(), rpc_out_.size());
    if (w > 0) rpc_out_.erase(0, size_t(w));
    if (w < 0 && errno != EAGAIN && errno != EINTR) rpc_out_.clear();  // the program closed its end
  }

  void Kill(bool& reason) {
    reason = true;
    child_.KillSession();
  }

  BwrapProcess& child_;
  HostEnds& ends_;
  const Request& req_;
  PumpResult r_;
  size_t stdin_done_ = 0;
  std::string rpc_in_, rpc_out_;
};

}  // namespace

PumpResult PumpUntilExit(BwrapProcess& child, HostEnds& ends, const Request& request, Clock::time_point start) {
  return IoPump(child, ends, request).Run(start);
}

}  // namespace lmlab::sandbox::internal
