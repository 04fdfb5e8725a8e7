#include "core/tensor.h"

#include <cstdlib>
#include <cstring>
#include <fmt/ranges.h>

#ifdef BITFOLD_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace bitfold {

namespace {

#ifdef BITFOLD_HAVE_CUDA
void cuda_check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) fail("CUDA {} failed: {}", what, cudaGetErrorString(status));
}
#endif

std::shared_ptr<std::byte> allocate(size_t bytes, Device device) {
  const size_t size = bytes == 0 ? 1 : bytes;
  if (device == Device::CPU) {
    // 64-byte alignment: SIMD loads and OpenBLAS like it.
    void* p = std::aligned_alloc(64, (size + 63) / 64 * 64);
    if (!p) fail("out of host memory allocating {} bytes", bytes);
    return std::shared_ptr<std::byte>(static_cast<std::byte*>(p), [](std::byte* q) { std::free(q); });
  }
#ifdef BITFOLD_HAVE_CUDA
  void* p = nullptr;
  cuda_check(cudaMalloc(&p, size), "cudaMalloc");
  return std::shared_ptr<std::byte>(static_cast<std::byte*>(p), [](std::byte* q) { cudaFree(q); });
#else
  fail("this bitfold was built without CUDA: cannot allocate on the GPU");
#endif
}

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (dst_device == Device::CPU && src_device == Device::CPU) {
    std::memcpy(dst, src, bytes);
    return;
  }
#ifdef BITFOLD_HAVE_CUDA
  cuda_check(cudaMemcpy(dst, src, bytes, cudaMemcpyDefault), "cudaMemcpy");
#else
  (void)dst;
  (void)src;
  (void)bytes;
  fail("this bitfold was built without CUDA: cannot copy to or from the GPU");
#endif
}

}  // namespace

std::string shape_str(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Tensor Tensor::empty(Shape shape, DType dtype, Device device) {
  for (int64_t d : shape)
    if (d < 0) fail("negative dimension in shape {}", shape_str(shape));
  Tensor t;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.device_ = device;
  t.data_ = allocate(t.nbytes(), device);
  return t;
}

Tensor Tensor::zeros(Shape shape, DType dtype, Device device) {
  Tensor t = empty(std::move(shape), dtype, device);
  t.fill_zero();
  return t;
}

Tensor Tensor::borrow(const void* data, Shape shape, DType dtype, std::shared_ptr<const void> owner,
                      Device device) {
  Tensor t;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.device_ = device;
  // Aliasing constructor: shares `owner`'s lifetime, points at `data`.
  t.data_ = std::shared_ptr<std::byte>(std::move(owner),
                                       static_cast<std::byte*>(const_cast<void*>(data)));
  return t;
}

Tensor Tensor::from_floats(const std::vector<float>& values, Shape shape) {
  if (shape_numel(shape) != int64_t(values.size()))
    fail("{} values do not fill shape {}", values.size(), shape_str(shape));
  Tensor t = empty(std::move(shape), DType::F32);
  std::memcpy(t.raw(), values.data(), values.size() * sizeof(float));
  return t;
}

int64_t Tensor::dim(int i) const {
  const int r = rank();
  if (i < 0) i += r;
  BITFOLD_CHECK(i >= 0 && i < r, "dim {} of a rank-{} tensor", i, r);
  return shape_[size_t(i)];
}

float* Tensor::f32() {
  BITFOLD_CHECK(dtype_ == DType::F32, "expected an F32 tensor, got {}", dtype_name(dtype_));
  return static_cast<float*>(raw());
}

const float* Tensor::f32() const {
  BITFOLD_CHECK(dtype_ == DType::F32, "expected an F32 tensor, got {}", dtype_name(dtype_));
  return static_cast<const float*>(raw());
}

void Tensor::check_element_size(size_t size) const {
  BITFOLD_CHECK(size == dtype_size(dtype_), "element size {} does not match dtype {}", size,
                dtype_name(dtype_));
}

Tensor Tensor::view(Shape shape) const {
  BITFOLD_CHECK(shape_numel(shape) == numel(), "cannot view {} as {}", shape_str(shape_),
                shape_str(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::slice_rows(int64_t begin, int64_t end) const {
  BITFOLD_CHECK(rank() >= 1 && 0 <= begin && begin <= end && end <= shape_[0],
                "rows [{}, {}) of {}", begin, end, shape_str(shape_));
  const size_t row_bytes = shape_[0] == 0 ? 0 : nbytes() / size_t(shape_[0]);
  Tensor t = *this;
  t.shape_[0] = end - begin;
  t.data_ = std::shared_ptr<std::byte>(data_, data_.get() + size_t(begin) * row_bytes);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape_, dtype_, device_);
  t.copy_from(*this);
  return t;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return *this;
  BITFOLD_CHECK(is_cpu(), "dtype conversion of a GPU tensor");
  Tensor t = empty(shape_, dtype);
  if (dtype == DType::F32) {
    convert_to_f32(raw(), dtype_, t.f32(), size_t(numel()));
  } else {
    Tensor f = to(DType::F32);
    convert_from_f32(f.f32(), t.raw(), dtype, size_t(numel()));
  }
  return t;
}

Tensor Tensor::to(Device device) const {
  if (device == device_) return *this;
  Tensor t = empty(shape_, dtype_, device);
  t.copy_from(*this);
  return t;
}

void Tensor::copy_from(const Tensor& src) {
  BITFOLD_CHECK(src.shape_ == shape_ && src.dtype_ == dtype_, "copy {} {} into {} {}",
                dtype_name(src.dtype_), shape_str(src.shape_), dtype_name(dtype_), shape_str(shape_));
  copy_bytes(raw(), device_, src.raw(), src.device_, nbytes());
}

void Tensor::fill_zero() {
  if (device_ == Device::CPU) {
    std::memset(raw(), 0, nbytes());
    return;
  }
#ifdef BITFOLD_HAVE_CUDA
  cuda_check(cudaMemset(raw(), 0, nbytes()), "cudaMemset");
#endif
}

}  // namespace bitfold
