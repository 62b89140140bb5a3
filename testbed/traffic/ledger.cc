#include "testbed/traffic/ledger.h"

#include <optional>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "testbed/base/json.h"

namespace tandem::testbed {

const char* WriteKindName(WriteKind kind) {
  switch (kind) {
    case WriteKind::kXdr:
      return "xdr";
    case WriteKind::kAdjust:
      return "adjust";
    case WriteKind::kTopUp:
      return "topup";
    case WriteKind::kUsage:
      return "usage";
    case WriteKind::kSettings:
      return "settings";
  }
  return "?";
}

std::string LedgerLine(const LedgerStart& s) {
  JsonWriter w;
  w.BeginObject()
      .Field("kind", "start")
      .Field("time", s.time)
      .Field("source_max_xdr_id", s.source_max_xdr_id)
      .Field("source_max_transaction_id", s.source_max_transaction_id)
      .Field("target_max_xdr_id", s.target_max_xdr_id)
      .Field("target_max_transaction_id", s.target_max_transaction_id)
      .EndObject();
  return w.Release();
}

std::string LedgerLine(const LedgerEntry& e) {
  JsonWriter w;
  w.BeginObject()
      .Field("kind", WriteKindName(e.kind))
      .Field("seq", e.seq)
      .Field("system", e.on_target ? "target" : "source")
      .Field("blind", e.blind)
      .Field("customer_id", e.customer_id)
      .Field("route_version", e.route_version)
      .Field("attempts", e.attempts);
  if (e.kind != WriteKind::kAdjust) {
    w.Key("account_id");
    if (e.account_id) {
      w.Int(*e.account_id);
    } else {
      w.Null();
    }
  }
  switch (e.kind) {
    case WriteKind::kXdr:
      w.Field("xdr_id", e.xdr_id)
          .Field("connect_time", e.connect_time)
          .Field("duration_ms", e.duration_ms)
          .Field("charged_micros", e.charged_micros)
          .Field("cli", e.cli)
          .Field("cld", e.cld);
      break;
    case WriteKind::kUsage:
      w.Field("subscription_id", e.subscription_id)
          .Field("resource_type", e.resource_type)
          .Field("delta", e.delta)
          .Field("used_after", e.used_after);
      break;
    case WriteKind::kSettings:
      w.Field("setting", e.setting).Key("value");
      if (e.value) {
        w.String(*e.value);
      } else {
        w.Null();
      }
      break;
    default:
      break;
  }
  if (e.has_transaction()) {
    w.Field("transaction_id", e.transaction_id)
        .Field("amount_micros", e.amount_micros)
        .Field("tx_type", e.tx_type)
        .Field("tx_time", e.tx_time);
  }
  w.EndObject();
  return w.Release();
}

namespace {

// Typed access to one line's members, collecting the first problem.
class Fields {
 public:
  explicit Fields(const JsonValue& v) : v_(v) {}

  std::string Str(const char* name) {
    const JsonValue* f = v_.Find(name);
    if (f == nullptr || !f->is_string()) {
      Fail(name, "a string");
      return "";
    }
    return f->text();
  }
  int64_t Int(const char* name) {
    const JsonValue* f = v_.Find(name);
    int64_t n = 0;
    if (f == nullptr || !f->is_number() || !absl::SimpleAtoi(f->text(), &n)) {
      Fail(name, "an integer");
    }
    return n;
  }
  bool Bool(const char* name) {
    const JsonValue* f = v_.Find(name);
    if (f == nullptr || !f->is_bool()) {
      Fail(name, "true or false");
      return false;
    }
    return f->bool_value();
  }
  // An integer or null.
  std::optional<int64_t> OptionalInt(const char* name) {
    const JsonValue* f = v_.Find(name);
    if (f != nullptr && f->is_null()) return std::nullopt;
    return Int(name);
  }
  // A string or null.
  std::optional<std::string> OptionalStr(const char* name) {
    const JsonValue* f = v_.Find(name);
    if (f != nullptr && f->is_null()) return std::nullopt;
    return Str(name);
  }

  const std::string& problem() const { return problem_; }

