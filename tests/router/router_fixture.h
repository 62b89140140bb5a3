// Test fixture for the router: one throwaway MariaDB per test suite, a
// fresh control database per test, and router replicas started in-process
// behind real gRPC channels.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "router/router_server.h"
#include "tandem/router/v1/router.grpc.pb.h"
#include "tests/testing/mariadb_server.h"

namespace tandem::router::testing {

inline constexpr char kOperatorToken[] = "operator-token-0123456789";
inline constexpr char kViewerToken[] = "viewer-token-0123456789ab";
inline constexpr char kTokensFile[] =
    "# test tokens\n"
    "alice operator operator-token-0123456789\n"
    "victor viewer viewer-token-0123456789ab\n";

class RouterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  void SetUp() override;

  // Starts a replica on the test's control database; `address` defaults to
  // a free loopback port.
  // `lease_check_interval` is how often it aborts moves whose lease ran out.
  std::unique_ptr<RouterServer> StartRouter(
      const std::string& address = "127.0.0.1:0",
      const std::string& import_config = "",
      absl::Duration lease_check_interval = absl::Milliseconds(100));

  // A stub over a real channel to `port`.
  static std::unique_ptr<::tandem::router::v1::RouterService::Stub> Stub(
      int port);

  // A client context carrying `token` (none when empty), with a deadline.
  static std::unique_ptr<grpc::ClientContext> Ctx(
      const std::string& token = kOperatorToken);

  // Imports customers 1..n, each with login `user<i>` and account `555<i>`.
  void ImportCustomers(::tandem::router::v1::RouterService::Stub& stub,
                       int first, int count);

  // Waits until `condition` holds, up to `timeout`; false otherwise.
  static bool Eventually(const std::function<bool()>& condition,
                         absl::Duration timeout = absl::Seconds(5));

  static ::tandem::testing::MariaDbServer* db() { return db_; }
  const std::string& database() const { return database_; }

 private:
  static ::tandem::testing::MariaDbServer* db_;
  // Why db_ could not start, if it could not.
  static absl::Status* db_error_;
  std::string database_;
};

}  // namespace tandem::router::testing
