#include "quant/quant_spec.h"

#include <cmath>

#include "core/error.h"

namespace bitfold::quant {

std::string_view granularity_name(Granularity granularity) {
  switch (granularity) {
    case Granularity::Tensor: return "tensor";
    case Granularity::OutputChannel: return "channel";
    case Granularity::Group: return "group";
    case Granularity::InputChannel: return "input-channel";
    case Granularity::Token: return "token";
    case Granularity::Head: return "head";
  }
  return "?";
}

void QuantSpec::validate(std::string_view where) const {
  if (!quantized()) return;
  if (!(clip > 0 && clip <= 1))
    fail("{}: clip ratio {} outside (0, 1]", where, clip);
  const bool grouped = granularity == Granularity::Group || granularity == Granularity::Head;
  if (grouped && group_size < 1)
    fail("{}: {} granularity needs a positive {} size", where, granularity_name(granularity),
         granularity == Granularity::Head ? "head" : "group");
  if (!grouped && group_size != 0)
    fail("{}: a group size ({}) only applies to group or head granularity, not {}", where,
         group_size, granularity_name(granularity));
  if (granularity == Granularity::Token && !dynamic)
    fail("{}: per-token steps are dynamic (tokens differ every call); static per-token is "
         "meaningless",
         where);
  if ((granularity == Granularity::InputChannel || granularity == Granularity::Head) && dynamic)
    fail("{}: per-{} steps are static (from calibration statistics); use dynamic token or tensor "
         "granularity instead",
         where, granularity_name(granularity));
  if (granularity == Granularity::OutputChannel && dynamic)
    fail("{}: per-output-channel steps belong to weights and are fitted once (static)", where);
}

void QuantSpec::check_divides(int64_t K, std::string_view layer) const {
  if (!quantized()) return;
  if (granularity != Granularity::Group && granularity != Granularity::Head) return;
  if (group_size < 1 || K % group_size != 0)
    fail("{}: {} size {} does not divide K = {} ({})", layer,
         granularity == Granularity::Head ? "head" : "group", group_size, K, describe(*this));
}

std::string describe(const QuantSpec& spec) {
  if (!spec.quantized()) return format_name(spec.format);
  std::string text = fmt::format("{} {} {}", format_name(spec.format),
                                 spec.dynamic ? "dynamic" : "static",
                                 granularity_name(spec.granularity));
  if (spec.group_size > 0) text += fmt::format(" {}", spec.group_size);
  if (spec.clip != 1.0) text += fmt::format(" clip {}", spec.clip);
  if (spec.pow2_scale) text += " pow2";
  return text;
}

}  // namespace bitfold::quant
