// Picking the tokenizer kind by content, and finding the tokenizer that belongs to a model.
#include <gtest/gtest.h>

#include "file_fixtures.h"
#include "test_support.h"
#include "text/tokenizer.h"

namespace bitfold::text {
namespace {

namespace fs = std::filesystem;

TEST(LoadTokenizer, PicksTheKindByContentNotName) {
  const auto dir = testing::scratch_dir("tokenizer_by_content");
  // Misleading names on purpose.
  fs::copy_file(testing::repo_path("models/stories260K/tok512.model"), dir / "a.json");
  fs::copy_file(testing::repo_path("models/stories260K/tok512.bin"), dir / "b.model");
  fs::copy_file(testing::repo_path("tests/data/gpt2-style-tokenizer.json"), dir / "c.bin");
  EXPECT_EQ(detect_tokenizer_kind(dir / "a.json"), TokenizerKind::SentencePiece);
  EXPECT_EQ(detect_tokenizer_kind(dir / "b.model"), TokenizerKind::Llama2c);
  EXPECT_EQ(detect_tokenizer_kind(dir / "c.bin"), TokenizerKind::HfJson);
  EXPECT_EQ(load_tokenizer(dir / "a.json")->encode("Lily"),
            load_tokenizer(dir / "b.model")->encode("Lily"));
  EXPECT_EQ(load_tokenizer(dir / "c.bin")->vocab_size(), 301);
}

TEST(FindTokenizer, BesideALlama2cCheckpoint) {
  const auto dir = testing::scratch_dir("find_tokenizer_l2c");
  const fs::path bin = dir / "stories260K.bin";
  fs::copy_file(testing::repo_path("models/stories260K/stories260K.bin"), bin);
  EXPECT_TRUE(find_tokenizer_file(bin).empty());
  testing::expect_error([&] { find_tokenizer(bin); },
                        {bin.string(), "no tokenizer found", "tokenizer.model", "tok512.bin"});
  // llama2.c names custom vocabularies tokN.bin after the checkpoint's vocabulary size.
  fs::copy_file(testing::repo_path("models/stories260K/tok512.bin"), dir / "tok512.bin");
  EXPECT_EQ(find_tokenizer_file(bin), dir / "tok512.bin");
  EXPECT_EQ(find_tokenizer(bin)->vocab_size(), 512);
  fs::copy_file(testing::repo_path("models/stories260K/tok512.model"), dir / "tokenizer.model");
  EXPECT_EQ(find_tokenizer_file(bin), dir / "tokenizer.model");
  // An explicit path always wins.
  EXPECT_EQ(find_tokenizer_file(bin, dir / "tok512.bin"), dir / "tok512.bin");
}

TEST(FindTokenizer, InsideAHuggingFaceDirectory) {
  const fs::path dir = testing::repo_path("models/pyshakes-15m-hf");
  EXPECT_EQ(find_tokenizer_file(dir), dir / "tokenizer.model");
  EXPECT_EQ(find_tokenizer_file(dir / "config.json"), dir / "tokenizer.model");
  EXPECT_EQ(find_tokenizer(dir)->vocab_size(), 32000);
  const auto json_dir = testing::scratch_dir("find_tokenizer_json");
  fs::copy_file(testing::repo_path("tests/data/llama3-style-tokenizer.json"),
                json_dir / "tokenizer.json");
  EXPECT_EQ(find_tokenizer(json_dir)->bos_id(), 300);
}

}  // namespace
}  // namespace bitfold::text
