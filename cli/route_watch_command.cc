// tandemctl route watch: follow the router's change feed.
#include <grpcpp/support/sync_stream.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "cli/router_helpers.h"
#include "cli/router_input.h"
#include "common/status_macros.h"

namespace tandem::cli::router_internal {
namespace {

// Fixed widths, since a stream cannot be measured before it is printed; the
// three-space gaps match Table's.
constexpr char kWatchLineFormat[] =
    "%-10s   %-20s   %-12s   %-11s   %-18s   %-7s   %s";

std::string WatchLine(const v1::RouteChange& change) {
  std::string revision = absl::StrCat(change.revision());
  std::string at = FormatUnixMillis(change.stamp().at_unix_ms());
  std::string actor =
      change.stamp().actor().empty() ? "-" : change.stamp().actor();
  if (change.has_route_update()) {
    const v1::RouteUpdate& update = change.route_update();
    std::vector<std::string> keys;
    if (!update.keys_added().empty()) {
      keys.push_back(JoinKeys(update.keys_added(), "+"));
    }
    if (!update.keys_removed().empty()) {
      keys.push_back(JoinKeys(update.keys_removed(), "-"));
    }
    return absl::StrFormat(
        kWatchLineFormat, revision, at, actor,
        absl::StrCat(update.route().customer_id()),
        RouteName(update.route().system(), update.route().state()),
        absl::StrCat(update.route().version()),
        keys.empty() ? "-" : absl::StrJoin(keys, " "));
  }
  return absl::StrFormat(
      kWatchLineFormat, revision, at, actor, "-",
      absl::StrCat("default=", SystemName(change.default_system())), "-", "-");
}

// The router's current revision, where a watch without --from starts.
absl::StatusOr<int64_t> CurrentRevision(CommandContext& ctx) {
  v1::GetStatsResponse stats;
  TANDEM_RETURN_IF_ERROR(CallRouter(ctx, [&](Stub& stub,
                                             grpc::ClientContext* call) {
    if (!ctx.globals().timeout.has_value()) {
      call->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    }
    return stub.GetStats(call, v1::GetStatsRequest(), &stats);
  }));
  return stats.revision();
}

// Says on stderr why a snapshot comes first after watching from `from`.
void SayReset(CommandContext& ctx, int64_t from) {
  ctx.err() << (from == 0 ? std::string("--from 0 starts with a snapshot of "
                                        "every route")
                          : absl::StrCat("the router no longer remembers "
                                         "revision ",
                                         from,
                                         " (or it is in the future), so "
                                         "it sends a snapshot first"))
            << "; the snapshot is not printed (use `route list`)\n";
}

// Prints every change `reader` delivers (not the snapshot) until the stream
// ends or, when `count` > 0, `count` changes were printed. True when it
// stopped for `count`.
bool PrintChanges(CommandContext& ctx,
                  grpc::ClientReaderInterface<v1::WatchResponse>& reader,
                  int64_t from, int64_t count) {
  int64_t printed = 0;
  v1::WatchResponse response;
  while (reader.Read(&response)) {
    if (response.reset()) {
      SayReset(ctx, from);
    }
    if (response.snapshot_done()) {
      ctx.err() << "snapshot complete as of revision " << response.revision()
                << "; changes follow\n";
    }
    for (const v1::RouteChange& change : response.changes()) {
      ctx.printer().PrintStreamItem(change, WatchLine(change));
      if (count > 0 && ++printed >= count) {
        return true;
      }
    }
  }
  return false;
}

absl::Status RouteWatch(CommandContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(int64_t from, ctx.flags().GetInt64("from", -1));
  TANDEM_ASSIGN_OR_RETURN(int64_t count, ctx.flags().GetInt64("count", 0));
  if (ctx.flags().Has("from") && from < 0) {
    return UsageError("--from must not be negative");
  }
  if (count < 0) {
    return UsageError("--count must not be negative");
  }
  if (from < 0) {
    TANDEM_ASSIGN_OR_RETURN(from, CurrentRevision(ctx));
  }
  TANDEM_ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
                          ctx.Channel(ctx.globals().router));
  std::unique_ptr<Stub> stub = v1::RouterService::NewStub(channel);
  TANDEM_ASSIGN_OR_RETURN(std::unique_ptr<grpc::ClientContext> call,
                          ctx.NewCall());
  v1::WatchRequest request;
  request.set_from_revision(from);
  std::unique_ptr<grpc::ClientReaderInterface<v1::WatchResponse>> reader =
      stub->Watch(call.get(), request);
  ctx.err() << "watching changes after revision " << from
            << (count > 0 ? absl::StrCat(" (stopping after ", count, ")")
                          : std::string(" (Ctrl-C to stop)"))
            << "\n";
  if (ctx.printer().format() == OutputFormat::kTable) {
    ctx.out() << absl::StrFormat(kWatchLineFormat, "REVISION", "AT", "ACTOR",
                                 "CUSTOMER_ID", "ROUTE", "VERSION", "KEYS")
              << "\n"
              << std::flush;
  }
  if (PrintChanges(ctx, *reader, from, count)) {
    call->TryCancel();
    reader->Finish().IgnoreError();
    return absl::OkStatus();
  }
  return WatchEnded(ctx, reader->Finish(), ctx.globals().router, "router",
                    "run the watch again with --from to resume");
}

}  // namespace

void AddRouteWatchCommand(CommandSet& commands) {
  commands.Add(
      CommandSpec({"route", "watch"}, "Print every route change as it happens.")
          .Description(
              "One line per change (a JSON object per line with -o json, a "
              "YAML document each with -o yaml) until interrupted, --count "
              "changes were printed, or --timeout passed (which ends the "
              "watch normally). Starts after the current revision unless "
              "--from.")
          .Flags({{"from", "REVISION", "Print changes after this revision."},
                  {"count", "N", "Stop after N changes."}})
          .DefaultTimeout(absl::InfiniteDuration())
          .Run(RouteWatch));
}

}  // namespace tandem::cli::router_internal
