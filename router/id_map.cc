#include "router/id_map.h"

#include "absl/time/clock.h"

namespace tandem::router {
namespace {
constexpr size_t kInitialCapacity = 64;
constexpr absl::Duration kRetireGrace = absl::Minutes(1);
}  // namespace

IdMap::IdMap() : owned_(std::make_unique<Table>(kInitialCapacity)) {
  Publish(owned_.get());
}

IdMap::~IdMap() = default;

size_t IdMap::HashOf(int64_t id, size_t mask) {
  uint64_t x = static_cast<uint64_t>(id) * 0x9E3779B97F4A7C15ull;
  return (x ^ (x >> 29)) & mask;
}

std::optional<uint64_t> IdMap::Find(int64_t id) const {
  while (true) {
    uint64_t before = sequence_.load(std::memory_order_acquire);
    if (before & 1) {
      continue;  // The writer is mid-change; it is brief.
    }
    const Slot* slots = slots_.load(std::memory_order_relaxed);
    const size_t mask = mask_.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (sequence_.load(std::memory_order_relaxed) != before) {
      continue;  // `slots` and `mask` may be of different tables.
    }
    std::optional<uint64_t> result;
    for (size_t i = HashOf(id, mask);; i = (i + 1) & mask) {
      int64_t found = slots[i].id.load(std::memory_order_relaxed);
      if (found == id) {
        result = slots[i].value.load(std::memory_order_relaxed);
        break;
      }
      if (found == 0) {
        break;
      }
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (sequence_.load(std::memory_order_relaxed) == before) {
      return result;
    }
  }
}

std::optional<uint64_t> IdMap::Put(int64_t id, uint64_t value) {
  if ((size_ + 1) * 10 > (owned_->mask + 1) * 7) {
    Grow();
  }
  Table* table = owned_.get();
  size_t i = HashOf(id, table->mask);
  while (true) {
    int64_t found = table->slots[i].id.load(std::memory_order_relaxed);
    if (found == id || found == 0) {
      break;
    }
    i = (i + 1) & table->mask;
  }
  std::optional<uint64_t> old;
  bool is_new = table->slots[i].id.load(std::memory_order_relaxed) == 0;
  if (!is_new) {
    old = table->slots[i].value.load(std::memory_order_relaxed);
  }
  uint64_t s = sequence_.load(std::memory_order_relaxed);
  sequence_.store(s + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  table->slots[i].value.store(value, std::memory_order_relaxed);
  table->slots[i].id.store(id, std::memory_order_relaxed);
  sequence_.store(s + 2, std::memory_order_release);
  if (is_new) {
    ++size_;
  }
  return old;
}

void IdMap::Grow() {
  size_t capacity = (owned_->mask + 1) * 2;
  auto bigger = std::make_unique<Table>(capacity);
  for (size_t i = 0; i <= owned_->mask; ++i) {
    int64_t id = owned_->slots[i].id.load(std::memory_order_relaxed);
    if (id == 0) continue;
    size_t j = HashOf(id, bigger->mask);
    while (bigger->slots[j].id.load(std::memory_order_relaxed) != 0) {
      j = (j + 1) & bigger->mask;
    }
    bigger->slots[j].value.store(
        owned_->slots[i].value.load(std::memory_order_relaxed),
        std::memory_order_relaxed);
    bigger->slots[j].id.store(id, std::memory_order_relaxed);
  }
  // Readers either see the old table (complete as of now) or the new one;
  // one that read the old slots keeps probing them until it checks the
  // sequence, hence the grace period below.
  Publish(bigger.get());
  absl::Time now = absl::Now();
  std::erase_if(retired_,
                [now](const auto& r) { return now - r.first > kRetireGrace; });
  retired_.emplace_back(now, std::move(owned_));
  owned_ = std::move(bigger);
}

void IdMap::Clear() {
  auto fresh = std::make_unique<Table>(kInitialCapacity);
  Publish(fresh.get());
  retired_.emplace_back(absl::Now(), std::move(owned_));
  owned_ = std::move(fresh);
  size_ = 0;
}

void IdMap::Publish(Table* table) {
  uint64_t s = sequence_.load(std::memory_order_relaxed);
  sequence_.store(s + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  slots_.store(table->slots.get(), std::memory_order_relaxed);
  mask_.store(table->mask, std::memory_order_relaxed);
  sequence_.store(s + 2, std::memory_order_release);
}

void IdMap::CopyTo(std::vector<std::pair<int64_t, uint64_t>>* out) const {
  const Table* table = owned_.get();
  out->reserve(out->size() + size_);
  for (size_t i = 0; i <= table->mask; ++i) {
    int64_t id = table->slots[i].id.load(std::memory_order_relaxed);
    if (id != 0) {
      out->emplace_back(id,
                        table->slots[i].value.load(std::memory_order_relaxed));
    }
  }
}

}  // namespace tandem::router
