// Randomly damaged tokenizer files: a clean load (and then encode/decode work) or a
// bitfold::Error, never a crash or a hang (run under ASan + UBSan in CI).
#include <gtest/gtest.h>

#include <random>

#include "file_fixtures.h"
#include "test_support.h"
#include "text/tokenizer.h"

namespace bitfold::text {
namespace {

std::string damage(std::string bytes, std::mt19937& rng) {
  std::uniform_int_distribution<size_t> where(0, bytes.size() - 1);
  switch (rng() % 3) {
    case 0:
      for (int i = 0; i < 4; ++i) bytes[where(rng)] ^= char(1 << (rng() % 8));
      break;
    case 1:
      bytes[where(rng)] = char(rng());
      break;
    default:
      bytes.resize(where(rng));
  }
  return bytes;
}

void exercise(const std::string& name, const std::string& valid, int rounds, uint32_t seed) {
  const auto dir = testing::scratch_dir("mutation_" + name);
  std::mt19937 rng(seed);
  int loaded = 0, rejected = 0;
  for (int i = 0; i < rounds; ++i) {
    testing::write_bytes(dir / name, damage(valid, rng));
    try {
      const auto tok = load_tokenizer(dir / name);
      const auto ids = tok->encode("Once upon a time, Lily saw a 🦙 and said \"hi!\"\n");
      tok->decode(ids);
      ++loaded;
    } catch (const Error&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 0) << name;
  EXPECT_GT(loaded, 0) << name;  // damaged yet loadable files were encoded with too
}

TEST(Mutation, Llama2cTokenizerNeverCrashes) {
  exercise("tok512.bin", testing::read_bytes(testing::repo_path("models/stories260K/tok512.bin")),
           600, 1);
}

TEST(Mutation, TokenizerJsonNeverCrashes) {
  exercise("tokenizer.json",
           testing::read_bytes(testing::repo_path("tests/data/llama3-style-tokenizer.json")), 600,
           2);
}

TEST(Mutation, SentencepieceModelNeverCrashes) {
  exercise("tok512.model",
           testing::read_bytes(testing::repo_path("models/stories260K/tok512.model")), 300, 3);
}

}  // namespace
}  // namespace bitfold::text
