// Not a test of its own: skip_is_failure_test runs this binary and checks
// that what it would skip is reported as failed. One suite fails in
// SetUpTestSuite (the pattern that used to hide a database that could not
// start), one test skips itself.
#include <gtest/gtest.h>

namespace {

class SetUpFails : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { FAIL() << "deliberately failing set-up"; }
};

TEST_F(SetUpFails, AnyTest) { SUCCEED(); }

TEST(Skips, Itself) { GTEST_SKIP() << "deliberately skipped"; }

TEST(Passes, Plainly) { SUCCEED(); }

}  // namespace
