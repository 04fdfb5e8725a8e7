#pragma once
// Moving a model between the CPU and the GPU: ops.h runs on whichever device the tensors live
// on, so a model copied to Device::CUDA runs the same forward (and the same hooks, calibration
// and fake-quant code) on the GPU.
#include "core/tensor.h"
#include "model/weights.h"

namespace bitfold::model {

// A copy of `weights` whose every tensor lives on `device` (dtypes unchanged). A tied lm_head
// stays tied: it shares the copied token_embedding. Tensors already there are shared, not
// copied. Errors: a build without CUDA, or too little GPU memory (bitfold::Error).
LlamaWeights to_device(const LlamaWeights& weights, Device device);

}  // namespace bitfold::model
