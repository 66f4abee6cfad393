#include "densenn/optimizers.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <string>

#include "cpu_kernels.hpp"
#include "denormals.hpp"
#include "names.hpp"
#include "threading.hpp"

namespace densenn {
namespace {

enum class Kind { sgd, adam, rmsprop, adagrad, adadelta, adamax, nadam, lion };

const NameTable<Kind> kOptimizers = {
    {"sgd", Kind::sgd},
    {"adam", Kind::adam},
    {"adamw", Kind::adam},  // Adam with decoupled weight decay, which every optimizer takes
    {"rmsprop", Kind::rmsprop},
    {"adagrad", Kind::adagrad},
    {"adadelta", Kind::adadelta},
    {"adamax", Kind::adamax},
    {"nadam", Kind::nadam},
    {"lion", Kind::lion},
};

Kind kind_of(const OptimizerConfig& config) { return kOptimizers.parse(config.name, "optimizer"); }

template <class T>
using Vec = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using ConstVec = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

// The step is applied block by block, so the several statements of an update
// (moments, then the variable) reuse data still in L1 instead of streaming the
// whole buffer once per statement.
constexpr std::size_t kBlock = 1024;

// Step-wide scalars: computed in double, used in T (as Keras casts its
// Python-float hyperparameters to the variable's dtype).
template <class T>
struct Scalars {
  T lr, weight_decay, momentum;
  T beta_1, beta_2, one_minus_beta_1, one_minus_beta_2, epsilon, rho, one_minus_rho;
  T alpha;                                       // Adam: lr sqrt(1 - b2^t) / (1 - b1^t)
  T one_minus_beta_1_power;                      // Adamax: 1 - b1^t
  T u_next, one_minus_u, one_minus_u_product_next, one_minus_u_product, one_minus_beta_2_power;  // Nadam
};

template <class T>
Scalars<T> scalars(const OptimizerConfig& c, Kind kind, T* state, std::size_t n, long long iteration, double lr) {
  Scalars<T> s{};
  const double t = double(iteration + 1);
  s.lr = T(lr);
  s.weight_decay = T(c.weight_decay);
  s.momentum = T(c.momentum);
  s.beta_1 = T(c.beta_1);
  s.beta_2 = T(c.beta_2);
  s.one_minus_beta_1 = T(1 - c.beta_1);
  s.one_minus_beta_2 = T(1 - c.beta_2);
  s.epsilon = T(c.epsilon);
  s.rho = T(c.rho);
  s.one_minus_rho = T(1 - c.rho);
  if (kind == Kind::adam) s.alpha = T(lr * std::sqrt(1 - std::pow(c.beta_2, t)) / (1 - std::pow(c.beta_1, t)));
  if (kind == Kind::adamax) s.one_minus_beta_1_power = T(1 - std::pow(c.beta_1, t));
  if (kind == Kind::nadam) {
    // Keras' momentum schedule u_t = b1 (1 - 0.5 * 0.96^t); u_product (a state
    // scalar after the per-parameter slots) becomes u_1 ... u_t before the update.
    const double u = c.beta_1 * (1 - 0.5 * std::pow(0.96, t));
    const double u_next = c.beta_1 * (1 - 0.5 * std::pow(0.96, t + 1));
    T& stored = state[2 * n];
    stored = T(double(stored) * u);
    const double u_product = double(stored);
    s.u_next = T(u_next);
    s.one_minus_u = T(1 - u);
    s.one_minus_u_product = T(1 - u_product);
    s.one_minus_u_product_next = T(1 - u_product * u_next);
    s.one_minus_beta_2_power = T(1 - std::pow(c.beta_2, t));
  }
  return s;
}

// One block of the flat buffers: the variables, this block's (clipped)
// gradient, and the optimizer state; slot k of the state starts at state + k * n.
template <class T>
struct Block {
  Vec<T> v;
  ConstVec<T> g;
  T* state;
  std::size_t n, off;
  T* scratch;  // kBlock values of work space
  bool split;  // threads share the update (update_range)
  Vec<T> slot(std::size_t k) const { return Vec<T>(state + k * n + off, v.size()); }
};

// One small function per optimizer, so the compiler inlines Eigen's loops in each.
#if defined(__GNUC__)
#define DENSENN_NOINLINE __attribute__((noinline))
#else
#define DENSENN_NOINLINE
#endif

template <class T>
DENSENN_NOINLINE void sgd(const OptimizerConfig& c, const Scalars<T>& s, const Block<T>& b) {
  auto v = b.v;
  const auto& g = b.g;
  if (c.momentum == 0) {
    v -= g * s.lr;
    return;
  }
  Vec<T> m = b.slot(0);
  m = m * s.momentum - g * s.lr;
  if (c.nesterov)
    v += m * s.momentum - g * s.lr;
  else
    v += m;
}

// Adam in one pass, a packet of values at a time (the tail one value at a time, by the same code): as three
// Eigen statements it read the block three times and ran 1.1-1.4x slower, its square root and division bounding
// it either way. Keras' formula, operation by operation: the moments are updated and the step returned.
template <class X, class T>
X adam_step(bool amsgrad, const Scalars<T>& s, const T* g, T* m, T* u, T* u_max) {
  namespace ei = Eigen::internal;
  const X grad = ei::ploadu<X>(g), m_old = ei::ploadu<X>(m), u_old = ei::ploadu<X>(u);
  const X m_new = ei::padd(m_old, ei::pmul(ei::psub(grad, m_old), ei::pset1<X>(s.one_minus_beta_1)));
  const X u_new = ei::padd(u_old, ei::pmul(ei::psub(ei::pmul(grad, grad), u_old), ei::pset1<X>(s.one_minus_beta_2)));
  ei::pstoreu(m, m_new);
  ei::pstoreu(u, u_new);
  X scale = u_new;
  if (amsgrad) {
    scale = ei::pmax(ei::ploadu<X>(u_max), u_new);
    ei::pstoreu(u_max, scale);
  }
  return ei::pdiv(ei::pmul(m_new, ei::pset1<X>(s.alpha)), ei::padd(ei::psqrt(scale), ei::pset1<X>(s.epsilon)));
}

// One value or packet: the variable updated with the step, or (split) the step kept for a pass of its own.
template <class X, class T>
void adam_values(bool amsgrad, bool split, const Scalars<T>& s, const T* g, T* m, T* u, T* u_max, T* v, T* step) {
  namespace ei = Eigen::internal;
  const X value = adam_step<X>(amsgrad, s, g, m, u, u_max);
  if (split)
    ei::pstoreu(step, value);
  else
    ei::pstoreu(v, ei::psub(ei::ploadu<X>(v), value));
}

// When threads share the update (Block::split), the variables are updated in a pass of their own: every core
// read them since the last update (a batch split between threads, or products split by columns), so each store
// to one waits for the other cores' copies to be invalidated, and among the moments' stores those waits stalled
// the whole loop (W2 trained on two threads 1.14x faster; on one thread the extra pass cost 3%).
template <class T>
DENSENN_NOINLINE void adam(const OptimizerConfig& c, const Scalars<T>& s, const Block<T>& b) {
  using Packet = typename Eigen::internal::packet_traits<T>::type;
  constexpr Eigen::Index P = Eigen::internal::unpacket_traits<Packet>::size;
  auto variable = b.v;
  const Eigen::Index size = variable.size();
  const T* g = b.g.data();
  T *m = b.slot(0).data(), *u = b.slot(1).data(), *v = variable.data(), *step = b.scratch;
  T* u_max = c.amsgrad ? b.slot(2).data() : nullptr;
  Eigen::Index i = 0;
  for (; i + P <= size; i += P)
    adam_values<Packet>(c.amsgrad, b.split, s, g + i, m + i, u + i, u_max ? u_max + i : nullptr, v + i, step + i);
  for (; i < size; ++i)
    adam_values<T>(c.amsgrad, b.split, s, g + i, m + i, u + i, u_max ? u_max + i : nullptr, v + i, step + i);
  if (b.split) variable -= ConstVec<T>(step, size);
}

template <class T>
DENSENN_NOINLINE void rmsprop(const OptimizerConfig& c, const Scalars<T>& s, const Block<T>& b) {
  // Slots in Keras' order: velocity, momentum (if momentum > 0), average gradient (if centered).
  auto v = b.v;
  const auto& g = b.g;
  Vec<T> velocity = b.slot(0);
  velocity = velocity * s.rho + g.square() * s.one_minus_rho;
  Vec<T> increment(b.scratch, v.size());
  if (c.centered) {
    Vec<T> average = b.slot(c.momentum > 0 ? 2 : 1);
    average = average * s.rho + g * s.one_minus_rho;
    increment = (g * s.lr) / (velocity - average.square() + s.epsilon).sqrt();
  } else {
    increment = (g * s.lr) / (velocity + s.epsilon).sqrt();
  }
  if (c.momentum > 0) {
    Vec<T> m = b.slot(1);
    m = m * s.momentum + increment;
    v -= m;
  } else {
    v -= increment;
  }
}

template <class T>
DENSENN_NOINLINE void adagrad(const OptimizerConfig&, const Scalars<T>& s, const Block<T>& b) {
  auto v = b.v;
  const auto& g = b.g;
  Vec<T> accumulator = b.slot(0);
  accumulator += g.square();
  v -= (g * s.lr) / (accumulator + s.epsilon).sqrt();
}

template <class T>
DENSENN_NOINLINE void adadelta(const OptimizerConfig&, const Scalars<T>& s, const Block<T>& b) {
  auto v = b.v;
  const auto& g = b.g;
  Vec<T> grad_average = b.slot(0), delta_average = b.slot(1);
  grad_average = grad_average * s.rho + g.square() * s.one_minus_rho;
  Vec<T> delta(b.scratch, v.size());
  delta = -(((delta_average + s.epsilon).sqrt() * g) / (grad_average + s.epsilon).sqrt());
  delta_average = delta_average * s.rho + delta.square() * s.one_minus_rho;
  v += delta * s.lr;
}

template <class T>
DENSENN_NOINLINE void adamax(const OptimizerConfig&, const Scalars<T>& s, const Block<T>& b) {
  auto v = b.v;
  const auto& g = b.g;
  Vec<T> m = b.slot(0), u = b.slot(1);
  m += (g - m) * s.one_minus_beta_1;
  u = (u * s.beta_2).max(g.abs());
  v -= (m * s.lr) / ((u + s.epsilon) * s.one_minus_beta_1_power);
}

template <class T>
DENSENN_NOINLINE void nadam(const OptimizerConfig&, const Scalars<T>& s, const Block<T>& b) {
  auto v = b.v;
  const auto& g = b.g;
  Vec<T> m = b.slot(0), u = b.slot(1);
  m += (g - m) * s.one_minus_beta_1;
  u += (g.square() - u) * s.one_minus_beta_2;
  v -= ((m * s.u_next / s.one_minus_u_product_next + g * s.one_minus_u / s.one_minus_u_product) * s.lr) /
       ((u / s.one_minus_beta_2_power).sqrt() + s.epsilon);
}

template <class T>
DENSENN_NOINLINE void lion(const OptimizerConfig&, const Scalars<T>& s, const Block<T>& b) {
  auto v = b.v;
  const auto& g = b.g;
  Vec<T> m = b.slot(0);
  v -= (m * s.beta_1 + g * s.one_minus_beta_1).sign() * s.lr;
  m = m * s.beta_2 + g * s.one_minus_beta_2;
}

// The update of params [off, off + len), given this block's (clipped) gradient.
template <class T>
void update_block(const OptimizerConfig& c, Kind kind, const Scalars<T>& s, T* params, const T* grads, T* state,
                  std::size_t n, std::size_t off, std::size_t len, T* scratch, bool split) {
  const auto size = static_cast<Eigen::Index>(len);
  const Block<T> b{Vec<T>(params + off, size), ConstVec<T>(grads, size), state, n, off, scratch, split};
  switch (kind) {
    case Kind::sgd: return sgd(c, s, b);
    case Kind::adam: return adam(c, s, b);
    case Kind::rmsprop: return rmsprop(c, s, b);
    case Kind::adagrad: return adagrad(c, s, b);
    case Kind::adadelta: return adadelta(c, s, b);
    case Kind::adamax: return adamax(c, s, b);
    case Kind::nadam: return nadam(c, s, b);
    case Kind::lion: return lion(c, s, b);
  }
}

// Sum of squares in T per block (vectorised), accumulated over blocks in double.
template <class T>
double sum_of_squares(const T* x, std::size_t len) {
  double sum = 0.0;
  for (std::size_t off = 0; off < len; off += kBlock) {
    const std::size_t block = std::min(kBlock, len - off);
    sum += double(ConstVec<T>(x + off, static_cast<Eigen::Index>(block)).matrix().squaredNorm());
  }
  return sum;
}

enum class Clip { none, scale, value };

// Weight decay, then the update, over [begin, end), block by block; the
// gradient is scaled (clipnorm, global_clipnorm) or clamped (clipvalue) first.
template <class T>
void update_blocks(const OptimizerConfig& c, Kind kind, const Scalars<T>& s, T* params, const T* grads, T* state,
                   std::size_t n, std::size_t begin, std::size_t end, Clip clip, T clip_numerator,
                   T clip_denominator, bool split) {
  alignas(64) T clipped[kBlock];
  alignas(64) T scratch[kBlock];
  const bool decay = c.weight_decay != 0;
  for (std::size_t off = begin; off < end; off += kBlock) {
    const std::size_t len = std::min(kBlock, end - off);
    const auto size = static_cast<Eigen::Index>(len);
    const T* g = grads + off;
    if (clip == Clip::scale) {
      // Keras: g * clipnorm / max(norm, clipnorm), or g * scale for global_clipnorm.
      Vec<T>(clipped, size) = ConstVec<T>(g, size) * clip_numerator / clip_denominator;
      g = clipped;
    } else if (clip == Clip::value) {
      Vec<T>(clipped, size) = ConstVec<T>(g, size).max(-clip_numerator).min(clip_numerator);
      g = clipped;
    }
    if (decay) {
      Vec<T> v(params + off, size);
      v = v - v * s.weight_decay * s.lr;
    }
    update_block(c, kind, s, params, g, state, n, off, len, scratch, split);
  }
}

// Large buffers are memory-bound (an Adam step over 6.3M parameters moves
// ~180 MB), so each thread updates its own run of whole blocks. The update is
// element-wise: results do not depend on the split. (~32 flops per value.)

template <class T>
void update_range(const OptimizerConfig& c, Kind kind, const Scalars<T>& s, T* params, const T* grads, T* state,
                  std::size_t n, std::size_t begin, std::size_t end, Clip clip, T clip_numerator,
                  T clip_denominator, int threads) {
  if (threads <= 0) threads = threads_for(32.0 * double(end - begin));
  if (threads <= 1) {
    update_blocks(c, kind, s, params, grads, state, n, begin, end, clip, clip_numerator, clip_denominator, false);
    return;
  }
  const std::size_t blocks = (end - begin + kBlock - 1) / kBlock;
  const std::size_t run = (blocks + std::size_t(threads) - 1) / std::size_t(threads) * kBlock;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < threads; ++t) {
    FlushDenormals flush;  // the team's threads too, as the caller's
    const std::size_t first = std::min(end, begin + std::size_t(t) * run), last = std::min(end, first + run);
    if (first < last)
      update_blocks(c, kind, s, params, grads, state, n, first, last, clip, clip_numerator, clip_denominator, true);
  }
}

}  // namespace

