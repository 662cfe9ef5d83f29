#include "lmlab/core/format.h"

#include <cmath>
#include <cstdio>
#include <fmt/format.h>

namespace lmlab {

std::string FormatThousands(double value) {
  if (!std::isfinite(value)) return fmt::format("{}", value);
  bool negative = value < 0;
  std::string digits = fmt::format("{:.0f}", std::fabs(value));
  std::string out;
  int count = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (count && count % 3 == 0) out.insert(out.begin(), ',');
    out.insert(out.begin(), *it);
    ++count;
  }
  return negative ? "-" + out : out;
}

std::string FormatScientific(double value, int digits) {
  if (value == 0) return "0";
  int exponent = static_cast<int>(std::floor(std::log10(std::fabs(value))));
  double mantissa = value / std::pow(10.0, exponent);
  // Rounding can carry the mantissa to 10.0 (9.999e23 -> 10.00e23).
  if (std::fabs(std::stod(fmt::format("{:.{}f}", mantissa, digits))) >= 10.0) {
    mantissa /= 10.0;
    ++exponent;
  }
  return fmt::format("{:.{}f}e{}", mantissa, digits, exponent);
}

std::string FormatFixed(double value, int decimals) { return fmt::format("{:.{}f}", value, decimals); }

std::string FormatSignificant(double value, int significant) {
  if (value == 0) return "0";
  double a = std::fabs(value);
  if (a < 1e-3 || a >= 1e6) return FormatScientific(value, significant - 1);
  int magnitude = static_cast<int>(std::floor(std::log10(a)));
  int decimals = std::max(0, significant - 1 - magnitude);
  return fmt::format("{:.{}f}", value, decimals);
}

std::string FormatSi(double value, const std::string& unit, int decimals) {
  static const char* kPrefix[] = {"", "k", "M", "G", "T", "P", "E", "Z", "Y"};
  int i = 0;
  double v = value;
  while (std::fabs(v) >= 1000.0 && i < 8) {
    v /= 1000.0;
    ++i;
  }
  std::string prefix = kPrefix[i];
  return fmt::format("{:.{}f} {}{}", v, decimals, prefix, unit);
}

std::string FormatBytes(double bytes) {
  static const char* kUnit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int i = 0;
  double v = bytes;
  while (std::fabs(v) >= 1024.0 && i < 6) {
    v /= 1024.0;
    ++i;
  }
  return fmt::format("{:.1f} {}", v, kUnit[i]);
}

std::string FormatPercent(double fraction, int decimals) {
  return fmt::format("{:.{}f}%", fraction * 100.0, decimals);
}

}  // namespace lmlab
