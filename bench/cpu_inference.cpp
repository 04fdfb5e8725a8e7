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

// Median of `reps` timed runs after one warm-up run.
template <class Fn>
double median_seconds(int reps, Fn&& fn) {
  fn();
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const auto start = Clock::now();
    fn();
    t.push_back(seconds_since(start));
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
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
double sgemm_seconds(const model::LlamaWeights& w, int64_t T, int reps) {
  const auto& c = w.config;
  const int64_t widest = std::max<int64_t>({c.dim, c.q_dim(), c.hidden_dim});
  std::vector<float> x(size_t(T * widest), 0.5f), y(size_t(T * widest));
  auto gemm = [&](const model::Linear& l) {
    const auto N = blasint(l.out_features()), K = blasint(l.in_features());
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(T), N, K, 1.0f, x.data(), K,
                l.weight.f32(), K, 0.0f, y.data(), N);
  };
  return median_seconds(reps, [&] {
    for (const auto& L : w.layers)
      for (const model::Linear* l : {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down}) gemm(*l);
  });
}

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
    const double sgemm = forward_flops(c, T, 0).linear / sgemm_seconds(w, T, reps);
    const double last = median_seconds(reps, [&] {
      model::forward(w, prompt, 0, cache, model::Logits::Last);
    });
    rows.push_back({fmt::format("prefill {} tokens, last logits (generation)", T), T, last,
                    forward_flops(c, T, 1).total(), sgemm});
    if (T == max_t) {
      const double all = median_seconds(reps, [&] {
        model::forward(w, prompt, 0, cache, model::Logits::All);
      });
      rows.push_back({fmt::format("prefill {} tokens, all logits (perplexity)", T), T, all,
                      forward_flops(c, T, T).total(), sgemm});
    }
  }

  // Decode: 128 single-token steps after a 128-token prompt (positions 128..255).
  const int prompt_len = std::min(128, max_t / 2);
  const int steps = std::min(128, max_t - prompt_len);
  model::forward(w, std::span<const int32_t>(tokens.data(), size_t(prompt_len)), 0, cache);
  std::vector<double> per_step;
  for (int rep = 0; rep < std::max(1, reps / 2); ++rep) {
    const auto start = Clock::now();
    for (int s = 0; s < steps; ++s)
      model::forward(w, std::span<const int32_t>(&tokens[size_t(prompt_len + s)], 1),
                     prompt_len + s, cache, model::Logits::Last);
    per_step.push_back(seconds_since(start));
  }
  std::sort(per_step.begin(), per_step.end());
  rows.push_back({fmt::format("decode {} tokens at positions {}..{}", steps, prompt_len,
                              prompt_len + steps - 1),
                  steps, per_step[per_step.size() / 2], 0, 0});

  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M", std::localtime(&now));
  fmt::print("model: {} (dim {}, hidden {}, {} layers, {} heads / {} KV heads, vocab {})\n",
             model_path.string(), c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads,
             c.vocab_size);
  fmt::print("machine: {}, {} threads; OpenBLAS {} ({}); {}; median of {} runs\n\n", cpu_name(),
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
