// config.json as transformers 5 writes it: RoPE theta under rope_parameters.
#include <gtest/gtest.h>

#include "core/error.h"
#include "model/hf_config.h"

namespace bitfold::model {
namespace {

const std::string kLlama = R"({"model_type": "llama", "hidden_size": 64,
  "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 100)";

ModelConfig parse(const std::string& rest) { return parse_hf_config(kLlama + rest, "config.json"); }

TEST(HfConfigRopeParameters, ReadsThetaFromRopeParameters) {
  EXPECT_FLOAT_EQ(
      parse(R"(, "rope_parameters": {"rope_theta": 500000.0, "rope_type": "default"}})").rope_theta,
      500000.0f);
  EXPECT_FLOAT_EQ(parse(R"(, "rope_parameters": {"rope_type": "default"}})").rope_theta, 10000.0f);
  EXPECT_FLOAT_EQ(
      parse(R"(, "rope_theta": 20000, "rope_parameters": {"rope_theta": 20000}})").rope_theta,
      20000.0f);
  EXPECT_FLOAT_EQ(parse(R"(, "rope_parameters": null})").rope_theta, 10000.0f);
}

TEST(HfConfigRopeParameters, RefusesScalingAndContradictions) {
  EXPECT_THROW(parse(R"(, "rope_parameters": {"rope_theta": 5e5, "rope_type": "llama3",
                        "factor": 8.0}})"),
               Error);
  EXPECT_THROW(parse(R"(, "rope_theta": 1e4, "rope_parameters": {"rope_theta": 5e5}})"), Error);
  EXPECT_THROW(parse(R"(, "rope_parameters": {"rope_theta": -1}})"), Error);
  EXPECT_THROW(parse(R"(, "rope_parameters": 3})"), Error);
}

}  // namespace
}  // namespace bitfold::model
