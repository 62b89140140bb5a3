#include "migrator/migrator_service.h"

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/offload.h"
#include "common/request_log.h"
#include "common/status_macros.h"
#include "migrator/batch/batch_options.h"
#include "migrator/move/item_states.h"

namespace tandem::migrator {
namespace {

namespace v1 = ::tandem::migrator::v1;
namespace rv1 = ::tandem::router::v1;
namespace cv1 = ::tandem::catalog::v1;

}  // namespace

MigratorServiceImpl::MigratorServiceImpl(ServiceDeps deps)
    : deps_(std::move(deps)) {
  if (deps_.registry != nullptr) {
    refused_ = &prometheus::BuildCounter()
                    .Name("tandem_migrator_requests_refused_total")
                    .Help("Requests refused before any change, by code.")
                    .Register(*deps_.registry);
  }
}

grpc::ServerUnaryReactor* MigratorServiceImpl::Offload(
    grpc::CallbackServerContext* context, Role role,
    std::function<absl::Status(const Principal&)> work) {
  return AuthorizeAndOffload(
      context, *deps_.auth, role, *deps_.workers,
      [this, work = std::move(work)](const Principal& who) {
        return Refuse(work(who));
      });
}

absl::Status MigratorServiceImpl::Refuse(absl::Status status) {
  if (!status.ok() && refused_ != nullptr) {
    refused_->Add({{"code", absl::StatusCodeToString(status.code())}})
        .Increment();
  }
  return status;
}

namespace {

// The request's own checks: nothing read yet.
absl::Status CheckOneRequest(Direction direction, int64_t customer_id,
                             v1::BatchMode mode,
                             const v1::BatchOptions& options,
                             const std::string& name, const std::string& reason,
                             const std::string& request_id) {
  if (customer_id <= 0) {
    return absl::InvalidArgumentError("customer_id must be positive");
  }
  if (mode != v1::BATCH_MODE_DRY_RUN && mode != v1::BATCH_MODE_LIVE) {
    return absl::InvalidArgumentError("unknown mode");
  }
  if (mode == v1::BATCH_MODE_DRY_RUN && direction == Direction::kRollback) {
    return absl::InvalidArgumentError(
        "a dry run rehearses moves, not rollbacks (DRY_RUN with ROLLBACK)");
  }
  TANDEM_RETURN_IF_ERROR(ValidateBatchOptions(options));
  TANDEM_RETURN_IF_ERROR(ValidateRequestId(request_id));
  if (name.size() > 128 || reason.size() > 1024) {
    return absl::InvalidArgumentError(
        "name is at most 128 bytes and reason 1,024");
  }
  return absl::OkStatus();
}

// Customers move only while the catalog is frozen, and go back only until
// the freeze is lifted.
absl::Status CheckFreezeAllows(PlanClient& catalog, Direction direction,
                               v1::BatchMode mode) {
  absl::StatusOr<cv1::FreezeState> freeze = catalog.GetFreeze();
  if (!freeze.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "the catalog cannot be reached: ", freeze.status().message()));
  }
  if (direction == Direction::kMove && mode == v1::BATCH_MODE_LIVE &&
      *freeze != cv1::FREEZE_STATE_FROZEN &&
      *freeze != cv1::FREEZE_STATE_FROZEN_TARGET_OPEN) {
    return absl::FailedPreconditionError(
        absl::StrCat("customers move only while the catalog is frozen; it is ",
                     cv1::FreezeState_Name(*freeze)));
  }
  if (direction == Direction::kRollback &&
      *freeze == cv1::FREEZE_STATE_LIFTED) {
    return absl::FailedPreconditionError(
        "the freeze is lifted: customers no longer go back to the source");
  }
  return absl::OkStatus();
}

// The customer's route, which must be STABLE on the side it leaves.
absl::Status CheckRouteAllows(const absl::StatusOr<rv1::Route>& route,
                              int64_t customer_id, Direction direction) {
  if (!route.ok()) {
    if (route.status().code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError(
          absl::StrCat("customer ", customer_id, " has no route"));
    }
    return absl::UnavailableError(absl::StrCat("the router cannot be reached: ",
                                               route.status().message()));
  }
  const auto origin = direction == Direction::kMove
                          ? ::tandem::common::v1::SYSTEM_SOURCE
                          : ::tandem::common::v1::SYSTEM_TARGET;
  if (route->system() == origin && route->state() == rv1::ROUTE_STATE_STABLE) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "customer ", customer_id, " is not ",
      direction == Direction::kMove ? "SOURCE" : "TARGET", "/STABLE (it is ",
      route->system() == ::tandem::common::v1::SYSTEM_SOURCE ? "SOURCE"
                                                             : "TARGET",
      route->state() == rv1::ROUTE_STATE_STABLE ? "/STABLE" : "/MIGRATING",
      ")"));
}

}  // namespace

