#include "lmlab/plan/device_catalog.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <nlohmann/json.hpp>

#include "lmlab/core/embedded.h"
#include "lmlab/core/text.h"

namespace lmlab::plan {
namespace {

constexpr double kTera = 1e12;

struct PrecisionEntry {
  Precision precision;
  std::string_view name;
};
constexpr PrecisionEntry kPrecisions[] = {
    {Precision::kFp64, "fp64"}, {Precision::kFp32, "fp32"}, {Precision::kTf32, "tf32"},
    {Precision::kBf16, "bf16"}, {Precision::kFp16, "fp16"}, {Precision::kFp8, "fp8"},
    {Precision::kFp4, "fp4"},   {Precision::kInt8, "int8"},
};

Result<std::map<Precision, double>> ParseRates(const nlohmann::json& j, const std::string& id) {
  std::map<Precision, double> rates;
  if (!j.is_object()) return ParseError("device " + id + ": rates must be an object");
  for (const auto& [key, value] : j.items()) {
    LMLAB_ASSIGN_OR_RETURN(Precision p, ParsePrecision(key));
    if (!value.is_number() || value.get<double>() < 0)
      return ParseError("device " + id + ": rate " + key + " must be a non-negative number");
    if (value.get<double>() > 0) rates[p] = value.get<double>() * kTera;
  }
  return rates;
}

}  // namespace

std::string_view PrecisionName(Precision p) {
  for (const auto& e : kPrecisions)
    if (e.precision == p) return e.name;
  return "?";
}

Result<Precision> ParsePrecision(std::string_view name) {
  std::string lower = Lower(name);
  for (const auto& e : kPrecisions)
    if (e.name == lower) return e.precision;
  return InvalidArgument("unknown precision '" + std::string(name) +
                         "' (known: fp64, fp32, tf32, bf16, fp16, fp8, fp4, int8)");
}

Result<double> DeviceSpec::PeakFlops(Precision precision, Sparsity sparsity) const {
  const auto& table = sparsity == Sparsity::kSparse24 ? sparse_flops : dense_flops;
  auto it = table.find(precision);
  if (it == table.end())
    return Unsupported(id + " has no published " +
                       std::string(sparsity == Sparsity::kSparse24 ? "sparse " : "") +
                       std::string(PrecisionName(precision)) + " rate");
  return it->second;
}

Result<DeviceCatalog> DeviceCatalog::Parse(std::string_view json) {
  nlohmann::json root = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object() || !root.contains("devices") || !root["devices"].is_array())
    return ParseError("device catalog: expected an object with a 'devices' array");
  DeviceCatalog catalog;
  for (const auto& d : root["devices"]) {
    DeviceSpec spec;
    if (!d.is_object() || !d.contains("id") || !d["id"].is_string())
      return ParseError("device catalog: every device needs a string 'id'");
    spec.id = d["id"].get<std::string>();
    auto number = [&](const char* key) -> Result<double> {
      if (!d.contains(key) || !d[key].is_number())
        return ParseError("device " + spec.id + ": '" + key + "' must be a number");
      return d[key].get<double>();
    };
    spec.name = d.value("name", spec.id);
    spec.vendor = d.value("vendor", "");
    spec.source = d.value("source", "");
    if (d.contains("aliases") && d["aliases"].is_array())
      for (const auto& a : d["aliases"])
        if (a.is_string()) spec.aliases.push_back(a.get<std::string>());
    LMLAB_ASSIGN_OR_RETURN(spec.dense_flops, ParseRates(d.value("dense", nlohmann::json::object()), spec.id));
    LMLAB_ASSIGN_OR_RETURN(spec.sparse_flops, ParseRates(d.value("sparse", nlohmann::json::object()), spec.id));
    LMLAB_ASSIGN_OR_RETURN(double memory_gb, number("memory_gb"));
    LMLAB_ASSIGN_OR_RETURN(double bandwidth_tbs, number("bandwidth_tbs"));
    LMLAB_ASSIGN_OR_RETURN(spec.tdp_watts, number("tdp_w"));
    LMLAB_ASSIGN_OR_RETURN(spec.price_per_hour, number("price_per_hour"));
    spec.memory_bytes = memory_gb * 1e9;
    spec.bandwidth_bytes_per_s = bandwidth_tbs * 1e12;
    if (catalog.Find(spec.id)) return ParseError("device catalog: duplicate id " + spec.id);
    catalog.devices_.push_back(std::move(spec));
  }
  return catalog;
}

Result<DeviceCatalog> DeviceCatalog::LoadDefault() {
  LMLAB_ASSIGN_OR_RETURN(std::string_view json, embedded::Find("data/devices.json"));
  return Parse(json);
}

const DeviceSpec* DeviceCatalog::Find(std::string_view name) const {
  std::string want = Lower(name);
  for (const auto& d : devices_) {
    if (Lower(d.id) == want) return &d;
    for (const auto& a : d.aliases)
      if (Lower(a) == want) return &d;
  }
  return nullptr;
}

std::string DeviceCatalog::KnownIds() const {
  return Join(devices_, ", ", [](const DeviceSpec& d) { return d.id; });
}

}  // namespace lmlab::plan