std::vector<std::string> optimizer_names() { return kOptimizers.names(); }

int optimizer_state_per_param(const OptimizerConfig& c) {
  switch (kind_of(c)) {
    case Kind::sgd:
      return c.momentum != 0 ? 1 : 0;
    case Kind::adam:
      return c.amsgrad ? 3 : 2;
    case Kind::adamax:
    case Kind::nadam:
    case Kind::adadelta:
      return 2;
    case Kind::rmsprop:
      return 1 + (c.momentum > 0) + (c.centered ? 1 : 0);
    case Kind::adagrad:
    case Kind::lion:
      return 1;
  }
  return 0;
}

bool optimizer_updates_in_parts(const OptimizerConfig& c) {
  return kind_of(c) != Kind::nadam && c.clipnorm == 0 && c.global_clipnorm == 0;
}

std::size_t optimizer_state_size(const OptimizerConfig& c, std::size_t n) {
  const std::size_t per_param = std::size_t(optimizer_state_per_param(c));
  return per_param * n + (kind_of(c) == Kind::nadam ? 1 : 0);
}

template <class T>
void optimizer_initialize_state(const OptimizerConfig& c, T* state, std::size_t n) {
  const std::size_t size = optimizer_state_size(c, n);
  std::fill(state, state + size, T(0));
  const Kind kind = kind_of(c);
  if (kind == Kind::adagrad) std::fill(state, state + n, T(c.initial_accumulator_value));
  if (kind == Kind::nadam) state[2 * n] = T(1);
}

