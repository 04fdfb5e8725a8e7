#pragma once
// The integer engine and fake quantization on CUDA tensors, in terms of quant:: types: the host
// side that turns a QuantizedLinear / QuantParams into the plain-data pieces of cuda_ops.h.
// ops.cpp checks shapes and devices, then calls these.
#include "core/tensor.h"
#include "quant/quantized_linear.h"

namespace bitfold::ops::cuda {

// y[T, N] (device) = the integer engine's output for x [T, K] (device); the layer's engine
// operands must live on the GPU (QuantizedLinear::to).
void quantized_linear(const Tensor& x, const quant::QuantizedLinear& layer, float* y);

// x [rows, K] on the GPU rounded onto the grid of `params` in place (a dynamic spec is fitted on
// x first), bit-identical to quant::fake_quantize.
void fake_quantize_rows(Tensor& x, const quant::QuantParams& params);

}  // namespace bitfold::ops::cuda
