#pragma once
// Writing a model as a Hugging Face directory that transformers' LlamaForCausalLM (or Mistral /
// Qwen2) and bitfold itself load: config.json, model.safetensors, and the tokenizer file.
#include <filesystem>

#include "core/dtype.h"
#include "model/weights.h"

namespace bitfold::model {

// Writes `weights` to `out_dir` with floats stored as `dtype` (F32, F16 or BF16; round to nearest
// even). Tied embeddings are written once (no lm_head.weight). `tokenizer`, when given, is copied
// under its conventional name (tokenizer.model / tokenizer.json / tokenizer.bin, chosen by
// content), with tokenizer_config.json beside a tokenizer.json. The directory appears whole or not
// at all (AtomicDirectory); an existing `out_dir` is replaced only if it is empty or holds a
// config.json (a previous model), never an unrelated directory.
void write_hf_model(const LlamaWeights& weights, const std::filesystem::path& out_dir, DType dtype,
                    const std::filesystem::path& tokenizer = {});

}  // namespace bitfold::model