template <class T>
void optimizer_step(const OptimizerConfig& c, T* params, const T* grads, T* state, std::size_t n,
                    const std::vector<Slice>& variables, long long iteration, double learning_rate, int threads) {
  const Kind kind = kind_of(c);
  const Scalars<T> s = scalars<T>(c, kind, state, n, iteration, learning_rate);
  // The runs of variables updated, adjacent ones joined (all of them make one run over the buffer): the next
  // one from variables[i] on is [begin, end).
  auto next_run = [&variables](std::size_t& i, std::size_t& begin, std::size_t& end) {
    if (i >= variables.size()) return false;
    begin = variables[i].offset;
    end = begin + variables[i].size;
    while (++i < variables.size() && variables[i].offset == end) end += variables[i].size;
    return true;
  };
  std::size_t begin = 0, end = 0;
  if (c.clipnorm > 0) {
    // Per variable: g * clipnorm / max(||g||, clipnorm).
    for (const Slice& var : variables) {
      const double l2sum = sum_of_squares(grads + var.offset, var.size);
      const double norm = l2sum > 0 ? std::sqrt(l2sum) : l2sum;
      update_range(c, kind, s, params, grads, state, n, var.offset, var.offset + var.size, Clip::scale,
                   T(c.clipnorm), T(std::max(norm, c.clipnorm)), threads);
    }
  } else if (c.global_clipnorm > 0) {
    // Keras' clip_by_global_norm: scale = clip * min(1/norm, 1/clip), NaN if the norm is not finite.
    double l2sum = 0;
    for (std::size_t i = 0; next_run(i, begin, end);) l2sum += sum_of_squares(grads + begin, end - begin);
    const double norm = std::sqrt(l2sum);
    const double scale = c.global_clipnorm * std::min(1 / norm, 1 / c.global_clipnorm) + (norm - norm);
    for (std::size_t i = 0; next_run(i, begin, end);)
      update_range(c, kind, s, params, grads, state, n, begin, end, Clip::scale, T(scale), T(1), threads);
  } else {
    const Clip clip = c.clipvalue > 0 ? Clip::value : Clip::none;
    const T bound = c.clipvalue > 0 ? T(c.clipvalue) : T(1);
    for (std::size_t i = 0; next_run(i, begin, end);)
      update_range(c, kind, s, params, grads, state, n, begin, end, clip, bound, T(1), threads);
  }
}

template void optimizer_initialize_state<float>(const OptimizerConfig&, float*, std::size_t);
template void optimizer_initialize_state<double>(const OptimizerConfig&, double*, std::size_t);
template void optimizer_step<float>(const OptimizerConfig&, float*, const float*, float*, std::size_t,
                                    const std::vector<Slice>&, long long, double, int);
template void optimizer_step<double>(const OptimizerConfig&, double*, const double*, double*, std::size_t,
                                     const std::vector<Slice>&, long long, double, int);

}  // namespace densenn
