// This machine's achieved FLOP/s on a dense fp32 GEMM (Eigen) next to the
// CPU's theoretical FMA peak: `lmlab plan --measure` plans with it, and
// `lmlab train` divides its model FLOP/s by it (model-FLOP utilisation).
#pragma once

#include <string>

#include "lmlab/core/error.h"

namespace lmlab {

// What the OS says about the CPU. Read with ReadCpuInfo(); tests build it by hand.
struct CpuInfo {
  std::string model_name;
  int cores = 0;            // logical CPUs available to this process
  double max_ghz = 0;       // 0 when unknown
  int simd_fp32_lanes = 0;  // 16 (AVX-512), 8 (AVX2), 4 (SSE/NEON)
  bool has_fma = false;
};

Result<CpuInfo> ReadCpuInfo();

// cores * GHz * lanes * 2 (FMA) * 2 FMA units per core (typical of current
// x86 server cores; documented as an assumption). 0 when the clock is unknown.
double TheoreticalPeakFlops(const CpuInfo& cpu);

struct GemmMeasurement {
  int n = 0;               // square GEMM size
  int repeats = 0;
  int threads = 0;         // threads the GEMM ran on
  double seconds = 0;      // best of repeats
  double achieved_flops = 0;  // 2 n^3 / seconds
  double peak_flops = 0;      // TheoreticalPeakFlops, 0 if unknown
  CpuInfo cpu;
};

// Times an n x n fp32 GEMM `repeats` times and keeps the best, on `threads`
// threads (0 = every core this process may use).
Result<GemmMeasurement> MeasureGemm(int n = 1024, int repeats = 5, int threads = 0);

struct BandwidthMeasurement {
  double buffer_bytes = 0;  // what each pass reads
  int repeats = 0;
  int threads = 0;
  double seconds = 0;       // best pass
  double bytes_per_second = 0;
};

// Reads a buffer of `bytes` (each thread summing its own slice) `repeats`
// times and keeps the best pass. A buffer that fits the CPU caches measures
// cache bandwidth, one far larger than them measures DRAM: size it like the
// working set you want a bound for (plan infer uses the bytes one decoded
// token reads). `threads` 0 = every core. kInvalidArgument outside [64 KiB, 16 GiB].
Result<BandwidthMeasurement> MeasureReadBandwidth(double bytes, int repeats = 5, int threads = 0);

}  // namespace lmlab
