#include "quant/recipe.h"

#include <array>
#include <charconv>
#include <cstdlib>

#include "core/error.h"
#include "core/mapped_file.h"
#include "quant/layer_pattern.h"

namespace bitfold::quant {

using nlohmann::json;

namespace {

constexpr std::array<std::pair<Method, std::string_view>, 9> kMethods = {{
    {Method::Rtn, "rtn"},
    {Method::SmoothQuant, "smoothquant"},
    {Method::OsPlus, "osplus"},
    {Method::OutlierTune, "outliertune"},
    {Method::MergeQuant, "mergequant"},
    {Method::LlmFp4, "llmfp4"},
    {Method::Abq, "abq"},
    {Method::FlexQ, "flexq"},
    {Method::Gptq, "gptq"},
}};

struct GranularitySpelling {
  Operand operand;
  std::string_view name;
  Granularity granularity;
  bool dynamic;
};

constexpr std::array<GranularitySpelling, 11> kGranularities = {{
    {Operand::Weights, "tensor", Granularity::Tensor, false},
    {Operand::Weights, "channel", Granularity::OutputChannel, false},
    {Operand::Weights, "group", Granularity::Group, false},
    {Operand::Activations, "static-tensor", Granularity::Tensor, false},
    {Operand::Activations, "static-channel", Granularity::InputChannel, false},
    {Operand::Activations, "dynamic-token", Granularity::Token, true},
    {Operand::Activations, "dynamic-tensor", Granularity::Tensor, true},
    {Operand::Activations, "dynamic-group", Granularity::Group, true},
    {Operand::KvCache, "static-tensor", Granularity::Tensor, false},
    {Operand::KvCache, "static-head", Granularity::Head, false},
    {Operand::KvCache, "dynamic-token", Granularity::Token, true},
}};

constexpr std::string_view kOperandKeys = "format, bits, granularity, group, clip, pow2_scale";
constexpr std::string_view kTopKeys =
    "method, description, hyperparameters, weights, activations, kv_cache, layers";

std::string_view operand_key(Operand operand) {
  switch (operand) {
    case Operand::Weights: return "weights";
    case Operand::Activations: return "activations";
    case Operand::KvCache: return "kv_cache";
  }
  return "?";
}

// The spec a recipe starts from for each operand: not quantized, with the granularity a format
// given without one gets (bitfold's line: static per-channel activations).
QuantSpec default_spec(Operand operand) {
  QuantSpec spec;
  switch (operand) {
    case Operand::Weights: spec.granularity = Granularity::OutputChannel; break;
    case Operand::Activations: spec.granularity = Granularity::InputChannel; break;
    case Operand::KvCache: spec.granularity = Granularity::Head; break;
  }
  return spec;
}

std::string known_granularities(Operand operand) {
  std::string names;
  for (const GranularitySpelling& s : kGranularities) {
    if (s.operand != operand) continue;
    if (!names.empty()) names += ", ";
    names += s.name;
  }
  return names;
}

std::string_view granularity_spelling(Operand operand, Granularity granularity, bool dynamic,
                                      std::string_view where) {
  for (const GranularitySpelling& s : kGranularities)
    if (s.operand == operand && s.granularity == granularity && s.dynamic == dynamic) return s.name;
  fail("{}: {} {} granularity cannot be written for {}", where, dynamic ? "dynamic" : "static",
       granularity_name(granularity), operand_key(operand));
}

// Runs fn; a bitfold::Error from it is re-thrown with `where` in front.
template <class Fn>
auto in_context(std::string_view where, Fn&& fn) {
  try {
    return fn();
  } catch (const Error& e) {
    fail("{}: {}", where, e.what());
  }
}

void expect_object(const json& j, std::string_view where) {
  if (!j.is_object()) fail("{}: expected a JSON object, got {}", where, j.type_name());
}

std::string expect_string(const json& j, std::string_view where) {
  if (!j.is_string()) fail("{}: expected a string, got {}", where, j.type_name());
  return j.get<std::string>();
}

int64_t expect_integer(const json& j, std::string_view where) {
  if (!j.is_number_integer()) fail("{}: expected an integer, got {}", where, j.dump());
  return j.get<int64_t>();
}

SpecOverride parse_operand(const json& j, Operand operand, const std::string& where) {
  expect_object(j, where);
  SpecOverride o;
  for (const auto& [key, value] : j.items()) {
    const std::string at = where + "." + key;
    if (key == "format") {
      const std::string text = expect_string(value, at);
      o.format = in_context(at, [&] { return parse_format(text); });
    } else if (key == "bits") {
      const int64_t bits = expect_integer(value, at);
      if (bits < 2 || bits > 8) fail("{}: bits {} outside 2..8", at, bits);
      o.bits = int(bits);
    } else if (key == "granularity") {
      const std::string name = expect_string(value, at);
      for (const GranularitySpelling& s : kGranularities) {
        if (s.operand != operand || s.name != name) continue;
        o.granularity = s.granularity;
        o.dynamic = s.dynamic;
      }
      if (!o.granularity)
        fail("{}: unknown granularity '{}' for {} (known: {})", at, name, operand_key(operand),
             known_granularities(operand));
    } else if (key == "group") {
      const int64_t group = expect_integer(value, at);
      if (group < 1) fail("{}: group size {} is not positive", at, group);
      o.group_size = group;
    } else if (key == "clip") {
      if (!value.is_number()) fail("{}: expected a number, got {}", at, value.dump());
      const double clip = value.get<double>();
      if (!(clip > 0 && clip <= 1)) fail("{}: clip ratio {} outside (0, 1]", at, clip);
      o.clip = clip;
    } else if (key == "pow2_scale") {
      if (!value.is_boolean()) fail("{}: expected true or false, got {}", at, value.dump());
      o.pow2_scale = value.get<bool>();
    } else {
      fail("{}: unknown key '{}' (known: {})", where, key, kOperandKeys);
    }
  }
  if (o.format && o.bits) fail("{}: give either format or bits, not both", where);
  return o;
}

json operand_to_json(const SpecOverride& o, Operand operand, std::string_view where) {
  json j = json::object();
  if (o.format) j["format"] = format_name(*o.format);
  if (o.bits) j["bits"] = *o.bits;
  if (o.granularity)
    j["granularity"] = granularity_spelling(operand, *o.granularity, o.dynamic.value_or(false), where);
  if (o.group_size) j["group"] = *o.group_size;
  if (o.clip) j["clip"] = *o.clip;
  if (o.pow2_scale) j["pow2_scale"] = *o.pow2_scale;
  return j;
}

// The override that turns default_spec(operand) into `spec` (every key given).
SpecOverride full_override(const QuantSpec& spec) {
  SpecOverride o;
  o.format = spec.format;
  o.granularity = spec.granularity;
  o.dynamic = spec.dynamic;
  if (spec.group_size > 0 && spec.granularity == Granularity::Group) o.group_size = spec.group_size;
  if (spec.clip != 1.0) o.clip = spec.clip;
  if (spec.pow2_scale) o.pow2_scale = true;
  return o;
}

bool grouped(Granularity g) { return g == Granularity::Group || g == Granularity::Head; }

// Validates a default spec; the KV cache's head size comes from the model, so a stand-in is used.
void validate_default(const QuantSpec& spec, Operand operand, std::string_view where) {
  QuantSpec check = spec;
  if (operand == Operand::KvCache && check.granularity == Granularity::Head) check.group_size = 1;
  check.validate(where);
}

// "--w 4" means int4, "--w 16" fp16, anything else is a format string.
std::string flag_format(const std::string& value) {
  if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos) return value;
  return value == "16" ? "fp16" : "int" + value;
}

}  // namespace

