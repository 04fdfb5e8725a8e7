#pragma once
// sentencepiece `tokenizer.model` (Llama-2, TinyStories vocabularies) through libsentencepiece.
#include <filesystem>
#include <memory>
#include <string_view>

#include "text/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace bitfold::text {

class SentencePieceTokenizer : public Tokenizer {
 public:
  // `bytes` is the serialized ModelProto; throws "PATH: ..." when it does not load.
  SentencePieceTokenizer(std::filesystem::path path, std::string_view bytes);
  ~SentencePieceTokenizer() override;
  // True when `bytes` loads as a sentencepiece model.
  static bool looks_like(std::string_view bytes);

  std::vector<int32_t> encode(std::string_view text) const override;
  // Decodes each BOS-separated run on its own so that, as in llama2.c, the dummy-prefix space is
  // dropped at the start of every document, not only the first.
  std::string decode(std::span<const int32_t> ids) const override;
  int vocab_size() const override;
  int bos_id() const override;
  int eos_id() const override;

 private:
  std::filesystem::path path_;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
};

}  // namespace bitfold::text
