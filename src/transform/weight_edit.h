#pragma once
// Copy-on-write edits of weight tensors for the folds: each returns a new F32 CPU tensor and
// leaves its input alone (inputs may be read-only file mappings shared with other models).
#include <cstdint>
#include <span>

#include "core/tensor.h"
#include "model/weights.h"

namespace bitfold::transform::detail {

// w [N, K] · diag(factor): column k multiplied by factor[k].
Tensor scale_columns(const Tensor& w, std::span<const float> factor);
// w [N, ...] with row i divided by divisor[i] (a vector [N] is N rows of one element).
Tensor divide_rows(const Tensor& w, std::span<const float> divisor);
// w [N, ...] with row i multiplied by factor[i].
Tensor multiply_rows(const Tensor& w, std::span<const float> factor);
// The bias of `linear` plus z Wᵀ (z [K]), accumulated in double; zeros + z Wᵀ when it has none.
Tensor bias_plus_shift(const model::Linear& linear, std::span<const float> z);
// out[:, k] = w[:, source[k]] for w [N, K].
Tensor gather_columns(const Tensor& w, std::span<const int64_t> source);
// out[i] = w[source[i]] / divisor[i] for w [N, ...] (divisor empty: no division).
Tensor gather_rows(const Tensor& w, std::span<const int64_t> source,
                   std::span<const float> divisor = {});
// A vector as floats.
std::span<const float> values(const Tensor& v);

}  // namespace bitfold::transform::detail