std::string_view method_name(Method method) {
  for (const auto& [m, name] : kMethods)
    if (m == method) return name;
  return "?";
}

QuantSpec SpecOverride::apply(QuantSpec base, std::string_view where) const {
  if (format) base.format = *format;
  if (bits) {
    base.format = base.format.kind == FormatKind::None
                      ? in_context(where, [&] { return Format::integer(IntGrid::TwosComplement, *bits); })
                      : in_context(where, [&] { return with_bits(base.format, *bits); });
  }
  if (granularity) {
    base.granularity = *granularity;
    base.dynamic = dynamic.value_or(false);
    if (!grouped(*granularity)) base.group_size = 0;
  }
  if (group_size) base.group_size = *group_size;
  if (clip) base.clip = *clip;
  if (pow2_scale) base.pow2_scale = *pow2_scale;
  return base;
}

LayerQuant Recipe::for_layer(std::string_view layer) const {
  LayerQuant q{weights, activations};
  for (const LayerOverride& o : layers) {
    if (!layer_pattern_matches(o.pattern, layer)) continue;
    const std::string where = fmt::format("{}: layer {} (match '{}')", source, layer, o.pattern);
    q.weights = o.weights.apply(q.weights, where + ": weights");
    q.activations = o.activations.apply(q.activations, where + ": activations");
  }
  q.weights.validate(fmt::format("{}: layer {}: weights", source, layer));
  q.activations.validate(fmt::format("{}: layer {}: activations", source, layer));
  return q;
}

