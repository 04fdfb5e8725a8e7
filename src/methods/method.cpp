#include "methods/method.h"

#include "core/error.h"

namespace bitfold::methods {

LinearSlot& BlockContext::slot(std::string_view local) {
  for (LinearSlot& s : linears)
    if (s.local == local) return s;
  fail("layer {}: no linear {}", layer, local);
}

quant::QuantParams Method::input_quantizer(BlockContext& ctx, const LinearSlot& slot) {
  const quant::QuantSpec& spec = slot.spec.activations;
  quant::QuantParams p;
  p.spec = spec;
  if (!spec.quantized() || spec.dynamic) return p;
  try {
    return quant::fit_params(spec, ctx.stats.at(slot.site).stats());
  } catch (const Error& e) {
    fail("{}: activations: {}", slot.name, e.what());
  }
}

std::shared_ptr<const quant::QuantizedLinear> Method::quantize_linear(
    BlockContext& ctx, const LinearSlot& slot, const quant::QuantParams& input) {
  (void)ctx;
  return std::make_shared<const quant::QuantizedLinear>(quant::quantize_linear(
      slot.linear->weight, slot.linear->bias, input, slot.spec.weights, slot.name));
}

void check_hyperparameters(const nlohmann::json& hyperparameters, const std::string& where,
                           std::string_view method, std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : hyperparameters.items()) {
    bool ok = false;
    for (std::string_view k : known) ok = ok || k == key;
    if (ok) continue;
    std::string names;
    for (std::string_view k : known) names += (names.empty() ? "" : ", ") + std::string(k);
    fail("{}: unknown hyperparameter '{}' for {} (known: {})", where, key, method,
         names.empty() ? "none" : names);
  }
}

}  // namespace bitfold::methods
