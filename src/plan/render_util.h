// Formatting pieces the plan renderers share (render*.cc). Internal to src/plan/.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "lmlab/core/format.h"

namespace lmlab::plan::internal {

inline std::string OrDash(const std::optional<double>& v, std::string (*fmt)(double)) { return v ? fmt(*v) : "-"; }
inline std::string Dollars(double v) { return "$" + FormatThousands(v); }
// Dollars with cents below $100 (prices per million tokens).
inline std::string Price(double v) {
  if (v >= 100) return Dollars(v);
  return "$" + (v >= 1 ? FormatFixed(v, 2) : FormatSignificant(v, 3));
}
inline std::string Energy(double kwh) {
  if (kwh >= 1e6) return FormatFixed(kwh / 1e6, 2) + " GWh";
  if (kwh >= 1e3) return FormatFixed(kwh / 1e3, 1) + " MWh";
  if (kwh >= 1) return FormatFixed(kwh, 1) + " kWh";
  return FormatFixed(kwh * 1e3, 1) + " Wh";
}
inline std::string Count(double v) { return v < 1e6 ? FormatThousands(v) : FormatSignificant(v, 3); }

template <class T>
nlohmann::json Opt(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

}  // namespace lmlab::plan::internal
