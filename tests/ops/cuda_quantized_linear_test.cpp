// The CUDA integer engine and fake quantization against the CPU's, bit for bit: the activation
// codes, the exact integer accumulation (SGEMM below 2^24, DGEMM above) and the epilogue (same
// order, no FMA) give the same float outputs — so equal outputs mean equal integer accumulators.
// Every activation granularity (static tensor / channel, dynamic token / tensor / group), bit
// widths 2..8, symmetric and asymmetric integer grids, ExMy grids (e2m1, e3m2, fp8-e4m3fn,
// fp8-e5m2), clipping, power-of-two steps with exact ties, odd shapes. GPU outputs are poisoned
// with NaN first. Skips without a CUDA device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "file_fixtures.h"
#include "ops/ops.h"
#include "quant/quantized_linear.h"
#include "quant/quantizer.h"
#include "test_support.h"

namespace bitfold::ops {
namespace {

using quant::Granularity;
using quant::QuantizedLinear;
using quant::QuantParams;
using quant::QuantSpec;

constexpr Device kGpu = Device::CUDA;

QuantSpec spec(const std::string& format, Granularity g, bool dynamic = false, int64_t group = 0) {
  QuantSpec s;
  s.format = quant::parse_format(format);
  s.granularity = g;
  s.dynamic = dynamic;
  s.group_size = group;
  return s;
}

// Uniform in ±[0.1, 1) · scale with an outlier column 1 (×9) and an offset (asymmetric ranges).
Tensor activations(int64_t T, int64_t K, uint32_t seed, float offset) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> mag(0.1f, 1.0f);
  std::bernoulli_distribution sign(0.5);
  Tensor x = Tensor::empty({T, K}, DType::F32);
  for (int64_t e = 0; e < T * K; ++e) {
    float v = (sign(rng) ? 1.0f : -1.0f) * mag(rng) + offset;
    if (e % K == 1) v *= 9.0f;
    x.f32()[e] = v;
  }
  return x;
}

// Multiples of 1/16 in [-4, 4]: with power-of-two steps many quotients x/Δ are exact ties.
Tensor tie_activations(int64_t T, int64_t K, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> k(-64, 64);
  Tensor x = Tensor::empty({T, K}, DType::F32);
  for (int64_t e = 0; e < T * K; ++e) x.f32()[e] = float(k(rng)) / 16.0f;
  return x;
}

// Uniform in ±[0.1, 1) · scale.
Tensor random_matrix(int64_t rows, int64_t cols, std::mt19937& rng, float scale) {
  std::uniform_real_distribution<float> mag(0.1f, 1.0f);
  std::bernoulli_distribution sign(0.5);
  Tensor t = Tensor::empty(rows == 0 ? Shape{cols} : Shape{rows, cols}, DType::F32);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = (sign(rng) ? 1.0f : -1.0f) * mag(rng) * scale;
  return t;
}

Tensor poisoned_gpu(const Shape& shape) {
  Tensor host = Tensor::empty(shape, DType::F32);
  for (int64_t i = 0; i < host.numel(); ++i) host.f32()[i] = std::nanf("");
  return host.to(kGpu);
}

// Index of the first differing float (bitwise), or -1.
int64_t first_difference(const Tensor& gpu, const Tensor& cpu) {
  const Tensor g = gpu.to(Device::CPU);
  EXPECT_EQ(g.shape(), cpu.shape());
  for (int64_t i = 0; i < cpu.numel(); ++i)
    if (std::memcmp(g.f32() + i, cpu.f32() + i, sizeof(float)) != 0) return i;
  return -1;
}

struct Case {
  std::string name;
  std::string wformat;
  Granularity wgran;
  int64_t group;  // weight group (and activation group for dynamic Group)
  std::string aformat;
  Granularity agran;
  bool adynamic;
  double clip = 1.0;
  bool pow2 = false;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  const auto G = [](int bits) { return std::to_string(bits); };
  for (int b = 2; b <= 8; ++b) {
    cases.push_back({"int" + G(b) + "_static_channel", "int4", Granularity::OutputChannel, 0,
                     "int" + G(b), Granularity::InputChannel, false});
    cases.push_back({"uint" + G(b) + "_static_tensor", "uint" + G(b), Granularity::Group, 12,
                     "uint" + G(b), Granularity::Tensor, false});
    cases.push_back({"uint" + G(b) + "_static_channel_clip", "int8", Granularity::OutputChannel, 0,
                     "uint" + G(b), Granularity::InputChannel, false, 0.9});
    cases.push_back({"int" + G(b) + "_dynamic_token", "int8", Granularity::OutputChannel, 0,
                     "int" + G(b), Granularity::Token, true});
    cases.push_back({"uint" + G(b) + "_dynamic_token", "uint4", Granularity::OutputChannel, 0,
                     "uint" + G(b), Granularity::Token, true});
    cases.push_back({"int" + G(b) + "_balanced_dynamic_tensor", "int" + G(b) + "-balanced",
                     Granularity::Tensor, 0, "int" + G(b) + "-balanced", Granularity::Tensor,
                     true});
    cases.push_back({"int" + G(b) + "_dynamic_group", "int" + G(b), Granularity::Group, 12,
                     "int" + G(b), Granularity::Group, true});
    cases.push_back({"uint" + G(b) + "_dynamic_group_asym", "uint" + G(b), Granularity::Group, 12,
                     "uint" + G(b), Granularity::Group, true});
  }
  cases.push_back({"int4_pow2_static_channel", "int4", Granularity::OutputChannel, 0, "int4",
                   Granularity::InputChannel, false, 1.0, true});
  cases.push_back({"uint4_pow2_dynamic_token", "int4", Granularity::OutputChannel, 0, "uint4",
                   Granularity::Token, true, 1.0, true});
  cases.push_back({"W2star_A8", "int2-bitbalanced", Granularity::OutputChannel, 0, "int8",
                   Granularity::InputChannel, false});
  cases.push_back({"uint2_bitbalanced_dynamic_token", "int4", Granularity::OutputChannel, 0,
                   "uint2-bitbalanced", Granularity::Token, true});
  cases.push_back({"e2m1_static_channel", "e2m1", Granularity::OutputChannel, 0, "e2m1",
                   Granularity::InputChannel, false});
  cases.push_back({"e2m1_pow2_dynamic_group", "e2m1", Granularity::Group, 12, "e2m1",
                   Granularity::Group, true, 1.0, true});
  cases.push_back({"e3m2_dynamic_token", "int4", Granularity::OutputChannel, 0, "e3m2",
                   Granularity::Token, true});
  cases.push_back({"fp8_e4m3fn_dynamic_token", "int4", Granularity::OutputChannel, 0,
                   "fp8-e4m3fn", Granularity::Token, true});
  cases.push_back({"fp8_e5m2_static_tensor", "int4", Granularity::OutputChannel, 0, "fp8-e5m2",
                   Granularity::Tensor, false});
  cases.push_back({"fp8_e4m3fn_weights_and_acts", "fp8-e4m3fn", Granularity::OutputChannel, 0,
                   "fp8-e4m3fn", Granularity::Tensor, true, 0.8});
  cases.push_back({"W4A16", "int4", Granularity::OutputChannel, 0, "fp16", Granularity::Tensor,
                   false});
  cases.push_back({"W3A16_group", "uint3", Granularity::Group, 12, "fp16", Granularity::Tensor,
                   false});
  return cases;
}

class CudaQuantizedLinear : public ::testing::TestWithParam<Case> {};

TEST_P(CudaQuantizedLinear, EqualsTheCpuEngineBitForBit) {
  BITFOLD_REQUIRE_CUDA();
  const Case& c = GetParam();
  struct Shape3 { int64_t T, N, K; };
  for (const Shape3 s : {Shape3{1, 5, 24}, Shape3{3, 9, 48}, Shape3{17, 33, 72}, Shape3{64, 40, 96}}) {
    SCOPED_TRACE(::testing::Message() << "T " << s.T << " N " << s.N << " K " << s.K);
    const uint32_t seed = uint32_t(s.T * 1000 + s.N * 10 + s.K);
    const bool asym = c.aformat.starts_with("uint");
    const Tensor x = c.pow2 ? tie_activations(s.T, s.K, seed)
                            : activations(s.T, s.K, seed, asym ? 0.4f : 0.0f);
    std::mt19937 rng(seed + 1);
    const Tensor w = random_matrix(s.N, s.K, rng, 0.2f);
    const Tensor b = random_matrix(0, s.N, rng, 0.5f);

    QuantParams in;
    if (c.aformat != "fp16") {
      in.spec = spec(c.aformat, c.agran, c.adynamic, c.agran == Granularity::Group ? c.group : 0);
      in.spec.clip = c.clip;
      in.spec.pow2_scale = c.pow2;
      if (!in.spec.dynamic) {
        const Tensor calib = c.pow2 ? tie_activations(64, s.K, seed + 3)
                                    : activations(64, s.K, seed + 3, asym ? 0.4f : 0.0f);
        in = quant::fit_params(in.spec, calib);
      }
    }
    const QuantSpec ws = spec(c.wformat, c.wgran, false, c.wgran == Granularity::Group ? c.group : 0);
    const QuantizedLinear q = quant::quantize_linear(w, b, in, ws, "test.linear");
    const QuantizedLinear gq = q.to(kGpu);
    EXPECT_EQ(gq.device(), kGpu);
    EXPECT_EQ(gq.accumulator(), q.accumulator());

    Tensor want = Tensor::empty({s.T, s.N}, DType::F32);
    quantized_linear(x, q, want);
    Tensor got = poisoned_gpu({s.T, s.N});
    quantized_linear(x.to(kGpu), gq, got);
    if (q.weight_only()) {
      // cuBLAS and OpenBLAS sum in different orders: float rounding only.
      const Tensor g = got.to(Device::CPU);
      for (int64_t e = 0; e < want.numel(); ++e)
        EXPECT_NEAR(g.f32()[e], want.f32()[e], 1e-5 * (1 + std::fabs(want.f32()[e])));
    } else {
      const int64_t d = first_difference(got, want);
      EXPECT_EQ(d, -1) << "first differing output " << d << ": gpu "
                       << got.to(Device::CPU).f32()[d < 0 ? 0 : d] << ", cpu "
                       << want.f32()[d < 0 ? 0 : d];
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, CudaQuantizedLinear, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<Case>& p) { return p.param.name; });

// Both accumulators are exercised above (fp8 activations of K = 72 exceed 2^24 and take DGEMM);
// here the constructed case where an F32 accumulation would round: the GPU must return the exact
// integer 2572004 as the CPU does.
TEST(CudaQuantizedLinearExactness, Float64WhenSgemmWouldRound) {
  BITFOLD_REQUIRE_CUDA();
  const int64_t K = 2048, up = 1100;
  QuantParams in;
  in.spec = spec("int8", Granularity::Tensor);
  in.scale = {1.0f};
  QuantParams wp;
  wp.spec = spec("int8", Granularity::OutputChannel);
  wp.scale = {1.0f};
  wp.rows = 1;
  Tensor codes = Tensor::empty({1, K}, DType::I8);
  for (int64_t j = 0; j < K; ++j) codes.data<int8_t>()[j] = j < up ? int8_t(127) : int8_t(-126);
  const QuantizedLinear q(in, wp, codes, Tensor(), "worst.case");
  ASSERT_EQ(q.accumulator(), quant::Accumulator::Float64);
  for (int64_t T : {1, 3}) {
    Tensor x = Tensor::empty({T, K}, DType::F32);
    for (int64_t e = 0; e < T * K; ++e) x.f32()[e] = 127.0f;
    Tensor y = poisoned_gpu({T, 1});
    quantized_linear(x.to(kGpu), q.to(kGpu), y);
    const Tensor h = y.to(Device::CPU);
    for (int64_t t = 0; t < T; ++t) EXPECT_EQ(double(h.f32()[t]), 2572004.0) << "T " << T;
  }
}

// T·N large enough that the blocks' accumulators are produced in two batched chunks.
TEST(CudaQuantizedLinearExactness, ChunkedBlocksEqualTheCpu) {
  BITFOLD_REQUIRE_CUDA();
  const int64_t T = 2048, N = 8192, K = 48;
  const Tensor x = activations(T, K, 3, 0.0f);
  std::mt19937 rng(4);
  const Tensor w = random_matrix(N, K, rng, 0.2f);
  QuantParams in;
  in.spec = spec("int6", Granularity::Group, true, 12);
  const QuantizedLinear q =
      quant::quantize_linear(w, Tensor(), in, spec("int6", Granularity::Group, false, 12), "big");
  Tensor want = Tensor::empty({T, N}, DType::F32);
  quantized_linear(x, q, want);
  Tensor got = poisoned_gpu({T, N});
  quantized_linear(x.to(kGpu), q.to(kGpu), got);
  EXPECT_EQ(first_difference(got, want), -1);
}

TEST(CudaQuantizedLinear, NonFiniteDynamicInputIsAnErrorNamingTheLayer) {
  BITFOLD_REQUIRE_CUDA();
  Tensor x = activations(4, 24, 5, 0.0f);
  x.f32()[2 * 24 + 7] = INFINITY;
  std::mt19937 rng(6);
  QuantParams in;
  in.spec = spec("int8", Granularity::Token, true);
  const QuantizedLinear q = quant::quantize_linear(
      random_matrix(5, 24, rng, 0.2f), Tensor(), in, spec("int8", Granularity::OutputChannel),
      "model.layers.0.mlp.up_proj");
  Tensor y = Tensor::empty({4, 5}, DType::F32, kGpu);
  bitfold::testing::expect_error([&] { quantized_linear(x.to(kGpu), q.to(kGpu), y); },
                        {"model.layers.0.mlp.up_proj", "row 2", "non-finite"});
}

TEST(CudaQuantizedLinear, LayerAndInputOnDifferentDevicesIsRefused) {
  BITFOLD_REQUIRE_CUDA();
  std::mt19937 rng(7);
  QuantParams in;
  in.spec = spec("int8", Granularity::Token, true);
  const QuantizedLinear q = quant::quantize_linear(random_matrix(5, 24, rng, 0.2f), Tensor(), in,
                                                   spec("int8", Granularity::OutputChannel), "l");
  Tensor y = Tensor::empty({2, 5}, DType::F32, kGpu);
  bitfold::testing::expect_error([&] { quantized_linear(activations(2, 24, 1, 0).to(kGpu), q, y); },
                        {"model::to_device"});
}

// ops::fake_quantize (the KV cache's rounding) on the GPU against the CPU, bit for bit.
struct FakeCase {
  std::string name;
  std::string format;
  Granularity granularity;
  bool dynamic;
  int64_t group;
};
void PrintTo(const FakeCase& c, std::ostream* os) { *os << c.name; }

class CudaFakeQuantize : public ::testing::TestWithParam<FakeCase> {};

TEST_P(CudaFakeQuantize, EqualsTheCpuBitForBit) {
  BITFOLD_REQUIRE_CUDA();
  const FakeCase& c = GetParam();
  for (const auto& [T, K] : {std::pair<int64_t, int64_t>{1, 16}, {5, 48}, {33, 96}}) {
    SCOPED_TRACE(::testing::Message() << "T " << T << " K " << K);
    const Tensor x = activations(T, K, uint32_t(T * 100 + K), c.format.starts_with("uint") ? 0.3f : 0.0f);
    QuantParams p;
    p.spec = spec(c.format, c.granularity, c.dynamic, c.group);
    if (!c.dynamic) p = quant::fit_params(p.spec, activations(40, K, 9, 0.1f));
    Tensor want = x.clone();
    fake_quantize(want, p);
    EXPECT_NE(std::memcmp(want.raw(), x.raw(), x.nbytes()), 0) << "the rounding must change x";
    Tensor got = x.to(kGpu);
    fake_quantize(got, p);
    EXPECT_EQ(first_difference(got, want), -1);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Grids, CudaFakeQuantize,
    ::testing::Values(FakeCase{"int8_static_head", "int8", Granularity::Head, false, 8},
                      FakeCase{"uint4_static_head", "uint4", Granularity::Head, false, 8},
                      FakeCase{"int3_static_tensor", "int3", Granularity::Tensor, false, 0},
                      FakeCase{"uint8_static_channel", "uint8", Granularity::InputChannel, false, 0},
                      FakeCase{"int8_dynamic_token", "int8", Granularity::Token, true, 0},
                      FakeCase{"uint2_dynamic_token", "uint2", Granularity::Token, true, 0},
                      FakeCase{"int5_dynamic_tensor", "int5", Granularity::Tensor, true, 0},
                      FakeCase{"e2m1_static_head", "e2m1", Granularity::Head, false, 8},
                      FakeCase{"fp8_e4m3fn_dynamic_token", "fp8-e4m3fn", Granularity::Token, true, 0},
                      FakeCase{"fp8_e5m2_dynamic_group", "fp8-e5m2", Granularity::Group, true, 8}),
    [](const ::testing::TestParamInfo<FakeCase>& p) { return p.param.name; });

}  // namespace
}  // namespace bitfold::ops
