#include <gtest/gtest.h>

#include <functional>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "quant/layer_pattern.h"
#include "quant/recipe.h"
#include "test_support.h"

namespace bitfold::quant {
namespace {

constexpr const char* kRecipe = R"({
  "method": "mergequant",
  "description": "W4A4 static per-channel, 8-bit down_proj inputs",
  "hyperparameters": {"lora_rank": 32, "clip_search": {"steps": 20}},
  "weights": {"format": "int4", "granularity": "channel"},
  "activations": {"format": "int4", "granularity": "static-channel", "clip": 0.9},
  "kv_cache": {"format": "int8", "granularity": "static-head"},
  "layers": [
    {"match": "*.down_proj", "activations": {"bits": 8}},
    {"match": "model.layers.0.*", "weights": {"format": "fp16"}},
    {"match": "model.layers.*.mlp.down_proj", "activations": {"format": "uint8", "clip": 1.0},
     "weights": {"granularity": "group", "group": 128}},
    {"match": "model.layers.3?.self_attn.*", "weights": {"format": "int8-balanced"}}
  ]
})";

void expect_error(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one containing '" << parts.front() << "'";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << "one line: " << message;
    for (const std::string& part : parts)
      EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
  }
}

TEST(LayerPattern, GlobsOverWholeNames) {
  EXPECT_TRUE(layer_pattern_matches("*.down_proj", "model.layers.3.mlp.down_proj"));
  EXPECT_TRUE(layer_pattern_matches("model.layers.*.mlp.down_proj", "model.layers.31.mlp.down_proj"));
  EXPECT_FALSE(layer_pattern_matches("model.layers.*.mlp.down_proj", "model.layers.3.mlp.up_proj"));
  EXPECT_FALSE(layer_pattern_matches("*.down_proj", "model.layers.3.mlp.down_proj.bias"));
  EXPECT_TRUE(layer_pattern_matches("model.layers.?.*", "model.layers.7.self_attn.q_proj"));
  EXPECT_FALSE(layer_pattern_matches("model.layers.?.*", "model.layers.17.self_attn.q_proj"));
  EXPECT_TRUE(layer_pattern_matches("*", "anything"));
  EXPECT_TRUE(layer_pattern_matches("*a*b*c", "xxaxxbxxbxc"));
  EXPECT_FALSE(layer_pattern_matches("*a*b*c", "xxaxxbxxbx"));
  EXPECT_TRUE(layer_pattern_matches("lm_head", "lm_head"));
  EXPECT_FALSE(layer_pattern_matches("lm_head", "lm_head2"));
  EXPECT_FALSE(layer_pattern_matches("", "x"));
}

