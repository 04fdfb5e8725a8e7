#pragma once
// `--device cpu|cuda`, shared by the commands that run a model.
#include <CLI/CLI.hpp>

#include <string>

#include "core/tensor.h"

namespace bitfold::cli {

// Adds the option to `cmd`, writing the spelling into `value` (default "cpu").
void add_device_option(CLI::App* cmd, std::string& value);
// Device::CPU or Device::CUDA; "cuda" without a usable GPU is a bitfold::Error naming why.
Device parse_device(const std::string& value);
// "cpu" or the GPU's description ("NVIDIA H200, 132 SMs, 139.8 GiB"), for reports.
std::string device_label(Device device);

}  // namespace bitfold::cli
