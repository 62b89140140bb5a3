#include "cli/output.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "yaml-cpp/yaml.h"

namespace tandem::cli {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

void EmitMessage(YAML::Emitter& out, const Message& message);
void EmitValue(YAML::Emitter& out, const google::protobuf::Value& value);

void EmitString(YAML::Emitter& out, absl::string_view value);

void EmitNumber(YAML::Emitter& out, double value) {
  if (std::isfinite(value) && value == std::trunc(value) &&
      std::fabs(value) < 9.007199254740992e15) {
    out << static_cast<int64_t>(value);
    return;
  }
  out << value;  // yaml-cpp writes .nan, .inf and -.inf as YAML does
}

void EmitStruct(YAML::Emitter& out, const google::protobuf::Struct& s) {
  if (s.fields().empty()) {
    out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
    return;
  }
  // Map order is unspecified; sort for stable output.
  std::vector<std::string> keys;
  for (const auto& [key, unused] : s.fields()) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  out << YAML::BeginMap;
  for (const std::string& key : keys) {
    out << YAML::Key;
    EmitString(out, key);
    out << YAML::Value;
    EmitValue(out, s.fields().at(key));
  }
  out << YAML::EndMap;
}

void EmitList(YAML::Emitter& out, const google::protobuf::ListValue& list) {
  if (list.values().empty()) out << YAML::Flow;
  out << YAML::BeginSeq;
  for (const google::protobuf::Value& item : list.values()) {
    EmitValue(out, item);
  }
  out << YAML::EndSeq;
}

void EmitValue(YAML::Emitter& out, const google::protobuf::Value& value) {
  switch (value.kind_case()) {
    case google::protobuf::Value::kNumberValue:
      EmitNumber(out, value.number_value());
      return;
    case google::protobuf::Value::kStringValue:
      EmitString(out, value.string_value());
      return;
    case google::protobuf::Value::kBoolValue:
      out << value.bool_value();
      return;
    case google::protobuf::Value::kStructValue:
      EmitStruct(out, value.struct_value());
      return;
    case google::protobuf::Value::kListValue:
      EmitList(out, value.list_value());
      return;
    default:
      out << YAML::Null;
  }
}

// One scalar element of `field` (index < 0: the singular value).
void EmitScalar(YAML::Emitter& out, const Message& message,
                const FieldDescriptor* field, int index) {
  const Reflection* r = message.GetReflection();
  bool repeated = index >= 0;
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      out << (repeated ? r->GetRepeatedInt32(message, field, index)
                       : r->GetInt32(message, field));
      return;
    case FieldDescriptor::CPPTYPE_INT64:
      out << (repeated ? r->GetRepeatedInt64(message, field, index)
                       : r->GetInt64(message, field));
      return;
    case FieldDescriptor::CPPTYPE_UINT32:
      out << (repeated ? r->GetRepeatedUInt32(message, field, index)
                       : r->GetUInt32(message, field));
      return;
    case FieldDescriptor::CPPTYPE_UINT64:
      out << (repeated ? r->GetRepeatedUInt64(message, field, index)
                       : r->GetUInt64(message, field));
      return;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      EmitNumber(out, repeated ? r->GetRepeatedDouble(message, field, index)
                               : r->GetDouble(message, field));
      return;
    case FieldDescriptor::CPPTYPE_FLOAT:
      EmitNumber(out, repeated ? r->GetRepeatedFloat(message, field, index)
                               : r->GetFloat(message, field));
      return;
    case FieldDescriptor::CPPTYPE_BOOL:
      out << (repeated ? r->GetRepeatedBool(message, field, index)
                       : r->GetBool(message, field));
      return;
    case FieldDescriptor::CPPTYPE_ENUM: {
      int number = repeated ? r->GetRepeatedEnumValue(message, field, index)
                            : r->GetEnumValue(message, field);
      const auto* value = field->enum_type()->FindValueByNumber(number);
      if (value != nullptr) {
        out << value->name();
      } else {
        out << number;
      }
      return;
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string text = repeated ? r->GetRepeatedString(message, field, index)
                                  : r->GetString(message, field);
      EmitString(out, field->type() == FieldDescriptor::TYPE_BYTES
                          ? absl::Base64Escape(text)
                          : text);
      return;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  out << YAML::Null;
}

void EmitMessage(YAML::Emitter& out, const Message& message) {
  const Descriptor* d = message.GetDescriptor();
  if (d->full_name() == "google.protobuf.Struct") {
    google::protobuf::Struct s;
    s.CopyFrom(message);
    EmitStruct(out, s);
    return;
  }
  if (d->full_name() == "google.protobuf.ListValue") {
    google::protobuf::ListValue list;
    list.CopyFrom(message);
    EmitList(out, list);
    return;
  }
  if (d->full_name() == "google.protobuf.Value") {
    google::protobuf::Value value;
    value.CopyFrom(message);
    EmitValue(out, value);
    return;
  }
  const Reflection* r = message.GetReflection();
  // Like ToJson: unset messages and unset oneof members are left out.
  auto present = [&](const FieldDescriptor* field) {
    return field->is_repeated() ||
           !((field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE ||
              field->containing_oneof() != nullptr) &&
             !r->HasField(message, field));
  };
  bool any = false;
  for (int i = 0; i < d->field_count(); ++i) any = any || present(d->field(i));
  if (!any) {
    out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
    return;
  }
  out << YAML::BeginMap;
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* field = d->field(i);
    if (!present(field)) continue;
    const bool is_message =
        field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE;
    out << YAML::Key << field->name() << YAML::Value;
    if (field->is_repeated()) {
      const int size = r->FieldSize(message, field);
      if (size == 0) out << YAML::Flow;
      out << YAML::BeginSeq;
      for (int j = 0; j < size; ++j) {
        if (is_message) {
          EmitMessage(out, r->GetRepeatedMessage(message, field, j));
        } else {
          EmitScalar(out, message, field, j);
        }
      }
      out << YAML::EndSeq;
    } else if (is_message) {
      EmitMessage(out, r->GetMessage(message, field));
    } else {
      EmitScalar(out, message, field, -1);
    }
  }
  out << YAML::EndMap;
}

bool LooksLikeYamlNonString(absl::string_view value) {
  std::string lower = absl::AsciiStrToLower(value);
  for (absl::string_view word :
       {"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
        ".nan", ".inf", "-.inf", "+.inf"}) {
    if (lower == word) {
      return true;
    }
  }
  double number = 0;
  if (absl::SimpleAtod(value, &number)) {
    return true;
  }
  // Octal, hexadecimal and sexagesimal-looking numbers, dates and times.
  return !value.empty() &&
         (absl::ascii_isdigit(value.front()) ||
          ((value.front() == '-' || value.front() == '+' ||
            value.front() == '.') &&
           value.size() > 1 && absl::ascii_isdigit(value[1])));
}

// yaml-cpp writes a plain scalar wherever YAML's grammar allows one, but
// not every such scalar reads back as a string (`123`, `yes`, `0x1f`): those
// are forced into double quotes.
bool NeedsQuotes(absl::string_view value) {
  if (value.empty() || LooksLikeYamlNonString(value) ||
      absl::StrContains(value, ": ") || absl::StrContains(value, " #") ||
      value.back() == ' ' || value.back() == ':' ||
      absl::StrContains("-?:,[]{}#&*!|>'\"%@` \t", value.front())) {
    return true;
  }
  for (char c : value) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  }
  return false;
}

