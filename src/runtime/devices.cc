#include "lmlab/runtime/devices.h"

#include <algorithm>

#include "runtime/llama_common.h"

namespace lmlab::runtime {

std::string_view DeviceTypeName(DeviceType t) {
  switch (t) {
    case DeviceType::kCpu: return "CPU";
    case DeviceType::kGpu: return "GPU";
    case DeviceType::kIntegratedGpu: return "iGPU";
    case DeviceType::kAccelerator: return "accelerator";
    case DeviceType::kOther: return "other";
  }
  return "other";
}

bool BackendInventory::HasBackend(std::string_view name) const {
  return std::find(backends.begin(), backends.end(), name) != backends.end();
}

BackendInventory ListBackends() {
  internal::EnsureLlamaBackend();
  BackendInventory inv;
  for (size_t i = 0; i < ggml_backend_reg_count(); ++i) inv.backends.emplace_back(ggml_backend_reg_name(ggml_backend_reg_get(i)));
  for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
    ggml_backend_dev_t dev = ggml_backend_dev_get(i);
    BackendDevice d;
    d.name = ggml_backend_dev_name(dev);
    d.description = ggml_backend_dev_description(dev);
    switch (ggml_backend_dev_type(dev)) {
      case GGML_BACKEND_DEVICE_TYPE_CPU: d.type = DeviceType::kCpu; break;
      case GGML_BACKEND_DEVICE_TYPE_GPU: d.type = DeviceType::kGpu; break;
      case GGML_BACKEND_DEVICE_TYPE_IGPU: d.type = DeviceType::kIntegratedGpu; break;
      case GGML_BACKEND_DEVICE_TYPE_ACCEL: d.type = DeviceType::kAccelerator; break;
      default: d.type = DeviceType::kOther; break;
    }
    size_t free = 0, total = 0;
    ggml_backend_dev_memory(dev, &free, &total);
    d.memory_free_bytes = free;
    d.memory_total_bytes = total;
    inv.devices.push_back(std::move(d));
  }
  return inv;
}

}  // namespace lmlab::runtime
