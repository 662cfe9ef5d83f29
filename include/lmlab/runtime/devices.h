// The compute backends llama.cpp was built with and the devices they see on
// this machine (CPU always; CUDA and others when built in). `lmlab doctor`
// and error messages use it to say what inference will run on.
//
//   runtime::BackendInventory inv = runtime::ListBackends();
//   // inv.backends == {"CPU"}; inv.devices[0].type == DeviceType::kCpu
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lmlab::runtime {

enum class DeviceType { kCpu, kGpu, kIntegratedGpu, kAccelerator, kOther };
std::string_view DeviceTypeName(DeviceType t);  // "CPU", "GPU", "iGPU", "accelerator", "other"

struct BackendDevice {
  std::string name;         // "CPU", "CUDA0"
  std::string description;  // "AMD EPYC 7B13", "NVIDIA H100 80GB HBM3"
  DeviceType type = DeviceType::kOther;
  uint64_t memory_total_bytes = 0;  // 0 when the backend does not say
  uint64_t memory_free_bytes = 0;
};

struct BackendInventory {
  std::vector<std::string> backends;  // registered backends: "CPU", "CUDA", ...
  std::vector<BackendDevice> devices;
  bool HasBackend(std::string_view name) const;
};

// Never fails: a backend that finds no device lists none.
BackendInventory ListBackends();

}  // namespace lmlab::runtime
