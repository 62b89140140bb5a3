// tandemctl route import: create routes in bulk, from a customers file or a
// query configured on the router.
#include <google/protobuf/struct.pb.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cli/router_helpers.h"
#include "cli/router_input.h"
#include "common/config.h"
#include "common/status_macros.h"

namespace tandem::cli::router_internal {
namespace {

using ::tandem::common::v1::System;

// Customers per ImportRoutes call: well under the router's limit of 100,000
// and gRPC's default 4 MB message size.
constexpr int kImportChunk = 10000;

// --system, SOURCE when not given.
absl::StatusOr<System> ImportSystem(const CommandContext& ctx) {
  if (!ctx.flags().Has("system")) {
    return ::tandem::common::v1::SYSTEM_SOURCE;
  }
  absl::StatusOr<System> parsed = ParseSystem(ctx.flags().Get("system"));
  if (!parsed.ok()) {
    return BadArgument(parsed.status());
  }
  return *parsed;
}

// The one call of --query: `base` with the query and `request_id`. With
// --dry-run it prints the request instead and returns no calls.
absl::StatusOr<std::vector<v1::ImportRoutesRequest>> QueryImportRequests(
    CommandContext& ctx, v1::ImportRoutesRequest base,
    const std::string& request_id, bool dry_run) {
  base.set_configured_query(ctx.flags().Get("query"));
  base.set_request_id(request_id);
  if (base.configured_query().empty()) {
    return UsageError("--query needs the name of a configured query");
  }
  if (dry_run) {
    Table table({"QUERY", "SYSTEM", "REQUEST_ID", "REASON"});
    table.AddRow({base.configured_query(), SystemName(base.system()),
                  request_id, base.reason().empty() ? "-" : base.reason()});
    ctx.printer().Print(base, table);
    SayDryRun(ctx, "ImportRoutes");
    return std::vector<v1::ImportRoutesRequest>();
  }
  return std::vector<v1::ImportRoutesRequest>{std::move(base)};
}

// --dry-run of --file: what the file holds, since nothing is sent.
void PrintFileSummary(CommandContext& ctx, const std::string& path,
                      const CustomersFile& file, System system) {
  google::protobuf::Struct summary;
  auto& fields = *summary.mutable_fields();
  fields["file"].set_string_value(path);
  fields["customers"].set_number_value(
      static_cast<double>(file.customers.size()));
  fields["keys"].set_number_value(static_cast<double>(file.keys));
  fields["system"].set_string_value(
      std::string(::tandem::common::v1::System_Name(system)));
  Table table({"FILE", "CUSTOMERS", "KEYS", "SYSTEM"});
  table.AddRow({path, absl::StrCat(file.customers.size()),
                absl::StrCat(file.keys), SystemName(system)});
  ctx.printer().Print(summary, table);
  ctx.err() << "dry run: " << path
            << " is valid; nothing was sent to the router\n";
}

// `customers` in calls of kImportChunk, each `base` with its part. One call
// has `request_id`; several have `request_id`-<i>, so a retry of the command
// with the same id retries each call idempotently.
std::vector<v1::ImportRoutesRequest> ChunkImport(
    const v1::ImportRoutesRequest& base, const std::string& request_id,
    std::vector<v1::ImportedCustomer>& customers) {
  std::vector<v1::ImportRoutesRequest> requests;
  size_t chunks = (customers.size() + kImportChunk - 1) / kImportChunk;
  for (size_t i = 0; i < chunks; ++i) {
    v1::ImportRoutesRequest& request = requests.emplace_back(base);
    request.set_request_id(chunks == 1 ? request_id
                                       : absl::StrCat(request_id, "-", i));
    size_t end = std::min(customers.size(), (i + 1) * size_t{kImportChunk});
    for (size_t j = i * kImportChunk; j < end; ++j) {
      *request.mutable_customers()->add_customers() = std::move(customers[j]);
    }
  }
  return requests;
}

// The calls of --file: its customers, checked, in chunks. With --dry-run it
// prints what the file holds instead and returns no calls.
absl::StatusOr<std::vector<v1::ImportRoutesRequest>> FileImportRequests(
    CommandContext& ctx, const v1::ImportRoutesRequest& base,
    const std::string& request_id, bool dry_run) {
  std::string path = ctx.flags().Get("file");
  TANDEM_ASSIGN_OR_RETURN(std::string contents, ReadFile(path));
  absl::StatusOr<CustomersFile> file = ParseCustomersCsv(contents);
  if (!file.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", file.status().message()));
  }
  if (file->customers.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": no customers in the file"));
  }
  if (dry_run) {
    PrintFileSummary(ctx, path, *file, base.system());
    return std::vector<v1::ImportRoutesRequest>();
  }
  return ChunkImport(base, request_id, file->customers);
}

