#include "model/loader.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/atomic_file.h"
#include "file_fixtures.h"
#include "io/llama2c.h"
#include "io/safetensors.h"
#include "model/hf_writer.h"
#include "model/rope_layout.h"
#include "model_fixtures.h"
#include "test_support.h"

namespace bitfold::model {
namespace {

namespace fs = std::filesystem;

const fs::path kStories = testing::repo_path("models/stories260K/stories260K.bin");

TEST(Loader, LoadsAllama2cCheckpoint) {
  const ModelConfig c = load_config(kStories);
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.max_seq_len, 512);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-5f);
  const LlamaWeights w = load_weights(kStories);
  ASSERT_EQ(w.layers.size(), 5u);
  EXPECT_EQ(w.layers[4].k.weight.shape(), (Shape{32, 64}));
  EXPECT_EQ(w.layers[4].down.weight.shape(), (Shape{64, 172}));
  EXPECT_EQ(w.lm_head.weight.raw(), w.token_embedding.raw());  // tied: one storage
  EXPECT_FALSE(w.layers[0].q.bias.defined());
}

// Loaded q/k rows are the checkpoint's rows in rotate-half order; everything else is unchanged.
TEST(Loader, PermutesLlama2cQkRowsToRotateHalf) {
  const io::Llama2cCheckpoint raw = io::open_llama2c(kStories);
  const LlamaWeights w = load_weights(kStories);
  const int hd = 8, dim = 64;
  const auto row = [&](const Tensor& t, int64_t r) { return t.f32() + r * dim; };
  for (int l : {0, 3}) {
    const Tensor raw_q = raw.wq.slice_rows(l, l + 1).view({64, 64});
    const Tensor raw_k = raw.wk.slice_rows(l, l + 1).view({32, 64});
    for (int h = 0; h < 8; ++h) {
      for (int i = 0; i < hd / 2; ++i) {
        EXPECT_EQ(*row(w.layers[size_t(l)].q.weight, h * hd + i), *row(raw_q, h * hd + 2 * i));
        EXPECT_EQ(*row(w.layers[size_t(l)].q.weight, h * hd + hd / 2 + i),
                  *row(raw_q, h * hd + 2 * i + 1));
        if (h < 4) {
          EXPECT_EQ(*row(w.layers[size_t(l)].k.weight, h * hd + i), *row(raw_k, h * hd + 2 * i));
          EXPECT_EQ(*row(w.layers[size_t(l)].k.weight, h * hd + hd / 2 + i),
                    *row(raw_k, h * hd + 2 * i + 1));
        }
      }
    }
    const Tensor raw_v = raw.wv.slice_rows(l, l + 1).view({32, 64});
    EXPECT_TRUE(testing::bit_equal(w.layers[size_t(l)].v.weight, raw_v.clone()));
    EXPECT_TRUE(testing::bit_equal(w.layers[size_t(l)].up.weight,
                                   raw.w3.slice_rows(l, l + 1).view({172, 64}).clone()));
  }
}

// Why the permutation is right: llama2.c's RoPE (pairs 2i, 2i+1) on the original rows gives the
// same vectors, reordered, as Hugging Face's RoPE (pairs i, i + hd/2) on the permuted rows; so
// every attention score is unchanged.
TEST(Loader, PermutationTurnsInterleavedRopeIntoRotateHalf) {
  const int n_heads = 3, hd = 8, in = 5;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  std::vector<float> values(size_t(n_heads * hd * in));
  for (float& v : values) v = normal(rng);
  const Tensor w_interleaved = Tensor::from_floats(values, {n_heads * hd, in});
  const Tensor w_halves = interleaved_to_rotate_half(w_interleaved, n_heads);
  EXPECT_TRUE(testing::bit_equal(rotate_half_to_interleaved(w_halves, n_heads), w_interleaved));

  std::vector<double> x(in);
  for (double& v : x) v = normal(rng);
  const auto project = [&](const Tensor& w) {
    std::vector<double> y(size_t(n_heads * hd));
    for (int r = 0; r < n_heads * hd; ++r)
      for (int c = 0; c < in; ++c) y[size_t(r)] += double(w.f32()[r * in + c]) * x[size_t(c)];
    return y;
  };
  const int pos = 7;
  const double theta = 10000.0;
  std::vector<double> a = project(w_interleaved), b = project(w_halves);
  for (int h = 0; h < n_heads; ++h) {
    for (int i = 0; i < hd / 2; ++i) {
      const double angle = pos * std::pow(theta, -2.0 * i / hd);
      const double cs = std::cos(angle), sn = std::sin(angle);
      double& a0 = a[size_t(h * hd + 2 * i)];
      double& a1 = a[size_t(h * hd + 2 * i + 1)];
      std::tie(a0, a1) = std::pair(a0 * cs - a1 * sn, a0 * sn + a1 * cs);
      double& b0 = b[size_t(h * hd + i)];
      double& b1 = b[size_t(h * hd + hd / 2 + i)];
      std::tie(b0, b1) = std::pair(b0 * cs - b1 * sn, b0 * sn + b1 * cs);
    }
    for (int i = 0; i < hd / 2; ++i) {
      EXPECT_NEAR(b[size_t(h * hd + i)], a[size_t(h * hd + 2 * i)], 1e-9);
      EXPECT_NEAR(b[size_t(h * hd + hd / 2 + i)], a[size_t(h * hd + 2 * i + 1)], 1e-9);
    }
  }
}

