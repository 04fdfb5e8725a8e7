#pragma once
// Layer-name patterns of recipes: shell-style globs over the whole name.
//   *  any run of characters, dots included ("*.down_proj", "model.layers.*.mlp.down_proj")
//   ?  any one character
// Everything else matches itself.
#include <string_view>

namespace bitfold::quant {

bool layer_pattern_matches(std::string_view pattern, std::string_view name);

}  // namespace bitfold::quant
