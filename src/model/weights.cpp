#include "model/weights.h"

namespace bitfold::model {

const std::vector<std::string>& linear_names() {
  static const std::vector<std::string> names = {
      "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
      "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};
  return names;
}

}  // namespace bitfold::model
