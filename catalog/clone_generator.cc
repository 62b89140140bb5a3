#include "catalog/clone_generator.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "catalog/freeze_rules.h"
#include "catalog/move_rules.h"
#include "catalog/product_helpers.h"
#include "catalog/product_spec.h"
#include "catalog/request_checks.h"
#include "common/status_macros.h"

namespace tandem::catalog {

namespace v1 = ::tandem::catalog::v1;
using Response = v1::GenerateMissingProductsResponse;

struct CloneGenerator::Progress {
  Response response;
  std::vector<v1::GeneratedProduct> generated;
  // Source id -> clone id, for clones made by this call.
  std::map<int64_t, int64_t> cloned;
  // Codes taken on the target, clones of this call included.
  std::set<std::string> target_codes;
};

namespace {

// The code suffix of clones whose code is taken on the target.
absl::StatusOr<std::string> ValidateGenerate(
    const v1::GenerateMissingProductsRequest& req) {
  if (req.source_product_ids_size() > 10000) {
    return absl::InvalidArgumentError("at most 10,000 source_product_ids");
  }
  std::string suffix = req.code_suffix().empty() ? "-v1" : req.code_suffix();
  if (suffix.size() > 16 ||
      !std::all_of(suffix.begin(), suffix.end(), [](char c) {
        return absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '-';
      })) {
    return absl::InvalidArgumentError(
        "code_suffix must be at most 16 characters of [A-Za-z0-9_.-]");
  }
  TANDEM_RETURN_IF_ERROR(ValidateRequestId(req.request_id()));
  return suffix;
}

void Skip(int64_t id, std::string reason, Response* response) {
  v1::SkippedProduct* skipped = response->add_skipped();
  skipped->set_source_product_id(id);
  skipped->set_reason(std::move(reason));
}

// What to clone: the requested (or every) source product that is known and
// not mapped, with the unmapped add-ons they offer, add-ons first so that a
// main product's clone can offer their clones. Others are skipped.
std::vector<int64_t> CloneOrder(const CatalogSnapshot& snapshot,
                                const v1::GenerateMissingProductsRequest& req,
                                Response* response) {
  std::vector<int64_t> requested(req.source_product_ids().begin(),
                                 req.source_product_ids().end());
  if (requested.empty()) requested = snapshot.ProductIds(kSource);
  std::sort(requested.begin(), requested.end());
  requested.erase(std::unique(requested.begin(), requested.end()),
                  requested.end());
  std::vector<int64_t> order;
  std::set<int64_t> queued;
  for (int64_t id : requested) {
    const v1::Product* p = snapshot.FindProduct(kSource, id);
    if (p == nullptr) {
      Skip(id, "not in the catalog", response);
      continue;
    }
    if (const v1::Mapping* m = snapshot.FindMapping(id)) {
      Skip(id, absl::StrCat("already mapped to ", m->target_product_id()),
           response);
      continue;
    }
    for (int64_t addon : p->spec().addon_product_ids()) {
      if (snapshot.FindMapping(addon) == nullptr &&
          snapshot.FindProduct(kSource, addon) != nullptr &&
          queued.insert(addon).second) {
        order.push_back(addon);
      }
    }
    if (queued.insert(id).second) order.push_back(id);
  }
  auto is_addon = [&](int64_t id) {
    return snapshot.FindProduct(kSource, id)->spec().kind() ==
           v1::PRODUCT_KIND_ADDON;
  };
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return is_addon(a) && !is_addon(b);
  });
  return order;
}

// The target's resource type for `type`: the same code, or else an unused
// type of the same class whose code the source product does not use;
// empty when there is none.
std::string TargetTypeFor(const v1::ResourceType& type,
                          const v1::ProductSpec& source,
                          const std::vector<v1::ResourceType>& target_types,
                          const std::set<std::string>& used) {
  for (const v1::ResourceType& t : target_types) {
    if (t.code() == type.code()) return t.code();
  }
  for (const v1::ResourceType& t : target_types) {
    if (t.resource_class() == type.resource_class() &&
        used.count(t.code()) == 0 &&
        std::none_of(
            source.resource_types().begin(), source.resource_types().end(),
            [&](const v1::ResourceType& s) { return s.code() == t.code(); })) {
      return t.code();
    }
  }
  return "";
}

