#pragma once
// Threading: OpenMP underneath (OpenBLAS is built on the same runtime, so the two share one pool
// and never oversubscribe the cores).
#include <omp.h>

#include <cstdint>

namespace bitfold {

inline int num_threads() { return omp_get_max_threads(); }
inline void set_num_threads(int n) {
  if (n > 0) omp_set_num_threads(n);
}

// Calls fn(i) for i in [0, n) across threads; static schedule (equal-cost items).
template <class Fn>
void parallel_for(int64_t n, Fn&& fn) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) fn(i);
}

// Dynamic schedule for items of uneven cost (attention rows, calibration layers).
template <class Fn>
void parallel_for_dynamic(int64_t n, Fn&& fn) {
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t i = 0; i < n; ++i) fn(i);
}

}  // namespace bitfold
