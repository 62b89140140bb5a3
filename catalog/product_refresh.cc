#include "catalog/product_refresh.h"

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "catalog/audit_log.h"
#include "catalog/freeze_rules.h"
#include "catalog/product_spec.h"
#include "catalog/request_checks.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace tandem::catalog {

namespace v1 = ::tandem::catalog::v1;
using ::tandem::common::v1::System;

namespace {

// What one system's transaction found.
struct Found {
  v1::RefreshProductsResponse counts;
  std::vector<v1::ProductChange> drift;
  bool changed_any = false;
};

// One system's refresh, inside its transaction.
class Refresher {
 public:
  Refresher(CatalogTxn& txn, System system, v1::Freeze freeze,
            const std::string& actor, const std::string& request_id)
      : txn_(txn),
        system_(system),
        freeze_(std::move(freeze)),
        actor_(actor),
        request_id_(request_id),
        now_(NowMs()) {}

  // A product the catalog did not know. One created behind the catalog's
  // back while the freeze forbids it is drift too.
  absl::Status AddNew(const BillingProduct& billing,
                      const v1::ProductSpec& spec) {
    v1::Product product;
    product.set_system(system_);
    product.set_product_id(billing.product_id);
    *product.mutable_spec() = spec;
    product.set_version(1);
    product.set_subscription_count(billing.subscription_count);
    product.set_customer_count(billing.customer_count);
    product.mutable_stamp()->set_actor(actor_);
    product.mutable_stamp()->set_reason("found by refresh");
    product.mutable_stamp()->set_at_unix_ms(now_);
    product.set_refreshed_at_unix_ms(now_);
    TANDEM_RETURN_IF_ERROR(txn_.UpsertProduct(
        product, system_ == kTarget &&
                     freeze_.state() == v1::FREEZE_STATE_FROZEN_TARGET_OPEN));
    found_.counts.set_products_added(found_.counts.products_added() + 1);
    found_.changed_any = true;
    if (DecideChange(freeze_, system_, v1::CHANGE_KIND_CREATE, {}).allowed) {
      return absl::OkStatus();
    }
    v1::ProductChange change =
        ChangeOf(system_, billing.product_id, spec.code(),
                 v1::CHANGE_KIND_CREATE, freeze_.state());
    change.set_detail("created on the billing system");
    return Drift(std::move(change));
  }

  // A product the catalog knew: its spec and counts as read now.
  absl::Status Update(const ProductRow& row, const BillingProduct& billing,
                      const v1::ProductSpec& spec) {
    v1::Product product = row.product;
    const SpecDifference diff = DiffSpecs(product.spec(), spec);
    // Names, classes and units of resource types belong to the system;
    // take them as read without calling it a change.
    const bool spec_bytes_differ =
        product.spec().SerializeAsString() != spec.SerializeAsString();
    if (diff.any()) {
      found_.counts.set_products_changed(found_.counts.products_changed() + 1);
      product.set_version(product.version() + 1);
      if (IsProductFrozen(freeze_.state(), system_, FactsOf(row))) {
        v1::ProductChange change =
            ChangeOf(system_, billing.product_id, spec.code(),
                     diff.configuration ? v1::CHANGE_KIND_UPDATE_CONFIGURATION
                                        : v1::CHANGE_KIND_UPDATE_PRICE,
                     freeze_.state());
        change.set_detail(
            absl::StrCat("changed on the billing system: ", diff.fields));
        TANDEM_RETURN_IF_ERROR(Drift(std::move(change)));
      }
    }
    *product.mutable_spec() = spec;
    product.set_subscription_count(billing.subscription_count);
    product.set_customer_count(billing.customer_count);
    product.set_refreshed_at_unix_ms(now_);
    TANDEM_RETURN_IF_ERROR(txn_.UpsertProduct(product, row.after_switchover));
    found_.changed_any |= diff.any() || spec_bytes_differ;
    return absl::OkStatus();
  }

  // A product the billing system no longer has.
  absl::Status Remove(const ProductRow& row) {
    const int64_t id = row.product.product_id();
    if (IsProductFrozen(freeze_.state(), system_, FactsOf(row))) {
      v1::ProductChange change =
          ChangeOf(system_, id, row.product.spec().code(),
                   v1::CHANGE_KIND_DELETE, freeze_.state());
      change.set_detail("deleted on the billing system");
      TANDEM_RETURN_IF_ERROR(Drift(std::move(change)));
    }
    TANDEM_RETURN_IF_ERROR(txn_.RemoveProduct(system_, id));
    found_.counts.set_products_removed(found_.counts.products_removed() + 1);
    found_.changed_any = true;
    return absl::OkStatus();
  }

