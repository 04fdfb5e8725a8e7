// The two encodings of the same sentencepiece vocabulary must agree: libsentencepiece on
// tokenizer.model, and bitfold's run.c-style BPE on llama2.c's tokenizer.bin export.
#include <gtest/gtest.h>

#include <fstream>

#include "file_fixtures.h"
#include "test_support.h"
#include "text/tokenizer.h"

namespace bitfold::text {
namespace {

// Texts without runs of spaces or leading/trailing whitespace: tok512.model was trained with
// sentencepiece's default remove_extra_whitespaces, which llama2.c's encoder (and so
// tokenizer.bin) does not imitate. Unicode, emoji and control bytes exercise byte fallback.
const std::vector<std::string>& common_texts() {
  static const std::vector<std::string> texts = {
      "Hello world",
      "Once upon a time, there was a little girl named Lily.",
      "The quick brown fox jumps over the lazy dog. 1234567890",
      "tabs\tand\nnewlines\nin one line",
      "naïve café, déjà vu — “quoted” … ½ ©",
      "日本語のテキストと中文，한국어",
      "emoji 🦙🔥 and a family 👩‍👩‍👧 of them",
      "byte fallback: \x01\x1f\x7f ሴ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \xf4\x8f\xbf\xbf",
      "def f(x):\n\treturn x**2 # comment",
      "literal <0x41> and <s> and </s> and <unk> and \n<s>\n pieces",
      "a",
      "!",
  };
  return texts;
}

void expect_same_ids(const Tokenizer& sp, const Tokenizer& bin, const std::string& text) {
  const auto a = sp.encode(text);
  const auto b = bin.encode(text);
  EXPECT_EQ(a, b) << "text: " << text;
  EXPECT_EQ(sp.decode(a), text);
  EXPECT_EQ(bin.decode(b), text);
}

TEST(Llama2cTokenizer, MatchesSentencepieceOnStories260KVocabulary) {
  const auto sp = load_tokenizer(testing::repo_path("models/stories260K/tok512.model"));
  const auto bin = load_tokenizer(testing::repo_path("models/stories260K/tok512.bin"));
  EXPECT_EQ(sp->vocab_size(), 512);
  EXPECT_EQ(bin->vocab_size(), 512);
  EXPECT_EQ(bin->bos_id(), 1);
  EXPECT_EQ(bin->eos_id(), 2);
  EXPECT_EQ(sp->bos_id(), 1);
  EXPECT_EQ(sp->eos_id(), 2);
  for (const auto& text : common_texts()) expect_same_ids(*sp, *bin, text);
  EXPECT_TRUE(bin->encode("").empty());
  EXPECT_TRUE(sp->encode("").empty());
}

TEST(Llama2cTokenizer, MatchesSentencepieceOnLlama2Vocabulary) {
  const auto model = testing::repo_path("models/pyshakes-15m-hf/tokenizer.model");
  const auto bin_path = testing::shared_data("models/tokenizer.bin");
  BITFOLD_REQUIRE_SHARED(bin_path);
  const auto sp = load_tokenizer(model);
  const auto bin = load_tokenizer(bin_path);
  EXPECT_EQ(sp->vocab_size(), 32000);
  EXPECT_EQ(bin->vocab_size(), 32000);
  for (const auto& text : common_texts()) expect_same_ids(*sp, *bin, text);
  // The Llama-2 model keeps whitespace as is, so runs of spaces must agree too.
  for (const std::string text : {"  two leading spaces", "trailing  ", "a    b\n\n\nc", " "})
    expect_same_ids(*sp, *bin, text);
  // Known ids: "Hello world" is [▁Hello, ▁world] in the Llama-2 vocabulary.
  EXPECT_EQ(bin->encode("Hello world"), (std::vector<int32_t>{15043, 3186}));
}

TEST(Llama2cTokenizer, AgreesOnALongDocument) {
  const auto text_path = testing::shared_data("text/test.txt");
  const auto bin_path = testing::shared_data("models/tokenizer.bin");
  BITFOLD_REQUIRE_SHARED(text_path);
  BITFOLD_REQUIRE_SHARED(bin_path);
  const std::string text = testing::read_bytes(text_path);
  const std::string slice = text.substr(0, text.rfind(' ', 200000));  // ends on a boundary
  const auto sp = load_tokenizer(testing::repo_path("models/pyshakes-15m-hf/tokenizer.model"));
  const auto bin = load_tokenizer(bin_path);
  const auto ids = bin->encode(slice);
  EXPECT_EQ(ids, sp->encode(slice));
  EXPECT_EQ(bin->decode(ids), slice);
}

// greedy-200.ids are BOS + 200 tokens of stories260K; run.c printed them as greedy-200.txt,
// followed by its final "\n".
TEST(Llama2cTokenizer, DecodesTheStories260KGolden) {
  std::ifstream ids_file(testing::repo_path("models/stories260K/greedy-200.ids"));
  std::vector<int32_t> ids;
  for (int32_t id; ids_file >> id;) ids.push_back(id);
  ASSERT_EQ(ids.size(), 201u);
  ASSERT_EQ(ids.front(), 1);
  const std::string expected =
      testing::read_bytes(testing::repo_path("models/stories260K/greedy-200.txt"));
  const auto bin = load_tokenizer(testing::repo_path("models/stories260K/tok512.bin"));
  const auto sp = load_tokenizer(testing::repo_path("models/stories260K/tok512.model"));
  EXPECT_EQ(bin->decode(ids) + "\n", expected);
  EXPECT_EQ(sp->decode(ids) + "\n", expected);
  EXPECT_TRUE(expected.starts_with("Once upon a time"));
}

// As in run.c, the dummy-prefix space is dropped after every BOS, so BOS-separated documents
// decode to the documents.
TEST(Llama2cTokenizer, DecodeDropsTheDummyPrefixAfterEachBos) {
  for (const char* name : {"models/stories260K/tok512.bin", "models/stories260K/tok512.model"}) {
    const auto tok = load_tokenizer(testing::repo_path(name));
    std::vector<int32_t> ids = {tok->bos_id()};
    const auto a = tok->encode("Lily ran.");
    const auto b = tok->encode("Tom sat.");
    ids.insert(ids.end(), a.begin(), a.end());
    ids.push_back(tok->eos_id());
    ids.push_back(tok->bos_id());
    ids.insert(ids.end(), b.begin(), b.end());
    EXPECT_EQ(tok->decode(ids), "Lily ran.Tom sat.") << name;
    EXPECT_EQ(tok->decode(a), "Lily ran.") << name;
  }
}

}  // namespace
}  // namespace bitfold::text
