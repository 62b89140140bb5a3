// The item state machine: every legal move, and every other one refused.
#include "migrator/move/item_states.h"

#include <gtest/gtest.h>

#include <set>
#include <utility>

namespace tandem::migrator {
namespace {

namespace v1 = ::tandem::migrator::v1;

TEST(ItemStatesTest, OnlyTheDrawnMovesAreLegal) {
  const std::set<std::pair<ItemState, ItemState>> legal = {
      {v1::ITEM_STATE_PENDING, v1::ITEM_STATE_PLANNING},
      {v1::ITEM_STATE_PENDING, v1::ITEM_STATE_SKIPPED},
      {v1::ITEM_STATE_PENDING, v1::ITEM_STATE_FAILED},
      {v1::ITEM_STATE_PLANNING, v1::ITEM_STATE_PRE_COPY},
      {v1::ITEM_STATE_PLANNING, v1::ITEM_STATE_FAILED},
      {v1::ITEM_STATE_PLANNING, v1::ITEM_STATE_SKIPPED},
      {v1::ITEM_STATE_PRE_COPY, v1::ITEM_STATE_CUTOVER},
      {v1::ITEM_STATE_PRE_COPY, v1::ITEM_STATE_PLANNING},
      {v1::ITEM_STATE_PRE_COPY, v1::ITEM_STATE_FAILED},
      {v1::ITEM_STATE_PRE_COPY, v1::ITEM_STATE_SKIPPED},
      {v1::ITEM_STATE_CUTOVER, v1::ITEM_STATE_VERIFYING},
      {v1::ITEM_STATE_CUTOVER, v1::ITEM_STATE_TAIL},
      {v1::ITEM_STATE_CUTOVER, v1::ITEM_STATE_PLANNING},
      {v1::ITEM_STATE_CUTOVER, v1::ITEM_STATE_PRE_COPY},
      {v1::ITEM_STATE_CUTOVER, v1::ITEM_STATE_FAILED},
      {v1::ITEM_STATE_VERIFYING, v1::ITEM_STATE_TAIL},
      {v1::ITEM_STATE_VERIFYING, v1::ITEM_STATE_PLANNING},
      {v1::ITEM_STATE_VERIFYING, v1::ITEM_STATE_PRE_COPY},
      {v1::ITEM_STATE_VERIFYING, v1::ITEM_STATE_FAILED},
      {v1::ITEM_STATE_TAIL, v1::ITEM_STATE_DONE},
      {v1::ITEM_STATE_DONE, v1::ITEM_STATE_ROLLED_BACK},
  };
  for (int from = v1::ITEM_STATE_PENDING; from <= v1::ITEM_STATE_ROLLED_BACK;
       ++from) {
    for (int to = v1::ITEM_STATE_PENDING; to <= v1::ITEM_STATE_ROLLED_BACK;
         ++to) {
      const auto f = static_cast<ItemState>(from);
      const auto t = static_cast<ItemState>(to);
      const bool expected = from == to || legal.count({f, t}) > 0;
      EXPECT_EQ(IsValidItemTransition(f, t), expected)
          << ItemStateName(f) << " -> " << ItemStateName(t);
    }
  }
}

TEST(ItemStatesTest, ADryRunNeverHoldsOrFlips) {
  const std::set<std::pair<ItemState, ItemState>> legal = {
      {v1::ITEM_STATE_PENDING, v1::ITEM_STATE_PLANNING},
      {v1::ITEM_STATE_PENDING, v1::ITEM_STATE_SKIPPED},
      {v1::ITEM_STATE_PENDING, v1::ITEM_STATE_FAILED},
      {v1::ITEM_STATE_PLANNING, v1::ITEM_STATE_PRE_COPY},
      {v1::ITEM_STATE_PLANNING, v1::ITEM_STATE_FAILED},
      {v1::ITEM_STATE_PLANNING, v1::ITEM_STATE_SKIPPED},
      {v1::ITEM_STATE_PRE_COPY, v1::ITEM_STATE_VERIFYING},
      {v1::ITEM_STATE_PRE_COPY, v1::ITEM_STATE_PLANNING},
      {v1::ITEM_STATE_PRE_COPY, v1::ITEM_STATE_FAILED},
      {v1::ITEM_STATE_PRE_COPY, v1::ITEM_STATE_SKIPPED},
      {v1::ITEM_STATE_VERIFYING, v1::ITEM_STATE_DONE},
      {v1::ITEM_STATE_VERIFYING, v1::ITEM_STATE_PLANNING},
      {v1::ITEM_STATE_VERIFYING, v1::ITEM_STATE_FAILED},
      {v1::ITEM_STATE_VERIFYING, v1::ITEM_STATE_SKIPPED},
  };
  for (int from = v1::ITEM_STATE_PENDING; from <= v1::ITEM_STATE_ROLLED_BACK;
       ++from) {
    for (int to = v1::ITEM_STATE_PENDING; to <= v1::ITEM_STATE_ROLLED_BACK;
         ++to) {
      const auto f = static_cast<ItemState>(from);
      const auto t = static_cast<ItemState>(to);
      const bool expected = from == to || legal.count({f, t}) > 0;
      EXPECT_EQ(IsValidItemTransition(f, t, v1::BATCH_MODE_DRY_RUN), expected)
          << ItemStateName(f) << " -> " << ItemStateName(t);
      EXPECT_EQ(IsValidItemTransition(f, t, v1::BATCH_MODE_LIVE),
                IsValidItemTransition(f, t))
          << ItemStateName(f) << " -> " << ItemStateName(t);
    }
  }
}

TEST(ItemStatesTest, AfterTheFlipNothingGoesBack) {
  for (ItemState s :
       {v1::ITEM_STATE_TAIL, v1::ITEM_STATE_DONE, v1::ITEM_STATE_ROLLED_BACK}) {
    EXPECT_TRUE(IsFlipped(s));
    EXPECT_FALSE(IsValidItemTransition(s, v1::ITEM_STATE_FAILED));
    EXPECT_FALSE(IsValidItemTransition(s, v1::ITEM_STATE_PRE_COPY));
  }
  for (ItemState s : {v1::ITEM_STATE_DONE, v1::ITEM_STATE_FAILED,
                      v1::ITEM_STATE_SKIPPED, v1::ITEM_STATE_ROLLED_BACK}) {
    EXPECT_TRUE(IsTerminal(s)) << ItemStateName(s);
  }
  EXPECT_FALSE(IsTerminal(v1::ITEM_STATE_TAIL));
}

}  // namespace
}  // namespace tandem::migrator