void EmitString(YAML::Emitter& out, absl::string_view value) {
  if (NeedsQuotes(value)) out << YAML::DoubleQuoted;
  out << std::string(value);
}

}  // namespace

absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view name) {
  std::string lower = absl::AsciiStrToLower(name);
  if (lower == "table") {
    return OutputFormat::kTable;
  }
  if (lower == "json") {
    return OutputFormat::kJson;
  }
  if (lower == "yaml") {
    return OutputFormat::kYaml;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown output format `", name, "`; want table, json or yaml"));
}

std::string ToJson(const Message& message, bool pretty) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = pretty;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  // Printing a valid message with its own descriptor pool cannot fail.
  auto status =
      google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::StrCat("{\"error\": ", YamlString(status.ToString()), "}");
  }
  while (!json.empty() && json.back() == '\n') {
    json.pop_back();
  }
  return json;
}

std::string ToYaml(const Message& message) {
  YAML::Emitter out;
  out.SetIndent(2);
  out.SetDoublePrecision(17);
  EmitMessage(out, message);
  return absl::StrCat(out.c_str(), "\n");
}

std::string YamlString(absl::string_view value) {
  YAML::Emitter out;
  EmitString(out, value);
  return out.c_str();
}

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::Render() const {
  std::vector<size_t> widths(headers_.size(), 0);
  auto measure = [&widths](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  };
  measure(headers_);
  for (const auto& row : rows_) {
    measure(row);
  }
  std::string out;
  auto render = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size(); ++i) {
      out += row[i];
      if (i + 1 < row.size()) {
        out.append(widths[i] - row[i].size() + 3, ' ');
      }
    }
    out += '\n';
  };
  render(headers_);
  for (const auto& row : rows_) {
    render(row);
  }
  return out;
}

void Printer::Print(const Message& message, const Table& table) const {
  switch (format_) {
    case OutputFormat::kTable:
      out_ << table.Render();
      break;
    case OutputFormat::kJson:
      out_ << ToJson(message, /*pretty=*/true) << "\n";
      break;
    case OutputFormat::kYaml:
      out_ << ToYaml(message);
      break;
  }
  out_.flush();
}

void Printer::PrintStreamItem(const Message& message,
                              absl::string_view table_line) const {
  switch (format_) {
    case OutputFormat::kTable:
      out_ << table_line << "\n";
      break;
    case OutputFormat::kJson:
      out_ << ToJson(message, /*pretty=*/false) << "\n";
      break;
    case OutputFormat::kYaml:
      out_ << "---\n" << ToYaml(message);
      break;
  }
  out_.flush();
}

}  // namespace tandem::cli
