#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace bitfold {

namespace fs = std::filesystem;

namespace {

fs::path temporary_beside(const fs::path& target) {
  static std::atomic<unsigned> counter{0};
  fs::path name = target.filename();
  name += fmt::format(".tmp-{}-{}", ::getpid(), counter++);
  return target.parent_path() / name;
}

void fsync_path(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

void check_parent_exists(const fs::path& target) {
  const fs::path parent = target.parent_path();
  std::error_code ec;
  if (!parent.empty() && !fs::is_directory(parent, ec))
    fail("{}: cannot write: directory {} does not exist", target.string(), parent.string());
}

}  // namespace

AtomicFile::AtomicFile(fs::path target) : target_(std::move(target)), temp_(temporary_beside(target_)) {
  check_parent_exists(target_);
  std::error_code ec;
  if (fs::is_directory(target_, ec)) fail("{}: cannot write: is a directory", target_.string());
  out_.open(temp_, std::ios::binary | std::ios::trunc);
  if (!out_) fail("{}: cannot write: {}", target_.string(), std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    out_.close();
    std::error_code ec;
    fs::remove(temp_, ec);
  }
}

void AtomicFile::write(const void* data, size_t bytes) {
  out_.write(static_cast<const char*>(data), std::streamsize(bytes));
  if (!out_) fail("{}: write failed (disk full?)", target_.string());
}

void AtomicFile::commit() {
  out_.flush();
  const bool ok = bool(out_);
  out_.close();
  if (!ok || out_.fail()) fail("{}: write failed (disk full?)", target_.string());
  fsync_path(temp_);
  std::error_code ec;
  fs::rename(temp_, target_, ec);
  if (ec) fail("{}: cannot rename temporary into place: {}", target_.string(), ec.message());
  committed_ = true;
}

void write_file_atomically(const fs::path& path, std::string_view contents) {
  AtomicFile file(path);
  file.write(contents.data(), contents.size());
  file.commit();
}

AtomicDirectory::AtomicDirectory(fs::path target)
    : target_(std::move(target)), temp_(temporary_beside(target_)) {
  check_parent_exists(target_);
  std::error_code ec;
  if (fs::exists(target_, ec) && !fs::is_directory(target_, ec))
    fail("{}: cannot write a directory there: a file of that name exists", target_.string());
  if (!fs::create_directory(temp_, ec)) fail("{}: cannot create: {}", temp_.string(), ec.message());
}

AtomicDirectory::~AtomicDirectory() {
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(temp_, ec);
  }
}

void AtomicDirectory::commit() {
  std::error_code ec;
  fs::path old;
  if (fs::exists(target_, ec)) {  // move the old one aside first; rename cannot replace a full dir
    old = temporary_beside(target_);
    fs::rename(target_, old, ec);
    if (ec) fail("{}: cannot replace: {}", target_.string(), ec.message());
  }
  fs::rename(temp_, target_, ec);
  if (ec) {
    if (!old.empty()) fs::rename(old, target_, ec);
    fail("{}: cannot rename temporary into place: {}", target_.string(), ec.message());
  }
  committed_ = true;
  if (!old.empty()) fs::remove_all(old, ec);
}

}  // namespace bitfold
