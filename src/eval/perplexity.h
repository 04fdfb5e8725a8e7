#pragma once
// Perplexity, the GPTQ convention (also llama.cpp's and most PTQ papers'): the whole file encoded
// as one string after a single BOS, cut into non-overlapping windows of `ctx` tokens (the tail
// that does not fill a window is dropped); in each window every token but the first is scored
// given the tokens before it in that window; ppl = exp(mean NLL), accumulated in double.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>

#include "core/tensor.h"
#include "model/llama.h"
#include "text/tokenizer.h"

namespace bitfold::eval {

struct PerplexityOptions {
  int ctx = 0;             // window length; 0: the model's max_seq_len capped at 2048
  bool progress = true;    // progress bar with ETA on stderr, when stderr is a terminal
  model::ActivationHook hook;  // passed to every forward (fake-quant evaluation)
};

struct PerplexityResult {
  double ppl = 0;
  double mean_nll = 0;          // nats per scored token
  int ctx = 0;
  int windows = 0;
  int64_t scored_tokens = 0;    // windows · (ctx − 1)
  int64_t file_tokens = 0;      // tokens of the whole file, BOS included
  double seconds = 0;
  double tokens_per_second = 0; // tokens run through the model (windows · ctx) per second
};

// Logits [ctx, vocab] (on any device) of one window of token ids: lets quantized models with a
// forward of their own be scored by the same code.
using WindowLogits = std::function<Tensor(std::span<const int32_t> window)>;

// The default window length for a model: max_seq_len capped at 2048.
int default_ctx(const model::ModelConfig& config);

// Scores `tokens` (BOS already in front) in windows of `ctx`. Errors: ctx < 2, fewer tokens than
// one window (naming `source` in the message).
PerplexityResult perplexity(std::span<const int32_t> tokens, int ctx, const WindowLogits& logits,
                            bool progress = true, std::string_view source = "the text");

// Reads and encodes `text_file`, then scores it with the F32 forward of `weights`. Errors: an
// empty file, text shorter than one window, ctx larger than the model's max_seq_len, ctx < 2.
PerplexityResult perplexity(const model::LlamaWeights& weights, const text::Tokenizer& tokenizer,
                            const std::filesystem::path& text_file,
                            const PerplexityOptions& options = {});

}  // namespace bitfold::eval
