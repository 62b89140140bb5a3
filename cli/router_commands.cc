#include "cli/router_commands.h"

#include <grpcpp/client_context.h>

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cli/command_helpers.h"
#include "cli/router_helpers.h"
#include "cli/router_input.h"
#include "common/status_macros.h"
#include "tandem/router/v1/router.grpc.pb.h"

namespace tandem::cli {
namespace router_internal {
namespace {

using ::tandem::common::v1::System;

// --- Formatting

std::vector<std::string> RouteHeaders() {
  return {"CUSTOMER_ID", "SYSTEM",     "STATE",
          "VERSION",     "UPDATED_BY", "UPDATED_AT"};
}

std::vector<std::string> RouteCells(const v1::Route& route) {
  return {absl::StrCat(route.customer_id()),
          SystemName(route.system()),
          RouteStateName(route.state()),
          absl::StrCat(route.version()),
          route.updated_by().empty() ? "-" : route.updated_by(),
          FormatUnixMillis(route.updated_at_unix_ms())};
}

Table RouteTable(const v1::Route& route) {
  Table table(RouteHeaders());
  table.AddRow(RouteCells(route));
  return table;
}

Table SetRouteRequestTable(const v1::SetRouteRequest& request) {
  Table table({"CUSTOMER_ID", "EXPECTED_VERSION", "SYSTEM", "STATE",
               "REQUEST_ID", "REASON"});
  table.AddRow({absl::StrCat(request.customer_id()),
                absl::StrCat(request.expected_version()),
                SystemName(request.system()), RouteStateName(request.state()),
                request.request_id(),
                request.reason().empty() ? "-" : request.reason()});
  return table;
}

absl::StatusOr<int64_t> CustomerIdArg(const CommandContext& ctx, size_t i) {
  absl::StatusOr<int64_t> id = ParseCustomerId(ctx.args()[i]);
  if (!id.ok()) {
    return BadArgument(id.status());
  }
  return id;
}

// --- route lookup / get / list

absl::Status RouteLookup(CommandContext& ctx) {
  absl::StatusOr<v1::KeyKind> kind = ParseKeyKind(ctx.args()[0]);
  if (!kind.ok()) {
    return BadArgument(kind.status());
  }
  if (ctx.args()[1].empty()) {
    return UsageError("the key value is empty");
  }
  v1::LookupRequest request;
  request.mutable_key()->set_kind(*kind);
  request.mutable_key()->set_value(ctx.args()[1]);
  v1::LookupResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallRouter(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.Lookup(call, request, &response);
      }));
  Table table(
      {"KIND", "VALUE", "FOUND", "CUSTOMER_ID", "SYSTEM", "STATE", "VERSION"});
  if (response.found()) {
    const v1::Route& route = response.route();
    table.AddRow({KeyKindName(*kind), ctx.args()[1], "yes",
                  absl::StrCat(route.customer_id()), SystemName(route.system()),
                  RouteStateName(route.state()),
                  absl::StrCat(route.version())});
  } else {
    table.AddRow(
        {KeyKindName(*kind), ctx.args()[1], "no", "-",
         absl::StrCat(SystemName(response.default_system()), " (default)"), "-",
         "-"});
    ctx.err() << "no customer has " << KeyKindName(*kind) << " `"
              << ctx.args()[1] << "`; unknown keys go to the default system "
              << SystemName(response.default_system()) << "\n";
  }
  ctx.printer().Print(response, table);
  return absl::OkStatus();
}

absl::Status RouteGet(CommandContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(int64_t id, CustomerIdArg(ctx, 0));
  v1::GetRouteRequest request;
  request.set_customer_id(id);
  request.set_include_keys(ctx.flags().GetBool("keys"));
  v1::GetRouteResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallRouter(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.GetRoute(call, request, &response);
      }));
  std::vector<std::string> headers = RouteHeaders();
  std::vector<std::string> cells = RouteCells(response.route());
  if (request.include_keys()) {
    headers.push_back("KEYS");
    cells.push_back(JoinKeys(response.keys()));
  }
  Table table(std::move(headers));
  table.AddRow(std::move(cells));
  ctx.printer().Print(response, table);
  return absl::OkStatus();
}

