#include "tests/catalog/fake_catalog_store.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace tandem::catalog::testing {

namespace v1 = ::tandem::catalog::v1;
using ::tandem::common::v1::System;
using Rows = FakeCatalogStore::Rows;

ProductRow RowOf(const Rows& rows, const FakeCatalogStore::StoredProduct& s) {
  ProductRow row;
  row.product = s.product;
  row.product.clear_mapped_to_product_id();
  row.product.clear_frozen();
  row.after_switchover = s.after_switchover;
  const int64_t id = s.product.product_id();
  if (s.product.system() == ::tandem::common::v1::SYSTEM_SOURCE) {
    auto it = rows.mappings.find(id);
    if (it != rows.mappings.end()) {
      row.product.set_mapped_to_product_id(it->second.target_product_id());
    }
  } else {
    for (const auto& [source, mapping] : rows.mappings) {
      if (mapping.target_product_id() == id) row.mapping_target = true;
    }
  }
  return row;
}

namespace {

// One transaction's view: the rows it works on (a copy, installed at
// commit).
class FakeTxn final : public CatalogTxn {
 public:
  explicit FakeTxn(Rows& rows) : rows_(rows) {}

  absl::StatusOr<bool> FindRequest(
      const std::string& request_id, const std::string& method,
      google::protobuf::Message* response) override {
    if (request_id.empty()) return false;
    auto it = rows_.requests.find(request_id);
    if (it == rows_.requests.end()) return false;
    if (it->second.first != method) {
      return absl::InvalidArgumentError(absl::StrCat(
          "request_id ", request_id, " was used for ", it->second.first));
    }
    if (!response->ParseFromString(it->second.second)) {
      return absl::InternalError("unreadable recorded response");
    }
    return true;
  }
  absl::Status SaveRequest(const std::string& request_id,
                           const std::string& method,
                           const google::protobuf::Message& response) override {
    if (request_id.empty()) return absl::OkStatus();
    if (!rows_.requests
             .emplace(request_id,
                      std::make_pair(method, response.SerializeAsString()))
             .second) {
      return absl::AlreadyExistsError("duplicate request id");
    }
    return absl::OkStatus();
  }
  absl::StatusOr<FreezeRow> ReadFreeze(RowLock) override {
    return rows_.freeze;
  }
  absl::Status WriteFreeze(const FreezeRow& row) override {
    rows_.freeze = row;
    return absl::OkStatus();
  }
  absl::StatusOr<v1::CatalogSettings> ReadSettings(RowLock) override {
    return rows_.settings;
  }
  absl::Status WriteSettings(const v1::CatalogSettings& settings) override {
    rows_.settings = settings;
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<ProductRow>> LockProduct(
      System system, int64_t product_id) override {
    auto it = rows_.products.find({system, product_id});
    if (it == rows_.products.end()) return std::nullopt;
    return RowOf(rows_, it->second);
  }
  absl::StatusOr<std::vector<ProductRow>> LockProducts(System system) override {
    std::vector<ProductRow> out;
    for (const auto& [key, stored] : rows_.products) {
      if (key.first == system) out.push_back(RowOf(rows_, stored));
    }
    return out;
  }
  absl::StatusOr<bool> ProductKnown(System system,
                                    int64_t product_id) override {
    return rows_.products.count({system, product_id}) > 0;
  }
  absl::StatusOr<std::vector<v1::ProductSpec>> MainProductSpecs(
      System system) override {
    std::vector<v1::ProductSpec> out;
    for (const auto& [key, stored] : rows_.products) {
      if (key.first == system &&
          stored.product.spec().kind() == v1::PRODUCT_KIND_MAIN) {
        out.push_back(stored.product.spec());
      }
    }
    return out;
  }
  absl::Status UpsertProduct(const v1::Product& product,
                             bool after_switchover) override {
    auto key = std::make_pair(static_cast<int>(product.system()),
                              product.product_id());
    auto it = rows_.products.find(key);
    FakeCatalogStore::StoredProduct stored;
    stored.product = product;
    // As the SQL's ON DUPLICATE KEY UPDATE: the flag is set on insert only.
    stored.after_switchover = it == rows_.products.end()
                                  ? after_switchover
                                  : it->second.after_switchover;
    rows_.products[key] = std::move(stored);
    return absl::OkStatus();
  }
  absl::Status RemoveProduct(System system, int64_t product_id) override {
    rows_.products.erase({system, product_id});
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<v1::Mapping>> LockMapping(
      int64_t source_product_id) override {
    auto it = rows_.mappings.find(source_product_id);
    if (it == rows_.mappings.end()) return std::nullopt;
    return it->second;
  }
  absl::Status WriteMapping(const v1::Mapping& mapping) override {
    v1::Mapping stored = mapping;
    stored.clear_comparison();
    rows_.mappings[mapping.source_product_id()] = std::move(stored);
    return absl::OkStatus();
  }
  absl::Status RemoveMapping(int64_t source_product_id) override {
    rows_.mappings.erase(source_product_id);
    return absl::OkStatus();
  }
  absl::StatusOr<int64_t> AppendAudit(v1::AuditEntry entry) override {
    entry.set_seq(static_cast<int64_t>(rows_.audit.size()) + 1);
    rows_.audit.push_back(std::move(entry));
    return rows_.audit.back().seq();
  }
  absl::Status BumpRevision() override {
    ++rows_.revision;
    return absl::OkStatus();
  }

 private:
  Rows& rows_;
};

bool MatchesAudit(const v1::AuditEntry& e, const AuditQuery& q) {
  if (e.seq() >= q.before_seq) return false;
  if (!q.kinds.empty() &&
      std::find(q.kinds.begin(), q.kinds.end(), e.kind()) == q.kinds.end()) {
    return false;
  }
  System system = ::tandem::common::v1::SYSTEM_UNSPECIFIED;
  int64_t product_id = 0;
  if (e.has_change()) {
    system = e.change().system();
    product_id = e.change().product_id();
  } else if (e.has_mapping()) {
    system = ::tandem::common::v1::SYSTEM_SOURCE;
    product_id = e.mapping().mapping().source_product_id();
  }
  if (q.system != ::tandem::common::v1::SYSTEM_UNSPECIFIED &&
      q.system != system) {
    return false;
  }
  if (q.product_id != 0 && q.product_id != product_id) return false;
  const int64_t at = e.stamp().at_unix_ms();
  if (q.since_unix_ms != 0 && at < q.since_unix_ms) return false;
  if (q.until_unix_ms != 0 && at >= q.until_unix_ms) return false;
  return true;
}

}  // namespace

FakeCatalogStore::FakeCatalogStore() {
  rows_.freeze.freeze.set_state(v1::FREEZE_STATE_OPEN);
  rows_.freeze.freeze.set_version(1);
  rows_.freeze.freeze.mutable_stamp()->set_actor("tandem-catalog");
  rows_.freeze.freeze.mutable_stamp()->set_reason("initial state");
  rows_.settings.set_auto_lift(true);
  rows_.settings.set_version(1);
  rows_.settings.mutable_stamp()->set_actor("tandem-catalog");
  rows_.settings.mutable_stamp()->set_reason("defaults");
}

void FakeCatalogStore::AbortNextCommits(int n) {
  absl::MutexLock lock(&mu_);
  aborts_pending_ = n;
}

void FakeCatalogStore::SetUnavailable(bool unavailable) {
  absl::MutexLock lock(&mu_);
  unavailable_ = unavailable;
}

int64_t FakeCatalogStore::transaction_attempts() const {
  absl::MutexLock lock(&mu_);
  return attempts_;
}

std::vector<v1::AuditEntry> FakeCatalogStore::audit() const {
  absl::MutexLock lock(&mu_);
  return rows_.audit;
}

int64_t FakeCatalogStore::revision() const {
  absl::MutexLock lock(&mu_);
  return rows_.revision;
}

int64_t FakeCatalogStore::probes() const {
  absl::MutexLock lock(&mu_);
  return probes_;
}

absl::Status FakeCatalogStore::Reachable() const {
  if (unavailable_) return absl::UnavailableError("control database down");
  return absl::OkStatus();
}

absl::Status FakeCatalogStore::RunTransaction(
    absl::string_view, const std::function<absl::Status(CatalogTxn&)>& fn) {
  absl::MutexLock lock(&mu_);
  absl::Status status;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    ++attempts_;
    status = Reachable();
    if (!status.ok()) return status;
    Rows working = rows_;
    FakeTxn txn(working);
    status = fn(txn);
    if (status.ok() && aborts_pending_ > 0) {
      --aborts_pending_;
      status = absl::AbortedError("deadlock found when trying to commit");
    }
    if (status.ok()) rows_ = std::move(working);
    if (!absl::IsAborted(status)) return status;
  }
  return status;
}

absl::StatusOr<std::optional<CachedState>> FakeCatalogStore::ReadStateIfChanged(
    int64_t known_revision) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Reachable(); !s.ok()) return s;
  if (rows_.revision == known_revision) return std::nullopt;
  CachedState state;
  state.revision = rows_.revision;
  state.freeze = rows_.freeze;
  state.settings = rows_.settings;
  for (const auto& [key, stored] : rows_.products) {
    state.facts[key] = FactsOf(RowOf(rows_, stored));
  }
  return state;
}

