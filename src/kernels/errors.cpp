#include "core/error.h"

#include <string>

namespace bitfold::kernels::detail {

[[noreturn]] void throw_error(const std::string& message) { throw Error(message); }

}  // namespace bitfold::kernels::detail
