#include "lmlab/core/cpu_measure.h"

#include "lmlab/core/threads.h"

#include <Eigen/Dense>
#include <algorithm>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "lmlab/core/parse.h"

namespace lmlab {

Result<CpuInfo> ReadCpuInfo() {
  CpuInfo cpu;
  cpu.cores = AvailableCores();
  std::ifstream info("/proc/cpuinfo");
  std::string line;
  double mhz = 0;
  while (std::getline(info, line)) {
    auto value = [&] { return line.substr(line.find(':') + 2); };
    if (cpu.model_name.empty() && line.rfind("model name", 0) == 0) cpu.model_name = value();
    if (mhz == 0 && line.rfind("cpu MHz", 0) == 0) mhz = ParseDouble(value(), "cpu MHz").value_or(0);
  }
  // The nominal maximum beats the momentary "cpu MHz" reading when present.
  std::ifstream max_freq("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq");
  double khz = 0;
  if (max_freq >> khz && khz > 0) mhz = khz / 1000.0;
  cpu.max_ghz = mhz / 1000.0;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) cpu.simd_fp32_lanes = 16;
  else if (__builtin_cpu_supports("avx2")) cpu.simd_fp32_lanes = 8;
  else cpu.simd_fp32_lanes = 4;
  cpu.has_fma = __builtin_cpu_supports("fma");
#else
  cpu.simd_fp32_lanes = 4;
  cpu.has_fma = true;
#endif
  if (cpu.model_name.empty()) cpu.model_name = "unknown CPU";
  return cpu;
}

double TheoreticalPeakFlops(const CpuInfo& cpu) {
  constexpr double kFmaUnitsPerCore = 2;
  double flops_per_lane_cycle = cpu.has_fma ? 2.0 : 1.0;
  return cpu.cores * cpu.max_ghz * 1e9 * cpu.simd_fp32_lanes * flops_per_lane_cycle * kFmaUnitsPerCore;
}

Result<GemmMeasurement> MeasureGemm(int n, int repeats, int threads) {
  if (n < 16 || n > 16384) return InvalidArgument("GEMM size must be in [16, 16384]");
  if (repeats < 1) return InvalidArgument("repeats must be at least 1");
  if (threads < 0) return InvalidArgument("GEMM threads must be 0 (all cores) or positive");
  GemmMeasurement m;
  LMLAB_ASSIGN_OR_RETURN(m.cpu, ReadCpuInfo());
  m.n = n;
  m.repeats = repeats;
  // Eigen's thread count is process-wide: set it for the measurement only.
  const int saved_threads = Eigen::nbThreads();
  Eigen::setNbThreads(threads > 0 ? threads : m.cpu.cores);
  m.threads = Eigen::nbThreads();
  struct Restore {
    int n;
    ~Restore() { Eigen::setNbThreads(n); }
  } restore{saved_threads};
  Eigen::MatrixXf a = Eigen::MatrixXf::Random(n, n), b = Eigen::MatrixXf::Random(n, n), c(n, n);
  c.noalias() = a * b;  // warm-up: page in, spin up threads
  double best = 1e300;
  for (int i = 0; i < repeats; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    c.noalias() = a * b;
    auto t1 = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
  }
  // Keep the product observable so the compiler cannot drop it.
  if (!std::isfinite(c(0, 0))) return Internal("GEMM produced a non-finite value");
  m.seconds = best;
  m.achieved_flops = 2.0 * n * static_cast<double>(n) * n / best;
  m.peak_flops = TheoreticalPeakFlops(m.cpu);
  return m;
}

Result<BandwidthMeasurement> MeasureReadBandwidth(double bytes, int repeats, int threads) {
  if (!(bytes >= 64.0 * 1024 && bytes <= 16.0 * (1ull << 30)))
    return InvalidArgument("bandwidth buffer must be in [64 KiB, 16 GiB]");
  if (repeats < 1) return InvalidArgument("repeats must be at least 1");
  if (threads < 0) return InvalidArgument("threads must not be negative (0 = all cores)");
  LMLAB_ASSIGN_OR_RETURN(CpuInfo cpu, ReadCpuInfo());
  BandwidthMeasurement m;
  m.repeats = repeats;
  m.threads = threads > 0 ? threads : std::max(1, cpu.cores);
  const size_t n = static_cast<size_t>(bytes / sizeof(float));
  m.buffer_bytes = static_cast<double>(n * sizeof(float));
  std::vector<float> buffer(n, 0.0f);  // written once: every page is mapped before timing
  std::vector<double> sums(static_cast<size_t>(m.threads));
  auto pass = [&] {
    std::vector<std::thread> workers;
    const size_t slice = (n + static_cast<size_t>(m.threads) - 1) / static_cast<size_t>(m.threads);
    for (int t = 0; t < m.threads; ++t) {
      workers.emplace_back([&, t] {
        size_t begin = std::min(n, static_cast<size_t>(t) * slice), end = std::min(n, begin + slice);
        sums[static_cast<size_t>(t)] =
            Eigen::Map<const Eigen::ArrayXf>(buffer.data() + begin, static_cast<Eigen::Index>(end - begin)).sum();
      });
    }
    for (std::thread& w : workers) w.join();
  };
  pass();  // warm-up: caches and thread start-up
  double best = 1e300;
  for (int i = 0; i < repeats; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    pass();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  double total = 0;
  for (double s : sums) total += s;
  // The sum is used so the compiler cannot drop the reads.
  if (total != 0)
    return Internal("bandwidth pass read unexpected values");
  m.seconds = best;
  m.bytes_per_second = m.buffer_bytes / best;
  return m;
}

}  // namespace lmlab
