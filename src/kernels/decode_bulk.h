#pragma once
// The bulk-copy decode kernel (gemm_decode_bulk.cu), internal to the kernels folder.
#include "kernels/gemm.h"

namespace bitfold::kernels::detail {

// How the kernel runs: warps per CTA (8 or 16), CTAs per SM (1 or 2, with 8 warps), and up to
// which M the products use dp4a instead of mma.
struct BulkConfig {
  int warps = 8;
  int ctas_per_sm = 1;
  int dp4a_max_m = 0;
  int chunk_bytes = 0;  // bytes per bulk copy, rounded down to whole tiles (>= 1); 0: one per stage
};
// Two CTAs of 8 warps per SM measured fastest among the configurations (bench/results).
inline constexpr BulkConfig kBulkDefault{8, 2, 0, 0};
// The defaults overridden by the non-zero fields of `tuning` (bulk_warps, bulk_ctas_per_sm,
// bulk_dp4a_max_m >= 0).
BulkConfig bulk_config(const DecodeTuning& tuning, int64_t m);

// Launches the kernel and returns true, or returns false without launching when the problem
// does not fit it (M > 32, unaligned weights, or activations too large for shared memory beside
// a ring of at least three stages); the caller then runs another decode kernel.
bool launch_decode_bulk(const FragWeight& w, const Int8Act& x, const Epilogue& epi, Stream stream,
                        const DecodeTuning& tuning);

}  // namespace bitfold::kernels::detail
