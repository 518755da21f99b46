#include "json.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace elir::json {

namespace {

const char* type_name(Value::Type t) {
  switch (t) {
    case Value::Type::Null: return "null";
    case Value::Type::Bool: return "a boolean";
    case Value::Type::Number: return "a number";
    case Value::Type::String: return "a string";
    case Value::Type::Array: return "an array";
    case Value::Type::Object: return "an object";
  }
  return "?";
}

[[noreturn]] void wrong_type(const std::string& what, const char* wanted, Value::Type got) {
  throw Error(what + " must be " + wanted + ", not " + type_name(got));
}

class Parser {
 public:
  explicit Parser(const std::string& s) : s_(s) {}

  Value parse_document() {
    Value v = parse_value(0);
    skip_ws();
    if (pos_ != s_.size()) fail("unexpected trailing content");
    return v;
  }

 private:
  const std::string& s_;
  size_t pos_ = 0;

  [[noreturn]] void fail(const std::string& msg) const {
    throw Error("invalid JSON: " + msg + " at offset " + std::to_string(pos_));
  }
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  bool consume(const char* lit) {
    size_t n = std::char_traits<char>::length(lit);
    if (s_.compare(pos_, n, lit) == 0) { pos_ += n; return true; }
    return false;
  }

  Value parse_value(int depth) {
    if (depth > 256) fail("nesting too deep");
    skip_ws();
    if (pos_ >= s_.size()) fail("unexpected end of input");
    char c = s_[pos_];
    if (c == '{') return parse_object(depth);
    if (c == '[') return parse_array(depth);
    if (c == '"') return Value(parse_string());
    if (consume("true")) return Value(true);
    if (consume("false")) return Value(false);
    if (consume("null")) return Value(nullptr);
    if (c == '-' || (c >= '0' && c <= '9')) return Value(parse_number());
    fail(std::string("unexpected character '") + c + "'");
  }

  Value parse_object(int depth) {
    Value obj = Value::object();
    ++pos_;  // {
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == '}') { ++pos_; return obj; }
    while (true) {
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != '"') fail("expected a string key");
      std::string key = parse_string();
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != ':') fail("expected ':'");
      ++pos_;
      obj.set(key, parse_value(depth + 1));
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ',') { ++pos_; continue; }
      if (pos_ < s_.size() && s_[pos_] == '}') { ++pos_; return obj; }
      fail("expected ',' or '}'");
    }
  }

  Value parse_array(int depth) {
    Value arr = Value::array();
    ++pos_;  // [
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == ']') { ++pos_; return arr; }
    while (true) {
      arr.push(parse_value(depth + 1));
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ',') { ++pos_; continue; }
      if (pos_ < s_.size() && s_[pos_] == ']') { ++pos_; return arr; }
      fail("expected ',' or ']'");
    }
  }

  unsigned hex4() {
    if (pos_ + 4 > s_.size()) fail("truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= unsigned(c - '0');
      else if (c >= 'a' && c <= 'f') v |= unsigned(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= unsigned(c - 'A' + 10);
      else fail("bad hex digit in \\u escape");
    }
    return v;
  }

  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }

  std::string parse_string() {
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (pos_ >= s_.size()) fail("unterminated string");
      char c = s_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
      if (c != '\\') { out += c; continue; }
      if (pos_ >= s_.size()) fail("unterminated escape");
      char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (!consume("\\u")) fail("unpaired high surrogate");
            unsigned lo = hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) fail("bad low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail("unpaired low surrogate");
          }
          append_utf8(out, cp);
          break;
        }
        default: fail(std::string("bad escape '\\") + e + "'");
      }
    }
  }

  double parse_number() {
    // Checked against the JSON grammar first; strtod then converts (the runner never calls setlocale, so the
    // decimal point is '.').
    size_t start = pos_;
    auto digits = [&] {
      size_t d = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      return pos_ - d;
    };
    if (s_[pos_] == '-') ++pos_;
    if (pos_ < s_.size() && s_[pos_] == '0') {
      ++pos_;
    } else if (digits() == 0) {
      fail("bad number");
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      if (digits() == 0) fail("bad number: digits expected after '.'");
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (digits() == 0) fail("bad number: digits expected in exponent");
    }
    std::string text = s_.substr(start, pos_ - start);
    double d = std::strtod(text.c_str(), nullptr);
    if (!std::isfinite(d)) fail("number out of range");
    return d;
  }
};

