// MysqlPool::Run and ::Transaction for work that produces a value: `fn`
// (sql::Connection& -> absl::StatusOr<T>) returns its result instead of
// writing to captured variables, and only the attempt that succeeded (for a
// transaction: committed) is returned. A transaction retried after a
// deadlock leaves nothing of its failed attempts behind.
#pragma once

#include <optional>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/mysql_pool.h"

namespace sql {
class Connection;
}  // namespace sql

namespace tandem {

// Runs `fn` once on a pooled connection; database exceptions become
// statuses.
template <typename Fn>
auto RunReturning(MysqlPool& pool, absl::string_view what, Fn&& fn)
    -> std::invoke_result_t<Fn&, sql::Connection&> {
  using Result = std::invoke_result_t<Fn&, sql::Connection&>;
  std::optional<Result> result;
  absl::Status status =
      pool.Run(what, [&](sql::Connection& conn) -> absl::Status {
        result.emplace(fn(conn));
        return result->status();
      });
  if (!status.ok()) return status;
  return *std::move(result);
}

// Runs `fn` in a transaction (see MysqlPool::Transaction: retried on
// ABORTED) and returns what the committed attempt returned.
template <typename Fn>
auto TransactReturning(MysqlPool& pool, absl::string_view what, Fn&& fn)
    -> std::invoke_result_t<Fn&, sql::Connection&> {
  using Result = std::invoke_result_t<Fn&, sql::Connection&>;
  std::optional<Result> result;
  absl::Status status =
      pool.Transaction(what, [&](sql::Connection& conn) -> absl::Status {
        result.emplace(fn(conn));
        return result->status();
      });
  if (!status.ok()) return status;
  return *std::move(result);
}

}  // namespace tandem
