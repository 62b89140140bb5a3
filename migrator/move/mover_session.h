// Internal to the mover: what one attempt at a customer holds in memory,
// and the small transaction helper the cutover uses. Not a public interface.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/mysql_pool.h"
#include "migrator/engine/billing_db.h"
#include "migrator/engine/converter.h"
#include "migrator/engine/verifier.h"
#include "migrator/move/mover.h"
#include "migrator/move/plan_lookups.h"

namespace tandem::migrator {

// The system a move in direction `d` leaves, and the one it goes to.
inline ::tandem::common::v1::System OriginSystem(Direction d) {
  return d == Direction::kMove ? ::tandem::common::v1::SYSTEM_SOURCE
                               : ::tandem::common::v1::SYSTEM_TARGET;
}
inline ::tandem::common::v1::System DestinationSystem(Direction d) {
  return d == Direction::kMove ? ::tandem::common::v1::SYSTEM_TARGET
                               : ::tandem::common::v1::SYSTEM_SOURCE;
}

struct Mover::Session {
  int64_t customer_id = 0;
  Direction direction = Direction::kMove;
  BillingDb* read_db = nullptr;
  BillingDb* write_db = nullptr;
  CatalogCodes codes;
  ::tandem::catalog::v1::CustomerPlan plan;
  IdMap ids;
  std::unique_ptr<PlanLookups> lookups;
  std::unique_ptr<PlanLookups> inverse;
  std::unique_ptr<Converter> converter;
  // The side read as last read, and the side written as the migrator last
  // wrote it (or found it).
  CustomerRows read;
  // The server's hash of each row of `read`, as last read.
  Hashes read_hashes;
  CustomerRows mirror;
  // The tail's baseline as last saved on the side written.
  BillingDb::Marks saved_marks;
  DesiredState desired;
  // Tables of the side written, in the order changes are applied.
  std::vector<std::string> write_order;
  int64_t rows_written = 0;
  // The tail's probe as its last complete pass found it: the digests of the
  // old side's tables that late writes can touch (append-only tables and
  // balance holders). Unchanged, a pass has nothing to carry.
  std::optional<Mover::TailProbe> tail_totals;
};

// A transaction on a borrowed connection that rolls back unless committed.
class Txn {
 public:
  // Borrows a connection and begins. REPEATABLE READ (`snapshot`) for the
  // side read, so the first read fixes the snapshot every later read of the
  // transaction sees; READ COMMITTED for the side written, so its writes
  // take no gap locks that concurrent customers' writes would deadlock on.
  static absl::StatusOr<Txn> Begin(MysqlPool& pool, bool snapshot = true);
  Txn(Txn&& other) noexcept
      : lease_(std::move(other.lease_)), open_(other.open_) {
    other.open_ = false;
  }
  ~Txn();

  sql::Connection& conn() { return **lease_; }
  absl::Status Commit();
  void Rollback();

 private:
  explicit Txn(MysqlPool::Lease lease) : lease_(std::move(lease)) {}
  std::optional<MysqlPool::Lease> lease_;
  bool open_ = true;
};

// The rows of `desired` as the side written holds them once applied.
CustomerRows MirrorOf(const DesiredState& desired);

// Builds the session's lookups and converter once both sides were read.
void BuildConverterFor(const Mapping& mapping,
                       const LiveSchema* const schemas[2], Mover::Session& s,
                       const CustomerRows& written, bool allow_rounding,
                       bool hold_status);

// The failure kind of a write that failed.
::tandem::migrator::v1::FailureKind KindOfWrite(const absl::Status& s);

// A verification in its proto form.
void ToProtoVerification(const Verification& v,
                         ::tandem::migrator::v1::Verification* out,
                         int64_t now_ms, bool after_move);

// Subscription id -> product id of the rows of `rows`, from the entry of
// `direction` whose product column names a subscription column.
std::map<std::string, std::string> SubscriptionProducts(
    const Mapping& mapping, Direction direction, const LiveSchema& schema,
    const CustomerRows& rows);

}  // namespace tandem::migrator
