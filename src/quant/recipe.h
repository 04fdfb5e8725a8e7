#pragma once
// Recipes: which method runs, with which hyperparameters, and what every linear layer's weights
// and input activations (and the KV cache) are quantized to. JSON on disk (schema and example in
// docs/quant-formats.md), or built from command-line flags. Every error names the recipe source
// and, where there is one, the JSON path or layer.
//
//   {
//     "method": "mergequant",
//     "hyperparameters": {"lora_rank": 32},
//     "weights":     {"format": "int4", "granularity": "channel"},
//     "activations": {"format": "int4", "granularity": "static-channel", "clip": 0.9},
//     "kv_cache":    {"format": "int8", "granularity": "static-head"},
//     "layers": [
//       {"match": "*.down_proj", "activations": {"bits": 8}},
//       {"match": "model.layers.0.*", "weights": {"format": "fp16"}}
//     ]
//   }
//
// Overrides apply in order to every layer name they match, each replacing only the keys it gives:
// for any key, the last matching override wins.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "quant/quant_spec.h"

namespace bitfold::quant {

enum class Method : uint8_t {
  Rtn, SmoothQuant, OsPlus, OutlierTune, MergeQuant, LlmFp4, Abq, FlexQ, Gptq,
};
std::string_view method_name(Method method);  // "rtn", "smoothquant", "osplus", ...

// What a recipe quantizes; each has its own granularity spellings:
//   weights:     tensor | channel (per output channel) | group
//   activations: static-tensor | static-channel (per input channel) | dynamic-token |
//                dynamic-tensor | dynamic-group
//   kv_cache:    static-tensor | static-head | dynamic-token
enum class Operand : uint8_t { Weights, Activations, KvCache };

// The keys one override gives for one operand; unset keys keep the value from below.
struct SpecOverride {
  std::optional<Format> format;
  std::optional<int> bits;  // changes the bits of an integer format (fp16 → int<bits>)
  std::optional<Granularity> granularity;
  std::optional<bool> dynamic;  // set together with granularity
  std::optional<int64_t> group_size;
  std::optional<double> clip;
  std::optional<bool> pow2_scale;

  bool empty() const {
    return !format && !bits && !granularity && !group_size && !clip && !pow2_scale;
  }
  // Throws bitfold::Error (bits on a float format) with `where` leading the message.
  QuantSpec apply(QuantSpec base, std::string_view where) const;

  bool operator==(const SpecOverride&) const = default;
};

struct LayerOverride {
  std::string pattern;  // layer_pattern.h
  SpecOverride weights;
  SpecOverride activations;

  bool operator==(const LayerOverride&) const = default;
};

// The specs of one linear layer: its weight and its input activation.
struct LayerQuant {
  QuantSpec weights;
  QuantSpec activations;
};

struct Recipe {
  std::string source;  // the recipe file, or "command-line recipe"
  Method method = Method::Rtn;
  nlohmann::json hyperparameters = nlohmann::json::object();  // passed to the method as is
  QuantSpec weights;      // defaults for every linear layer
  QuantSpec activations;
  QuantSpec kv_cache;     // head granularity: group_size is filled by kv_cache_for
  std::vector<LayerOverride> layers;

  // The layer's specs with every matching override applied, validated.
  LayerQuant for_layer(std::string_view layer) const;
  // Same, and checks that group sizes divide the layer's K (input channels).
  LayerQuant for_linear(std::string_view layer, int64_t K) const;
  // The KV-cache spec for heads of head_dim channels.
  QuantSpec kv_cache_for(int64_t head_dim) const;

  bool operator==(const Recipe&) const = default;
};

// Throws bitfold::Error "PATH: ..." for an unreadable file, malformed JSON, unknown method / key /
// granularity / format, bits outside 2..8, e + m too large, a group size that is not positive.
Recipe load_recipe(const std::filesystem::path& path);
Recipe parse_recipe(std::string_view json_text, std::string_view source);
Recipe parse_recipe_json(const nlohmann::json& document, std::string_view source);
// The recipe as JSON (canonical spellings); parse_recipe(recipe_to_json(r)) gives back r.
nlohmann::json recipe_to_json(const Recipe& recipe);

// A recipe from command-line flags:
//   --method rtn --w 4 --a 4 --act static-channel|static-tensor|dynamic-token --group 128
//   --kv 8 --w-clip 0.9 --a-clip 1
// --w / --a / --kv take a bit count (4 → int4, 16 → fp16) or a format string (uint4, e2m1 ...);
// --group g makes the weights per-group (else per output channel).
struct RecipeFlags {
  std::string method = "rtn";
  std::string weights = "fp16";
  std::string activations = "fp16";
  std::string act = "static-channel";
  int64_t group = 0;
  std::string kv = "fp16";
  double weight_clip = 1.0;
  double activation_clip = 1.0;
};
// Parses "--flag value" / "--flag=value" pairs; throws on an unknown flag or a missing value.
RecipeFlags parse_recipe_flags(const std::vector<std::string>& args);
Recipe recipe_from_flags(const RecipeFlags& flags);

}  // namespace bitfold::quant
