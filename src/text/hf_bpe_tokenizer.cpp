#include "text/hf_bpe_tokenizer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <initializer_list>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/printable.h"
#include "text/bpe_merge.h"
#include "text/byte_level.h"
#include "text/regex.h"
#include "text/utf8.h"

namespace bitfold::text {

using json = nlohmann::json;

namespace {

// The split ByteLevel applies itself when "use_regex" is true (GPT-2's pattern, fixed in the
// Hugging Face tokenizers library rather than stored in the file).
constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

enum class SplitBehavior { Isolated, Removed, MergedWithPrevious, MergedWithNext, Contiguous };

uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

bool get_bool(const json& j, const char* key, bool fallback) {
  const auto it = j.find(key);
  return it != j.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

}  // namespace

struct HfBpeTokenizer::PreTokenizerStep {
  bool byte_level = false;  // else a Split
  std::optional<Regex> regex;
  SplitBehavior behavior = SplitBehavior::Isolated;
  bool invert = false;
  bool add_prefix_space = false;

  // Appends the pieces `piece` becomes.
  void apply(std::string_view piece, std::vector<std::string>& out) const {
    if (piece.empty()) return;
    if (!byte_level) {
      split(piece, out);
      return;
    }
    std::string text;
    if (add_prefix_space && piece[0] != ' ') text = " ";
    text += piece;
    if (!regex) {
      out.push_back(bytes_to_byte_level(text));
      return;
    }
    std::vector<std::string> parts;
    split(text, parts);
    for (const std::string& part : parts) out.push_back(bytes_to_byte_level(part));
  }

