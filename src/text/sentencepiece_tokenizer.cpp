#include "text/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>

#include "core/error.h"
#include "text/utf8.h"

namespace bitfold::text {

bool SentencePieceTokenizer::looks_like(std::string_view bytes) {
  sentencepiece::SentencePieceProcessor sp;
  return sp.LoadFromSerializedProto(bytes).ok() && sp.GetPieceSize() > 0;
}

SentencePieceTokenizer::SentencePieceTokenizer(std::filesystem::path path, std::string_view bytes)
    : path_(std::move(path)), sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
  const auto status = sp_->LoadFromSerializedProto(bytes);
  if (!status.ok()) fail("{}: not a sentencepiece model: {}", path_.string(), status.message());
  if (sp_->GetPieceSize() <= 0) fail("{}: sentencepiece model has no pieces", path_.string());
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::vector<int32_t> SentencePieceTokenizer::encode(std::string_view text) const {
  require_utf8(text, path_.string());
  std::vector<int> ids;
  const auto status = sp_->Encode(text, &ids);
  if (!status.ok()) fail("{}: cannot encode: {}", path_.string(), status.message());
  return {ids.begin(), ids.end()};
}

std::string SentencePieceTokenizer::decode(std::span<const int32_t> ids) const {
  const int bos = sp_->bos_id();
  std::string out, part;
  std::vector<int> run;
  const auto flush = [&] {
    if (run.empty()) return;
    const auto status = sp_->Decode(run, &part);
    if (!status.ok()) fail("{}: cannot decode: {}", path_.string(), status.message());
    out += part;
    run.clear();
  };
  for (const int32_t id : ids) {
    if (id < 0 || id >= vocab_size())
      fail("{}: cannot decode token id {}: vocabulary has {} tokens", path_.string(), id,
           vocab_size());
    if (id == bos) {
      flush();
      continue;
    }
    run.push_back(id);
  }
  flush();
  return out;
}

int SentencePieceTokenizer::vocab_size() const { return sp_->GetPieceSize(); }
int SentencePieceTokenizer::bos_id() const { return sp_->bos_id(); }
int SentencePieceTokenizer::eos_id() const { return sp_->eos_id(); }

}  // namespace bitfold::text
