#include "io/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/printable.h"
#include "io/checked_size.h"

namespace bitfold::io {

namespace {

using json = nlohmann::json;

// The reference implementation refuses larger headers; so do we (a garbage length would
// otherwise make us parse the whole file as JSON).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

uint64_t read_u64_le(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | uint64_t(p[i]);
  return v;
}

SafetensorsEntry parse_entry(const std::string& path, const std::string& name, const json& value,
                             uint64_t data_size) {
  const std::string shown = printable(name);
  if (!value.is_object()) fail("{}: tensor {}: header entry is not an object", path, shown);
  SafetensorsEntry e;
  e.name = name;

  const auto dtype_it = value.find("dtype");
  if (dtype_it == value.end() || !dtype_it->is_string())
    fail("{}: tensor {}: missing \"dtype\" string", path, shown);
  const std::string dtype = dtype_it->get<std::string>();
  if (!parse_dtype(dtype, e.dtype))
    fail(
        "{}: tensor {} has unknown or unsupported dtype {} (supported: F64 F32 F16 BF16 I64 I32 "
        "I16 I8 U8)",
        path, shown, printable(dtype));

  const auto shape_it = value.find("shape");
  if (shape_it == value.end() || !shape_it->is_array())
    fail("{}: tensor {}: missing \"shape\" array", path, shown);
  std::vector<uint64_t> dims;
  for (const json& d : *shape_it) {
    if (!d.is_number_unsigned() || d.get<uint64_t>() > uint64_t(INT64_MAX))
      fail("{}: tensor {}: shape {} has an entry that is not a non-negative 64-bit integer", path,
           shown, shape_it->dump());
    dims.push_back(d.get<uint64_t>());
  }

  const auto offsets_it = value.find("data_offsets");
  if (offsets_it == value.end() || !offsets_it->is_array() || offsets_it->size() != 2 ||
      !(*offsets_it)[0].is_number_unsigned() || !(*offsets_it)[1].is_number_unsigned())
    fail("{}: tensor {}: \"data_offsets\" must be two non-negative integers", path, shown);
  e.begin = (*offsets_it)[0].get<uint64_t>();
  e.end = (*offsets_it)[1].get<uint64_t>();
  if (e.begin > e.end)
    fail("{}: tensor {}: data_offsets [{}, {}] end before they begin", path, shown, e.begin, e.end);
  if (e.end > data_size)
    fail(
        "{}: tensor {}: data_offsets [{}, {}] run past the end of the data ({} bytes): file "
        "truncated or header corrupt",
        path, shown, e.begin, e.end, data_size);

  uint64_t bytes = 0;
  if (!checked_product(dims, bytes) || !checked_mul(bytes, dtype_size(e.dtype), bytes) ||
      bytes > uint64_t(INT64_MAX))
    fail("{}: tensor {}: shape {} is too large", path, shown, shape_it->dump());
  for (uint64_t d : dims) e.shape.push_back(int64_t(d));
  if (bytes != e.end - e.begin)
    fail("{}: tensor {}: shape {} of {} needs {} bytes but data_offsets [{}, {}] hold {}", path,
         shown, shape_str(e.shape), dtype, bytes, e.begin, e.end, e.end - e.begin);
  return e;
}

}  // namespace

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  SafetensorsFile f;
  f.file_ = MappedFile::open(path);
  const std::string p = path.string();
  const size_t size = f.file_->size();
  if (size == 0) fail("{}: empty file, expected safetensors", p);
  if (size < 8)
    fail("{}: {} bytes is too small for a safetensors file (8-byte header length)", p, size);

  const uint64_t header_len = read_u64_le(f.file_->data());
  if (header_len > size - 8)
    fail("{}: header length {} exceeds the {} bytes after it: truncated or not a safetensors file",
         p, header_len, size - 8);
  if (header_len > kMaxHeaderBytes)
    fail("{}: header length {} exceeds the {}-byte limit: not a safetensors file", p, header_len,
         kMaxHeaderBytes);
  const char* header = reinterpret_cast<const char*>(f.file_->data() + 8);
  if (header_len < 2 || header[0] != '{')
    fail("{}: header does not start with '{{': not a safetensors file", p);