absl::StatusOr<FreezeProbe> FakeCatalogStore::ProbeFreeze() {
  absl::MutexLock lock(&mu_);
  ++probes_;
  if (absl::Status s = Reachable(); !s.ok()) return s;
  FreezeProbe probe;
  probe.revision = rows_.revision;
  probe.freeze = rows_.freeze.freeze;
  return probe;
}

absl::StatusOr<std::optional<ProductRow>> FakeCatalogStore::ReadProduct(
    System system, int64_t product_id) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Reachable(); !s.ok()) return s;
  auto it = rows_.products.find({system, product_id});
  if (it == rows_.products.end()) return std::nullopt;
  return RowOf(rows_, it->second);
}

absl::StatusOr<std::optional<ProductRow>> FakeCatalogStore::ReadProductByCode(
    System system, const std::string& code) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Reachable(); !s.ok()) return s;
  for (const auto& [key, stored] : rows_.products) {
    if (key.first == system &&
        absl::EqualsIgnoreCase(stored.product.spec().code(), code)) {
      return RowOf(rows_, stored);
    }
  }
  return std::nullopt;
}

absl::StatusOr<std::vector<ProductRow>> FakeCatalogStore::ListProducts(
    const ProductQuery& q) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Reachable(); !s.ok()) return s;
  std::vector<ProductRow> out;
  for (const auto& [key, stored] : rows_.products) {
    if (key <= std::make_pair(q.after_system, q.after_product_id)) continue;
    const v1::Product& p = stored.product;
    if (q.system != ::tandem::common::v1::SYSTEM_UNSPECIFIED &&
        p.system() != q.system) {
      continue;
    }
    if (q.kind != v1::PRODUCT_KIND_UNSPECIFIED && p.spec().kind() != q.kind) {
      continue;
    }
    if (q.unmapped_only && (p.system() != ::tandem::common::v1::SYSTEM_SOURCE ||
                            rows_.mappings.count(p.product_id()) > 0)) {
      continue;
    }
    if (!absl::StartsWithIgnoreCase(p.spec().code(), q.code_prefix)) continue;
    out.push_back(RowOf(rows_, stored));
    if (static_cast<int>(out.size()) == q.limit) break;
  }
  return out;
}

