// tandemctl catalog mappings list|propose|set|delete: which target product
// each source product's customers move to.
#include <vector>

#include "cli/catalog_helpers.h"
#include "common/grpc_status.h"

namespace tandem::cli::catalog_internal {
namespace {

// What a comparison says is not clean, for one table cell.
std::string ComparisonNotes(const v1::ProductComparison& comparison) {
  std::vector<std::string> notes;
  if (!comparison.contract_pool_matches()) {
    notes.push_back("contract pool differs");
  }
  for (const v1::ResourceTypeComparison& type : comparison.resource_types()) {
    if (type.comparison() == v1::RESOURCE_COMPARISON_SAME_OR_GREATER) {
      continue;
    }
    std::string note =
        absl::StrCat(type.source_code(), ": ", Label(type.comparison()));
    if (!type.target_code().empty() &&
        type.target_code() != type.source_code()) {
      absl::StrAppend(&note, " by ", type.target_code());
    }
    notes.push_back(std::move(note));
  }
  if (!comparison.addons_not_carried_product_ids().empty()) {
    notes.push_back(
        absl::StrCat("add-ons not carried: ",
                     JoinIds(comparison.addons_not_carried_product_ids())));
  }
  if (comparison.activation_parameters_differ()) {
    notes.push_back("activation parameters rewritten");
  }
  if (!comparison.added_resource_type_codes().empty()) {
    notes.push_back(absl::StrCat(
        "new on target: ",
        absl::StrJoin(comparison.added_resource_type_codes(), ",")));
  }
  return notes.empty() ? "-" : absl::StrJoin(notes, "; ");
}

// --- mappings

std::vector<std::string> MappingHeaders() {
  return {"SOURCE", "TARGET", "OVERUSE", "ORIGIN", "VERSION", "CLEAN", "NOTES"};
}

std::vector<std::string> MappingCells(const v1::Mapping& mapping) {
  return {absl::StrCat(mapping.source_product_id()),
          absl::StrCat(mapping.target_product_id()),
          Label(mapping.overuse_policy()),
          Label(mapping.origin()),
          absl::StrCat(mapping.version()),
          YesNo(mapping.comparison().clean()),
          ComparisonNotes(mapping.comparison())};
}

Table MappingTable(const v1::Mapping& mapping) {
  Table table(MappingHeaders());
  table.AddRow(MappingCells(mapping));
  return table;
}

Table SetMappingRequestTable(
    const std::vector<const v1::SetMappingRequest*>& requests) {
  Table table({"SOURCE", "TARGET", "OVERUSE", "ORIGIN", "EXPECTED_VERSION",
               "REQUEST_ID", "REASON"});
  for (const v1::SetMappingRequest* request : requests) {
    table.AddRow({absl::StrCat(request->source_product_id()),
                  absl::StrCat(request->target_product_id()),
                  Label(request->overuse_policy()), Label(request->origin()),
                  absl::StrCat(request->expected_version()),
                  request->request_id(), OrDash(request->reason())});
  }
  return table;
}

void SayWarnings(CommandContext& ctx, const v1::SetMappingResponse& response) {
  for (const std::string& warning : response.warnings()) {
    ctx.err() << "warning: mapping " << response.mapping().source_product_id()
              << " -> " << response.mapping().target_product_id() << ": "
              << warning << "\n";
  }
}

absl::Status MappingsList(CommandContext& ctx) {
  v1::ListMappingsRequest request;
  TANDEM_ASSIGN_OR_RETURN(int32_t page_size, PageSize(ctx));
  request.set_page_size(page_size);
  request.set_page_token(ctx.flags().Get("page_token"));
  request.set_not_clean_only(ctx.flags().GetBool("not_clean"));
  TANDEM_ASSIGN_OR_RETURN(int64_t target, IdFlag(ctx, "target_product_id"));
  request.set_target_product_id(target);
  if (ctx.flags().Has("origin")) {
    TANDEM_ASSIGN_OR_RETURN(v1::MappingOrigin origin,
                            ParseEnum<v1::MappingOrigin>(
                                "mapping origin", ctx.flags().Get("origin")));
    request.set_origin(origin);
  }
  v1::ListMappingsResponse result;
  TANDEM_RETURN_IF_ERROR(FetchPages(
      ctx, request, ctx.flags().GetBool("all"), &Stub::ListMappings,
      [](v1::ListMappingsResponse& r) { return r.mutable_mappings(); },
      &result));
  Table table(MappingHeaders());
  for (const v1::Mapping& mapping : result.mappings()) {
    table.AddRow(MappingCells(mapping));
  }
  ctx.printer().Print(result, table);
  if (result.mappings().empty()) {
    ctx.err() << "no mappings match\n";
  }
  SayMorePages(ctx, "mappings", result.next_page_token());
  return absl::OkStatus();
}

// The ProposeMappings request --match_by asks for. The flags that only
// --accept uses are a usage error without it, since nothing would change.
absl::StatusOr<v1::ProposeMappingsRequest> ProposeRequest(
    const CommandContext& ctx, bool accept) {
  v1::ProposeMappingsRequest request;
  request.set_match_by(v1::MATCH_BY_CODE_THEN_NAME);
  if (ctx.flags().Has("match_by")) {
    TANDEM_ASSIGN_OR_RETURN(
        v1::MatchBy match_by,
        ParseEnum<v1::MatchBy>("match", ctx.flags().Get("match_by")));
    request.set_match_by(match_by);
  }
  if (!accept && (ctx.flags().Has("reason") || ctx.flags().Has("request_id") ||
                  ctx.flags().Has("dry_run"))) {
    return UsageError(
        "--reason, --request_id and --dry-run go with --accept; without it "
        "nothing changes");
  }
  return request;
}

// Prints the proposals, and on stderr the source products nothing or too
// much matched.
void PrintProposals(CommandContext& ctx,
                    const v1::ProposeMappingsResponse& proposals, bool accept) {
  Table table(
      {"SOURCE", "TARGET", "MATCHED_BY", "MAPPED_NOW", "CLEAN", "NOTES"});
  for (const v1::MappingProposal& proposal : proposals.proposals()) {
    table.AddRow({absl::StrCat(proposal.source_product_id()),
                  absl::StrCat(proposal.target_product_id()),
                  Label(proposal.matched_by()),
                  proposal.current_target_product_id() == 0
                      ? "unmapped"
                      : absl::StrCat(proposal.current_target_product_id()),
                  YesNo(proposal.comparison().clean()),
                  ComparisonNotes(proposal.comparison())});
  }
  if (!accept) {
    ctx.printer().Print(proposals, table);
  } else if (ctx.printer().format() == OutputFormat::kTable) {
    ctx.out() << table.Render() << std::flush;
  } else {
    // With --accept the output is the proposals and then each result, so
    // JSON and YAML print them as a stream of objects, not one document.
    ctx.printer().PrintStreamItem(proposals, "");
  }
  if (!proposals.unmatched_source_product_ids().empty()) {
    ctx.err() << "no match for source products "
              << JoinIds(proposals.unmatched_source_product_ids())
              << " (candidates for `tandemctl catalog generate`)\n";
  }
  if (!proposals.ambiguous_source_product_ids().empty()) {
    ctx.err() << "several target products match source products "
              << JoinIds(proposals.ambiguous_source_product_ids())
              << " by name; map them with `tandemctl catalog mappings set`\n";
  }
}

// One SetMapping request per proposal whose source product is unmapped.
std::vector<v1::SetMappingRequest> AcceptRequests(
    const CommandContext& ctx, const v1::ProposeMappingsResponse& proposals) {
  // Each accepted proposal is its own SetMapping call; with --request_id
  // each gets that id plus its source product id, so retrying the whole
  // command with the same id retries each call idempotently.
  std::string request_id = ctx.flags().Get("request_id");
  std::vector<v1::SetMappingRequest> requests;
  for (const v1::MappingProposal& proposal : proposals.proposals()) {
    if (proposal.current_target_product_id() != 0) {
      continue;
    }
    v1::SetMappingRequest& set = requests.emplace_back();
    set.set_source_product_id(proposal.source_product_id());
    set.set_target_product_id(proposal.target_product_id());
    set.set_origin(v1::MAPPING_ORIGIN_PROPOSED);
    set.set_expected_version(0);
    set.set_reason(ctx.flags().Get("reason"));
    set.set_request_id(
        request_id.empty()
            ? NewRequestId()
            : absl::StrCat(request_id, "-", proposal.source_product_id()));
  }
  return requests;
}

// --dry-run with --accept: prints the requests and sends none.
void PrintAcceptDryRun(CommandContext& ctx,
                       const std::vector<v1::SetMappingRequest>& requests) {
  std::vector<const v1::SetMappingRequest*> all;
  for (const v1::SetMappingRequest& set : requests) {
    all.push_back(&set);
    if (ctx.printer().format() != OutputFormat::kTable) {
      ctx.printer().PrintStreamItem(set, "");
    }
  }
  if (ctx.printer().format() == OutputFormat::kTable) {
    ctx.out() << SetMappingRequestTable(all).Render() << std::flush;
  }
  ctx.err() << "dry run: would call CatalogService.SetMapping "
            << requests.size()
            << " times with the requests above; nothing was sent\n";
}

// Sends every request and prints each mapping set. A failed call does not
// stop the others; the result is then the first failure, with a count.
absl::Status SetAcceptedMappings(
    CommandContext& ctx, const std::vector<v1::SetMappingRequest>& requests) {
  // Tables are printed once every call is done, so their columns align;
  // JSON and YAML print each result as it arrives.
  Table accepted(MappingHeaders());
  absl::Status first_error;
  int failed = 0;
  for (const v1::SetMappingRequest& set : requests) {
    v1::SetMappingResponse response;
    absl::Status status =
        CallCatalog(ctx, [&](Stub& stub, grpc::ClientContext* call) {
          return stub.SetMapping(call, set, &response);
        });
    if (!status.ok()) {
      // The other proposals are independent: accept them anyway, and fail
      // at the end so the exit code still tells.
      ++failed;
      if (first_error.ok()) {
        first_error = status;
      }
      ctx.err() << "mapping " << set.source_product_id() << " -> "
                << set.target_product_id() << " not set: "
                << GrpcCodeName(static_cast<grpc::StatusCode>(status.code()))
                << ": " << status.message() << "\n";
      continue;
    }
    if (ctx.printer().format() == OutputFormat::kTable) {
      accepted.AddRow(MappingCells(response.mapping()));
    } else {
      ctx.printer().PrintStreamItem(response, "");
    }
    SayWarnings(ctx, response);
  }
  if (accepted.rows() > 0) {
    ctx.out() << accepted.Render() << std::flush;
  }
  if (failed > 0) {
    return absl::Status(
        first_error.code(),
        absl::StrCat(failed, " of ", requests.size(),
                     " proposals could not be accepted; the first: ",
                     first_error.message()));
  }
  ctx.err() << "accepted " << requests.size() << " proposals\n";
  return absl::OkStatus();
}

absl::Status MappingsPropose(CommandContext& ctx) {
  bool accept = ctx.flags().GetBool("accept");
  TANDEM_ASSIGN_OR_RETURN(v1::ProposeMappingsRequest request,
                          ProposeRequest(ctx, accept));
  v1::ProposeMappingsResponse proposals;
  TANDEM_RETURN_IF_ERROR(
      CallCatalog(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.ProposeMappings(call, request, &proposals);
      }));
  PrintProposals(ctx, proposals, accept);
  if (!accept) {
    return absl::OkStatus();
  }
  std::vector<v1::SetMappingRequest> requests = AcceptRequests(ctx, proposals);
  if (requests.empty()) {
    ctx.err() << "no proposal for an unmapped source product: nothing to "
                 "accept\n";
    return absl::OkStatus();
  }
  if (ctx.printer().format() == OutputFormat::kTable) {
    ctx.out() << "\n";
  }
  if (DryRun(ctx)) {
    PrintAcceptDryRun(ctx, requests);
    return absl::OkStatus();
  }
  return SetAcceptedMappings(ctx, requests);
}

absl::Status MappingsSet(CommandContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(int64_t source, ParseId("source_id", ctx.args()[0]));
  TANDEM_ASSIGN_OR_RETURN(int64_t target, ParseId("target_id", ctx.args()[1]));
  TANDEM_ASSIGN_OR_RETURN(int64_t version, VersionFlag(ctx));
  v1::SetMappingRequest request;
  request.set_source_product_id(source);
  request.set_target_product_id(target);
  request.set_overuse_policy(v1::OVERUSE_POLICY_INHERIT);
  if (ctx.flags().Has("overuse")) {
    TANDEM_ASSIGN_OR_RETURN(v1::OverusePolicy overuse,
                            ParseEnum<v1::OverusePolicy>(
                                "overuse policy", ctx.flags().Get("overuse")));
    request.set_overuse_policy(overuse);
  }
  request.set_origin(v1::MAPPING_ORIGIN_MANUAL);
  request.set_expected_version(version);
  request.set_reason(ctx.flags().Get("reason"));
  request.set_request_id(RequestId(ctx));
  if (DryRun(ctx)) {
    ctx.printer().Print(request, SetMappingRequestTable({&request}));
    SayDryRun(ctx, "SetMapping");
    return absl::OkStatus();
  }
  v1::SetMappingResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallCatalog(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.SetMapping(call, request, &response);
      }));
  ctx.printer().Print(response, MappingTable(response.mapping()));
  SayWarnings(ctx, response);
  return absl::OkStatus();
}

