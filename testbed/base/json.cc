#include "testbed/base/json.h"

#include <cstdio>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace tandem::testbed {

const JsonValue* JsonValue::Find(absl::string_view name) const {
  for (const auto& [key, value] : members_) {
    if (key == name) return &value;
  }
  return nullptr;
}

// Builds a JsonValue from nlohmann-json's SAX events. SAX rather than
// nlohmann::json itself because the number events carry the number's source
// text, so money such as 10.50 stays exactly as written.
class JsonParser {
 public:
  using Json = nlohmann::json;
  static constexpr size_t kMaxDepth = 64;

  bool null() { return Put(JsonValue()); }
  bool boolean(bool value) {
    JsonValue v;
    v.type_ = JsonValue::Type::kBool;
    v.bool_ = value;
    return Put(std::move(v));
  }
  bool number_integer(Json::number_integer_t value) {
    return Number(absl::StrCat(value));
  }
  bool number_unsigned(Json::number_unsigned_t value) {
    return Number(absl::StrCat(value));
  }
  bool number_float(Json::number_float_t, const Json::string_t& text) {
    return Number(text);
  }
  bool string(Json::string_t& value) {
    JsonValue v;
    v.type_ = JsonValue::Type::kString;
    v.text_ = std::move(value);
    return Put(std::move(v));
  }
  bool binary(Json::binary_t&) { return Fail("binary value"); }
  bool start_object(size_t) {
    JsonValue v;
    v.type_ = JsonValue::Type::kObject;
    return Open(std::move(v));
  }
  bool key(Json::string_t& name) {
    if (!names_.back().insert(name).second) {
      return Fail(absl::StrCat("duplicate member name \"", name, "\""));
    }
    key_ = std::move(name);
    return true;
  }
  bool end_object() { return Close(); }
  bool start_array(size_t) {
    JsonValue v;
    v.type_ = JsonValue::Type::kArray;
    return Open(std::move(v));
  }
  bool end_array() { return Close(); }
  bool parse_error(size_t position, const std::string&,
                   const nlohmann::detail::exception& e) {
    error_ = absl::StrCat("malformed JSON at byte ", position, ": ", e.what());
    return false;
  }

  absl::StatusOr<JsonValue> Parse(absl::string_view text) {
    const bool ok = Json::sax_parse(text.begin(), text.end(), this);
    if (!ok || !done_) {
      return absl::InvalidArgumentError(
          error_.empty() ? std::string("malformed JSON") : error_);
    }
    return std::move(root_);
  }

 private:
  bool Fail(absl::string_view why) {
    error_ = absl::StrCat("malformed JSON: ", why);
    return false;
  }
  bool Number(std::string text) {
    JsonValue v;
    v.type_ = JsonValue::Type::kNumber;
    v.text_ = std::move(text);
    return Put(std::move(v));
  }
  // Places `v` in the open container (or as the document), returning where.
  JsonValue* Place(JsonValue v) {
    if (open_.empty()) {
      root_ = std::move(v);
      done_ = true;
      return &root_;
    }
    JsonValue& parent = *open_.back();
    if (parent.type_ == JsonValue::Type::kObject) {
      parent.members_.emplace_back(std::move(key_), std::move(v));
      return &parent.members_.back().second;
    }
    parent.elements_.push_back(std::move(v));
    return &parent.elements_.back();
  }
  bool Put(JsonValue v) {
    Place(std::move(v));
    return true;
  }
  // A container's children are all placed before its next sibling, so the
  // pointers on open_ stay valid while they are there.
  bool Open(JsonValue v) {
    if (open_.size() >= kMaxDepth) return Fail("nesting too deep");
    open_.push_back(Place(std::move(v)));
    names_.emplace_back();
    done_ = false;
    return true;
  }
  bool Close() {
    open_.pop_back();
    names_.pop_back();
    done_ = open_.empty();
    return true;
  }

  JsonValue root_;
  bool done_ = false;
  std::vector<JsonValue*> open_;
  std::vector<absl::flat_hash_set<std::string>> names_;
  std::string key_;
  std::string error_;
};

absl::StatusOr<JsonValue> JsonValue::Parse(absl::string_view text) {
  return JsonParser().Parse(text);
}

void AppendJsonString(std::string& out, absl::string_view value) {
  out.push_back('"');
  for (char c : value) {
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out.append(buf);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

void JsonWriter::Separate() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!has_element_.empty()) {
    if (has_element_.back()) out_.push_back(',');
    has_element_.back() = true;
  }
}

JsonWriter& JsonWriter::BeginObject() {
  Separate();
  out_.push_back('{');
  has_element_.push_back(false);
  return *this;
}

JsonWriter& JsonWriter::EndObject() {
  out_.push_back('}');
  has_element_.pop_back();
  return *this;
}

JsonWriter& JsonWriter::BeginArray() {
  Separate();
  out_.push_back('[');
  has_element_.push_back(false);
  return *this;
}

JsonWriter& JsonWriter::EndArray() {
  out_.push_back(']');
  has_element_.pop_back();
  return *this;
}

JsonWriter& JsonWriter::Key(absl::string_view key) {
  Separate();
  AppendJsonString(out_, key);
  out_.push_back(':');
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::String(absl::string_view value) {
  Separate();
  AppendJsonString(out_, value);
  return *this;
}

JsonWriter& JsonWriter::Int(int64_t value) {
  Separate();
  absl::StrAppend(&out_, value);
  return *this;
}

JsonWriter& JsonWriter::Bool(bool value) {
  Separate();
  out_.append(value ? "true" : "false");
  return *this;
}

JsonWriter& JsonWriter::Null() {
  Separate();
  out_.append("null");
  return *this;
}

std::string JsonError(absl::string_view message) {
  JsonWriter w;
  w.BeginObject().Field("error", message).EndObject();
  return w.Release();
}

}  // namespace tandem::testbed
