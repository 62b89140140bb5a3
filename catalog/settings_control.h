// SettingsControl: GetSettings and UpdateSettings, the catalog-wide
// defaults (overuse allowed by default, the automatic lift on or off),
// versioned, audited and idempotent by request id.
#pragma once

#include "absl/status/statusor.h"
#include "catalog/catalog_state.h"
#include "catalog/catalog_store.h"
#include "common/auth.h"
#include "tandem/catalog/v1/catalog.pb.h"

namespace tandem::catalog {

class SettingsControl {
 public:
  // Collaborators are not owned and must outlive this.
  SettingsControl(CatalogStore* store, CatalogState* state)
      : store_(store), state_(state) {}

  // The settings as this replica caches them.
  ::tandem::catalog::v1::GetSettingsResponse Get() const;
  // A compare-and-set on the settings' version.
  absl::StatusOr<::tandem::catalog::v1::UpdateSettingsResponse> Update(
      const Principal& who,
      const ::tandem::catalog::v1::UpdateSettingsRequest& req);

 private:
  struct Updated {
    ::tandem::catalog::v1::UpdateSettingsResponse response;
    bool changed = false;
  };
  absl::StatusOr<Updated> UpdateIn(
      CatalogTxn& txn, const Principal& who,
      const ::tandem::catalog::v1::UpdateSettingsRequest& req);

  CatalogStore* const store_;
  CatalogState* const state_;
};

}  // namespace tandem::catalog
