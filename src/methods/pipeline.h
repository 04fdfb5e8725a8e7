#pragma once
// quantize_model: a model + a recipe + a calibration set → a quantized model, the shared
// pipeline every method runs through (docs/quantization.md §3):
//
//   for each block l (calib::BlockStreams: one block at a time over all windows)
//     1. observe   statistics of the block's activations (FP stream; the quantized stream with
//                  "sequential": true), the FP stream's outputs kept for the next block
//     2. transform method->transform (equivalent transforms of the block)
//     3. quantize  per linear: method->input_quantizer, then method->quantize_linear (static
//                  steps pre-executed into W, weights rounded); KV-cache steps per head
//     4. advance   the quantized stream through the quantized block, measuring each linear's
//                  output error against its FP (transformed) weights on the same inputs, and the
//                  block's output error against the FP stream
//   lm_head: quantized only with the recipe hyperparameter "quantize_lm_head": true.
//
// Pipeline hyperparameters (taken out of the recipe's "hyperparameters" before the method sees
// them): "sequential" (bool, default false), "quantize_lm_head" (bool, default false).
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "calib/calibration_set.h"
#include "calib/channel_observer.h"
#include "model/weights.h"
#include "quant/recipe.h"

namespace bitfold::methods {

struct QuantizeOptions {
  bool progress = true;        // progress bar with ETA on stderr (when it is a terminal)
  bool keep_fp_stream = true;  // FP stream beside the quantized one: block output errors
  bool measure_errors = true;  // per-linear output errors on calibration data
  int error_windows = 32;      // ... on the first windows only (each costs an extra FP linear)
  // Observe and transform only: nothing is quantized. The result is the transformed FP model,
  // which must equal the original up to float rounding (the exactness tests of every transform).
  bool transform_only = false;
  // Where the calibration forwards run (calib::BlockStreams): the model, the methods and the
  // observers stay on the host; Device::CUDA runs every block forward on the GPU.
  Device device = Device::CPU;
};

struct LinearReport {
  std::string name;                 // model.layers.3.mlp.down_proj
  std::string weights, activations;  // quant::describe of the specs used
  calib::RangeSummary before, after;  // its input site's channel absmax, before/after transform
  double output_rel_mse = -1;       // Σ‖y_q − y‖² / Σ‖y‖² on calibration inputs; −1: not measured
  bool exact_float32 = true;        // the CPU engine accumulates in float (bound < 2^24)
};

struct BlockReport {
  int layer = 0;
  double output_rel_mse = -1;  // quantized stream vs FP stream at the block output; −1: no FP stream
};

struct QuantizeReport {
  std::vector<LinearReport> linears;
  std::vector<BlockReport> blocks;
  double seconds = 0;
};

struct QuantizedModel {
  model::LlamaWeights weights;  // quantized linears set; FP weights kept beside them
  quant::Recipe recipe;
  nlohmann::json calibration;   // calib::CalibrationSet::info()
  QuantizeReport report;
};

// Checks the recipe against the model (method known, groups dividing K, activations quantized
// only with quantized weights, KV-cache head size) without calibrating: the errors quantize_model
// would raise, raised before any work.
void check_recipe(const model::LlamaWeights& weights, const quant::Recipe& recipe);

QuantizedModel quantize_model(model::LlamaWeights weights, const quant::Recipe& recipe,
                              const calib::CalibrationSet& calibration,
                              const QuantizeOptions& options = {});

// "model.layers.3.self_attn.q_proj".
std::string linear_name(int layer, std::string_view local);

}  // namespace bitfold::methods