absl::StatusOr<std::vector<v1::AuditEntry>> FakeCatalogStore::ListAudit(
    const AuditQuery& q) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Reachable(); !s.ok()) return s;
  std::vector<v1::AuditEntry> out;
  for (auto it = rows_.audit.rbegin(); it != rows_.audit.rend(); ++it) {
    if (!MatchesAudit(*it, q)) continue;
    out.push_back(*it);
    if (static_cast<int>(out.size()) == q.limit) break;
  }
  return out;
}

absl::StatusOr<std::vector<v1::Mapping>> FakeCatalogStore::ListMappings(
    const MappingQuery& q) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Reachable(); !s.ok()) return s;
  std::vector<v1::Mapping> out;
  for (const auto& [source, mapping] : rows_.mappings) {
    if (source <= q.after_source_product_id) continue;
    if (q.target_product_id != 0 &&
        mapping.target_product_id() != q.target_product_id) {
      continue;
    }
    if (q.origin != v1::MAPPING_ORIGIN_UNSPECIFIED &&
        mapping.origin() != q.origin) {
      continue;
    }
    out.push_back(mapping);
  }
  return out;
}

absl::StatusOr<CatalogSnapshot> FakeCatalogStore::LoadSnapshot() {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Reachable(); !s.ok()) return s;
  CatalogSnapshot snapshot;
  for (const auto& [key, stored] : rows_.products) {
    snapshot.AddProduct(RowOf(rows_, stored).product);
  }
  for (const auto& [source, mapping] : rows_.mappings) {
    snapshot.AddMapping(mapping);
  }
  snapshot.set_allow_overuse_default(rows_.settings.allow_overuse_default());
  return snapshot;
}

// ---------------------------------------------------------------------------
// FakeBillingCatalog
// ---------------------------------------------------------------------------

void FakeBillingCatalog::AddResourceType(v1::ResourceType type) {
  absl::MutexLock lock(&mu_);
  type.set_limit(0);
  std::string code = type.code();
  types_[code] = std::move(type);
}

void FakeBillingCatalog::AddCustomer(CustomerSubscriptions customer) {
  absl::MutexLock lock(&mu_);
  const int64_t id = customer.customer_id;
  customers_[id] = std::move(customer);
}

