#pragma once
// Tokenizers: sentencepiece `tokenizer.model`, llama2.c `tokenizer.bin`, and Hugging Face
// `tokenizer.json` byte-level BPE, behind one interface.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bitfold::text {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Token ids of `text` (valid UTF-8, else bitfold::Error), without BOS/EOS.
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  // Text of a whole sequence of ids (special tokens such as BOS/EOS render as nothing).
  virtual std::string decode(std::span<const int32_t> ids) const = 0;
  virtual int vocab_size() const = 0;
  virtual int bos_id() const = 0;  // -1 when the tokenizer has none
  virtual int eos_id() const = 0;
};

// Loads tokenizer.model (sentencepiece), tokenizer.bin (llama2.c) or tokenizer.json (HF BPE),
// chosen by content, not by name. Errors name the file.
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& path);

// The tokenizer that belongs to a model: `explicit_path` when given; otherwise tokenizer.json or
// tokenizer.model inside a Hugging Face directory, or tokenizer.model / tokenizer.bin beside a
// llama2.c .bin file.
std::unique_ptr<Tokenizer> find_tokenizer(const std::filesystem::path& model_path,
                                          const std::filesystem::path& explicit_path = {});

}  // namespace bitfold::text
