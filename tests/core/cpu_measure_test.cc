#include "lmlab/core/cpu_measure.h"

#include <gtest/gtest.h>

namespace lmlab {
namespace {

TEST(CpuMeasure, TheoreticalPeakFormula) {
  CpuInfo cpu{.model_name = "test", .cores = 2, .max_ghz = 3.0, .simd_fp32_lanes = 16, .has_fma = true};
  // 2 cores x 3 GHz x 16 lanes x 2 (FMA) x 2 units.
  EXPECT_DOUBLE_EQ(TheoreticalPeakFlops(cpu), 2 * 3e9 * 16 * 2 * 2);
  cpu.max_ghz = 0;
  EXPECT_EQ(TheoreticalPeakFlops(cpu), 0);
}

TEST(CpuMeasure, GemmReportsAPlausibleRate) {
  auto m = MeasureGemm(256, 2);
  ASSERT_TRUE(m) << m.error().ToString();
  EXPECT_GT(m->achieved_flops, 1e8);  // any CPU of this century
  EXPECT_NEAR(m->achieved_flops, 2.0 * 256 * 256 * 256 / m->seconds, 1);
  if (m->peak_flops > 0) {
    EXPECT_LT(m->achieved_flops, m->peak_flops * 1.5);
  }
}

TEST(CpuMeasure, ReadBandwidthIsPlausible) {
  auto m = MeasureReadBandwidth(8 << 20, 3);
  ASSERT_TRUE(m) << m.error().ToString();
  EXPECT_EQ(m->buffer_bytes, 8 << 20);
  EXPECT_GT(m->bytes_per_second, 1e8);   // any machine of this century
  EXPECT_LT(m->bytes_per_second, 1e13);  // no CPU reads 10 TB/s
  EXPECT_DOUBLE_EQ(m->bytes_per_second, m->buffer_bytes / m->seconds);
  EXPECT_FALSE(MeasureReadBandwidth(1000, 1)) << "below 64 KiB";
  EXPECT_FALSE(MeasureReadBandwidth(8 << 20, 0));
}

TEST(CpuMeasure, RejectsBadSizes) {
  EXPECT_FALSE(MeasureGemm(0, 1));
  EXPECT_FALSE(MeasureGemm(256, 0));
}

}  // namespace
}  // namespace lmlab
