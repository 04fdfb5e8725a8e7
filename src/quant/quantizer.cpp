#include "quant/quantizer.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/parallel.h"
#include "quant/float_grid.h"
#include "quant/int_codec.h"

namespace bitfold::quant {

namespace {

// Where the steps of a granularity live in a [rows, K] matrix.
enum class Layout { One, Row, RowGroup, Column, ColumnGroup };

Layout layout_of(Granularity granularity) {
  switch (granularity) {
    case Granularity::Tensor: return Layout::One;
    case Granularity::OutputChannel: case Granularity::Token: return Layout::Row;
    case Granularity::Group: return Layout::RowGroup;
    case Granularity::InputChannel: return Layout::Column;
    case Granularity::Head: return Layout::ColumnGroup;
  }
  return Layout::One;
}

struct Matrix {
  int64_t rows = 0;
  int64_t cols = 0;
};

// A tensor of any rank as [rows, K]; a scalar is [1, 1].
Matrix as_matrix(const Tensor& x) {
  if (x.rank() == 0) return {1, 1};
  const int64_t cols = x.dim(-1);
  return {cols == 0 ? 0 : x.numel() / cols, cols};
}

void check_float_input(const Tensor& x) {
  BITFOLD_CHECK(x.is_cpu() && x.dtype() == DType::F32, "quantizers take CPU F32 tensors, got {} {}",
                dtype_name(x.dtype()), x.is_cpu() ? "on the CPU" : "on the GPU");
}

// Min and max of a set of elements, plus whether all of them were finite.
struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  bool finite = true;

  void add(const Range& other) {
    lo = std::min(lo, other.lo);
    hi = std::max(hi, other.hi);
    finite = finite && other.finite;
  }
};

Range scan(const float* x, int64_t n) {
  float lo = std::numeric_limits<float>::infinity();
  float hi = -std::numeric_limits<float>::infinity();
  bool finite = true;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
    finite = finite && std::fabs(v) <= FLT_MAX;  // false for inf and NaN
  }
  Range r;
  if (n > 0) r = {lo, hi, finite};
  return r;
}

// The scale rule of one step (see quantizer.h).
struct StepFit {
  float step = 1;
  int32_t zero_point = 0;
};

StepFit fit_step(const FormatTraits& traits, const QuantSpec& spec, const Range& range) {
  const double lo = range.lo <= range.hi ? range.lo : 0.0;  // an empty range behaves as all-zero
  const double hi = range.lo <= range.hi ? range.hi : 0.0;
  double low = 0, step = 0;
  if (traits.zero_point) {
    low = spec.clip * std::min(lo, 0.0);
    step = (spec.clip * std::max(hi, 0.0) - low) / traits.scale_divisor;
  } else {
    step = spec.clip * std::max(std::fabs(lo), std::fabs(hi)) / traits.scale_divisor;
  }
  if (step == 0) step = 1;  // all-zero range
  if (spec.pow2_scale) {
    int exponent = 0;
    const double fraction = std::frexp(step, &exponent);  // step = fraction · 2^exponent
    if (fraction != 0.5) step = std::ldexp(1.0, exponent);
  }
  StepFit fit;
  fit.step = float(step);
  if (!(fit.step >= FLT_MIN)) fit.step = FLT_MIN;  // underflow: a tiny range, never 0 or NaN
  if (std::isinf(fit.step))
    fail("cannot fit {} steps: a step of {} overflows float", describe(spec), step);
  if (traits.zero_point) {
    const double z = traits.qmin + round_half_even(-low / double(fit.step));
    fit.zero_point = int32_t(std::clamp(z, double(traits.qmin), double(traits.qmax)));
  }
  return fit;
}

QuantParams empty_params(const QuantSpec& spec, int64_t rows, int64_t cols) {
  QuantParams p;
  p.spec = spec;
  switch (layout_of(spec.granularity)) {
    case Layout::One: break;
    case Layout::Row: p.rows = rows; break;
    case Layout::RowGroup: p.rows = rows; p.cols = cols; break;
    case Layout::Column: case Layout::ColumnGroup: p.cols = cols; break;
  }
  return p;
}

