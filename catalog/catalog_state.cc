#include "catalog/catalog_state.h"

#include <optional>
#include <utility>
#include <vector>

#include "common/log.h"
#include "common/status_macros.h"

namespace tandem::catalog {

namespace v1 = ::tandem::catalog::v1;

CatalogState::~CatalogState() {
  {
    absl::MutexLock lock(&poll_mu_);
    stopping_ = true;
  }
  if (poller_.joinable()) poller_.join();
}

absl::Status CatalogState::Reload(bool force) {
  int64_t known = -1;
  if (!force) {
    absl::MutexLock lock(&mu_);
    known = cached_.revision;
  }
  TANDEM_ASSIGN_OR_RETURN(std::optional<CachedState> fresh,
                          store_->ReadStateIfChanged(known));
  if (!fresh.has_value()) return absl::OkStatus();
  absl::MutexLock publishing(&publish_mu_);
  std::optional<v1::WatchFreezeResponse> event;
  {
    absl::MutexLock lock(&mu_);
    // A concurrent reload may have installed a newer revision already.
    if (fresh->revision < cached_.revision) return absl::OkStatus();
    const FreezeRow& row = fresh->freeze;
    if (cached_.revision >= 0 &&
        row.freeze.version() > cached_.freeze.freeze.version()) {
      v1::FreezeTransition* t = event.emplace().mutable_transition();
      t->set_from_state(row.previous);
      t->set_to_state(row.freeze.state());
      t->set_version(row.freeze.version());
      t->set_automatic(row.automatic);
      t->set_forced(row.forced);
    }
    cached_ = *std::move(fresh);
    metrics_->SetFreezeState(cached_.freeze.freeze.state());
    if (event.has_value()) *event->mutable_freeze() = FreezeLocked();
  }
  if (event.has_value()) Publish(*event);
  return absl::OkStatus();
}

void CatalogState::StartPolling(absl::Duration interval, Clock& clock) {
  poller_ =
      std::thread([this, interval, &clock] { PollLoop(interval, clock); });
}

void CatalogState::Poke() {
  absl::MutexLock lock(&poll_mu_);
  poked_ = true;
}

void CatalogState::PollLoop(absl::Duration interval, Clock& clock) {
  while (true) {
    {
      absl::MutexLock lock(&poll_mu_);
      auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(poll_mu_) {
        return stopping_ || poked_;
      };
      clock.AwaitWithDeadline(poll_mu_, absl::Condition(&woken),
                              clock.Now() + interval);
      if (stopping_) return;
      poked_ = false;
    }
    absl::Status status = Reload(/*force=*/false);
    if (!status.ok()) {
      TANDEM_LOG(Warning, "catalog_reload_failed")
          .With("error", status.ToString());
    }
  }
}

v1::Freeze CatalogState::FreezeLocked() const {
  v1::Freeze freeze = cached_.freeze.freeze;
  freeze.set_customers_on_source(customers_on_source_);
  freeze.set_auto_lift(cached_.settings.auto_lift());
  return freeze;
}

v1::Freeze CatalogState::Freeze() const {
  absl::MutexLock lock(&mu_);
  return FreezeLocked();
}

void CatalogState::Decorate(v1::Freeze* freeze) const {
  absl::MutexLock lock(&mu_);
  freeze->set_customers_on_source(customers_on_source_);
  freeze->set_auto_lift(cached_.settings.auto_lift());
}

CatalogState::View CatalogState::ViewOf(::tandem::common::v1::System system,
                                        int64_t product_id) const {
  absl::MutexLock lock(&mu_);
  View view;
  view.revision = cached_.revision;
  view.freeze = FreezeLocked();
  auto it = cached_.facts.find({system, product_id});
  if (it != cached_.facts.end()) view.facts = it->second;
  return view;
}

v1::CatalogSettings CatalogState::Settings() const {
  absl::MutexLock lock(&mu_);
  return cached_.settings;
}

void CatalogState::SetCustomersOnSource(int64_t customers) {
  {
    absl::MutexLock lock(&mu_);
    customers_on_source_ = customers;
  }
  metrics_->SetCustomersOnSource(customers);
}

void CatalogState::Publish(const v1::WatchFreezeResponse& event) {
  std::vector<FreezeListener> listeners;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [handle, listener] : listeners_) {
      listeners.push_back(listener);
    }
  }
  for (const FreezeListener& listener : listeners) listener(event);
}

int64_t CatalogState::AddListener(FreezeListener listener) {
  absl::MutexLock publishing(&publish_mu_);
  v1::WatchFreezeResponse first;
  *first.mutable_freeze() = Freeze();
  listener(first);
  absl::MutexLock lock(&mu_);
  int64_t handle = next_listener_++;
  listeners_[handle] = std::move(listener);
  return handle;
}

void CatalogState::RemoveListener(int64_t handle) {
  // Waits out a publication that may still be calling this listener.
  absl::MutexLock publishing(&publish_mu_);
  absl::MutexLock lock(&mu_);
  listeners_.erase(handle);
}

}  // namespace tandem::catalog
