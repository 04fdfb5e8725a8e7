#include "cli/device_option.h"

#include "core/device.h"
#include "core/error.h"

namespace bitfold::cli {

void add_device_option(CLI::App* cmd, std::string& value) {
  cmd->add_option("--device", value, "Where the model runs: cpu or cuda (the first GPU)")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
}

Device parse_device(const std::string& value) {
  if (value == "cpu") return Device::CPU;
  if (value != "cuda") fail("--device {}: expected cpu or cuda", value);
  if (!cuda_available()) fail("--device cuda: {}", cuda_device_description());
  return Device::CUDA;
}

std::string device_label(Device device) {
  return device == Device::CPU ? "cpu" : cuda_device_description();
}

}  // namespace bitfold::cli
