#include "io/safetensors_dir.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/printable.h"

namespace bitfold::io {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

// Shard names come from a file we do not trust: keep them inside the directory.
bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos;
}

}  // namespace

SafetensorsDirectory SafetensorsDirectory::open(const fs::path& dir) {
  SafetensorsDirectory d;
  d.dir_ = dir;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail("{}: not a directory", dir.string());

  if (fs::exists(dir / kSingleFile, ec)) {
    d.source_ = kSingleFile;
    d.files_.push_back(SafetensorsFile::open(dir / kSingleFile));
    for (const std::string& name : d.files_[0].names()) d.owner_[name] = 0;
    return d;
  }
  if (!fs::exists(dir / kIndexFile, ec))
    fail("{}: no {} or {} (not a Hugging Face safetensors model directory)", dir.string(),
         kSingleFile, kIndexFile);

  d.source_ = kIndexFile;
  const fs::path index_path = dir / kIndexFile;
  const std::string index_str = index_path.string();
  json index;
  try {
    index = json::parse(read_text_file(index_path));
  } catch (const json::parse_error& e) {
    fail("{}: not valid JSON (error at byte {})", index_str, e.byte);
  }
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
    fail("{}: missing \"weight_map\" object", index_str);

  std::map<std::string, size_t> shard_position;
  for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
    if (!it->is_string())
      fail("{}: weight_map entry {} is not a file name", index_str, printable(it.key()));
    const std::string shard = it->get<std::string>();
    if (!is_plain_file_name(shard))
      fail("{}: weight_map entry {} names {}, which is not a file in this directory", index_str,
           printable(it.key()), printable(shard));
    auto [pos, inserted] = shard_position.emplace(shard, d.files_.size());
    if (inserted) {
      const fs::path shard_path = dir / shard;
      if (!fs::exists(shard_path, ec))
        fail("{}: missing shard (listed in {} for tensor {})", printable(shard_path.string()),
             kIndexFile, printable(it.key()));
      d.files_.push_back(SafetensorsFile::open(shard_path));
    }
    const SafetensorsFile& file = d.files_[pos->second];
    if (!file.contains(it.key()))
      fail("{}: tensor {} is not in this shard, though {} says it is", file.path().string(),
           printable(it.key()), kIndexFile);
    d.owner_[it.key()] = pos->second;
  }
  return d;
}

std::vector<std::string> SafetensorsDirectory::names() const {
  std::vector<std::string> out;
  out.reserve(owner_.size());
  for (const auto& [name, _] : owner_) out.push_back(name);
  return out;
}

bool SafetensorsDirectory::contains(std::string_view name) const { return owner_.contains(name); }

const SafetensorsFile& SafetensorsDirectory::file_of(std::string_view name) const {
  const auto it = owner_.find(name);
  if (it == owner_.end()) fail("{}: no tensor {} in {}", dir_.string(), printable(name), source_);
  return files_[it->second];
}

}  // namespace bitfold::io
