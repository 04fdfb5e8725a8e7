// model::to_device keeps what quant-runtime added to the weights (integer-engine linears, KV-cache
// quantization) on the CPU, and refuses a GPU copy of such a model instead of silently running it
// unquantized.
#include <gtest/gtest.h>

#include <cstring>

#include "file_fixtures.h"
#include "model/llama.h"
#include "model/to_device.h"
#include "quant/quantized_linear.h"
#include "random_model.h"

namespace bitfold::model {
namespace {

LlamaWeights quantized_model() {
  LlamaWeights w = testing::random_model({}, 23);
  quant::QuantSpec ws;
  ws.format = quant::parse_format("int4");
  ws.granularity = quant::Granularity::OutputChannel;
  Linear& q = w.layers[0].q;
  q.quantized = std::make_shared<const quant::QuantizedLinear>(
      quant::quantize_linear(q.weight, q.bias, quant::QuantParams{}, ws, "q"));
  auto kv = std::make_shared<KvCacheQuant>();
  kv->key.spec.format = kv->value.spec.format = quant::parse_format("int8");
  kv->key.spec.granularity = kv->value.spec.granularity = quant::Granularity::Token;
  kv->key.spec.dynamic = kv->value.spec.dynamic = true;
  w.layers[1].kv_quant = kv;
  return w;
}

Tensor logits(const LlamaWeights& w) {
  const std::vector<int32_t> tokens = {1, 4, 9, 16, 25};
  KVCache cache(w.config, int(tokens.size()));
  return forward(w, tokens, 0, cache, Logits::All);
}

TEST(ToDevice, CpuCopyKeepsQuantizedLinearsAndKvQuantization) {
  const LlamaWeights w = quantized_model();
  const LlamaWeights copy = to_device(w, Device::CPU);
  EXPECT_EQ(copy.layers[0].q.quantized, w.layers[0].q.quantized);
  EXPECT_EQ(copy.layers[1].kv_quant, w.layers[1].kv_quant);
  const Tensor a = logits(w), b = logits(copy);
  ASSERT_EQ(a.shape(), b.shape());
  EXPECT_EQ(std::memcmp(a.raw(), b.raw(), a.nbytes()), 0);
  // ... and the quantization matters: the FP model gives other logits.
  const Tensor fp = logits(testing::random_model({}, 23));
  EXPECT_NE(std::memcmp(a.raw(), fp.raw(), a.nbytes()), 0);
}

TEST(ToDevice, GpuCopyOfAQuantizedModelIsRefused) {
  testing::expect_error([] { to_device(quantized_model(), Device::CUDA); },
                        {"quantized model", "CPU only", "--device cpu"});
}

}  // namespace
}  // namespace bitfold::model
