// A small, portable random generator (xoshiro256**, seeded by splitmix64):
// the same seed gives the same weights and batch order on every platform,
// which std:: distributions do not promise.
#pragma once

#include <cmath>
#include <cstdint>
#include <utility>

namespace densenn {

class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0) {
    for (auto& word : s_) word = splitmix64(seed);
  }

  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // The generator's whole state (4 words), to save and restore it exactly.
  const std::uint64_t* state() const { return s_; }
  void set_state(const std::uint64_t* words) {
    for (int i = 0; i < 4; ++i) s_[i] = words[i];
  }

  // Skips n draws.
  void discard(std::uint64_t n) {
    for (std::uint64_t i = 0; i < n; ++i) next();
  }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  // Uniform integer in [0, bound) without modulo bias (Lemire's method).
  std::uint64_t below(std::uint64_t bound) {
    unsigned __int128 product = static_cast<unsigned __int128>(next()) * bound;
    auto low = static_cast<std::uint64_t>(product);
    if (low < bound) {
      const std::uint64_t threshold = (0 - bound) % bound;
      while (low < threshold) {
        product = static_cast<unsigned __int128>(next()) * bound;
        low = static_cast<std::uint64_t>(product);
      }
    }
    return static_cast<std::uint64_t>(product >> 64);
  }

  // Fisher-Yates shuffle of data[0..n).
  template <class I>
  void shuffle(I* data, std::uint64_t n) {
    for (std::uint64_t i = n; i > 1; --i) std::swap(data[i - 1], data[below(i)]);
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::uint64_t s_[4];
};

}  // namespace densenn
