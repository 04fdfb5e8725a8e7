#pragma once
// Legacy llama2.c checkpoints (karpathy/llama2.c run.c, export version 0): a header of 7 int32
// (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a negative vocab_size
// means the classifier is stored separately), then fp32 arrays in this order:
//   token_embedding [vocab, dim], rms_att [L, dim], wq [L, dim, dim], wk [L, kv_dim, dim],
//   wv [L, kv_dim, dim], wo [L, dim, dim], rms_ffn [L, dim], w1 [L, hidden, dim] (gate),
//   w2 [L, dim, hidden] (down), w3 [L, hidden, dim] (up), rms_final [dim],
//   freq_cis_real [seq_len, head_size/2], freq_cis_imag [seq_len, head_size/2], [wcls [vocab, dim]]
// q/k rows are in llama2.c's interleaved-pair RoPE order; model/loader.cpp permutes them.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "core/mapped_file.h"
#include "core/tensor.h"

namespace bitfold::io {

struct Llama2cHeader {
  int dim = 0;
  int hidden_dim = 0;
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;
  int vocab_size = 0;  // always positive here; see shared_classifier
  int seq_len = 0;
  bool shared_classifier = true;

  int head_size() const { return dim / n_heads; }
  int kv_dim() const { return n_kv_heads * head_size(); }
  std::string str() const;  // "dim 288, hidden_dim 768, ..." for messages
};

// Read-only F32 views into the mapped file (do not write through them), shapes as listed above.
struct Llama2cCheckpoint {
  Llama2cHeader header;
  Tensor token_embedding;
  Tensor rms_att;
  Tensor wq, wk, wv, wo;
  Tensor rms_ffn;
  Tensor w1, w2, w3;
  Tensor rms_final;
  Tensor freq_cis_real, freq_cis_imag;  // unused by bitfold (RoPE is computed from theta)
  Tensor wcls;  // shares token_embedding's storage when header.shared_classifier
};

// Validates the header (positive sizes, dim % n_heads == 0, n_heads % n_kv_heads == 0, even
// head size) and that the file size is exactly what the header implies; errors name the file.
Llama2cHeader read_llama2c_header(const std::filesystem::path& path);
Llama2cCheckpoint open_llama2c(const std::filesystem::path& path);

}  // namespace bitfold::io
