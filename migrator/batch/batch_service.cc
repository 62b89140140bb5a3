// The batch methods of MigratorService: validation at the edge, the freeze
// and mapping rules, then the batch store (what is wanted) and a wake-up of
// the back end (making it so).
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/request_log.h"
#include "common/status_macros.h"
#include "migrator/batch/batch_options.h"
#include "migrator/batch/report.h"
#include "migrator/migrator_service.h"

namespace tandem::migrator {
namespace {

namespace v1 = ::tandem::migrator::v1;
namespace cv1 = ::tandem::catalog::v1;

constexpr int kDefaultPage = 100;
constexpr int kMaxPage = 1000;

std::string EncodeToken(const char* kind, int64_t after) {
  return absl::WebSafeBase64Escape(absl::StrCat(kind, after));
}

absl::StatusOr<int64_t> DecodeToken(const char* kind,
                                    const std::string& token) {
  if (token.empty()) return 0;
  std::string raw;
  int64_t after = 0;
  if (!absl::WebSafeBase64Unescape(token, &raw) ||
      !absl::StartsWith(raw, kind) ||
      !absl::SimpleAtoi(absl::string_view(raw).substr(strlen(kind)), &after) ||
      after < 0) {
    return absl::InvalidArgumentError("page_token is not one this server made");
  }
  return after;
}

absl::StatusOr<int> PageSize(int page_size) {
  if (page_size < 0) {
    return absl::InvalidArgumentError("page_size must not be negative");
  }
  if (page_size > kMaxPage) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size is at most ", kMaxPage));
  }
  return page_size == 0 ? kDefaultPage : page_size;
}

absl::Status CheckText(const std::string& request_id,
                       const std::string& reason) {
  TANDEM_RETURN_IF_ERROR(ValidateRequestId(request_id));
  if (reason.size() > 1024) {
    return absl::InvalidArgumentError("reason is at most 1,024 bytes");
  }
  return absl::OkStatus();
}

absl::StatusOr<Direction> DirectionOf(::tandem::common::v1::Direction d) {
  switch (d) {
    case ::tandem::common::v1::DIRECTION_UNSPECIFIED:
    case ::tandem::common::v1::DIRECTION_MOVE:
      return Direction::kMove;
    case ::tandem::common::v1::DIRECTION_ROLLBACK:
      return Direction::kRollback;
    default:
      return absl::InvalidArgumentError("direction must be MOVE or ROLLBACK");
  }
}

}  // namespace

