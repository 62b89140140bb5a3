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
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace tandem::cli {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Lines of YAML without their parent's indentation.
using Lines = std::vector<std::string>;

Lines YamlMessageLines(const Message& message);
Lines YamlValueLines(const google::protobuf::Value& value, bool* inline_ok);

std::string YamlNumber(double value) {
  if (std::isfinite(value) && value == std::trunc(value) &&
      std::fabs(value) < 9.007199254740992e15) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  if (std::isnan(value)) {
    return ".nan";
  }
  if (std::isinf(value)) {
    return value > 0 ? ".inf" : "-.inf";
  }
  return absl::StrFormat("%.17g", value);
}

// Appends `key: <lines>` to `out`: on one line when the value is a scalar,
// otherwise the key alone and the value indented below it.
void AppendKeyed(absl::string_view key, const Lines& value, bool is_inline,
                 Lines* out) {
  if (is_inline) {
    out->push_back(absl::StrCat(key, ": ", value.front()));
    return;
  }
  out->push_back(absl::StrCat(key, ":"));
  for (const std::string& line : value) {
    out->push_back(absl::StrCat("  ", line));
  }
}

// Appends one list item: "- " before its first line, two spaces before the
// others.
void AppendItem(const Lines& value, Lines* out) {
  for (size_t i = 0; i < value.size(); ++i) {
    out->push_back(absl::StrCat(i == 0 ? "- " : "  ", value[i]));
  }
}

Lines YamlStructLines(const google::protobuf::Struct& s) {
  // Map order is unspecified; sort for stable output.
  std::vector<std::string> keys;
  for (const auto& [key, unused] : s.fields()) {
    keys.push_back(key);
  }
  std::sort(keys.begin(), keys.end());
  Lines out;
  for (const std::string& key : keys) {
    bool is_inline = false;
    Lines value = YamlValueLines(s.fields().at(key), &is_inline);
    AppendKeyed(YamlString(key), value, is_inline, &out);
  }
  if (out.empty()) {
    out.push_back("{}");
  }
  return out;
}

Lines YamlValueLines(const google::protobuf::Value& value, bool* inline_ok) {
  *inline_ok = true;
  switch (value.kind_case()) {
    case google::protobuf::Value::kNumberValue:
      return {YamlNumber(value.number_value())};
    case google::protobuf::Value::kStringValue:
      return {YamlString(value.string_value())};
    case google::protobuf::Value::kBoolValue:
      return {value.bool_value() ? "true" : "false"};
    case google::protobuf::Value::kStructValue:
      if (value.struct_value().fields().empty()) {
        return {"{}"};
      }
      *inline_ok = false;
      return YamlStructLines(value.struct_value());
    case google::protobuf::Value::kListValue: {
      if (value.list_value().values().empty()) {
        return {"[]"};
      }
      *inline_ok = false;
      Lines out;
      for (const google::protobuf::Value& item : value.list_value().values()) {
        bool unused = false;
        AppendItem(YamlValueLines(item, &unused), &out);
      }
      return out;
    }
    default:
      return {"null"};
  }
}

// One scalar element of `field` (index < 0: the singular value).
std::string YamlScalar(const Message& message, const FieldDescriptor* field,
                       int index) {
  const Reflection* r = message.GetReflection();
  bool repeated = index >= 0;
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(repeated ? r->GetRepeatedInt32(message, field, index)
                                   : r->GetInt32(message, field));
    case FieldDescriptor::CPPTYPE_INT64:
      return absl::StrCat(repeated ? r->GetRepeatedInt64(message, field, index)
                                   : r->GetInt64(message, field));
    case FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat(repeated ? r->GetRepeatedUInt32(message, field, index)
                                   : r->GetUInt32(message, field));
    case FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat(repeated ? r->GetRepeatedUInt64(message, field, index)
                                   : r->GetUInt64(message, field));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return YamlNumber(repeated ? r->GetRepeatedDouble(message, field, index)
                                 : r->GetDouble(message, field));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return YamlNumber(repeated ? r->GetRepeatedFloat(message, field, index)
                                 : r->GetFloat(message, field));
    case FieldDescriptor::CPPTYPE_BOOL:
      return (repeated ? r->GetRepeatedBool(message, field, index)
                       : r->GetBool(message, field))
                 ? "true"
                 : "false";
    case FieldDescriptor::CPPTYPE_ENUM: {
      int number = repeated ? r->GetRepeatedEnumValue(message, field, index)
                            : r->GetEnumValue(message, field);
      const auto* value = field->enum_type()->FindValueByNumber(number);
      return value != nullptr ? value->name() : absl::StrCat(number);
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string text = repeated ? r->GetRepeatedString(message, field, index)
                                  : r->GetString(message, field);
      if (field->type() == FieldDescriptor::TYPE_BYTES) {
        return YamlString(absl::Base64Escape(text));
      }
      return YamlString(text);
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  return "null";
}

// The lines of a message-typed value, and whether they fit after "key: ".
Lines YamlNestedLines(const Message& message, bool* is_inline) {
  const Descriptor* d = message.GetDescriptor();
  if (d->full_name() == "google.protobuf.Value") {
    google::protobuf::Value value;
    value.CopyFrom(message);
    return YamlValueLines(value, is_inline);
  }
  Lines lines = YamlMessageLines(message);
  *is_inline = lines.size() == 1 && lines.front() == "{}";
  return lines;
}

Lines YamlMessageLines(const Message& message) {
  const Descriptor* d = message.GetDescriptor();
  if (d->full_name() == "google.protobuf.Struct") {
    google::protobuf::Struct s;
    s.CopyFrom(message);
    return YamlStructLines(s);
  }
  if (d->full_name() == "google.protobuf.ListValue") {
    google::protobuf::Value value;
    value.mutable_list_value()->CopyFrom(message);
    bool unused = false;
    return YamlValueLines(value, &unused);
  }
  const Reflection* r = message.GetReflection();
  Lines out;
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* field = d->field(i);
    bool is_message = field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE;
    if (field->is_repeated()) {
      int size = r->FieldSize(message, field);
      if (size == 0) {
        out.push_back(absl::StrCat(field->name(), ": []"));
        continue;
      }
      Lines items;
      for (int j = 0; j < size; ++j) {
        if (is_message) {
          bool unused = false;
          AppendItem(YamlNestedLines(r->GetRepeatedMessage(message, field, j),
                                     &unused),
                     &items);
        } else {
          items.push_back(absl::StrCat("- ", YamlScalar(message, field, j)));
        }
      }
      AppendKeyed(field->name(), items, false, &out);
      continue;
    }
    // Like ToJson: unset messages and unset oneof members are left out.
    if ((is_message || field->containing_oneof() != nullptr) &&
        !r->HasField(message, field)) {
      continue;
    }
    if (is_message) {
      bool is_inline = false;
      Lines value = YamlNestedLines(r->GetMessage(message, field), &is_inline);
      AppendKeyed(field->name(), value, is_inline, &out);
    } else {
      out.push_back(
          absl::StrCat(field->name(), ": ", YamlScalar(message, field, -1)));
    }
  }
  if (out.empty()) {
    out.push_back("{}");
  }
  return out;
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
  return absl::StrCat(absl::StrJoin(YamlMessageLines(message), "\n"), "\n");
}

std::string YamlString(absl::string_view value) {
  bool quote = value.empty() || LooksLikeYamlNonString(value) ||
               absl::StrContains(value, ": ") ||
               absl::StrContains(value, " #") || value.back() == ' ' ||
               value.back() == ':' ||
               absl::StrContains("-?:,[]{}#&*!|>'\"%@` \t", value.front());
  for (char c : value) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      quote = true;
    }
  }
  if (!quote) {
    return std::string(value);
  }
  // YAML's double-quoted escapes: C's simple ones and \xNN; UTF-8 passes.
  std::string out = "\"";
  for (char c : value) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          absl::StrAppendFormat(&out, "\\x%02x", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
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
