#pragma once
// A dense, contiguous, row-major tensor on the CPU or a CUDA device. Storage is shared (views and
// copies of the handle alias the same bytes); it may be owned or borrowed from a memory-mapped
// file. Deliberately small: layout algebra lives in the ops that need it.
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"

namespace bitfold {

enum class Device : uint8_t { CPU, CUDA };

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& shape);  // "[32000, 288]"
int64_t shape_numel(const Shape& shape);

class Tensor {
 public:
  Tensor() = default;

  static Tensor empty(Shape shape, DType dtype, Device device = Device::CPU);
  static Tensor zeros(Shape shape, DType dtype, Device device = Device::CPU);
  // Wraps `data` without copying; `owner` keeps it alive (e.g. a MappedFile).
  static Tensor borrow(const void* data, Shape shape, DType dtype, std::shared_ptr<const void> owner,
                       Device device = Device::CPU);
  static Tensor from_floats(const std::vector<float>& values, Shape shape);

  bool defined() const { return static_cast<bool>(data_); }
  const Shape& shape() const { return shape_; }
  int rank() const { return int(shape_.size()); }
  int64_t dim(int i) const;  // negative counts from the end
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  bool is_cpu() const { return device_ == Device::CPU; }

  void* raw() { return data_.get(); }
  const void* raw() const { return data_.get(); }
  template <class T> T* data() {
    check_element_size(sizeof(T));
    return static_cast<T*>(raw());
  }
  template <class T> const T* data() const {
    check_element_size(sizeof(T));
    return static_cast<const T*>(raw());
  }
  // F32 access with a dtype check: the common case in the reference paths.
  float* f32();
  const float* f32() const;

  // Same storage, new shape with the same number of elements.
  Tensor view(Shape shape) const;
  // Rows [begin, end) along dimension 0, sharing storage.
  Tensor slice_rows(int64_t begin, int64_t end) const;
  Tensor clone() const;
  Tensor to(DType dtype) const;    // floating dtypes only, CPU only
  Tensor to(Device device) const;  // copies between host and device
  void copy_from(const Tensor& src);  // same shape and dtype; any devices
  void fill_zero();

 private:
  void check_element_size(size_t size) const;

  std::shared_ptr<std::byte> data_;  // points at the first element (offset already applied)
  Shape shape_;
  DType dtype_ = DType::F32;
  Device device_ = Device::CPU;
};

}  // namespace bitfold
