#include "card.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace elir {

namespace {

using nlohmann::json;

struct FieldError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Typed access that names the field ("artifact.sha256") in its error; nlohmann's own messages do not.
const json& field(const json& obj, const std::string& key, const std::string& where) {
  const auto it = obj.find(key);
  if (it == obj.end()) throw FieldError(where + key + " is missing");
  return *it;
}

const json& object(const json& obj, const std::string& key, const std::string& where) {
  const json& v = field(obj, key, where);
  if (!v.is_object()) throw FieldError(where + key + " must be an object");
  return v;
}

std::string text(const json& obj, const std::string& key, const std::string& where) {
  const json& v = field(obj, key, where);
  if (!v.is_string()) throw FieldError(where + key + " must be a string");
  return v.get<std::string>();
}

int64_t integer(const json& v, const std::string& what) {
  if (!v.is_number_integer()) throw FieldError(what + " must be an integer");
  return v.get<int64_t>();
}

double number(const json& obj, const std::string& key, const std::string& where) {
  const json& v = field(obj, key, where);
  if (!v.is_number()) throw FieldError(where + key + " must be a number");
  return v.get<double>();
}

std::string dir_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

VectorSpec vector_spec(const json& v, const std::string& where, const std::string& dir) {
  VectorSpec s;
  const std::string file = text(v, "file", where);
  if (file.empty() || file.find('/') != std::string::npos)
    throw FieldError(where + "file must be a plain file name beside the card");
  s.path = dir + "/" + file;
  const json& shape = field(v, "shape", where);
  if (!shape.is_array() || shape.empty()) throw FieldError(where + "shape must be a non-empty array");
  for (const json& d : shape) {
    const int64_t n = integer(d, where + "shape[]");
    if (n <= 0) throw FieldError(where + "shape has a non-positive dimension");
    s.shape.push_back(n);
  }
  return s;
}

}  // namespace

size_t VectorSpec::count() const {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

Card read_card(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot read model card " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string name = base_of(path);
  json root;
  try {
    root = json::parse(ss.str());
  } catch (const json::parse_error& e) {
    throw std::runtime_error(name + ": not JSON (" + e.what() + ")");
  }
  try {
    if (!root.is_object()) throw FieldError("the card must be a JSON object");
    const int64_t version = integer(field(root, "schema_version", ""), "schema_version");
    if (version != kCardSchemaVersion)
      throw FieldError("card schema_version " + std::to_string(version) + ", elir_bench reads " +
                       std::to_string(kCardSchemaVersion) + " (re-export the artifact with this repository's exporter)");
    Card c;
    c.card_file = name;
    c.task = text(root, "task", "");
    c.noise_mode = text(root, "noise_mode", "");
    c.image_size = integer(field(root, "image_size", ""), "image_size");
    c.K = integer(field(root, "K", ""), "K");

    const std::string a = "artifact.";
    const json& art = object(root, "artifact", "");
    c.artifact_file = text(art, "file", a);
    c.format = text(art, "format", a);
    c.backend = text(art, "backend", a);
    c.precision = text(art, "precision", a);
    c.sha256 = text(art, "sha256", a);
    c.size_bytes = integer(field(art, "size_bytes", a), a + "size_bytes");
    if (const json& comp = field(art, "compression", a); !comp.is_null()) c.compression = text(art, "compression", a);

    c.gate_db = number(object(root, "parity", ""), "gate_db", "parity.");

    const json& placement = object(root, "placement", "");
    if (text(placement, "measure", "placement.") == "delegated_mac_share") {
      if (const json& share = field(placement, "share", "placement."); !share.is_null())
        c.delegated_mac_share = number(placement, "share", "placement.");
    }

    const std::string r = "reference_vectors.";
    const json& rv = object(root, "reference_vectors", "");
    if (text(rv, "dtype", r) != "float32" || text(rv, "byte_order", r) != "little")
      throw FieldError("reference vectors must be little-endian float32");
    const std::string dir = dir_of(path);
    const json& ins = field(rv, "inputs", r);
    if (!ins.is_array() || ins.empty()) throw FieldError(r + "inputs must be a non-empty array");
    for (size_t i = 0; i < ins.size(); ++i)
      c.inputs.push_back(vector_spec(ins[i], r + "inputs[" + std::to_string(i) + "].", dir));
    c.output = vector_spec(object(rv, "output", r), r + "output.", dir);
    return c;
  } catch (const FieldError& e) {
    throw std::runtime_error(name + ": " + e.what());
  }
}

}  // namespace elir
