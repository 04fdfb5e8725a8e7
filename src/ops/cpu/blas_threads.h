#pragma once
// OpenBLAS's OpenMP build takes its thread count from omp_get_max_threads() at every call, and
// runs single-threaded inside an active parallel region.
#include <omp.h>

namespace bitfold::ops::cpu {

// For its lifetime, OpenBLAS calls from this thread run single-threaded: for products too small
// to be worth waking a thread team.
class SingleThreadedBlas {
 public:
  SingleThreadedBlas() : saved_(omp_get_max_threads()) { omp_set_num_threads(1); }
  ~SingleThreadedBlas() { omp_set_num_threads(saved_); }
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  int saved_;
};

}  // namespace bitfold::ops::cpu