// Sends the calls in order and adds up their answers (at most 100 conflict
// samples). On a terminal, several calls show their progress on stderr.
absl::StatusOr<v1::ImportRoutesResponse> SendImports(
    CommandContext& ctx, const std::vector<v1::ImportRoutesRequest>& requests) {
  v1::ImportRoutesResponse total;
  int64_t sent = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    v1::ImportRoutesResponse response;
    TANDEM_RETURN_IF_ERROR(
        CallRouter(ctx, [&](Stub& stub, grpc::ClientContext* call) {
          return stub.ImportRoutes(call, requests[i], &response);
        }));
    total.set_customers_seen(total.customers_seen() +
                             response.customers_seen());
    total.set_routes_created(total.routes_created() +
                             response.routes_created());
    total.set_keys_added(total.keys_added() + response.keys_added());
    total.set_key_conflicts(total.key_conflicts() + response.key_conflicts());
    for (const std::string& sample : response.conflict_samples()) {
      if (total.conflict_samples_size() < 100) {
        total.add_conflict_samples(sample);
      }
    }
    total.set_revision(std::max(total.revision(), response.revision()));
    sent += requests[i].customers().customers_size();
    if (ctx.globals().interactive && requests.size() > 1) {
      ctx.err() << "\rimported " << sent << " customers (call " << i + 1
                << " of " << requests.size() << ")" << std::flush;
    }
  }
  if (ctx.globals().interactive && requests.size() > 1) {
    ctx.err() << "\n";
  }
  return total;
}

void PrintImportTotal(CommandContext& ctx,
                      const v1::ImportRoutesResponse& total) {
  Table table({"CUSTOMERS_SEEN", "ROUTES_CREATED", "KEYS_ADDED",
               "KEY_CONFLICTS", "REVISION"});
  table.AddRow(
      {absl::StrCat(total.customers_seen()),
       absl::StrCat(total.routes_created()), absl::StrCat(total.keys_added()),
       absl::StrCat(total.key_conflicts()), absl::StrCat(total.revision())});
  ctx.printer().Print(total, table);
  for (const std::string& sample : total.conflict_samples()) {
    ctx.err() << "key conflict: " << sample << "\n";
  }
  if (total.key_conflicts() > total.conflict_samples_size()) {
    ctx.err() << "... and "
              << total.key_conflicts() - total.conflict_samples_size()
              << " more key conflicts\n";
  }
}

absl::Status RouteImport(CommandContext& ctx) {
  bool has_file = ctx.flags().Has("file");
  bool has_query = ctx.flags().Has("query");
  if (has_file == has_query) {
    return UsageError("route import needs exactly one of --file or --query");
  }
  TANDEM_ASSIGN_OR_RETURN(System system, ImportSystem(ctx));
  bool dry_run = ctx.flags().GetBool("dry_run");
  std::string request_id = RequestId(ctx);

  v1::ImportRoutesRequest base;
  base.set_system(system);
  base.set_reason(ctx.flags().Get("reason"));
  TANDEM_ASSIGN_OR_RETURN(
      std::vector<v1::ImportRoutesRequest> requests,
      has_query ? QueryImportRequests(ctx, base, request_id, dry_run)
                : FileImportRequests(ctx, base, request_id, dry_run));
  if (dry_run) {
    return absl::OkStatus();
  }
  TANDEM_ASSIGN_OR_RETURN(v1::ImportRoutesResponse total,
                          SendImports(ctx, requests));
  PrintImportTotal(ctx, total);
  return absl::OkStatus();
}

}  // namespace

void AddRouteImportCommand(CommandSet& commands) {
  commands.Add(
      CommandSpec({"route", "import"},
                  "Create routes for customers that have none.")
          .Description(
              "--file reads lines of `customer_id,kind:value,kind:value...` "
              "(kind: login, account_id, api_token; `#` starts a comment; a "
              "`customer_id,...` header line is skipped) and sends them in "
              "calls of 10,000 customers. --query runs an import query "
              "configured on the router. Existing routes keep their system "
              "and state, so importing twice changes nothing. With "
              "--dry-run, --file is only read and checked. Default "
              "--timeout: 10m.")
          .Flags(
              {{"file", "PATH", "A customers CSV file."},
               {"query", "NAME", "An import query configured on the router."},
               {"system", "source|target",
                "Where new routes point (default source)."},
               ReasonFlag(),
               RequestIdFlag(),
               DryRunFlag()})
          .DefaultTimeout(absl::Minutes(10))
          .Run(RouteImport));
}

}  // namespace tandem::cli::router_internal