  void split(std::string_view piece, std::vector<std::string>& out) const {
    struct Segment {
      size_t begin, end;
      bool match;
    };
    std::vector<Segment> segments;
    size_t last = 0;
    regex->for_each_match(piece, [&](size_t b, size_t e) {
      if (b > last) segments.push_back({last, b, invert});
      segments.push_back({b, e, !invert});
      last = e;
    });
    if (last < piece.size()) segments.push_back({last, piece.size(), invert});

    bool previous_match = false;
    bool have_piece = false;  // `out.back()` belongs to this call
    for (const Segment& s : segments) {
      const std::string_view text = piece.substr(s.begin, s.end - s.begin);
      bool extend = false;
      switch (behavior) {
        case SplitBehavior::Isolated:
          break;
        case SplitBehavior::Removed:
          if (s.match) continue;
          break;
        case SplitBehavior::MergedWithPrevious:
          extend = s.match && have_piece;
          break;
        case SplitBehavior::MergedWithNext:
          extend = previous_match && have_piece;
          break;
        case SplitBehavior::Contiguous:
          extend = s.match && previous_match && have_piece;
          break;
      }
      if (extend)
        out.back() += text;
      else
        out.emplace_back(text);
      have_piece = true;
      previous_match = s.match;
    }
  }
};

namespace {

using Step = HfBpeTokenizer::PreTokenizerStep;

void parse_pre_tokenizer(const json& j, const std::string& where,
                         std::vector<std::unique_ptr<Step>>& steps) {
  if (j.is_null()) return;
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
    fail("{}: pre_tokenizer has no \"type\"", where);
  const std::string type = j["type"].get<std::string>();
  if (type == "Sequence") {
    if (!j.contains("pretokenizers") || !j["pretokenizers"].is_array())
      fail("{}: Sequence pre_tokenizer has no \"pretokenizers\" list", where);
    for (const json& inner : j["pretokenizers"]) parse_pre_tokenizer(inner, where, steps);
    return;
  }
  auto step = std::make_unique<Step>();
  if (type == "ByteLevel") {
    step->byte_level = true;
    step->add_prefix_space = get_bool(j, "add_prefix_space", true);
    if (get_bool(j, "use_regex", true)) step->regex.emplace(kGpt2Pattern, where);
  } else if (type == "Split") {
    const json& pattern = j.value("pattern", json());
    if (pattern.is_object() && pattern.contains("Regex") && pattern["Regex"].is_string())
      step->regex.emplace(pattern["Regex"].get<std::string>(), where);
    else if (pattern.is_object() && pattern.contains("String") && pattern["String"].is_string())
      step->regex.emplace(pattern["String"].get<std::string>(), where, /*literal=*/true);
    else
      fail("{}: Split pre_tokenizer needs a {{\"Regex\": ...}} or {{\"String\": ...}} pattern",
           where);
    const std::string behavior = j.value("behavior", std::string("Isolated"));
    if (behavior == "Isolated")
      step->behavior = SplitBehavior::Isolated;
    else if (behavior == "Removed")
      step->behavior = SplitBehavior::Removed;
    else if (behavior == "MergedWithPrevious")
      step->behavior = SplitBehavior::MergedWithPrevious;
    else if (behavior == "MergedWithNext")
      step->behavior = SplitBehavior::MergedWithNext;
    else if (behavior == "Contiguous")
      step->behavior = SplitBehavior::Contiguous;
    else
      fail("{}: Split pre_tokenizer behavior {} is not supported", where, printable(behavior));
    step->invert = get_bool(j, "invert", false);
  } else {
    fail(
        "{}: pre_tokenizer {} is not supported (byte-level BPE uses Split and ByteLevel; for a "
        "sentencepiece-style tokenizer load its tokenizer.model instead)",
        where, printable(type));
  }
  steps.push_back(std::move(step));
}

void check_normalizer(const json& j, const std::string& where) {
  if (j.is_null()) return;
  const std::string type = j.is_object() ? j.value("type", std::string()) : std::string();
  if (type == "NFC") return;  // input is taken to be NFC already (documented limitation)
  if (type == "Sequence" && j.contains("normalizers") && j["normalizers"].is_array()) {
    for (const json& inner : j["normalizers"]) check_normalizer(inner, where);
    return;
  }
  fail("{}: normalizer {} is not supported (byte-level BPE tokenizers use none or NFC)", where,
       type.empty() ? j.dump() : printable(type));
}

// The special token a TemplateProcessing post-processor puts before the sequence (Llama-3's
// "<|begin_of_text|>"), searched through Sequence post-processors.
std::optional<int> template_bos(const json& j) {
  if (!j.is_object()) return std::nullopt;
  const std::string type = j.value("type", std::string());
  if (type == "Sequence" && j.contains("processors") && j["processors"].is_array()) {
    for (const json& inner : j["processors"])
      if (auto id = template_bos(inner)) return id;
    return std::nullopt;
  }
  if (type != "TemplateProcessing" || !j.contains("single") || !j["single"].is_array() ||
      j["single"].empty())
    return std::nullopt;
  const json& first = j["single"][0];
  if (!first.is_object() || !first.contains("SpecialToken") || !first["SpecialToken"].is_object())
    return std::nullopt;
  const json& name = first["SpecialToken"].value("id", json());
  if (!name.is_string() || !j.contains("special_tokens") || !j["special_tokens"].is_object())
    return std::nullopt;
  const json& entry = j["special_tokens"].value(name.get<std::string>(), json());
  if (!entry.is_object() || !entry.contains("ids") || !entry["ids"].is_array() ||
      entry["ids"].empty() || !entry["ids"][0].is_number_integer())
    return std::nullopt;
  return entry["ids"][0].get<int>();
}

}  // namespace

HfBpeTokenizer::~HfBpeTokenizer() = default;

HfBpeTokenizer::HfBpeTokenizer(std::filesystem::path path, std::string_view json_text,
                               const SpecialTokens& specials)
    : path_(std::move(path)) {
  try {
    load(json_text, specials);
  } catch (const json::exception& e) {  // a field of an unexpected JSON type
    fail("{}: malformed tokenizer.json: {}", path_.string(), e.what());
  }
}

void HfBpeTokenizer::load(std::string_view json_text, const SpecialTokens& specials) {
  const std::string where = path_.string();
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::parse_error& e) {
    fail("{}: not valid JSON (error at byte {})", where, e.byte);
  }
  if (!root.is_object() || !root.contains("model") || !root["model"].is_object())
    fail("{}: not a tokenizer.json (no \"model\" object)", where);
  const json& model = root["model"];
  const std::string model_type = model.value("type", std::string("BPE"));
  if (model_type != "BPE")
    fail("{}: tokenizer model type {} is not supported (only byte-level BPE)", where,
         printable(model_type));
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const json& v = model.value(key, json());
    if (!v.is_null() && !(v.is_string() && v.get<std::string>().empty()))
      fail("{}: BPE option {} is not supported", where, key);
  }
  ignore_merges_ = get_bool(model, "ignore_merges", false);

