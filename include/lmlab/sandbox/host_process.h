// What a process that runs sandboxes sets once, at start-up: two
// process-wide settings that a library call must not change behind its
// caller's back, so the caller makes them, and every Sandbox::Run checks
// them first (kInternal naming this function when they are missing).
//
//   int main(int argc, char** argv) {
//     if (Status s = sandbox::PrepareHostProcess(); !s) { ...report s.error(), exit... }
//     ...
//   }
//
// - Child subreaper (PR_SET_CHILD_SUBREAPER): bwrap may exit before its pid
//   namespace's init has been reaped; the kernel then hands that init to the
//   nearest subreaper. Without one it goes to the machine's pid 1, which in a
//   container may never reap it (a zombie per run), and the program's CPU
//   time, which that init collected, is lost to RunResult::cpu_seconds (the
//   CPU-limit verdict reads it). Orphans of any other child of this process
//   come to it too; lmlab starts no others.
// - SIGPIPE ignored: a program that closes its stdin or the RPC response
//   pipe makes the host's next write fail; with SIGPIPE's default action that
//   write would kill the host. Ignored, the write fails with EPIPE, which the
//   sandbox handles. (The sandboxed program gets SIGPIPE's default back.)
//
// Call it before starting threads: both settings belong to the whole process.
// See docs/sandbox.md, "The host process".
#pragma once

#include "lmlab/core/error.h"

namespace lmlab::sandbox {

Status PrepareHostProcess();

// kInternal, saying which setting is missing, unless PrepareHostProcess()
// (or the caller's own equivalent) has run in this process.
Status CheckHostProcess();

}  // namespace lmlab::sandbox