absl::Status MigratorServiceImpl::CheckRunnable(
    v1::BatchMode mode, Direction direction, const std::string& batch_digest) {
  if (HasErrors(deps_.mapping_issues)) {
    return absl::FailedPreconditionError(
        "the schema mapping is invalid (GetMapping lists its errors)");
  }
  if (!batch_digest.empty() && batch_digest != deps_.mapping->digest()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the batch was made with schema mapping ", batch_digest.substr(0, 12),
        ", this migrator runs ", deps_.mapping->digest().substr(0, 12)));
  }
  if (mode == v1::BATCH_MODE_DRY_RUN) return absl::OkStatus();
  absl::StatusOr<cv1::FreezeState> freeze = deps_.catalog->GetFreeze();
  if (!freeze.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "the catalog cannot be reached: ", freeze.status().message()));
  }
  if (direction == Direction::kMove && *freeze != cv1::FREEZE_STATE_FROZEN &&
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

grpc::ServerUnaryReactor* MigratorServiceImpl::CreateBatch(
    grpc::CallbackServerContext* context, const v1::CreateBatchRequest* request,
    v1::CreateBatchResponse* response) {
  return Offload(context, Role::kOperator, [=, this](const Principal& who) {
    const v1::CreateBatchRequest& r = *request;
    if (r.name().empty() || r.name().size() > 128) {
      return absl::InvalidArgumentError("name is 1-128 bytes");
    }
    if (r.description().size() > 4096) {
      return absl::InvalidArgumentError("description is at most 4,096 bytes");
    }
    TANDEM_RETURN_IF_ERROR(CheckText(r.request_id(), ""));
    if (r.mode() != v1::BATCH_MODE_DRY_RUN && r.mode() != v1::BATCH_MODE_LIVE) {
      return absl::InvalidArgumentError("mode is required: DRY_RUN or LIVE");
    }
    TANDEM_ASSIGN_OR_RETURN(Direction direction, DirectionOf(r.direction()));
    if (r.mode() == v1::BATCH_MODE_DRY_RUN &&
        direction == Direction::kRollback) {
      return absl::InvalidArgumentError(
          "a dry run rehearses moves, not rollbacks (DRY_RUN with ROLLBACK)");
    }
    TANDEM_RETURN_IF_ERROR(ValidateBatchOptions(r.options()));
    TANDEM_RETURN_IF_ERROR(ValidateSelector(r.selector()));
    if (!r.request_id().empty()) {
      TANDEM_ASSIGN_OR_RETURN(std::optional<v1::Batch> earlier,
                              deps_.store->FindBatchByRequest(r.request_id()));
      if (earlier.has_value()) {
        *response->mutable_batch() = *std::move(earlier);
        return absl::OkStatus();
      }
    }
    TANDEM_RETURN_IF_ERROR(CheckRunnable(r.mode(), direction, ""));
    TANDEM_ASSIGN_OR_RETURN(
        Selection selection,
        ResolveSelector(deps_.selector, r.selector(), direction));
    NewBatch b;
    b.name = r.name();
    b.description = r.description();
    b.mode = r.mode();
    b.direction = direction;
    b.options = EffectiveOptions(r.options());
    b.selector = r.selector();
    b.mapping_digest = deps_.mapping->digest();
    b.actor = who.name;
    b.reason = r.description();
    b.request_id = r.request_id();
    b.start = r.start();
    if (r.validate_only()) {
      v1::Batch* batch = response->mutable_batch();
      batch->set_name(b.name);
      batch->set_description(b.description);
      *batch->mutable_selector() = b.selector;
      batch->set_mode(b.mode);
      batch->set_direction(direction == Direction::kMove
                               ? ::tandem::common::v1::DIRECTION_MOVE
                               : ::tandem::common::v1::DIRECTION_ROLLBACK);
      *batch->mutable_options() = b.options;
      batch->set_state(v1::BATCH_STATE_CREATED);
      batch->set_mapping_digest(b.mapping_digest);
      batch->mutable_created()->set_actor(who.name);
      v1::BatchProgress* p = batch->mutable_progress();
      p->set_items_pending(static_cast<int64_t>(selection.pending.size()));
      p->set_items_skipped(static_cast<int64_t>(selection.skipped.size()));
      p->set_items_total(p->items_pending() + p->items_skipped());
      return absl::OkStatus();
    }
    TANDEM_ASSIGN_OR_RETURN(*response->mutable_batch(),
                            deps_.batches->CreateBatch(b, selection));
    TANDEM_LOG(Info, "batch_created")
        .With("batch_id", response->batch().batch_id())
        .With("name", b.name)
        .With("mode", v1::BatchMode_Name(b.mode))
        .With("customers", response->batch().progress().items_pending())
        .With("skipped", response->batch().progress().items_skipped())
        .With("actor", who.name);
    deps_.backend->Wake();
    return absl::OkStatus();
  });
}

absl::Status MigratorServiceImpl::Act(const Principal& who, int64_t batch_id,
                                      BatchAction action,
                                      int64_t expected_version,
                                      const std::string& reason,
                                      const std::string& request_id,
                                      v1::Batch* out) {
  if (batch_id <= 0) {
    return absl::InvalidArgumentError("batch_id must be positive");
  }
  if (expected_version < 0) {
    return absl::InvalidArgumentError("expected_version must not be negative");
  }
  TANDEM_RETURN_IF_ERROR(CheckText(request_id, reason));
  if (action == BatchAction::kStart || action == BatchAction::kResume) {
    TANDEM_ASSIGN_OR_RETURN(v1::Batch batch, deps_.batches->GetBatch(batch_id));
    TANDEM_ASSIGN_OR_RETURN(Direction direction,
                            DirectionOf(batch.direction()));
    TANDEM_RETURN_IF_ERROR(
        CheckRunnable(batch.mode(), direction, batch.mapping_digest()));
  }
  Change change;
  change.actor = who.name;
  change.reason = reason;
  change.request_id = request_id;
  change.expected_version = expected_version;
  TANDEM_ASSIGN_OR_RETURN(*out, deps_.batches->Act(batch_id, action, change));
  TANDEM_LOG(Info, "batch_action")
      .With("batch_id", batch_id)
      .With("action", BatchActionName(action))
      .With("state", BatchStateName(out->state()))
      .With("actor", who.name)
      .With("reason", reason);
  deps_.backend->Wake();
  return absl::OkStatus();
}

#define TANDEM_BATCH_ACTION(Method, action)                                    \
  grpc::ServerUnaryReactor* MigratorServiceImpl::Method(                       \
      grpc::CallbackServerContext* context,                                    \
      const v1::Method##Request* request, v1::Method##Response* response) {    \
    return Offload(context, Role::kOperator, [=, this](const Principal& who) { \
      return Act(who, request->batch_id(), action,                             \
                 request->expected_version(), request->reason(),               \
                 request->request_id(), response->mutable_batch());            \
    });                                                                        \
  }
TANDEM_BATCH_ACTION(StartBatch, BatchAction::kStart)
TANDEM_BATCH_ACTION(PauseBatch, BatchAction::kPause)
TANDEM_BATCH_ACTION(ResumeBatch, BatchAction::kResume)
TANDEM_BATCH_ACTION(CancelBatch, BatchAction::kCancel)
#undef TANDEM_BATCH_ACTION

grpc::ServerUnaryReactor* MigratorServiceImpl::UpdateBatch(
    grpc::CallbackServerContext* context, const v1::UpdateBatchRequest* request,
    v1::UpdateBatchResponse* response) {
  return Offload(context, Role::kOperator, [=, this](const Principal& who) {
    if (request->batch_id() <= 0) {
      return absl::InvalidArgumentError("batch_id must be positive");
    }
    TANDEM_RETURN_IF_ERROR(CheckText(request->request_id(), request->reason()));
    TANDEM_RETURN_IF_ERROR(ValidateBatchOptions(request->options()));
    Change change;
    change.actor = who.name;
    change.reason = request->reason();
    change.request_id = request->request_id();
    change.expected_version = request->expected_version();
    TANDEM_ASSIGN_OR_RETURN(
        *response->mutable_batch(),
        deps_.batches->UpdateOptions(
            request->batch_id(), EffectiveOptions(request->options()), change));
    TANDEM_LOG(Info, "batch_updated")
        .With("batch_id", request->batch_id())
        .With("options", request->options().ShortDebugString())
        .With("actor", who.name);
    deps_.backend->Wake();
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MigratorServiceImpl::ReleaseBatchItems(
    grpc::CallbackServerContext* context,
    const v1::ReleaseBatchItemsRequest* request,
    v1::ReleaseBatchItemsResponse* response) {
  return Offload(context, Role::kOperator, [=, this](const Principal& who) {
    if (request->batch_id() <= 0) {
      return absl::InvalidArgumentError("batch_id must be positive");
    }
    TANDEM_RETURN_IF_ERROR(CheckText(request->request_id(), request->reason()));
    if (request->customer_ids().empty() && !request->all_held()) {
      return absl::InvalidArgumentError(
          "name customers to release (customer_ids) or set all_held");
    }
    if (request->customer_ids_size() > 10000) {
      return absl::InvalidArgumentError("at most 10,000 customer_ids");
    }
    for (int64_t c : request->customer_ids()) {
      if (c <= 0) {
        return absl::InvalidArgumentError("customer ids are positive");
      }
    }
    Change change;
    change.actor = who.name;
    change.reason = request->reason();
    change.request_id = request->request_id();
    TANDEM_ASSIGN_OR_RETURN(
        int64_t released,
        deps_.batches->ReleaseItems(
            request->batch_id(),
            std::vector<int64_t>(request->customer_ids().begin(),
                                 request->customer_ids().end()),
            request->all_held(), change));
    response->set_released(released);
    TANDEM_ASSIGN_OR_RETURN(*response->mutable_batch(),
                            deps_.batches->GetBatch(request->batch_id()));
    TANDEM_LOG(Info, "batch_gate_opened")
        .With("batch_id", request->batch_id())
        .With("released", released)
        .With("actor", who.name);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MigratorServiceImpl::ListBatches(
    grpc::CallbackServerContext* context, const v1::ListBatchesRequest* request,
    v1::ListBatchesResponse* response) {
  return Offload(context, Role::kViewer, [=, this](const Principal&) {
    TANDEM_ASSIGN_OR_RETURN(int size, PageSize(request->page_size()));
    TANDEM_ASSIGN_OR_RETURN(int64_t before,
                            DecodeToken("b1:", request->page_token()));
    BatchFilter filter;
    for (int s : request->states()) {
      if (s <= v1::BATCH_STATE_UNSPECIFIED || s > v1::BATCH_STATE_COMPLETED) {
        return absl::InvalidArgumentError(
            absl::StrCat("states: not a batch state (", s, ")"));
      }
      filter.states.push_back(static_cast<v1::BatchState>(s));
    }
    filter.mode = request->mode();
    filter.direction = request->direction();
    TANDEM_ASSIGN_OR_RETURN(std::vector<v1::Batch> batches,
                            deps_.batches->ListBatches(filter, size, before));
    for (v1::Batch& b : batches) *response->add_batches() = std::move(b);
    if (response->batches_size() == size) {
      response->set_next_page_token(
          EncodeToken("b1:", response->batches().rbegin()->batch_id()));
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MigratorServiceImpl::ListBatchItems(
    grpc::CallbackServerContext* context,
    const v1::ListBatchItemsRequest* request,
    v1::ListBatchItemsResponse* response) {
  return Offload(context, Role::kViewer, [=, this](const Principal&) {
    if (request->batch_id() <= 0) {
      return absl::InvalidArgumentError("batch_id must be positive");
    }
    TANDEM_ASSIGN_OR_RETURN(int size, PageSize(request->page_size()));
    TANDEM_ASSIGN_OR_RETURN(int64_t after,
                            DecodeToken("i1:", request->page_token()));
    ItemFilter filter;
    for (int s : request->states()) {
      if (s <= v1::ITEM_STATE_UNSPECIFIED || s > v1::ITEM_STATE_ROLLED_BACK) {
        return absl::InvalidArgumentError(
            absl::StrCat("states: not an item state (", s, ")"));
      }
      filter.states.push_back(static_cast<v1::ItemState>(s));
    }
    for (int k : request->failure_kinds()) {
      if (!v1::FailureKind_IsValid(k) || k == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("failure_kinds: not a failure kind (", k, ")"));
      }
      filter.failure_kinds.push_back(static_cast<v1::FailureKind>(k));
    }
    filter.include_details = request->include_details();
    TANDEM_ASSIGN_OR_RETURN(
        std::vector<v1::BatchItem> items,
        deps_.batches->ListItems(request->batch_id(), filter, size, after));
    for (v1::BatchItem& i : items) *response->add_items() = std::move(i);
    if (response->items_size() == size) {
      response->set_next_page_token(
          EncodeToken("i1:", response->items().rbegin()->customer_id()));
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MigratorServiceImpl::GetBatchReport(
    grpc::CallbackServerContext* context,
    const v1::GetBatchReportRequest* request,
    v1::GetBatchReportResponse* response) {
  return Offload(context, Role::kViewer, [=, this](const Principal&) {
    if (request->batch_id() <= 0) {
      return absl::InvalidArgumentError("batch_id must be positive");
    }
    if (request->max_customers() < 0 || request->max_customers() > 100000) {
      return absl::InvalidArgumentError(
          "max_customers must be between 0 and 100,000");
    }
    TANDEM_ASSIGN_OR_RETURN(v1::Batch batch,
                            deps_.batches->GetBatch(request->batch_id()));
    TANDEM_ASSIGN_OR_RETURN(std::vector<v1::BatchItem> items,
                            deps_.batches->AllItems(request->batch_id()));
    *response->mutable_report() = BuildReport(
        batch, items,
        request->max_customers() == 0 ? 1000 : request->max_customers(),
        absl::ToUnixMillis(absl::Now()));
    return absl::OkStatus();
  });
}

grpc::ServerWriteReactor<v1::WatchBatchResponse>*
MigratorServiceImpl::WatchBatch(grpc::CallbackServerContext* context,
                                const v1::WatchBatchRequest* request) {
  absl::Status status = deps_.auth->Authorize(*context, Role::kViewer).status();
  if (status.ok() && request->batch_id() <= 0) {
    status = absl::InvalidArgumentError("batch_id must be positive");
  }
  if (status.ok() &&
      (request->min_interval_ms() < 0 ||
       (request->min_interval_ms() > 0 && request->min_interval_ms() < 200))) {
    status = absl::InvalidArgumentError(
        "min_interval_ms is 0 (the default, 1,000) or at least 200");
  }
  if (status.ok()) {
    // Unknown batches are refused before the stream starts.
    status = deps_.batches->GetBatch(request->batch_id()).status();
  }
  if (status.ok()) {
    const int ms =
        request->min_interval_ms() == 0 ? 1000 : request->min_interval_ms();
    return deps_.watch->Watch(request->batch_id(), absl::Milliseconds(ms),
                              request->include_items());
  }
  (void)Refuse(status);
  class Refused final
      : public grpc::ServerWriteReactor<v1::WatchBatchResponse> {
   public:
    explicit Refused(grpc::Status status) { Finish(status); }
    void OnDone() override { delete this; }
  };
  return new Refused(grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                                  std::string(status.message())));
}

}  // namespace tandem::migrator
