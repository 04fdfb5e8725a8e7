#pragma once
// The method interface. A method is "compute statistics → transform the model → choose quantizer
// parameters"; everything else — calibration streams, recipe lookup, pre-execution of static
// steps into the weights, weight quantization, reports, checkpoints — is shared
// (methods/pipeline.h, docs/quantization.md §3). The pipeline calls, for every block in order:
//
//   needs()                      once: what the statistics must hold (histograms ...)
//   transform(ctx)               equivalent transforms of the block (scales / shifts folded into
//                                norms and weights); must leave ctx.stats describing the
//                                transformed activations (rescale them, or observe again)
//   input_quantizer(ctx, slot)   per linear: its activation quantizer (static steps from stats)
//   quantize_linear(ctx, slot, input)
//                                per linear: the QuantizedLinear (default: round to nearest)
//
// Linears are quantized in the order q, k, v, o, gate, up, down, each set on ctx.block as soon as
// it is made: a method that runs the block again from quantize_linear (GPTQ-style inputs) sees
// the earlier ones quantized.
//
// The defaults are RTN; a method overrides what it changes. Methods are registered by name in
// registry.cpp (one row each) and chosen by the recipe's "method".
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "calib/block_streams.h"
#include "model/llama.h"
#include "quant/quantized_linear.h"
#include "quant/recipe.h"

namespace bitfold::methods {

// One linear of the block being quantized.
struct LinearSlot {
  std::string name;            // "model.layers.3.mlp.down_proj": recipes, reports, checkpoints
  std::string local;           // "mlp.down_proj"
  model::Linear* linear = nullptr;  // the block's (possibly transformed) FP linear
  model::ActivationSite site = model::ActivationSite::AttnInput;  // the activation it reads
  quant::LayerQuant spec;      // the recipe's specs for it
  bool quantized() const { return spec.weights.quantized(); }
};

// What a method sees, and may change, of one block.
struct BlockContext {
  const model::ModelConfig& config;
  int layer;
  // The block being quantized. Transforms replace tensors (clone, then change the copy), never
  // write into existing ones: the original FP block shares them.
  model::LayerWeights& block;
  const model::LayerWeights& original;
  calib::BlockStats& stats;       // of the block's activations, from `stream`
  calib::BlockStreams& streams;   // to run the block again (searches, reconstruction)
  calib::Stream stream;
  const quant::Recipe& recipe;
  std::vector<LinearSlot> linears;  // q, k, v, o, gate, up, down (lm_head: itself alone)

  LinearSlot& slot(std::string_view local);
};

struct MethodNeeds {
  calib::ObserverOptions observer;  // e.g. histograms for percentile clipping
  int extra_passes = 0;             // block runs over the windows that transform() makes itself
};

class Method {
 public:
  virtual ~Method() = default;
  virtual std::string_view name() const = 0;
  virtual MethodNeeds needs() const { return {}; }
  virtual void transform(BlockContext& ctx) { (void)ctx; }
  // Default: nothing for float activations; the spec alone for dynamic ones (steps fitted at run
  // time); static steps fitted on the site's channel statistics (quant::fit_params).
  virtual quant::QuantParams input_quantizer(BlockContext& ctx, const LinearSlot& slot);
  // Default (RTN): W' = W·diag(Δa), weight steps fitted on W', codes rounded to nearest.
  virtual std::shared_ptr<const quant::QuantizedLinear> quantize_linear(
      BlockContext& ctx, const LinearSlot& slot, const quant::QuantParams& input);
};

// ---- registry ----

// Creates a method from the recipe's hyperparameters (the method's own keys only: the pipeline's
// are taken out first). Unknown keys are an error naming `where`.
using MethodFactory = std::unique_ptr<Method> (*)(const nlohmann::json& hyperparameters,
                                                 const std::string& where);
struct MethodEntry {
  std::string_view name;     // the recipe's "method"
  std::string_view summary;  // one line for --help
  MethodFactory make;
};
const std::vector<MethodEntry>& registered_methods();
// The recipe's method; "recipe: method 'osplus' is not implemented yet (available: rtn,
// smoothquant)" for a method the registry does not hold.
std::unique_ptr<Method> make_method(const quant::Recipe& recipe,
                                    const nlohmann::json& method_hyperparameters);

// Factories (one file each).
std::unique_ptr<Method> make_rtn(const nlohmann::json& hyperparameters, const std::string& where);
std::unique_ptr<Method> make_smoothquant(const nlohmann::json& hyperparameters,
                                         const std::string& where);

// Throws "WHERE: unknown hyperparameter 'x' for METHOD (known: a, b)" for keys outside `known`.
void check_hyperparameters(const nlohmann::json& hyperparameters, const std::string& where,
                           std::string_view method, std::initializer_list<std::string_view> known);

}  // namespace bitfold::methods
