// Test fixture for the migrator: a three-server testbed (source v1, target
// v2, control), a real router and catalog on it with the routes imported,
// mappings accepted and the catalog frozen, migrator replicas started
// in-process behind real gRPC channels, and the portal (the two billing
// simulators behind the real portal-proxy) for tests and benchmarks that
// send customers' visits through it.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "catalog/catalog_server.h"
#include "migrator/migrator_server.h"
#include "portal-proxy/proxy_server.h"
#include "router/router_server.h"
#include "tandem/catalog/v1/catalog.grpc.pb.h"
#include "tandem/migrator/v1/migrator.grpc.pb.h"
#include "tandem/router/v1/router.grpc.pb.h"
#include "testbed/sim/sim_server.h"
#include "tests/testbed/testbed_fixture.h"

namespace tandem::migrator::testing {

inline constexpr char kOperatorToken[] = "operator-token-migrator-0001";
inline constexpr char kViewerToken[] = "viewer-token-migrator-00001";
inline constexpr char kTokens[] =
    "ops operator operator-token-migrator-0001\n"
    "watcher viewer viewer-token-migrator-00001\n";

struct EnvOptions {
  testbed::DatagenOptions datagen;
  // Freeze the catalog (moves need it).
  bool freeze = true;
  // Options of the three servers (`dir` and `port` must stay empty/0).
  tandem::testing::MariaDbServerOptions server;
};

// A population of `customers` small customers (no large ones) with
// `accounts` accounts and `xdrs` xDRs spread over them.
EnvOptions SmallPopulation(int64_t customers, int64_t accounts, int64_t xdrs);

// The portal as customers reach it: a billing simulator over each of the
// testbed's databases, and the real portal-proxy in front of them, following
// the environment's router (it holds a customer's requests while the route
// is MIGRATING) and catalog.
struct Portal {
  std::unique_ptr<testbed::SimServer> v1_sim;
  std::unique_ptr<testbed::SimServer> v2_sim;
  std::unique_ptr<proxy::ProxyServer> proxy;
  // Shuts the proxy down (held and in-flight requests get up to 2 s) before
  // the simulators behind it stop.
  ~Portal();
};

// Everything a migrator test runs against. Start() from the test's main
// thread (the servers die with the thread that started them).
class MigratorEnv {
 public:
  static absl::StatusOr<std::unique_ptr<MigratorEnv>> Start(EnvOptions options);

  // Start() for a test suite's SetUpTestSuite: returns the environment, or
  // null with `*error` set (the suite's SetUp then fails each test with it;
  // an ASSERT in SetUpTestSuite would only skip them).
  static MigratorEnv* StartForSuite(EnvOptions options, std::string* error);
  ~MigratorEnv();

  // Starts a migrator replica; `tune` may change its options first.
  absl::StatusOr<std::unique_ptr<MigratorServer>> StartMigrator(
      const std::function<void(MigratorServerOptions&)>& tune = nullptr) const;
  // The options StartMigrator uses (without `tune`).
  MigratorServerOptions MigratorOptions() const;

  // Starts the portal: each simulator with `sim_connections` database
  // connections, the proxy on a free loopback port holding a customer's
  // requests for up to `hold_timeout` (longer than any batch's cutover
  // timeout, so a cutover never turns into a 503), with an admin port.
  absl::StatusOr<std::unique_ptr<Portal>> StartPortal(
      absl::Duration hold_timeout = absl::Seconds(30),
      int sim_connections = 4) const;

  testbed::Testbed& testbed() const { return *testbed_; }
  router::RouterServer& router() const { return *router_; }
  catalog::CatalogServer& catalog() const { return *catalog_; }
  router::v1::RouterService::Stub& router_stub() const { return *router_stub_; }
  catalog::v1::CatalogService::Stub& catalog_stub() const {
    return *catalog_stub_;
  }

  // Customers the catalog lets move (in id order, at most `n`), among those
  // with at most `max_accounts` accounts.
  std::vector<int64_t> MovableCustomers(size_t n, int max_accounts = 20) const;

  router::v1::Route Route(int64_t customer) const;

  // The rows of `table` of `db` ("billing_v1" on the source server or
  // "billing_v2" on the target server) selected by `where`, ordered, as
  // text lines.
  std::vector<std::string> Rows(bool target, const std::string& table,
                                const std::string& where) const;

  static std::unique_ptr<grpc::ClientContext> Ctx(
      const std::string& token = kOperatorToken, int seconds = 120);

 private:
  MigratorEnv() = default;
  std::unique_ptr<testbed::Testbed> testbed_;
  std::unique_ptr<router::RouterServer> router_;
  std::unique_ptr<catalog::CatalogServer> catalog_;
  std::unique_ptr<router::v1::RouterService::Stub> router_stub_;
  std::unique_ptr<catalog::v1::CatalogService::Stub> catalog_stub_;
};

// A stub over a real channel to a migrator.
std::unique_ptr<v1::MigratorService::Stub> MigratorStub(int port);

// Batch calls for tests, over a real channel.
class Batches {
 public:
  explicit Batches(int port) : stub_(MigratorStub(port)) {}

  // CreateBatch with `start`; the status of the call.
  grpc::Status Create(v1::CreateBatchRequest request, v1::Batch* out);
  // A started LIVE (or `mode`) batch of exactly `customers`.
  v1::Batch Start(const std::string& name,
                  const std::vector<int64_t>& customers,
                  const v1::BatchOptions& options = v1::BatchOptions(),
                  v1::BatchMode mode = v1::BATCH_MODE_LIVE);
  v1::Batch Get(int64_t batch_id);
  // Every item of the batch (with details), in customer id order.
  std::vector<v1::BatchItem> Items(int64_t batch_id);
  // Waits (up to `timeout`) until `done(batch)` holds; true when it did.
  bool Await(int64_t batch_id,
             const std::function<bool(const v1::Batch&)>& done,
             absl::Duration timeout = absl::Seconds(120));
  // Waits until the batch is COMPLETED or CANCELLED.
  bool AwaitFinished(int64_t batch_id,
                     absl::Duration timeout = absl::Seconds(120));
  grpc::Status Act(const std::string& action, int64_t batch_id,
                   v1::Batch* out = nullptr);
  v1::MigratorService::Stub& stub() { return *stub_; }

 private:
  std::unique_ptr<v1::MigratorService::Stub> stub_;
};

// Waits (up to `timeout`) until batch `batch_id`, read through `stub` with
// the viewer token, is in `state`; true when it was.
bool AwaitBatchState(v1::MigratorService::Stub& stub, int64_t batch_id,
                     v1::BatchState state,
                     absl::Duration timeout = absl::Seconds(60));

}  // namespace tandem::migrator::testing