absl::Status RouteList(CommandContext& ctx) {
  v1::ListRoutesRequest request;
  if (ctx.flags().Has("system")) {
    absl::StatusOr<System> system = ParseSystem(ctx.flags().Get("system"));
    if (!system.ok()) {
      return BadArgument(system.status());
    }
    request.set_system(*system);
  }
  if (ctx.flags().Has("state")) {
    absl::StatusOr<v1::RouteState> state =
        ParseRouteState(ctx.flags().Get("state"));
    if (!state.ok()) {
      return BadArgument(state.status());
    }
    request.set_state(*state);
  }
  TANDEM_ASSIGN_OR_RETURN(int64_t page_size,
                          ctx.flags().GetInt64("page_size", 0));
  if (page_size < 0 || page_size > INT32_MAX) {
    return UsageError("--page_size must be between 0 (the default) and 10000");
  }
  request.set_page_size(static_cast<int32_t>(page_size));
  request.set_page_token(ctx.flags().Get("page_token"));
  bool all = ctx.flags().GetBool("all");

  v1::ListRoutesResponse result;
  while (true) {
    v1::ListRoutesResponse page;
    TANDEM_RETURN_IF_ERROR(
        CallRouter(ctx, [&](Stub& stub, grpc::ClientContext* call) {
          return stub.ListRoutes(call, request, &page);
        }));
    for (v1::Route& route : *page.mutable_routes()) {
      *result.add_routes() = std::move(route);
    }
    result.set_next_page_token(page.next_page_token());
    if (!all || page.next_page_token().empty()) {
      break;
    }
    request.set_page_token(page.next_page_token());
  }
  Table table(RouteHeaders());
  for (const v1::Route& route : result.routes()) {
    table.AddRow(RouteCells(route));
  }
  ctx.printer().Print(result, table);
  if (result.routes().empty()) {
    ctx.err() << "no routes match\n";
  }
  if (!result.next_page_token().empty()) {
    ctx.err() << "more routes follow: add --page_token="
              << result.next_page_token() << " for the next page, or --all\n";
  }
  return absl::OkStatus();
}

// --- route set and the convenience verbs

// Sends `request` (or, with --dry-run, prints it) and prints the route.
// Without --reason, `default_reason` goes to the audit log.
absl::Status SendSetRoute(CommandContext& ctx, v1::SetRouteRequest request,
                          const v1::Route* before,
                          absl::string_view default_reason) {
  request.set_reason(ctx.flags().Get("reason", default_reason));
  request.set_request_id(RequestId(ctx));
  if (ctx.flags().GetBool("dry_run")) {
    ctx.printer().Print(request, SetRouteRequestTable(request));
    SayDryRun(ctx, "SetRoute");
    return absl::OkStatus();
  }
  v1::SetRouteResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallRouter(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.SetRoute(call, request, &response);
      }));
  ctx.printer().Print(response, RouteTable(response.route()));
  if (before != nullptr) {
    ctx.err() << "customer " << request.customer_id() << ": "
              << RouteName(before->system(), before->state()) << " -> "
              << RouteName(response.route().system(), response.route().state())
              << " (version " << before->version() << " -> "
              << response.route().version() << ")\n";
  }
  return absl::OkStatus();
}

absl::Status RouteSet(CommandContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(int64_t id, CustomerIdArg(ctx, 0));
  TANDEM_ASSIGN_OR_RETURN(int64_t version,
                          ctx.flags().GetInt64("expected_version", 0));
  if (version < 0) {
    return UsageError("--expected_version must not be negative");
  }
  absl::StatusOr<System> system = ParseSystem(ctx.flags().Get("system"));
  if (!system.ok()) {
    return BadArgument(system.status());
  }
  absl::StatusOr<v1::RouteState> state =
      ParseRouteState(ctx.flags().Get("state"));
  if (!state.ok()) {
    return BadArgument(state.status());
  }
  v1::SetRouteRequest request;
  request.set_customer_id(id);
  request.set_expected_version(version);
  request.set_system(*system);
  request.set_state(*state);
  return SendSetRoute(ctx, std::move(request), nullptr, "");
}

absl::Status RouteConvenience(CommandContext& ctx) {
  const std::string& verb = ctx.spec().path.back();
  TANDEM_ASSIGN_OR_RETURN(int64_t id, CustomerIdArg(ctx, 0));
  v1::GetRouteRequest get;
  get.set_customer_id(id);
  v1::GetRouteResponse current;
  TANDEM_RETURN_IF_ERROR(
      CallRouter(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.GetRoute(call, get, &current);
      }));
  TANDEM_ASSIGN_OR_RETURN(auto target,
                          ConvenienceTarget(verb, current.route()));
  v1::SetRouteRequest request;
  request.set_customer_id(id);
  request.set_expected_version(current.route().version());
  request.set_system(target.first);
  request.set_state(target.second);
  return SendSetRoute(ctx, std::move(request), &current.route(),
                      absl::StrCat("tandemctl route ", verb));
}

