#include "densenn/model_file.hpp"

#include "densenn/interrupt.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <set>

namespace densenn {
namespace {

// "\x89DNN\r\n\x1a\n": a non-ASCII first byte, and CR LF / ^Z / LF to catch
// text-mode transfers (as PNG's signature).
const unsigned char kMagic[8] = {0x89, 'D', 'N', 'N', '\r', '\n', 0x1a, '\n'};
constexpr std::uint32_t kEndMagic = 0x454e4e44;  // "DNNE" little-endian
constexpr std::size_t kHeaderSize = 64, kTrailerSize = 8, kAlign = 64;
constexpr std::uint32_t kFlagTraining = 1;
// Reads, writes and checksums go in blocks of this size, with an interruption point (Ctrl-C) between them.
constexpr std::size_t kIoChunk = std::size_t(64) << 20;

bool little_endian_host() {
  const std::uint32_t one = 1;
  unsigned char b;
  std::memcpy(&b, &one, 1);
  return b == 1;
}

void require_little_endian() {
  if (!little_endian_host())
    throw ModelFileError("densenn model files are little-endian; this big-endian host is not supported.");
}

std::uint64_t align_up(std::uint64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// ---------------------------------------------------------------- CRC-32
struct CrcTables {
  std::uint32_t t[8][256];
  CrcTables() {
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[0][i] = c;
    }
    for (std::uint32_t i = 0; i < 256; ++i)
      for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
  }
};

const CrcTables& crc_tables() {
  static const CrcTables tables;
  return tables;
}

// ---------------------------------------------------------------- encoding
class Encoder {
 public:
  void u8(std::uint8_t v) { bytes_.push_back(v); }
  void u32(std::uint32_t v) { raw(&v, 4); }
  void u64(std::uint64_t v) { raw(&v, 8); }
  void f64(double v) { raw(&v, 8); }
  void str(const std::string& s, const char* what) {
    if (s.size() > ModelFileLimits::max_string)
      throw ModelFileError(std::string(what) + " is longer than " + std::to_string(ModelFileLimits::max_string) +
                           " bytes.");
    u32(std::uint32_t(s.size()));
    raw(s.data(), s.size());
  }
  void raw(const void* p, std::size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    bytes_.insert(bytes_.end(), b, b + n);
  }
  void pad_to(std::size_t n) { bytes_.resize(n, 0); }
  std::vector<unsigned char>& bytes() { return bytes_; }

