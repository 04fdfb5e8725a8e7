#pragma once
// Hugging Face `tokenizer.json` with a byte-level BPE model (Llama-3, Qwen2, GPT-2 style):
//   1. added tokens (specials such as "<|begin_of_text|>") are matched in the raw text first,
//      leftmost-longest; the text between them goes through the steps below;
//   2. the pre-tokenizer: Split (the file's regex, run by PCRE2 in UTF mode) and ByteLevel
//      (optionally a prefix space and GPT-2's regex, then bytes -> printable code points);
//   3. per piece: the piece itself when `ignore_merges` and it is in the vocabulary, else its
//      code points merged by merge rank (lowest first, leftmost on ties).
// Decoding maps tokens back through the byte alphabet; special added tokens render as nothing.
// Supported normalizers: none, or NFC (input is assumed to be NFC already and is not
// re-normalized). Other model types, normalizers and pre-tokenizers are a clear error.
#include <array>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "text/tokenizer.h"

namespace bitfold::text {

// BOS/EOS named outside tokenizer.json. First tokenizer_config.json's "bos_token"/"eos_token"
// (token text; a JSON null there means the model has none, as in Qwen2), then config.json's
// "bos_token_id"/"eos_token_id", then what tokenizer.json itself suggests (its post-processor's
// leading special token; "<|begin_of_text|>", "<s>", "<|end_of_text|>", "</s>", "<|endoftext|>").
struct SpecialTokens {
  struct Choice {
    std::optional<std::string> token;  // tokenizer_config.json
    bool none = false;                 // tokenizer_config.json said null
    std::optional<int> id;             // config.json
  };
  Choice bos, eos;
};

// Reads tokenizer_config.json and config.json beside `tokenizer_json`, when present.
SpecialTokens read_special_tokens(const std::filesystem::path& tokenizer_json);

class HfBpeTokenizer : public Tokenizer {
 public:
  // `json_text` is the file's content; throws "PATH: ..." on anything unsupported or malformed.
  HfBpeTokenizer(std::filesystem::path path, std::string_view json_text,
                 const SpecialTokens& specials = {});
  ~HfBpeTokenizer() override;

  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(std::span<const int32_t> ids) const override;
  int vocab_size() const override { return int(id_to_token_.size()); }
  int bos_id() const override { return bos_; }
  int eos_id() const override { return eos_; }

  // The id of an added token or vocabulary entry spelled `content`, if any.
  std::optional<int> token_id(std::string_view content) const;

  struct PreTokenizerStep;

 private:
  void load(std::string_view json_text, const SpecialTokens& specials);
  void encode_segment(std::string_view segment, std::vector<int32_t>& out) const;
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;

  struct AddedToken {
    std::string content;
    int32_t id;
    bool special;
  };

  std::filesystem::path path_;
  std::unordered_map<std::string, int32_t> vocab_;
  std::vector<std::string> id_to_token_;  // "" for ids only added tokens use
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>>
      merges_;                     // (left, right) -> (rank, merged)
  std::vector<AddedToken> added_;  // longest content first
  std::array<std::vector<size_t>, 256> added_by_first_byte_;
  std::unordered_map<int32_t, size_t> added_by_id_;
  std::vector<std::unique_ptr<PreTokenizerStep>> steps_;
  bool ignore_merges_ = false;
  int32_t unk_ = -1;
  int bos_ = -1, eos_ = -1;
};

}  // namespace bitfold::text
