#include "card.h"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "json.h"

namespace elir {

namespace {

const json::Value& field(const json::Value& obj, const std::string& key, const std::string& where) {
  const json::Value* v = obj.find(key);
  if (!v) throw json::Error(where + key + " is missing");
  return *v;
}

std::string dir_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

VectorSpec vector_spec(const json::Value& v, const std::string& where, const std::string& dir) {
  VectorSpec s;
  const std::string& file = field(v, "file", where).as_string(where + "file");
  if (file.empty() || file.find('/') != std::string::npos)
    throw json::Error(where + "file must be a plain file name beside the card");
  s.path = dir + "/" + file;
  for (const auto& d : field(v, "shape", where).as_array(where + "shape")) {
    const int64_t n = d.as_integer(where + "shape[]");
    if (n <= 0) throw json::Error(where + "shape has a non-positive dimension");
    s.shape.push_back(n);
  }
  if (s.shape.empty()) throw json::Error(where + "shape is empty");
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
  try {
    const json::Value root = json::parse(ss.str());
    Card c;
    c.card_file = name;
    const std::string top;
    c.task = field(root, "task", top).as_string("task");
    c.noise_mode = field(root, "noise_mode", top).as_string("noise_mode");
    c.image_size = field(root, "image_size", top).as_integer("image_size");
    c.K = field(root, "K", top).as_integer("K");

    const json::Value& art = field(root, "artifact", top);
    const std::string a = "artifact.";
    c.artifact_file = field(art, "file", a).as_string(a + "file");
    c.format = field(art, "format", a).as_string(a + "format");
    c.backend = field(art, "backend", a).as_string(a + "backend");
    c.precision = field(art, "precision", a).as_string(a + "precision");
    c.sha256 = field(art, "sha256", a).as_string(a + "sha256");
    c.size_bytes = field(art, "size_bytes", a).as_integer(a + "size_bytes");
    if (const json::Value* comp = art.find("compression"); comp && !comp->is_null())
      c.compression = comp->as_string(a + "compression");

    const json::Value& parity = field(root, "parity", top);
    c.gate_db = field(parity, "gate_db", "parity.").as_number("parity.gate_db");

    const json::Value& placement = field(root, "placement", top);
    if (const json::Value* share = placement.find("share"); share && share->is_number())
      c.delegated_mac_share = share->as_number();

    const json::Value& rv = field(root, "reference_vectors", top);
    const std::string r = "reference_vectors.";
    if (field(rv, "dtype", r).as_string(r + "dtype") != "float32" ||
        field(rv, "byte_order", r).as_string(r + "byte_order") != "little")
      throw json::Error("reference vectors must be little-endian float32");
    const std::string dir = dir_of(path);
    const auto& ins = field(rv, "inputs", r).as_array(r + "inputs");
    if (ins.empty()) throw json::Error(r + "inputs is empty");
    for (size_t i = 0; i < ins.size(); ++i)
      c.inputs.push_back(vector_spec(ins[i], r + "inputs[" + std::to_string(i) + "].", dir));
    c.output = vector_spec(field(rv, "output", r), r + "output.", dir);
    return c;
  } catch (const json::Error& e) {
    throw std::runtime_error(name + ": " + e.what());
  }
}

}  // namespace elir
