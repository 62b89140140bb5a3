// Invariants: what a broken program (not a broken environment) looks like.
//
// Which to use (after Envoy's STYLE.md):
//
// | situation                                              | use | |
// ------------------------------------------------------ |
// ----------------------- | | bad input, a database or peer that fails, a
// config or  | absl::Status (never     | | file that is wrong: anything the
// environment can do    | these macros)           | | a condition the code
// itself guarantees, whose failure  | TANDEM_CHECK(cond) <<   | | means memory
// or state is corrupt and continuing could  | "why" (always on)       | | write
// wrong data (a customer on two systems, a flip    |                         |
// | without a verified copy)                               | | | an expensive
// self-check, or one on a hot path (the     | TANDEM_DCHECK(cond)     | |
// proxy's request path), useful in tests and debug       | (debug builds only)
// | | builds                                                 | | | a switch
// over an enum the code fully handles           | TANDEM_UNREACHABLE()    |
//
// A failed check writes the condition, file, line and message to stderr and
// aborts: a crash that restarts the process is safe (every step of the
// suite is idempotent and resumable), carrying on with a broken invariant is
// not.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace tandem::internal {

// Collects the message of a failed check and aborts when destroyed.
class CheckFailure {
 public:
  CheckFailure(const char* condition, const char* file, int line)
      : condition_(condition), file_(file), line_(line) {}
  [[noreturn]] ~CheckFailure() {
    std::fprintf(stderr, "%s:%d: check failed: %s %s\n", file_, line_,
                 condition_, message_.str().c_str());
    std::fflush(stderr);
    std::abort();
  }
  template <typename T>
  CheckFailure& operator<<(const T& value) {
    message_ << value;
    return *this;
  }

 private:
  const char* condition_;
  const char* file_;
  int line_;
  std::ostringstream message_;
};

// Swallows a stream expression in the branch that does not fail.
struct Voidify {
  void operator&(const CheckFailure&) {}
};

}  // namespace tandem::internal

// Aborts with a message when `condition` is false; always compiled in.
#define TANDEM_CHECK(condition)         \
  (condition)                           \
      ? (void)0                         \
      : ::tandem::internal::Voidify() & \
            ::tandem::internal::CheckFailure(#condition, __FILE__, __LINE__)

// TANDEM_CHECK in debug builds; nothing (the condition is not evaluated) in
// release builds (NDEBUG).
#ifdef NDEBUG
#define TANDEM_DCHECK(condition) \
  while (false) TANDEM_CHECK(condition)
#else
#define TANDEM_DCHECK(condition) TANDEM_CHECK(condition)
#endif

// Marks a place the code cannot reach.
#define TANDEM_UNREACHABLE() \
  ::tandem::internal::CheckFailure("unreachable", __FILE__, __LINE__)