absl::Status MappingsDelete(CommandContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(int64_t source, ParseId("source_id", ctx.args()[0]));
  TANDEM_ASSIGN_OR_RETURN(int64_t version, VersionFlag(ctx));
  if (version == 0) {
    return UsageError(
        "--expected_version must be the mapping's version (see `catalog "
        "mappings list`)");
  }
  v1::DeleteMappingRequest request;
  request.set_source_product_id(source);
  request.set_expected_version(version);
  request.set_reason(ctx.flags().Get("reason"));
  request.set_request_id(RequestId(ctx));
  if (DryRun(ctx)) {
    Table table({"SOURCE", "EXPECTED_VERSION", "REQUEST_ID", "REASON"});
    table.AddRow({absl::StrCat(source), absl::StrCat(version),
                  request.request_id(), OrDash(request.reason())});
    ctx.printer().Print(request, table);
    SayDryRun(ctx, "DeleteMapping");
    return absl::OkStatus();
  }
  v1::DeleteMappingResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallCatalog(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.DeleteMapping(call, request, &response);
      }));
  Table table({"SOURCE", "DELETED"});
  table.AddRow({absl::StrCat(source), "yes"});
  ctx.printer().Print(response, table);
  ctx.err() << "customers of source product " << source
            << " still on the source can no longer move until it is mapped "
               "again\n";
  return absl::OkStatus();
}

}  // namespace

