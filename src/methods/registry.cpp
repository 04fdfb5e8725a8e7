// The methods bitfold implements, by the name a recipe gives. Adding a method is adding a row.
#include "core/error.h"
#include "methods/method.h"

namespace bitfold::methods {

const std::vector<MethodEntry>& registered_methods() {
  static const std::vector<MethodEntry> methods = {
      {"rtn", "round to nearest: no transform, steps from calibration ranges", make_rtn},
      {"smoothquant", "SmoothQuant: migrate activation ranges into the weights (alpha)",
       make_smoothquant},
  };
  return methods;
}

std::unique_ptr<Method> make_method(const quant::Recipe& recipe,
                                    const nlohmann::json& method_hyperparameters) {
  const std::string_view name = quant::method_name(recipe.method);
  std::string available;
  for (const MethodEntry& m : registered_methods()) {
    if (m.name == name) return m.make(method_hyperparameters, recipe.source + ".hyperparameters");
    available += (available.empty() ? "" : ", ") + std::string(m.name);
  }
  fail("{}: method '{}' is not implemented yet (available: {})", recipe.source, name, available);
}

}  // namespace bitfold::methods
