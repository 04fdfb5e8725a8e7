#include "text/llama2c_tokenizer.h"

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "text/bpe_merge.h"
#include "text/utf8.h"

namespace bitfold::text {

namespace {

// A token entry's length is bounded by max_token_length, itself bounded here so that a garbage
// file cannot make us allocate absurdly.
constexpr int32_t kMaxTokenLength = 1 << 16;

struct Entry {
  float score;
  std::string_view text;
};

// Parses the whole file; returns false (with `why`) unless it is exactly a sequence of entries.
bool parse(std::string_view bytes, std::vector<Entry>& entries, std::string& why) {
  size_t pos = 0;
  const auto read_i32 = [&](int32_t& v) {
    if (bytes.size() - pos < 4) return false;
    std::memcpy(&v, bytes.data() + pos, 4);
    pos += 4;
    return true;
  };
  int32_t max_len = 0;
  if (!read_i32(max_len) || max_len <= 0 || max_len > kMaxTokenLength) {
    why = "first int32 (max_token_length) is not a plausible length";
    return false;
  }
  while (pos < bytes.size()) {
    float score;
    int32_t len;
    if (bytes.size() - pos < 8) {
      why = "truncated entry";
      return false;
    }
    std::memcpy(&score, bytes.data() + pos, 4);
    std::memcpy(&len, bytes.data() + pos + 4, 4);
    pos += 8;
    if (!std::isfinite(score) || len < 0 || len > max_len || bytes.size() - pos < size_t(len)) {
      why = "entry " + std::to_string(entries.size()) + " has a bad score or length";
      return false;
    }
    entries.push_back({score, bytes.substr(pos, size_t(len))});
    pos += size_t(len);
  }
  if (entries.empty()) {
    why = "no tokens";
    return false;
  }
  return true;
}

// "<0x0A>" -> 10; -1 for anything else.
int parse_byte_piece(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  int value = 0;
  for (char c : piece.substr(3, 2)) {
    value <<= 4;
    if (c >= '0' && c <= '9')
      value |= c - '0';
    else if (c >= 'A' && c <= 'F')
      value |= c - 'A' + 10;
    else if (c >= 'a' && c <= 'f')
      value |= c - 'a' + 10;
    else
      return -1;
  }
  return value;
}

}  // namespace

bool Llama2cTokenizer::looks_like(std::string_view bytes) {
  std::vector<Entry> entries;
  std::string why;
  return parse(bytes, entries, why);
}

Llama2cTokenizer::Llama2cTokenizer(std::filesystem::path path, std::string_view bytes)
    : path_(std::move(path)) {
  std::vector<Entry> entries;
  std::string why;
  if (!parse(bytes, entries, why))
    fail("{}: not a llama2.c tokenizer.bin: {}", path_.string(), why);
  byte_ids_.fill(-1);
  byte_of_.assign(entries.size(), -1);
  for (size_t i = 0; i < entries.size(); ++i) {
    const int32_t id = int32_t(i);
    const std::string_view text = entries[i].text;
    pieces_.emplace_back(text);
    scores_.push_back(entries[i].score);
    // llama2.c's export writes sentencepiece's control pieces as "<unk>", "\n<s>\n", "\n</s>\n".
    if (text == "\n<s>\n" || text == "<s>") {
      if (bos_ < 0) bos_ = id;
      continue;
    }
    if (text == "\n</s>\n" || text == "</s>") {
      if (eos_ < 0) eos_ = id;
      continue;
    }
    if (text == "<unk>") {
      if (unk_ < 0) unk_ = id;
      continue;
    }
    // Byte pieces are fallbacks only, never merge results: text that spells "<0x41>" must not
    // turn into the byte 'A' (sentencepiece keeps them apart the same way).
    if (const int b = parse_byte_piece(text); b >= 0) {
      if (byte_ids_[size_t(b)] < 0) byte_ids_[size_t(b)] = id;
      byte_of_[i] = int16_t(b);
      continue;
    }
    mergeable_.emplace(std::string(text), id);  // the first of duplicate pieces wins, as in run.c
  }
}

std::vector<int32_t> Llama2cTokenizer::encode(std::string_view text) const {
  require_utf8(text, path_.string());
  if (text.empty()) return {};
  std::string with_prefix = " ";  // sentencepiece's add_dummy_prefix
  with_prefix += text;

  std::vector<int32_t> symbols;
  symbols.reserve(with_prefix.size());
  std::string_view rest = with_prefix;
  while (!rest.empty()) {
    const size_t len = utf8_sequence_length(static_cast<unsigned char>(rest[0]));
    const std::string_view cp = rest.substr(0, len);
    rest.remove_prefix(len);
    if (const auto it = mergeable_.find(std::string(cp)); it != mergeable_.end()) {
      symbols.push_back(it->second);
      continue;
    }
    for (const char c : cp) {
      const int32_t id = byte_ids_[static_cast<unsigned char>(c)];
      if (id >= 0)
        symbols.push_back(id);
      else if (unk_ >= 0)
        symbols.push_back(unk_);
      else
        fail("{}: cannot encode byte 0x{:02X}: no <0xNN> piece and no <unk>", path_.string(),
             static_cast<unsigned char>(c));
    }
  }

  std::string pair;
  return bpe_merge(std::move(symbols), [&](int32_t a, int32_t b) -> std::optional<MergeCandidate> {
    if (byte_of_[size_t(a)] >= 0 || byte_of_[size_t(b)] >= 0 || a == unk_ || b == unk_)
      return std::nullopt;
    pair.assign(pieces_[size_t(a)]);
    pair += pieces_[size_t(b)];
    const auto it = mergeable_.find(pair);
    if (it == mergeable_.end()) return std::nullopt;
    return MergeCandidate{-double(scores_[size_t(it->second)]), it->second};
  });
}

std::string Llama2cTokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  bool at_start = true;  // start of the sequence or just after BOS: drop the dummy-prefix space
  for (const int32_t id : ids) {
    if (id < 0 || id >= vocab_size())
      fail("{}: cannot decode token id {}: vocabulary has {} tokens", path_.string(), id,
           vocab_size());
    if (id == bos_) {
      at_start = true;
      continue;
    }
    if (id == eos_) continue;
    if (const int16_t b = byte_of_[size_t(id)]; b >= 0) {
      out += char(b);
    } else {
      std::string_view piece = pieces_[size_t(id)];
      if (at_start && !piece.empty() && piece[0] == ' ') piece.remove_prefix(1);
      out += piece;
    }
    at_start = false;
  }
  return out;
}

}  // namespace bitfold::text
