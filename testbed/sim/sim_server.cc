#include "testbed/sim/sim_server.h"

#include "common/status_macros.h"
#include "testbed/base/schema.h"

namespace tandem::testbed {

absl::StatusOr<std::unique_ptr<SimServer>> SimServer::Start(
    SimOptions options) {
  std::unique_ptr<SimServer> server(new SimServer());
  server->version_ = options.version;
  TANDEM_ASSIGN_OR_RETURN(
      server->pool_, MysqlPool::Create(options.db, nullptr, "billing_sim"));
  if (options.create_schema) {
    TANDEM_RETURN_IF_ERROR(ApplySchema(*server->pool_, options.version));
  }
  server->store_ =
      std::make_unique<MysqlBillingStore>(server->pool_.get(), options.version);
  server->portal_ = std::make_unique<PortalService>(server->store_.get(),
                                                    std::move(options.portal));
  options.http.version = VersionName(options.version);
  PortalService* portal = server->portal_.get();
  TANDEM_ASSIGN_OR_RETURN(
      server->http_,
      HttpServer::Start(
          options.http,
          [portal](const HttpRequest& r) { return portal->Handle(r); },
          [](const HttpRequest& r) { return PortalService::IsCheap(r); }));
  return server;
}

SimServer::~SimServer() {
  http_.reset();
  portal_.reset();
  store_.reset();
  pool_.reset();
}

}  // namespace tandem::testbed
