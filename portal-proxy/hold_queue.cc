#include "portal-proxy/hold_queue.h"

#include <algorithm>
#include <utility>

namespace tandem::proxy {

uint64_t HoldQueue::Hold(int64_t customer_id, Wake wake, absl::Time since,
                         int64_t route_version) {
  absl::MutexLock lock(&mu_);
  if (total_ >= options_.max_total) {
    return 0;
  }
  std::vector<Waiter>& list = waiters_[customer_id];
  if (static_cast<int>(list.size()) >= options_.max_per_customer) {
    if (list.empty()) {
      waiters_.erase(customer_id);
    }
    return 0;
  }
  uint64_t ticket = next_ticket_++;
  list.push_back(Waiter{ticket, std::move(wake), since, route_version});
  ++total_;
  UpdateGaugeLocked();
  return ticket;
}

bool HoldQueue::Cancel(int64_t customer_id, uint64_t ticket) {
  absl::MutexLock lock(&mu_);
  auto it = waiters_.find(customer_id);
  if (it == waiters_.end()) {
    return false;
  }
  std::vector<Waiter>& list = it->second;
  for (size_t i = 0; i < list.size(); ++i) {
    if (list[i].ticket == ticket) {
      list.erase(list.begin() + i);
      if (list.empty()) {
        waiters_.erase(it);
      }
      --total_;
      UpdateGaugeLocked();
      return true;
    }
  }
  return false;
}

// Wakes run under the lock: they only post, and running them here means
// that once DropAll() returns no wake can reach a waiter's executor.
void HoldQueue::Release(int64_t customer_id) {
  absl::MutexLock lock(&mu_);
  auto it = waiters_.find(customer_id);
  if (it == waiters_.end()) {
    return;
  }
  for (Waiter& waiter : it->second) {
    waiter.wake();
  }
  total_ -= static_cast<int64_t>(it->second.size());
  waiters_.erase(it);
  UpdateGaugeLocked();
}

void HoldQueue::ReleaseAll() {
  absl::MutexLock lock(&mu_);
  for (auto& [customer, list] : waiters_) {
    for (Waiter& waiter : list) {
      waiter.wake();
    }
  }
  waiters_.clear();
  total_ = 0;
  UpdateGaugeLocked();
}

void HoldQueue::DropAll() {
  absl::MutexLock lock(&mu_);
  waiters_.clear();
  total_ = 0;
  UpdateGaugeLocked();
}

void HoldQueue::OnRouteChange(const ::tandem::router::v1::RouteChange* change) {
  if (change == nullptr) {
    ReleaseAll();
    return;
  }
  if (change->has_route_update()) {
    Release(change->route_update().route().customer_id());
  }
}

int64_t HoldQueue::held() const {
  absl::MutexLock lock(&mu_);
  return total_;
}

int64_t HoldQueue::held_customers() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(waiters_.size());
}

std::vector<HoldQueue::HeldCustomer> HoldQueue::Snapshot() const {
  std::vector<HeldCustomer> out;
  {
    absl::MutexLock lock(&mu_);
    out.reserve(waiters_.size());
    for (const auto& [customer, list] : waiters_) {
      HeldCustomer held;
      held.customer_id = customer;
      held.held_requests = static_cast<int64_t>(list.size());
      held.oldest_since = absl::InfiniteFuture();
      for (const Waiter& waiter : list) {
        if (waiter.since < held.oldest_since) {
          held.oldest_since = waiter.since;
          held.route_version = waiter.route_version;
        }
      }
      out.push_back(held);
    }
  }
  std::sort(out.begin(), out.end(),
            [](const HeldCustomer& a, const HeldCustomer& b) {
              if (a.oldest_since != b.oldest_since) {
                return a.oldest_since < b.oldest_since;
              }
              return a.customer_id < b.customer_id;
            });
  return out;
}

void HoldQueue::UpdateGaugeLocked() {
  if (held_gauge_ != nullptr) {
    held_gauge_->Set(static_cast<double>(total_));
  }
}

}  // namespace tandem::proxy