// The safest copy the target can hold of `source`: a resource type the
// target does not know becomes a type of the same class, or is left out
// (the mapping's comparison then reports it); add-ons become their
// mappings or clones. Nullopt, with `skip` set, when the code is taken.
std::optional<v1::ProductSpec> CloneSpec(
    const CatalogSnapshot& snapshot, const v1::Product& source,
    const std::vector<v1::ResourceType>& target_types,
    const std::set<std::string>& target_codes, const std::string& suffix,
    const std::map<int64_t, int64_t>& cloned, std::string* skip) {
  v1::ProductSpec spec = source.spec();
  if (target_codes.count(spec.code()) > 0) {
    spec.set_code(absl::StrCat(spec.code(), suffix));
  }
  if (target_codes.count(spec.code()) > 0 || spec.code().size() > 64) {
    *skip = absl::StrCat("code ", spec.code(), " is taken on the target");
    return std::nullopt;
  }
  spec.clear_resource_types();
  std::set<std::string> used;
  for (const v1::ResourceType& type : source.spec().resource_types()) {
    std::string code = TargetTypeFor(type, source.spec(), target_types, used);
    if (code.empty() || !used.insert(code).second) continue;
    for (const v1::ResourceType& t : target_types) {
      if (t.code() != code) continue;
      v1::ResourceType* copy = spec.add_resource_types();
      *copy = t;
      copy->set_limit(type.limit());
    }
  }
  spec.clear_addon_product_ids();
  for (int64_t addon : source.spec().addon_product_ids()) {
    int64_t target_addon = 0;
    if (const v1::Mapping* m = snapshot.FindMapping(addon)) {
      target_addon = m->target_product_id();
    } else if (auto it = cloned.find(addon); it != cloned.end()) {
      target_addon = it->second;
    }
    if (target_addon != 0) spec.add_addon_product_ids(target_addon);
  }
  return CanonicalSpec(std::move(spec));
}

}  // namespace

absl::StatusOr<Response> CloneGenerator::Generate(
    const Principal& who, const v1::GenerateMissingProductsRequest& req) {
  TANDEM_ASSIGN_OR_RETURN(const std::string suffix, ValidateGenerate(req));
  if (!req.dry_run() && !req.request_id().empty()) {
    TANDEM_ASSIGN_OR_RETURN(
        std::optional<Response> replayed,
        Transact(
            *store_, "find request",
            [&](CatalogTxn& txn) -> absl::StatusOr<std::optional<Response>> {
              Response recorded;
              TANDEM_ASSIGN_OR_RETURN(
                  bool found,
                  txn.FindRequest(req.request_id(), "GenerateMissingProducts",
                                  &recorded));
              if (!found) return std::nullopt;
              return recorded;
            }));
    if (replayed.has_value()) return *std::move(replayed);
  }
  TANDEM_RETURN_IF_ERROR(CheckAllowed(who, req));
  TANDEM_ASSIGN_OR_RETURN(CatalogSnapshot snapshot, store_->LoadSnapshot());
  absl::StatusOr<std::vector<v1::ResourceType>> target_types =
      target_->ReadResourceTypes();
  if (!target_types.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot read the target billing database: ",
                     target_types.status().message()));
  }
  Progress progress;
  for (int64_t id : snapshot.ProductIds(kTarget)) {
    progress.target_codes.insert(
        snapshot.FindProduct(kTarget, id)->spec().code());
  }
  for (int64_t id : CloneOrder(snapshot, req, &progress.response)) {
    std::string skip;
    std::optional<v1::ProductSpec> spec =
        CloneSpec(snapshot, *snapshot.FindProduct(kSource, id), *target_types,
                  progress.target_codes, suffix, progress.cloned, &skip);
    if (!spec.has_value()) {
      Skip(id, std::move(skip), &progress.response);
      continue;
    }
    TANDEM_RETURN_IF_ERROR(CloneOne(who, req, id, *spec, &progress));
  }
  std::sort(progress.generated.begin(), progress.generated.end(),
            [](const v1::GeneratedProduct& a, const v1::GeneratedProduct& b) {
              return a.source_product_id() < b.source_product_id();
            });
  for (v1::GeneratedProduct& g : progress.generated) {
    *progress.response.add_generated() = std::move(g);
  }
  if (!req.dry_run()) TANDEM_RETURN_IF_ERROR(Complete(req, &progress.response));
  return std::move(progress.response);
}

