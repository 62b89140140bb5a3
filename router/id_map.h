// A map from positive 64-bit ids to 64-bit values for one writer and many
// readers, where readers never write shared memory: a seqlock around an
// open-addressing table. Lookups cost one or two cache lines and no atomic
// read-modify-write, which is what the request path of every dispatcher
// needs (tens of millions of lookups a second).
//
// Entries are never removed, only overwritten or dropped all at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "absl/time/time.h"

namespace tandem::router {

class IdMap {
 public:
  IdMap();
  ~IdMap();
  IdMap(const IdMap&) = delete;
  IdMap& operator=(const IdMap&) = delete;

  // Returns the value of `id` (which must be positive). Safe from any
  // thread, concurrently with one writer.
  std::optional<uint64_t> Find(int64_t id) const;

  // Writer side; calls must not overlap (the owner serialises them).
  // Inserts or overwrites; returns the previous value, if any.
  std::optional<uint64_t> Put(int64_t id, uint64_t value);
  // Drops every entry.
  void Clear();
  size_t size() const { return size_; }

  // Appends every (id, value) to `out`; may run concurrently with readers
  // but not with the writer (the owner serialises them).
  void CopyTo(std::vector<std::pair<int64_t, uint64_t>>* out) const;

 private:
  struct Slot {
    std::atomic<int64_t> id{0};  // 0: empty.
    std::atomic<uint64_t> value{0};
  };
  struct Table {
    explicit Table(size_t capacity)
        : mask(capacity - 1), slots(new Slot[capacity]) {}
    size_t mask;
    std::unique_ptr<Slot[]> slots;
  };

  static size_t HashOf(int64_t id, size_t mask);
  void Grow();
  // Points readers at `table` (the writer's side of the seqlock).
  void Publish(Table* table);

  // Odd while the writer is changing slots. The current table's slots and
  // mask sit on the same cache line, so that a lookup touches that line and
  // the slot it probes, not a table header as well.
  alignas(64) std::atomic<uint64_t> sequence_{0};
  std::atomic<Slot*> slots_{nullptr};
  std::atomic<size_t> mask_{0};
  alignas(64) size_t size_ = 0;
  std::unique_ptr<Table> owned_;
  // Replaced tables: a reader may still be probing one, so each is freed
  // only at a later growth at least a minute after it was replaced.
  std::vector<std::pair<absl::Time, std::unique_ptr<Table>>> retired_;
};

}  // namespace tandem::router
