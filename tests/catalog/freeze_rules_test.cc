// The freeze's transitions and what each state lets through.
#include "catalog/freeze_rules.h"

#include <gtest/gtest.h>

namespace tandem::catalog {
namespace {

namespace v1 = ::tandem::catalog::v1;
constexpr auto kSource = ::tandem::common::v1::SYSTEM_SOURCE;
constexpr auto kTarget = ::tandem::common::v1::SYSTEM_TARGET;

v1::Freeze FreezeIn(v1::FreezeState state) {
  v1::Freeze freeze;
  freeze.set_state(state);
  freeze.mutable_stamp()->set_at_unix_ms(1714683600000);  // 2024-05-02T21:00Z
  return freeze;
}

TEST(FreezeRulesTest, OnlyTheFourTransitionsAreLegal) {
  const v1::FreezeState states[] = {
      v1::FREEZE_STATE_UNSPECIFIED, v1::FREEZE_STATE_OPEN,
      v1::FREEZE_STATE_FROZEN, v1::FREEZE_STATE_FROZEN_TARGET_OPEN,
      v1::FREEZE_STATE_LIFTED};
  int legal = 0;
  for (v1::FreezeState from : states) {
    for (v1::FreezeState to : states) {
      if (IsLegalTransition(from, to)) ++legal;
    }
  }
  EXPECT_EQ(legal, 4);
  EXPECT_TRUE(
      IsLegalTransition(v1::FREEZE_STATE_OPEN, v1::FREEZE_STATE_FROZEN));
  EXPECT_TRUE(IsLegalTransition(v1::FREEZE_STATE_FROZEN,
                                v1::FREEZE_STATE_FROZEN_TARGET_OPEN));
  EXPECT_TRUE(IsLegalTransition(v1::FREEZE_STATE_FROZEN_TARGET_OPEN,
                                v1::FREEZE_STATE_LIFTED));
  EXPECT_TRUE(
      IsLegalTransition(v1::FREEZE_STATE_FROZEN, v1::FREEZE_STATE_OPEN));
  EXPECT_FALSE(
      IsLegalTransition(v1::FREEZE_STATE_OPEN, v1::FREEZE_STATE_LIFTED));
  EXPECT_FALSE(
      IsLegalTransition(v1::FREEZE_STATE_LIFTED, v1::FREEZE_STATE_OPEN));
}

TEST(FreezeRulesTest, OpenAndLiftedAllowEverything) {
  for (v1::FreezeState state :
       {v1::FREEZE_STATE_OPEN, v1::FREEZE_STATE_LIFTED}) {
    for (auto system : {kSource, kTarget}) {
      for (v1::ChangeKind kind :
           {v1::CHANGE_KIND_CREATE, v1::CHANGE_KIND_UPDATE_PRICE,
            v1::CHANGE_KIND_UPDATE_CONFIGURATION, v1::CHANGE_KIND_DELETE}) {
        EXPECT_TRUE(DecideChange(FreezeIn(state), system, kind, {}).allowed);
      }
    }
  }
}

TEST(FreezeRulesTest, FrozenRefusesEveryChangeOnBothSystems) {
  ProductFacts known{true, false, false};
  const v1::Freeze frozen = FreezeIn(v1::FREEZE_STATE_FROZEN);
  ChangeDecision d =
      DecideChange(frozen, kSource, v1::CHANGE_KIND_UPDATE_PRICE, known);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.refusal, v1::CHANGE_REFUSAL_CATALOG_FROZEN);
  EXPECT_EQ(d.reason,
            "catalog frozen since 2024-05-02T21:00:00Z (FROZEN): existing "
            "products cannot change");
  EXPECT_EQ(
      DecideChange(frozen, kTarget, v1::CHANGE_KIND_DELETE, known).refusal,
      v1::CHANGE_REFUSAL_CATALOG_FROZEN);
  EXPECT_EQ(DecideChange(frozen, kSource, v1::CHANGE_KIND_CREATE, {}).refusal,
            v1::CHANGE_REFUSAL_SOURCE_CLOSED);
  EXPECT_EQ(DecideChange(frozen, kTarget, v1::CHANGE_KIND_CREATE, {}).refusal,
            v1::CHANGE_REFUSAL_TARGET_NOT_OPEN);
}

TEST(FreezeRulesTest, TargetOpenAllowsNewTargetProductsOnly) {
  const v1::Freeze open = FreezeIn(v1::FREEZE_STATE_FROZEN_TARGET_OPEN);
  EXPECT_TRUE(DecideChange(open, kTarget, v1::CHANGE_KIND_CREATE, {}).allowed);
  EXPECT_EQ(DecideChange(open, kSource, v1::CHANGE_KIND_CREATE, {}).refusal,
            v1::CHANGE_REFUSAL_SOURCE_CLOSED);
  // Existing before the switchover: frozen.
  EXPECT_EQ(DecideChange(open, kTarget, v1::CHANGE_KIND_UPDATE_CONFIGURATION,
                         {true, false, false})
                .refusal,
            v1::CHANGE_REFUSAL_CATALOG_FROZEN);
  // New after it: free to change...
  EXPECT_TRUE(DecideChange(open, kTarget, v1::CHANGE_KIND_UPDATE_PRICE,
                           {true, true, false})
                  .allowed);
  // ...unless customers will move onto it.
  EXPECT_EQ(
      DecideChange(open, kTarget, v1::CHANGE_KIND_DELETE, {true, true, true})
          .refusal,
      v1::CHANGE_REFUSAL_MAPPING_TARGET);
  // Unknown: fail closed.
  EXPECT_EQ(DecideChange(open, kTarget, v1::CHANGE_KIND_DELETE, {}).refusal,
            v1::CHANGE_REFUSAL_UNKNOWN_PRODUCT);
  // Source products stay frozen.
  EXPECT_EQ(DecideChange(open, kSource, v1::CHANGE_KIND_UPDATE_PRICE,
                         {true, true, false})
                .refusal,
            v1::CHANGE_REFUSAL_CATALOG_FROZEN);
}

TEST(FreezeRulesTest, FrozenFlagFollowsTheDecisions) {
  EXPECT_TRUE(
      IsProductFrozen(v1::FREEZE_STATE_FROZEN, kTarget, {true, true, false}));
  EXPECT_FALSE(IsProductFrozen(v1::FREEZE_STATE_FROZEN_TARGET_OPEN, kTarget,
                               {true, true, false}));
  EXPECT_TRUE(IsProductFrozen(v1::FREEZE_STATE_FROZEN_TARGET_OPEN, kTarget,
                              {true, true, true}));
  EXPECT_FALSE(
      IsProductFrozen(v1::FREEZE_STATE_LIFTED, kSource, {true, false, false}));
}

}  // namespace
}  // namespace tandem::catalog
