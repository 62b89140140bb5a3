// Checks a mapping against the two live schemas before any customer moves:
// every table and column it names exists, every column of every table it
// writes is filled (by an entry, a default of the entry or of the schema),
// types are compatible with the conversions, keys can be built, and the id
// ranges leave room for target-native rows.
#pragma once

#include <string>
#include <vector>

#include "migrator/mapping/live_schema.h"
#include "migrator/mapping/mapping.h"

namespace tandem::migrator {

struct SchemaIssue {
  bool error = true;  // false: a warning
  std::string location;
  std::string table;
  std::string column;
  std::string message;
};

// Returns every problem found, errors first. `schemas` is indexed by
// SchemaSide (0 = source, 1 = target). A mapping with no error may be used.
std::vector<SchemaIssue> CheckMapping(const Mapping& mapping,
                                      const LiveSchema* const schemas[2]);

// True when `issues` holds an error.
bool HasErrors(const std::vector<SchemaIssue>& issues);

}  // namespace tandem::migrator
