// Randomly damaged files: every outcome must be a clean load or a bitfold::Error, never a crash,
// a hang or an out-of-bounds read (this test earns its keep under ASan + UBSan).
#include <gtest/gtest.h>

#include <random>

#include "file_fixtures.h"
#include "io/llama2c.h"
#include "io/safetensors.h"
#include "test_support.h"

namespace bitfold::io {
namespace {

// Flips bytes, overwrites runs, or truncates; most damage goes where the parser looks (the
// first `hot` bytes).
std::string damage(std::string bytes, std::mt19937& rng, size_t hot) {
  std::uniform_int_distribution<int> kind(0, 3);
  const size_t limit = std::min(hot, bytes.size());
  std::uniform_int_distribution<size_t> where(0, limit - 1);
  switch (kind(rng)) {
    case 0:  // a few bit flips
      for (int i = 0; i < 3; ++i) bytes[where(rng)] ^= char(1 << (rng() % 8));
      break;
    case 1:  // a random byte
      bytes[where(rng)] = char(rng());
      break;
    case 2:  // a digit of the JSON header changed (offsets, shapes)
      for (size_t i = where(rng); i < limit; ++i)
        if (bytes[i] >= '0' && bytes[i] <= '9') {
          bytes[i] = char('0' + rng() % 10);
          break;
        }
      break;
    default:  // truncation anywhere
      bytes.resize(std::uniform_int_distribution<size_t>(0, bytes.size())(rng));
  }
  return bytes;
}

TEST(Mutation, SafetensorsReaderNeverCrashes) {
  const auto dir = testing::scratch_dir("mutation_safetensors");
  std::vector<NamedTensor> tensors;
  tensors.emplace_back("a.weight", Tensor::from_floats(std::vector<float>(48, 1.0f), {6, 8}));
  tensors.emplace_back("b.bias", Tensor::from_floats({1, 2, 3}, {3}).to(DType::BF16));
  tensors.emplace_back("c", Tensor::zeros({2, 2, 2}, DType::I64));
  write_safetensors(dir / "valid.safetensors", tensors, {{"format", "pt"}});
  const std::string valid = testing::read_bytes(dir / "valid.safetensors");
  std::mt19937 rng(2024);
  int loaded = 0, rejected = 0;
  for (int i = 0; i < 1500; ++i) {
    testing::write_bytes(dir / "m.safetensors", damage(valid, rng, 8 + 256));
    try {
      const SafetensorsFile f = SafetensorsFile::open(dir / "m.safetensors");
      double sum = 0;  // touch every byte the reader hands out
      for (const auto& name : f.names()) {
        const Tensor t = f.tensor(name);
        const auto* p = static_cast<const unsigned char*>(t.raw());
        for (size_t k = 0; k < t.nbytes(); ++k) sum += p[k];
      }
      EXPECT_GE(sum, 0);
      ++loaded;
    } catch (const Error&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 500);  // the damage is real
  EXPECT_GT(loaded, 10);     // and not everything is refused
}

TEST(Mutation, Llama2cReaderNeverCrashes) {
  const auto dir = testing::scratch_dir("mutation_llama2c");
  const std::string valid = testing::llama2c_bytes({8, 12, 2, 2, 1, -10, 4});
  std::mt19937 rng(7);
  int loaded = 0, rejected = 0;
  for (int i = 0; i < 1000; ++i) {
    testing::write_bytes(dir / "m.bin", damage(valid, rng, 28));
    try {
      const Llama2cCheckpoint c = open_llama2c(dir / "m.bin");
      double sum = 0;
      for (const Tensor* t :
           {&c.token_embedding, &c.wq, &c.w2, &c.rms_final, &c.freq_cis_imag, &c.wcls})
        for (int64_t k = 0; k < t->numel(); ++k) sum += std::abs(t->f32()[k]);
      EXPECT_GE(sum, 0);
      ++loaded;
    } catch (const Error&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 300);
  EXPECT_GT(loaded, 10);
}

}  // namespace
}  // namespace bitfold::io
