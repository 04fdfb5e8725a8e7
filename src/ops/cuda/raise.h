#pragma once
namespace bitfold::ops::cuda {
// Throws bitfold::Error("ops::<op> on CUDA: <what>"). Defined in errors.cpp (plain C++).
[[noreturn]] void raise(const char* op, const char* what);
}  // namespace bitfold::ops::cuda
