#include "core/device.h"

#include <fmt/format.h>

#ifdef BITFOLD_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace bitfold {

bool cuda_available() {
#ifdef BITFOLD_HAVE_CUDA
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
#else
  return false;
#endif
}

std::string cuda_device_description() {
#ifdef BITFOLD_HAVE_CUDA
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) return fmt::format("no CUDA device ({})", cudaGetErrorString(status));
  if (count == 0) return "no CUDA device";
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  return fmt::format("{}, {} SMs, {:.1f} GiB", prop.name, prop.multiProcessorCount,
                     double(prop.totalGlobalMem) / (1u << 30));
#else
  return "built without CUDA";
#endif
}

}  // namespace bitfold
