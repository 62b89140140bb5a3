// The MigratorService gRPC methods: validation, authorisation, and the
// conversion of statuses at the edge. The work is the stores' (what is
// wanted: move_store.h, batch_store.h), the back end's (making it so) and
// the mover's (verification). One-customer methods are in
// migrator_service.cc, batch methods in batch/batch_service.cc.
#pragma once

#include <memory>
#include <vector>

#include "common/auth.h"
#include "common/clock.h"
#include "common/worker_pool.h"
#include "migrator/batch/batch_store.h"
#include "migrator/batch/batch_watch.h"
#include "migrator/batch/selector.h"
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
  BatchStore* batches = nullptr;
  // What selectors read (the mapping, both billing databases, the router,
  // the batch store).
  SelectorDeps selector;
  BatchWatchHub* watch = nullptr;
  Backend* backend = nullptr;
  Mover* mover = nullptr;
  RouteClient* router = nullptr;
  PlanClient* catalog = nullptr;
  const TokenAuthenticator* auth = nullptr;
  WorkerPool* workers = nullptr;
  prometheus::Registry* registry = nullptr;
  // What a MoveCustomer that waits for its outcome polls the control
  // database by.
  Clock* clock = &Clock::Real();
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
  TANDEM_MIGRATOR_UNARY(CreateBatch)
  TANDEM_MIGRATOR_UNARY(ListBatches)
  TANDEM_MIGRATOR_UNARY(StartBatch)
  TANDEM_MIGRATOR_UNARY(PauseBatch)
  TANDEM_MIGRATOR_UNARY(ResumeBatch)
  TANDEM_MIGRATOR_UNARY(CancelBatch)
  TANDEM_MIGRATOR_UNARY(UpdateBatch)
  TANDEM_MIGRATOR_UNARY(ReleaseBatchItems)
  TANDEM_MIGRATOR_UNARY(ListBatchItems)
  TANDEM_MIGRATOR_UNARY(GetBatchReport)
#undef TANDEM_MIGRATOR_UNARY

  grpc::ServerWriteReactor<::tandem::migrator::v1::WatchBatchResponse>*
  WatchBatch(grpc::CallbackServerContext* context,
             const ::tandem::migrator::v1::WatchBatchRequest* request) override;

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
  // The freeze and mapping rules a batch must meet to be created or
  // started (batch_service.cc).
  absl::Status CheckRunnable(::tandem::migrator::v1::BatchMode mode,
                             Direction direction,
                             const std::string& batch_digest);
  // Start, pause, resume or cancel (batch_service.cc).
  absl::Status Act(const Principal& who, int64_t batch_id, BatchAction action,
                   int64_t expected_version, const std::string& reason,
                   const std::string& request_id,
                   ::tandem::migrator::v1::Batch* out);

  ServiceDeps deps_;
  prometheus::Family<prometheus::Counter>* refused_ = nullptr;
};

// The health-service name of the migrator.
inline constexpr char kMigratorHealthService[] =
    "tandem.migrator.v1.MigratorService";

}  // namespace tandem::migrator
