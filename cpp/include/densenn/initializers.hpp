// Weight initializers (Keras' names and formulas), drawing from the model's
// seeded generator so a seed fixes the initial weights on every platform.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "densenn/random.hpp"

namespace densenn {

enum class Initializer {
  zeros, ones, constant, random_normal, random_uniform, truncated_normal,
  glorot_uniform, glorot_normal, he_uniform, he_normal, lecun_uniform, lecun_normal,
};

struct InitializerSpec {
  Initializer kind = Initializer::glorot_uniform;
  double mean = 0.0, stddev = 0.05;       // random_normal, truncated_normal
  double minval = -0.05, maxval = 0.05;   // random_uniform
  double value = 0.0;                     // constant
  std::optional<std::uint64_t> seed;      // the initializer's own generator, as Keras' seed=
};

InitializerSpec parse_initializer(const std::string& name);
std::vector<std::string> initializer_names();
void validate(const InitializerSpec& spec);

// Fills data (a tensor of `shape`, row-major; fans as Keras computes them:
// a kernel (in, out) has fan_in = in and fan_out = out, a vector (n,) n and n)
// from `rng`, or from a generator of its own when the spec has a seed.
// Values that are not finite in T (Constant(1e300) in float32) are refused, as set_weights refuses them:
// std::invalid_argument naming `argument` (e.g. "kernel_initializer") and the initializer.
template <class T>
void initialize(const InitializerSpec& spec, T* data, const std::vector<long>& shape, Rng& rng,
                const char* argument);

// The initializer as Keras writes it, e.g. "Constant(value=1e+300)".
std::string describe(const InitializerSpec& spec);

}  // namespace densenn