void AddMappingCommands(CommandSet& commands) {
  commands.Add(
      CommandSpec({"catalog", "mappings", "list"},
                  "List mappings in source product id order.")
          .Description(
              "NOTES says what a mapping that is not clean does to "
              "customers. Prints one page (100 mappings unless --page_size); "
              "--all follows every page.")
          .Flags({{"not_clean", "",
                   "Only mappings that will not move every customer "
                   "cleanly."},
                  {"target_product_id", "ID",
                   "Only mappings onto this target product."},
                  {"origin", "manual|proposed|generated",
                   "Only mappings of this origin."},
                  PageSizeFlag(),
                  PageTokenFlag(),
                  AllFlag()})
          .Run(MappingsList));
  commands.Add(
      CommandSpec({"catalog", "mappings", "propose"},
                  "Suggest mappings by matching codes and/or names.")
          .Description(
              "Changes nothing unless --accept, which sets a mapping (origin "
              "proposed) for every proposal whose source product is "
              "unmapped, one SetMapping call each, and prints each result "
              "and its warnings. With --accept and -o json or yaml the "
              "output is a stream: the proposals, then each result.")
          .Flags({{"match_by", "code|name|code-then-name",
                   "How to match (default code-then-name)."},
                  {"accept", "", "Set the proposed mappings."},
                  ReasonFlag(),
                  {"request_id", "ID",
                   "With --accept: each call gets ID-<source_id>, so "
                   "retrying the command does not set anything twice. "
                   "Default: a fresh UUID per call."},
                  {"dry-run", "",
                   "With --accept: print the SetMapping requests, send "
                   "none."}})
          .Run(MappingsPropose));
  commands.Add(
      CommandSpec({"catalog", "mappings", "set"},
                  "Map a source product onto a target product.")
          .Args("<source_id> <target_id>", 2, 2)
          .Description(
              "Creates the mapping (--expected_version 0, the default) or "
              "replaces it (the version you read). What the mapping will "
              "do wrong to customers is printed as warnings.")
          .Flags({{"overuse", "inherit|allow|deny",
                   "May customers move with usage above a lowered limit "
                   "(default inherit: the settings' default)."},
                  {"expected_version", "V",
                   "The mapping version you read; 0 creates."},
                  ReasonFlag(),
                  RequestIdFlag(),
                  DryRunFlag()})
          .Run(MappingsSet));
  commands.Add(
      CommandSpec({"catalog", "mappings", "delete"},
                  "Remove the mapping of a source product.")
          .Args("<source_id>", 1, 1)
          .Description("Its customers still on the source can then not "
                       "move.")
          .Flags({FlagSpec("expected_version", "V",
                           "The mapping version you read.")
                      .Required(),
                  ReasonFlag(), RequestIdFlag(), DryRunFlag()})
          .Run(MappingsDelete));
}

}  // namespace tandem::cli::catalog_internal