void store(QuantParams& p, const FormatTraits& traits, const std::vector<Range>& ranges) {
  p.scale.resize(ranges.size());
  if (traits.zero_point) p.zero_point.resize(ranges.size());
  for (size_t i = 0; i < ranges.size(); ++i) {
    const StepFit fit = fit_step(traits, p.spec, ranges[i]);
    p.scale[i] = fit.step;
    if (traits.zero_point) p.zero_point[i] = fit.zero_point;
  }
}

// Column min/max over all rows; columns split across threads.
std::vector<Range> column_ranges(const float* x, int64_t rows, int64_t cols) {
  std::vector<Range> ranges(static_cast<size_t>(cols));
  constexpr int64_t kChunk = 256;
  parallel_for((cols + kChunk - 1) / kChunk, [&](int64_t chunk) {
    const int64_t begin = chunk * kChunk, end = std::min(cols, begin + kChunk);
    for (int64_t r = 0; r < rows; ++r) {
      const float* row = x + r * cols;
      for (int64_t k = begin; k < end; ++k) {
        Range& c = ranges[size_t(k)];
        const float v = row[k];
        c.lo = v < c.lo ? v : c.lo;
        c.hi = v > c.hi ? v : c.hi;
        c.finite = c.finite && std::fabs(v) <= FLT_MAX;
      }
    }
  });
  return ranges;
}

std::vector<Range> merge_groups(const std::vector<Range>& columns, int64_t group) {
  std::vector<Range> merged(columns.size() / size_t(group));
  for (size_t k = 0; k < columns.size(); ++k) merged[k / size_t(group)].add(columns[k]);
  return merged;
}

// Calls fn(begin, end, first_step_index, per_element) for the runs of one row that share a step
// (per_element: the run has one step per column, starting at first_step_index).
template <class Fn>
void for_each_run(const QuantParams& p, int64_t row, int64_t cols, Fn&& fn) {
  switch (layout_of(p.spec.granularity)) {
    case Layout::One: fn(int64_t(0), cols, int64_t(0), false); return;
    case Layout::Row: fn(int64_t(0), cols, row, false); return;
    case Layout::Column: fn(int64_t(0), cols, int64_t(0), true); return;
    case Layout::RowGroup: {
      const int64_t g = p.spec.group_size, groups = cols / g;
      for (int64_t j = 0; j < groups; ++j) fn(j * g, (j + 1) * g, row * groups + j, false);
      return;
    }
    case Layout::ColumnGroup: {
      const int64_t g = p.spec.group_size;
      for (int64_t j = 0; j < cols / g; ++j) fn(j * g, (j + 1) * g, j, false);
      return;
    }
  }
}

void check_params_fit(const QuantParams& p, const Matrix& m) {
  BITFOLD_CHECK(p.spec.quantized(), "{} has no codes (not quantized)", describe(p.spec));
  bool ok = true;
  switch (layout_of(p.spec.granularity)) {
    case Layout::One: ok = p.scale.size() == 1; break;
    case Layout::Row: ok = p.rows == m.rows; break;
    case Layout::RowGroup: ok = p.rows == m.rows && p.cols == m.cols; break;
    case Layout::Column: case Layout::ColumnGroup: ok = p.cols == m.cols; break;
  }
  if (!ok)
    fail("{} steps fitted for [rows, K] = [{}, {}] do not fit a tensor of [{}, {}]",
         describe(p.spec), p.rows, p.cols, m.rows, m.cols);
}

// The float grid seen through the integer codec's interface.
struct FloatCodec {
  const FloatGrid* grid;
  int encode(float x, float step, int32_t) const { return grid->encode(x, step); }
  float decode(int code, float step, int32_t) const { return grid->decode(uint8_t(code), step); }
  bool valid(int code) const { return grid->valid_code(uint8_t(code)); }
};

// Calls fn(codec) with the codec of the format: one dispatch per call, none per element.
template <class Fn>
void with_codec(const Format& format, Fn&& fn) {
  if (format.kind == FormatKind::Int) {
    fn(IntCodec(format_traits(format)));
  } else {
    const FloatGrid grid(format);
    fn(FloatCodec{&grid});
  }
}