absl::Status CloneGenerator::CheckAllowed(
    const Principal& who, const v1::GenerateMissingProductsRequest& req) {
  const v1::Freeze freeze = state_->Freeze();
  ChangeDecision decision =
      DecideChange(freeze, kTarget, v1::CHANGE_KIND_CREATE, {});
  if (decision.allowed || req.dry_run()) return absl::OkStatus();
  audit_->Refused(who,
                  RefusalOf(ChangeOf(kTarget, 0, "", v1::CHANGE_KIND_CREATE,
                                     freeze.state()),
                            decision, "GenerateMissingProducts"),
                  req.request_id());
  return absl::FailedPreconditionError(decision.reason);
}

absl::Status CloneGenerator::CloneOne(
    const Principal& who, const v1::GenerateMissingProductsRequest& req,
    int64_t source_id, const v1::ProductSpec& spec, Progress* progress) {
  if (req.dry_run()) {
    v1::GeneratedProduct out;
    out.set_source_product_id(source_id);
    *out.mutable_target_product()->mutable_spec() = spec;
    out.mutable_target_product()->set_system(kTarget);
    progress->generated.push_back(std::move(out));
    progress->target_codes.insert(spec.code());
    return absl::OkStatus();
  }
  absl::StatusOr<Cloned> cloned = Transact(
      *store_, "generate product",
      [&](CatalogTxn& txn) { return CloneIn(txn, who, req, source_id, spec); });
  if (cloned.ok() && cloned->refusal.has_value()) {
    audit_->Refused(who, *cloned->refusal, req.request_id());
    cloned = absl::FailedPreconditionError(cloned->refusal->reason);
  }
  if (absl::IsAlreadyExists(cloned.status())) {
    Skip(source_id, std::string(cloned.status().message()),
         &progress->response);
    return absl::OkStatus();
  }
  if (!cloned.ok()) {
    (void)state_->Reload(/*force=*/true);
    const absl::Status& status = cloned.status();
    if (absl::IsUnavailable(status) || absl::IsResourceExhausted(status)) {
      return absl::UnavailableError(
          absl::StrCat("stopped after ", progress->generated.size(),
                       " clones (they stay, mapped): ", status.message()));
    }
    return status;
  }
  if (cloned->mapped_meanwhile) {
    Skip(source_id, "mapped meanwhile", &progress->response);
    return absl::OkStatus();
  }
  progress->cloned[source_id] = cloned->generated.target_product().product_id();
  progress->target_codes.insert(spec.code());
  progress->generated.push_back(std::move(cloned->generated));
  return absl::OkStatus();
}

