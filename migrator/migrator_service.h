// The MigratorService gRPC methods: validation, authorisation, and the
// conversion of statuses at the edge. The work is the move store's (what is
// wanted), the back end's (making it so) and the mover's (verification).
// Batch methods beyond GetBatch arrive with migrator part 2 and answer
// UNIMPLEMENTED until then.
#pragma once

#include <memory>
#include <vector>

#include "common/auth.h"
#include "common/worker_pool.h"
#include "migrator/mapping/mapping.h"
#include "migrator/mapping/schema_check.h"
#include "migrator/move/backend.h"
#include "migrator/move/clients.h"
#include "migrator/move/move_store.h"
#include "migrator/move/mover.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"
#include "tandem/migrator/v1/migrator.grpc.pb.h"

namespace tandem::migrator {

struct ServiceDeps {
  const Mapping* mapping = nullptr;
  std::vector<SchemaIssue> mapping_issues;
  int64_t mapping_loaded_at_ms = 0;
  MoveStore* store = nullptr;
  Backend* backend = nullptr;
  Mover* mover = nullptr;
  RouteClient* router = nullptr;
  PlanClient* catalog = nullptr;
  const TokenAuthenticator* auth = nullptr;
  WorkerPool* workers = nullptr;
  prometheus::Registry* registry = nullptr;
};

class MigratorServiceImpl final
    : public ::tandem::migrator::v1::MigratorService::CallbackService {
 public:
  explicit MigratorServiceImpl(ServiceDeps deps);

#define TANDEM_MIGRATOR_UNARY(Method)                         \
  grpc::ServerUnaryReactor* Method(                           \
      grpc::CallbackServerContext* context,                   \
      const ::tandem::migrator::v1::Method##Request* request, \
      ::tandem::migrator::v1::Method##Response* response) override;
  TANDEM_MIGRATOR_UNARY(MoveCustomer)
  TANDEM_MIGRATOR_UNARY(RollbackCustomer)
  TANDEM_MIGRATOR_UNARY(VerifyCustomer)
  TANDEM_MIGRATOR_UNARY(GetMapping)
  TANDEM_MIGRATOR_UNARY(GetBatch)
#undef TANDEM_MIGRATOR_UNARY

 private:
  grpc::ServerUnaryReactor* Offload(
      grpc::CallbackServerContext* context, Role role,
      std::function<absl::Status(const Principal&)> work);
  // Validates and starts a one-customer batch, optionally waiting for it.
  absl::Status StartOne(grpc::CallbackServerContext* context,
                        const Principal& who, Direction direction,
                        int64_t customer_id,
                        ::tandem::migrator::v1::BatchMode mode,
                        const ::tandem::migrator::v1::BatchOptions& options,
                        bool wait, const std::string& name,
                        const std::string& reason,
                        const std::string& request_id,
                        ::tandem::migrator::v1::Batch* batch,
                        ::tandem::migrator::v1::BatchItem* item);
  absl::Status Refuse(absl::Status status);

  ServiceDeps deps_;
  prometheus::Family<prometheus::Counter>* refused_ = nullptr;
};

// The health-service name of the migrator.
inline constexpr char kMigratorHealthService[] =
    "tandem.migrator.v1.MigratorService";

}  // namespace tandem::migrator