  json root;
  try {
    root = json::parse(header, header + header_len);
  } catch (const json::parse_error& e) {
    fail("{}: header is not valid JSON (error at byte {} of {})", p, e.byte, header_len);
  }
  if (!root.is_object()) fail("{}: header is not a JSON object", p);

  f.data_start_ = size_t(8 + header_len);
  const uint64_t data_size = size - f.data_start_;
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) fail("{}: __metadata__ is not an object", p);
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string())
          fail("{}: __metadata__ value of {} is not a string", p, printable(m.key()));
        f.metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    f.entries_.push_back(parse_entry(p, it.key(), *it, data_size));
  }
  std::sort(f.entries_.begin(), f.entries_.end(),
            [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
              return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
            });
  for (size_t i = 0; i < f.entries_.size(); ++i) f.index_[f.entries_[i].name] = i;
  return f;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& e : entries_) out.push_back(e.name);
  return out;
}

bool SafetensorsFile::contains(std::string_view name) const { return index_.contains(name); }

const SafetensorsEntry& SafetensorsFile::entry(std::string_view name) const {
  const auto it = index_.find(name);
  if (it == index_.end()) fail("{}: no tensor {}", path().string(), printable(name));
  return entries_[it->second];
}

Tensor SafetensorsFile::tensor(std::string_view name) const {
  const SafetensorsEntry& e = entry(name);
  const std::byte* data = file_->data() + data_start_ + e.begin;
  if (reinterpret_cast<uintptr_t>(data) % dtype_size(e.dtype) == 0)
    return Tensor::borrow(data, e.shape, e.dtype, std::shared_ptr<const void>(file_));
  Tensor aligned = Tensor::empty(e.shape, e.dtype);
  std::memcpy(aligned.raw(), data, e.end - e.begin);
  return aligned;
}

namespace {

bool is_floating(DType d) {
  return d == DType::F64 || d == DType::F32 || d == DType::F16 || d == DType::BF16;
}

void write_impl(const std::filesystem::path& path, const std::vector<NamedTensor>& tensors,
                const std::map<std::string, std::string>& metadata, const DType* store_as) {
  const std::string p = path.string();
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string_view> seen;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name.empty() || name == "__metadata__")
      fail("{}: invalid tensor name \"{}\"", p, printable(name));
    if (!seen.insert(name).second) fail("{}: tensor {} given twice", p, printable(name));
    if (!t.defined()) fail("{}: tensor {} is undefined", p, printable(name));
    const DType dtype = store_as ? *store_as : t.dtype();
    if (dtype != t.dtype() && (!is_floating(dtype) || !is_floating(t.dtype())))
      fail("{}: cannot store tensor {} of dtype {} as {}", p, printable(name),
           dtype_name(t.dtype()), dtype_name(dtype));
    const uint64_t bytes = uint64_t(t.numel()) * dtype_size(dtype);
    header[name] = {{"dtype", std::string(dtype_name(dtype))},
                    {"shape", t.shape()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const json::type_error&) {
    fail("{}: a tensor name or metadata string is not valid UTF-8", p);
  }
  text.append((8 - text.size() % 8) % 8, ' ');

  AtomicFile out(path);
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(uint64_t(text.size()) >> (8 * i));
  out.write(len, 8);
  out.write(text.data(), text.size());
  for (const auto& [name, t] : tensors) {
    Tensor host = t.to(Device::CPU);
    if (store_as) host = host.to(*store_as);
    out.write(host.raw(), host.nbytes());
  }
  out.commit();
}

}  // namespace

void write_safetensors(const std::filesystem::path& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  write_impl(path, tensors, metadata, nullptr);
}

void write_safetensors(const std::filesystem::path& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata, DType store_as) {
  write_impl(path, tensors, metadata, &store_as);
}

}  // namespace bitfold::io
