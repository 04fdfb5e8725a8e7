#pragma once
// Weight-side refinements after the folds, on the activations a layer will really see (its site's
// samples, in the folded units): the input Gram matrix, a per-row clip search, and a low-rank
// compensation of the rounding error (MergeQuant; methods-reference §1.3).
//
// A row's output error on inputs x is Σ_t ((ŵ_i − w_i)·x_t)² = e_i H e_iᵀ with H = Σ_t x_t x_tᵀ,
// so both refinements are judged in the metric of H.
#include <cstdint>
#include <span>
#include <vector>

#include "core/tensor.h"
#include "quant/quantizer.h"

namespace bitfold::methods {

// H = Σ_t x_t x_tᵀ over the samples ([T, K] each), F32 [K, K], accumulated per sample in F32
// GEMMs and summed in double. `input`, when given, rounds the samples first (the codes the
// integer engine will multiply).
Tensor input_gram(const std::vector<Tensor>& samples, const quant::QuantParams* input = nullptr);

// e_i H e_iᵀ per row of e [N, K].
std::vector<double> row_errors(const Tensor& e, const Tensor& gram);

// The weight's steps with, for each output row, the clip ratio from `ratios` that minimizes the
// row's output error (spec: per-output-channel; its own clip is replaced). Returns the steps;
// quantize / fake_quantize with them as usual.
quant::QuantParams search_row_clip(const Tensor& weight, const quant::QuantSpec& spec,
                                   const Tensor& gram, std::span<const double> ratios);

// A rank-r correction B·A ≈ E (E [N, K] the rounding error W − Ŵ) minimizing
// tr((E − BA) H (E − BA)ᵀ), by alternating least squares (each half-step exact:
// B = E H Aᵀ (A H Aᵀ)⁻¹, A = (BᵀB)⁻¹ Bᵀ E), from a seeded random start.
struct LowRank {
  Tensor a;  // [r, K]
  Tensor b;  // [N, r]
  double error_before = 0;  // tr(E H Eᵀ)
  double error_after = 0;   // tr((E − BA) H (E − BA)ᵀ)
};
LowRank fit_low_rank(const Tensor& error, const Tensor& gram, int rank, int iterations = 12,
                     uint32_t seed = 1);

}  // namespace bitfold::methods
