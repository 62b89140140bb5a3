// Linked into every test binary (through GTest::gtest_main, see
// CMakeLists.txt): a skipped test fails.
//
// gtest skips every test of a suite whose SetUpTestSuite fails (an ASSERT
// there), and GTEST_SKIP skips one; ctest, through gtest_discover_tests,
// counts a skipped test as not failed. Tandem's tests never skip, so a skip
// can only hide a failure: this listener turns it into one, with the
// suite's own failure message printed above it.
#include <gtest/gtest.h>

namespace {

class SkipIsFailure final : public ::testing::EmptyTestEventListener {
 public:
  // Called before the result printer's OnTestEnd (end events run in reverse
  // order of registration), so the test is reported FAILED, not SKIPPED.
  void OnTestEnd(const ::testing::TestInfo& info) override {
    if (info.result()->Skipped()) {
      ADD_FAILURE() << info.test_suite_name() << "." << info.name()
                    << " was skipped (a failed SetUpTestSuite or a "
                       "GTEST_SKIP); a skipped test counts as failed";
    }
  }
};

const bool installed = [] {
  ::testing::UnitTest::GetInstance()->listeners().Append(new SkipIsFailure);
  return true;
}();

}  // namespace
