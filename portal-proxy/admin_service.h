// tandem.proxy.v1.ProxyAdminService: what one proxy replica is doing (its
// route cache, the freeze it enforces, the customers it holds, its upstream
// pools) and draining it before maintenance. Served on the proxy's gRPC
// admin port (common/grpc_server.h adds health and reflection). Reads need
// the `viewer` role, Drain needs `operator`.
#pragma once

#include <atomic>
#include <string>

#include "common/auth.h"
#include "common/grpc_server.h"
#include "portal-proxy/catalog_client.h"
#include "portal-proxy/freeze_policy.h"
#include "portal-proxy/http_front.h"
#include "router/client/route_cache.h"
#include "tandem/proxy/v1/proxy.grpc.pb.h"

namespace tandem::proxy {

// The readiness name the admin port reports; Drain turns it NOT_SERVING.
inline constexpr char kProxyHealthService[] =
    "tandem.proxy.v1.ProxyAdminService";

// What the service reads; none owned, all must outlive it.
struct AdminServiceDeps {
  ProxyControl* proxy = nullptr;               // required
  const router::RouteCache* routes = nullptr;  // required
  const CachedFreezePolicy* freeze = nullptr;  // required
  // Null when the freeze state is a static override (no catalog).
  const CatalogClient* catalog = nullptr;
  const TokenAuthenticator* auth = nullptr;  // required
  std::string version;
};

class AdminService final
    : public ::tandem::proxy::v1::ProxyAdminService::CallbackService {
 public:
  explicit AdminService(AdminServiceDeps deps) : deps_(std::move(deps)) {}

  // Where Drain reports NOT_SERVING (kProxyHealthService). Set once the
  // gRPC server is up; a Drain before that only drains the proxy.
  void SetHealth(GrpcServer* server) { health_.store(server); }

  grpc::ServerUnaryReactor* GetStatus(
      grpc::CallbackServerContext* context,
      const ::tandem::proxy::v1::GetStatusRequest* request,
      ::tandem::proxy::v1::GetStatusResponse* response) override;
  grpc::ServerUnaryReactor* ListHeldCustomers(
      grpc::CallbackServerContext* context,
      const ::tandem::proxy::v1::ListHeldCustomersRequest* request,
      ::tandem::proxy::v1::ListHeldCustomersResponse* response) override;
  grpc::ServerUnaryReactor* Drain(
      grpc::CallbackServerContext* context,
      const ::tandem::proxy::v1::DrainRequest* request,
      ::tandem::proxy::v1::DrainResponse* response) override;

 private:
  AdminServiceDeps deps_;
  std::atomic<GrpcServer*> health_{nullptr};
};

}  // namespace tandem::proxy
