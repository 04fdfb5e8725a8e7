#pragma once
// Moving a model between the CPU and the GPU: ops.h runs on whichever device the tensors live
// on, so a model copied to Device::CUDA runs the same forward (and the same hooks, calibration
// and fake-quant code) on the GPU.
#include "core/tensor.h"
#include "model/weights.h"

namespace bitfold::model {

// A copy of `weights` whose every tensor lives on `device` (dtypes unchanged). A tied lm_head
// stays tied: it shares the copied token_embedding. Quantized linears travel as
// QuantizedLinear::to(device) (their engine operands move; codes and steps stay on the host) and
// KV-cache quantizers as they are (host steps, uploaded per write). Tensors already there are
// shared, not copied. Errors: a build without CUDA, too little GPU memory, or folded norm
// extras (no CUDA norm for them yet) on the GPU (bitfold::Error).
LlamaWeights to_device(const LlamaWeights& weights, Device device);

// One block likewise (block-wise calibration moves the block in flight).
LayerWeights to_device(const LayerWeights& layer, Device device);

}  // namespace bitfold::model