TEST(Recipe, ParsesDefaultsAndOverridesLastMatchWins) {
  const Recipe r = parse_recipe(kRecipe, "w4a4.json");
  EXPECT_EQ(r.method, Method::MergeQuant);
  EXPECT_EQ(method_name(r.method), "mergequant");
  EXPECT_EQ(r.hyperparameters["lora_rank"], 32);
  EXPECT_EQ(r.hyperparameters["clip_search"]["steps"], 20);
  EXPECT_EQ(r.weights.format, parse_format("int4"));
  EXPECT_EQ(r.weights.granularity, Granularity::OutputChannel);
  EXPECT_EQ(r.activations.granularity, Granularity::InputChannel);
  EXPECT_FALSE(r.activations.dynamic);
  EXPECT_EQ(r.activations.clip, 0.9);
  ASSERT_EQ(r.layers.size(), 4u);

  // No override: the defaults.
  LayerQuant q = r.for_layer("model.layers.5.self_attn.q_proj");
  EXPECT_EQ(q.weights, r.weights);
  EXPECT_EQ(q.activations, r.activations);

  // "*.down_proj" (bits 8 on int4 → int8), then the more specific pattern replaces format and
  // clip and makes the weights per-group: later matches win key by key.
  q = r.for_layer("model.layers.5.mlp.down_proj");
  EXPECT_EQ(q.activations.format, parse_format("uint8"));
  EXPECT_EQ(q.activations.clip, 1.0);
  EXPECT_EQ(q.activations.granularity, Granularity::InputChannel);
  EXPECT_EQ(q.weights.format, parse_format("int4"));
  EXPECT_EQ(q.weights.granularity, Granularity::Group);
  EXPECT_EQ(q.weights.group_size, 128);

  // Layer 0: fp16 weights from the second override, then down_proj's group granularity on top —
  // the format stays fp16 (not quantized).
  q = r.for_layer("model.layers.0.mlp.down_proj");
  EXPECT_FALSE(q.weights.quantized());
  EXPECT_EQ(q.activations.format, parse_format("uint8"));
  q = r.for_layer("model.layers.0.mlp.gate_proj");
  EXPECT_FALSE(q.weights.quantized());
  EXPECT_EQ(q.activations.format, parse_format("int4"));
  q = r.for_layer("model.layers.31.self_attn.o_proj");
  EXPECT_EQ(q.weights.format, parse_format("int8-balanced"));
  q = r.for_layer("model.layers.3.self_attn.o_proj");
  EXPECT_EQ(q.weights.format, parse_format("int4"));

  // Override order matters: the same two overrides reversed give the other answer.
  const Recipe reversed = parse_recipe(R"({"method": "rtn",
      "weights": {"format": "int4"},
      "layers": [{"match": "model.layers.*.mlp.down_proj", "weights": {"format": "int6"}},
                 {"match": "*.down_proj", "weights": {"format": "int3"}}]})", "r.json");
  EXPECT_EQ(reversed.for_layer("model.layers.2.mlp.down_proj").weights.format, parse_format("int3"));

  const QuantSpec kv = r.kv_cache_for(128);
  EXPECT_EQ(kv.granularity, Granularity::Head);
  EXPECT_EQ(kv.group_size, 128);
  EXPECT_EQ(kv.format, parse_format("int8"));
}

TEST(Recipe, FormatStringsInRecipes) {
  for (const char* format : {"int4", "int4-balanced", "uint4", "int4-asym", "int2-bitbalanced",
                             "fp4-e2m1", "e3m2", "fp8-e4m3fn", "fp8-e5m2", "fp16"}) {
    const Recipe r = parse_recipe(
        fmt::format(R"({{"method": "rtn", "weights": {{"format": "{}"}}}})", format), "f.json");
    EXPECT_EQ(r.weights.format, parse_format(format)) << format;
  }
  const Recipe fp = parse_recipe(R"({"method": "llmfp4",
      "weights": {"format": "e2m1", "granularity": "channel"},
      "activations": {"format": "e2m1", "granularity": "static-channel", "pow2_scale": true}})", "fp.json");
  EXPECT_TRUE(fp.activations.pow2_scale);
  // "bits" alone on an unquantized default means the two's-complement integer grid.
  const Recipe bits = parse_recipe(R"({"method": "rtn", "weights": {"bits": 3}})", "b.json");
  EXPECT_EQ(bits.weights.format, parse_format("int3"));
}

TEST(Recipe, GroupSizeMustDivideKOfTheLayer) {
  const Recipe r = parse_recipe(kRecipe, "w4a4.json");
  EXPECT_NO_THROW(r.for_linear("model.layers.5.mlp.down_proj", 11008));
  expect_error([&] { r.for_linear("model.layers.5.mlp.down_proj", 11000); },
               {"w4a4.json", "model.layers.5.mlp.down_proj", "group size 128 does not divide K = 11000"});
  const Recipe dyn = parse_recipe(R"({"method": "flexq",
      "activations": {"format": "int6", "granularity": "dynamic-group", "group": 128}})", "f.json");
  expect_error([&] { dyn.for_linear("x.q_proj", 4000); }, {"f.json", "x.q_proj", "activations",
                                                           "does not divide K = 4000"});
}