  void Seen() {
    found_.counts.set_products_seen(found_.counts.products_seen() + 1);
  }
  Found Take() { return std::move(found_); }

 private:
  absl::Status Drift(v1::ProductChange change) {
    v1::AuditEntry entry = NewAudit(v1::AUDIT_KIND_DRIFT_DETECTED, actor_,
                                    "found by refresh", request_id_);
    *entry.mutable_change() = change;
    TANDEM_RETURN_IF_ERROR(txn_.AppendAudit(std::move(entry)).status());
    found_.drift.push_back(std::move(change));
    return absl::OkStatus();
  }

  CatalogTxn& txn_;
  const System system_;
  const v1::Freeze freeze_;
  const std::string& actor_;
  const std::string& request_id_;
  const int64_t now_;
  Found found_;
};

absl::StatusOr<Found> RefreshIn(CatalogTxn& txn, System system,
                                const std::vector<BillingProduct>& read,
                                const std::string& actor,
                                const std::string& request_id) {
  // Judged under the freeze row, like any product change.
  TANDEM_ASSIGN_OR_RETURN(FreezeRow freeze, txn.ReadFreeze(RowLock::kShared));
  TANDEM_ASSIGN_OR_RETURN(std::vector<ProductRow> rows,
                          txn.LockProducts(system));
  std::map<int64_t, ProductRow> known;
  for (ProductRow& row : rows) {
    const int64_t id = row.product.product_id();
    known.emplace(id, std::move(row));
  }
  Refresher refresher(txn, system, freeze.freeze, actor, request_id);
  for (const BillingProduct& billing : read) {
    refresher.Seen();
    const v1::ProductSpec spec = CanonicalSpec(billing.spec);
    auto it = known.find(billing.product_id);
    if (it == known.end()) {
      TANDEM_RETURN_IF_ERROR(refresher.AddNew(billing, spec));
      continue;
    }
    TANDEM_RETURN_IF_ERROR(refresher.Update(it->second, billing, spec));
    known.erase(it);
  }
  for (const auto& [id, row] : known) {
    TANDEM_RETURN_IF_ERROR(refresher.Remove(row));
  }
  Found found = refresher.Take();
  if (found.changed_any) TANDEM_RETURN_IF_ERROR(txn.BumpRevision());
  return found;
}

void AddCounts(const v1::RefreshProductsResponse& part,
               v1::RefreshProductsResponse* total) {
  total->set_products_seen(total->products_seen() + part.products_seen());
  total->set_products_added(total->products_added() + part.products_added());
  total->set_products_changed(total->products_changed() +
                              part.products_changed());
  total->set_products_removed(total->products_removed() +
                              part.products_removed());
}

}  // namespace

absl::StatusOr<v1::RefreshProductsResponse> ProductRefresh::Refresh(
    const Principal& who, const v1::RefreshProductsRequest& req) {
  if (req.system() != ::tandem::common::v1::SYSTEM_UNSPECIFIED) {
    TANDEM_RETURN_IF_ERROR(ValidateSystem(req.system()));
  }
  TANDEM_RETURN_IF_ERROR(ValidateRequestId(req.request_id()));
  v1::RefreshProductsResponse total;
  for (System system : {kSource, kTarget}) {
    if (req.system() != ::tandem::common::v1::SYSTEM_UNSPECIFIED &&
        req.system() != system) {
      continue;
    }
    BillingCatalog& billing = system == kSource ? *source_ : *target_;
    absl::StatusOr<std::vector<BillingProduct>> read = billing.ReadProducts();
    if (!read.ok()) {
      return absl::UnavailableError(
          absl::StrCat("cannot read the ", SystemName(system),
                       " billing database: ", read.status().message()));
    }
    TANDEM_ASSIGN_OR_RETURN(
        Found found,
        Transact(*store_, "refresh products", [&](CatalogTxn& txn) {
          return RefreshIn(txn, system, *read, who.name, req.request_id());
        }));
    AddCounts(found.counts, &total);
    for (v1::ProductChange& change : found.drift) {
      metrics_->Drift();
      TANDEM_LOG(Warning, "freeze_drift_detected")
          .With("system", SystemName(change.system()))
          .With("product_id", change.product_id())
          .With("detail", change.detail());
      *total.add_drift() = std::move(change);
    }
  }
  TANDEM_RETURN_IF_ERROR(state_->Reload(/*force=*/true));
  return total;
}

}  // namespace tandem::catalog
