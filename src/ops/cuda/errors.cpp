// The error path of the CUDA backend: .cu files cannot include fmt (core/error.h) under nvcc 13,
// so they hand the op and the CUDA message over to this one function.
#include "ops/cuda/raise.h"

#include "core/error.h"

namespace bitfold::ops::cuda {

[[noreturn]] void raise(const char* op, const char* what) {
  fail("ops::{} on CUDA: {}", op, what);
}

}  // namespace bitfold::ops::cuda