// --- keys

absl::StatusOr<std::vector<v1::Key>> KeyArgs(const CommandContext& ctx) {
  std::vector<v1::Key> keys;
  for (size_t i = 1; i < ctx.args().size(); ++i) {
    absl::StatusOr<v1::Key> key = ParseStoredKey(ctx.args()[i]);
    if (!key.ok()) {
      return BadArgument(key.status());
    }
    keys.push_back(*std::move(key));
  }
  return keys;
}

template <typename Request>
Table KeysRequestTable(const Request& request) {
  Table table({"CUSTOMER_ID", "KEYS", "REQUEST_ID"});
  table.AddRow({absl::StrCat(request.customer_id()), JoinKeys(request.keys()),
                request.request_id()});
  return table;
}

absl::Status KeysPut(CommandContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(int64_t id, CustomerIdArg(ctx, 0));
  TANDEM_ASSIGN_OR_RETURN(std::vector<v1::Key> keys, KeyArgs(ctx));
  v1::PutKeysRequest request;
  request.set_customer_id(id);
  request.mutable_keys()->Assign(keys.begin(), keys.end());
  request.set_request_id(RequestId(ctx));
  if (ctx.flags().GetBool("dry_run")) {
    ctx.printer().Print(request, KeysRequestTable(request));
    SayDryRun(ctx, "PutKeys");
    return absl::OkStatus();
  }
  v1::PutKeysResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallRouter(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.PutKeys(call, request, &response);
      }));
  Table table({"CUSTOMER_ID", "ADDED", "REVISION"});
  table.AddRow({absl::StrCat(id), absl::StrCat(response.added()),
                absl::StrCat(response.revision())});
  ctx.printer().Print(response, table);
  return absl::OkStatus();
}

absl::Status KeysDelete(CommandContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(int64_t id, CustomerIdArg(ctx, 0));
  TANDEM_ASSIGN_OR_RETURN(std::vector<v1::Key> keys, KeyArgs(ctx));
  v1::DeleteKeysRequest request;
  request.set_customer_id(id);
  request.mutable_keys()->Assign(keys.begin(), keys.end());
  request.set_request_id(RequestId(ctx));
  if (ctx.flags().GetBool("dry_run")) {
    ctx.printer().Print(request, KeysRequestTable(request));
    SayDryRun(ctx, "DeleteKeys");
    return absl::OkStatus();
  }
  v1::DeleteKeysResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallRouter(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.DeleteKeys(call, request, &response);
      }));
  Table table({"CUSTOMER_ID", "DELETED", "REVISION"});
  table.AddRow({absl::StrCat(id), absl::StrCat(response.deleted()),
                absl::StrCat(response.revision())});
  ctx.printer().Print(response, table);
  return absl::OkStatus();
}

// --- router

absl::Status RouterStats(CommandContext& ctx) {
  v1::GetStatsResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallRouter(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.GetStats(call, v1::GetStatsRequest(), &response);
      }));
  Table table({"SOURCE_STABLE", "SOURCE_MIGRATING", "TARGET_STABLE",
               "TARGET_MIGRATING", "KEYS", "REVISION", "DEFAULT_SYSTEM"});
  table.AddRow({absl::StrCat(response.source_stable()),
                absl::StrCat(response.source_migrating()),
                absl::StrCat(response.target_stable()),
                absl::StrCat(response.target_migrating()),
                absl::StrCat(response.keys()),
                absl::StrCat(response.revision()),
                SystemName(response.default_system())});
  ctx.printer().Print(response, table);
  return absl::OkStatus();
}

absl::Status RouterDefaultGet(CommandContext& ctx) {
  v1::GetDefaultSystemResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallRouter(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.GetDefaultSystem(call, v1::GetDefaultSystemRequest(),
                                     &response);
      }));
  Table table({"SYSTEM", "CHANGED_BY", "CHANGED_AT", "REASON"});
  table.AddRow(
      {SystemName(response.system()),
       response.stamp().actor().empty() ? "-" : response.stamp().actor(),
       FormatUnixMillis(response.stamp().at_unix_ms()),
       response.stamp().reason().empty() ? "-" : response.stamp().reason()});
  ctx.printer().Print(response, table);
  return absl::OkStatus();
}