 private:
  void Fail(const char* name, const char* what) {
    if (problem_.empty()) {
      problem_ = absl::StrCat("\"", name, "\" must be ", what);
    }
  }
  const JsonValue& v_;
  std::string problem_;
};

// The write kind a ledger line's "kind" names; none for "start" or an
// unknown name.
std::optional<WriteKind> WriteKindNamed(const std::string& kind) {
  if (kind == "xdr") return WriteKind::kXdr;
  if (kind == "adjust") return WriteKind::kAdjust;
  if (kind == "topup") return WriteKind::kTopUp;
  if (kind == "usage") return WriteKind::kUsage;
  if (kind == "settings") return WriteKind::kSettings;
  return std::nullopt;
}

// Reads the fields only `e`'s kind has; returns what is wrong with them,
// empty when nothing is (a missing field is left to f.problem()).
std::string ReadKindFields(Fields& f, LedgerEntry& e) {
  switch (e.kind) {
    case WriteKind::kXdr:
      e.xdr_id = f.Int("xdr_id");
      e.connect_time = f.Str("connect_time");
      e.duration_ms = f.Int("duration_ms");
      e.charged_micros = f.Int("charged_micros");
      e.cli = f.Str("cli");
      e.cld = f.Str("cld");
      if (!e.account_id && f.problem().empty()) {
        return "an xdr needs \"account_id\"";
      }
      break;
    case WriteKind::kUsage:
      e.subscription_id = f.Int("subscription_id");
      e.resource_type = f.Str("resource_type");
      e.delta = f.Int("delta");
      e.used_after = f.Int("used_after");
      break;
    case WriteKind::kSettings:
      e.setting = f.Str("setting");
      e.value = f.OptionalStr("value");
      if (!e.account_id && f.problem().empty()) {
        return "a settings edit needs \"account_id\"";
      }
      break;
    default:
      break;
  }
  return "";
}

}  // namespace

absl::StatusOr<LedgerLineValue> ParseLedgerLine(const std::string& text,
                                                int line_number) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("ledger line ", line_number, ": ", why));
  };
  absl::StatusOr<JsonValue> v = JsonValue::Parse(text);
  if (!v.ok() || !v->is_object()) return bad("not a JSON object");
  Fields f(*v);
  const std::string kind = f.Str("kind");
  LedgerLineValue out;
  if (kind == "start") {
    LedgerStart s;
    s.time = f.Str("time");
    s.source_max_xdr_id = f.Int("source_max_xdr_id");
    s.source_max_transaction_id = f.Int("source_max_transaction_id");
    s.target_max_xdr_id = f.Int("target_max_xdr_id");
    s.target_max_transaction_id = f.Int("target_max_transaction_id");
    if (!f.problem().empty()) return bad(f.problem());
    out.start = s;
    return out;
  }
  LedgerEntry e;
  std::optional<WriteKind> write_kind = WriteKindNamed(kind);
  if (!write_kind.has_value()) {
    return bad(absl::StrCat("unknown kind '", kind, "'"));
  }
  e.kind = *write_kind;
  e.seq = f.Int("seq");
  const std::string system = f.Str("system");
  if (system != "source" && system != "target" && f.problem().empty()) {
    return bad("\"system\" must be \"source\" or \"target\"");
  }
  e.on_target = system == "target";
  e.blind = f.Bool("blind");
  e.customer_id = f.Int("customer_id");
  e.route_version = f.Int("route_version");
  e.attempts = static_cast<int>(f.Int("attempts"));
  if (e.kind != WriteKind::kAdjust) e.account_id = f.OptionalInt("account_id");
  if (std::string wrong = ReadKindFields(f, e); !wrong.empty()) {
    return bad(wrong);
  }
  if (e.has_transaction()) {
    e.transaction_id = f.Int("transaction_id");
    e.amount_micros = f.Int("amount_micros");
    e.tx_type = f.Str("tx_type");
    e.tx_time = f.Str("tx_time");
  }
  if (!f.problem().empty()) return bad(f.problem());
  out.entry = std::move(e);
  return out;
}

}  // namespace tandem::testbed