void write_string(std::string& out, const std::string& s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

void write_number(std::string& out, double d) {
  if (!std::isfinite(d)) { out += "null"; return; }
  char buf[32];
  if (d == std::floor(d) && std::fabs(d) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", d);
  } else {
    // Shortest of %.15g / %.17g that reads back exactly.
    std::snprintf(buf, sizeof buf, "%.15g", d);
    if (std::strtod(buf, nullptr) != d) std::snprintf(buf, sizeof buf, "%.17g", d);
  }
  out += buf;
}

void write(std::string& out, const Value& v, int indent) {
  std::string pad(static_cast<size_t>(indent + 2), ' ');
  std::string close_pad(static_cast<size_t>(indent), ' ');
  switch (v.type()) {
    case Value::Type::Null: out += "null"; break;
    case Value::Type::Bool: out += v.as_bool() ? "true" : "false"; break;
    case Value::Type::Number: write_number(out, v.as_number()); break;
    case Value::Type::String: write_string(out, v.as_string()); break;
    case Value::Type::Array: {
      const auto& a = v.as_array();
      if (a.empty()) { out += "[]"; break; }
      // Arrays of plain numbers (timing samples) stay on one line.
      bool flat = true;
      for (const auto& x : a) flat = flat && x.is_number();
      if (flat) {
        out += '[';
        for (size_t i = 0; i < a.size(); ++i) {
          if (i) out += ", ";
          write_number(out, a[i].as_number());
        }
        out += ']';
        break;
      }
      out += "[\n";
      for (size_t i = 0; i < a.size(); ++i) {
        out += pad;
        write(out, a[i], indent + 2);
        out += i + 1 < a.size() ? ",\n" : "\n";
      }
      out += close_pad + "]";
      break;
    }
    case Value::Type::Object: {
      const auto& m = v.members();
      if (m.empty()) { out += "{}"; break; }
      out += "{\n";
      for (size_t i = 0; i < m.size(); ++i) {
        out += pad;
        write_string(out, m[i].first);
        out += ": ";
        write(out, m[i].second, indent + 2);
        out += i + 1 < m.size() ? ",\n" : "\n";
      }
      out += close_pad + "}";
      break;
    }
  }
}

}  // namespace

bool Value::as_bool(const std::string& what) const {
  if (type_ != Type::Bool) wrong_type(what, "a boolean", type_);
  return bool_;
}
double Value::as_number(const std::string& what) const {
  if (type_ != Type::Number) wrong_type(what, "a number", type_);
  return number_;
}
int64_t Value::as_integer(const std::string& what) const {
  double d = as_number(what);
  if (d != std::floor(d) || std::fabs(d) > 9007199254740992.0) throw Error(what + " must be an integer");
  return static_cast<int64_t>(d);
}
const std::string& Value::as_string(const std::string& what) const {
  if (type_ != Type::String) wrong_type(what, "a string", type_);
  return string_;
}
const std::vector<Value>& Value::as_array(const std::string& what) const {
  if (type_ != Type::Array) wrong_type(what, "an array", type_);
  return array_;
}
const std::vector<std::pair<std::string, Value>>& Value::members(const std::string& what) const {
  if (type_ != Type::Object) wrong_type(what, "an object", type_);
  return object_;
}
const Value* Value::find(const std::string& key) const {
  if (type_ != Type::Object) return nullptr;
  for (const auto& kv : object_)
    if (kv.first == key) return &kv.second;
  return nullptr;
}
Value& Value::set(const std::string& key, Value v) {
  if (type_ != Type::Object) wrong_type("set(" + key + ")", "an object", type_);
  for (auto& kv : object_)
    if (kv.first == key) return kv.second = std::move(v);
  object_.emplace_back(key, std::move(v));
  return object_.back().second;
}
Value& Value::push(Value v) {
  if (type_ != Type::Array) wrong_type("push", "an array", type_);
  array_.push_back(std::move(v));
  return array_.back();
}

Value parse(const std::string& text) { return Parser(text).parse_document(); }

std::string dump(const Value& v) {
  std::string out;
  write(out, v, 0);
  out += '\n';
  return out;
}

}  // namespace elir::json
