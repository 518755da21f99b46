// The model-card fields a harness needs (export/card.schema.json, schema_version 2), read strictly: a missing or
// mistyped field, or another schema version, is a clear error naming it, never a default.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace elir {

constexpr int kCardSchemaVersion = 2;

struct VectorSpec {
  std::string path;  // resolved beside the card
  std::vector<int64_t> shape;
  size_t count() const;
};

struct Card {
  std::string card_file;  // base name of the card
  std::string task, noise_mode, artifact_file, format, backend, precision, sha256;
  std::optional<std::string> compression;
  int64_t size_bytes = 0, image_size = 0, K = 0;
  double gate_db = 0;
  std::optional<double> delegated_mac_share;  // placement.share where placement.measure is delegated_mac_share
  std::vector<VectorSpec> inputs;
  VectorSpec output;
};

// Throws std::runtime_error("<card>: <field> ...") on unreadable JSON or a missing/mistyped field.
Card read_card(const std::string& path);

}  // namespace elir
