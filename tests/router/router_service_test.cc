// The router through real gRPC channels against a real MariaDB.
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/router/router_fixture.h"

namespace tandem::router::testing {
namespace {

namespace v1 = ::tandem::router::v1;
using ::tandem::common::v1::SYSTEM_SOURCE;
using ::tandem::common::v1::SYSTEM_TARGET;
using v1::ROUTE_STATE_MIGRATING;
using v1::ROUTE_STATE_STABLE;

v1::Key MakeKey(v1::KeyKind kind, const std::string& value) {
  v1::Key key;
  key.set_kind(kind);
  key.set_value(value);
  return key;
}

class RouterServiceTest : public RouterTest {
 protected:
  void SetUp() override {
    RouterTest::SetUp();
    server_ = StartRouter();
    ASSERT_NE(server_, nullptr);
    stub_ = Stub(server_->port());
    ImportCustomers(*stub_, 1, 10);
  }

  v1::Route GetRoute(int64_t customer) {
    v1::GetRouteRequest request;
    request.set_customer_id(customer);
    v1::GetRouteResponse response;
    grpc::Status status = stub_->GetRoute(Ctx().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.route();
  }

  grpc::Status Set(int64_t customer, int64_t expected_version,
                   ::tandem::common::v1::System system, v1::RouteState state,
                   v1::Route* out = nullptr, const std::string& request_id = "",
                   const std::string& token = kOperatorToken) {
    v1::SetRouteRequest request;
    request.set_customer_id(customer);
    request.set_expected_version(expected_version);
    request.set_system(system);
    request.set_state(state);
    request.set_request_id(request_id);
    request.set_reason("test");
    v1::SetRouteResponse response;
    grpc::Status status = stub_->SetRoute(Ctx(token).get(), request, &response);
    if (out != nullptr) *out = response.route();
    return status;
  }

  int64_t Revision() {
    v1::GetStatsResponse stats;
    EXPECT_TRUE(
        stub_->GetStats(Ctx().get(), v1::GetStatsRequest(), &stats).ok());
    return stats.revision();
  }

  std::unique_ptr<RouterServer> server_;
  std::unique_ptr<v1::RouterService::Stub> stub_;
};

TEST_F(RouterServiceTest, ImportedCustomersResolveByEveryKeyKind) {
  for (const v1::Key& key : {MakeKey(v1::KEY_KIND_CUSTOMER_ID, "3"),
                             MakeKey(v1::KEY_KIND_LOGIN, "user3"),
                             MakeKey(v1::KEY_KIND_ACCOUNT_ID, "5553")}) {
    v1::LookupRequest request;
    *request.mutable_key() = key;
    v1::LookupResponse response;
    ASSERT_TRUE(stub_->Lookup(Ctx().get(), request, &response).ok());
    EXPECT_TRUE(response.found()) << key.ShortDebugString();
    EXPECT_EQ(response.route().customer_id(), 3);
    EXPECT_EQ(response.route().system(), SYSTEM_SOURCE);
    EXPECT_EQ(response.route().state(), ROUTE_STATE_STABLE);
    EXPECT_GT(response.route().version(), 0);
  }
}

TEST_F(RouterServiceTest, MoveAndRollbackFollowTheLegalTransitions) {
  v1::Route route = GetRoute(1);
  // Move: SOURCE/STABLE -> SOURCE/MIGRATING -> TARGET/STABLE.
  ASSERT_TRUE(
      Set(1, route.version(), SYSTEM_SOURCE, ROUTE_STATE_MIGRATING, &route)
          .ok());
  EXPECT_EQ(route.state(), ROUTE_STATE_MIGRATING);
  int64_t migrating_version = route.version();
  ASSERT_TRUE(
      Set(1, route.version(), SYSTEM_TARGET, ROUTE_STATE_STABLE, &route).ok());
  EXPECT_EQ(route.system(), SYSTEM_TARGET);
  EXPECT_GT(route.version(), migrating_version);
  EXPECT_EQ(route.updated_by(), "alice");
  // Rollback: TARGET/STABLE -> TARGET/MIGRATING -> SOURCE/STABLE.
  ASSERT_TRUE(
      Set(1, route.version(), SYSTEM_TARGET, ROUTE_STATE_MIGRATING, &route)
          .ok());
  ASSERT_TRUE(
      Set(1, route.version(), SYSTEM_SOURCE, ROUTE_STATE_STABLE, &route).ok());
  EXPECT_EQ(GetRoute(1).system(), SYSTEM_SOURCE);
  // Aborted move: SOURCE/MIGRATING -> SOURCE/STABLE.
  ASSERT_TRUE(
      Set(1, route.version(), SYSTEM_SOURCE, ROUTE_STATE_MIGRATING, &route)
          .ok());
  ASSERT_TRUE(
      Set(1, route.version(), SYSTEM_SOURCE, ROUTE_STATE_STABLE, &route).ok());
  // Aborted rollback: TARGET/MIGRATING -> TARGET/STABLE.
  ASSERT_TRUE(Set(2, GetRoute(2).version(), SYSTEM_SOURCE,
                  ROUTE_STATE_MIGRATING, &route)
                  .ok());
  ASSERT_TRUE(
      Set(2, route.version(), SYSTEM_TARGET, ROUTE_STATE_STABLE, &route).ok());
  ASSERT_TRUE(
      Set(2, route.version(), SYSTEM_TARGET, ROUTE_STATE_MIGRATING, &route)
          .ok());
  ASSERT_TRUE(
      Set(2, route.version(), SYSTEM_TARGET, ROUTE_STATE_STABLE, &route).ok());
  EXPECT_EQ(GetRoute(2).system(), SYSTEM_TARGET);
}

TEST_F(RouterServiceTest, IllegalTransitionsAreRefusedAndChangeNothing) {
  v1::Route before = GetRoute(4);
  int64_t revision = Revision();
  // Straight to TARGET without MIGRATING: the proxy would never hold.
  grpc::Status status =
      Set(4, before.version(), SYSTEM_TARGET, ROUTE_STATE_STABLE);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(status.error_message().find("SOURCE/STABLE -> TARGET/STABLE"),
            std::string::npos)
      << status.error_message();
  // To the state it is already in.
  status = Set(4, before.version(), SYSTEM_SOURCE, ROUTE_STATE_STABLE);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  // MIGRATING on the other system.
  status = Set(4, before.version(), SYSTEM_TARGET, ROUTE_STATE_MIGRATING);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(GetRoute(4).version(), before.version());
  EXPECT_EQ(Revision(), revision);
}

TEST_F(RouterServiceTest, StaleVersionIsAbortedAndChangesNothing) {
  v1::Route before = GetRoute(5);
  grpc::Status status =
      Set(5, before.version() - 1, SYSTEM_SOURCE, ROUTE_STATE_MIGRATING);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(GetRoute(5).state(), ROUTE_STATE_STABLE);
}

TEST_F(RouterServiceTest, RetryWithTheSameRequestIdIsIdempotent) {
  v1::Route before = GetRoute(6);
  v1::Route first;
  ASSERT_TRUE(Set(6, before.version(), SYSTEM_SOURCE, ROUTE_STATE_MIGRATING,
                  &first, "req-6-a")
                  .ok());
  int64_t revision = Revision();
  // The same call again (its answer was lost): same result, no new change.
  v1::Route second;
  grpc::Status status = Set(6, before.version(), SYSTEM_SOURCE,
                            ROUTE_STATE_MIGRATING, &second, "req-6-a");
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(second.version(), first.version());
  EXPECT_EQ(Revision(), revision);
  // A different request with the stale version still loses.
  EXPECT_EQ(Set(6, before.version(), SYSTEM_SOURCE, ROUTE_STATE_MIGRATING,
                nullptr, "req-6-b")
                .error_code(),
            grpc::StatusCode::ABORTED);
  // Once another change has overtaken it, the first request's answer is no
  // longer replayed: its retry is a stale compare-and-set.
  ASSERT_TRUE(Set(6, first.version(), SYSTEM_SOURCE, ROUTE_STATE_STABLE,
                  nullptr, "req-6-c")
                  .ok());
  const int64_t aborted_at = Revision();
  EXPECT_EQ(Set(6, before.version(), SYSTEM_SOURCE, ROUTE_STATE_MIGRATING,
                nullptr, "req-6-a")
                .error_code(),
            grpc::StatusCode::ABORTED);
  EXPECT_EQ(GetRoute(6).state(), ROUTE_STATE_STABLE);
  EXPECT_EQ(Revision(), aborted_at);
}

TEST_F(RouterServiceTest, CompareAndSetRaceHasExactlyOneWinner) {
  auto other_stub = Stub(server_->port());
  for (int round = 0; round < 10; ++round) {
    v1::Route route = GetRoute(7);
    bool migrating = route.state() == ROUTE_STATE_MIGRATING;
    auto target_state = migrating ? ROUTE_STATE_STABLE : ROUTE_STATE_MIGRATING;
    std::atomic<int> ok{0};
    std::atomic<int> aborted{0};
    auto attempt = [&](v1::RouterService::Stub* stub) {
      v1::SetRouteRequest request;
      request.set_customer_id(7);
      request.set_expected_version(route.version());
      request.set_system(route.system());
      request.set_state(target_state);
      v1::SetRouteResponse response;
      grpc::Status status = stub->SetRoute(Ctx().get(), request, &response);
      if (status.ok()) ok++;
      if (status.error_code() == grpc::StatusCode::ABORTED) aborted++;
    };
    std::thread a(attempt, stub_.get());
    std::thread b(attempt, other_stub.get());
    a.join();
    b.join();
    EXPECT_EQ(ok.load(), 1) << "round " << round;
    EXPECT_EQ(aborted.load(), 1) << "round " << round;
  }
}

TEST_F(RouterServiceTest, KeysCanBeAddedAndRemovedButNotStolen) {
  v1::PutKeysRequest put;
  put.set_customer_id(8);
  *put.add_keys() = MakeKey(v1::KEY_KIND_API_TOKEN, "tok-8");
  *put.add_keys() = MakeKey(v1::KEY_KIND_LOGIN, "user8");  // Already held.
  v1::PutKeysResponse put_response;
  ASSERT_TRUE(stub_->PutKeys(Ctx().get(), put, &put_response).ok());
  EXPECT_EQ(put_response.added(), 1);
  // Idempotent.
  ASSERT_TRUE(stub_->PutKeys(Ctx().get(), put, &put_response).ok());
  EXPECT_EQ(put_response.added(), 0);
  EXPECT_EQ(put_response.revision(), 0);

  v1::LookupRequest lookup;
  *lookup.mutable_key() = MakeKey(v1::KEY_KIND_API_TOKEN, "tok-8");
  v1::LookupResponse found;
  ASSERT_TRUE(stub_->Lookup(Ctx().get(), lookup, &found).ok());
  EXPECT_EQ(found.route().customer_id(), 8);

  // Another customer's key: refused whole, nothing added.
  v1::PutKeysRequest steal;
  steal.set_customer_id(9);
  *steal.add_keys() = MakeKey(v1::KEY_KIND_API_TOKEN, "tok-9");
  *steal.add_keys() = MakeKey(v1::KEY_KIND_LOGIN, "user8");
  grpc::Status status = stub_->PutKeys(Ctx().get(), steal, &put_response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  *lookup.mutable_key() = MakeKey(v1::KEY_KIND_API_TOKEN, "tok-9");
  ASSERT_TRUE(stub_->Lookup(Ctx().get(), lookup, &found).ok());
  EXPECT_FALSE(found.found());

  v1::DeleteKeysRequest remove;
  remove.set_customer_id(8);
  *remove.add_keys() = MakeKey(v1::KEY_KIND_API_TOKEN, "tok-8");
  v1::DeleteKeysResponse removed;
  ASSERT_TRUE(stub_->DeleteKeys(Ctx().get(), remove, &removed).ok());
  EXPECT_EQ(removed.deleted(), 1);
  *lookup.mutable_key() = MakeKey(v1::KEY_KIND_API_TOKEN, "tok-8");
  ASSERT_TRUE(stub_->Lookup(Ctx().get(), lookup, &found).ok());
  EXPECT_FALSE(found.found());
}

TEST_F(RouterServiceTest, ImportIsIdempotentAndReportsConflicts) {
  int64_t revision = Revision();
  v1::ImportRoutesRequest request;
  for (int i = 1; i <= 10; ++i) {
    auto* customer = request.mutable_customers()->add_customers();
    customer->set_customer_id(i);
    *customer->add_keys() =
        MakeKey(v1::KEY_KIND_LOGIN, absl::StrCat("user", i));
  }
  v1::ImportRoutesResponse response;
  ASSERT_TRUE(stub_->ImportRoutes(Ctx().get(), request, &response).ok());
  EXPECT_EQ(response.customers_seen(), 10);
  EXPECT_EQ(response.routes_created(), 0);
  EXPECT_EQ(response.keys_added(), 0);
  EXPECT_EQ(Revision(), revision);

  // A moved customer keeps its route when imported again.
  v1::Route route = GetRoute(1);
  ASSERT_TRUE(
      Set(1, route.version(), SYSTEM_SOURCE, ROUTE_STATE_MIGRATING, &route)
          .ok());
  v1::ImportRoutesRequest again;
  auto* one = again.mutable_customers()->add_customers();
  one->set_customer_id(1);
  auto* eleven = again.mutable_customers()->add_customers();
  eleven->set_customer_id(11);
  *eleven->add_keys() = MakeKey(v1::KEY_KIND_LOGIN, "user2");  // Conflict.
  *eleven->add_keys() = MakeKey(v1::KEY_KIND_LOGIN, "user11");
  ASSERT_TRUE(stub_->ImportRoutes(Ctx().get(), again, &response).ok());
  EXPECT_EQ(response.routes_created(), 1);
  EXPECT_EQ(response.keys_added(), 1);
  EXPECT_EQ(response.key_conflicts(), 1);
  ASSERT_EQ(response.conflict_samples_size(), 1);
  EXPECT_NE(response.conflict_samples(0).find("belongs to customer 2"),
            std::string::npos);
  EXPECT_EQ(GetRoute(1).state(), ROUTE_STATE_MIGRATING);
  v1::LookupRequest lookup;
  *lookup.mutable_key() = MakeKey(v1::KEY_KIND_LOGIN, "user2");
  v1::LookupResponse found;
  ASSERT_TRUE(stub_->Lookup(Ctx().get(), lookup, &found).ok());
  EXPECT_EQ(found.route().customer_id(), 2);
}

TEST_F(RouterServiceTest, ImportFromAConfiguredSourceQuery) {
  std::string source_db = absl::StrCat(database(), "_billing");
  ASSERT_TRUE(db()->CreateDatabase(source_db).ok());
  ASSERT_TRUE(
      db()->Execute("CREATE TABLE customers (i_customer BIGINT PRIMARY KEY,"
                    " login VARCHAR(64));"
                    "CREATE TABLE accounts (id VARCHAR(32) PRIMARY KEY,"
                    " i_customer BIGINT);"
                    "INSERT INTO customers VALUES (100, 'acme'), (101, "
                    "'globex'), (102, 'initech');"
                    "INSERT INTO accounts VALUES ('15550100', 100), "
                    "('15550101', 100), ('15550200', 101);",
                    source_db)
          .ok());
  std::string config = absl::StrCat(
      "[billing]\nurl = ", db()->url(), "\nuser = ", db()->user(),
      "\npassword_file = ", db()->password_file(), "\ndatabase = ", source_db,
      "\ncustomers_query = SELECT i_customer FROM customers WHERE i_customer "
      "> ?\n  ORDER BY i_customer LIMIT ?\n"
      "keys_query = SELECT i_customer, 'login', login FROM customers\n"
      "  WHERE i_customer BETWEEN ? AND ?\n"
      "  UNION ALL SELECT i_customer, 'account_id', id FROM accounts\n"
      "  WHERE i_customer BETWEEN ? AND ?\n");
  server_.reset();
  server_ = StartRouter("127.0.0.1:0", config);
  ASSERT_NE(server_, nullptr);
  stub_ = Stub(server_->port());

  v1::ImportRoutesRequest request;
  request.set_configured_query("billing");
  v1::ImportRoutesResponse response;
  grpc::Status status = stub_->ImportRoutes(Ctx().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.customers_seen(), 3);
  EXPECT_EQ(response.routes_created(), 3);
  EXPECT_EQ(response.keys_added(), 6);
  v1::LookupRequest lookup;
  *lookup.mutable_key() = MakeKey(v1::KEY_KIND_ACCOUNT_ID, "15550101");
  v1::LookupResponse found;
  ASSERT_TRUE(stub_->Lookup(Ctx().get(), lookup, &found).ok());
  EXPECT_EQ(found.route().customer_id(), 100);

  request.set_configured_query("nonexistent");
  EXPECT_EQ(stub_->ImportRoutes(Ctx().get(), request, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(RouterServiceTest, ListRoutesPagesAndFilters) {
  ImportCustomers(*stub_, 11, 15);  // 25 routes in all.
  v1::Route route = GetRoute(3);
  ASSERT_TRUE(
      Set(3, route.version(), SYSTEM_SOURCE, ROUTE_STATE_MIGRATING, &route)
          .ok());
  std::vector<int64_t> seen;
  v1::ListRoutesRequest request;
  request.set_page_size(10);
  int pages = 0;
  do {
    v1::ListRoutesResponse response;
    ASSERT_TRUE(stub_->ListRoutes(Ctx().get(), request, &response).ok());
    for (const v1::Route& r : response.routes())
      seen.push_back(r.customer_id());
    request.set_page_token(response.next_page_token());
    ++pages;
  } while (!request.page_token().empty() && pages < 10);
  EXPECT_EQ(seen.size(), 25u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(pages, 3);

  v1::ListRoutesRequest migrating;
  migrating.set_state(ROUTE_STATE_MIGRATING);
  v1::ListRoutesResponse response;
  ASSERT_TRUE(stub_->ListRoutes(Ctx().get(), migrating, &response).ok());
  ASSERT_EQ(response.routes_size(), 1);
  EXPECT_EQ(response.routes(0).customer_id(), 3);
  EXPECT_TRUE(response.next_page_token().empty());
}

TEST_F(RouterServiceTest, BadInputGetsPreciseErrorsAndChangesNothing) {
  int64_t revision = Revision();
  v1::LookupRequest lookup;
  v1::LookupResponse found;
  *lookup.mutable_key() = MakeKey(v1::KEY_KIND_LOGIN, "");
  EXPECT_EQ(stub_->Lookup(Ctx().get(), lookup, &found).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  *lookup.mutable_key() = MakeKey(static_cast<v1::KeyKind>(42), "x");
  grpc::Status status = stub_->Lookup(Ctx().get(), lookup, &found);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("unknown key kind"), std::string::npos);
  *lookup.mutable_key() = MakeKey(v1::KEY_KIND_CUSTOMER_ID, "12abc");
  EXPECT_EQ(stub_->Lookup(Ctx().get(), lookup, &found).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Unknown key: not an error, but not found, with the default system.
  *lookup.mutable_key() = MakeKey(v1::KEY_KIND_LOGIN, "nobody");
  ASSERT_TRUE(stub_->Lookup(Ctx().get(), lookup, &found).ok());
  EXPECT_FALSE(found.found());
  EXPECT_EQ(found.default_system(), SYSTEM_SOURCE);

  v1::GetRouteRequest get;
  get.set_customer_id(999);
  v1::GetRouteResponse got;
  EXPECT_EQ(stub_->GetRoute(Ctx().get(), get, &got).error_code(),
            grpc::StatusCode::NOT_FOUND);
  get.set_customer_id(-1);
  EXPECT_EQ(stub_->GetRoute(Ctx().get(), get, &got).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Set(999, 1, SYSTEM_SOURCE, ROUTE_STATE_MIGRATING).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(
      Set(1, 1, ::tandem::common::v1::SYSTEM_UNSPECIFIED, ROUTE_STATE_MIGRATING)
          .error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);

  v1::ListRoutesRequest list;
  v1::ListRoutesResponse listed;
  list.set_page_token("garbage!");
  status = stub_->ListRoutes(Ctx().get(), list, &listed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("page_token"), std::string::npos);
  list.set_page_token("");
  list.set_page_size(-1);
  EXPECT_EQ(stub_->ListRoutes(Ctx().get(), list, &listed).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  v1::ImportRoutesRequest import;
  v1::ImportRoutesResponse imported;
  EXPECT_EQ(stub_->ImportRoutes(Ctx().get(), import, &imported).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  import.mutable_customers()->add_customers()->set_customer_id(0);
  EXPECT_EQ(stub_->ImportRoutes(Ctx().get(), import, &imported).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  v1::PutKeysRequest put;
  put.set_customer_id(1);
  *put.add_keys() = MakeKey(v1::KEY_KIND_CUSTOMER_ID, "1");
  v1::PutKeysResponse put_response;
  EXPECT_EQ(stub_->PutKeys(Ctx().get(), put, &put_response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::WatchRequest watch;
  watch.set_from_revision(-5);
  auto context = Ctx();
  auto reader = stub_->Watch(context.get(), watch);
  v1::WatchResponse event;
  EXPECT_FALSE(reader->Read(&event));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  EXPECT_EQ(Revision(), revision);
  // Each refusal is counted by code.
  bool counted = false;
  for (const auto& family : server_->registry().Collect()) {
    if (family.name != "grpc_server_handled_total") continue;
    for (const auto& metric : family.metric) {
      bool lookup_invalid = false;
      for (const auto& label : metric.label) {
        if (label.name == "grpc_code" && label.value == "INVALID_ARGUMENT") {
          lookup_invalid = true;
        }
      }
      if (lookup_invalid && metric.counter.value > 0) counted = true;
    }
  }
  EXPECT_TRUE(counted);
}

TEST_F(RouterServiceTest, EveryMethodNeedsATokenAndMutationsNeedOperator) {
  // Each call with `token`; the requests are valid, so only the
  // credentials can refuse them.
  using Call = std::function<grpc::Status(const std::string& token)>;
  struct Case {
    const char* name;
    bool mutation;
    Call run;
  };
  v1::LookupRequest lookup;
  *lookup.mutable_key() = MakeKey(v1::KEY_KIND_LOGIN, "user1");
  v1::BatchLookupRequest batch;
  *batch.add_keys() = MakeKey(v1::KEY_KIND_LOGIN, "user2");
  v1::GetRouteRequest get;
  get.set_customer_id(1);
  v1::SetRouteRequest set;
  set.set_customer_id(1);
  set.set_expected_version(GetRoute(1).version());
  set.set_system(SYSTEM_SOURCE);
  set.set_state(ROUTE_STATE_MIGRATING);
  set.set_reason("auth");
  v1::PutKeysRequest put;
  put.set_customer_id(1);
  *put.add_keys() = MakeKey(v1::KEY_KIND_LOGIN, "auth-login");
  v1::DeleteKeysRequest del;
  del.set_customer_id(1);
  *del.add_keys() = MakeKey(v1::KEY_KIND_LOGIN, "user1");
  v1::ImportRoutesRequest import;
  import.mutable_customers()->add_customers()->set_customer_id(50);
  v1::SetDefaultSystemRequest set_default;
  set_default.set_system(SYSTEM_TARGET);
  // Watch: the first message (the snapshot) or the refusal.
  auto* stub = stub_.get();
  Call watch = [stub](const std::string& token) {
    auto context = Ctx(token);
    auto reader = stub->Watch(context.get(), v1::WatchRequest());
    v1::WatchResponse event;
    if (reader->Read(&event)) {
      context->TryCancel();
      reader->Finish();
      return grpc::Status::OK;
    }
    return reader->Finish();
  };
#define TANDEM_CASE(Method, mutation, request)                         \
  Case {                                                               \
#Method, mutation, [stub, req = request](const std::string& token) { \
      v1::Method##Response response;                                   \
      return stub->Method(Ctx(token).get(), req, &response);           \
    } \
  }
  std::vector<Case> cases = {
      TANDEM_CASE(Lookup, false, lookup),
      TANDEM_CASE(BatchLookup, false, batch),
      TANDEM_CASE(GetRoute, false, get),
      TANDEM_CASE(ListRoutes, false, v1::ListRoutesRequest()),
      TANDEM_CASE(SetRoute, true, set),
      TANDEM_CASE(PutKeys, true, put),
      TANDEM_CASE(DeleteKeys, true, del),
      TANDEM_CASE(ImportRoutes, true, import),
      Case{"Watch", false, watch},
      TANDEM_CASE(GetStats, false, v1::GetStatsRequest()),
      TANDEM_CASE(GetDefaultSystem, false, v1::GetDefaultSystemRequest()),
      TANDEM_CASE(SetDefaultSystem, true, set_default),
  };
#undef TANDEM_CASE
  const int64_t revision = Revision();
  for (const Case& c : cases) {
    EXPECT_EQ(c.run("").error_code(), grpc::StatusCode::UNAUTHENTICATED)
        << c.name;
    EXPECT_EQ(c.run("not-a-known-token-at-all").error_code(),
              grpc::StatusCode::UNAUTHENTICATED)
        << c.name;
    grpc::Status as_viewer = c.run(kViewerToken);
    if (c.mutation) {
      EXPECT_EQ(as_viewer.error_code(), grpc::StatusCode::PERMISSION_DENIED)
          << c.name;
    } else {
      EXPECT_TRUE(as_viewer.ok())
          << c.name << ": " << as_viewer.error_message();
    }
  }
  // Nothing changed: no revision, the route, its keys, the default system.
  EXPECT_EQ(Revision(), revision);
  EXPECT_EQ(GetRoute(1).state(), ROUTE_STATE_STABLE);
  v1::GetRouteRequest with_keys;
  with_keys.set_customer_id(1);
  with_keys.set_include_keys(true);
  v1::GetRouteResponse keys;
  ASSERT_TRUE(stub_->GetRoute(Ctx().get(), with_keys, &keys).ok());
  EXPECT_EQ(keys.keys_size(), 2);
  v1::GetDefaultSystemResponse current;
  ASSERT_TRUE(stub_
                  ->GetDefaultSystem(Ctx().get(), v1::GetDefaultSystemRequest(),
                                     &current)
                  .ok());
  EXPECT_EQ(current.system(), SYSTEM_SOURCE);
  v1::GetStatsResponse stats;
  ASSERT_TRUE(stub_->GetStats(Ctx().get(), v1::GetStatsRequest(), &stats).ok());
  EXPECT_EQ(stats.source_stable(), 10);
}

TEST_F(RouterServiceTest, BatchLookupResolvesEveryKeyInRequestOrder) {
  v1::Route route = GetRoute(4);
  ASSERT_TRUE(
      Set(4, route.version(), SYSTEM_SOURCE, ROUTE_STATE_MIGRATING).ok());
  v1::BatchLookupRequest request;
  *request.add_keys() = MakeKey(v1::KEY_KIND_ACCOUNT_ID, "5557");
  *request.add_keys() = MakeKey(v1::KEY_KIND_LOGIN, "nobody");
  *request.add_keys() = MakeKey(v1::KEY_KIND_CUSTOMER_ID, "4");
  *request.add_keys() = MakeKey(v1::KEY_KIND_LOGIN, "user2");
  v1::BatchLookupResponse response;
  ASSERT_TRUE(
      stub_->BatchLookup(Ctx(kViewerToken).get(), request, &response).ok());
  ASSERT_EQ(response.results_size(), 4);
  EXPECT_TRUE(response.results(0).found());
  EXPECT_EQ(response.results(0).route().customer_id(), 7);
  EXPECT_FALSE(response.results(1).found());
  EXPECT_EQ(response.results(1).default_system(), SYSTEM_SOURCE);
  EXPECT_EQ(response.results(2).route().customer_id(), 4);
  EXPECT_EQ(response.results(2).route().state(), ROUTE_STATE_MIGRATING);
  EXPECT_EQ(response.results(3).route().customer_id(), 2);
  // Each result is what Lookup answers for the same key.
  for (int i = 0; i < request.keys_size(); ++i) {
    v1::LookupRequest one;
    *one.mutable_key() = request.keys(i);
    v1::LookupResponse alone;
    ASSERT_TRUE(stub_->Lookup(Ctx().get(), one, &alone).ok());
    EXPECT_EQ(alone.SerializeAsString(),
              response.results(i).SerializeAsString())
        << i;
  }
  // No keys: no results.
  ASSERT_TRUE(stub_->BatchLookup(Ctx().get(), {}, &response).ok());
  EXPECT_EQ(response.results_size(), 0);
  // A bad key is named by its index; the whole batch is refused.
  *request.mutable_keys(1) = MakeKey(v1::KEY_KIND_CUSTOMER_ID, "12abc");
  grpc::Status bad = stub_->BatchLookup(Ctx().get(), request, &response);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(bad.error_message().find("keys[1]"), std::string::npos)
      << bad.error_message();
  v1::BatchLookupRequest too_many;
  for (int i = 0; i < 10001; ++i) {
    *too_many.add_keys() = MakeKey(v1::KEY_KIND_CUSTOMER_ID, "1");
  }
  bad = stub_->BatchLookup(Ctx().get(), too_many, &response);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(bad.error_message().find("10000"), std::string::npos);
}

TEST_F(RouterServiceTest, ReadinessIsNotServingWhileTheControlDatabaseIsDown) {
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                          grpc::InsecureChannelCredentials()));
  auto status_of = [&](const std::string& service) {
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status = health->Check(Ctx().get(), request, &response);
    return status.ok() ? response.status()
                       : grpc::health::v1::HealthCheckResponse::UNKNOWN;
  };
  using grpc::health::v1::HealthCheckResponse;
  EXPECT_EQ(status_of(kRouterHealthService), HealthCheckResponse::SERVING);
  db()->Kill();
  EXPECT_TRUE(Eventually(
      [&] {
        return status_of(kRouterHealthService) ==
               HealthCheckResponse::NOT_SERVING;
      },
      absl::Seconds(15)));
  // Liveness does not depend on the database, and lookups are served from
  // memory meanwhile.
  EXPECT_EQ(status_of(""), HealthCheckResponse::SERVING);
  v1::LookupRequest lookup;
  *lookup.mutable_key() = MakeKey(v1::KEY_KIND_LOGIN, "user3");
  v1::LookupResponse found;
  ASSERT_TRUE(stub_->Lookup(Ctx().get(), lookup, &found).ok());
  EXPECT_EQ(found.route().customer_id(), 3);
  ASSERT_TRUE(db()->Restart().ok());
  EXPECT_TRUE(Eventually(
      [&] {
        return status_of(kRouterHealthService) == HealthCheckResponse::SERVING;
      },
      absl::Seconds(30)));
}

TEST_F(RouterServiceTest, DefaultSystemIsAuditedAndServedToUnknownKeys) {
  v1::SetDefaultSystemRequest request;
  request.set_system(SYSTEM_TARGET);
  request.set_reason("switchover done");
  v1::SetDefaultSystemResponse response;
  ASSERT_TRUE(stub_->SetDefaultSystem(Ctx().get(), request, &response).ok());
  EXPECT_GT(response.revision(), 0);
  // Setting it again is not a change.
  ASSERT_TRUE(stub_->SetDefaultSystem(Ctx().get(), request, &response).ok());
  EXPECT_EQ(response.revision(), 0);

  v1::GetDefaultSystemResponse current;
  ASSERT_TRUE(stub_
                  ->GetDefaultSystem(Ctx().get(), v1::GetDefaultSystemRequest(),
                                     &current)
                  .ok());
  EXPECT_EQ(current.system(), SYSTEM_TARGET);
  EXPECT_EQ(current.stamp().actor(), "alice");
  EXPECT_EQ(current.stamp().reason(), "switchover done");
  EXPECT_GT(current.stamp().at_unix_ms(), 0);

  v1::LookupRequest lookup;
  *lookup.mutable_key() = MakeKey(v1::KEY_KIND_LOGIN, "brand-new-customer");
  v1::LookupResponse found;
  ASSERT_TRUE(stub_->Lookup(Ctx().get(), lookup, &found).ok());
  EXPECT_FALSE(found.found());
  EXPECT_EQ(found.default_system(), SYSTEM_TARGET);
}

TEST_F(RouterServiceTest, StatsCountRoutesBySystemAndState) {
  v1::Route route = GetRoute(1);
  ASSERT_TRUE(
      Set(1, route.version(), SYSTEM_SOURCE, ROUTE_STATE_MIGRATING, &route)
          .ok());
  ASSERT_TRUE(
      Set(1, route.version(), SYSTEM_TARGET, ROUTE_STATE_STABLE, &route).ok());
  route = GetRoute(2);
  ASSERT_TRUE(
      Set(2, route.version(), SYSTEM_SOURCE, ROUTE_STATE_MIGRATING, &route)
          .ok());
  v1::GetStatsResponse stats;
  ASSERT_TRUE(stub_->GetStats(Ctx().get(), v1::GetStatsRequest(), &stats).ok());
  EXPECT_EQ(stats.source_stable(), 8);
  EXPECT_EQ(stats.source_migrating(), 1);
  EXPECT_EQ(stats.target_stable(), 1);
  EXPECT_EQ(stats.target_migrating(), 0);
  EXPECT_EQ(stats.keys(), 20);
}

TEST_F(RouterServiceTest, RestartReloadsEverythingFromTheDatabase) {
  v1::Route route = GetRoute(1);
  ASSERT_TRUE(
      Set(1, route.version(), SYSTEM_SOURCE, ROUTE_STATE_MIGRATING, &route)
          .ok());
  int64_t revision = Revision();
  server_.reset();
  server_ = StartRouter();
  ASSERT_NE(server_, nullptr);
  stub_ = Stub(server_->port());
  EXPECT_EQ(Revision(), revision);
  v1::Route reloaded = GetRoute(1);
  EXPECT_EQ(reloaded.state(), ROUTE_STATE_MIGRATING);
  EXPECT_EQ(reloaded.version(), route.version());
  EXPECT_EQ(reloaded.updated_by(), "alice");
  v1::LookupRequest lookup;
  *lookup.mutable_key() = MakeKey(v1::KEY_KIND_ACCOUNT_ID, "5557");
  v1::LookupResponse found;
  ASSERT_TRUE(stub_->Lookup(Ctx().get(), lookup, &found).ok());
  EXPECT_EQ(found.route().customer_id(), 7);
}

TEST_F(RouterServiceTest, GetRouteWithKeysReadsTheDatabase) {
  v1::GetRouteRequest request;
  request.set_customer_id(3);
  request.set_include_keys(true);
  v1::GetRouteResponse response;
  ASSERT_TRUE(stub_->GetRoute(Ctx().get(), request, &response).ok());
  ASSERT_EQ(response.keys_size(), 2);
  EXPECT_EQ(response.keys(0).value(), "user3");
  EXPECT_EQ(response.keys(1).value(), "5553");
}

}  // namespace
}  // namespace tandem::router::testing
