#pragma once
// Hugging Face config.json <-> ModelConfig, for model_type llama, mistral and qwen2.
//
// Read: hidden_size, intermediate_size, num_hidden_layers, num_attention_heads are required;
// num_key_value_heads defaults to the head count, head_dim to hidden_size / heads; rms_norm_eps,
// rope_theta, tie_word_embeddings, max_position_embeddings and bos/eos ids default as in
// transformers for the model type (Qwen2 also means q/k/v biases). eos_token_id may be a list.
// Refused with a clear error: rope_scaling of any kind (ops::rope has no per-frequency scaling,
// so llama3/linear/dynamic/yarn would silently change the model), attention_bias / mlp_bias,
// a hidden_act other than silu, Qwen2's use_sliding_window. rope_parameters (transformers 5) is
// read for rope_theta; a rope_type other than "default" is refused like rope_scaling. Mistral's sliding_window is honoured
// by capping max_seq_len at the window: within it, windowed attention equals full attention.
#include <filesystem>
#include <string>

#include "core/dtype.h"
#include "model/config.h"

namespace bitfold::model {

// Parses `config_json`; errors name the file and the field.
ModelConfig read_hf_config(const std::filesystem::path& config_json);
// Parses config.json text; `where` names it in errors.
ModelConfig parse_hf_config(const std::string& text, const std::string& where);

// config.json text describing `config`, with torch_dtype naming how the weights are stored.
std::string hf_config_json(const ModelConfig& config, DType stored_as);

}  // namespace bitfold::model
