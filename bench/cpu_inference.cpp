// CPU inference speed of the F32 reference model: prefill and decode tokens/s, with OpenBLAS
// SGEMM measured in the same run on the model's own linear shapes as the peer. Prints a markdown
// table whose last column is prefill FLOP/s ÷ SGEMM FLOP/s.
//
//   bench_cpu_inference [MODEL] [--reps N]
//
// MODEL defaults to models/pyshakes-15m-hf in the repository, else the shared pyshakes-15m.bin.
#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"
#include "model/llama.h"
#include "model/loader.h"

namespace {

using namespace bitfold;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> t) {
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Medians of `reps` timed runs of a and of b, after one warm-up of each. The runs alternate, so
// that a busy moment of a shared machine hits both measurements alike.
template <class A, class B>
std::pair<double, double> median_seconds(int reps, A&& a, B&& b) {
  a();
  b();
  std::vector<double> ta, tb;
  for (int r = 0; r < reps; ++r) {
    auto start = Clock::now();
    a();
    ta.push_back(seconds_since(start));
    start = Clock::now();
    b();
    tb.push_back(seconds_since(start));
  }
  return {median(ta), median(tb)};
}

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

fs::path default_model() {
  const fs::path bundled = fs::path(BITFOLD_SOURCE_DIR) / "models/pyshakes-15m-hf";
  if (fs::exists(bundled / "config.json")) return bundled;
  const char* env = std::getenv("BITFOLD_SHARED_DATA");
  const fs::path shared = env ? fs::path(env) : fs::path(BITFOLD_SOURCE_DIR) / "../shared/data";
  return shared / "models/pyshakes-15m.bin";
}

struct Flops {
  double linear = 0, attention = 0, head = 0;
  double total() const { return linear + attention + head; }
};

// FLOPs of a forward over T tokens from position 0 (multiply-add = 2): the seven linears, the
// causal attention actually computed (QKᵀ and PV over the visible keys only), and lm_head on
// `head_rows` rows.
Flops forward_flops(const model::ModelConfig& c, int64_t T, int64_t head_rows) {
  Flops f;
  const double per_token = double(c.dim) * c.q_dim() + 2.0 * c.dim * c.kv_dim() +
                           double(c.q_dim()) * c.dim + 3.0 * c.dim * c.hidden_dim;
  f.linear = 2.0 * double(T) * per_token * c.n_layers;
  const double visible = double(T) * double(T + 1) / 2.0;  // Σ_t (t + 1)
  f.attention = 4.0 * visible * c.head_dim * c.n_heads * c.n_layers;
  f.head = 2.0 * double(head_rows) * c.dim * c.vocab_size;
  return f;
}

// SGEMM alone over every linear of the model at T rows, as ops::linear calls it.
struct SgemmPeer {
  const model::LlamaWeights& w;
  int64_t T;
  std::vector<float> x, y;
  SgemmPeer(const model::LlamaWeights& weights, int64_t rows) : w(weights), T(rows) {
    const auto& c = w.config;
    const int64_t widest = std::max<int64_t>({c.dim, c.q_dim(), c.hidden_dim});
    x.assign(size_t(T * widest), 0.5f);
    y.assign(size_t(T * widest), 0.0f);
  }
  void operator()() {
    for (const auto& L : w.layers)
      for (const model::Linear* l : {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down}) {
        const auto N = blasint(l->out_features()), K = blasint(l->in_features());
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(T), N, K, 1.0f, x.data(), K,
                    l->weight.f32(), K, 0.0f, y.data(), N);
      }
  }
};

struct Row {
  std::string what;
  int64_t tokens;
  double seconds;
  double flops;  // 0: not a FLOP-bound measurement
  double sgemm_flops_per_s;
};

