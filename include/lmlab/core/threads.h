// One thread policy for all of lmlab's compute: ggml graphs (train, ood),
// llama.cpp (runtime), Eigen and LAPACK (probe, the GEMM measurement).
//
// `--threads N` means N threads everywhere. `--threads 0` (the default)
// means the cores nobody else is using right now: the CPUs this process may
// run on, minus the 1-minute load average, at least 1. On a shared machine a
// thread more than the idle cores does not add speed: the workers of one
// graph meet at a barrier after every node, and a worker that waits for a
// descheduled sibling wastes the time slice another process needed.
//
// Waiting: ggml (and Eigen) run their workers on OpenMP (libgomp), whose
// idle workers spin for about 300,000 pause instructions (~20 ms) at every
// barrier before they sleep. Two threads on two cores that other processes
// also want then spend most of their time spinning: `lmlab train --threads 2`
// ran 4x slower than `--threads 1` on this project's shared machine, and 1.2x
// to 1.7x faster with the spinning bounded (docs/performance.md). libgomp
// reads its wait policy once, when it is loaded, and has no call to change
// it; so lmlab's executables call ApplyThreadWaitPolicy first thing in
// main(), which, unless the user chose a policy (OMP_WAIT_POLICY or
// GOMP_SPINCOUNT set), re-executes the program with
// GOMP_SPINCOUNT=kOpenMpSpinCount, ~0.7 ms of spinning before a worker
// sleeps instead of libgomp's ~20 ms: short enough that a busy machine's
// other processes get the core back, long enough that ggml's barriers
// between the graph nodes of one token do not sleep (at 1,000 spins, 2
// threads generated 0.70x llama-bench's tokens/s on an idle machine). (Under
// valgrind, set GOMP_SPINCOUNT yourself: the re-executed program would run
// outside it.)
//
//   const int threads = ResolveThreads(options.threads);   // 0 -> idle cores
//   ggml_backend_cpu_set_n_threads(backend, threads);
#pragma once

namespace lmlab {

// GOMP_SPINCOUNT for lmlab's processes (see above; docs/performance.md has the measurements).
inline constexpr char kOpenMpSpinCount[] = "10000";
// Set (to "1") next to GOMP_SPINCOUNT when ApplyThreadWaitPolicy chose it.
inline constexpr char kWaitPolicyMarker[] = "LMLAB_SET_GOMP_SPINCOUNT";

// CPUs this process may run on (its affinity mask; cgroup CPU limits are not read).
int AvailableCores();

// AvailableCores() minus what other processes add to the 1-minute load
// average, rounded, at least 1. This process's own share is its average CPU
// use since it began: a long run (the demo) that has kept one core busy
// building a corpus would otherwise count itself as another user and train
// on one thread of two idle cores.
int IdleCores();
// The rule itself: cores - max(0, load - own_load), rounded, in [1, cores].
int IdleCoresGiven(int cores, double load, double own_load);

// requested > 0: requested (what the user asked for). 0 (or negative): IdleCores().
int ResolveThreads(int requested);

// See "Waiting" above. Returns without doing anything when a policy is set
// (or the re-exec fails: the program then runs with libgomp's default).
void ApplyThreadWaitPolicy(char** argv);

}  // namespace lmlab
