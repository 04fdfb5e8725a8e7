#include "model/hf_config.h"

#include <gtest/gtest.h>

#include "file_fixtures.h"
#include "test_support.h"

namespace bitfold::model {
namespace {

using testing::expect_error;

ModelConfig parse(const std::string& text) { return parse_hf_config(text, "cfg/config.json"); }

const std::string kMinimalLlama = R"({"model_type": "llama", "hidden_size": 64,
  "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 100)";

TEST(HfConfig, LlamaDefaults) {
  const ModelConfig c = parse(kMinimalLlama + "}");
  EXPECT_EQ(c.architecture, "llama");
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.hidden_dim, 128);
  EXPECT_EQ(c.n_layers, 2);
  EXPECT_EQ(c.n_heads, 4);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.vocab_size, 100);
  EXPECT_EQ(c.max_seq_len, 2048);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-6f);
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
  EXPECT_FALSE(c.tied_embeddings);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_EQ(c.bos_id, 1);
  EXPECT_EQ(c.eos_ids, std::vector<int>{2});
}

TEST(HfConfig, ReadsTheBundledModel) {
  const ModelConfig c = read_hf_config(testing::repo_path("models/pyshakes-15m-hf/config.json"));
  EXPECT_EQ(c.dim, 288);
  EXPECT_EQ(c.hidden_dim, 768);
  EXPECT_EQ(c.n_layers, 6);
  EXPECT_EQ(c.n_kv_heads, 6);
  EXPECT_EQ(c.vocab_size, 32000);
  EXPECT_EQ(c.max_seq_len, 512);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-5f);
  EXPECT_TRUE(c.tied_embeddings);
}

TEST(HfConfig, Qwen2MeansBiasesAndItsOwnDefaults) {
  const ModelConfig c = parse(R"({"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
    "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
    "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936,
    "max_position_embeddings": 32768, "rope_theta": 1000000.0, "rms_norm_eps": 1e-06,
    "tie_word_embeddings": true, "use_sliding_window": false, "sliding_window": 32768,
    "bos_token_id": 151643, "eos_token_id": 151643})");
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.n_kv_heads, 2);
  EXPECT_FLOAT_EQ(c.rope_theta, 1e6f);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_EQ(c.bos_id, 151643);
  EXPECT_EQ(c.max_seq_len, 32768);
  // Without ids Qwen2 has no BOS and no EOS (transformers' Qwen2Config sets none).
  const ModelConfig bare = parse(R"({"model_type": "qwen2", "hidden_size": 64,
    "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 100})");
  EXPECT_EQ(bare.bos_id, -1);
  EXPECT_TRUE(bare.eos_ids.empty());
}

TEST(HfConfig, EosListsHeadDimAndGqa) {
  const ModelConfig c = parse(kMinimalLlama + R"(, "num_key_value_heads": 2, "head_dim": 32,
    "eos_token_id": [128001, 128008, 128009], "bos_token_id": 128000})");
  EXPECT_EQ(c.eos_ids, (std::vector<int>{128001, 128008, 128009}));
  EXPECT_EQ(c.bos_id, 128000);
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.q_dim(), 128);
  EXPECT_EQ(c.kv_dim(), 64);
  EXPECT_EQ(c.group_size(), 2);
}

TEST(HfConfig, MistralSlidingWindowCapsTheContext) {
  const std::string base = R"({"model_type": "mistral", "hidden_size": 64,
    "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 1, "vocab_size": 100, "max_position_embeddings": 32768)";
  EXPECT_EQ(parse(base + R"(, "sliding_window": 4096})").max_seq_len, 4096);
  EXPECT_EQ(parse(base + R"(, "sliding_window": null})").max_seq_len, 32768);
}

TEST(HfConfig, RefusesWhatItCannotRunFaithfully) {
  expect_error(
      [] { parse(kMinimalLlama + R"(, "rope_scaling": {"rope_type": "llama3", "factor": 8.0}})"); },
      {"cfg/config.json", "rope_scaling", "llama3"});
  expect_error(
      [] { parse(kMinimalLlama + R"(, "rope_scaling": {"type": "linear", "factor": 2.0}})"); },
      {"cfg/config.json", "rope_scaling", "linear"});
  expect_error([] { parse(kMinimalLlama + R"(, "attention_bias": true})"); },
               {"cfg/config.json", "attention_bias"});
  expect_error([] { parse(kMinimalLlama + R"(, "hidden_act": "gelu"})"); },
               {"cfg/config.json", "hidden_act gelu"});
  expect_error([] { parse(R"({"model_type": "gpt2", "hidden_size": 64})"); },
               {"cfg/config.json", "model_type \"gpt2\""});
  expect_error(
      [] { parse(kMinimalLlama + R"(, "architectures": ["LlamaForSequenceClassification"]})"); },
      {"cfg/config.json", "LlamaForSequenceClassification"});
  expect_error([] { parse(R"({"model_type": "llama", "intermediate_size": 4})"); },
               {"cfg/config.json", "missing hidden_size"});
  expect_error([] { parse(kMinimalLlama + R"(, "num_key_value_heads": 3})"); },
               {"cfg/config.json", "num_attention_heads 4", "num_key_value_heads 3"});
  expect_error([] { parse(kMinimalLlama + R"(, "num_hidden_layers": -2})"); },
               {"cfg/config.json", "num_hidden_layers", "-2"});
  expect_error([] { parse("{\"model_type\": "); }, {"cfg/config.json", "not valid JSON"});
}

TEST(HfConfig, WritesWhatItReads) {
  ModelConfig c = parse(kMinimalLlama + R"(, "num_key_value_heads": 2, "rms_norm_eps": 1e-05,
    "tie_word_embeddings": true, "eos_token_id": [2, 7]})");
  const std::string text = hf_config_json(c, DType::BF16);
  EXPECT_NE(text.find("\"rms_norm_eps\": 1e-05"), std::string::npos) << text;
  EXPECT_NE(text.find("\"torch_dtype\": \"bfloat16\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"LlamaForCausalLM\""), std::string::npos) << text;
  const ModelConfig back = parse(text);
  EXPECT_EQ(back.dim, c.dim);
  EXPECT_EQ(back.n_kv_heads, 2);
  EXPECT_EQ(back.head_dim, c.head_dim);
  EXPECT_EQ(back.norm_eps, c.norm_eps);
  EXPECT_EQ(back.rope_theta, c.rope_theta);
  EXPECT_TRUE(back.tied_embeddings);
  EXPECT_EQ(back.eos_ids, (std::vector<int>{2, 7}));
  EXPECT_EQ(back.max_seq_len, c.max_seq_len);
}

}  // namespace
}  // namespace bitfold::model
