#pragma once
// The compute API the model is written on. Every op takes Tensors that all live on one device
// and dispatches to the CPU backend (ops/cpu, OpenBLAS + OpenMP) or the CUDA backend (ops/cuda:
// cuBLAS SGEMM with TF32 off and plain kernels, results within float rounding of the CPU),
// so calibration and fake-quant evaluation run the same model code on either. Shapes are
// row-major; "T" is the number of tokens in the call. Outputs are preallocated by the caller.
#include <cstdint>
#include <span>
#include <vector>

#include "core/tensor.h"

namespace bitfold::quant {
class QuantizedLinear;
struct QuantParams;
}

namespace bitfold::ops {

// y[T, N] = x[T, K] · w[N, K]ᵀ (+ bias[N] when defined). F32.
void linear(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y);

// y[T, N] for x[T, K] through a quantized linear layer, as the integer engine computes it
// (quant/quantized_linear.h): x quantized by the layer's input quantizer, exact integer
// accumulation, float epilogue. F32; the FP path is ops::linear. On either device: the layer's
// engine operands must live where x does (QuantizedLinear::to); the CUDA backend gives the CPU's
// integers and, its epilogue rounding in the same order without FMA, the CPU's outputs bit for bit.
void quantized_linear(const Tensor& x, const quant::QuantizedLinear& layer, Tensor& y);

// x [rows, K] rounded onto the grid of `params` in place (a dynamic spec is fitted on x first):
// quant::fake_quantize on either device, bit-identical between them. The KV cache's rounding.
void fake_quantize(Tensor& x, const quant::QuantParams& params);

// y[T, D] = x / sqrt(mean(x²) + eps) ⊙ gamma[D], row by row. y may be x.
void rmsnorm(const Tensor& x, const Tensor& gamma, float eps, Tensor& y);

// RMSNorm extended by the folds of src/transform: a channel gather and a per-channel bias.
//   y[t, k] = gamma[k] · (x[t, channels[k]] · r_t) + beta[k],  r_t = 1 / sqrt(mean_j x[t, j]² + eps)
// x [T, D]; channels I32 [K] with values in [0, D) (undefined: the identity, K = D); gamma [K];
// beta [K] (undefined: no bias); y [T, K], not aliasing x. The mean of squares is over the D
// input channels whatever K is, so a channel split (K > D) leaves the norm itself unchanged.
void rmsnorm_gather_bias(const Tensor& x, const Tensor& channels, const Tensor& gamma,
                         const Tensor& beta, float eps, Tensor& y);

// cos/sin of the rotary angles for positions [0, max_pos): angle(p, i) = p · inv_freq[i] with
// inv_freq[i] = 1 / theta^(2i / head_dim), both rounded to F32 exactly as Hugging Face computes
// them, so that F32 logits match transformers'. cos and sin are [max_pos, head_dim / 2].
struct RopeTable {
  Tensor cos, sin;
  int head_dim = 0;
  int max_pos() const { return cos.defined() ? int(cos.dim(0)) : 0; }
};
RopeTable rope_table(int head_dim, int max_pos, float theta, Device device = Device::CPU);

// Rotary position embedding in place, Hugging Face "rotate-half" layout: within each head of
// `head_dim`, element i pairs with i + head_dim/2. x is [T, n_heads * head_dim]; token t sits at
// position start_pos + t.
void rope(Tensor& x, const RopeTable& table, int start_pos);
// The same with a table built for this call (tests, one-off use).
void rope(Tensor& x, int head_dim, int start_pos, float theta);

// Causal grouped-query attention of T new queries against a KV cache.
// q [T, n_heads*hd]; k_cache, v_cache [>= start_pos+T, n_kv_heads*hd] hold every position up to
// and including the new tokens; out [T, n_heads*hd]. Query t attends to positions 0..start_pos+t,
// with scores scaled by 1/sqrt(hd) and a max-subtracted softmax.
void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, int n_heads,
               int n_kv_heads, int head_dim, int start_pos, Tensor& out);

// out = SiLU(gate) ⊙ up, elementwise. out may be gate or up.
void silu_mul(const Tensor& gate, const Tensor& up, Tensor& out);

// x += y, elementwise.
void add_inplace(Tensor& x, const Tensor& y);

// out[T, D] = table[ids[t], :]; table may be F32, F16 or BF16 (on either device), out is F32;
// ids are on the host.
// An id outside the table is a bitfold::Error (a tokenizer that does not fit the model).
void embedding(const Tensor& table, std::span<const int32_t> ids, Tensor& out);

// Negative log-likelihood of each row's target under a softmax of its logits:
// nll[t] = logsumexp(logits[t, :]) - logits[t, targets[t]], accumulated in double.
// logits [T, V] F32; targets has T entries in [0, V). Returns T values (on the host).
std::vector<double> token_nll(const Tensor& logits, std::span<const int32_t> targets);

}  // namespace bitfold::ops
