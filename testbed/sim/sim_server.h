// The billing-system simulator as one object: a MySQL pool on a v1 or v2
// database, the portal service and its HTTP server. main.cc and the tests
// both start it through SimServer::Start.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/mysql_pool.h"
#include "testbed/base/model.h"
#include "testbed/sim/http_server.h"
#include "testbed/sim/mysql_billing_store.h"
#include "testbed/sim/portal_service.h"

namespace tandem::testbed {

struct SimOptions {
  SchemaVersion version = SchemaVersion::kV1;
  MysqlOptions db;
  HttpServerOptions http;  // http.version is set from `version`
  PortalOptions portal;
  // Create the schema's tables if they are missing.
  bool create_schema = false;
};

class SimServer {
 public:
  // Connects to the database (UNAVAILABLE if it cannot), optionally
  // creates the schema, and starts serving.
  static absl::StatusOr<std::unique_ptr<SimServer>> Start(SimOptions options);

  // Stops the HTTP server, then closes the pool.
  ~SimServer();

  int port() const { return http_->port(); }
  SchemaVersion version() const { return version_; }

 private:
  SimServer() = default;

  SchemaVersion version_ = SchemaVersion::kV1;
  std::unique_ptr<MysqlPool> pool_;
  std::unique_ptr<MysqlBillingStore> store_;
  std::unique_ptr<PortalService> portal_;
  std::unique_ptr<HttpServer> http_;
};

}  // namespace tandem::testbed
