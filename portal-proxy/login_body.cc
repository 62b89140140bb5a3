#include "portal-proxy/login_body.h"

#include <cstdint>
#include <vector>

#include "absl/strings/match.h"

namespace tandem::proxy {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The billing system's form decoding: '+' is a space, %XX a byte; false
// for a malformed escape.
bool FormDecode(std::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '+') {
      out->push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int high = HexValue(in[i + 1]);
      const int low = HexValue(in[i + 2]);
      if (high < 0 || low < 0) return false;
      out->push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else {
      out->push_back(c);
    }
  }
  return true;
}

LoginBody FromForm(std::string_view body, std::string_view field,
                   std::string* login) {
  std::string key;
  std::string value;
  bool found = false;
  while (!body.empty()) {
    const size_t amp = body.find('&');
    std::string_view part = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view()
                                         : body.substr(amp + 1);
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    std::string_view raw_value =
        eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
    // Every pair is decoded: one malformed escape fails the whole form.
    if (!FormDecode(part.substr(0, eq), &key) ||
        !FormDecode(raw_value, &value)) {
      return LoginBody::kMalformed;
    }
    if (!found && key == field) {
      *login = value;
      found = true;
    }
  }
  return found ? LoginBody::kFound : LoginBody::kAbsent;
}

// A strict RFC 8259 reader that keeps only the top-level object's string
// members named `field_`.
class JsonLogin {
 public:
  JsonLogin(std::string_view text, std::string_view field)
      : text_(text), field_(field) {}

  LoginBody Read(std::string* login) {
    SkipSpace();
    if (pos_ >= text_.size() || text_[pos_] != '{')
      return LoginBody::kMalformed;
    if (!Value(0)) return LoginBody::kMalformed;
    SkipSpace();
    if (pos_ != text_.size()) return LoginBody::kMalformed;
    if (field_kind_ == kNotString) return LoginBody::kMalformed;
    if (field_kind_ == kAbsentField) return LoginBody::kAbsent;
    *login = std::move(login_);
    return LoginBody::kFound;
  }

 private:
  enum FieldKind { kAbsentField, kString, kNotString };

  void SkipSpace() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
            text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool Literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  bool Digits() {
    const size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      ++pos_;
    }
    return pos_ > start;
  }

  bool Number() {
    if (text_[pos_] == '-') ++pos_;
    if (pos_ < text_.size() && text_[pos_] == '0') {
      ++pos_;
    } else if (!Digits()) {
      return false;
    }
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (!Digits()) return false;
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) {
        ++pos_;
      }
      if (!Digits()) return false;
    }
    return true;
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  bool Hex4(uint32_t* value) {
    if (pos_ + 4 > text_.size()) return false;
    *value = 0;
    for (int i = 0; i < 4; ++i) {
      const int digit = HexValue(text_[pos_++]);
      if (digit < 0) return false;
      *value = *value << 4 | static_cast<uint32_t>(digit);
    }
    return true;
  }

  bool Escape(std::string* out) {
    if (pos_ >= text_.size()) return false;
    const char e = text_[pos_++];
    static constexpr std::string_view kFrom = "\"\\/bfnrt";
    static constexpr std::string_view kTo = "\"\\/\b\f\n\r\t";
    if (size_t at = kFrom.find(e); at != std::string_view::npos) {
      out->push_back(kTo[at]);
      return true;
    }
    if (e != 'u') return false;
    uint32_t cp = 0;
    if (!Hex4(&cp)) return false;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      uint32_t low = 0;
      if (text_.substr(pos_, 2) != "\\u") return false;
      pos_ += 2;
      if (!Hex4(&low) || low < 0xDC00 || low > 0xDFFF) return false;
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
      return false;
    }
    AppendUtf8(cp, out);
    return true;
  }

  bool String(std::string* out) {
    ++pos_;  // the opening quote
    out->clear();
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        out->push_back(c);
      } else if (!Escape(out)) {
        return false;
      }
    }
    return false;
  }

  bool Object(int depth) {
    ++pos_;
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
      return true;
    }
    std::vector<std::string> names;
    for (;;) {
      SkipSpace();
      std::string name;
      if (pos_ >= text_.size() || text_[pos_] != '"' || !String(&name)) {
        return false;
      }
      for (const std::string& seen : names) {
        if (seen == name) return false;  // duplicate member name
      }
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != ':') return false;
      ++pos_;
      SkipSpace();
      const bool wanted = depth == 0 && name == field_;
      if (wanted && pos_ < text_.size() && text_[pos_] == '"') {
        if (!String(&login_)) return false;
        field_kind_ = kString;
      } else {
        if (wanted) field_kind_ = kNotString;
        if (!Value(depth + 1)) return false;
      }
      names.push_back(std::move(name));
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == '}') {
        ++pos_;
        return true;
      }
      return false;
    }
  }

  bool Array(int depth) {
    ++pos_;
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == ']') {
      ++pos_;
      return true;
    }
    for (;;) {
      if (!Value(depth + 1)) return false;
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == ']') {
        ++pos_;
        return true;
      }
      return false;
    }
  }

  // `depth` counts the enclosing containers (the top-level object is 0).
  bool Value(int depth) {
    if (depth > 64) return false;
    SkipSpace();
    if (pos_ >= text_.size()) return false;
    switch (text_[pos_]) {
      case 'n':
        return Literal("null");
      case 't':
        return Literal("true");
      case 'f':
        return Literal("false");
      case '"': {
        std::string ignored;
        return String(&ignored);
      }
      case '[':
        return Array(depth);
      case '{':
        return Object(depth);
      default: {
        const char c = text_[pos_];
        return (c == '-' || (c >= '0' && c <= '9')) && Number();
      }
    }
  }

  std::string_view text_;
  std::string_view field_;
  size_t pos_ = 0;
  FieldKind field_kind_ = kAbsentField;
  std::string login_;
};

}  // namespace

LoginBody ExtractLogin(std::string_view content_type, std::string_view body,
                       std::string_view field, std::string* login) {
  const absl::string_view type(content_type.data(), content_type.size());
  if (absl::StartsWithIgnoreCase(type, "application/json")) {
    return JsonLogin(body, field).Read(login);
  }
  if (absl::StartsWithIgnoreCase(type, "application/x-www-form-urlencoded")) {
    return FromForm(body, field, login);
  }
  return LoginBody::kAbsent;
}

}  // namespace tandem::proxy
