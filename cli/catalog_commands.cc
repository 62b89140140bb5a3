#include "cli/catalog_commands.h"

#include "cli/catalog_helpers.h"

namespace tandem::cli {

namespace catalog_v1 = ::tandem::catalog::v1;

absl::StatusOr<catalog_v1::FreezeState> ParseFreezeState(
    absl::string_view name) {
  return catalog_internal::ParseEnum<catalog_v1::FreezeState>("freeze state",
                                                              name);
}

std::string FreezeStateLabel(catalog_v1::FreezeState state) {
  return catalog_internal::Label(state);
}

void AddCatalogCommands(CommandSet& commands) {
  commands.AddGroup({"catalog"},
                    "The catalog: the freeze, products of both systems, "
                    "mappings between them, and move plans.");
  commands.AddGroup({"catalog", "freeze"},
                    "The catalog freeze: open -> frozen -> "
                    "frozen-target-open -> lifted.");
  commands.AddGroup({"catalog", "products"},
                    "Products of both billing systems, as the catalog holds "
                    "them.");
  commands.AddGroup({"catalog", "mappings"},
                    "Which target product each source product's customers "
                    "move to.");
  commands.AddGroup({"catalog", "settings"}, "Catalog-wide settings.");

  catalog_internal::AddFreezeCommands(commands);
  catalog_internal::AddProductCommands(commands);
  catalog_internal::AddMappingCommands(commands);
  catalog_internal::AddGenerateCommand(commands);
  catalog_internal::AddSettingsCommands(commands);
  catalog_internal::AddPlanCommand(commands);
}

}  // namespace tandem::cli
