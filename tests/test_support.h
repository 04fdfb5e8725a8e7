#pragma once
// Paths and skip helpers shared by every test.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/device.h"

namespace bitfold::testing {

inline std::filesystem::path repo_path(const std::string& relative) {
  return std::filesystem::path(BITFOLD_SOURCE_DIR) / relative;
}

// ../shared/data beside the checkout, or $BITFOLD_SHARED_DATA.
inline std::filesystem::path shared_data_dir() {
  if (const char* env = std::getenv("BITFOLD_SHARED_DATA")) return env;
  return std::filesystem::path(BITFOLD_SOURCE_DIR) / ".." / "shared" / "data";
}

inline std::filesystem::path shared_data(const std::string& relative) {
  return shared_data_dir() / relative;
}

// A fresh empty directory under the build tree for one test's outputs.
inline std::filesystem::path scratch_dir(const std::string& name) {
  const auto dir = std::filesystem::path(BITFOLD_BINARY_DIR) / "test-scratch" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace bitfold::testing

// Skips the test with a clear message when a file from ../shared/data is absent.
#define BITFOLD_REQUIRE_SHARED(path)                                                           \
  do {                                                                                          \
    if (!std::filesystem::exists(path))                                                         \
      GTEST_SKIP() << "needs " << (path).string()                                               \
                   << " from ../shared/data (absent here; set BITFOLD_SHARED_DATA to point at it)"; \
  } while (0)

#define BITFOLD_REQUIRE_CUDA()                                                                 \
  do {                                                                                          \
    if (!::bitfold::cuda_available())                                                           \
      GTEST_SKIP() << "no CUDA device: " << ::bitfold::cuda_device_description();              \
  } while (0)
