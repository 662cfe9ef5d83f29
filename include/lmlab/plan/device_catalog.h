// The accelerator catalog behind `lmlab plan`: peak rates per precision,
// memory, bandwidth, power, price. The figures live in data/devices.json
// (embedded at build time, each entry naming its datasheet), not in code.
//
//   LMLAB_ASSIGN_OR_RETURN(DeviceCatalog catalog, DeviceCatalog::LoadDefault());
//   const DeviceSpec* h100 = catalog.Find("h100");
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "lmlab/core/error.h"

namespace lmlab::plan {

enum class Precision { kFp64, kFp32, kTf32, kBf16, kFp16, kFp8, kFp4, kInt8 };
enum class Sparsity { kDense, kSparse24 };  // 2:4 structured sparsity

std::string_view PrecisionName(Precision p);
Result<Precision> ParsePrecision(std::string_view name);

struct DeviceSpec {
  std::string id;    // "h100-sxm"
  std::string name;  // "NVIDIA H100 SXM5 80GB"
  std::string vendor;
  std::vector<std::string> aliases;
  std::map<Precision, double> dense_flops;   // FLOP/s (not TFLOP/s)
  std::map<Precision, double> sparse_flops;  // FLOP/s; empty when none
  double memory_bytes = 0;
  double bandwidth_bytes_per_s = 0;
  double tdp_watts = 0;        // 0 when the vendor does not publish it
  double price_per_hour = 0;   // USD per device-hour, illustrative
  std::string source;

  // Peak FLOP/s at `precision`, or kUnsupported when the datasheet lists none.
  Result<double> PeakFlops(Precision precision, Sparsity sparsity) const;
};

class DeviceCatalog {
 public:
  // Parses a catalog in the data/devices.json format.
  static Result<DeviceCatalog> Parse(std::string_view json);
  // The catalog embedded in the binary.
  static Result<DeviceCatalog> LoadDefault();

  // Matches id or alias, case-insensitively; nullptr when unknown.
  const DeviceSpec* Find(std::string_view name) const;
  const std::vector<DeviceSpec>& devices() const { return devices_; }
  // "a100-sxm, a100-pcie, h100-sxm, ..." for error messages.
  std::string KnownIds() const;

 private:
  std::vector<DeviceSpec> devices_;
};

}  // namespace lmlab::plan