TEST(Recipe, ValidationErrorsNameTheRecipeAndThePlace) {
  expect_error([] { parse_recipe(R"({"method": "awq"})", "r.json"); },
               {"r.json", "unknown method 'awq'", "rtn"});
  expect_error([] { parse_recipe(R"({"weights": {"format": "int4"}})", "r.json"); },
               {"r.json", "no method"});
  expect_error([] { parse_recipe(R"({"method": "rtn", "weights": {"bits": 9}})", "r.json"); },
               {"r.json", "weights.bits", "bits 9 outside 2..8"});
  expect_error([] { parse_recipe(R"({"method": "rtn", "weights": {"bits": 1}})", "r.json"); },
               {"bits 1 outside 2..8"});
  expect_error([] { parse_recipe(R"({"method": "rtn", "weights": {"format": "int12"}})", "r.json"); },
               {"r.json", "weights.format", "bits 12 outside 2..8"});
  expect_error([] { parse_recipe(R"({"method": "rtn", "activations": {"format": "e5m3"}})", "r.json"); },
               {"r.json", "activations.format", "1 + e + m = 9 bits, more than 8"});
  expect_error([] { parse_recipe(R"({"method": "rtn", "activations": {"format": "fp5"}})", "r.json"); },
               {"unknown number format 'fp5'"});
  expect_error([] { parse_recipe(R"({"method": "rtn", "wieghts": {}})", "r.json"); },
               {"r.json", "unknown key 'wieghts'"});
  expect_error([] { parse_recipe(R"({"method": "rtn", "weights": {"grup": 128}})", "r.json"); },
               {"r.json", "weights", "unknown key 'grup'"});
  expect_error([] { parse_recipe(R"({"method": "rtn", "layers": [{"match": "*", "kv": {}}]})", "r.json"); },
               {"r.json", "layers[0]", "unknown key 'kv'"});
  expect_error([] { parse_recipe(R"({"method": "rtn", "layers": [{"weights": {}}]})", "r.json"); },
               {"layers[0]", "no 'match'"});
  expect_error([] { parse_recipe(R"({"method": "rtn", "weights": {"format": "int4", "granularity": "static-channel"}})", "r.json"); },
               {"r.json", "unknown granularity 'static-channel' for weights", "tensor, channel, group"});
  expect_error([] { parse_recipe(R"({"method": "rtn", "activations": {"format": "int4", "granularity": "per-token"}})", "r.json"); },
               {"unknown granularity 'per-token' for activations", "dynamic-token"});
  expect_error([] { parse_recipe(R"({"method": "rtn", "weights": {"format": "int4", "granularity": "group"}})", "r.json"); },
               {"r.json", "weights", "group granularity needs a positive group size"});
  expect_error([] { parse_recipe(R"({"method": "rtn", "weights": {"format": "int4", "granularity": "group", "group": 0}})", "r.json"); },
               {"group size 0 is not positive"});
  expect_error([] { parse_recipe(R"({"method": "rtn", "weights": {"format": "int4", "clip": 1.5}})", "r.json"); },
               {"weights.clip", "clip ratio 1.5 outside (0, 1]"});
  expect_error([] { parse_recipe(R"({"method": "rtn", "weights": {"format": "int4", "bits": 4}})", "r.json"); },
               {"either format or bits"});
  expect_error([] { parse_recipe(R"({"method": "rtn", "hyperparameters": [1, 2]})", "r.json"); },
               {"r.json.hyperparameters", "expected a JSON object"});
  expect_error([] { parse_recipe(R"({"method": "rtn", "weights": {"format": 4}})", "r.json"); },
               {"weights.format", "expected a string"});
  expect_error([] { parse_recipe(R"([1, 2])", "r.json"); }, {"r.json", "expected a JSON object"});
  // Bits on a float format is found when the override meets the layer's spec.
  const Recipe r = parse_recipe(R"({"method": "rtn", "weights": {"format": "e2m1"},
      "layers": [{"match": "*.o_proj", "weights": {"bits": 6}}]})", "r.json");
  expect_error([&] { r.for_layer("model.layers.1.self_attn.o_proj"); },
               {"r.json", "model.layers.1.self_attn.o_proj", "integer format"});
}

TEST(Recipe, MalformedJsonNamesTheFileAndTheJsonError) {
  expect_error([] { parse_recipe("{\"method\": \"rtn\",\n  \"weights\": {]}", "bad.json"); },
               {"bad.json", "malformed JSON", "line 2"});
  const auto dir = testing::scratch_dir("quant_recipe");
  const auto path = dir / "broken.json";
  write_file_atomically(path, "{\"method\": ");
  expect_error([&] { load_recipe(path); }, {path.string(), "malformed JSON"});
  expect_error([&] { load_recipe(dir / "missing.json"); }, {(dir / "missing.json").string()});
  const auto good = dir / "good.json";
  write_file_atomically(good, kRecipe);
  EXPECT_EQ(load_recipe(good).method, Method::MergeQuant);
  EXPECT_EQ(load_recipe(good).source, good.string());
}

