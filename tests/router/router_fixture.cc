#include "tests/router/router_fixture.h"

#include <grpcpp/create_channel.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/auth.h"
#include "tests/testing/eventually.h"

namespace tandem::router::testing {

::tandem::testing::MariaDbServer* RouterTest::db_ = nullptr;
absl::Status* RouterTest::db_error_ = nullptr;

void RouterTest::SetUpTestSuite() {
  auto server = ::tandem::testing::MariaDbServer::Start();
  // No ASSERT here: gtest would mark every test of the suite SKIPPED.
  // SetUp fails each test with the reason instead.
  if (!server.ok()) {
    db_error_ = new absl::Status(server.status());
    return;
  }
  db_ = server->release();
}

void RouterTest::TearDownTestSuite() {
  delete db_;
  db_ = nullptr;
  delete db_error_;
  db_error_ = nullptr;
}

void RouterTest::SetUp() {
  ASSERT_NE(db_, nullptr) << "the suite's MariaDB did not start: "
                          << (db_error_ != nullptr ? db_error_->ToString()
                                                   : "?");
  static std::atomic<int> counter{0};
  database_ = absl::StrCat("control_", counter.fetch_add(1));
  ASSERT_TRUE(db_->CreateDatabase(database_).ok());
}

std::unique_ptr<RouterServer> RouterTest::StartRouter(
    const std::string& address, const std::string& import_config,
    absl::Duration lease_check_interval) {
  RouterServerOptions options;
  options.grpc_address = address;
  options.db.url = db_->url();
  options.db.user = db_->user();
  options.db.password = db_->password();
  options.db.database = database_;
  options.db.pool_size = 4;
  options.tokens = kTokensFile;
  options.import_config = import_config;
  options.worker_threads = 4;
  options.leases.interval = lease_check_interval;
  auto server = RouterServer::Start(options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

std::unique_ptr<::tandem::router::v1::RouterService::Stub> RouterTest::Stub(
    int port) {
  return ::tandem::router::v1::RouterService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
}

std::unique_ptr<grpc::ClientContext> RouterTest::Ctx(const std::string& token) {
  auto context = std::make_unique<grpc::ClientContext>();
  AttachBearerToken(*context, token);
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(30));
  return context;
}

void RouterTest::ImportCustomers(
    ::tandem::router::v1::RouterService::Stub& stub, int first, int count) {
  ::tandem::router::v1::ImportRoutesRequest request;
  for (int i = first; i < first + count; ++i) {
    auto* customer = request.mutable_customers()->add_customers();
    customer->set_customer_id(i);
    auto* login = customer->add_keys();
    login->set_kind(::tandem::router::v1::KEY_KIND_LOGIN);
    login->set_value(absl::StrCat("user", i));
    auto* account = customer->add_keys();
    account->set_kind(::tandem::router::v1::KEY_KIND_ACCOUNT_ID);
    account->set_value(absl::StrCat("555", i));
  }
  ::tandem::router::v1::ImportRoutesResponse response;
  grpc::Status status = stub.ImportRoutes(Ctx().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
}

bool RouterTest::Eventually(const std::function<bool()>& condition,
                            absl::Duration timeout) {
  return ::tandem::testing::Eventually(condition, timeout);
}

}  // namespace tandem::router::testing
