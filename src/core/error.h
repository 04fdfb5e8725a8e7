#pragma once
// One exception type for everything a user can cause (bad files, bad recipes, bad flags). It
// carries a whole human sentence naming the file / layer / tensor; `main` prints it on one line.
#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace bitfold {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

// For programming errors (broken invariants), not for user input.
#define BITFOLD_CHECK(cond, ...)                                                        \
  do {                                                                                  \
    if (!(cond)) ::bitfold::fail("internal error at {}:{}: {}", __FILE__, __LINE__,     \
                                 ::fmt::format(__VA_ARGS__));                           \
  } while (0)

}  // namespace bitfold