 private:
  std::vector<unsigned char> bytes_;
};

// Everything before the first tensor (header, layer table, JSON, training
// state, tensor directory), padded to 64, plus each tensor's offset.
struct Layout {
  std::vector<unsigned char> head;
  std::vector<std::uint64_t> offsets;
  std::uint64_t file_size = 0;
};

Layout layout(const ModelFile& f) {
  require_little_endian();
  if (f.tensors.size() > ModelFileLimits::max_tensors) throw ModelFileError("too many tensors.");
  if (f.layers.size() > ModelFileLimits::max_layers) throw ModelFileError("too many layers.");
  if (f.rng_state.size() > ModelFileLimits::max_rng_words) throw ModelFileError("random state too large.");
  const std::size_t esize = dtype_size(f.dtype);
  Encoder e;
  e.raw(kMagic, 8);
  e.u32(kModelFileVersion);
  e.u32(std::uint32_t(f.kind));
  e.u32(std::uint32_t(f.dtype));
  e.u32(f.has_training_state ? kFlagTraining : 0);
  e.u64(0);  // file size, patched below
  e.u64(std::uint64_t(f.input_dim));
  e.u32(std::uint32_t(f.layers.size()));
  e.u32(std::uint32_t(f.tensors.size()));
  e.u64(f.json.size());
  e.u64(0);
  for (const LayerConfig& c : f.layers) {
    e.str(c.type, "layer type");
    e.u64(std::uint64_t(c.units));
    e.str(c.activation, "activation");
    e.u8(c.use_bias ? 1 : 0);
    if (c.options.size() > ModelFileLimits::max_entries || c.choices.size() > ModelFileLimits::max_entries)
      throw ModelFileError("a layer has too many options.");
    e.u32(std::uint32_t(c.options.size()));
    for (const auto& [k, v] : c.options) {
      e.str(k, "option name");
      e.f64(v);
    }
    e.u32(std::uint32_t(c.choices.size()));
    for (const auto& [k, v] : c.choices) {
      e.str(k, "option name");
      e.str(v, "option value");
    }
  }
  e.raw(f.json.data(), f.json.size());
  if (f.has_training_state) {
    e.u64(f.iterations);
    e.u32(std::uint32_t(f.rng_state.size()));
    for (std::uint64_t w : f.rng_state) e.u64(w);
  }
  // Directory: names, then offsets known once its own size is.
  std::size_t dir_size = 0;
  for (const Tensor& t : f.tensors) dir_size += 4 + t.name.size() + 16;
  std::uint64_t at = align_up(e.bytes().size() + dir_size);
  Layout out;
  for (const Tensor& t : f.tensors) {
    e.str(t.name, "tensor name");
    e.u64(at);
    e.u64(t.count);
    out.offsets.push_back(at);
    at = align_up(at + t.count * esize);
  }
  e.pad_to(align_up(e.bytes().size()));
  out.file_size = at + kTrailerSize;
  std::memcpy(e.bytes().data() + 24, &out.file_size, 8);
  out.head = std::move(e.bytes());
  return out;
}

// Streams the file to `sink`, returning its CRC.
void emit(const ModelFile& f, const std::function<void(const void*, std::size_t)>& sink) {
  const Layout l = layout(f);
  const std::size_t esize = dtype_size(f.dtype);
  std::uint32_t crc = crc32(l.head.data(), l.head.size());
  sink(l.head.data(), l.head.size());
  std::uint64_t pos = l.head.size();
  static const unsigned char zeros[kAlign] = {};
  for (std::size_t i = 0; i < f.tensors.size(); ++i) {
    const Tensor& t = f.tensors[i];
    if (t.count && !t.data) throw ModelFileError("tensor '" + t.name + "' has no data.");
    const std::size_t n = std::size_t(t.count * esize);
    crc = crc32(t.data, n, crc);
    sink(t.data, n);
    pos += n;
    const std::size_t pad = std::size_t(align_up(pos) - pos);
    crc = crc32(zeros, pad, crc);
    sink(zeros, pad);
    pos += pad;
  }
  unsigned char trailer[8];
  std::memcpy(trailer, &crc, 4);
  std::memcpy(trailer + 4, &kEndMagic, 4);
  sink(trailer, 8);
}

// ---------------------------------------------------------------- decoding
// Whether s[0, n) is UTF-8 as Python's strict decoder takes it (no overlong forms, surrogates or code points
// past U+10FFFF): the file's strings become Python str.
bool valid_utf8(const unsigned char* s, std::size_t n) {
  static const std::uint32_t smallest[5] = {0, 0, 0x80, 0x800, 0x10000};
  for (std::size_t i = 0; i < n;) {
    const unsigned char c = s[i];
    std::size_t len;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1fu;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0fu;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07u;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3fu);
    }
    if (cp < smallest[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

class Decoder {
 public:
  Decoder(const unsigned char* data, std::size_t size, std::size_t pos) : p_(data), size_(size), pos_(pos) {}
  std::size_t pos() const { return pos_; }
  std::size_t left() const { return size_ - pos_; }
  void need(std::size_t n, const char* what) const {
    if (n > left()) throw ModelFileError(std::string("corrupted file: ") + what + " runs past the end of the data.");
  }
  std::uint8_t u8(const char* what) {
    need(1, what);
    return p_[pos_++];
  }
  std::uint32_t u32(const char* what) {
    std::uint32_t v;
    need(4, what);
    std::memcpy(&v, p_ + pos_, 4);
    pos_ += 4;
    return v;
  }
  std::uint64_t u64(const char* what) {
    std::uint64_t v;
    need(8, what);
    std::memcpy(&v, p_ + pos_, 8);
    pos_ += 8;
    return v;
  }
  double f64(const char* what) {
    double v;
    need(8, what);
    std::memcpy(&v, p_ + pos_, 8);
    pos_ += 8;
    return v;
  }
  std::string str(const char* what) {
    const std::uint32_t n = u32(what);
    if (n > ModelFileLimits::max_string)
      throw ModelFileError(std::string("corrupted file: ") + what + " of " + std::to_string(n) +
                           " bytes (at most " + std::to_string(ModelFileLimits::max_string) + ").");
    need(n, what);
    if (!valid_utf8(p_ + pos_, n)) throw ModelFileError(std::string("corrupted file: ") + what + " is not UTF-8.");
    std::string s(reinterpret_cast<const char*>(p_ + pos_), n);
    pos_ += n;
    return s;
  }
  std::string bytes(std::uint64_t n, const char* what) {
    need(std::size_t(std::min<std::uint64_t>(n, SIZE_MAX)), what);
    std::string s(reinterpret_cast<const char*>(p_ + pos_), std::size_t(n));
    pos_ += std::size_t(n);
    return s;
  }

 private:
  const unsigned char* p_;
  std::size_t size_, pos_;
};

std::string layer_name(std::size_t i) { return "layer " + std::to_string(i); }

}  // namespace

std::uint32_t crc32(const void* data, std::size_t size, std::uint32_t crc) {
  const auto& t = crc_tables().t;
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (std::size_t since_check = 0; size >= 8; since_check += 8) {
    if (since_check >= kIoChunk) {  // a large file's sum takes seconds: Ctrl-C is looked for in between
      interruption_point();
      since_check = 0;
    }
    std::uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
    lo ^= crc;  // little-endian hosts only (checked by every reader and writer)
    crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
          t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
    p += 8;
    size -= 8;
  }
  while (size--) crc = t[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}

std::vector<unsigned char> encode_model_file(const ModelFile& file) {
  std::vector<unsigned char> out;
  emit(file, [&](const void* p, std::size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    out.insert(out.end(), b, b + n);
  });
  return out;
}

namespace {

std::string errno_text() { return std::strerror(errno); }

void write_all(int fd, const void* data, std::size_t n, const std::string& path) {
  const auto* p = static_cast<const unsigned char*>(data);
  while (n > 0) {
    interruption_point();  // (a failed save removes its temporary file)
    const ssize_t w = ::write(fd, p, std::min(n, kIoChunk));
    if (w < 0) {
      if (errno == EINTR) continue;
      throw ModelFileError("cannot write '" + path + "': " + errno_text() + ".");
    }
    p += w;
    n -= std::size_t(w);
  }
}

std::string directory_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

// The file a save replaces: a symlink's target (the link stays a link), its permissions kept.
struct SaveTarget {
  std::string path;
  mode_t mode = 0666;  // a new file's, before the umask
  bool exists = false;
};

SaveTarget save_target(const std::string& path) {
  SaveTarget target{path};
  char resolved[PATH_MAX];
  struct stat link;
  if (::lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode)) {
    if (::realpath(path.c_str(), resolved) == nullptr)
      throw ModelFileError("cannot follow the symbolic link '" + path + "': " + errno_text() + ".");
    target.path = resolved;
  }
  struct stat st;
  if (::stat(target.path.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode)) throw ModelFileError("'" + path + "' exists and is not a regular file.");
    target.mode = st.st_mode & 07777;
    target.exists = true;
  }
  const std::string dir = directory_of(target.path);
  struct stat dst;
  if (::stat(dir.c_str(), &dst) != 0 || !S_ISDIR(dst.st_mode))
    throw ModelFileError("cannot save '" + path + "': the folder '" + dir + "' does not exist.");
  return target;
}

void write_model_file(const std::string& path, const ModelFile& file, const WriteFaults& faults) {
  if (path.empty()) throw ModelFileError("the file name is empty.");
  try {  // the reader's rule: a file is written only when check_architecture accepts it on loading
    if (!faults.unchecked) check_architecture(file);
  } catch (const ModelFileError& e) {
    throw ModelFileError("cannot save '" + path + "': " + e.what() + " Loading would refuse the file.");
  }
  const SaveTarget target = save_target(path);
  static std::atomic<unsigned> counter{0};
  std::random_device rd;
  // A short name of its own in the target's folder: a name derived from the target's could be too long.
  const std::string tmp = directory_of(target.path) + "/.densenn.tmp-" + std::to_string(::getpid()) + "-" +
                          std::to_string(counter++) + "-" + std::to_string(rd() & 0xffffff);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw ModelFileError("cannot save '" + path + "': " + errno_text() + ".");
  try {
    // The replaced file's permissions (a new file: 0666 less the umask), set before any byte is written.
    mode_t mode = target.mode;
    if (!target.exists) {
      const mode_t mask = ::umask(0);
      ::umask(mask);
      mode &= ~mask;
    }
    if (::fchmod(fd, mode) != 0) throw ModelFileError("cannot save '" + path + "': " + errno_text() + ".");
    std::uint64_t written = 0;
    emit(file, [&](const void* p, std::size_t n) {
      if (written + n > faults.fail_after_bytes) {  // test hook: a failure part-way through
        const std::size_t part = std::size_t(faults.fail_after_bytes - written);
        write_all(fd, p, part, path);
        if (faults.crash) std::abort();
        throw ModelFileError("cannot write '" + path + "': simulated failure after " +
                             std::to_string(faults.fail_after_bytes) + " bytes.");
      }
      write_all(fd, p, n, path);
      written += n;
    });
    if (::fsync(fd) != 0) throw ModelFileError("cannot write '" + path + "' to disk: " + errno_text() + ".");
    if (::close(fd) != 0) {
      ::unlink(tmp.c_str());
      throw ModelFileError("cannot write '" + path + "': " + errno_text() + ".");
    }
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::rename(tmp.c_str(), target.path.c_str()) != 0) {
    const std::string why = errno_text();
    ::unlink(tmp.c_str());
    throw ModelFileError("cannot replace '" + path + "': " + why + ".");
  }
  // Make the rename itself durable.
  const int dir = ::open(directory_of(target.path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

ModelFile read_model_file(const std::string& path) {
  require_little_endian();
  // O_NONBLOCK: a FIFO at the path is refused below instead of blocking open() until a writer comes.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw ModelFileError("cannot open '" + path + "': " + errno_text() + ".");
  std::vector<unsigned char> bytes;
  try {
    struct stat st;
    if (::fstat(fd, &st) != 0) throw ModelFileError("cannot read '" + path + "': " + errno_text() + ".");
    if (!S_ISREG(st.st_mode)) throw ModelFileError("'" + path + "' is not a regular file.");
    // A file of holes (its size not backed by blocks on disk) is refused before it is read; files densenn
    // writes have none.
    if (st.st_size >= (1 << 20) && std::uint64_t(st.st_blocks) * 512 < std::uint64_t(st.st_size) / 2)
      throw ModelFileError("'" + path + "' declares " + std::to_string(st.st_size) + " bytes but only " +
                           std::to_string(std::uint64_t(st.st_blocks) * 512) + " are on disk (a sparse file).");
    // The header first: a file that is not ours is refused before reading the rest.
    unsigned char head[kHeaderSize];
    std::size_t got = 0;
    while (got < kHeaderSize) {
      const ssize_t r = ::read(fd, head + got, kHeaderSize - got);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) throw ModelFileError("cannot read '" + path + "': " + errno_text() + ".");
      if (r == 0) break;
      got += std::size_t(r);
    }
    if (got < 8 || std::memcmp(head, kMagic, 8) != 0)
      throw ModelFileError("'" + path + "' is not a densenn model file (bad signature).");
    if (got < kHeaderSize) throw ModelFileError("'" + path + "' is truncated (no complete header).");
    std::uint64_t declared;
    std::memcpy(&declared, head + 24, 8);
    const std::uint64_t actual = std::uint64_t(st.st_size);
    std::uint32_t version;
    std::memcpy(&version, head + 8, 4);
    if (version != kModelFileVersion)
      throw ModelFileError("'" + path + "' has format version " + std::to_string(version) +
                           "; this densenn reads version " + std::to_string(kModelFileVersion) + ".");
    if (declared != actual)
      throw ModelFileError("'" + path + "' is " + (actual < declared ? "truncated" : "corrupted") + ": its header says " +
                           std::to_string(declared) + " bytes, the file has " + std::to_string(actual) + ".");
    bytes.resize(std::size_t(actual));  // the file's own length, nothing the file claims
    std::memcpy(bytes.data(), head, kHeaderSize);
    std::size_t pos = kHeaderSize;
    while (pos < bytes.size()) {
      interruption_point();
      const ssize_t r = ::read(fd, bytes.data() + pos, std::min(bytes.size() - pos, kIoChunk));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) throw ModelFileError("cannot read '" + path + "': " + errno_text() + ".");
      if (r == 0) throw ModelFileError("'" + path + "' shrank while being read.");
      pos += std::size_t(r);
    }
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  try {
    return decode_model_file(std::move(bytes));
  } catch (const ModelFileError& e) {
    throw ModelFileError("'" + path + "': " + e.what());
  }
}

ModelFile decode_model_file(std::vector<unsigned char> bytes) {
  require_little_endian();
  const std::size_t size = bytes.size();
  if (size < 8 || std::memcmp(bytes.data(), kMagic, 8) != 0)
    throw ModelFileError("not a densenn model file (bad signature).");
  if (size < kHeaderSize + kTrailerSize) throw ModelFileError("truncated file.");
  Decoder h(bytes.data(), size, 8);
  ModelFile f;
  f.version = h.u32("version");
  if (f.version != kModelFileVersion)
    throw ModelFileError("format version " + std::to_string(f.version) + "; this densenn reads version " +
                         std::to_string(kModelFileVersion) + ".");
  const std::uint32_t kind = h.u32("kind"), dtype = h.u32("dtype"), flags = h.u32("flags");
  const std::uint64_t file_size = h.u64("file size");
  if (file_size != size)
    throw ModelFileError(std::string(size < file_size ? "truncated" : "corrupted") + " file: the header says " +
                         std::to_string(file_size) + " bytes, there are " + std::to_string(size) + ".");
  // The checksum before anything else is believed.
  std::uint32_t stored_crc, end_magic;
  std::memcpy(&stored_crc, bytes.data() + size - 8, 4);
  std::memcpy(&end_magic, bytes.data() + size - 4, 4);
  if (end_magic != kEndMagic) throw ModelFileError("corrupted or truncated file (no end marker).");
  const std::uint32_t crc = crc32(bytes.data(), size - kTrailerSize);
  if (crc != stored_crc) throw ModelFileError("corrupted file: checksum mismatch.");
  if (kind != 1 && kind != 2) throw ModelFileError("unknown file kind " + std::to_string(kind) + ".");
  if (dtype != 1 && dtype != 2) throw ModelFileError("unknown element type " + std::to_string(dtype) + ".");
  if (flags & ~kFlagTraining) throw ModelFileError("unknown flags " + std::to_string(flags) + ".");
  f.kind = FileKind(kind);
  f.dtype = DType(dtype);
  f.has_training_state = (flags & kFlagTraining) != 0;
  const std::uint64_t input_dim = h.u64("input width");
  if (input_dim < 1 || input_dim > std::uint64_t(ModelFileLimits::max_width))
    throw ModelFileError("input width " + std::to_string(input_dim) + " out of range.");
  f.input_dim = long(input_dim);
  const std::uint32_t layer_count = h.u32("layer count"), tensor_count = h.u32("tensor count");
  const std::uint64_t json_size = h.u64("JSON size");
  if (layer_count > ModelFileLimits::max_layers)
    throw ModelFileError("too many layers (" + std::to_string(layer_count) + ").");
  if (tensor_count > ModelFileLimits::max_tensors)
    throw ModelFileError("too many tensors (" + std::to_string(tensor_count) + ").");
  const std::size_t data_end = size - kTrailerSize;
  Decoder d(bytes.data(), data_end, kHeaderSize);
  for (std::uint32_t i = 0; i < layer_count; ++i) {
    LayerConfig c;
    c.type = d.str("layer type");
    const std::uint64_t units = d.u64("units");
    if (units > std::uint64_t(ModelFileLimits::max_width))
      throw ModelFileError(layer_name(i) + ": units " + std::to_string(units) + " out of range.");
    c.units = long(units);
    c.activation = d.str("activation");
    const std::uint8_t bias = d.u8("use_bias");
    if (bias > 1) throw ModelFileError(layer_name(i) + ": bad use_bias flag.");
    c.use_bias = bias == 1;
    const std::uint32_t n_options = d.u32("option count");
    if (n_options > ModelFileLimits::max_entries) throw ModelFileError(layer_name(i) + ": too many options.");
    for (std::uint32_t k = 0; k < n_options; ++k) {
      std::string key = d.str("option name");
      const double v = d.f64("option value");
      if (!std::isfinite(v)) throw ModelFileError(layer_name(i) + ": option '" + key + "' is not finite.");
      if (!c.options.emplace(std::move(key), v).second)
        throw ModelFileError(layer_name(i) + ": an option appears twice.");
    }
    const std::uint32_t n_choices = d.u32("choice count");
    if (n_choices > ModelFileLimits::max_entries) throw ModelFileError(layer_name(i) + ": too many options.");
    for (std::uint32_t k = 0; k < n_choices; ++k) {
      std::string key = d.str("option name");
      std::string value = d.str("option value");
      if (!c.choices.emplace(std::move(key), std::move(value)).second)
        throw ModelFileError(layer_name(i) + ": an option appears twice.");
    }
    f.layers.push_back(std::move(c));
  }
  f.json = d.bytes(json_size, "JSON description");
  if (f.has_training_state) {
    f.iterations = d.u64("iterations");
    if (f.iterations > std::uint64_t(INT64_MAX))  // the model counts steps in a signed 64-bit integer
      throw ModelFileError("iteration count " + std::to_string(f.iterations) + " out of range.");
    const std::uint32_t words = d.u32("random state size");
    if (words > ModelFileLimits::max_rng_words || words % 4 != 0)
      throw ModelFileError("bad random generator state size " + std::to_string(words) + ".");
    d.need(std::size_t(words) * 8, "random generator state");
    for (std::uint32_t k = 0; k < words; ++k) f.rng_state.push_back(d.u64("random generator state"));
  }
  const std::size_t esize = dtype_size(f.dtype);
  std::set<std::string> names;
  std::vector<std::uint64_t> offsets;
  for (std::uint32_t i = 0; i < tensor_count; ++i) {
    Tensor t;
    t.name = d.str("tensor name");
    const std::uint64_t offset = d.u64("tensor offset");
    t.count = d.u64("tensor size");
    if (t.name != "params" && t.name != "state" && t.name != "optimizer_state")
      throw ModelFileError("unknown tensor '" + t.name + "' (a version 1 file has params, state, optimizer_state).");
    if (!names.insert(t.name).second) throw ModelFileError("tensor '" + t.name + "' appears twice.");
    offsets.push_back(offset);
    f.tensors.push_back(std::move(t));
  }
  std::uint64_t next_free = d.pos();  // tensors follow the directory, in order, without overlapping
  for (std::uint32_t i = 0; i < tensor_count; ++i) {
    Tensor& t = f.tensors[i];
    const std::uint64_t offset = offsets[i];
    if (offset % kAlign != 0 || offset < next_free || offset > data_end ||
        t.count > (data_end - offset) / esize)
      throw ModelFileError("corrupted file: tensor '" + t.name + "' (" + std::to_string(t.count) +
                           " values at byte " + std::to_string(offset) + ") does not fit in the file.");
    next_free = offset + t.count * esize;
  }
  f.storage = std::move(bytes);  // moving keeps the buffer where it is
  for (std::uint32_t i = 0; i < tensor_count; ++i) f.tensors[i].data = f.storage.data() + offsets[i];
  return f;
}

std::pair<std::uint64_t, std::uint64_t> check_architecture(const ModelFile& file) {
  using Big = unsigned __int128;
  if (file.input_dim < 1 || file.input_dim > ModelFileLimits::max_width)
    throw ModelFileError("input width " + std::to_string(file.input_dim) + " out of range.");
  long width = file.input_dim;
  Big params = 0, state = 0;
  for (std::size_t i = 0; i < file.layers.size(); ++i) {
    const LayerConfig& c = file.layers[i];
    if (c.units < 0 || c.units > ModelFileLimits::max_width)
      throw ModelFileError(layer_name(i) + ": units out of range.");
    if (c.type == "maxout") {
      auto it = c.options.find("pieces");
      const double pieces = it == c.options.end() ? 2.0 : it->second;
      if (!(pieces >= 1 && pieces <= double(1 << 20) && pieces == std::floor(pieces)))
        throw ModelFileError(layer_name(i) + ": maxout pieces out of range.");
    }
    std::unique_ptr<Layer<float>> layer;
    try {
      layer = make_layer<float>(c, width);  // stores sizes only: allocates nothing of their size
    } catch (const std::exception& e) {
      throw ModelFileError(layer_name(i) + " (" + c.type + "): " + e.what());
    }
    auto add = [](Big& total, const std::vector<Shape>& shapes) {
      for (const Shape& shape : shapes) {
        Big n = 1;
        for (long dim : shape) {
          if (dim < 0 || dim > ModelFileLimits::max_width * 4096L)
            throw ModelFileError("a weight shape is out of range.");
          n *= Big(dim);
          if (n > Big(UINT64_MAX)) throw ModelFileError("a weight tensor is too large.");
        }
        total += n;
      }
    };
    add(params, layer->weight_shapes());
    add(state, layer->state_shapes());
    width = layer->output_dim();
    if (width < 1 || width > ModelFileLimits::max_width) throw ModelFileError(layer_name(i) + ": width out of range.");
  }
  auto check = [&](const char* name, Big expected) {
    const Tensor* t = file.find(name);
    const std::uint64_t have = t ? t->count : 0;
    if (!t || Big(have) != expected)  // params and state are always present, possibly empty
      throw ModelFileError(std::string("the layers need ") + std::to_string(std::uint64_t(expected)) + " " + name +
                           " values, the file has " + (t ? std::to_string(have) : std::string("none")) + ".");
  };
  check("params", params);
  check("state", state);
  return {std::uint64_t(params), std::uint64_t(state)};
}

}  // namespace densenn
