// Test-only helpers: the router and the catalog started in-process on a
// testbed's MariaDB, as the tests around them (proxy, metrics, processes)
// need them.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "catalog/catalog_server.h"
#include "router/router_server.h"
#include "tests/testbed/testbed_fixture.h"
#include "tests/testing/mariadb_server.h"

namespace tandem::testbed {

// Creates database "router" on `server` and starts a router on it with
// `tokens` (the auth tokens file's text), on a free port; with
// `with_metrics`, also a metrics endpoint on a free port.
absl::StatusOr<std::unique_ptr<router::RouterServer>> StartRouter(
    const tandem::testing::MariaDbServer& server, const std::string& tokens,
    bool with_metrics = false);

// Creates database "catalog" on `server` and starts a catalog over its
// billing_v1 (source) and billing_v2 (target), following the router on
// `router_port` with `router_token`, without periodic refreshes.
absl::StatusOr<std::unique_ptr<catalog::CatalogServer>> StartCatalog(
    const tandem::testing::MariaDbServer& server, int router_port,
    const std::string& tokens, const std::string& router_token,
    bool with_metrics = false);

// The same on a three-server Testbed: the router's database "router" and the
// catalog's database "catalog" on the control server, the catalog reading
// billing_v1 on the source server and billing_v2 on the target server.
absl::StatusOr<std::unique_ptr<router::RouterServer>> StartRouter(
    const Testbed& testbed, const std::string& tokens,
    bool with_metrics = false);
absl::StatusOr<std::unique_ptr<catalog::CatalogServer>> StartCatalog(
    const Testbed& testbed, int router_port, const std::string& tokens,
    const std::string& router_token, bool with_metrics = false);

}  // namespace tandem::testbed
