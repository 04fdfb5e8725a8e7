#pragma once
// Loading a Llama-family model from a llama2.c checkpoint (.bin) or a Hugging Face directory
// (config.json + one or sharded *.safetensors) into the layout model/weights.h describes.
#include <filesystem>

#include "model/config.h"
#include "model/weights.h"

namespace bitfold::model {

// Reads only the hyperparameters.
ModelConfig load_config(const std::filesystem::path& path);
// Reads config and weights (F32, CPU). Validates every tensor's presence, dtype and shape
// against the config; errors name the file and tensor. A quantized checkpoint directory
// (model/quantized_checkpoint.h) loads with its linears quantized.
LlamaWeights load_weights(const std::filesystem::path& path);

}  // namespace bitfold::model