absl::Status MigratorServiceImpl::StartOne(
    grpc::CallbackServerContext* context, const Principal& who,
    Direction direction, int64_t customer_id, v1::BatchMode mode,
    const v1::BatchOptions& options, bool wait, const std::string& name,
    const std::string& reason, const std::string& request_id, v1::Batch* batch,
    v1::BatchItem* item) {
  if (mode == v1::BATCH_MODE_UNSPECIFIED) mode = v1::BATCH_MODE_LIVE;
  TANDEM_RETURN_IF_ERROR(CheckOneRequest(direction, customer_id, mode, options,
                                         name, reason, request_id));
  if (HasErrors(deps_.mapping_issues)) {
    return absl::FailedPreconditionError(
        "the schema mapping is invalid (GetMapping lists its errors)");
  }
  TANDEM_RETURN_IF_ERROR(CheckFreezeAllows(*deps_.catalog, direction, mode));
  NewBatch b;
  b.name = name;
  b.description = reason;
  b.mode = mode;
  b.direction = direction;
  b.options = EffectiveOptions(options);
  b.selector.add_customer_ids(customer_id);
  b.customers = {customer_id};
  b.mapping_digest = deps_.mapping->digest();
  b.actor = who.name;
  b.reason = reason;
  b.request_id = request_id;
  // A retry of a request already taken returns the same batch, whatever the
  // route says now.
  bool retry = false;
  if (!request_id.empty()) {
    TANDEM_ASSIGN_OR_RETURN(std::optional<v1::Batch> earlier,
                            deps_.store->FindBatchByRequest(request_id));
    retry = earlier.has_value();
  }
  absl::StatusOr<rv1::Route> route = deps_.router->GetRoute(customer_id);
  if (!retry || !route.ok()) {
    TANDEM_RETURN_IF_ERROR(CheckRouteAllows(route, customer_id, direction));
  }
  TANDEM_ASSIGN_OR_RETURN(*batch, deps_.store->CreateBatch(b));
  deps_.backend->Wake();
  TANDEM_ASSIGN_OR_RETURN(ItemRecord record,
                          deps_.store->GetItem(batch->batch_id(), customer_id));
  // Waiting ends once the customer is flipped or the item is finished; the
  // move goes on if the call ends first.
  while (wait && !IsTerminal(record.item.state()) &&
         record.item.state() != v1::ITEM_STATE_TAIL) {
    if (context->IsCancelled() ||
        std::chrono::system_clock::now() >= context->deadline()) {
      break;
    }
    // Polling the control database.
    deps_.clock->SleepUntil(deps_.clock->Now() + absl::Milliseconds(50));
    TANDEM_ASSIGN_OR_RETURN(
        record, deps_.store->GetItem(batch->batch_id(), customer_id));
  }
  TANDEM_ASSIGN_OR_RETURN(*batch, deps_.store->GetBatch(batch->batch_id()));
  *item = record.item;
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* MigratorServiceImpl::MoveCustomer(
    grpc::CallbackServerContext* context,
    const v1::MoveCustomerRequest* request,
    v1::MoveCustomerResponse* response) {
  return Offload(context, Role::kOperator, [=, this](const Principal& who) {
    return StartOne(context, who, Direction::kMove, request->customer_id(),
                    request->mode(), request->options(), request->wait(),
                    request->name(), request->reason(), request->request_id(),
                    response->mutable_batch(), response->mutable_item());
  });
}

grpc::ServerUnaryReactor* MigratorServiceImpl::RollbackCustomer(
    grpc::CallbackServerContext* context,
    const v1::RollbackCustomerRequest* request,
    v1::RollbackCustomerResponse* response) {
  return Offload(context, Role::kOperator, [=, this](const Principal& who) {
    return StartOne(context, who, Direction::kRollback, request->customer_id(),
                    request->mode(), request->options(), request->wait(),
                    request->name(), request->reason(), request->request_id(),
                    response->mutable_batch(), response->mutable_item());
  });
}

grpc::ServerUnaryReactor* MigratorServiceImpl::VerifyCustomer(
    grpc::CallbackServerContext* context,
    const v1::VerifyCustomerRequest* request,
    v1::VerifyCustomerResponse* response) {
  return Offload(context, Role::kViewer, [=, this](const Principal&) {
    if (request->customer_id() <= 0) {
      return absl::InvalidArgumentError("customer_id must be positive");
    }
    if (request->max_differences() < 0 || request->max_differences() > 10000) {
      return absl::InvalidArgumentError(
          "max_differences must be between 0 and 10,000");
    }
    if (!request->tables().empty()) {
      return absl::UnimplementedError(
          "verifying only some tables is not available yet; leave `tables` "
          "empty");
    }
    if (HasErrors(deps_.mapping_issues)) {
      return absl::FailedPreconditionError("the schema mapping is invalid");
    }
    absl::StatusOr<v1::VerifyCustomerResponse> result = deps_.mover->Verify(
        request->customer_id(),
        request->max_differences() == 0 ? 100 : request->max_differences());
    if (!result.ok()) return result.status();
    *response = *std::move(result);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MigratorServiceImpl::GetMapping(
    grpc::CallbackServerContext* context, const v1::GetMappingRequest* request,
    v1::GetMappingResponse* response) {
  return Offload(context, Role::kViewer, [=, this](const Principal&) {
    v1::SchemaMapping* m = response->mutable_mapping();
    m->set_path(deps_.mapping->path());
    m->set_digest(deps_.mapping->digest());
    m->set_declared_version(deps_.mapping->version());
    m->set_loaded_at_unix_ms(deps_.mapping_loaded_at_ms);
    bool warnings = false;
    for (const SchemaIssue& i : deps_.mapping_issues) {
      v1::MappingIssue* issue = m->add_issues();
      issue->set_severity(i.error ? v1::ISSUE_SEVERITY_ERROR
                                  : v1::ISSUE_SEVERITY_WARNING);
      issue->set_location(i.location);
      issue->set_table(i.table);
      issue->set_column(i.column);
      issue->set_message(i.message);
      warnings = warnings || !i.error;
    }
    m->set_status(HasErrors(deps_.mapping_issues) ? v1::MAPPING_STATUS_INVALID
                  : warnings ? v1::MAPPING_STATUS_VALID_WITH_WARNINGS
                             : v1::MAPPING_STATUS_VALID);
    if (request->include_tables()) {
      std::map<std::string, v1::TableMappingSummary> by_table;
      for (const TableMapping& t : deps_.mapping->tables(Direction::kMove)) {
        v1::TableMappingSummary& s = by_table[t.from];
        s.set_source_table(t.from);
        s.add_target_tables(t.to);
        s.set_ownership_path(t.owner.direct()
                                 ? absl::StrCat(t.from, ".", t.owner.column)
                                 : absl::StrCat(t.owner.via_table, ".",
                                                t.owner.via_owner, " <- ",
                                                t.from, ".", t.owner.via_key));
        for (const ColumnSpec& c : t.columns) {
          if (!c.from.empty() && c.from != c.target && c.convert.empty() &&
              c.enum_name.empty() && c.catalog.empty()) {
            s.set_column_renames(s.column_renames() + 1);
          }
          if (!c.convert.empty() || !c.enum_name.empty()) {
            s.set_conversions(s.conversions() + 1);
          }
          if (c.catalog == "product") s.add_product_id_columns(c.target);
        }
        if (t.split_json) s.set_json_splits(s.json_splits() + 1);
      }
      for (auto& [name, summary] : by_table) {
        *m->add_tables() = std::move(summary);
      }
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MigratorServiceImpl::GetBatch(
    grpc::CallbackServerContext* context, const v1::GetBatchRequest* request,
    v1::GetBatchResponse* response) {
  return Offload(context, Role::kViewer, [=, this](const Principal&) {
    if (request->batch_id() <= 0) {
      return absl::InvalidArgumentError("batch_id must be positive");
    }
    TANDEM_ASSIGN_OR_RETURN(*response->mutable_batch(),
                            deps_.store->GetBatch(request->batch_id()));
    return absl::OkStatus();
  });
}

}  // namespace tandem::migrator