// Applies op(x_index, step, zero_point) to every element of a [rows, K] matrix, row-parallel.
template <class Op>
void for_each_element(const QuantParams& p, const Matrix& m, Op&& op) {
  const float* steps = p.scale.data();
  const int32_t* zeros = p.zero_point.empty() ? nullptr : p.zero_point.data();
  parallel_for(m.rows, [&](int64_t row) {
    for_each_run(p, row, m.cols, [&](int64_t begin, int64_t end, int64_t first, bool per_element) {
      const int64_t base = row * m.cols;
      if (per_element) {
        for (int64_t k = begin; k < end; ++k)
          op(base + k, steps[first + k - begin], zeros ? zeros[first + k - begin] : 0);
      } else {
        const float step = steps[first];
        const int32_t zero = zeros ? zeros[first] : 0;
        for (int64_t k = begin; k < end; ++k) op(base + k, step, zero);
      }
    });
  });
}

}  // namespace

ChannelStats ChannelStats::from_absmax(const std::vector<float>& absmax) {
  ChannelStats stats;
  stats.max = absmax;
  stats.min.resize(absmax.size());
  for (size_t j = 0; j < absmax.size(); ++j) stats.min[j] = -absmax[j];
  return stats;
}

int64_t QuantParams::index(int64_t row, int64_t col) const {
  switch (layout_of(spec.granularity)) {
    case Layout::One: return 0;
    case Layout::Row: return row;
    case Layout::RowGroup: return row * (cols / spec.group_size) + col / spec.group_size;
    case Layout::Column: return col;
    case Layout::ColumnGroup: return col / spec.group_size;
  }
  return 0;
}

DType code_dtype(const Format& format) {
  return format_traits(format).signed_codes ? DType::I8 : DType::U8;
}

QuantParams fit_params(const QuantSpec& spec, const Tensor& x) {
  spec.validate("quantizer");
  check_float_input(x);
  const Matrix m = as_matrix(x);
  QuantParams p = empty_params(spec, m.rows, m.cols);
  if (!spec.quantized()) return p;
  spec.check_divides(m.cols, "cannot fit steps");
  const FormatTraits traits = format_traits(spec.format);
  const float* data = x.f32();
  const Layout layout = layout_of(spec.granularity);

  std::vector<Range> ranges;
  if (layout == Layout::Column || layout == Layout::ColumnGroup) {
    ranges = column_ranges(data, m.rows, m.cols);
    for (int64_t k = 0; k < m.cols; ++k)
      if (!ranges[size_t(k)].finite)
        fail("cannot fit {} steps: column {} holds a non-finite value (inf or NaN)", describe(spec), k);
    if (layout == Layout::ColumnGroup) ranges = merge_groups(ranges, spec.group_size);
  } else {
    const int64_t per_row = layout == Layout::RowGroup ? m.cols / spec.group_size : 1;
    const int64_t run = layout == Layout::RowGroup ? spec.group_size : m.cols;
    std::vector<Range> row_ranges(size_t(m.rows * per_row));
    parallel_for(m.rows, [&](int64_t r) {
      for (int64_t j = 0; j < per_row; ++j)
        row_ranges[size_t(r * per_row + j)] = scan(data + r * m.cols + j * run, run);
    });
    for (int64_t i = 0; i < int64_t(row_ranges.size()); ++i)
      if (!row_ranges[size_t(i)].finite)
        fail("cannot fit {} steps: row {} holds a non-finite value (inf or NaN)", describe(spec),
             i / per_row);
    if (layout == Layout::One) {
      Range all;
      for (const Range& r : row_ranges) all.add(r);
      ranges.assign(1, all);  // not `= {all}`: GCC 13 reports a false -Warray-bounds there
    } else {
      ranges = std::move(row_ranges);
    }
  }
  store(p, traits, ranges);
  return p;
}