// The bundled HF model was exported from pyshakes-15m.bin (q/k permuted, F16): loading both must
// give the same model up to F16 rounding, bit for bit.
TEST(Loader, Llama2cCheckpointAndItsHfExportAgree) {
  const fs::path bin = testing::shared_data("models/pyshakes-15m.bin");
  BITFOLD_REQUIRE_SHARED(bin);
  const LlamaWeights from_bin = load_weights(bin);
  const LlamaWeights from_hf = load_weights(testing::repo_path("models/pyshakes-15m-hf"));
  EXPECT_EQ(from_hf.lm_head.weight.raw(), from_hf.token_embedding.raw());
  testing::expect_same_weights(from_bin, from_hf, DType::F16);
}

TEST(Loader, LoadsAGqaModelWithItsOwnLmHead) {
  const fs::path dir = testing::shared_data("models/pyshakes-57m-hf");
  BITFOLD_REQUIRE_SHARED(dir);
  const LlamaWeights w = load_weights(dir);
  EXPECT_EQ(w.config.n_kv_heads, 2);
  EXPECT_EQ(w.layers[7].k.weight.shape(), (Shape{128, 512}));
  EXPECT_EQ(w.lm_head.weight.shape(), (Shape{32000, 512}));
  EXPECT_NE(w.lm_head.weight.raw(), w.token_embedding.raw());
  EXPECT_EQ(w.lm_head.weight.dtype(), DType::F32);
}

TEST(Loader, LoadsQwen2Biases) {
  const auto dir = testing::scratch_dir("loader_qwen2");
  ModelConfig c = testing::tiny_config("qwen2");
  c.tied_embeddings = true;
  const LlamaWeights w = testing::random_weights(c, 5);
  write_hf_model(w, dir / "m", DType::F32);
  const LlamaWeights back = load_weights(dir / "m");
  EXPECT_TRUE(back.config.qkv_bias);
  ASSERT_TRUE(back.layers[2].k.bias.defined());
  EXPECT_EQ(back.layers[2].k.bias.shape(), (Shape{16}));
  EXPECT_FALSE(back.layers[2].o.bias.defined());
  testing::expect_same_weights(w, back);
  EXPECT_EQ(back.lm_head.weight.raw(), back.token_embedding.raw());
}

TEST(Loader, LoadsAShardedDirectory) {
  const auto dir = testing::scratch_dir("loader_sharded");
  const LlamaWeights w = testing::random_weights(testing::tiny_config(), 9);
  write_hf_model(w, dir / "m", DType::BF16);
  // Re-shard: layers 0-1 and the embedding in one file, the rest in another.
  const io::SafetensorsFile single = io::SafetensorsFile::open(dir / "m" / "model.safetensors");
  std::vector<io::NamedTensor> first, second;
  std::string weight_map;
  for (const std::string& name : single.names()) {
    const bool early = name.starts_with("model.embed") || name.starts_with("model.layers.0.") ||
                       name.starts_with("model.layers.1.");
    (early ? first : second).emplace_back(name, single.tensor(name));
    weight_map += fmt::format("{}\"{}\": \"model-0000{}-of-00002.safetensors\"",
                              weight_map.empty() ? "" : ", ", name, early ? 1 : 2);
  }
  io::write_safetensors(dir / "m" / "model-00001-of-00002.safetensors", first);
  io::write_safetensors(dir / "m" / "model-00002-of-00002.safetensors", second);
  write_file_atomically(dir / "m" / "model.safetensors.index.json",
                        "{\"weight_map\": {" + weight_map + "}}");
  fs::remove(dir / "m" / "model.safetensors");
  const LlamaWeights back = load_weights(dir / "m");
  testing::expect_same_weights(w, back, DType::BF16);
}

TEST(Loader, AcceptsPathsInsideAHuggingFaceDirectory) {
  const fs::path dir = testing::repo_path("models/pyshakes-15m-hf");
  EXPECT_EQ(load_config(dir / "config.json").dim, 288);
  EXPECT_EQ(load_config(dir / "model.safetensors").n_layers, 6);
}

}  // namespace
}  // namespace bitfold::model
