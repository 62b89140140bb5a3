#include "catalog/product_changes.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "catalog/freeze_rules.h"
#include "catalog/product_helpers.h"
#include "catalog/product_spec.h"
#include "catalog/request_checks.h"
#include "common/status_macros.h"

namespace tandem::catalog {

namespace v1 = ::tandem::catalog::v1;
using ::tandem::common::v1::System;

namespace {

// ABORTED when the caller's version is not the product's.
absl::Status CheckVersion(const ProductRow& row, int64_t expected) {
  if (expected != row.product.version()) {
    return absl::AbortedError(absl::StrCat("product version is ",
                                           row.product.version(), ", not ",
                                           expected, "; re-read and retry"));
  }
  return absl::OkStatus();
}

// FAILED_PRECONDITION while a mapping or a main product still refers to
// the product.
absl::Status CheckUnreferenced(CatalogTxn& txn, const ProductRow& row) {
  if (row.product.mapped_to_product_id() != 0 || row.mapping_target) {
    return absl::FailedPreconditionError(
        "a mapping points from or to this product; delete the mapping first");
  }
  if (row.product.spec().kind() != v1::PRODUCT_KIND_ADDON) {
    return absl::OkStatus();
  }
  TANDEM_ASSIGN_OR_RETURN(std::vector<v1::ProductSpec> mains,
                          txn.MainProductSpecs(row.product.system()));
  for (const v1::ProductSpec& main : mains) {
    for (int64_t addon : main.addon_product_ids()) {
      if (addon == row.product.product_id()) {
        return absl::FailedPreconditionError(
            absl::StrCat("product ", main.code(), " offers this add-on"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

BillingCatalog& ProductChanges::Billing(System system) const {
  return system == kSource ? *source_ : *target_;
}

template <typename Response>
absl::StatusOr<Response> ProductChanges::Finish(
    const Principal& who, const std::string& request_id,
    ChangeOutcome<Response> outcome) {
  if (outcome.refusal.has_value()) {
    audit_->Refused(who, *outcome.refusal, request_id);
    return absl::FailedPreconditionError(outcome.refusal->reason);
  }
  if (outcome.applied) {
    metrics_->Applied();
    (void)state_->Reload(/*force=*/true);
  }
  return std::move(outcome.response);
}

// ---------------------------------------------------------------------------
// Create
// ---------------------------------------------------------------------------

absl::StatusOr<v1::CreateProductResponse> ProductChanges::Create(
    const Principal& who, const v1::CreateProductRequest& req) {
  TANDEM_RETURN_IF_ERROR(ValidateSystem(req.system()));
  TANDEM_RETURN_IF_ERROR(ValidateProductSpec(req.spec(), req.system()));
  TANDEM_RETURN_IF_ERROR(ValidateRequestId(req.request_id()));
  const v1::ProductSpec spec = CanonicalSpec(req.spec());
  TANDEM_ASSIGN_OR_RETURN(
      CreateOutcome outcome,
      Transact(*store_, "create product",
               [&](CatalogTxn& txn) { return CreateIn(txn, who, req, spec); }));
  return Finish(who, req.request_id(), std::move(outcome));
}

absl::StatusOr<ProductChanges::CreateOutcome> ProductChanges::CreateIn(
    CatalogTxn& txn, const Principal& who, const v1::CreateProductRequest& req,
    const v1::ProductSpec& spec) {
  CreateOutcome out;
  TANDEM_ASSIGN_OR_RETURN(
      bool replayed,
      txn.FindRequest(req.request_id(), "CreateProduct", &out.response));
  if (replayed) return out;
  const System system = req.system();
  TANDEM_ASSIGN_OR_RETURN(FreezeRow freeze, txn.ReadFreeze(RowLock::kShared));
  const v1::FreezeState state = freeze.freeze.state();
  ChangeDecision decision =
      DecideChange(freeze.freeze, system, v1::CHANGE_KIND_CREATE, {});
  if (!decision.allowed) {
    out.refusal = RefusalOf(
        ChangeOf(system, 0, spec.code(), v1::CHANGE_KIND_CREATE, state),
        decision, absl::StrCat("CreateProduct ", spec.code()));
    return out;
  }
  BillingCatalog& billing = Billing(system);
  absl::StatusOr<int64_t> created = CreateOrAdopt(txn, billing, system, spec);
  if (!created.ok()) return BillingError(created.status(), system);
  TANDEM_ASSIGN_OR_RETURN(BillingProduct read,
                          ReadBack(billing, *created, "created product"));
  const v1::Product product = NewProduct(system, read, who.name, req.reason());
  TANDEM_RETURN_IF_ERROR(txn.UpsertProduct(
      product,
      system == kTarget && state == v1::FREEZE_STATE_FROZEN_TARGET_OPEN));
  v1::AuditEntry entry = NewAudit(v1::AUDIT_KIND_CHANGE_APPLIED, who.name,
                                  req.reason(), req.request_id());
  *entry.mutable_change() =
      ChangeOf(system, *created, spec.code(), v1::CHANGE_KIND_CREATE, state);
  TANDEM_RETURN_IF_ERROR(txn.AppendAudit(std::move(entry)).status());
  TANDEM_RETURN_IF_ERROR(txn.BumpRevision());
  *out.response.mutable_product() = product;
  TANDEM_RETURN_IF_ERROR(
      txn.SaveRequest(req.request_id(), "CreateProduct", out.response));
  out.applied = true;
  return out;
}

// ---------------------------------------------------------------------------
// Update
// ---------------------------------------------------------------------------

absl::StatusOr<v1::UpdateProductResponse> ProductChanges::Update(
    const Principal& who, const v1::UpdateProductRequest& req) {
  TANDEM_RETURN_IF_ERROR(ValidateSystem(req.system()));
  if (req.product_id() <= 0) {
    return absl::InvalidArgumentError("product_id must be positive");
  }
  TANDEM_RETURN_IF_ERROR(ValidateProductSpec(req.spec(), req.system()));
  TANDEM_RETURN_IF_ERROR(ValidateRequestId(req.request_id()));
  const v1::ProductSpec spec = CanonicalSpec(req.spec());
  TANDEM_ASSIGN_OR_RETURN(
      UpdateOutcome outcome,
      Transact(*store_, "update product",
               [&](CatalogTxn& txn) { return UpdateIn(txn, who, req, spec); }));
  return Finish(who, req.request_id(), std::move(outcome));
}

absl::StatusOr<ProductChanges::UpdateOutcome> ProductChanges::UpdateIn(
    CatalogTxn& txn, const Principal& who, const v1::UpdateProductRequest& req,
    const v1::ProductSpec& spec) {
  UpdateOutcome out;
  TANDEM_ASSIGN_OR_RETURN(
      bool replayed,
      txn.FindRequest(req.request_id(), "UpdateProduct", &out.response));
  if (replayed) return out;
  const System system = req.system();
  TANDEM_ASSIGN_OR_RETURN(FreezeRow freeze, txn.ReadFreeze(RowLock::kShared));
  const v1::FreezeState state = freeze.freeze.state();
  TANDEM_ASSIGN_OR_RETURN(ProductRow row,
                          LockExisting(txn, system, req.product_id()));
  TANDEM_RETURN_IF_ERROR(CheckVersion(row, req.expected_version()));
  if (spec.kind() != row.product.spec().kind()) {
    return absl::InvalidArgumentError("a product's kind never changes");
  }
  const SpecDifference diff = DiffSpecs(row.product.spec(), spec);
  if (!diff.any()) {
    *out.response.mutable_product() = row.product;
    MarkFrozen(state, row, out.response.mutable_product());
    return out;
  }
  const v1::ChangeKind kind = diff.configuration
                                  ? v1::CHANGE_KIND_UPDATE_CONFIGURATION
                                  : v1::CHANGE_KIND_UPDATE_PRICE;
  ChangeDecision decision =
      DecideChange(freeze.freeze, system, kind, FactsOf(row));
  if (!decision.allowed) {
    out.refusal =
        RefusalOf(ChangeOf(system, req.product_id(), row.product.spec().code(),
                           kind, state),
                  decision, absl::StrCat("UpdateProduct: ", diff.fields));
    return out;
  }
  BillingCatalog& billing = Billing(system);
  absl::Status written = billing.UpdateProduct(req.product_id(), spec);
  if (absl::IsNotFound(written)) {
    return absl::NotFoundError(absl::StrCat(
        "product ", req.product_id(), " is gone from the ", SystemName(system),
        " billing system; refresh the catalog"));
  }
  if (!written.ok()) return BillingError(written, system);
  TANDEM_ASSIGN_OR_RETURN(
      BillingProduct read,
      ReadBack(billing, req.product_id(), "updated product"));
  const int64_t now = NowMs();
  v1::Product product = row.product;
  *product.mutable_spec() = CanonicalSpec(read.spec);
  product.set_version(row.product.version() + 1);
  product.set_subscription_count(read.subscription_count);
  product.set_customer_count(read.customer_count);
  product.mutable_stamp()->set_actor(who.name);
  product.mutable_stamp()->set_reason(req.reason());
  product.mutable_stamp()->set_at_unix_ms(now);
  product.set_refreshed_at_unix_ms(now);
  TANDEM_RETURN_IF_ERROR(txn.UpsertProduct(product, row.after_switchover));
  v1::AuditEntry entry = NewAudit(v1::AUDIT_KIND_CHANGE_APPLIED, who.name,
                                  req.reason(), req.request_id());
  *entry.mutable_change() =
      ChangeOf(system, req.product_id(), spec.code(), kind, state);
  entry.mutable_change()->set_detail(diff.fields);
  TANDEM_RETURN_IF_ERROR(txn.AppendAudit(std::move(entry)).status());
  TANDEM_RETURN_IF_ERROR(txn.BumpRevision());
  row.product = product;
  *out.response.mutable_product() = product;
  MarkFrozen(state, row, out.response.mutable_product());
  TANDEM_RETURN_IF_ERROR(
      txn.SaveRequest(req.request_id(), "UpdateProduct", out.response));
  out.applied = true;
  return out;
}

// ---------------------------------------------------------------------------
// Delete
// ---------------------------------------------------------------------------

absl::StatusOr<v1::DeleteProductResponse> ProductChanges::Delete(
    const Principal& who, const v1::DeleteProductRequest& req) {
  TANDEM_RETURN_IF_ERROR(ValidateSystem(req.system()));
  if (req.product_id() <= 0) {
    return absl::InvalidArgumentError("product_id must be positive");
  }
  TANDEM_RETURN_IF_ERROR(ValidateRequestId(req.request_id()));
  TANDEM_ASSIGN_OR_RETURN(
      DeleteOutcome outcome,
      Transact(*store_, "delete product",
               [&](CatalogTxn& txn) { return DeleteIn(txn, who, req); }));
  return Finish(who, req.request_id(), std::move(outcome));
}

absl::StatusOr<ProductChanges::DeleteOutcome> ProductChanges::DeleteIn(
    CatalogTxn& txn, const Principal& who,
    const v1::DeleteProductRequest& req) {
  DeleteOutcome out;
  TANDEM_ASSIGN_OR_RETURN(
      bool replayed,
      txn.FindRequest(req.request_id(), "DeleteProduct", &out.response));
  if (replayed) return out;
  const System system = req.system();
  TANDEM_ASSIGN_OR_RETURN(FreezeRow freeze, txn.ReadFreeze(RowLock::kShared));
  const v1::FreezeState state = freeze.freeze.state();
  TANDEM_ASSIGN_OR_RETURN(ProductRow row,
                          LockExisting(txn, system, req.product_id()));
  TANDEM_RETURN_IF_ERROR(CheckVersion(row, req.expected_version()));
  const v1::ProductChange change =
      ChangeOf(system, req.product_id(), row.product.spec().code(),
               v1::CHANGE_KIND_DELETE, state);
  ChangeDecision decision =
      DecideChange(freeze.freeze, system, v1::CHANGE_KIND_DELETE, FactsOf(row));
  if (!decision.allowed) {
    out.refusal = RefusalOf(change, decision, "DeleteProduct");
    return out;
  }
  TANDEM_RETURN_IF_ERROR(CheckUnreferenced(txn, row));
  absl::Status removed = Billing(system).DeleteProduct(req.product_id());
  // Gone already: a retry after a crash between the billing write and
  // this commit.
  if (!removed.ok() && !absl::IsNotFound(removed)) {
    return BillingError(removed, system);
  }
  TANDEM_RETURN_IF_ERROR(txn.RemoveProduct(system, req.product_id()));
  v1::AuditEntry entry = NewAudit(v1::AUDIT_KIND_CHANGE_APPLIED, who.name,
                                  req.reason(), req.request_id());
  *entry.mutable_change() = change;
  TANDEM_RETURN_IF_ERROR(txn.AppendAudit(std::move(entry)).status());
  TANDEM_RETURN_IF_ERROR(txn.BumpRevision());
  TANDEM_RETURN_IF_ERROR(
      txn.SaveRequest(req.request_id(), "DeleteProduct", out.response));
  out.applied = true;
  return out;
}

}  // namespace tandem::catalog
