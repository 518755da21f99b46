// Minimal JSON value, strict RFC 8259 parser and writer: enough to read a model card and write a record,
// with no third-party dependency (the runner has to cross-build for Android with nothing but the NDK).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace elir::json {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Value {
 public:
  enum class Type { Null, Bool, Number, String, Array, Object };

  Value() = default;
  Value(std::nullptr_t) {}
  Value(bool b) : type_(Type::Bool), bool_(b) {}
  Value(double d) : type_(Type::Number), number_(d) {}
  Value(int i) : type_(Type::Number), number_(i) {}
  Value(unsigned int i) : type_(Type::Number), number_(i) {}
  Value(long i) : type_(Type::Number), number_(static_cast<double>(i)) {}
  Value(long long i) : type_(Type::Number), number_(static_cast<double>(i)) {}
  Value(unsigned long i) : type_(Type::Number), number_(static_cast<double>(i)) {}
  Value(unsigned long long i) : type_(Type::Number), number_(static_cast<double>(i)) {}
  Value(const char* s) : type_(Type::String), string_(s) {}
  Value(std::string s) : type_(Type::String), string_(std::move(s)) {}

  static Value array() { Value v; v.type_ = Type::Array; return v; }
  static Value object() { Value v; v.type_ = Type::Object; return v; }

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::Null; }
  bool is_number() const { return type_ == Type::Number; }
  bool is_string() const { return type_ == Type::String; }
  bool is_array() const { return type_ == Type::Array; }
  bool is_object() const { return type_ == Type::Object; }

  // Typed access; `what` names the value in the error message ("card: artifact.sha256").
  bool as_bool(const std::string& what = "value") const;
  double as_number(const std::string& what = "value") const;
  int64_t as_integer(const std::string& what = "value") const;  // a number with no fractional part
  const std::string& as_string(const std::string& what = "value") const;
  const std::vector<Value>& as_array(const std::string& what = "value") const;
  const std::vector<std::pair<std::string, Value>>& members(const std::string& what = "value") const;

  // Objects keep insertion order (records read in the order they were written).
  const Value* find(const std::string& key) const;  // nullptr when absent or not an object
  Value& set(const std::string& key, Value v);      // replaces an existing key
  Value& push(Value v);                             // arrays

 private:
  Type type_ = Type::Null;
  bool bool_ = false;
  double number_ = 0.0;
  std::string string_;
  std::vector<Value> array_;
  std::vector<std::pair<std::string, Value>> object_;
};

// Throws Error("... at offset N") on any syntax error, trailing content, or nesting deeper than 256.
Value parse(const std::string& text);
// Pretty-printed with two-space indent; non-finite numbers are written as null.
std::string dump(const Value& v);

}  // namespace elir::json
