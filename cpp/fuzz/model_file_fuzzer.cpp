// libFuzzer target: densenn's model-file reader and the embedded runtime
// (docs/reliability.md, "Fuzzing model files"; cpp/fuzz/run.sh builds and runs it).
//
// Each input is a candidate .dnn file. It goes (1) through the reader from
// memory (decode_model_file + check_architecture), where anything but a
// ModelFileError with a message is a finding, and (2) through the C ABI from a
// file (dn_model_load, then dn_model_predict on a few rows, dn_model_free),
// where NULL must come with a message and a loaded model must predict.
// Crashes, sanitizer reports, timeouts and allocations over -malloc_limit_mb
// are libFuzzer's own findings.
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "densenn/c_api.h"
#include "densenn/model_file.hpp"

namespace {

void finding(const char* what, const char* detail) {
  std::fprintf(stderr, "model_file_fuzzer: %s: %s\n", what, detail);
  std::abort();
}

// The model file that dn_model_load reads: an in-memory file, rewritten for each input.
const std::string& file_path() {
  static const std::string path = [] {
    const int fd = memfd_create("model.dnn", 0);
    if (fd < 0) finding("memfd_create failed", std::strerror(errno));
    return "/proc/self/fd/" + std::to_string(fd);
  }();
  return path;
}

void write_file(const std::uint8_t* data, std::size_t size) {
  const int fd = std::atoi(file_path().c_str() + std::strlen("/proc/self/fd/"));
  if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != ssize_t(size)))
    finding("cannot write the model file", std::strerror(errno));
}

void put_u64(std::uint8_t* p, std::uint64_t v) { std::memcpy(p, &v, 8); }

}  // namespace

// libFuzzer's mutations, then (mostly) the header's file size and the trailer
// (checksum, end marker) made valid again: otherwise nearly every mutant would
// stop at the size or checksum check and the parser behind them would go
// unexplored. Every 16th mutant keeps its damage, for those checks.
extern "C" std::size_t LLVMFuzzerMutate(std::uint8_t* data, std::size_t size, std::size_t max_size);

extern "C" std::size_t LLVMFuzzerCustomMutator(std::uint8_t* data, std::size_t size, std::size_t max_size,
                                               unsigned int seed) {
  size = LLVMFuzzerMutate(data, size, max_size);
  if (seed % 16 == 0) return size;
  if (size >= 32 && seed % 16 != 1) put_u64(data + 24, size);
  if (size >= 8) {
    const std::uint32_t crc = densenn::crc32(data, size - 8), end = 0x454e4e44;  // "DNNE"
    std::memcpy(data + size - 8, &crc, 4);
    std::memcpy(data + size - 4, &end, 4);
  }
  return size;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // (1) The reader, from memory: a clean ModelFileError or a consistent file.
  try {
    densenn::ModelFile file = densenn::decode_model_file(std::vector<unsigned char>(data, data + size));
    densenn::check_architecture(file);
  } catch (const densenn::ModelFileError& e) {
    if (!*e.what()) finding("a ModelFileError without a message", "");
  } catch (const std::exception& e) {
    finding("an exception other than ModelFileError", e.what());
  }

  // (2) The embedded runtime, through the C ABI.
  write_file(data, size);
  dn_model* model = dn_model_load(file_path().c_str());
  if (!model) {
    if (!*dn_last_error()) finding("dn_model_load returned NULL without a message", "");
    return 0;
  }
  const int n_in = dn_model_input_size(model), n_out = dn_model_output_size(model);
  if (n_in < 1 || n_out < 1) finding("a loaded model has no inputs or outputs", std::to_string(n_in).c_str());
  constexpr int rows = 3;
  if (long(n_in) * rows <= (1L << 20) && long(n_out) * rows <= (1L << 20)) {  // skip what only a huge input could test
    std::vector<float> x(std::size_t(n_in) * rows), y(std::size_t(n_out) * rows);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(int(i % 7) - 3) * 0.5f;
    if (dn_model_predict(model, x.data(), rows, y.data()) != 0) finding("dn_model_predict failed", dn_last_error());
  }
  dn_model_free(model);
  return 0;
}