LayerQuant Recipe::for_linear(std::string_view layer, int64_t K) const {
  LayerQuant q = for_layer(layer);
  q.weights.check_divides(K, fmt::format("{}: layer {}: weights", source, layer));
  q.activations.check_divides(K, fmt::format("{}: layer {}: activations", source, layer));
  return q;
}

QuantSpec Recipe::kv_cache_for(int64_t head_dim) const {
  QuantSpec spec = kv_cache;
  if (spec.granularity == Granularity::Head) spec.group_size = head_dim;
  spec.validate(fmt::format("{}: kv_cache", source));
  return spec;
}

Recipe parse_recipe_json(const json& doc, std::string_view source) {
  Recipe r;
  r.source = std::string(source);
  expect_object(doc, r.source);
  for (const auto& [key, value] : doc.items()) {
    if (key == "method" || key == "description" || key == "hyperparameters" || key == "weights" ||
        key == "activations" || key == "kv_cache" || key == "layers")
      continue;
    fail("{}: unknown key '{}' (known: {})", r.source, key, kTopKeys);
  }

  if (!doc.contains("method")) fail("{}: no method given (known: rtn, smoothquant, osplus, "
                                    "outliertune, mergequant, llmfp4, abq, flexq, gptq)", r.source);
  const std::string method = expect_string(doc["method"], r.source + ".method");
  bool known = false;
  for (const auto& [m, name] : kMethods)
    if (name == method) {
      r.method = m;
      known = true;
    }
  if (!known)
    fail("{}: unknown method '{}' (known: rtn, smoothquant, osplus, outliertune, mergequant, "
         "llmfp4, abq, flexq, gptq)",
         r.source, method);
  if (doc.contains("description")) expect_string(doc["description"], r.source + ".description");
  if (doc.contains("hyperparameters")) {
    expect_object(doc["hyperparameters"], r.source + ".hyperparameters");
    r.hyperparameters = doc["hyperparameters"];
  }

  for (Operand operand : {Operand::Weights, Operand::Activations, Operand::KvCache}) {
    const std::string key(operand_key(operand));
    const std::string where = r.source + "." + key;
    QuantSpec spec = default_spec(operand);
    if (doc.contains(key)) spec = parse_operand(doc[key], operand, where).apply(spec, where);
    validate_default(spec, operand, where);
    if (operand == Operand::Weights) r.weights = spec;
    else if (operand == Operand::Activations) r.activations = spec;
    else r.kv_cache = spec;
  }

  if (doc.contains("layers")) {
    const json& layers = doc["layers"];
    if (!layers.is_array()) fail("{}.layers: expected an array, got {}", r.source, layers.type_name());
    for (size_t i = 0; i < layers.size(); ++i) {
      const std::string where = fmt::format("{}.layers[{}]", r.source, i);
      const json& entry = layers[i];
      expect_object(entry, where);
      LayerOverride o;
      for (const auto& [key, value] : entry.items()) {
        if (key == "match") o.pattern = expect_string(value, where + ".match");
        else if (key == "weights") o.weights = parse_operand(value, Operand::Weights, where + ".weights");
        else if (key == "activations")
          o.activations = parse_operand(value, Operand::Activations, where + ".activations");
        else fail("{}: unknown key '{}' (known: match, weights, activations)", where, key);
      }
      if (o.pattern.empty()) fail("{}: no 'match' pattern given", where);
      r.layers.push_back(std::move(o));
    }
  }
  return r;
}

