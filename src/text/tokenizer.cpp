#include "text/tokenizer.h"

#include <cstring>
#include <fstream>

#include "core/error.h"
#include "core/mapped_file.h"
#include "text/hf_bpe_tokenizer.h"
#include "text/llama2c_tokenizer.h"
#include "text/sentencepiece_tokenizer.h"

namespace bitfold::text {

namespace fs = std::filesystem;

namespace {

std::string read_tokenizer_bytes(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail("{}: tokenizer file does not exist", path.string());
  std::string bytes = read_text_file(path);
  if (bytes.empty()) fail("{}: empty file, not a tokenizer", path.string());
  return bytes;
}

TokenizerKind kind_of(const fs::path& path, std::string_view bytes) {
  // The exact tokenizer.bin layout is checked first: it is unmistakable, whereas its first byte
  // (max_token_length) may happen to be '{' (123) or a ModelProto's 0x0A (10).
  if (Llama2cTokenizer::looks_like(bytes)) return TokenizerKind::Llama2c;
  const size_t first = bytes.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && bytes[first] == '{') return TokenizerKind::HfJson;
  if (SentencePieceTokenizer::looks_like(bytes)) return TokenizerKind::SentencePiece;
  fail(
      "{}: not a tokenizer (neither tokenizer.json, a sentencepiece model, nor a llama2.c "
      "tokenizer.bin)",
      path.string());
}

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

// |vocab_size| from a llama2.c checkpoint header, or 0 when the file is not one.
int llama2c_vocab_size(const fs::path& checkpoint) {
  std::ifstream in(checkpoint, std::ios::binary);
  int32_t header[7];
  if (!in.read(reinterpret_cast<char*>(header), sizeof header)) return 0;
  const int32_t v = header[5];
  return v > 0 ? v : (v < 0 && v != INT32_MIN ? -v : 0);
}

std::vector<fs::path> candidates(const fs::path& model_path) {
  std::error_code ec;
  const bool hf_dir = fs::is_directory(model_path, ec);
  const bool inside_hf_dir = !hf_dir && (model_path.filename() == "config.json" ||
                                         model_path.extension() == ".safetensors");
  if (hf_dir || inside_hf_dir) {
    const fs::path dir = hf_dir ? model_path : model_path.parent_path();
    return {dir / "tokenizer.model", dir / "tokenizer.json", dir / "tokenizer.bin"};
  }
  const fs::path dir = model_path.parent_path();
  std::vector<fs::path> out = {dir / "tokenizer.model", dir / "tokenizer.bin"};
  if (const int n = llama2c_vocab_size(model_path); n > 0) {
    out.push_back(dir / fmt::format("tok{}.model", n));
    out.push_back(dir / fmt::format("tok{}.bin", n));
  }
  return out;
}

}  // namespace

TokenizerKind detect_tokenizer_kind(const fs::path& path) {
  return kind_of(path, read_tokenizer_bytes(path));
}

std::string_view tokenizer_file_name(TokenizerKind kind) {
  switch (kind) {
    case TokenizerKind::SentencePiece:
      return "tokenizer.model";
    case TokenizerKind::Llama2c:
      return "tokenizer.bin";
    case TokenizerKind::HfJson:
      return "tokenizer.json";
  }
  return "tokenizer";
}

std::unique_ptr<Tokenizer> load_tokenizer(const fs::path& path) {
  const std::string bytes = read_tokenizer_bytes(path);
  switch (kind_of(path, bytes)) {
    case TokenizerKind::SentencePiece:
      return std::make_unique<SentencePieceTokenizer>(path, bytes);
    case TokenizerKind::Llama2c:
      return std::make_unique<Llama2cTokenizer>(path, bytes);
    case TokenizerKind::HfJson:
      return std::make_unique<HfBpeTokenizer>(path, bytes, read_special_tokens(path));
  }
  fail("{}: unknown tokenizer kind", path.string());
}

fs::path find_tokenizer_file(const fs::path& model_path, const fs::path& explicit_path) {
  if (!explicit_path.empty()) return explicit_path;
  for (const fs::path& p : candidates(model_path))
    if (is_file(p)) return p;
  return {};
}

std::unique_ptr<Tokenizer> find_tokenizer(const fs::path& model_path,
                                          const fs::path& explicit_path) {
  const fs::path path = find_tokenizer_file(model_path, explicit_path);
  if (path.empty()) {
    std::string tried;
    for (const fs::path& p : candidates(model_path))
      tried += (tried.empty() ? "" : ", ") + p.filename().string();
    fail("{}: no tokenizer found (looked for {}); pass one explicitly", model_path.string(), tried);
  }
  return load_tokenizer(path);
}

}  // namespace bitfold::text