  // Vocabulary. Ids index a table, so a hostile file must not make it huge: real files number
  // their tokens densely.
  if (!model.contains("vocab") || !model["vocab"].is_object())
    fail("{}: BPE model has no \"vocab\" object", where);
  const json& added = root.value("added_tokens", json::array());
  if (!added.is_array()) fail("{}: \"added_tokens\" is not a list", where);
  const int64_t id_limit = int64_t(model["vocab"].size() + added.size()) + 65536;
  for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() >= id_limit)
      fail("{}: vocab entry {} has an invalid id {} (ids must be dense, below {})", where,
           printable(it.key()), it->dump(), id_limit);
    const auto id = it->get<int32_t>();
    vocab_.emplace(it.key(), id);
    if (size_t(id) >= id_to_token_.size()) id_to_token_.resize(size_t(id) + 1);
    id_to_token_[size_t(id)] = it.key();
  }
  const auto lookup = [&](const std::string& token) -> int32_t {
    const auto it = vocab_.find(token);
    return it == vocab_.end() ? -1 : it->second;
  };

  // Merges: "a b" strings (older files) or ["a", "b"] arrays (tokenizers >= 0.20).
  const json& merges = model.value("merges", json::array());
  if (!merges.is_array()) fail("{}: BPE \"merges\" is not a list", where);
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const json& m = merges[rank];
    std::string left, right;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
        fail("{}: merge {} (\"{}\") is not two tokens separated by one space", where, rank,
             printable(s));
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      left = m[0].get<std::string>();
      right = m[1].get<std::string>();
    } else {
      fail("{}: merge {} is neither \"a b\" nor [\"a\", \"b\"]", where, rank);
    }
    const int32_t a = lookup(left), b = lookup(right), merged = lookup(left + right);
    if (a < 0 || b < 0 || merged < 0)
      fail("{}: merge {} ({} + {}) uses or makes a token not in the vocabulary", where, rank,
           printable(left), printable(right));
    merges_.emplace(pair_key(a, b), std::make_pair(int32_t(rank), merged));  // first rank wins
  }
  if (const json& unk = model.value("unk_token", json()); unk.is_string())
    unk_ = lookup(unk.get<std::string>());

  // Added tokens.
  for (const json& t : added) {
    if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() ||
        !t.contains("content") || !t["content"].is_string())
      fail("{}: added token without an integer \"id\" and a \"content\" string", where);
    const int64_t id = t["id"].get<int64_t>();
    if (t["content"].get<std::string>().empty() || id < 0 || id >= id_limit)
      fail("{}: added token {} is invalid", where, t.dump());
    AddedToken token{t["content"].get<std::string>(), int32_t(id), get_bool(t, "special", false)};
    if (get_bool(t, "lstrip", false) || get_bool(t, "rstrip", false) ||
        get_bool(t, "single_word", false))
      fail("{}: added token {} uses lstrip/rstrip/single_word, which bitfold does not support",
           where, printable(token.content));
    if (size_t(token.id) >= id_to_token_.size()) id_to_token_.resize(size_t(token.id) + 1);
    added_.push_back(std::move(token));
  }
  std::stable_sort(added_.begin(), added_.end(), [](const AddedToken& x, const AddedToken& y) {
    return x.content.size() > y.content.size();
  });
  for (size_t i = 0; i < added_.size(); ++i) {
    added_by_first_byte_[static_cast<unsigned char>(added_[i].content[0])].push_back(i);
    added_by_id_.emplace(added_[i].id, i);
  }

  // Pipeline.
  check_normalizer(root.value("normalizer", json()), where);
  parse_pre_tokenizer(root.value("pre_tokenizer", json()), where, steps_);
  if (std::none_of(steps_.begin(), steps_.end(), [](const auto& s) { return s->byte_level; }))
    fail(
        "{}: not a byte-level BPE tokenizer (no ByteLevel pre-tokenizer); for a sentencepiece-"
        "style tokenizer load its tokenizer.model instead",
        where);
  if (const json& decoder = root.value("decoder", json()); !decoder.is_null()) {
    const std::string type = decoder.is_object() ? decoder.value("type", std::string()) : "";
    if (type != "ByteLevel")
      fail("{}: decoder {} is not supported (byte-level BPE decodes with ByteLevel)", where,
           type.empty() ? decoder.dump() : printable(type));
  }

  const auto by_name = [&](std::initializer_list<std::string_view> names) -> int {
    for (std::string_view n : names)
      if (auto id = token_id(n)) return *id;
    return -1;
  };
  const auto choose = [&](const SpecialTokens::Choice& c, const char* what, int fallback) -> int {
    if (c.none) return -1;
    if (c.token) {
      if (auto id = token_id(*c.token)) return *id;
      fail("{}: tokenizer_config.json names {} {}, which is not a token", where, what,
           printable(*c.token));
    }
    if (c.id) return *c.id;
    return fallback;
  };
  bos_ = choose(specials.bos, "bos_token",
                template_bos(root.value("post_processor", json()))
                    .value_or(by_name({"<|begin_of_text|>", "<s>", "<|startoftext|>"})));
  eos_ = choose(specials.eos, "eos_token", by_name({"<|end_of_text|>", "</s>", "<|endoftext|>"}));
}