Recipe parse_recipe(std::string_view json_text, std::string_view source) {
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::parse_error& e) {
    fail("{}: malformed JSON: {}", source, e.what());
  }
  return parse_recipe_json(doc, source);
}

Recipe load_recipe(const std::filesystem::path& path) {
  return parse_recipe(read_text_file(path), path.string());
}

json recipe_to_json(const Recipe& r) {
  json doc = json::object();
  doc["method"] = method_name(r.method);
  doc["hyperparameters"] = r.hyperparameters;
  doc["weights"] = operand_to_json(full_override(r.weights), Operand::Weights, r.source);
  doc["activations"] = operand_to_json(full_override(r.activations), Operand::Activations, r.source);
  doc["kv_cache"] = operand_to_json(full_override(r.kv_cache), Operand::KvCache, r.source);
  json layers = json::array();
  for (const LayerOverride& o : r.layers) {
    json entry = json::object();
    entry["match"] = o.pattern;
    if (!o.weights.empty()) entry["weights"] = operand_to_json(o.weights, Operand::Weights, r.source);
    if (!o.activations.empty())
      entry["activations"] = operand_to_json(o.activations, Operand::Activations, r.source);
    layers.push_back(std::move(entry));
  }
  doc["layers"] = std::move(layers);
  return doc;
}

RecipeFlags parse_recipe_flags(const std::vector<std::string>& args) {
  constexpr std::string_view where = "command line";
  RecipeFlags flags;
  auto number = [&](const std::string& flag, const std::string& text, auto& out) {
    using T = std::remove_reference_t<decltype(out)>;
    const char* end = text.data() + text.size();
    std::from_chars_result result{};
    if constexpr (std::is_floating_point_v<T>) {
      char* stop = nullptr;
      out = T(std::strtod(text.c_str(), &stop));
      result.ptr = stop;
      if (text.empty()) result.ec = std::errc::invalid_argument;
    } else {
      result = std::from_chars(text.data(), end, out);
    }
    if (result.ec != std::errc() || result.ptr != end)
      fail("{}: {} expects a number, got '{}'", where, flag, text);
  };
  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i], value;
    const size_t eq = flag.find('=');
    if (flag.starts_with("--") && eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    } else {
      if (i + 1 >= args.size()) fail("{}: {} needs a value", where, flag);
      value = args[++i];
    }
    if (flag == "--method") flags.method = value;
    else if (flag == "--w") flags.weights = value;
    else if (flag == "--a") flags.activations = value;
    else if (flag == "--act") flags.act = value;
    else if (flag == "--group") number(flag, value, flags.group);
    else if (flag == "--kv") flags.kv = value;
    else if (flag == "--w-clip") number(flag, value, flags.weight_clip);
    else if (flag == "--a-clip") number(flag, value, flags.activation_clip);
    else
      fail("{}: unknown flag '{}' (known: --method, --w, --a, --act, --group, --kv, --w-clip, "
           "--a-clip)",
           where, flag);
  }
  return flags;
}

Recipe recipe_from_flags(const RecipeFlags& flags) {
  json doc = json::object();
  doc["method"] = flags.method;
  json weights = {{"format", flag_format(flags.weights)},
                  {"granularity", flags.group > 0 ? "group" : "channel"},
                  {"clip", flags.weight_clip}};
  if (flags.group != 0) weights["group"] = flags.group;
  doc["weights"] = weights;
  doc["activations"] = {{"format", flag_format(flags.activations)},
                        {"granularity", flags.act},
                        {"clip", flags.activation_clip}};
  doc["kv_cache"] = {{"format", flag_format(flags.kv)}};
  return parse_recipe_json(doc, "command-line recipe");
}

}  // namespace bitfold::quant
