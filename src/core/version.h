#pragma once
// bitfold's version (the project() version in CMakeLists.txt), recorded in checkpoints.
#include <string_view>

namespace bitfold {

inline constexpr std::string_view kVersion = BITFOLD_VERSION;

}  // namespace bitfold
