// The mover's checkpoints: what a batch's pause, cancel, load throttle and
// operator gate do to a customer between the steps of its move. A cutover
// is never interrupted; these run before it.
#include <mysql_connection.h>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "migrator/move/item_states.h"
#include "migrator/move/mover.h"
#include "migrator/move/mover_session.h"

namespace tandem::migrator {
namespace {

namespace v1 = ::tandem::migrator::v1;
namespace rv1 = ::tandem::router::v1;

constexpr absl::Duration kRecheck = absl::Milliseconds(200);
// How often a customer held at the gate is caught up, so its cutover stays
// short however long it waits.
constexpr absl::Duration kGateCatchUp = absl::Seconds(5);

}  // namespace

absl::Status Mover::Skip(ItemRecord& record, v1::FailureKind kind,
                         const std::string& message) {
  const int64_t customer = record.item.customer_id();
  const Direction d = record.direction;
  // A live move's copy on the target is removed, but only while the route
  // says the customer is on the source and not held: never the rows of a
  // customer the target serves.
  if (d == Direction::kMove && record.mode != v1::BATCH_MODE_DRY_RUN &&
      record.item.state() != v1::ITEM_STATE_PENDING) {
    absl::StatusOr<rv1::Route> route = deps_.router->GetRoute(customer);
    if (!route.ok()) return route.status();  // retried when resumed
    if (route->system() == ::tandem::common::v1::SYSTEM_SOURCE &&
        route->state() == rv1::ROUTE_STATE_STABLE) {
      BillingDb* target = deps_.dbs[Mapping::WriteSide(d)];
      TANDEM_RETURN_IF_ERROR(
          target->pool().Transaction("remove copy", [&](sql::Connection& conn) {
            return target->DeleteCustomer(conn, customer).status();
          }));
    }
  }
  v1::ItemFailure* f = record.item.mutable_failure();
  f->set_kind(kind);
  f->set_message(message);
  f->set_failed_in(record.item.state());
  f->set_at_unix_ms(absl::ToUnixMillis(deps_.clock->Now()));
  record.item.set_held_at_gate(false);
  deps_.metrics->Finished(d, "skipped");
  TANDEM_LOG(Info, "customer_skipped")
      .With("customer_id", customer)
      .With("batch_id", record.item.batch_id())
      .With("reason", message);
  return Store(record, v1::ITEM_STATE_SKIPPED);
}

absl::StatusOr<bool> Mover::Interrupted(ItemRecord& record) {
  if (deps_.control == nullptr) return false;
  while (true) {
    switch (deps_.control->Check(record, false)) {
      case ItemDecision::kGo:
      case ItemDecision::kHold:
        return false;
      case ItemDecision::kWait:
        deps_.clock->SleepUntil(deps_.clock->Now() + kRecheck);
        continue;
      case ItemDecision::kPause:
        record.stopped = true;
        TANDEM_LOG(Info, "customer_paused")
            .With("customer_id", record.item.customer_id())
            .With("batch_id", record.item.batch_id())
            .With("state", ItemStateName(record.item.state()));
        return true;
      case ItemDecision::kCancel:
        TANDEM_RETURN_IF_ERROR(
            Skip(record, v1::FAILURE_KIND_BATCH_CANCELLED,
                 "the batch was cancelled before the customer was flipped"));
        record.stopped = true;
        return true;
    }
  }
}

absl::StatusOr<bool> Mover::AwaitGate(ItemRecord& record, Session& s) {
  if (deps_.control == nullptr) return false;
  absl::Time last_round = deps_.clock->Now();
  while (true) {
    const ItemDecision decision = deps_.control->Check(record, true);
    if (decision == ItemDecision::kGo) break;
    if (decision == ItemDecision::kPause || decision == ItemDecision::kCancel) {
      if (record.item.held_at_gate()) {
        record.item.set_held_at_gate(false);
        TANDEM_RETURN_IF_ERROR(Store(record, record.item.state()));
      }
      return Interrupted(record);
    }
    if (decision == ItemDecision::kHold && !record.item.held_at_gate()) {
      record.item.set_held_at_gate(true);
      TANDEM_RETURN_IF_ERROR(Store(record, record.item.state()));
      TANDEM_LOG(Info, "customer_held_at_gate")
          .With("customer_id", record.item.customer_id())
          .With("batch_id", record.item.batch_id());
    }
    if (decision == ItemDecision::kHold &&
        deps_.clock->Now() - last_round >= kGateCatchUp) {
      absl::StatusOr<MysqlPool::Lease> conn = s.read_db->pool().Acquire();
      if (conn.ok()) {
        int64_t changed = 0;
        absl::Status caught = CatchUp(s, **conn, nullptr, &changed);
        if (!caught.ok()) {
          TANDEM_LOG(Warning, "gate_catch_up_failed")
              .With("customer_id", record.item.customer_id())
              .With("error", caught.ToString());
        }
      }
      last_round = deps_.clock->Now();
    }
    deps_.clock->SleepUntil(deps_.clock->Now() + kRecheck);
  }
  if (record.item.held_at_gate()) {
    record.item.set_held_at_gate(false);
    TANDEM_RETURN_IF_ERROR(Store(record, record.item.state()));
    TANDEM_LOG(Info, "customer_released_at_gate")
        .With("customer_id", record.item.customer_id());
  }
  return false;
}

}  // namespace tandem::migrator
