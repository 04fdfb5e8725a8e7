// Converting must not change the model: the converted directory loads to the same weights as
// the input (bit for bit in F32, exactly the rounded values in F16 / BF16).
#include "model/convert.h"

#include <gtest/gtest.h>

#include "file_fixtures.h"
#include "model/hf_writer.h"
#include "model/loader.h"
#include "model_fixtures.h"
#include "test_support.h"
#include "text/tokenizer.h"

namespace bitfold::model {
namespace {

namespace fs = std::filesystem;

TEST(Convert, Pyshakes15mIsBitExactInF32) {
  const fs::path bin = testing::shared_data("models/pyshakes-15m.bin");
  BITFOLD_REQUIRE_SHARED(bin);
  const auto dir = testing::scratch_dir("convert_pyshakes_f32");
  const ConvertResult r = convert_to_hf(bin, dir / "out", DType::F32);
  EXPECT_EQ(r.tokenizer, testing::shared_data("models/tokenizer.model"));
  EXPECT_EQ(testing::entries(dir / "out"),
            (std::vector<std::string>{"config.json", "model.safetensors", "tokenizer.model"}));
  const LlamaWeights original = load_weights(bin);
  const LlamaWeights converted = load_weights(dir / "out");
  EXPECT_EQ(converted.config.max_seq_len, 512);
  EXPECT_TRUE(converted.config.tied_embeddings);
  testing::expect_same_weights(original, converted);
}

TEST(Convert, Pyshakes15mInF16MatchesTheBundledExport) {
  const fs::path bin = testing::shared_data("models/pyshakes-15m.bin");
  BITFOLD_REQUIRE_SHARED(bin);
  const auto dir = testing::scratch_dir("convert_pyshakes_f16");
  convert_to_hf(bin, dir / "out", DType::F16);
  const LlamaWeights converted = load_weights(dir / "out");
  testing::expect_same_weights(load_weights(bin), converted, DType::F16);
  testing::expect_same_weights(load_weights(testing::repo_path("models/pyshakes-15m-hf")),
                               converted);
}

TEST(Convert, Stories260KRoundTripsInEveryDtype) {
  const fs::path bin = testing::repo_path("models/stories260K/stories260K.bin");
  const auto dir = testing::scratch_dir("convert_stories");
  const LlamaWeights original = load_weights(bin);
  for (DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    const fs::path out = dir / std::string(dtype_name(dtype));
    const ConvertResult r = convert_to_hf(bin, out, dtype);
    EXPECT_EQ(r.tokenizer.filename(), "tok512.model");
    testing::expect_same_weights(original, load_weights(out), dtype);
    EXPECT_EQ(load_config(out).n_kv_heads, 4);
    EXPECT_EQ(
        text::find_tokenizer(out)->encode("Lily"),
        text::load_tokenizer(testing::repo_path("models/stories260K/tok512.bin"))->encode("Lily"));
  }
  // HF -> HF is the identity.
  convert_to_hf(dir / "F32", dir / "again", DType::F32);
  testing::expect_same_weights(original, load_weights(dir / "again"));
  // A llama2.c tokenizer.bin given explicitly travels as tokenizer.bin.
  convert_to_hf(bin, dir / "with_bin", DType::F32,
                testing::repo_path("models/stories260K/tok512.bin"));
  EXPECT_TRUE(fs::exists(dir / "with_bin" / "tokenizer.bin"));
  EXPECT_EQ(text::find_tokenizer(dir / "with_bin")->vocab_size(), 512);
}

TEST(Convert, UntiedModelsKeepTheirLmHead) {
  const auto dir = testing::scratch_dir("convert_untied");
  const LlamaWeights w = testing::random_weights(testing::tiny_config(), 3);
  write_hf_model(w, dir / "a", DType::F32);
  const ConvertResult r = convert_to_hf(dir / "a", dir / "b", DType::F16);
  EXPECT_TRUE(r.tokenizer.empty());
  const LlamaWeights back = load_weights(dir / "b");
  EXPECT_NE(back.lm_head.weight.raw(), back.token_embedding.raw());
  testing::expect_same_weights(w, back, DType::F16);
}

TEST(Convert, ReplacesAPreviousModelButNotAnUnrelatedDirectory) {
  const auto dir = testing::scratch_dir("convert_replace");
  const fs::path bin = testing::repo_path("models/stories260K/stories260K.bin");
  convert_to_hf(bin, dir / "out", DType::F16);
  convert_to_hf(bin, dir / "out", DType::F32);
  EXPECT_EQ(load_weights(dir / "out").token_embedding.f32()[5],
            load_weights(bin).token_embedding.f32()[5]);
  EXPECT_EQ(testing::entries(dir), std::vector<std::string>{"out"});  // no temporaries left

  fs::create_directories(dir / "home");
  testing::write_bytes(dir / "home" / "notes.txt", "precious");
  testing::expect_error([&] { convert_to_hf(bin, dir / "home", DType::F32); },
                        {(dir / "home").string(), "not a model directory"});
  EXPECT_EQ(testing::read_bytes(dir / "home" / "notes.txt"), "precious");
  EXPECT_EQ(testing::entries(dir), (std::vector<std::string>{"home", "out"}));
}

}  // namespace
}  // namespace bitfold::model