SpecialTokens read_special_tokens(const std::filesystem::path& tokenizer_json) {
  SpecialTokens out;
  const auto dir = tokenizer_json.parent_path();
  std::error_code ec;
  const auto read = [&](const std::filesystem::path& p) -> json {
    if (!std::filesystem::is_regular_file(p, ec)) return json();
    try {
      return json::parse(read_text_file(p));
    } catch (const json::parse_error& e) {
      fail("{}: not valid JSON (error at byte {})", p.string(), e.byte);
    }
  };
  if (const json cfg = read(dir / "tokenizer_config.json"); cfg.is_object()) {
    for (auto [key, choice] :
         {std::pair{"bos_token", &out.bos}, std::pair{"eos_token", &out.eos}}) {
      if (!cfg.contains(key)) continue;
      const json& v = cfg[key];
      if (v.is_null())
        choice->none = true;
      else if (v.is_string())
        choice->token = v.get<std::string>();
      else if (v.is_object() && v.contains("content") && v["content"].is_string())
        choice->token = v["content"].get<std::string>();
    }
  }
  if (const json cfg = read(dir / "config.json"); cfg.is_object()) {
    for (auto [key, choice] :
         {std::pair{"bos_token_id", &out.bos}, std::pair{"eos_token_id", &out.eos}}) {
      if (!cfg.contains(key)) continue;
      const json& v = cfg[key];
      if (v.is_number_integer())
        choice->id = v.get<int>();
      else if (v.is_array() && !v.empty() && v[0].is_number_integer())
        choice->id = v[0].get<int>();
    }
  }
  return out;
}

std::optional<int> HfBpeTokenizer::token_id(std::string_view content) const {
  for (const AddedToken& t : added_)
    if (t.content == content) return t.id;
  if (const auto it = vocab_.find(std::string(content)); it != vocab_.end()) return it->second;
  return std::nullopt;
}

std::vector<int32_t> HfBpeTokenizer::encode(std::string_view text) const {
  require_utf8(text, path_.string());
  std::vector<int32_t> out;
  size_t segment_start = 0, pos = 0;
  while (pos < text.size()) {
    const AddedToken* match = nullptr;
    for (const size_t i : added_by_first_byte_[static_cast<unsigned char>(text[pos])]) {
      if (text.substr(pos, added_[i].content.size()) == added_[i].content) {
        match = &added_[i];  // longest first
        break;
      }
    }
    if (!match) {
      ++pos;
      continue;
    }
    encode_segment(text.substr(segment_start, pos - segment_start), out);
    out.push_back(match->id);
    pos += match->content.size();
    segment_start = pos;
  }
  encode_segment(text.substr(segment_start), out);
  return out;
}

void HfBpeTokenizer::encode_segment(std::string_view segment, std::vector<int32_t>& out) const {
  if (segment.empty()) return;
  std::vector<std::string> pieces{std::string(segment)}, next;
  for (const auto& step : steps_) {
    next.clear();
    for (const std::string& piece : pieces) step->apply(piece, next);
    pieces.swap(next);
  }
  for (const std::string& piece : pieces) encode_piece(piece, out);
}

void HfBpeTokenizer::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  if (ignore_merges_) {
    if (const auto it = vocab_.find(std::string(piece)); it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  std::vector<int32_t> symbols;
  size_t i = 0;
  while (i < piece.size()) {
    const size_t len = utf8_sequence_length(static_cast<unsigned char>(piece[i]));
    const std::string symbol(piece.substr(i, len));
    i += len;
    if (const auto it = vocab_.find(symbol); it != vocab_.end())
      symbols.push_back(it->second);
    else if (unk_ >= 0)
      symbols.push_back(unk_);
    else
      fail("{}: cannot encode: symbol \"{}\" is not in the vocabulary and there is no unk_token",
           path_.string(), printable(symbol));
  }
  const auto merged =
      bpe_merge(std::move(symbols), [&](int32_t a, int32_t b) -> std::optional<MergeCandidate> {
        const auto it = merges_.find(pair_key(a, b));
        if (it == merges_.end()) return std::nullopt;
        return MergeCandidate{double(it->second.first), it->second.second};
      });
  out.insert(out.end(), merged.begin(), merged.end());
}

std::string HfBpeTokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  for (const int32_t id : ids) {
    if (id < 0 || id >= vocab_size())
      fail("{}: cannot decode token id {}: vocabulary has {} tokens", path_.string(), id,
           vocab_size());
    if (const auto it = added_by_id_.find(id); it != added_by_id_.end()) {
      const AddedToken& t = added_[it->second];
      if (!t.special) out += byte_level_to_bytes(t.content);
      continue;
    }
    out += byte_level_to_bytes(id_to_token_[size_t(id)]);
  }
  return out;
}

}  // namespace bitfold::text
