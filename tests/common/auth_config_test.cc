#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "absl/flags/flag.h"
#include "common/auth.h"
#include "common/config.h"

ABSL_FLAG(std::string, test_target, "default", "A flag to test overrides.");
ABSL_FLAG(int, test_count, 1, "Another.");

namespace tandem {
namespace {

TEST(TokenAuthenticatorTest, ParsesRolesAndChecksThem) {
  auto auth = TokenAuthenticator::FromString(
      "# comment\n\nops operator 0123456789abcdef-op\n"
      "dash viewer 0123456789abcdef-vw\n");
  ASSERT_TRUE(auth.ok()) << auth.status();
  auto op =
      (*auth)->AuthorizeHeader("Bearer 0123456789abcdef-op", Role::kOperator);
  ASSERT_TRUE(op.ok());
  EXPECT_EQ(op->name, "ops");
  auto viewer_reads =
      (*auth)->AuthorizeHeader("Bearer 0123456789abcdef-vw", Role::kViewer);
  ASSERT_TRUE(viewer_reads.ok());
  EXPECT_EQ(viewer_reads->name, "dash");
  EXPECT_EQ((*auth)
                ->AuthorizeHeader("Bearer 0123456789abcdef-vw", Role::kOperator)
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ((*auth)->AuthorizeHeader("", Role::kViewer).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*auth)
                ->AuthorizeHeader("Basic 0123456789abcdef-op", Role::kViewer)
                .status()
                .code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*auth)
                ->AuthorizeHeader("Bearer wrong-token-xyz", Role::kViewer)
                .status()
                .code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(TokenAuthenticatorTest, RejectsMalformedFilesWithoutEchoingTokens) {
  auto bad_role = TokenAuthenticator::FromString("x admin 0123456789abcdef\n");
  EXPECT_EQ(bad_role.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_role.status().message().find("line 1"), std::string::npos);
  auto short_token = TokenAuthenticator::FromString("x viewer short\n");
  EXPECT_EQ(short_token.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(short_token.status().message().find("short"),
            short_token.status().message().find("shorter"));
  auto duplicate = TokenAuthenticator::FromString(
      "a viewer 0123456789abcdef\nb operator 0123456789abcdef\n");
  EXPECT_EQ(duplicate.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(duplicate.status().message().find("0123456789abcdef"),
            std::string::npos);
  EXPECT_FALSE(TokenAuthenticator::FromString("").ok());
}

TEST(ConfigTest, EnvironmentFillsFlagsButTheCommandLineWins) {
  setenv("TANDEM_TEST_TARGET", "from-env", 1);
  setenv("TANDEM_TEST_COUNT", "7", 1);
  char arg0[] = "prog";
  char arg1[] = "--test_count=9";
  char* argv[] = {arg0, arg1};
  ParseFlagsWithEnv(2, argv, "test");
  EXPECT_EQ(absl::GetFlag(FLAGS_test_target), "from-env");
  EXPECT_EQ(absl::GetFlag(FLAGS_test_count), 9);
  unsetenv("TANDEM_TEST_TARGET");
  unsetenv("TANDEM_TEST_COUNT");
}

TEST(ConfigTest, SecretsComeFromFilesTrimmed) {
  std::string path = ::testing::TempDir() + "/secret";
  std::ofstream(path) << "s3cret-value\n";
  auto secret = ReadSecretFile(path);
  ASSERT_TRUE(secret.ok());
  EXPECT_EQ(*secret, "s3cret-value");
  EXPECT_EQ(ReadSecretFile("").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadSecretFile(path + ".missing").status().code(),
            absl::StatusCode::kNotFound);
  std::ofstream(path) << "\n";
  EXPECT_EQ(ReadSecretFile(path).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tandem
