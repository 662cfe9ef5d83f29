// Number formatting shared by tables, reports and golden files.
#pragma once

#include <cstdint>
#include <string>

namespace lmlab {

// 22000 -> "22,000"; 1234.5 -> "1,235" (rounded).
std::string FormatThousands(double value);
// 1e24 -> "1.00e24"; `digits` after the point.
std::string FormatScientific(double value, int digits = 2);
// Fixed point: FormatFixed(115.74, 1) -> "115.7".
std::string FormatFixed(double value, int decimals);
// 3 significant figures, switching to scientific outside [1e-3, 1e6).
std::string FormatSignificant(double value, int significant = 3);
// 1.5e12 -> "1.50 T" (k, M, G, T, P, E); `unit` is appended ("FLOP/s").
std::string FormatSi(double value, const std::string& unit, int decimals = 2);
// 5.0e10 bytes -> "46.6 GiB".
std::string FormatBytes(double bytes);
// 0.4 -> "40%".
std::string FormatPercent(double fraction, int decimals = 0);

}  // namespace lmlab
