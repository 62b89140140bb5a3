// The freeze at the door, end to end: the proxy's CatalogClient follows the
// real catalog (which watches a real router, over a throwaway MariaDB with
// both testbed billing systems), and product-admin requests over real
// sockets are forwarded or refused as the catalog decides, every refusal
// audited by the catalog.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "catalog/catalog_server.h"
#include "common/auth.h"
#include "portal-proxy/catalog_client.h"
#include "portal-proxy/freeze_policy.h"
#include "portal-proxy/proxy_server.h"
#include "portal-proxy/routing_cookie.h"
#include "prometheus/registry.h"
#include "router/router_server.h"
#include "tandem/catalog/v1/catalog.grpc.pb.h"
#include "tests/portal-proxy/fake_routes.h"
#include "tests/portal-proxy/http_test_client.h"
#include "tests/portal-proxy/test_backend.h"
#include "tests/testbed/services_fixture.h"
#include "tests/testbed/testbed_fixture.h"
#include "tests/testing/eventually.h"

namespace tandem::proxy {
namespace {

namespace cv1 = ::tandem::catalog::v1;
using ::tandem::common::v1::SYSTEM_SOURCE;
using ::tandem::common::v1::SYSTEM_TARGET;
using testing::FakeRoutes;
using testing::HttpClient;
using testing::HttpResponse;
using testing::TestBackend;

constexpr char kOperator[] = "operator-token-0123456789";
constexpr char kViewer[] = "viewer-token-0123456789ab";
constexpr char kTokens[] =
    "alice operator operator-token-0123456789\n"
    "proxy viewer viewer-token-0123456789ab\n";

using ::tandem::testing::Eventually;

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token) {
  auto context = std::make_unique<grpc::ClientContext>();
  AttachBearerToken(*context, token);
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(30));
  return context;
}

TEST(ProxyRealCatalogTest, ProductAdminChangesFollowTheRealCatalogsFreeze) {
  testbed::DatagenOptions o;
  o.customers = 10;
  o.accounts = 30;
  o.xdrs = 30;
  o.password_iterations = 10;
  auto db = testbed::StartTestbedDb(o);
  ASSERT_TRUE(db.ok()) << db.status();
  auto router = testbed::StartRouter(*db->server, kTokens);
  ASSERT_TRUE(router.ok()) << router.status();
  auto catalog_server =
      testbed::StartCatalog(*db->server, (*router)->port(), kTokens, kViewer);
  ASSERT_TRUE(catalog_server.ok()) << catalog_server.status();
  auto catalog = cv1::CatalogService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*catalog_server)->port()),
                          grpc::InsecureChannelCredentials()));

  auto source = TestBackend::Start("v1");
  auto target = TestBackend::Start("v2");
  ASSERT_NE(source, nullptr);
  ASSERT_NE(target, nullptr);
  FakeRoutes routes;  // no customer: admin requests go to the default system
  ProxyServerOptions options;
  options.http.listen = "127.0.0.1:0";
  options.http.io_threads = 2;
  options.http.source_backend = source->address();
  options.http.target_backend = target->address();
  options.catalog = absl::StrCat("127.0.0.1:", (*catalog_server)->port());
  options.catalog_token = kViewer;
  options.cookie_key = "test-cookie-key-0123456789";
  ProxyServerDeps deps;
  deps.routes = &routes;
  auto proxy = ProxyServer::Start(options, deps);
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  CatalogClient* client = (*proxy)->catalog();
  CachedFreezePolicy& freeze = (*proxy)->freeze();

  auto set_freeze = [&](cv1::FreezeState state) {
    cv1::SetFreezeRequest req;
    req.set_state(state);
    req.set_reason("test");
    cv1::SetFreezeResponse response;
    grpc::Status status =
        catalog->SetFreeze(Ctx(kOperator).get(), req, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_TRUE(
        client->WaitForVersion(response.freeze().version(), absl::Seconds(10)));
  };
  const std::vector<std::pair<std::string, std::string>> jane = {
      {"X-Admin-User", "jane@billing"}, {"Content-Type", "application/json"}};
  HttpClient admin((*proxy)->port());

  // OPEN: forwarded.
  ASSERT_TRUE(Eventually(
      [&] { return freeze.EffectiveState() == cv1::FREEZE_STATE_OPEN; }));
  EXPECT_EQ(admin.Send("PATCH", "/admin/products/1", jane, "{}").status, 200);
  EXPECT_EQ(source->requests(), 1);

  // FROZEN: the source's MOB-S (id 1) may not change; the catalog says why
  // and keeps the refusal.
  set_freeze(cv1::FREEZE_STATE_FROZEN);
  HttpResponse refused =
      admin.Send("PATCH", "/admin/products/1", jane, R"({"monthly_fee":1})");
  EXPECT_EQ(refused.status, 423);
  EXPECT_NE(refused.body.find("(FROZEN): existing products cannot change"),
            std::string::npos)
      << refused.body;
  EXPECT_EQ(source->requests(), 1);
  // Reading is not a change.
  EXPECT_EQ(admin.Send("GET", "/admin/products/1").status, 200);

  // After the switchover (and with the default system the target), a new
  // product on the target passes; an existing one stays frozen.
  set_freeze(cv1::FREEZE_STATE_FROZEN_TARGET_OPEN);
  routes.default_ = SYSTEM_TARGET;
  EXPECT_EQ(admin.Send("POST", "/admin/products", jane, "{}").status, 200);
  EXPECT_EQ(target->requests(), 1);
  HttpResponse existing = admin.Send("DELETE", "/admin/products/5100", jane);
  EXPECT_EQ(existing.status, 423);
  EXPECT_EQ(target->requests(), 1);

  // The catalog audited both refusals, with who and what.
  cv1::ListFreezeAuditRequest audit_req;
  audit_req.add_kinds(cv1::AUDIT_KIND_CHANGE_REFUSED);
  cv1::ListFreezeAuditResponse audit;
  ASSERT_TRUE(
      catalog->ListFreezeAudit(Ctx(kViewer).get(), audit_req, &audit).ok());
  ASSERT_EQ(audit.entries_size(), 2);
  EXPECT_EQ(audit.entries(0).change().system(), SYSTEM_TARGET);
  EXPECT_EQ(audit.entries(0).change().kind(), cv1::CHANGE_KIND_DELETE);
  EXPECT_EQ(audit.entries(0).change().detail(), "DELETE /admin/products/5100");
  EXPECT_EQ(audit.entries(1).change().system(), SYSTEM_SOURCE);
  EXPECT_EQ(audit.entries(1).change().on_behalf_of(), "jane@billing");
  EXPECT_EQ(audit.entries(1).stamp().actor(), "proxy");

  // The catalog going away closes the door (fail closed).
  (*catalog_server)->Shutdown(absl::Seconds(1));
  ASSERT_TRUE(Eventually(
      [&] { return freeze.EffectiveState() == cv1::FREEZE_STATE_FROZEN; }));
  EXPECT_EQ(admin.Send("POST", "/admin/products", jane, "{}").status, 423);
  EXPECT_EQ(target->requests(), 1);
  (*proxy)->Shutdown(absl::Seconds(1));
}

}  // namespace
}  // namespace tandem::proxy
