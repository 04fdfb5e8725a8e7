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
  // Text of a whole sequence of ids (special tokens such as BOS/EOS render as nothing; for
  // sentencepiece vocabularies the dummy-prefix space is dropped at the start and after each
  // BOS, as run.c prints it). Ids outside the vocabulary are a bitfold::Error.
  virtual std::string decode(std::span<const int32_t> ids) const = 0;
  virtual int vocab_size() const = 0;
  virtual int bos_id() const = 0;  // -1 when the tokenizer has none
  virtual int eos_id() const = 0;
};

enum class TokenizerKind { SentencePiece, Llama2c, HfJson };

// What `path` holds, judged by content: JSON -> HfJson; an exact llama2.c tokenizer.bin layout
// -> Llama2c; a loadable sentencepiece ModelProto -> SentencePiece. Errors name the file.
TokenizerKind detect_tokenizer_kind(const std::filesystem::path& path);
// The conventional file name of a kind: tokenizer.model / tokenizer.bin / tokenizer.json.
std::string_view tokenizer_file_name(TokenizerKind kind);

// Loads tokenizer.model (sentencepiece), tokenizer.bin (llama2.c) or tokenizer.json (HF BPE),
// chosen by content, not by name. For tokenizer.json, BOS/EOS come from tokenizer_config.json and
// config.json beside it when present (see hf_bpe_tokenizer.h). Errors name the file.
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& path);

// The tokenizer file that belongs to a model, or an empty path when there is none:
// `explicit_path` when given; otherwise, inside a Hugging Face directory (or beside its
// config.json / *.safetensors), tokenizer.model, tokenizer.json, tokenizer.bin in that order;
// beside a llama2.c .bin file, tokenizer.model, tokenizer.bin, then tokN.model, tokN.bin with N
// the checkpoint's vocabulary size (llama2.c's name for custom vocabularies, e.g. tok512.bin).
std::filesystem::path find_tokenizer_file(const std::filesystem::path& model_path,
                                          const std::filesystem::path& explicit_path = {});

// load_tokenizer(find_tokenizer_file(...)); an error naming the model and the names tried when
// nothing is found.
std::unique_ptr<Tokenizer> find_tokenizer(const std::filesystem::path& model_path,
                                          const std::filesystem::path& explicit_path = {});

}  // namespace bitfold::text
