// tokenizer.json byte-level BPE against two hand-made fixtures in tests/data:
//   llama3-style-tokenizer.json: Split with Llama-3's regex + ByteLevel, ignore_merges, merges as
//     ["a", "b"] arrays, specials <|begin_of_text|> 300, <|end_of_text|> 301, <|eot_id|> 302 and
//     a non-special added token <tool> 303.
//   gpt2-style-tokenizer.json: ByteLevel with GPT-2's built-in regex, merges as "a b" strings,
//     special <|endoftext|> 300.
// Both share one vocabulary: ids 0..255 are the byte-level characters of bytes 0..255 (so a
// lone byte's id is its value), then the merges in rank order:
//   256 Ġt  257 he  258 Ġthe  259 ll  260 hell  261 hello  262 Ġw  263 or  264 Ġwor  265 ld
//   266 Ġworld  267 ĊĊ  268 12  269 34
// and 270 Ġxyz, which no merge makes. (Ġ is the space, Ċ the newline.)
#include "text/hf_bpe_tokenizer.h"

#include <gtest/gtest.h>

#include <random>

#include "file_fixtures.h"
#include "test_support.h"
#include "text/byte_level.h"
#include "text/tokenizer.h"

namespace bitfold::text {
namespace {

using Ids = std::vector<int32_t>;

std::unique_ptr<Tokenizer> llama3() {
  return load_tokenizer(testing::repo_path("tests/data/llama3-style-tokenizer.json"));
}
std::unique_ptr<Tokenizer> gpt2() {
  return load_tokenizer(testing::repo_path("tests/data/gpt2-style-tokenizer.json"));
}

TEST(ByteLevel, MapsBytesToPrintableCodePoints) {
  EXPECT_EQ(byte_to_codepoint('a'), uint32_t('a'));
  EXPECT_EQ(byte_to_codepoint(' '), 0x120u);   // Ġ
  EXPECT_EQ(byte_to_codepoint('\n'), 0x10Au);  // Ċ
  EXPECT_EQ(byte_to_codepoint(0xAD), 0x143u);  // soft hyphen is not printable: Ń
  EXPECT_EQ(byte_to_codepoint(0xFF), 0xFFu);
  for (int b = 0; b < 256; ++b) EXPECT_EQ(codepoint_to_byte(byte_to_codepoint(uint8_t(b))), b);
  EXPECT_EQ(codepoint_to_byte(0x2581), -1);
  EXPECT_EQ(bytes_to_byte_level("a b\n"), "aĠbĊ");
  EXPECT_EQ(byte_level_to_bytes("aĠbĊ"), "a b\n");
}

TEST(HfBpeTokenizer, MergesByRank) {
  const auto t = llama3();
  EXPECT_EQ(t->encode("hellos"), (Ids{261, 's'}));  // he, ll, hell, hello, then s
  EXPECT_EQ(t->encode("hello world"), (Ids{261, 266}));
  EXPECT_EQ(t->encode(" the"), (Ids{258}));
  EXPECT_EQ(t->encode("oll"), (Ids{'o', 259}));  // "o l" is no merge; "l l" is
  const auto g = gpt2();
  EXPECT_EQ(g->encode("hellos"), (Ids{261, 's'}));
  EXPECT_EQ(g->encode("hello world"), (Ids{261, 266}));
  EXPECT_EQ(g->encode("the the"), (Ids{'t', 257, 258}));  // "t he": no merge makes "the"
}

// Llama-3 sets ignore_merges: a piece found whole in the vocabulary is taken as is.
TEST(HfBpeTokenizer, IgnoreMergesTakesWholePieces) {
  EXPECT_EQ(llama3()->encode(" xyz"), (Ids{270}));
  EXPECT_EQ(gpt2()->encode(" xyz"), (Ids{' ', 'x', 'y', 'z'}));
}

// The two pre-tokenizers split digits and newlines differently.
TEST(HfBpeTokenizer, PreTokenizerRegexesSplitAsTheirModels) {
  const auto t = llama3();
  const auto g = gpt2();
  // Llama-3: \p{N}{1,3} -> "123" "45"; GPT-2: " ?\p{N}+" -> "12345".
  EXPECT_EQ(t->encode("12345"), (Ids{268, '3', '4', '5'}));
  EXPECT_EQ(g->encode("12345"), (Ids{268, 269, '5'}));
  // Llama-3: \s*[\r\n]+ keeps "\n\n" together; GPT-2: \s+(?!\S) leaves the last one alone.
  EXPECT_EQ(t->encode("a\n\nb"), (Ids{'a', 267, 'b'}));
  EXPECT_EQ(g->encode("a\n\nb"), (Ids{'a', '\n', '\n', 'b'}));
  // Contractions are their own pieces; Llama-3's are case-insensitive.
  EXPECT_EQ(t->encode("I'll"), (Ids{'I', '\'', 259}));
  EXPECT_EQ(t->encode("I'LL"), (Ids{'I', '\'', 'L', 'L'}));
  EXPECT_EQ(g->encode("I'll"), (Ids{'I', '\'', 259}));
  // Punctuation with a leading space, and an emoji as its four bytes.
  EXPECT_EQ(t->encode(" 🦙!"), (Ids{' ', 0xF0, 0x9F, 0xA6, 0x99, '!'}));
}

TEST(HfBpeTokenizer, MatchesAddedTokensBeforeBpe) {
  const auto t = llama3();
  EXPECT_EQ(t->encode("<|begin_of_text|>hello<|eot_id|>"), (Ids{300, 261, 302}));
  EXPECT_EQ(t->encode("x<tool>y"), (Ids{'x', 303, 'y'}));
  // A prefix of a special token is ordinary text.
  EXPECT_EQ(t->encode("<|eot"), (Ids{'<', '|', 'e', 'o', 't'}));
  // Specials render as nothing; non-special added tokens as their text.
  EXPECT_EQ(t->decode(Ids{300, 261, 303, 266, 302}), "hello<tool> world");
  EXPECT_EQ(gpt2()->encode("a<|endoftext|>b"), (Ids{'a', 300, 'b'}));
}

TEST(HfBpeTokenizer, FindsBosAndEos) {
  const auto t = llama3();
  EXPECT_EQ(t->bos_id(), 300);  // TemplateProcessing's leading special token
  EXPECT_EQ(t->eos_id(), 301);
  EXPECT_EQ(t->vocab_size(), 304);
  const auto g = gpt2();
  EXPECT_EQ(g->bos_id(), -1);
  EXPECT_EQ(g->eos_id(), 300);
}

TEST(HfBpeTokenizer, TokenizerConfigAndConfigJsonChooseSpecials) {
  const auto dir = testing::scratch_dir("hf_bpe_specials");
  std::filesystem::copy_file(testing::repo_path("tests/data/llama3-style-tokenizer.json"),
                             dir / "tokenizer.json");
  testing::write_bytes(dir / "tokenizer_config.json",
                       R"({"bos_token": null, "eos_token": {"content": "<|eot_id|>"}})");
  auto t = load_tokenizer(dir / "tokenizer.json");
  EXPECT_EQ(t->bos_id(), -1);
  EXPECT_EQ(t->eos_id(), 302);
  std::filesystem::remove(dir / "tokenizer_config.json");
  testing::write_bytes(dir / "config.json", R"({"bos_token_id": 301, "eos_token_id": [302, 301]})");
  t = load_tokenizer(dir / "tokenizer.json");
  EXPECT_EQ(t->bos_id(), 301);
  EXPECT_EQ(t->eos_id(), 302);
}

std::string random_utf8(std::mt19937& rng, size_t code_points) {
  static const std::vector<uint32_t> interesting = {
      ' ',   '\n',   '\t',   '\r',   '\'',   '0',     '7',     'a',    'Z',      0xA0,  0xE9,
      0x301, 0x2581, 0x3000, 0x4E2D, 0xFF01, 0x1F999, 0x1F525, 0x200D, 0x10FFFF, 0xFFFD};
  std::uniform_int_distribution<int> kind(0, 3);
  std::uniform_int_distribution<uint32_t> ascii(0x20, 0x7E), any(1, 0x10FFFF);
  std::uniform_int_distribution<size_t> pick(0, interesting.size() - 1);
  std::string out;
  for (size_t i = 0; i < code_points; ++i) {
    uint32_t cp;
    switch (kind(rng)) {
      case 0:
        cp = ascii(rng);
        break;
      case 1:
        cp = interesting[pick(rng)];
        break;
      case 2:
        cp = 'e';
        break;
      default:
        do cp = any(rng);
        while (cp >= 0xD800 && cp <= 0xDFFF);
    }
    // Encode by hand so the test does not lean on the code it checks.
    if (cp < 0x80)
      out += char(cp);
    else if (cp < 0x800)
      out += {char(0xC0 | (cp >> 6)), char(0x80 | (cp & 0x3F))};
    else if (cp < 0x10000)
      out += {char(0xE0 | (cp >> 12)), char(0x80 | ((cp >> 6) & 0x3F)), char(0x80 | (cp & 0x3F))};
    else
      out += {char(0xF0 | (cp >> 18)), char(0x80 | ((cp >> 12) & 0x3F)),
              char(0x80 | ((cp >> 6) & 0x3F)), char(0x80 | (cp & 0x3F))};
  }
  return out;
}

TEST(HfBpeTokenizer, RoundTripsArbitraryUtf8) {
  const auto t = llama3();
  const auto g = gpt2();
  for (const std::string text :
       {"", "hello world\n\nthe end 🦙🔥\r\n\t  ", "  leading", "trailing  ",
        "<|begin_of_text|>", "日本語 テキスト", "e\xCC\x81 (e + combining acute)"}) {
    // A special token renders as nothing; for the GPT-2 fixture it is plain text.
    EXPECT_EQ(t->decode(t->encode(text)), text == "<|begin_of_text|>" ? "" : text);
    EXPECT_EQ(g->decode(g->encode(text)), text);
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    const std::string text = random_utf8(rng, 1 + size_t(i));
    EXPECT_EQ(t->decode(t->encode(text)), text);
    EXPECT_EQ(g->decode(g->encode(text)), text);
  }
}

}  // namespace
}  // namespace bitfold::text
