#pragma once
// Outputs appear whole or not at all: everything is written to a temporary beside the target and
// renamed over it on commit(). Destroying a writer that was not committed (an exception, a bad
// input discovered halfway) removes the temporary, so no half-written output is ever left.
#include <filesystem>
#include <fstream>
#include <string_view>

namespace bitfold {

class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path target);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  std::ostream& stream() { return out_; }
  void write(const void* data, size_t bytes);
  void commit();  // flush, fsync, rename; throws on any I/O failure

 private:
  std::filesystem::path target_, temp_;
  std::ofstream out_;
  bool committed_ = false;
};

// Writes `contents` to `path` atomically.
void write_file_atomically(const std::filesystem::path& path, std::string_view contents);

// A directory built under a temporary name and renamed into place on commit(). An existing
// target directory is replaced only on commit.
class AtomicDirectory {
 public:
  explicit AtomicDirectory(std::filesystem::path target);
  ~AtomicDirectory();
  AtomicDirectory(const AtomicDirectory&) = delete;
  AtomicDirectory& operator=(const AtomicDirectory&) = delete;

  const std::filesystem::path& path() const { return temp_; }  // write files in here
  void commit();

 private:
  std::filesystem::path target_, temp_;
  bool committed_ = false;
};

}  // namespace bitfold
