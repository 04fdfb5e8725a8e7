#pragma once
// llama2.c `tokenizer.bin`: int32 max_token_length, then per token float32 score, int32 length,
// bytes (the sentencepiece pieces with "▁" written as " "; byte-fallback pieces spelled
// "<0xNN>"). Encoding follows run.c: a dummy-prefix space, one symbol per UTF-8 code point (its
// bytes as <0xNN> tokens when the code point is not a piece), then merges by best score.
#include <array>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "text/tokenizer.h"

namespace bitfold::text {

class Llama2cTokenizer : public Tokenizer {
 public:
  // `bytes` is the file's content; throws "PATH: ..." when it is not a tokenizer.bin.
  Llama2cTokenizer(std::filesystem::path path, std::string_view bytes);
  // Cheap structural check used to pick the tokenizer kind by content.
  static bool looks_like(std::string_view bytes);

  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(std::span<const int32_t> ids) const override;
  int vocab_size() const override { return int(pieces_.size()); }
  int bos_id() const override { return bos_; }
  int eos_id() const override { return eos_; }

 private:
  std::filesystem::path path_;
  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::unordered_map<std::string, int32_t> mergeable_;  // ordinary pieces by text
  std::array<int32_t, 256> byte_ids_;                   // <0xNN> pieces, -1 when absent
  std::vector<int16_t> byte_of_;                        // id -> byte for <0xNN> pieces, else -1
  int bos_ = -1, eos_ = -1, unk_ = -1;
};

}  // namespace bitfold::text
