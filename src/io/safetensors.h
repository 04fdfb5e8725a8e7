#pragma once
// safetensors files (https://github.com/huggingface/safetensors): an 8-byte little-endian header
// length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end)}, "__metadata__":
// {str: str}}, then the data region the offsets index into.
//
// The reader memory-maps the file and checks every number in the header before using it (length
// within the file, offsets within the data, shape × dtype size == byte range), so a hostile or
// truncated file is a one-line bitfold::Error naming the file and tensor, never a bad read.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor.h"

namespace bitfold::io {

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  uint64_t begin = 0;  // byte range in the data region
  uint64_t end = 0;
};

class SafetensorsFile {
 public:
  // Maps and validates `path`; throws bitfold::Error "PATH: ..." on any problem.
  static SafetensorsFile open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return file_->path(); }
  // Tensor names in data order.
  std::vector<std::string> names() const;
  bool contains(std::string_view name) const;
  // Throws "PATH: no tensor NAME" when absent.
  const SafetensorsEntry& entry(std::string_view name) const;
  // A read-only view of the tensor's bytes that keeps the mapping alive (CPU). When the file
  // places the tensor at an address not aligned to its element size (writers that do not pad the
  // header), the view is an aligned copy instead. Do not write through it.
  Tensor tensor(std::string_view name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::shared_ptr<const MappedFile> file_;
  size_t data_start_ = 0;
  std::vector<SafetensorsEntry> entries_;             // sorted by begin
  std::map<std::string, size_t, std::less<>> index_;  // name -> entries_ position
  std::map<std::string, std::string> metadata_;
};

using NamedTensor = std::pair<std::string, Tensor>;

// Writes `tensors` (CPU or GPU; any dtype) in the given order, atomically (temporary + rename).
// The header is padded with spaces to a multiple of 8 bytes so every tensor starts aligned, as
// the Python `safetensors` library writes and expects.
void write_safetensors(const std::filesystem::path& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});
// The same, storing every tensor as `store_as` (a floating dtype; tensors must be floating too).
// Converts one tensor at a time while writing, so no second copy of the whole model is made.
void write_safetensors(const std::filesystem::path& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata, DType store_as);

}  // namespace bitfold::io