int run(int argc, char** argv) {
  fs::path model_path;
  int reps = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--reps" && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else {
      model_path = a;
    }
  }
  if (model_path.empty()) model_path = default_model();
  const model::LlamaWeights w = model::load_weights(model_path);
  const auto& c = w.config;
  const int max_t = c.max_seq_len;

  std::vector<int32_t> tokens(static_cast<size_t>(max_t));
  for (int i = 0; i < max_t; ++i) tokens[size_t(i)] = 1 + (i * 7919) % (c.vocab_size - 1);
  model::KVCache cache(c, max_t);
  std::vector<Row> rows;

  for (int64_t T : {int64_t(128), int64_t(max_t)}) {
    if (T > max_t) continue;
    const std::span<const int32_t> prompt(tokens.data(), size_t(T));
    SgemmPeer peer(w, T);
    const double linear_flops = forward_flops(c, T, 0).linear;
    const auto [last, sgemm_a] = median_seconds(
        reps, [&] { model::forward(w, prompt, 0, cache, model::Logits::Last); }, peer);
    rows.push_back({fmt::format("prefill {} tokens, last logits (generation)", T), T, last,
                    forward_flops(c, T, 1).total(), linear_flops / sgemm_a});
    if (T == max_t) {
      const auto [all, sgemm_b] = median_seconds(
          reps, [&] { model::forward(w, prompt, 0, cache, model::Logits::All); }, peer);
      rows.push_back({fmt::format("prefill {} tokens, all logits (perplexity)", T), T, all,
                      forward_flops(c, T, T).total(), linear_flops / sgemm_b});
    }
  }

  // Decode: 128 single-token steps after a 128-token prompt (positions 128..255).
  const int prompt_len = std::min(128, max_t / 2);
  const int steps = std::min(128, max_t - prompt_len);
  model::forward(w, std::span<const int32_t>(tokens.data(), size_t(prompt_len)), 0, cache);
  std::vector<double> runs;
  for (int rep = 0; rep < std::max(1, reps / 2); ++rep) {
    const auto start = Clock::now();
    for (int s = 0; s < steps; ++s)
      model::forward(w, std::span<const int32_t>(&tokens[size_t(prompt_len + s)], 1),
                     prompt_len + s, cache, model::Logits::Last);
    runs.push_back(seconds_since(start));
  }
  rows.push_back({fmt::format("decode {} tokens at positions {}..{}", steps, prompt_len,
                              prompt_len + steps - 1),
                  steps, median(runs), 0, 0});

  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M", std::localtime(&now));
  fmt::print("model: {} (dim {}, hidden {}, {} layers, {} heads / {} KV heads, vocab {})\n",
             model_path.string(), c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads,
             c.vocab_size);
  fmt::print("machine: {}, {} threads; OpenBLAS {} ({}); {}; medians of {} runs\n\n", cpu_name(),
             num_threads(), openblas_get_config(), openblas_get_corename(), date, reps);
  fmt::print("| measurement | tokens | ms | tokens/s | GFLOP | GFLOP/s | SGEMM GFLOP/s, same shapes "
             "| prefill ÷ SGEMM |\n");
  fmt::print("|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const Row& r : rows) {
    if (r.flops > 0) {
      const double rate = r.flops / r.seconds;
      fmt::print("| {} | {} | {:.1f} | {:.0f} | {:.2f} | {:.1f} | {:.1f} | {:.0f}% |\n", r.what,
                 r.tokens, r.seconds * 1e3, r.tokens / r.seconds, r.flops / 1e9, rate / 1e9,
                 r.sgemm_flops_per_s / 1e9, 100.0 * rate / r.sgemm_flops_per_s);
    } else {
      fmt::print("| {} | {} | {:.1f} | {:.1f} | | | | |\n", r.what, r.tokens, r.seconds * 1e3,
                 r.tokens / r.seconds);
    }
  }
  const Flops f = forward_flops(c, max_t, 1);
  fmt::print("\nFLOPs of a {}-token prefill: linears {:.2f} G, causal attention {:.2f} G, "
             "lm_head (last row) {:.3f} G.\n",
             max_t, f.linear / 1e9, f.attention / 1e9, f.head / 1e9);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const bitfold::Error& e) {
    fmt::print(stderr, "bench_cpu_inference: error: {}\n", e.what());
    return 1;
  }
}