int64_t FakeBillingCatalog::Put(v1::ProductSpec spec) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<v1::ProductSpec> stored = Stored(spec);
  const int64_t id = next_id_++;
  products_[id] = stored.ok() ? *std::move(stored) : std::move(spec);
  return id;
}

std::optional<v1::ProductSpec> FakeBillingCatalog::Find(int64_t id) const {
  absl::MutexLock lock(&mu_);
  auto it = products_.find(id);
  if (it == products_.end()) return std::nullopt;
  return it->second;
}

int FakeBillingCatalog::CountCode(const std::string& code) const {
  absl::MutexLock lock(&mu_);
  int n = 0;
  for (const auto& [id, spec] : products_) {
    if (absl::EqualsIgnoreCase(spec.code(), code)) ++n;
  }
  return n;
}

absl::StatusOr<v1::ProductSpec> FakeBillingCatalog::Stored(
    const v1::ProductSpec& spec) const {
  v1::ProductSpec stored = spec;
  for (v1::ResourceType& type : *stored.mutable_resource_types()) {
    auto it = types_.find(type.code());
    if (it == types_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown resource type ", type.code()));
    }
    const int64_t limit = type.limit();
    type = it->second;
    type.set_limit(limit);
  }
  std::sort(stored.mutable_resource_types()->begin(),
            stored.mutable_resource_types()->end(),
            [](const v1::ResourceType& a, const v1::ResourceType& b) {
              return a.code() < b.code();
            });
  return stored;
}

bool FakeBillingCatalog::CodeTaken(const std::string& code,
                                   int64_t except_id) const {
  for (const auto& [id, spec] : products_) {
    if (id != except_id && absl::EqualsIgnoreCase(spec.code(), code)) {
      return true;
    }
  }
  return false;
}

absl::StatusOr<std::vector<BillingProduct>> FakeBillingCatalog::ReadProducts() {
  absl::MutexLock lock(&mu_);
  std::vector<BillingProduct> out;
  for (const auto& [id, spec] : products_) {
    BillingProduct p;
    p.product_id = id;
    p.spec = spec;
    for (const auto& [customer_id, customer] : customers_) {
      bool uses = false;
      for (const BillingSubscription& sub : customer.subscriptions) {
        if (sub.product_id != id) continue;
        ++p.subscription_count;
        uses = true;
      }
      if (uses) ++p.customer_count;
    }
    out.push_back(std::move(p));
  }
  return out;
}

absl::StatusOr<std::vector<v1::ResourceType>>
FakeBillingCatalog::ReadResourceTypes() {
  absl::MutexLock lock(&mu_);
  std::vector<v1::ResourceType> out;
  for (const auto& [code, type] : types_) out.push_back(type);
  return out;
}

absl::StatusOr<int64_t> FakeBillingCatalog::CreateProduct(
    const v1::ProductSpec& spec) {
  absl::MutexLock lock(&mu_);
  if (CodeTaken(spec.code(), 0)) {
    return absl::AlreadyExistsError(
        absl::StrCat("product code ", spec.code(), " is taken"));
  }
  absl::StatusOr<v1::ProductSpec> stored = Stored(spec);
  if (!stored.ok()) return stored.status();
  const int64_t id = next_id_++;
  products_[id] = *std::move(stored);
  return id;
}

absl::Status FakeBillingCatalog::UpdateProduct(int64_t product_id,
                                               const v1::ProductSpec& spec) {
  absl::MutexLock lock(&mu_);
  if (products_.count(product_id) == 0) {
    return absl::NotFoundError(absl::StrCat("no product ", product_id));
  }
  if (CodeTaken(spec.code(), product_id)) {
    return absl::AlreadyExistsError(
        absl::StrCat("product code ", spec.code(), " is taken"));
  }
  absl::StatusOr<v1::ProductSpec> stored = Stored(spec);
  if (!stored.ok()) return stored.status();
  products_[product_id] = *std::move(stored);
  return absl::OkStatus();
}

absl::Status FakeBillingCatalog::DeleteProduct(int64_t product_id) {
  absl::MutexLock lock(&mu_);
  if (products_.erase(product_id) == 0) {
    return absl::NotFoundError(absl::StrCat("no product ", product_id));
  }
  return absl::OkStatus();
}

absl::StatusOr<CustomerSubscriptions> FakeBillingCatalog::ReadCustomer(
    int64_t customer_id) {
  absl::MutexLock lock(&mu_);
  auto it = customers_.find(customer_id);
  if (it == customers_.end()) {
    return absl::NotFoundError(absl::StrCat("no customer ", customer_id));
  }
  return it->second;
}

}  // namespace tandem::catalog::testing
