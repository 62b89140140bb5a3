// JSON for the testbed's HTTP APIs: a document tree read by nlohmann-json
// (its SAX interface, so that numbers keep their source text and money
// amounts such as 10.50 reach the caller exactly), and a compact writer that
// appends straight to a string with every string escaped.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tandem::testbed {

class JsonValue {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  JsonValue() = default;
  static JsonValue Null() { return JsonValue(); }

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  // For kBool.
  bool bool_value() const { return bool_; }
  // The text of a kNumber as written, or the value of a kString.
  const std::string& text() const { return text_; }
  // The elements of a kArray.
  const std::vector<JsonValue>& elements() const { return elements_; }
  // The members of a kObject, in document order. Duplicate names are
  // rejected by Parse.
  const std::vector<std::pair<std::string, JsonValue>>& members() const {
    return members_;
  }
  // The member called `name` of a kObject, or nullptr.
  const JsonValue* Find(absl::string_view name) const;

  // Parses one JSON document (RFC 8259) of at most 64 levels of nesting.
  // INVALID_ARGUMENT with the byte offset on any syntax error.
  static absl::StatusOr<JsonValue> Parse(absl::string_view text);

 private:
  friend class JsonParser;
  Type type_ = Type::kNull;
  bool bool_ = false;
  std::string text_;
  std::vector<JsonValue> elements_;
  std::vector<std::pair<std::string, JsonValue>> members_;
};

// Appends compact JSON to a string. The caller nests calls correctly
// (Begin/End pairs, Key before each object member); commas are automatic.
class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(absl::string_view key);
  JsonWriter& String(absl::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  // Key + value shorthands.
  JsonWriter& Field(absl::string_view key, absl::string_view value) {
    return Key(key).String(value);
  }
  JsonWriter& Field(absl::string_view key, const char* value) {
    return Key(key).String(value);
  }
  JsonWriter& Field(absl::string_view key, const std::string& value) {
    return Key(key).String(value);
  }
  JsonWriter& Field(absl::string_view key, int64_t value) {
    return Key(key).Int(value);
  }
  JsonWriter& Field(absl::string_view key, int value) {
    return Key(key).Int(value);
  }
  JsonWriter& Field(absl::string_view key, bool value) {
    return Key(key).Bool(value);
  }

  const std::string& str() const { return out_; }
  std::string Release() { return std::move(out_); }

 private:
  void Separate();
  std::string out_;
  // Whether the current container already holds an element.
  std::vector<bool> has_element_;
  bool after_key_ = false;
};

// Appends `value` as a quoted, escaped JSON string to `out`.
void AppendJsonString(std::string& out, absl::string_view value);

// {"error": message} — the body of every error response.
std::string JsonError(absl::string_view message);

}  // namespace tandem::testbed
