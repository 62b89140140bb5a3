// The CatalogService gRPC methods: authorisation and the conversion of
// statuses at the edge; the work is Catalog's, run on a worker pool because
// most of it waits on a database.
#pragma once

#include <functional>

#include "absl/synchronization/mutex.h"
#include "catalog/catalog.h"
#include "common/auth.h"
#include "common/server_stream.h"
#include "common/worker_pool.h"
#include "tandem/catalog/v1/catalog.grpc.pb.h"

namespace tandem::catalog {

class CatalogServiceImpl final
    : public ::tandem::catalog::v1::CatalogService::CallbackService {
 public:
  // Collaborators are not owned and must outlive the service.
  CatalogServiceImpl(Catalog* catalog, const TokenAuthenticator* auth,
                     WorkerPool* workers);
  ~CatalogServiceImpl() override;

  // Ends every WatchFreeze stream with UNAVAILABLE (clients reconnect to
  // another replica) and refuses new ones. Call before shutting down.
  void CloseWatchers();

#define TANDEM_CATALOG_UNARY(Method)                         \
  grpc::ServerUnaryReactor* Method(                          \
      grpc::CallbackServerContext* context,                  \
      const ::tandem::catalog::v1::Method##Request* request, \
      ::tandem::catalog::v1::Method##Response* response) override;
  TANDEM_CATALOG_UNARY(GetFreeze)
  TANDEM_CATALOG_UNARY(SetFreeze)
  TANDEM_CATALOG_UNARY(CheckChange)
  TANDEM_CATALOG_UNARY(ListFreezeAudit)
  TANDEM_CATALOG_UNARY(ListProducts)
  TANDEM_CATALOG_UNARY(GetProduct)
  TANDEM_CATALOG_UNARY(RefreshProducts)
  TANDEM_CATALOG_UNARY(CreateProduct)
  TANDEM_CATALOG_UNARY(UpdateProduct)
  TANDEM_CATALOG_UNARY(DeleteProduct)
  TANDEM_CATALOG_UNARY(SetMapping)
  TANDEM_CATALOG_UNARY(ListMappings)
  TANDEM_CATALOG_UNARY(DeleteMapping)
  TANDEM_CATALOG_UNARY(ProposeMappings)
  TANDEM_CATALOG_UNARY(GenerateMissingProducts)
  TANDEM_CATALOG_UNARY(GetSettings)
  TANDEM_CATALOG_UNARY(UpdateSettings)
  TANDEM_CATALOG_UNARY(PlanCustomer)
  TANDEM_CATALOG_UNARY(PlanCustomers)
#undef TANDEM_CATALOG_UNARY

  grpc::ServerWriteReactor<::tandem::catalog::v1::WatchFreezeResponse>*
  WatchFreeze(
      grpc::CallbackServerContext* context,
      const ::tandem::catalog::v1::WatchFreezeRequest* request) override;

 private:
  // Authorises the call for `role`, then runs `work` on the worker pool and
  // finishes the call with its status.
  grpc::ServerUnaryReactor* Offload(
      grpc::CallbackServerContext* context, Role role,
      std::function<absl::Status(const Principal&)> work);

  Catalog* const catalog_;
  const TokenAuthenticator* const auth_;
  WorkerPool* const workers_;

  StreamSet<::tandem::catalog::v1::WatchFreezeResponse> watchers_{
      "catalog replica shutting down"};
};

}  // namespace tandem::catalog
