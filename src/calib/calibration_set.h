#pragma once
// The calibration set: N windows of L tokens sampled at random positions from a text, reproducibly
// from a seed (docs/quantization.md §2.1).
//
// The text is encoded as one string after one BOS (the perplexity convention, eval/perplexity.h);
// window starts are rng() mod (tokens − L + 1) with rng = std::mt19937_64(seed), a sequence the
// C++ standard fixes (no implementation-defined distribution), so a seed reproduces everywhere.
// Windows may overlap. Scaled down automatically: L ≤ the model's context and ≤ the text's tokens;
// N ≤ tokens / L (at least 1), so N·L never asks for more than the text holds.
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/config.h"
#include "text/tokenizer.h"

namespace bitfold::calib {

struct CalibrationOptions {
  int samples = 128;   // N, before scaling down
  int length = 2048;   // L, before scaling down
  uint64_t seed = 0;
};

struct CalibrationSet {
  std::string source;       // the text file (or a name given by the caller)
  uint64_t seed = 0;
  int samples = 0;          // N actually used
  int length = 0;           // L actually used
  int requested_samples = 0;
  int requested_length = 0;
  int64_t text_tokens = 0;  // tokens of the whole text, BOS included
  std::vector<std::vector<int32_t>> windows;  // N × L token ids
  std::vector<int64_t> starts;                // where each window starts in the text's tokens

  // {"source", "seed", "samples", "length", "requested_samples", "requested_length",
  //  "text_tokens"} for checkpoints and reports.
  nlohmann::json info() const;
};

// Samples from already encoded tokens. Errors: no tokens; samples or length < 1.
CalibrationSet sample_calibration_set(std::span<const int32_t> tokens, std::string source,
                                      const model::ModelConfig& config,
                                      const CalibrationOptions& options);

// Reads and encodes `text_file` (one BOS in front), then samples. Errors name the file: missing,
// empty, fewer than 2 tokens.
CalibrationSet load_calibration_set(const std::filesystem::path& text_file,
                                    const text::Tokenizer& tokenizer,
                                    const model::ModelConfig& config,
                                    const CalibrationOptions& options);

}  // namespace bitfold::calib
