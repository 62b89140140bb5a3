// The batch state machine: every legal move, every other one refused, and
// what each operator action asks of each state.
#include "migrator/batch/batch_states.h"

#include <gtest/gtest.h>

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tandem::migrator {
namespace {

namespace v1 = ::tandem::migrator::v1;

TEST(BatchStatesTest, OnlyTheDrawnMovesAreLegal) {
  const std::set<std::pair<BatchState, BatchState>> legal = {
      {v1::BATCH_STATE_CREATED, v1::BATCH_STATE_RUNNING},
      {v1::BATCH_STATE_CREATED, v1::BATCH_STATE_CANCELLING},
      {v1::BATCH_STATE_CREATED, v1::BATCH_STATE_CANCELLED},
      {v1::BATCH_STATE_RUNNING, v1::BATCH_STATE_PAUSING},
      {v1::BATCH_STATE_RUNNING, v1::BATCH_STATE_CANCELLING},
      {v1::BATCH_STATE_RUNNING, v1::BATCH_STATE_COMPLETED},
      {v1::BATCH_STATE_PAUSING, v1::BATCH_STATE_PAUSED},
      {v1::BATCH_STATE_PAUSING, v1::BATCH_STATE_RUNNING},
      {v1::BATCH_STATE_PAUSING, v1::BATCH_STATE_CANCELLING},
      {v1::BATCH_STATE_PAUSING, v1::BATCH_STATE_COMPLETED},
      {v1::BATCH_STATE_PAUSED, v1::BATCH_STATE_RUNNING},
      {v1::BATCH_STATE_PAUSED, v1::BATCH_STATE_CANCELLING},
      {v1::BATCH_STATE_CANCELLING, v1::BATCH_STATE_CANCELLED},
  };
  for (int from = v1::BATCH_STATE_UNSPECIFIED;
       from <= v1::BATCH_STATE_COMPLETED; ++from) {
    for (int to = v1::BATCH_STATE_UNSPECIFIED; to <= v1::BATCH_STATE_COMPLETED;
         ++to) {
      const auto f = static_cast<BatchState>(from);
      const auto t = static_cast<BatchState>(to);
      EXPECT_EQ(IsValidBatchTransition(f, t), legal.count({f, t}) > 0)
          << BatchStateName(f) << " -> " << BatchStateName(t);
    }
  }
}

TEST(BatchStatesTest, TerminalStatesGoNowhere) {
  for (BatchState s : {v1::BATCH_STATE_COMPLETED, v1::BATCH_STATE_CANCELLED}) {
    EXPECT_TRUE(IsTerminalBatch(s));
    for (int to = v1::BATCH_STATE_UNSPECIFIED; to <= v1::BATCH_STATE_COMPLETED;
         ++to) {
      EXPECT_FALSE(IsValidBatchTransition(s, static_cast<BatchState>(to)));
    }
  }
  EXPECT_FALSE(IsTerminalBatch(v1::BATCH_STATE_PAUSED));
}

// Each (action, current state) with the state the action asks for, or
// nothing when it is refused.
TEST(BatchStatesTest, ActionsAsATable) {
  constexpr auto kNo = v1::BATCH_STATE_UNSPECIFIED;
  struct Row {
    BatchAction action;
    BatchState current;
    BatchState expected;  // kNo: FAILED_PRECONDITION
  };
  const Row rows[] = {
      {BatchAction::kStart, v1::BATCH_STATE_CREATED, v1::BATCH_STATE_RUNNING},
      {BatchAction::kStart, v1::BATCH_STATE_RUNNING, v1::BATCH_STATE_RUNNING},
      {BatchAction::kStart, v1::BATCH_STATE_PAUSING, kNo},
      {BatchAction::kStart, v1::BATCH_STATE_PAUSED, kNo},
      {BatchAction::kStart, v1::BATCH_STATE_CANCELLING, kNo},
      {BatchAction::kStart, v1::BATCH_STATE_CANCELLED, kNo},
      {BatchAction::kStart, v1::BATCH_STATE_COMPLETED, kNo},
      {BatchAction::kPause, v1::BATCH_STATE_CREATED, kNo},
      {BatchAction::kPause, v1::BATCH_STATE_RUNNING, v1::BATCH_STATE_PAUSING},
      {BatchAction::kPause, v1::BATCH_STATE_PAUSING, v1::BATCH_STATE_PAUSING},
      {BatchAction::kPause, v1::BATCH_STATE_PAUSED, v1::BATCH_STATE_PAUSED},
      {BatchAction::kPause, v1::BATCH_STATE_CANCELLING, kNo},
      {BatchAction::kPause, v1::BATCH_STATE_CANCELLED, kNo},
      {BatchAction::kPause, v1::BATCH_STATE_COMPLETED, kNo},
      {BatchAction::kResume, v1::BATCH_STATE_CREATED, kNo},
      {BatchAction::kResume, v1::BATCH_STATE_RUNNING, v1::BATCH_STATE_RUNNING},
      {BatchAction::kResume, v1::BATCH_STATE_PAUSING, v1::BATCH_STATE_RUNNING},
      {BatchAction::kResume, v1::BATCH_STATE_PAUSED, v1::BATCH_STATE_RUNNING},
      {BatchAction::kResume, v1::BATCH_STATE_CANCELLING, kNo},
      {BatchAction::kResume, v1::BATCH_STATE_CANCELLED, kNo},
      {BatchAction::kResume, v1::BATCH_STATE_COMPLETED, kNo},
      {BatchAction::kCancel, v1::BATCH_STATE_CREATED,
       v1::BATCH_STATE_CANCELLED},
      {BatchAction::kCancel, v1::BATCH_STATE_RUNNING,
       v1::BATCH_STATE_CANCELLING},
      {BatchAction::kCancel, v1::BATCH_STATE_PAUSING,
       v1::BATCH_STATE_CANCELLING},
      {BatchAction::kCancel, v1::BATCH_STATE_PAUSED,
       v1::BATCH_STATE_CANCELLING},
      {BatchAction::kCancel, v1::BATCH_STATE_CANCELLING,
       v1::BATCH_STATE_CANCELLING},
      {BatchAction::kCancel, v1::BATCH_STATE_CANCELLED,
       v1::BATCH_STATE_CANCELLED},
      {BatchAction::kCancel, v1::BATCH_STATE_COMPLETED, kNo},
  };
  for (const Row& row : rows) {
    absl::StatusOr<BatchState> got = BatchActionTarget(row.action, row.current);
    const std::string what = absl::StrCat(BatchActionName(row.action), " of ",
                                          BatchStateName(row.current));
    if (row.expected == kNo) {
      EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition)
          << what;
      EXPECT_NE(got.status().message().find(BatchStateName(row.current)),
                std::string::npos)
          << got.status();
    } else {
      ASSERT_TRUE(got.ok()) << what << ": " << got.status();
      EXPECT_EQ(*got, row.expected) << what;
      // Every change an action asks for is a legal transition.
      if (*got != row.current) {
        EXPECT_TRUE(IsValidBatchTransition(row.current, *got)) << what;
      }
    }
  }
}

}  // namespace
}  // namespace tandem::migrator
