#include "io/llama2c.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "file_fixtures.h"
#include "test_support.h"

namespace bitfold::io {
namespace {

TEST(Llama2c, ReadsTheStories260KHeader) {
  const auto path = testing::repo_path("models/stories260K/stories260K.bin");
  const Llama2cHeader h = read_llama2c_header(path);
  EXPECT_EQ(h.dim, 64);
  EXPECT_EQ(h.hidden_dim, 172);
  EXPECT_EQ(h.n_layers, 5);
  EXPECT_EQ(h.n_heads, 8);
  EXPECT_EQ(h.n_kv_heads, 4);
  EXPECT_EQ(h.vocab_size, 512);
  EXPECT_EQ(h.seq_len, 512);
  EXPECT_TRUE(h.shared_classifier);
  EXPECT_EQ(h.kv_dim(), 32);
}

// The views sit where run.c's checkpoint_init_weights puts them.
TEST(Llama2c, ViewsFollowRunCLayout) {
  const auto path = testing::repo_path("models/stories260K/stories260K.bin");
  const Llama2cCheckpoint c = open_llama2c(path);
  const std::string bytes = testing::read_bytes(path);
  const auto floats_at = [&](size_t offset_floats) {
    float f;
    std::memcpy(&f, bytes.data() + 28 + offset_floats * 4, 4);
    return f;
  };
  size_t offset = 0;
  const auto expect_at = [&](const Tensor& t, Shape shape) {
    EXPECT_EQ(t.shape(), shape);
    EXPECT_EQ(t.f32()[0], floats_at(offset));
    EXPECT_EQ(t.f32()[t.numel() - 1], floats_at(offset + size_t(t.numel()) - 1));
    offset += size_t(t.numel());
  };
  expect_at(c.token_embedding, {512, 64});
  expect_at(c.rms_att, {5, 64});
  expect_at(c.wq, {5, 64, 64});
  expect_at(c.wk, {5, 32, 64});
  expect_at(c.wv, {5, 32, 64});
  expect_at(c.wo, {5, 64, 64});
  expect_at(c.rms_ffn, {5, 64});
  expect_at(c.w1, {5, 172, 64});
  expect_at(c.w2, {5, 64, 172});
  expect_at(c.w3, {5, 172, 64});
  expect_at(c.rms_final, {64});
  expect_at(c.freq_cis_real, {512, 4});
  expect_at(c.freq_cis_imag, {512, 4});
  EXPECT_EQ(28 + offset * 4, bytes.size());
  EXPECT_EQ(c.wcls.raw(), c.token_embedding.raw());
  // llama2.c's table: freq_cis_real[pos, i] = cos(pos * 10000^(-2i/head_size)).
  EXPECT_NEAR(c.freq_cis_real.f32()[3 * 4 + 1], std::cos(3.0 * std::pow(10000.0, -2.0 / 8)), 1e-6);
}

TEST(Llama2c, ReadsASeparateClassifier) {
  const auto dir = testing::scratch_dir("llama2c_unshared");
  // dim 8, hidden 12, 2 layers, 2 heads, 1 KV head, vocab 10 (negative: own classifier), seq 4.
  testing::write_bytes(dir / "m.bin", testing::llama2c_bytes({8, 12, 2, 2, 1, -10, 4}));
  const Llama2cCheckpoint c = open_llama2c(dir / "m.bin");
  EXPECT_FALSE(c.header.shared_classifier);
  EXPECT_EQ(c.header.vocab_size, 10);
  EXPECT_EQ(c.wcls.shape(), (Shape{10, 8}));
  EXPECT_NE(c.wcls.raw(), c.token_embedding.raw());
  EXPECT_EQ(c.wk.shape(), (Shape{2, 4, 8}));
}

}  // namespace
}  // namespace bitfold::io
