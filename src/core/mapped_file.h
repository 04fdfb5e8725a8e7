#pragma once
// Read-only memory map of a whole file. Errors name the file.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace bitfold {

class MappedFile {
 public:
  // Throws bitfold::Error "PATH: cannot open: REASON" (missing, directory, unreadable).
  static std::shared_ptr<const MappedFile> open(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  MappedFile() = default;
  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

// Reads a whole (small) text file; errors name the file.
std::string read_text_file(const std::filesystem::path& path);

}  // namespace bitfold
