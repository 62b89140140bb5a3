// A skipped test is a failed test: runs deliberately_skipping (a suite
// whose SetUpTestSuite fails, a test that skips itself) and reads its exit
// status and output.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <string>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace {

struct Outcome {
  int exit_code = -1;
  std::string output;
};

Outcome RunSkipping(const std::string& filter) {
  // ctest runs these tests in parallel: one output file per test.
  const std::string out = absl::StrCat(::testing::TempDir(), "/skipping-",
                                       getpid(), "-", filter, ".out");
  std::string binary = TANDEM_DELIBERATELY_SKIPPING_PATH;
  std::string filter_flag = absl::StrCat("--gtest_filter=", filter);
  char* argv[] = {binary.data(), filter_flag.data(), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = 0;
  Outcome run;
  EXPECT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv, environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
  if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  std::ifstream in(out);
  run.output.assign(std::istreambuf_iterator<char>(in),
                    std::istreambuf_iterator<char>());
  return run;
}

// How ctest runs a discovered test: one test per process.
TEST(SkipIsFailureTest, ATestOfASuiteWhoseSetUpFailedFails) {
  Outcome run = RunSkipping("SetUpFails.AnyTest");
  EXPECT_NE(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("deliberately failing set-up"), std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("[  FAILED  ] SetUpFails.AnyTest"),
            std::string::npos)
      << run.output;
  // ctest's SKIP_REGULAR_EXPRESSION for gtest is "[  SKIPPED ]".
  EXPECT_EQ(run.output.find("[  SKIPPED ]"), std::string::npos) << run.output;
}

TEST(SkipIsFailureTest, ATestThatSkipsItselfFails) {
  Outcome run = RunSkipping("Skips.Itself");
  EXPECT_NE(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("[  FAILED  ] Skips.Itself"), std::string::npos)
      << run.output;
  EXPECT_EQ(run.output.find("[  SKIPPED ]"), std::string::npos) << run.output;
}

TEST(SkipIsFailureTest, APassingTestStillPasses) {
  Outcome run = RunSkipping("Passes.Plainly");
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("[  PASSED  ] 1 test"), std::string::npos)
      << run.output;
}

}  // namespace