absl::Status RouterDefaultSet(CommandContext& ctx) {
  absl::StatusOr<System> system = ParseSystem(ctx.args()[0]);
  if (!system.ok()) {
    return BadArgument(system.status());
  }
  if (ctx.flags().Get("reason").empty()) {
    return UsageError(
        "--reason must not be empty: the default system decides where "
        "every unknown customer goes, so the audit log must say why");
  }
  v1::SetDefaultSystemRequest request;
  request.set_system(*system);
  request.set_reason(ctx.flags().Get("reason"));
  request.set_request_id(RequestId(ctx));
  if (ctx.flags().GetBool("dry_run")) {
    Table table({"SYSTEM", "REASON", "REQUEST_ID"});
    table.AddRow(
        {SystemName(request.system()), request.reason(), request.request_id()});
    ctx.printer().Print(request, table);
    SayDryRun(ctx, "SetDefaultSystem");
    return absl::OkStatus();
  }
  v1::SetDefaultSystemResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallRouter(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.SetDefaultSystem(call, request, &response);
      }));
  Table table({"SYSTEM", "REVISION"});
  table.AddRow(
      {SystemName(response.system()), absl::StrCat(response.revision())});
  ctx.printer().Print(response, table);
  if (response.revision() == 0) {
    ctx.err() << "the default system already was "
              << SystemName(response.system()) << "; nothing changed\n";
  }
  return absl::OkStatus();
}

// --- registration, one group of commands each; AddRouterCommands calls
// them in the order help lists them.

// route lookup, get and list.
void AddRouteReadCommands(CommandSet& commands) {
  commands.Add(
      CommandSpec({"route", "lookup"}, "Resolve a key to the customer's route.")
          .Args("<kind> <value>", 2, 2)
          .Description("kind is customer_id, login, account_id or api_token. "
                       "A key no customer has resolves to the default "
                       "system; that is not an error.")
          .Run(RouteLookup));
  commands.Add(CommandSpec({"route", "get"}, "Show one customer's route.")
                   .Args("<customer_id>", 1, 1)
                   .Flags({{"keys", "", "Also show the customer's keys."}})
                   .Run(RouteGet));
  commands.Add(
      CommandSpec({"route", "list"}, "List routes in customer id order.")
          .Description("Prints one page (1,000 routes unless --page_size); "
                       "--all follows every page.")
          .Flags({{"system", "source|target", "Only routes on this system."},
                  {"state", "stable|migrating", "Only routes in this state."},
                  {"page_size", "N", "Routes per call; 0 is the default."},
                  {"page_token", "TOKEN", "Continue after a previous page."},
                  {"all", "", "Follow every page to the end."}})
          .Run(RouteList));
}

// route set and its convenience verbs.
void AddRouteSetCommands(CommandSet& commands) {
  commands.Add(
      CommandSpec({"route", "set"},
                  "Compare-and-set one route (the low-level verb).")
          .Args("<customer_id>", 1, 1)
          .Description(
              "The change applies only if the route still has "
              "--expected_version. Legal moves: SOURCE/STABLE -> "
              "SOURCE/MIGRATING -> TARGET/STABLE or back to SOURCE/STABLE, "
              "and TARGET/STABLE -> TARGET/MIGRATING -> SOURCE/STABLE or "
              "back to TARGET/STABLE. Anything else is FAILED_PRECONDITION; "
              "a stale version is ABORTED.")
          .Flags({FlagSpec("expected_version", "V", "The version you read.")
                      .Required(),
                  FlagSpec("system", "source|target", "The new system.")
                      .Required(),
                  FlagSpec("state", "stable|migrating", "The new state.")
                      .Required(),
                  ReasonFlag(), RequestIdFlag(), DryRunFlag()})
          .Run(RouteSet));
  struct Verb {
    const char* name;
    const char* summary;
  };
  for (const Verb& verb :
       {Verb{"start-move",
             "SOURCE/STABLE -> SOURCE/MIGRATING: hold the "
             "customer's requests for a move."},
        Verb{"flip",
             "MIGRATING -> the other system, STABLE: the move (or "
             "rollback) is done."},
        Verb{"abort",
             "MIGRATING -> the same system, STABLE: undo the "
             "started move (or rollback)."},
        Verb{"start-rollback",
             "TARGET/STABLE -> TARGET/MIGRATING: hold the "
             "customer's requests for a rollback."}}) {
    commands.Add(
        CommandSpec({"route", verb.name}, verb.summary)
            .Args("<customer_id>", 1, 1)
            .Description(absl::StrCat(
                "Reads the route's current version, then sets it with that "
                "version. If someone else changed the route in between, the "
                "call fails with ABORTED; read and try again. Without "
                "--reason the audit log says `tandemctl route ",
                verb.name, "`."))
            .Flags({ReasonFlag(), RequestIdFlag(), DryRunFlag()})
            .Run(RouteConvenience));
  }
}