QuantParams fit_params(const QuantSpec& spec, const ChannelStats& stats) {
  spec.validate("quantizer");
  const Layout layout = layout_of(spec.granularity);
  if (layout == Layout::Row || layout == Layout::RowGroup)
    fail("{} steps come from the tensor being quantized, not from channel statistics",
         describe(spec));
  if (stats.min.size() != stats.max.size())
    fail("channel statistics hold {} minima but {} maxima", stats.min.size(), stats.max.size());
  const int64_t channels = stats.channels();
  QuantParams p = empty_params(spec, 0, channels);
  if (!spec.quantized()) return p;
  spec.check_divides(channels, "cannot fit steps");
  std::vector<Range> ranges(static_cast<size_t>(channels));
  for (int64_t j = 0; j < channels; ++j) {
    const double lo = stats.min[size_t(j)], hi = stats.max[size_t(j)];
    if (!std::isfinite(lo) || !std::isfinite(hi))
      fail("cannot fit {} steps: channel {} has a non-finite min/max ({}, {})", describe(spec), j,
           lo, hi);
    if (lo > hi)
      fail("cannot fit {} steps: channel {} has min {} above max {}", describe(spec), j, lo, hi);
    ranges[size_t(j)] = {lo, hi, true};
  }
  if (layout == Layout::ColumnGroup) ranges = merge_groups(ranges, spec.group_size);
  if (layout == Layout::One) {
    Range all;
    for (const Range& r : ranges) all.add(r);
    ranges.assign(1, all);  // not `= {all}`: GCC 13 reports a false -Warray-bounds there
  }
  store(p, format_traits(spec.format), ranges);
  return p;
}

Tensor quantize(const Tensor& x, const QuantParams& p) {
  check_float_input(x);
  const Matrix m = as_matrix(x);
  check_params_fit(p, m);
  Tensor codes = Tensor::empty(x.shape(), code_dtype(p.spec.format));
  const float* in = x.f32();
  with_codec(p.spec.format, [&](const auto& codec) {
    auto encode_into = [&](auto* out) {
      for_each_element(p, m, [&](int64_t i, float step, int32_t zero) {
        out[i] = static_cast<std::remove_pointer_t<decltype(out)>>(codec.encode(in[i], step, zero));
      });
    };
    if (codes.dtype() == DType::I8) encode_into(codes.data<int8_t>());
    else encode_into(codes.data<uint8_t>());
  });
  return codes;
}

Tensor dequantize(const Tensor& codes, const QuantParams& p) {
  BITFOLD_CHECK(codes.is_cpu() && codes.dtype() == code_dtype(p.spec.format),
                "{} codes are {}, got {}", describe(p.spec), dtype_name(code_dtype(p.spec.format)),
                dtype_name(codes.dtype()));
  const Matrix m = as_matrix(codes);
  check_params_fit(p, m);
  Tensor y = Tensor::empty(codes.shape(), DType::F32);
  float* out = y.f32();
  // First invalid code per row (no throwing inside the parallel loop).
  std::vector<int64_t> bad(size_t(m.rows), -1);
  with_codec(p.spec.format, [&](const auto& codec) {
    auto decode_from = [&](const auto* in) {
      for_each_element(p, m, [&](int64_t i, float step, int32_t zero) {
        const int code = in[i];
        if (!codec.valid(code) && bad[size_t(i / m.cols)] < 0) bad[size_t(i / m.cols)] = i;
        out[i] = codec.decode(code, step, zero);
      });
    };
    if (codes.dtype() == DType::I8) decode_from(codes.data<int8_t>());
    else decode_from(codes.data<uint8_t>());
  });
  for (int64_t row = 0; row < m.rows; ++row) {
    const int64_t i = bad[size_t(row)];
    if (i < 0) continue;
    const int code = codes.dtype() == DType::I8 ? int(codes.data<int8_t>()[i])
                                                 : int(codes.data<uint8_t>()[i]);
    fail("code {} at row {}, column {} is not a valid {} code", code, row, i % m.cols,
         format_name(p.spec.format));
  }
  return y;
}

Tensor fake_quantize(const Tensor& x, const QuantParams& p) {
  check_float_input(x);
  if (!p.spec.quantized()) return x;
  const Matrix m = as_matrix(x);
  check_params_fit(p, m);
  Tensor y = Tensor::empty(x.shape(), DType::F32);
  const float* in = x.f32();
  float* out = y.f32();
  with_codec(p.spec.format, [&](const auto& codec) {
    for_each_element(p, m, [&](int64_t i, float step, int32_t zero) {
      out[i] = codec.decode(codec.encode(in[i], step, zero), step, zero);
    });
  });
  return y;
}

Tensor fake_quantize(const Tensor& x, const QuantSpec& spec) {
  if (!spec.quantized()) {
    check_float_input(x);
    return x;
  }
  return fake_quantize(x, fit_params(spec, x));
}

}  // namespace bitfold::quant
