#include "densenn/initializers.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <stdexcept>

#include "densenn/interrupt.hpp"
#include "names.hpp"

namespace densenn {
namespace {

const NameTable<Initializer> kInitializers = {
    {"zeros", Initializer::zeros},
    {"ones", Initializer::ones},
    {"constant", Initializer::constant},
    {"random_normal", Initializer::random_normal},
    {"random_uniform", Initializer::random_uniform},
    {"truncated_normal", Initializer::truncated_normal},
    {"glorot_uniform", Initializer::glorot_uniform},
    {"glorot_normal", Initializer::glorot_normal},
    {"he_uniform", Initializer::he_uniform},
    {"he_normal", Initializer::he_normal},
    {"lecun_uniform", Initializer::lecun_uniform},
    {"lecun_normal", Initializer::lecun_normal},
};

// Standard normal by the Box-Muller transform (portable, unlike std::normal_distribution).
double normal(Rng& rng) {
  const double u1 = 1.0 - rng.uniform();  // in (0, 1]
  const double u2 = rng.uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

// Normal truncated at two standard deviations, redrawn beyond them (Keras' truncated_normal).
double truncated_normal(Rng& rng) {
  for (;;) {
    const double z = normal(rng);
    if (std::abs(z) <= 2.0) return z;
  }
}

// v with at most `digits` significant digits, the fewest that read back as v (1e+300, not 1.0000000000000001e+300).
std::string number_text(double v, int digits) {
  char text[40];
  for (int d = 1; d <= digits; ++d) {
    std::snprintf(text, sizeof text, "%.*g", d, v);
    if (d == digits || std::strtod(text, nullptr) == v) break;
  }
  return text;
}

}  // namespace

InitializerSpec parse_initializer(const std::string& name) {
  InitializerSpec spec;
  spec.kind = kInitializers.parse(name, "initializer");
  return spec;
}

std::vector<std::string> initializer_names() { return kInitializers.names(); }

void validate(const InitializerSpec& spec) {
  if (!(spec.stddev >= 0)) throw std::invalid_argument("initializer stddev must be >= 0.");
  if (!(spec.minval <= spec.maxval)) throw std::invalid_argument("initializer minval must be <= maxval.");
  if (!std::isfinite(spec.mean) || !std::isfinite(spec.value) || !std::isfinite(spec.minval) ||
      !std::isfinite(spec.maxval) || !std::isfinite(spec.stddev))
    throw std::invalid_argument("initializer arguments must be finite.");
}

template <class T>
void initialize(const InitializerSpec& spec, T* data, const std::vector<long>& shape, Rng& model_rng,
                const char* argument) {
  Rng own_rng(spec.seed.value_or(0));
  Rng& rng = spec.seed ? own_rng : model_rng;
  long size = 1;
  for (long d : shape) size *= d;
  const double fan_in = shape.size() >= 2 ? double(shape[shape.size() - 2]) : double(size);
  const double fan_out = shape.size() >= 2 ? double(shape.back()) : double(size);
  // In blocks, with an interruption point between them: a large model's weights take seconds to draw (the
  // values are drawn in the same order either way).
  auto fill = [&](long begin, long end) {
    // Keras' VarianceScaling: scale / fan, uniform within sqrt(3 s) or a
    // truncated normal whose standard deviation is corrected for the truncation.
    auto variance_scaling = [&](double scale, double fan, bool uniform) {
      const double s = scale / std::max(1.0, fan);
      if (uniform) {
        const double limit = std::sqrt(3.0 * s);
        for (long i = begin; i < end; ++i) data[i] = T((2 * rng.uniform() - 1) * limit);
      } else {
        const double stddev = std::sqrt(s) / 0.87962566103423978;
        for (long i = begin; i < end; ++i) data[i] = T(stddev * truncated_normal(rng));
      }
    };
    switch (spec.kind) {
      case Initializer::zeros:
        for (long i = begin; i < end; ++i) data[i] = T(0);
        break;
      case Initializer::ones:
        for (long i = begin; i < end; ++i) data[i] = T(1);
        break;
      case Initializer::constant:
        for (long i = begin; i < end; ++i) data[i] = T(spec.value);
        break;
      case Initializer::random_normal:
        for (long i = begin; i < end; ++i) data[i] = T(spec.mean + spec.stddev * normal(rng));
        break;
      case Initializer::truncated_normal:
        for (long i = begin; i < end; ++i) data[i] = T(spec.mean + spec.stddev * truncated_normal(rng));
        break;
      case Initializer::random_uniform:
        for (long i = begin; i < end; ++i) data[i] = T(spec.minval + (spec.maxval - spec.minval) * rng.uniform());
        break;
      case Initializer::glorot_uniform:
        variance_scaling(1.0, (fan_in + fan_out) / 2, true);
        break;
      case Initializer::glorot_normal:
        variance_scaling(1.0, (fan_in + fan_out) / 2, false);
        break;
      case Initializer::he_uniform:
        variance_scaling(2.0, fan_in, true);
        break;
      case Initializer::he_normal:
        variance_scaling(2.0, fan_in, false);
        break;
      case Initializer::lecun_uniform:
        variance_scaling(1.0, fan_in, true);
        break;
      case Initializer::lecun_normal:
        variance_scaling(1.0, fan_in, false);
        break;
    }
  };
  constexpr long kBlock = 1L << 20;
  for (long begin = 0; begin < size; begin += kBlock) {
    interruption_point();
    fill(begin, std::min(size, begin + kBlock));
  }
  // The arguments are finite (validate), but their values may not be in T, nor mean + stddev * z in double.
  for (long i = 0; i < size; ++i)
    if (!std::isfinite(data[i]))
      throw std::invalid_argument(std::string(argument) + " " + describe(spec) + " gives values too large for " +
                                  (sizeof(T) == 4 ? "float32" : "float64") + ": expected magnitudes up to " +
                                  number_text(double(std::numeric_limits<T>::max()), 4) + ", got " +
                                  number_text(double(data[i]), 17) + ".");
}

std::string describe(const InitializerSpec& spec) {
  std::string name;  // Keras' class name: random_normal -> RandomNormal
  bool upper = true;
  for (char c : std::string(kInitializers.name(spec.kind))) {
    if (c == '_') {
      upper = true;
    } else {
      name += upper ? char(std::toupper(static_cast<unsigned char>(c))) : c;
      upper = false;
    }
  }
  auto arg = [](const char* key, double v) { return std::string(key) + "=" + number_text(v, 17); };
  std::string args;
  switch (spec.kind) {
    case Initializer::constant:
      args = arg("value", spec.value);
      break;
    case Initializer::random_normal:
    case Initializer::truncated_normal:
      args = arg("mean", spec.mean) + ", " + arg("stddev", spec.stddev);
      break;
    case Initializer::random_uniform:
      args = arg("minval", spec.minval) + ", " + arg("maxval", spec.maxval);
      break;
    default:
      break;
  }
  return name + "(" + args + ")";
}

template void initialize<float>(const InitializerSpec&, float*, const std::vector<long>&, Rng&, const char*);
template void initialize<double>(const InitializerSpec&, double*, const std::vector<long>&, Rng&, const char*);

}  // namespace densenn
