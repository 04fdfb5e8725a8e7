#pragma once
// The tensors of a Hugging Face model directory: one `model.safetensors`, or shards listed by
// `model.safetensors.index.json` ({"weight_map": {tensor name: shard file name}}). Every shard is
// opened and every listed tensor checked against its shard up front, so a missing shard or a
// tensor missing from its shard is an error at open time naming the file.
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "io/safetensors.h"

namespace bitfold::io {

class SafetensorsDirectory {
 public:
  static SafetensorsDirectory open(const std::filesystem::path& dir);

  const std::filesystem::path& dir() const { return dir_; }
  // All tensor names, sorted.
  std::vector<std::string> names() const;
  bool contains(std::string_view name) const;
  // The file holding `name`; throws "DIR: no tensor NAME in model.safetensors[.index.json]".
  const SafetensorsFile& file_of(std::string_view name) const;
  const SafetensorsEntry& entry(std::string_view name) const { return file_of(name).entry(name); }
  Tensor tensor(std::string_view name) const { return file_of(name).tensor(name); }
  const std::vector<SafetensorsFile>& files() const { return files_; }

 private:
  std::filesystem::path dir_;
  std::string source_;  // "model.safetensors" or "model.safetensors.index.json", for messages
  std::vector<SafetensorsFile> files_;
  std::map<std::string, size_t, std::less<>> owner_;  // tensor name -> files_ position
};

}  // namespace bitfold::io
