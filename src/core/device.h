#pragma once
#include <string>

namespace bitfold {

// True when bitfold was built with CUDA and a CUDA device is visible.
bool cuda_available();
// "NVIDIA H200, 132 SMs, 139.8 GiB" or the reason there is none.
std::string cuda_device_description();

}  // namespace bitfold
