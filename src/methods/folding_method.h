#pragma once
// The Method (methods/method.h) shape shared by OS+, OutlierTune and MergeQuant: transform()
// observes the block's fold sites over the calibration stream (site_observation.h), lets the
// method fold its transforms and choose each site's input quantizer (folding.h), then observes
// the folded block again so the pipeline's statistics, reports and KV-cache steps describe what
// the quantized block will see; input_quantizer() hands back the chosen quantizer (step 1 where
// folded: rounding only).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "methods/folding.h"
#include "methods/method.h"

namespace bitfold::methods {

class FoldingMethod : public Method {
 public:
  // Two block runs of its own: observing the fold sites, observing the folded block.
  MethodNeeds needs() const override { return {.observer = {}, .extra_passes = 2}; }
  void transform(BlockContext& ctx) override;
  quant::QuantParams input_quantizer(BlockContext& ctx, const LinearSlot& slot) override;

 protected:
  explicit FoldingMethod(int64_t sample_tokens) : sample_tokens_(sample_tokens) {}
  // The method on one block: folds into `block` (and `observation`), returns the quantizers.
  virtual BlockInputs fold(const model::ModelConfig& config, int layer, model::LayerWeights& block,
                           BlockObservation& observation, const BlockSpecs& specs) = 0;

  // The block's observation after the folds (samples in the folded units), and its quantizers.
  const BlockObservation& observation() const { return observation_; }
  const BlockInputs& inputs() const { return inputs_; }

 private:
  int64_t sample_tokens_;
  BlockObservation observation_;
  BlockInputs inputs_;
};

// A method's block function with its options bound (e.g. osplus_block): what
// FoldingMethod::fold runs, called with the same arguments.
using BlockFold = std::function<BlockInputs(const model::ModelConfig& config, int layer,
                                            model::LayerWeights& block,
                                            BlockObservation& observation, const BlockSpecs& specs)>;

// OS+ and OutlierTune are a block function and its options, nothing more: one FoldingMethod runs
// any bound block function rather than a subclass per method that only forwards fold().
// (MergeQuant keeps a subclass: it rounds the weights its own way, see quantize_linear.)
std::unique_ptr<Method> make_folding_method(std::string name, int64_t sample_tokens,
                                            BlockFold fold);

// Reads the hyperparameters every folding method takes: "sample_tokens" (tokens of activations
// kept per site for the searches, default 2048).
int64_t sample_tokens_hyperparameter(const nlohmann::json& hyperparameters,
                                     const std::string& where);

// Typed reads of one hyperparameter with one-line errors naming `where.key`; `fallback` when
// the key is absent.
bool bool_hyperparameter(const nlohmann::json& h, const std::string& where, const char* key,
                         bool fallback);
double number_hyperparameter(const nlohmann::json& h, const std::string& where, const char* key,
                             double fallback, double lo, double hi);
int64_t integer_hyperparameter(const nlohmann::json& h, const std::string& where, const char* key,
                               int64_t fallback, int64_t lo, int64_t hi);
std::string string_hyperparameter(const nlohmann::json& h, const std::string& where,
                                  const char* key, const std::string& fallback,
                                  std::initializer_list<std::string_view> allowed);
std::vector<double> ratios_hyperparameter(const nlohmann::json& h, const std::string& where,
                                          const char* key, std::vector<double> fallback,
                                          bool allow_empty);

// What a quantized model would run besides rounding: for every linear whose activations are
// quantized, a line naming it and why ("dynamic per-token steps", "static steps ≠ 1: the
// consumer rescales"); empty when every activation quantizer is static with step 1, i.e. all
// scaling lives in folded weights (the integer engine's zero-points are biases, not scaling).
std::vector<std::string> unfolded_scaling(const model::LlamaWeights& weights);

}  // namespace bitfold::methods
