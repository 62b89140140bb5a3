#include "catalog/mappings.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "catalog/audit_log.h"
#include "catalog/move_rules.h"
#include "catalog/product_helpers.h"
#include "catalog/request_checks.h"
#include "common/status_macros.h"

namespace tandem::catalog {

namespace v1 = ::tandem::catalog::v1;
using ::tandem::common::v1::DIRECTION_MOVE;

namespace {

std::string PoolName(const v1::Product& product) {
  return product.spec().contract_pool().empty()
             ? "none"
             : product.spec().contract_pool();
}

// A warning about what one resource type's comparison does to customers;
// empty when it does nothing worth a warning.
std::string ResourceWarning(const v1::ResourceTypeComparison& r) {
  switch (r.comparison()) {
    case v1::RESOURCE_COMPARISON_MISSING:
      return absl::StrCat("resource type ", r.source_code(),
                          " missing on target: objects will be lost");
    case v1::RESOURCE_COMPARISON_LIMIT_ZERO:
      return absl::StrCat("resource ", r.source_code(),
                          " has limit 0 on target: objects will be lost");
    case v1::RESOURCE_COMPARISON_LIMIT_LOWERED:
      return absl::StrCat(
          "resource ", r.source_code(),
          " limit lowered: customers above it are refused unless overuse is "
          "allowed");
    case v1::RESOURCE_COMPARISON_TAKEN_OVER:
      return absl::StrCat("resource type ", r.source_code(), " taken over by ",
                          r.target_code());
    default:
      return "";
  }
}

// Warnings about what a mapping will do to its customers.
std::vector<std::string> MappingWarnings(const v1::Product& source,
                                         const v1::Product& target,
                                         const v1::ProductComparison& c) {
  std::vector<std::string> warnings;
  if (!c.contract_pool_matches()) {
    warnings.push_back(absl::StrCat("contract pool differs (", PoolName(source),
                                    " vs ", PoolName(target),
                                    "): every customer will be refused"));
  }
  for (const v1::ResourceTypeComparison& r : c.resource_types()) {
    std::string warning = ResourceWarning(r);
    if (!warning.empty()) warnings.push_back(std::move(warning));
  }
  if (c.activation_parameters_differ()) {
    warnings.push_back("activation parameters differ: rewritten on move");
  }
  for (int64_t addon : c.addons_not_carried_product_ids()) {
    warnings.push_back(absl::StrCat("add-on ", addon, " will not be carried"));
  }
  return warnings;
}

std::string NormalizeName(absl::string_view name) {
  std::vector<absl::string_view> words =
      absl::StrSplit(name, absl::ByAnyChar(" \t\r\n"), absl::SkipEmpty());
  return absl::AsciiStrToLower(absl::StrJoin(words, " "));
}

absl::Status ValidateSet(const v1::SetMappingRequest& req) {
  if (req.source_product_id() <= 0 || req.target_product_id() <= 0) {
    return absl::InvalidArgumentError("product ids must be positive");
  }
  if (!v1::OverusePolicy_IsValid(req.overuse_policy())) {
    return absl::InvalidArgumentError("unknown overuse_policy");
  }
  if (req.origin() == v1::MAPPING_ORIGIN_GENERATED ||
      !v1::MappingOrigin_IsValid(req.origin())) {
    return absl::InvalidArgumentError(
        "origin must be MANUAL or PROPOSED (GENERATED mappings come from "
        "GenerateMissingProducts)");
  }
  if (req.expected_version() < 0) {
    return absl::InvalidArgumentError("expected_version must not be negative");
  }
  return ValidateRequestId(req.request_id());
}

// ALREADY_EXISTS (creating) or ABORTED (replacing) when `current` is not
// what the caller expects.
absl::Status CheckExpected(const v1::SetMappingRequest& req,
                           const std::optional<v1::Mapping>& current) {
  if (req.expected_version() == 0 && current.has_value()) {
    return absl::AlreadyExistsError(absl::StrCat(
        "product ", req.source_product_id(), " is already mapped (to ",
        current->target_product_id(), ", version ", current->version(), ")"));
  }
  if (req.expected_version() != 0 &&
      (!current.has_value() || current->version() != req.expected_version())) {
    return absl::AbortedError(absl::StrCat(
        "mapping version is ", current.has_value() ? current->version() : 0,
        ", not ", req.expected_version(), "; re-read and retry"));
  }
  return absl::OkStatus();
}

// The mapping `req` asks for, defaults applied (no version or stamp yet).
v1::Mapping Requested(const v1::SetMappingRequest& req) {
  v1::Mapping mapping;
  mapping.set_source_product_id(req.source_product_id());
  mapping.set_target_product_id(req.target_product_id());
  mapping.set_overuse_policy(req.overuse_policy() ==
                                     v1::OVERUSE_POLICY_UNSPECIFIED
                                 ? v1::OVERUSE_POLICY_INHERIT
                                 : req.overuse_policy());
  mapping.set_origin(req.origin() == v1::MAPPING_ORIGIN_UNSPECIFIED
                         ? v1::MAPPING_ORIGIN_MANUAL
                         : req.origin());
  return mapping;
}

bool SameMapping(const v1::Mapping& a, const v1::Mapping& b) {
  return a.target_product_id() == b.target_product_id() &&
         a.overuse_policy() == b.overuse_policy() && a.origin() == b.origin();
}

// FAILED_PRECONDITION once the freeze is lifted.
absl::Status CheckNotLifted(CatalogTxn& txn, absl::string_view message) {
  TANDEM_ASSIGN_OR_RETURN(FreezeRow freeze, txn.ReadFreeze(RowLock::kShared));
  if (freeze.freeze.state() == v1::FREEZE_STATE_LIFTED) {
    return absl::FailedPreconditionError(message);
  }
  return absl::OkStatus();
}

// Candidates of the same kind as `source`.
std::vector<const v1::Product*> SameKind(
    const std::vector<const v1::Product*>& candidates,
    const v1::Product& source) {
  std::vector<const v1::Product*> out;
  for (const v1::Product* c : candidates) {
    if (c->spec().kind() == source.spec().kind()) out.push_back(c);
  }
  return out;
}

// Target products by code and by normalised name.
struct TargetIndex {
  std::map<std::string, std::vector<const v1::Product*>> by_code;
  std::map<std::string, std::vector<const v1::Product*>> by_name;
};

// Proposes a target for one source product, or says why there is none.
void ProposeOne(const CatalogSnapshot& snapshot, const TargetIndex& index,
                v1::MatchBy match_by, const v1::Product& source,
                v1::ProposeMappingsResponse* response) {
  const int64_t id = source.product_id();
  const v1::Product* match = nullptr;
  v1::MatchBy matched_by = v1::MATCH_BY_UNSPECIFIED;
  bool ambiguous = false;
  if (match_by != v1::MATCH_BY_NAME) {
    auto it = index.by_code.find(source.spec().code());
    if (it != index.by_code.end()) {
      std::vector<const v1::Product*> found = SameKind(it->second, source);
      if (!found.empty()) {
        match = found.front();
        matched_by = v1::MATCH_BY_CODE;
      }
    }
  }
  if (match == nullptr && match_by != v1::MATCH_BY_CODE) {
    auto it = index.by_name.find(NormalizeName(source.spec().name()));
    if (it != index.by_name.end()) {
      std::vector<const v1::Product*> found = SameKind(it->second, source);
      if (found.size() == 1) {
        match = found.front();
        matched_by = v1::MATCH_BY_NAME;
      } else if (found.size() > 1) {
        ambiguous = true;
      }
    }
  }
  if (ambiguous) {
    response->add_ambiguous_source_product_ids(id);
  } else if (match == nullptr) {
    response->add_unmatched_source_product_ids(id);
  } else {
    v1::MappingProposal* proposal = response->add_proposals();
    proposal->set_source_product_id(id);
    proposal->set_target_product_id(match->product_id());
    proposal->set_matched_by(matched_by);
    if (const v1::Mapping* current = snapshot.FindMapping(id)) {
      proposal->set_current_target_product_id(current->target_product_id());
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// SetMapping
// ---------------------------------------------------------------------------

absl::StatusOr<v1::SetMappingResponse> Mappings::Set(
    const Principal& who, const v1::SetMappingRequest& req) {
  TANDEM_RETURN_IF_ERROR(ValidateSet(req));
  TANDEM_ASSIGN_OR_RETURN(
      Written<v1::SetMappingResponse> written,
      Transact(*store_, "set mapping",
               [&](CatalogTxn& txn) { return SetIn(txn, who, req); }));
  v1::SetMappingResponse& response = written.response;
  if (response.mapping().has_comparison()) return response;  // replayed
  TANDEM_ASSIGN_OR_RETURN(CatalogSnapshot snapshot, store_->LoadSnapshot());
  const v1::Product* source =
      snapshot.FindProduct(kSource, response.mapping().source_product_id());
  const v1::Product* target =
      snapshot.FindProduct(kTarget, response.mapping().target_product_id());
  if (source != nullptr && target != nullptr) {
    *response.mutable_mapping()->mutable_comparison() =
        CompareProducts(*source, *target, snapshot, DIRECTION_MOVE);
    for (std::string& warning :
         MappingWarnings(*source, *target, response.mapping().comparison())) {
      response.add_warnings(std::move(warning));
    }
  }
  if (written.changed) {
    // Record the full answer (with its comparison) for retries.
    TANDEM_RETURN_IF_ERROR(
        RecordResponse(*store_, req.request_id(), "SetMapping", response));
    (void)state_->Reload(/*force=*/true);
  }
  return response;
}

absl::StatusOr<Mappings::Written<v1::SetMappingResponse>> Mappings::SetIn(
    CatalogTxn& txn, const Principal& who, const v1::SetMappingRequest& req) {
  Written<v1::SetMappingResponse> out;
  TANDEM_ASSIGN_OR_RETURN(
      bool replayed,
      txn.FindRequest(req.request_id(), "SetMapping", &out.response));
  if (replayed) return out;
  TANDEM_RETURN_IF_ERROR(CheckNotLifted(
      txn,
      "the freeze is lifted: every customer has moved, mappings are final"));
  TANDEM_ASSIGN_OR_RETURN(ProductRow source,
                          LockExisting(txn, kSource, req.source_product_id()));
  TANDEM_ASSIGN_OR_RETURN(ProductRow target,
                          LockExisting(txn, kTarget, req.target_product_id()));
  if (source.product.spec().kind() != target.product.spec().kind()) {
    return absl::InvalidArgumentError(
        "a main product maps only to a main product, an add-on only to an "
        "add-on");
  }
  TANDEM_ASSIGN_OR_RETURN(std::optional<v1::Mapping> current,
                          txn.LockMapping(req.source_product_id()));
  TANDEM_RETURN_IF_ERROR(CheckExpected(req, current));
  v1::Mapping mapping = Requested(req);
  if (current.has_value() && SameMapping(*current, mapping)) {
    *out.response.mutable_mapping() = *current;  // not a change
    return out;
  }
  mapping.set_version(current.has_value() ? current->version() + 1 : 1);
  mapping.mutable_stamp()->set_actor(who.name);
  mapping.mutable_stamp()->set_reason(req.reason());
  mapping.mutable_stamp()->set_at_unix_ms(NowMs());
  TANDEM_RETURN_IF_ERROR(txn.WriteMapping(mapping));
  v1::AuditEntry entry = NewAudit(v1::AUDIT_KIND_MAPPING_CHANGED, who.name,
                                  req.reason(), req.request_id());
  *entry.mutable_mapping()->mutable_mapping() = mapping;
  TANDEM_RETURN_IF_ERROR(txn.AppendAudit(std::move(entry)).status());
  TANDEM_RETURN_IF_ERROR(txn.BumpRevision());
  *out.response.mutable_mapping() = mapping;
  out.changed = true;
  return out;
}

// ---------------------------------------------------------------------------
// ListMappings and DeleteMapping
// ---------------------------------------------------------------------------

absl::StatusOr<v1::ListMappingsResponse> Mappings::List(
    const v1::ListMappingsRequest& req) {
  TANDEM_ASSIGN_OR_RETURN(int page_size, PageSize(req.page_size()));
  if (req.target_product_id() < 0 || !v1::MappingOrigin_IsValid(req.origin())) {
    return absl::InvalidArgumentError("bad target_product_id or origin");
  }
  MappingQuery query;
  if (!req.page_token().empty() &&
      !absl::SimpleAtoi(req.page_token(), &query.after_source_product_id)) {
    return absl::InvalidArgumentError("malformed page_token");
  }
  query.target_product_id = req.target_product_id();
  query.origin = req.origin();
  // Mappings are few (one per source product); the comparison needs the
  // products anyway, so the whole snapshot is read.
  TANDEM_ASSIGN_OR_RETURN(CatalogSnapshot snapshot, store_->LoadSnapshot());
  TANDEM_ASSIGN_OR_RETURN(std::vector<v1::Mapping> mappings,
                          store_->ListMappings(query));
  v1::ListMappingsResponse response;
  for (v1::Mapping& mapping : mappings) {
    const v1::Product* source =
        snapshot.FindProduct(kSource, mapping.source_product_id());
    const v1::Product* target =
        snapshot.FindProduct(kTarget, mapping.target_product_id());
    if (source != nullptr && target != nullptr) {
      *mapping.mutable_comparison() =
          CompareProducts(*source, *target, snapshot, DIRECTION_MOVE);
    }
    if (req.not_clean_only() && mapping.comparison().clean()) continue;
    if (response.mappings_size() == page_size) {
      response.set_next_page_token(
          absl::StrCat(response.mappings(page_size - 1).source_product_id()));
      break;
    }
    *response.add_mappings() = std::move(mapping);
  }
  return response;
}

absl::StatusOr<v1::DeleteMappingResponse> Mappings::Delete(
    const Principal& who, const v1::DeleteMappingRequest& req) {
  if (req.source_product_id() <= 0) {
    return absl::InvalidArgumentError("source_product_id must be positive");
  }
  TANDEM_RETURN_IF_ERROR(ValidateRequestId(req.request_id()));
  TANDEM_ASSIGN_OR_RETURN(
      Written<v1::DeleteMappingResponse> written,
      Transact(*store_, "delete mapping",
               [&](CatalogTxn& txn) { return DeleteIn(txn, who, req); }));
  if (written.changed) (void)state_->Reload(/*force=*/true);
  return std::move(written.response);
}

absl::StatusOr<Mappings::Written<v1::DeleteMappingResponse>> Mappings::DeleteIn(
    CatalogTxn& txn, const Principal& who,
    const v1::DeleteMappingRequest& req) {
  Written<v1::DeleteMappingResponse> out;
  TANDEM_ASSIGN_OR_RETURN(
      bool replayed,
      txn.FindRequest(req.request_id(), "DeleteMapping", &out.response));
  if (replayed) return out;
  TANDEM_RETURN_IF_ERROR(
      CheckNotLifted(txn, "the freeze is lifted: mappings are final"));
  TANDEM_ASSIGN_OR_RETURN(std::optional<v1::Mapping> current,
                          txn.LockMapping(req.source_product_id()));
  if (!current.has_value()) {
    return absl::NotFoundError(
        absl::StrCat("product ", req.source_product_id(), " has no mapping"));
  }
  if (current->version() != req.expected_version()) {
    return absl::AbortedError(
        absl::StrCat("mapping version is ", current->version(), ", not ",
                     req.expected_version(), "; re-read and retry"));
  }
  TANDEM_RETURN_IF_ERROR(txn.RemoveMapping(req.source_product_id()));
  v1::AuditEntry entry = NewAudit(v1::AUDIT_KIND_MAPPING_CHANGED, who.name,
                                  req.reason(), req.request_id());
  *entry.mutable_mapping()->mutable_mapping() = *current;
  entry.mutable_mapping()->set_deleted(true);
  TANDEM_RETURN_IF_ERROR(txn.AppendAudit(std::move(entry)).status());
  TANDEM_RETURN_IF_ERROR(txn.BumpRevision());
  TANDEM_RETURN_IF_ERROR(
      txn.SaveRequest(req.request_id(), "DeleteMapping", out.response));
  out.changed = true;
  return out;
}

// ---------------------------------------------------------------------------
// ProposeMappings
// ---------------------------------------------------------------------------

absl::StatusOr<v1::ProposeMappingsResponse> Mappings::Propose(
    const v1::ProposeMappingsRequest& req) {
  if (!v1::MatchBy_IsValid(req.match_by())) {
    return absl::InvalidArgumentError("unknown match_by");
  }
  if (req.source_product_ids_size() > 10000) {
    return absl::InvalidArgumentError("at most 10,000 source_product_ids");
  }
  const v1::MatchBy match_by = req.match_by() == v1::MATCH_BY_UNSPECIFIED
                                   ? v1::MATCH_BY_CODE_THEN_NAME
                                   : req.match_by();
  TANDEM_ASSIGN_OR_RETURN(CatalogSnapshot snapshot, store_->LoadSnapshot());
  // Source ids to match, ascending: the requested ones, or every one.
  std::vector<int64_t> ids(req.source_product_ids().begin(),
                           req.source_product_ids().end());
  if (ids.empty()) ids = snapshot.ProductIds(kSource);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  TargetIndex index;
  for (int64_t id : snapshot.ProductIds(kTarget)) {
    const v1::Product* p = snapshot.FindProduct(kTarget, id);
    index.by_code[p->spec().code()].push_back(p);
    index.by_name[NormalizeName(p->spec().name())].push_back(p);
  }
  v1::ProposeMappingsResponse response;
  for (int64_t id : ids) {
    const v1::Product* source = snapshot.FindProduct(kSource, id);
    if (source == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("no product ", id, " on the source system"));
    }
    if (snapshot.FindMapping(id) != nullptr && !req.include_mapped()) continue;
    ProposeOne(snapshot, index, match_by, *source, &response);
  }
  // Compare as if the proposals for unmapped products were accepted, so
  // that an add-on proposed alongside its main product counts as carried.
  CatalogSnapshot accepted = snapshot;
  for (const v1::MappingProposal& p : response.proposals()) {
    if (snapshot.FindMapping(p.source_product_id()) != nullptr) continue;
    v1::Mapping mapping;
    mapping.set_source_product_id(p.source_product_id());
    mapping.set_target_product_id(p.target_product_id());
    accepted.AddMapping(std::move(mapping));
  }
  for (v1::MappingProposal& p : *response.mutable_proposals()) {
    *p.mutable_comparison() =
        CompareProducts(*accepted.FindProduct(kSource, p.source_product_id()),
                        *accepted.FindProduct(kTarget, p.target_product_id()),
                        accepted, DIRECTION_MOVE);
  }
  return response;
}

}  // namespace tandem::catalog
