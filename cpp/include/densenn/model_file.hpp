// densenn's native model file (.dnn): the one reader and writer, used by the
// Python package and by the embedded runtime. The layout is documented in
// docs/model-format.md. Reading validates every size against the file's
// length before allocating and never executes anything from the file.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "densenn/layers.hpp"

namespace densenn {

// Any problem with a model file: unreadable, truncated, corrupted, a version
// or layer this build does not know, sizes that do not add up.
class ModelFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

constexpr std::uint32_t kModelFileVersion = 1;

enum class FileKind : std::uint32_t { model = 1, weights = 2 };
enum class DType : std::uint32_t { float32 = 1, float64 = 2 };

inline std::size_t dtype_size(DType t) { return t == DType::float64 ? 8 : 4; }

// A named array of `count` little-endian elements of the file's dtype. When
// writing, `data` points to the caller's memory; after reading, into
// ModelFile::storage.
struct Tensor {
  std::string name;
  std::uint64_t count = 0;
  const void* data = nullptr;
};

struct ModelFile {
  ModelFile() = default;
  ModelFile(ModelFile&&) = default;
  ModelFile& operator=(ModelFile&&) = default;
  ModelFile(const ModelFile&) = delete;  // tensors point into storage
  ModelFile& operator=(const ModelFile&) = delete;

  std::uint32_t version = kModelFileVersion;
  FileKind kind = FileKind::model;
  DType dtype = DType::float32;
  long input_dim = 0;
  std::vector<LayerConfig> layers;
  std::string json;  // the Python front's description (architecture, compile config); opaque here
  bool has_training_state = false;
  std::uint64_t iterations = 0;
  std::vector<std::uint64_t> rng_state;
  std::vector<Tensor> tensors;  // "params", "state", optionally "optimizer_state"
  std::vector<unsigned char> storage;

  const Tensor* find(const std::string& name) const {
    for (const Tensor& t : tensors)
      if (t.name == name) return &t;
    return nullptr;
  }
};

// Limits a reader enforces (a file beyond them is refused, never allocated for).
struct ModelFileLimits {
  static constexpr std::uint32_t max_string = 4096;
  static constexpr std::uint32_t max_layers = 100000;
  static constexpr std::uint32_t max_entries = 256;  // options / choices per layer
  static constexpr std::uint32_t max_tensors = 64;
  static constexpr std::uint32_t max_rng_words = 4 * 100002;
  static constexpr long max_width = kMaxWidth;  // input width, units: the C API's int sizes
};

// For tests of atomic saving: simulate an I/O error (throw) or a crash
// (abort the process) once this many bytes of the temporary file are written.
struct WriteFaults {
  std::uint64_t fail_after_bytes = UINT64_MAX;
  bool crash = false;
  bool unchecked = false;  // write a file that loading refuses (tests' crafted files); else refused up front
};

// Refuses (ModelFileError) a file that check_architecture would refuse on loading. Writes atomically: a temporary file next to `path`, fsync, rename over
// `path` (and fsync of the directory). A failure leaves the old file intact
// and no temporary file behind (a crash may leave one, named
// `<path>.tmp-*`, but never a partial `path`). Throws ModelFileError.
void write_model_file(const std::string& path, const ModelFile& file, const WriteFaults& faults = {});

// The file's bytes, as write_model_file would write them.
std::vector<unsigned char> encode_model_file(const ModelFile& file);

// Reads and validates; throws ModelFileError with a message naming the problem.
ModelFile read_model_file(const std::string& path);
ModelFile decode_model_file(std::vector<unsigned char> bytes);

// CRC-32 (IEEE 802.3, as zlib's crc32), continuing from `crc` (0 to start).
std::uint32_t crc32(const void* data, std::size_t size, std::uint32_t crc = 0);

// Checks that the layers build, for inputs of width input_dim, a network
// whose parameters and state have exactly the tensors' sizes (computed
// without overflow, before anything of that size is allocated); throws
// ModelFileError otherwise. Returns {parameter count, state count}.
std::pair<std::uint64_t, std::uint64_t> check_architecture(const ModelFile& file);

}  // namespace densenn
