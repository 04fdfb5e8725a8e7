#pragma once
// The bulk-copy decode kernel (gemm_decode_bulk.cu), internal to the kernels folder.
#include "kernels/gemm.h"

namespace bitfold::kernels::detail {

// Launches the kernel and returns true, or returns false without launching when the problem
// does not fit it (M > 32, unaligned weights, or activations too large for shared memory beside
// a ring of at least three stages); the caller then runs another decode kernel.
bool launch_decode_bulk(const FragWeight& w, const Int8Act& x, const Epilogue& epi, Stream stream);

}  // namespace bitfold::kernels::detail
