#include "tests/testbed/services_fixture.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "tests/testbed/testbed_fixture.h"

namespace tandem::testbed {

absl::StatusOr<std::unique_ptr<router::RouterServer>> StartRouter(
    const tandem::testing::MariaDbServer& server, const std::string& tokens,
    bool with_metrics) {
  TANDEM_RETURN_IF_ERROR(server.CreateDatabase("router"));
  router::RouterServerOptions options;
  options.db = PoolOptions(server, "router", 2);
  options.tokens = tokens;
  if (with_metrics) options.metrics_address = "127.0.0.1:0";
  return router::RouterServer::Start(options);
}

absl::StatusOr<std::unique_ptr<catalog::CatalogServer>> StartCatalog(
    const tandem::testing::MariaDbServer& server, int router_port,
    const std::string& tokens, const std::string& router_token,
    bool with_metrics) {
  TANDEM_RETURN_IF_ERROR(server.CreateDatabase("catalog"));
  catalog::CatalogServerOptions options;
  options.control_db = PoolOptions(server, "catalog", 4);
  options.source_db = PoolOptions(server, "billing_v1", 4);
  options.target_db = PoolOptions(server, "billing_v2", 4);
  options.tokens = tokens;
  options.router_address = absl::StrCat("127.0.0.1:", router_port);
  options.router_token = router_token;
  options.refresh_interval = absl::ZeroDuration();
  if (with_metrics) options.metrics_address = "127.0.0.1:0";
  return catalog::CatalogServer::Start(options);
}

absl::StatusOr<std::unique_ptr<router::RouterServer>> StartRouter(
    const Testbed& testbed, const std::string& tokens, bool with_metrics) {
  return StartRouter(testbed.control_server(), tokens, with_metrics);
}

absl::StatusOr<std::unique_ptr<catalog::CatalogServer>> StartCatalog(
    const Testbed& testbed, int router_port, const std::string& tokens,
    const std::string& router_token, bool with_metrics) {
  TANDEM_RETURN_IF_ERROR(testbed.control_server().CreateDatabase("catalog"));
  catalog::CatalogServerOptions options;
  options.control_db = testbed.ControlDb("catalog", 4);
  options.source_db = testbed.SourceDb(4);
  options.target_db = testbed.TargetDb(4);
  options.tokens = tokens;
  options.router_address = absl::StrCat("127.0.0.1:", router_port);
  options.router_token = router_token;
  options.refresh_interval = absl::ZeroDuration();
  if (with_metrics) options.metrics_address = "127.0.0.1:0";
  return catalog::CatalogServer::Start(options);
}

}  // namespace tandem::testbed