// keys put and delete.
void AddKeysCommands(CommandSet& commands) {
  commands.Add(
      CommandSpec({"keys", "put"}, "Add keys to a customer that has a route.")
          .Args("<customer_id> <kind:value>...", 2, -1)
          .Description("A key another customer owns is ALREADY_EXISTS and "
                       "nothing changes.")
          .Flags({RequestIdFlag(), DryRunFlag()})
          .Run(KeysPut));
  commands.Add(CommandSpec({"keys", "delete"}, "Remove keys from a customer.")
                   .Args("<customer_id> <kind:value>...", 2, -1)
                   .Description("Keys the customer does not own are ignored.")
                   .Flags({RequestIdFlag(), DryRunFlag()})
                   .Run(KeysDelete));
}

// router stats and router default get|set.
void AddRouterServiceCommands(CommandSet& commands) {
  commands.Add(CommandSpec({"router", "stats"},
                           "Count routes by system and state, and keys.")
                   .Run(RouterStats));
  commands.Add(CommandSpec({"router", "default", "get"},
                           "Show where unknown customers go, and who set it.")
                   .Run(RouterDefaultGet));
  commands.Add(
      CommandSpec({"router", "default", "set"},
                  "Change where unknown customers go (audited).")
          .Args("<source|target>", 1, 1)
          .Flags({FlagSpec("reason", "TEXT", "Why; recorded in the audit log.")
                      .Required(),
                  RequestIdFlag(), DryRunFlag()})
          .Run(RouterDefaultSet));
}

}  // namespace
}  // namespace router_internal

namespace v1 = ::tandem::router::v1;
using router_internal::RouteName;
using ::tandem::common::v1::System;

absl::StatusOr<std::pair<System, v1::RouteState>> ConvenienceTarget(
    absl::string_view verb, const v1::Route& current) {
  if (verb == "start-move") {
    return std::make_pair(::tandem::common::v1::SYSTEM_SOURCE,
                          v1::ROUTE_STATE_MIGRATING);
  }
  if (verb == "start-rollback") {
    return std::make_pair(::tandem::common::v1::SYSTEM_TARGET,
                          v1::ROUTE_STATE_MIGRATING);
  }
  if (verb != "flip" && verb != "abort") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown route verb `", verb, "`"));
  }
  if (current.state() != v1::ROUTE_STATE_MIGRATING) {
    return absl::FailedPreconditionError(absl::StrCat(
        "customer ", current.customer_id(), " is ",
        RouteName(current.system(), current.state()),
        ", not MIGRATING: there is no move or rollback to ", verb));
  }
  if (verb == "abort") {
    return std::make_pair(current.system(), v1::ROUTE_STATE_STABLE);
  }
  System other = current.system() == ::tandem::common::v1::SYSTEM_SOURCE
                     ? ::tandem::common::v1::SYSTEM_TARGET
                     : ::tandem::common::v1::SYSTEM_SOURCE;
  return std::make_pair(other, v1::ROUTE_STATE_STABLE);
}

void AddRouterCommands(CommandSet& commands) {
  commands.AddGroup({"route"},
                    "Routes: which system serves each customer, and moves "
                    "between them.");
  commands.AddGroup({"keys"},
                    "The keys (login, account id, API token) that resolve to "
                    "a customer.");
  commands.AddGroup({"router"}, "The router itself: counts, default system.");
  commands.AddGroup({"router", "default"},
                    "The system that customers unknown to the router go to.");

  router_internal::AddRouteReadCommands(commands);
  router_internal::AddRouteSetCommands(commands);
  router_internal::AddRouteImportCommand(commands);
  router_internal::AddRouteWatchCommand(commands);
  router_internal::AddKeysCommands(commands);
  router_internal::AddRouterServiceCommands(commands);
}

}  // namespace tandem::cli
