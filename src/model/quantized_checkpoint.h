#pragma once
// Quantized checkpoints (docs/format.md): a directory
//   quantization.json      metadata: format version, bitfold version, recipe, per-layer formats,
//                          calibration (source, seed, N, L), source model (sha256 of its files)
//   quantized.safetensors  packed codes (dense packing), steps, zero-points, biases, the
//                          (transformed) norms, the embedding and unquantized layers as stored
//   config.json            the model's hyperparameters (Hugging Face spelling)
//   tokenizer.*            the tokenizer, copied
// written atomically. model::load_weights recognizes such a directory (by quantization.json) and
// returns weights whose linears carry their QuantizedLinear, so `bitfold ppl` / `generate` run
// the fake-quant CPU path on it unchanged. Every disagreement between the metadata and the tensors
// (a missing step, a code count that does not match bits × shape, an unknown format version, bits
// outside 2..8 ...) is a one-line error naming the file and the tensor.
#include <filesystem>
#include <string_view>

#include <nlohmann/json.hpp>

#include "model/weights.h"

namespace bitfold::model {

inline constexpr int kQuantizedFormatVersion = 1;
inline constexpr std::string_view kQuantizationFile = "quantization.json";
inline constexpr std::string_view kQuantizedTensorsFile = "quantized.safetensors";

// What the checkpoint records beside the tensors.
struct QuantizedCheckpointInfo {
  nlohmann::json recipe = nlohmann::json::object();       // quant::recipe_to_json
  nlohmann::json calibration = nlohmann::json::object();  // calib::CalibrationSet::info()
  nlohmann::json source_model = nlohmann::json::object(); // source_model_info()
};

// True when `path` is a directory holding quantization.json.
bool is_quantized_checkpoint(const std::filesystem::path& path);

// {"path": ..., "files": [{"name": ..., "sha256": ...}]}: the files that hold a model's weights
// (a Hugging Face directory's *.safetensors and index, or a llama2.c .bin), hashed.
nlohmann::json source_model_info(const std::filesystem::path& model_path);

// Throws unless `out_dir` may be written: absent, an empty directory, or a quantized checkpoint
// (which is replaced). For commands that check before hours of work.
void check_checkpoint_target(const std::filesystem::path& out_dir);

// Writes `weights` (quantized linears packed, the others and the norms stored losslessly as F16,
// BF16 or F32 — the narrowest that reproduces every value) to `out_dir`, atomically. An existing
// `out_dir` is replaced only when it is empty or a quantized checkpoint.
void write_quantized_checkpoint(const LlamaWeights& weights, const std::filesystem::path& out_dir,
                                const QuantizedCheckpointInfo& info,
                                const std::filesystem::path& tokenizer = {});

// Reads and validates a checkpoint. Quantized linears have `quantized` set and no FP weight.
LlamaWeights load_quantized_checkpoint(const std::filesystem::path& dir);

// The parsed quantization.json (checked for format and version).
nlohmann::json read_quantization_metadata(const std::filesystem::path& dir);

}  // namespace bitfold::model
