// RTN: round to nearest with the recipe's formats and no transform. Weight-only (W4A16, W8A16;
// per channel or per group) and WxAy with each activation granularity: static per tensor, static
// per input channel (Δa_j = clip·absmax_j / qmax from calibration, pre-executed into W: the plain
// static per-channel floor every method must beat), dynamic per token. All of it is the Method
// defaults; docs/methods.md §RTN.
#include "methods/method.h"

namespace bitfold::methods {

namespace {

class Rtn final : public Method {
 public:
  std::string_view name() const override { return "rtn"; }
};

}  // namespace

std::unique_ptr<Method> make_rtn(const nlohmann::json& hyperparameters, const std::string& where) {
  check_hyperparameters(hyperparameters, where, "rtn", {});
  return std::make_unique<Rtn>();
}

}  // namespace bitfold::methods
