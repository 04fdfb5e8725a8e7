// Bad tokenizer files and bad text: one line naming the file and the problem.
#include <gtest/gtest.h>

#include "file_fixtures.h"
#include "test_support.h"
#include "text/tokenizer.h"
#include "text/utf8.h"

namespace bitfold::text {
namespace {

using testing::expect_error;

TEST(BadText, NonUtf8PromptToEncode) {
  for (const char* name : {"models/stories260K/tok512.model", "models/stories260K/tok512.bin",
                           "tests/data/llama3-style-tokenizer.json"}) {
    const auto path = testing::repo_path(name);
    const auto tok = load_tokenizer(path);
    expect_error([&] { tok->encode("caf\xe9 au lait"); },
                 {path.string(), "not valid UTF-8", "0xE9", "offset 3"});
    expect_error([&] { tok->encode("ok \xed\xa0\x80 surrogate"); },
                 {path.string(), "not valid UTF-8"});
    expect_error([&] { tok->encode("overlong \xc0\xaf"); }, {path.string(), "not valid UTF-8"});
    expect_error([&] { tok->encode("cut \xf0\x9f\xa6"); },
                 {path.string(), "not valid UTF-8", "offset 4"});
  }
}

TEST(BadText, Utf8Checker) {
  EXPECT_EQ(find_invalid_utf8("plain ascii"), std::string_view::npos);
  EXPECT_EQ(find_invalid_utf8("é 日 🦙 \xf4\x8f\xbf\xbf"), std::string_view::npos);
  EXPECT_EQ(find_invalid_utf8("a\x80"), 1u);             // stray continuation
  EXPECT_EQ(find_invalid_utf8("ab\xe0\x80\x80"), 2u);    // overlong 3-byte
  EXPECT_EQ(find_invalid_utf8("\xf4\x90\x80\x80"), 0u);  // above U+10FFFF
  EXPECT_EQ(find_invalid_utf8("\xed\xbf\xbf"), 0u);      // surrogate
  EXPECT_EQ(find_invalid_utf8("x\xff"), 1u);
}

TEST(BadText, DecodeOfAnIdOutsideTheVocabulary) {
  const auto path = testing::repo_path("models/stories260K/tok512.bin");
  const auto tok = load_tokenizer(path);
  expect_error(
      [&] {
        tok->decode(std::vector<int32_t>{5, 512});
      },
      {path.string(), "token id 512", "512 tokens"});
}

TEST(BadTokenizer, EmptyFile) {
  const auto dir = testing::scratch_dir("bad_tok_empty");
  testing::write_bytes(dir / "tokenizer.model", "");
  expect_error([&] { load_tokenizer(dir / "tokenizer.model"); }, {"tokenizer.model", "empty"});
}

TEST(BadTokenizer, GarbageOrTruncated) {
  const auto dir = testing::scratch_dir("bad_tok_garbage");
  testing::write_bytes(dir / "g.bin", "\x7f\x45\x4c\x46 definitely not a tokenizer");
  expect_error([&] { load_tokenizer(dir / "g.bin"); }, {"g.bin", "not a tokenizer"});
  const std::string bin = testing::read_bytes(testing::repo_path("models/stories260K/tok512.bin"));
  testing::write_bytes(dir / "t.bin", bin.substr(0, bin.size() - 3));
  expect_error([&] { load_tokenizer(dir / "t.bin"); }, {"t.bin", "not a tokenizer"});
  const std::string model =
      testing::read_bytes(testing::repo_path("models/stories260K/tok512.model"));
  testing::write_bytes(dir / "t.model", model.substr(0, model.size() / 2));
  expect_error([&] { load_tokenizer(dir / "t.model"); }, {"t.model", "not a tokenizer"});
  expect_error([&] { load_tokenizer(dir / "missing.model"); }, {"missing.model", "does not exist"});
}

TEST(BadTokenizer, UnsupportedOrBrokenTokenizerJson) {
  const auto dir = testing::scratch_dir("bad_tok_json");
  const auto write = [&](const char* name, const std::string& text) {
    testing::write_bytes(dir / name, text);
    return dir / name;
  };
  expect_error(
      [&] {
        load_tokenizer(write("a.json", "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}"));
      },
      {"a.json", "Unigram", "not supported"});
  expect_error([&] { load_tokenizer(write("b.json", "{\"model\": ")); },
               {"b.json", "not valid JSON"});
  // A sentencepiece-style tokenizer.json (Llama-2's): Metaspace, no ByteLevel.
  expect_error(
      [&] {
        load_tokenizer(
            write("c.json", R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
      "pre_tokenizer": {"type": "Metaspace", "replacement": "▁"}})"));
      },
      {"c.json", "Metaspace", "tokenizer.model"});
  expect_error(
      [&] {
        load_tokenizer(
            write("d.json", R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
      "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated"}})"));
      },
      {"d.json", "regex", "offset"});
  expect_error(
      [&] {
        load_tokenizer(write(
            "e.json", R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]},
      "pre_tokenizer": {"type": "ByteLevel"}})"));
      },
      {"e.json", "merge 0", "not in the vocabulary"});
  expect_error(
      [&] {
        load_tokenizer(
            write("f.json", R"({"model": {"type": "BPE", "vocab": {"a": "zero"}, "merges": []}})"));
      },
      {"f.json", "vocab entry a"});
  expect_error(
      [&] {
        load_tokenizer(write("g.json", R"({"model": {"type": "BPE", "vocab": {}, "merges": []},
      "normalizer": {"type": "Lowercase"}, "pre_tokenizer": {"type": "ByteLevel"}})"));
      },
      {"g.json", "normalizer Lowercase"});
}

}  // namespace
}  // namespace bitfold::text
