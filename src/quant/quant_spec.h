#pragma once
// What to quantize with: a format, a granularity (which elements share one step), static or
// dynamic, and the rule's knobs. A QuantSpec is a description only; fit_params (quantizer.h) turns
// it plus data into the steps and zero-points.
//
// A tensor is seen as a matrix [rows, K] with K its last dimension (weights: [N, K] with rows the
// output channels; activations: [tokens, K] with K the input channels).
#include <cstdint>
#include <string>
#include <string_view>

#include "quant/format.h"

namespace bitfold::quant {

enum class Granularity : uint8_t {
  Tensor,         // one step for everything (static, or dynamic: refitted per call)
  OutputChannel,  // weights: one step per row i
  Group,          // one step per (row, g consecutive elements along K): weights; dynamic activations
  InputChannel,   // activations: one step per column j, static, from calibration statistics
  Token,          // activations: one step per row t, dynamic (computed when quantizing)
  Head,           // KV cache: one step per head = g consecutive columns, static
};

// "tensor", "channel", "group", "input-channel", "token", "head".
std::string_view granularity_name(Granularity granularity);

struct QuantSpec {
  Format format;  // Format::none(): not quantized
  Granularity granularity = Granularity::Tensor;
  int64_t group_size = 0;  // Group: elements per group along K; Head: channels per head
  bool dynamic = false;    // steps are computed from the tensor being quantized, every call
  double clip = 1.0;       // multiplies max/min (absmax) before the scale rule; in (0, 1]
  bool pow2_scale = false; // round the fitted step up to a power of two (LLM-FP4's 2^ρ)

  bool quantized() const { return format.kind != FormatKind::None; }
  // Throws bitfold::Error for inconsistent specs (group without a size, static per-token, a
  // dynamic per-input-channel step, clip outside (0, 1] ...). The message starts with `where`.
  void validate(std::string_view where) const;
  // Throws unless the group (or head) size divides K. The message names `layer`.
  void check_divides(int64_t K, std::string_view layer) const;

  bool operator==(const QuantSpec&) const = default;
};

// "int4 channel", "int4 static group 128 clip 0.9", "fp16" — for logs and error messages.
std::string describe(const QuantSpec& spec);

}  // namespace bitfold::quant