TEST(Recipe, RoundTripsThroughJson) {
  const Recipe r = parse_recipe(kRecipe, "w4a4.json");
  const Recipe back = parse_recipe(recipe_to_json(r).dump(2), "w4a4.json");
  EXPECT_EQ(back, r);
  for (const char* layer : {"model.layers.0.mlp.down_proj", "model.layers.12.mlp.down_proj",
                            "model.layers.31.self_attn.v_proj", "lm_head"}) {
    EXPECT_EQ(back.for_layer(layer).weights, r.for_layer(layer).weights) << layer;
    EXPECT_EQ(back.for_layer(layer).activations, r.for_layer(layer).activations) << layer;
  }
}

TEST(Recipe, FromCommandLineFlags) {
  const Recipe r = recipe_from_flags(parse_recipe_flags(
      {"--method", "rtn", "--w", "4", "--a", "4", "--act", "static-channel", "--group", "128"}));
  EXPECT_EQ(r.method, Method::Rtn);
  EXPECT_EQ(r.weights.format, parse_format("int4"));
  EXPECT_EQ(r.weights.granularity, Granularity::Group);
  EXPECT_EQ(r.weights.group_size, 128);
  EXPECT_EQ(r.activations.format, parse_format("int4"));
  EXPECT_EQ(r.activations.granularity, Granularity::InputChannel);
  EXPECT_FALSE(r.kv_cache.quantized());

  const Recipe t = recipe_from_flags(parse_recipe_flags(
      {"--method=smoothquant", "--w=8", "--a", "uint8", "--act=dynamic-token", "--kv", "8", "--a-clip", "0.95"}));
  EXPECT_EQ(t.method, Method::SmoothQuant);
  EXPECT_EQ(t.weights.granularity, Granularity::OutputChannel);
  EXPECT_EQ(t.activations.format, parse_format("uint8"));
  EXPECT_EQ(t.activations.granularity, Granularity::Token);
  EXPECT_TRUE(t.activations.dynamic);
  EXPECT_EQ(t.activations.clip, 0.95);
  EXPECT_EQ(t.kv_cache.format, parse_format("int8"));

  const Recipe s = recipe_from_flags(parse_recipe_flags({"--w", "e2m1", "--a", "16", "--act", "static-tensor"}));
  EXPECT_EQ(s.weights.format, parse_format("e2m1"));
  EXPECT_FALSE(s.activations.quantized());

  expect_error([] { parse_recipe_flags({"--bits", "4"}); }, {"unknown flag '--bits'"});
  expect_error([] { parse_recipe_flags({"--w"}); }, {"--w needs a value"});
  expect_error([] { parse_recipe_flags({"--group", "12x"}); }, {"--group expects a number"});
  expect_error([] { recipe_from_flags(parse_recipe_flags({"--w", "9"})); }, {"bits 9 outside 2..8"});
  expect_error([] { recipe_from_flags(parse_recipe_flags({"--method", "foo"})); }, {"unknown method 'foo'"});
  expect_error([] { recipe_from_flags(parse_recipe_flags({"--a", "4", "--act", "per-channel"})); },
               {"unknown granularity 'per-channel'"});
}

// The recipe example in docs/quant-formats.md is a valid recipe.
TEST(Recipe, DocumentationExampleParses) {
  const std::string doc = read_text_file(testing::repo_path("docs/quant-formats.md"));
  const size_t begin = doc.find("```json\n");
  ASSERT_NE(begin, std::string::npos);
  const size_t end = doc.find("```", begin + 8);
  const Recipe r = parse_recipe(doc.substr(begin + 8, end - begin - 8), "docs/quant-formats.md");
  EXPECT_NO_THROW(r.for_linear("model.layers.0.mlp.down_proj", 11008));
}

}  // namespace
}  // namespace bitfold::quant
