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
//   const int threads = ResolveThreads(options.threads);   // 0 -> idle cores
//   ggml_backend_cpu_set_n_threads(backend, threads);
#pragma once

namespace lmlab {

// CPUs this process may run on (its affinity mask; cgroup CPU limits are not read).
int AvailableCores();

// AvailableCores() minus the 1-minute load average, rounded, at least 1.
int IdleCores();

// requested > 0: requested (what the user asked for). 0 (or negative): IdleCores().
int ResolveThreads(int requested);

}  // namespace lmlab
