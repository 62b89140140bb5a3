// The invariant macros: a failed check aborts with its condition and
// message; a passing one evaluates its message never.
#include "common/invariants.h"

#include <gtest/gtest.h>

namespace tandem {
namespace {

TEST(InvariantsTest, AFailedCheckAbortsWithItsConditionAndMessage) {
  EXPECT_DEATH(TANDEM_CHECK(1 + 1 == 3) << "arithmetic is "
                                        << "broken",
               "check failed: 1 \\+ 1 == 3 arithmetic is broken");
  EXPECT_DEATH(TANDEM_UNREACHABLE() << "enum value 9",
               "unreachable enum value 9");
}

TEST(InvariantsTest, APassingCheckDoesNotEvaluateItsMessage) {
  int evaluated = 0;
  auto count = [&] { return ++evaluated; };
  TANDEM_CHECK(true) << count();
  EXPECT_EQ(evaluated, 0);
}

}  // namespace
}  // namespace tandem
