#pragma once
// Hyperparameters of a Llama-family decoder, whatever file it came from.
#include <string>
#include <vector>

namespace bitfold::model {

struct ModelConfig {
  std::string architecture = "llama";  // llama | mistral | qwen2 (only biases / defaults differ)
  int dim = 0;           // hidden size
  int hidden_dim = 0;    // FFN intermediate size
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;    // < n_heads: grouped-query attention
  int head_dim = 0;      // usually dim / n_heads
  int vocab_size = 0;
  int max_seq_len = 0;   // context the model was trained for
  float rope_theta = 10000.0f;
  float norm_eps = 1e-5f;
  bool tied_embeddings = false;
  bool qkv_bias = false;  // Qwen2
  int bos_id = 1;
  std::vector<int> eos_ids{2};

  int q_dim() const { return n_heads * head_dim; }
  int kv_dim() const { return n_kv_heads * head_dim; }
  int group_size() const { return n_heads / n_kv_heads; }  // query heads per KV head
};

}  // namespace bitfold::model
