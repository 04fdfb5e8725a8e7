#include "io/llama2c.h"

#include <fmt/format.h>

#include <array>
#include <cstring>

#include "core/error.h"
#include "io/checked_size.h"

namespace bitfold::io {

namespace {

constexpr size_t kHeaderBytes = 7 * sizeof(int32_t);
// llama2.c's export.py versions >= 1 start with this magic ("ak42") and a 256-byte header.
constexpr int32_t kVersionedMagic = 0x616b3432;

struct Parsed {
  Llama2cHeader header;
  std::shared_ptr<const MappedFile> file;
};

// Total floats of all arrays the header implies; false when that overflows (garbage header).
bool total_floats(const Llama2cHeader& h, uint64_t& total) {
  const uint64_t dim = uint64_t(h.dim), hidden = uint64_t(h.hidden_dim),
                 layers = uint64_t(h.n_layers), vocab = uint64_t(h.vocab_size),
                 kv_dim = uint64_t(h.kv_dim()), rope_half = uint64_t(h.head_size()) / 2,
                 seq = uint64_t(h.seq_len);
  const std::array<std::array<uint64_t, 3>, 14> arrays = {{
      {vocab, dim, 1},                            // token_embedding
      {layers, dim, 1},                           // rms_att
      {layers, dim, dim},                         // wq
      {layers, kv_dim, dim},                      // wk
      {layers, kv_dim, dim},                      // wv
      {layers, dim, dim},                         // wo
      {layers, dim, 1},                           // rms_ffn
      {layers, hidden, dim},                      // w1
      {layers, dim, hidden},                      // w2
      {layers, hidden, dim},                      // w3
      {dim, 1, 1},                                // rms_final
      {seq, rope_half, 1},                        // freq_cis_real
      {seq, rope_half, 1},                        // freq_cis_imag
      {h.shared_classifier ? 0 : vocab, dim, 1},  // wcls
  }};
  total = 0;
  for (const auto& factors : arrays) {
    uint64_t n = 0;
    if (!checked_product(factors, n) || __builtin_add_overflow(total, n, &total)) return false;
  }
  return true;
}

Parsed parse(const std::filesystem::path& path) {
  Parsed out;
  out.file = MappedFile::open(path);
  const std::string p = path.string();
  const size_t size = out.file->size();
  if (size == 0) fail("{}: empty file, expected a llama2.c checkpoint", p);
  if (size < kHeaderBytes)
    fail("{}: {} bytes is too small for a llama2.c checkpoint (28-byte header)", p, size);

  int32_t f[7];
  std::memcpy(f, out.file->data(), kHeaderBytes);
  if (f[0] == kVersionedMagic)
    fail(
        "{}: llama2.c export version {} (magic \"ak42\") is not supported; export with "
        "--version 0 (the legacy format run.c reads)",
        p, f[1]);
  static const char* const names[] = {"dim",        "hidden_dim", "n_layers", "n_heads",
                                      "n_kv_heads", "vocab_size", "seq_len"};
  for (int i = 0; i < 7; ++i) {
    const bool ok = i == 5 ? (f[i] != 0 && f[i] != INT32_MIN) : f[i] > 0;
    if (!ok)
      fail("{}: not a llama2.c checkpoint: header field {} is {}, must be {}", p, names[i], f[i],
           i == 5 ? "non-zero" : "positive");
  }
  Llama2cHeader& h = out.header;
  h.dim = f[0];
  h.hidden_dim = f[1];
  h.n_layers = f[2];
  h.n_heads = f[3];
  h.n_kv_heads = f[4];
  h.shared_classifier = f[5] > 0;
  h.vocab_size = f[5] > 0 ? f[5] : -f[5];
  h.seq_len = f[6];
  if (h.dim % h.n_heads != 0)
    fail("{}: not a llama2.c checkpoint: dim {} is not a multiple of n_heads {}", p, h.dim,
         h.n_heads);
  if (h.n_heads % h.n_kv_heads != 0)
    fail("{}: not a llama2.c checkpoint: n_heads {} is not a multiple of n_kv_heads {}", p,
         h.n_heads, h.n_kv_heads);
  if (h.head_size() % 2 != 0)
    fail("{}: not a llama2.c checkpoint: head size {} is odd (RoPE rotates pairs)", p,
         h.head_size());

  uint64_t floats = 0, expected = 0;
  if (!total_floats(h, floats) || !checked_mul(floats, sizeof(float), expected) ||
      __builtin_add_overflow(expected, kHeaderBytes, &expected))
    fail("{}: not a llama2.c checkpoint: header ({}) implies an impossibly large file", p, h.str());
  if (expected != size)
    fail("{}: file has {} bytes but its llama2.c header ({}) implies {}: {}", p, size, h.str(),
         expected,
         size < expected ? "truncated, or not a llama2.c checkpoint"
                         : "trailing bytes, or not a legacy llama2.c checkpoint");
  return out;
}

}  // namespace

std::string Llama2cHeader::str() const {
  return fmt::format(
      "dim {}, hidden_dim {}, n_layers {}, n_heads {}, n_kv_heads {}, vocab_size {}{}, seq_len {}",
      dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size,
      shared_classifier ? "" : " (separate classifier)", seq_len);
}

Llama2cHeader read_llama2c_header(const std::filesystem::path& path) { return parse(path).header; }

Llama2cCheckpoint open_llama2c(const std::filesystem::path& path) {
  Parsed parsed = parse(path);
  const Llama2cHeader& h = parsed.header;
  const auto owner = std::shared_ptr<const void>(parsed.file);
  const float* cursor = reinterpret_cast<const float*>(parsed.file->data() + kHeaderBytes);
  const auto take = [&](Shape shape) {
    Tensor t = Tensor::borrow(cursor, shape, DType::F32, owner);
    cursor += shape_numel(shape);
    return t;
  };
  const int64_t dim = h.dim, hidden = h.hidden_dim, layers = h.n_layers, vocab = h.vocab_size,
                kv_dim = h.kv_dim(), seq = h.seq_len, rope_half = h.head_size() / 2;
  Llama2cCheckpoint c;
  c.header = h;
  c.token_embedding = take({vocab, dim});
  c.rms_att = take({layers, dim});
  c.wq = take({layers, dim, dim});
  c.wk = take({layers, kv_dim, dim});
  c.wv = take({layers, kv_dim, dim});
  c.wo = take({layers, dim, dim});
  c.rms_ffn = take({layers, dim});
  c.w1 = take({layers, hidden, dim});
  c.w2 = take({layers, dim, hidden});
  c.w3 = take({layers, hidden, dim});
  c.rms_final = take({dim});
  c.freq_cis_real = take({seq, rope_half});
  c.freq_cis_imag = take({seq, rope_half});
  c.wcls = h.shared_classifier ? c.token_embedding : take({vocab, dim});
  return c;
}

}  // namespace bitfold::io
