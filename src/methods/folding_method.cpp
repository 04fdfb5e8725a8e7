#include "methods/folding_method.h"

#include <fmt/format.h>

#include "calib/block_streams.h"
#include "core/error.h"

namespace bitfold::methods {

void FoldingMethod::transform(BlockContext& ctx) {
  BlockObservation obs;
  obs.layer = ctx.layer;
  for (model::ActivationSite s : kFoldSites) obs.at(s) = SiteObservation(s, sample_tokens_);
  ctx.streams.run(ctx.block, ctx.stream, obs.hook(), nullptr);
  const BlockSpecs specs = block_specs(ctx.recipe, ctx.layer, ctx.block);
  inputs_ = fold(ctx.config, ctx.layer, ctx.block, obs, specs);
  observation_ = std::move(obs);
  // The slots say what their input really is (e.g. OutlierTune's per-token o_proj input).
  for (LinearSlot& s : ctx.linears)
    s.spec.activations = inputs_[size_t(fold_site_index(s.site))].params.spec;
  // Statistics of the folded block: reports, and the KV cache (v carries the o_proj folds).
  calib::ObserveOptions again;
  again.observer = needs().observer;
  const quant::QuantSpec kv = ctx.recipe.kv_cache_for(ctx.config.head_dim);
  again.kv_cache = kv.quantized() && !kv.dynamic;
  ctx.stats = calib::observe_block(ctx.streams, ctx.block, ctx.stream, again);
}

quant::QuantParams FoldingMethod::input_quantizer(BlockContext& ctx, const LinearSlot& slot) {
  for (model::ActivationSite s : kFoldSites)
    if (slot.site == s) return inputs_[size_t(fold_site_index(s))].params;
  return Method::input_quantizer(ctx, slot);  // lm_head
}

namespace {

class BoundFoldingMethod final : public FoldingMethod {
 public:
  BoundFoldingMethod(std::string name, int64_t sample_tokens, BlockFold fold)
      : FoldingMethod(sample_tokens), name_(std::move(name)), fold_(std::move(fold)) {}
  std::string_view name() const override { return name_; }

 protected:
  BlockInputs fold(const model::ModelConfig& c, int layer, model::LayerWeights& block,
                   BlockObservation& observation, const BlockSpecs& specs) override {
    return fold_(c, layer, block, observation, specs);
  }

 private:
  std::string name_;
  BlockFold fold_;
};

}  // namespace

std::unique_ptr<Method> make_folding_method(std::string name, int64_t sample_tokens,
                                            BlockFold fold) {
  return std::make_unique<BoundFoldingMethod>(std::move(name), sample_tokens, std::move(fold));
}

int64_t sample_tokens_hyperparameter(const nlohmann::json& h, const std::string& where) {
  return integer_hyperparameter(h, where, "sample_tokens", 2048, 1, int64_t(1) << 24);
}

bool bool_hyperparameter(const nlohmann::json& h, const std::string& where, const char* key,
                         bool fallback) {
  if (!h.contains(key)) return fallback;
  if (!h[key].is_boolean()) fail("{}.{}: expected true or false, got {}", where, key, h[key].dump());
  return h[key].get<bool>();
}

double number_hyperparameter(const nlohmann::json& h, const std::string& where, const char* key,
                             double fallback, double lo, double hi) {
  if (!h.contains(key)) return fallback;
  if (!h[key].is_number()) fail("{}.{}: expected a number, got {}", where, key, h[key].dump());
  const double v = h[key].get<double>();
  if (!(v >= lo && v <= hi)) fail("{}.{}: {} outside [{}, {}]", where, key, v, lo, hi);
  return v;
}

int64_t integer_hyperparameter(const nlohmann::json& h, const std::string& where, const char* key,
                               int64_t fallback, int64_t lo, int64_t hi) {
  if (!h.contains(key)) return fallback;
  if (!h[key].is_number_integer())
    fail("{}.{}: expected an integer, got {}", where, key, h[key].dump());
  const int64_t v = h[key].get<int64_t>();
  if (v < lo || v > hi) fail("{}.{}: {} outside [{}, {}]", where, key, v, lo, hi);
  return v;
}

std::string string_hyperparameter(const nlohmann::json& h, const std::string& where,
                                  const char* key, const std::string& fallback,
                                  std::initializer_list<std::string_view> allowed) {
  if (!h.contains(key)) return fallback;
  std::string names;
  for (std::string_view a : allowed) names += (names.empty() ? "" : ", ") + std::string(a);
  if (!h[key].is_string()) fail("{}.{}: expected one of {}, got {}", where, key, names, h[key].dump());
  const std::string v = h[key].get<std::string>();
  for (std::string_view a : allowed)
    if (a == v) return v;
  fail("{}.{}: '{}' is not one of {}", where, key, v, names);
}

std::vector<double> ratios_hyperparameter(const nlohmann::json& h, const std::string& where,
                                          const char* key, std::vector<double> fallback,
                                          bool allow_empty) {
  if (!h.contains(key)) return fallback;
  const nlohmann::json& v = h[key];
  if (!v.is_array()) fail("{}.{}: expected an array of ratios in (0, 1], got {}", where, key, v.dump());
  std::vector<double> out;
  for (const auto& e : v) {
    if (!e.is_number() || !(e.get<double>() > 0 && e.get<double>() <= 1))
      fail("{}.{}: {} is not a ratio in (0, 1]", where, key, e.dump());
    out.push_back(e.get<double>());
  }
  if (out.empty() && !allow_empty) fail("{}.{}: no ratios", where, key);
  return out;
}

std::vector<std::string> unfolded_scaling(const model::LlamaWeights& weights) {
  std::vector<std::string> out;
  const auto check = [&](const std::string& name, const model::Linear& l) {
    if (!l.quantized || l.quantized->weight_only()) return;
    const quant::QuantParams& in = l.quantized->input();
    if (in.spec.dynamic) {
      out.push_back(fmt::format("{}: {} activations: a per-{} scale computed at run time", name,
                                quant::describe(in.spec), quant::granularity_name(in.spec.granularity)));
    } else if (!is_folded_quantizer(in)) {
      out.push_back(fmt::format("{}: static steps ≠ 1: the consumer rescales its input", name));
    }
  };
  for (int l = 0; l < int(weights.layers.size()); ++l) {
    const model::LayerWeights& b = weights.layers[size_t(l)];
    const model::Linear* linears[] = {&b.q, &b.k, &b.v, &b.o, &b.gate, &b.up, &b.down};
    for (size_t i = 0; i < 7; ++i)
      check(linear_full_name(l, model::linear_names()[i]), *linears[i]);
  }
  check("lm_head", weights.lm_head);
  return out;
}

}  // namespace bitfold::methods
