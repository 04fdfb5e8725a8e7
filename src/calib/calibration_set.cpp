#include "calib/calibration_set.h"

#include <algorithm>
#include <random>

#include "core/error.h"
#include "core/mapped_file.h"

namespace bitfold::calib {

nlohmann::json CalibrationSet::info() const {
  return {{"source", source},
          {"seed", seed},
          {"samples", samples},
          {"length", length},
          {"requested_samples", requested_samples},
          {"requested_length", requested_length},
          {"text_tokens", text_tokens}};
}

CalibrationSet sample_calibration_set(std::span<const int32_t> tokens, std::string source,
                                      const model::ModelConfig& config,
                                      const CalibrationOptions& options) {
  if (options.samples < 1) fail("calibration: the number of samples must be at least 1, got {}", options.samples);
  if (options.length < 1) fail("calibration: the sample length must be at least 1, got {}", options.length);
  const int64_t n = int64_t(tokens.size());
  if (n < 2) fail("{}: {} tokens, too few to calibrate on", source, n);

  CalibrationSet set;
  set.source = std::move(source);
  set.seed = options.seed;
  set.requested_samples = options.samples;
  set.requested_length = options.length;
  set.text_tokens = n;
  set.length = int(std::min<int64_t>({options.length, config.max_seq_len, n}));
  set.samples = int(std::clamp<int64_t>(n / set.length, 1, options.samples));

  // Starts uniform in [0, n − L]: rng() mod (n − L + 1). The modulo bias is below range / 2^64,
  // nothing for sampling text, and the result is the same on every platform.
  const uint64_t range = uint64_t(n - set.length) + 1;
  std::mt19937_64 rng(options.seed);
  for (int w = 0; w < set.samples; ++w) {
    const uint64_t start = rng() % range;
    set.starts.push_back(int64_t(start));
    set.windows.emplace_back(tokens.begin() + int64_t(start),
                             tokens.begin() + int64_t(start) + set.length);
  }
  return set;
}

CalibrationSet load_calibration_set(const std::filesystem::path& text_file,
                                    const text::Tokenizer& tokenizer,
                                    const model::ModelConfig& config,
                                    const CalibrationOptions& options) {
  const std::string text = read_text_file(text_file);
  if (text.empty()) fail("{}: empty calibration text", text_file.string());
  std::vector<int32_t> tokens;
  const int bos = tokenizer.bos_id() >= 0 ? tokenizer.bos_id() : config.bos_id;
  if (bos >= 0) tokens.push_back(bos);
  const std::vector<int32_t> encoded = tokenizer.encode(text);
  tokens.insert(tokens.end(), encoded.begin(), encoded.end());
  return sample_calibration_set(tokens, text_file.string(), config, options);
}

}  // namespace bitfold::calib