absl::StatusOr<CloneGenerator::Cloned> CloneGenerator::CloneIn(
    CatalogTxn& txn, const Principal& who,
    const v1::GenerateMissingProductsRequest& req, int64_t source_id,
    const v1::ProductSpec& spec) {
  Cloned out;
  TANDEM_ASSIGN_OR_RETURN(FreezeRow freeze, txn.ReadFreeze(RowLock::kShared));
  const v1::FreezeState state = freeze.freeze.state();
  ChangeDecision decision =
      DecideChange(freeze.freeze, kTarget, v1::CHANGE_KIND_CREATE, {});
  if (!decision.allowed) {
    out.refusal = RefusalOf(
        ChangeOf(kTarget, 0, spec.code(), v1::CHANGE_KIND_CREATE, state),
        decision, "GenerateMissingProducts");
    return out;
  }
  TANDEM_ASSIGN_OR_RETURN(std::optional<v1::Mapping> existing,
                          txn.LockMapping(source_id));
  if (existing.has_value()) {
    out.mapped_meanwhile = true;
    return out;
  }
  TANDEM_ASSIGN_OR_RETURN(int64_t clone_id,
                          CreateOrAdopt(txn, *target_, kTarget, spec));
  TANDEM_ASSIGN_OR_RETURN(BillingProduct read,
                          ReadBack(*target_, clone_id, "generated product"));
  v1::Product product = NewProduct(kTarget, read, who.name, req.reason());
  product.set_cloned_from_product_id(source_id);
  TANDEM_RETURN_IF_ERROR(
      txn.UpsertProduct(product, state == v1::FREEZE_STATE_FROZEN_TARGET_OPEN));
  v1::Mapping mapping;
  mapping.set_source_product_id(source_id);
  mapping.set_target_product_id(clone_id);
  mapping.set_overuse_policy(v1::OVERUSE_POLICY_INHERIT);
  mapping.set_origin(v1::MAPPING_ORIGIN_GENERATED);
  mapping.set_version(1);
  *mapping.mutable_stamp() = product.stamp();
  TANDEM_RETURN_IF_ERROR(txn.WriteMapping(mapping));
  v1::AuditEntry generated = NewAudit(v1::AUDIT_KIND_PRODUCT_GENERATED,
                                      who.name, req.reason(), req.request_id());
  *generated.mutable_change() = ChangeOf(
      kTarget, clone_id, product.spec().code(), v1::CHANGE_KIND_CREATE, state);
  generated.mutable_change()->set_cloned_from_product_id(source_id);
  TANDEM_RETURN_IF_ERROR(txn.AppendAudit(std::move(generated)).status());
  v1::AuditEntry mapped = NewAudit(v1::AUDIT_KIND_MAPPING_CHANGED, who.name,
                                   req.reason(), req.request_id());
  *mapped.mutable_mapping()->mutable_mapping() = mapping;
  TANDEM_RETURN_IF_ERROR(txn.AppendAudit(std::move(mapped)).status());
  TANDEM_RETURN_IF_ERROR(txn.BumpRevision());
  out.generated.set_source_product_id(source_id);
  *out.generated.mutable_target_product() = std::move(product);
  *out.generated.mutable_mapping() = std::move(mapping);
  return out;
}

absl::Status CloneGenerator::Complete(
    const v1::GenerateMissingProductsRequest& req, Response* response) {
  // Comparisons of the new mappings, against the products as now stored.
  TANDEM_ASSIGN_OR_RETURN(CatalogSnapshot after, store_->LoadSnapshot());
  for (v1::GeneratedProduct& g : *response->mutable_generated()) {
    const v1::Product* s = after.FindProduct(kSource, g.source_product_id());
    const v1::Product* t =
        after.FindProduct(kTarget, g.target_product().product_id());
    if (s != nullptr && t != nullptr) {
      *g.mutable_mapping()->mutable_comparison() =
          CompareProducts(*s, *t, after, ::tandem::common::v1::DIRECTION_MOVE);
      g.mutable_target_product()->set_frozen(true);
    }
  }
  TANDEM_RETURN_IF_ERROR(RecordResponse(*store_, req.request_id(),
                                        "GenerateMissingProducts", *response));
  (void)state_->Reload(/*force=*/true);
  return absl::OkStatus();
}

}  // namespace tandem::catalog
