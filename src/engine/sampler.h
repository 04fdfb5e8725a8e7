#pragma once
// Choosing the next token from logits: greedy, or temperature → top-k → top-p (nucleus) sampling
// in that order (as Hugging Face applies them), from a seeded generator whose sequence is fixed by
// the C++ standard, so a seed reproduces a generation on any platform.
#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

namespace bitfold::engine {

struct SamplerOptions {
  float temperature = 0.8f;  // 0: greedy (argmax)
  int top_k = 0;             // keep the k most likely tokens; 0: all
  float top_p = 0.9f;        // keep the smallest set whose probability reaches p; 1: all
  uint64_t seed = 0;
};

class Sampler {
 public:
  // Throws bitfold::Error on a negative temperature, top_k < 0 or top_p outside (0, 1].
  explicit Sampler(const SamplerOptions& options);

  // The next token given logits [vocab].
  int32_t sample(std::span<const float> logits);

  const SamplerOptions& options() const { return options_; }

 private:
  float uniform();  // [0, 1) from 24 random bits

  SamplerOptions options_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> candidates_;  // (probability, id), reused
};

// Index of the largest value (the first one on ties).
int32_t argmax(std::span<const float> values);

}  // namespace bitfold::engine
