// How tandemctl prints data: aligned tables for people, JSON and YAML for
// scripts. Data goes to stdout only; messages for people go to stderr and
// never through these functions.
#pragma once

#include <google/protobuf/message.h>

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tandem::cli {

enum class OutputFormat { kTable, kJson, kYaml };

// Parses "table", "json" or "yaml" (case-insensitive); anything else is
// INVALID_ARGUMENT naming the accepted values.
absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view name);

// Returns `message` as proto3 JSON with the .proto field names (snake_case),
// every scalar and repeated field printed even when it has its default value
// (so scripts can rely on keys being there), enums by name and 64-bit
// integers as strings, as the proto3 JSON mapping says. `pretty` indents it
// over several lines; otherwise it is one line. Never ends with a newline.
std::string ToJson(const google::protobuf::Message& message, bool pretty);

// Returns `message` as a YAML block mapping with the same keys and presence
// rules as ToJson, but integers as YAML numbers. google.protobuf.Struct,
// Value and ListValue print as the mappings, scalars and lists they hold.
// Strings are quoted only where YAML would misread them. Ends with a newline.
std::string ToYaml(const google::protobuf::Message& message);

// Returns `value` as a YAML scalar: plain when YAML reads it back as the same
// string, double-quoted (JSON escapes) otherwise.
std::string YamlString(absl::string_view value);

// A table with a header row; columns are left-aligned and separated by three
// spaces, like kubectl's.
class Table {
 public:
  explicit Table(std::vector<std::string> headers);

  // Adds a row; it must have as many cells as there are headers.
  void AddRow(std::vector<std::string> cells);

  size_t rows() const { return rows_.size(); }

  // The header and every row, each line ending in a newline. The last column
  // is not padded, so lines carry no trailing spaces.
  std::string Render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// Prints one result in the format the user chose.
class Printer {
 public:
  Printer(OutputFormat format, std::ostream& out)
      : format_(format), out_(out) {}

  OutputFormat format() const { return format_; }

  // Prints `message` as pretty JSON or YAML, or `table` in table format.
  void Print(const google::protobuf::Message& message,
             const Table& table) const;

  // Prints one item of a stream and flushes: `message` as one line of JSON
  // or as a YAML document starting with "---", or `table_line` in table
  // format.
  void PrintStreamItem(const google::protobuf::Message& message,
                       absl::string_view table_line) const;

 private:
  OutputFormat format_;
  std::ostream& out_;
};

}  // namespace tandem::cli
