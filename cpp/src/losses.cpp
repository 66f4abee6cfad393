#include "densenn/losses.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "cpu_kernels.hpp"
#include "names.hpp"

namespace densenn {
namespace {

// The core's names; the Python front resolves Keras' aliases and class names to these.
const NameTable<Loss> kLosses = {
    {"mse", Loss::mse},
    {"mae", Loss::mae},
    {"mape", Loss::mape},
    {"msle", Loss::msle},
    {"binary_crossentropy", Loss::binary_crossentropy},
    {"categorical_crossentropy", Loss::categorical_crossentropy},
    {"sparse_categorical_crossentropy", Loss::sparse_categorical_crossentropy},
    {"hinge", Loss::hinge},
    {"squared_hinge", Loss::squared_hinge},
    {"categorical_hinge", Loss::categorical_hinge},
    {"kl_divergence", Loss::kl_divergence},
    {"poisson", Loss::poisson},
    {"huber", Loss::huber},
    {"log_cosh", Loss::log_cosh},
    {"cosine_similarity", Loss::cosine_similarity},
};

constexpr double kEps = 1e-7;  // keras.config.epsilon(): clips probabilities away from 0 and 1
constexpr double kLog2 = 0.69314718055994530942;

template <class T>
double weight_of(const T* w, long r) {
  return w ? static_cast<double>(w[r]) : 1.0;
}

// Sparse labels arrive as values of T; they were checked by loss_check_targets.
template <class T>
long label_of(const T* target, long r) {
  return static_cast<long>(target[r]);
}

template <class T>
T clip_probability(T p) {
  return std::min(std::max(p, T(kEps)), T(1 - kEps));
}

// Keras clips in the model's dtype: eps and 1 - eps as that dtype represents them.
template <class T>
constexpr double eps_of() {
  return static_cast<double>(static_cast<T>(kEps));
}

double sign(double x) { return double(x > 0) - double(x < 0); }

// log(1 + e^x) without overflow.
double softplus(double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x))); }

double sigmoid(double x) {
  if (x >= 0) return 1 / (1 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1 + e);
}

bool is_crossentropy(Loss l) {
  return l == Loss::binary_crossentropy || l == Loss::categorical_crossentropy ||
         l == Loss::sparse_categorical_crossentropy;
}

// The targets as the loss sees them: sparse labels one-hot, label smoothing
// (binary: t(1-s) + s/2, categorical: t(1-s) + s/K) and the hinge losses'
// {0,1} -> {-1,1} mapping folded into t' = t * scale + shift.
template <class T>
struct Targets {
  const T* target;
  long cols;
  bool sparse = false;
  double scale = 1, shift = 0;

  Targets(const LossSpec& l, const T* target_, long rows, long cols_) : target(target_), cols(cols_) {
    switch (l.kind) {
      case Loss::sparse_categorical_crossentropy:
        sparse = true;
        break;
      case Loss::binary_crossentropy:
        scale = 1 - l.label_smoothing;
        shift = 0.5 * l.label_smoothing;
        break;
      case Loss::categorical_crossentropy:
        scale = 1 - l.label_smoothing;
        shift = l.label_smoothing / double(cols);
        break;
      case Loss::hinge:
      case Loss::squared_hinge: {
        // Keras' convert_binary_labels_to_hinge (in its losses module): decided
        // for the whole batch (ops.all over y_true), not per element.
        bool binary = true;
        for (long i = 0; i < rows * cols && binary; ++i) binary = target[i] == T(0) || target[i] == T(1);
        if (binary) {
          scale = 2;
          shift = -1;
        }
        break;
      }
      default:
        break;
    }
  }

  double operator()(long r, long c) const {
    const double t = sparse ? (label_of(target, r) == c ? 1.0 : 0.0) : double(target[r * cols + c]);
    return t * scale + shift;
  }
};

// max over the row and log(sum(exp(z - max))): log_softmax(z)_c = z_c - lse.
template <class T>
double log_sum_exp(const T* z, long cols) {
  double m = z[0];
  for (long c = 1; c < cols; ++c) m = std::max(m, double(z[c]));
  double s = 0;
  for (long c = 0; c < cols; ++c) s += std::exp(double(z[c]) - m);
  return m + std::log(s);
}

// Keras' ops.normalize (order 2): x * min(rsqrt(sum x^2), 1 / eps).
template <class T>
double inv_norm(const T* x, long cols, bool* clamped = nullptr) {
  double ss = 0;
  for (long c = 0; c < cols; ++c) ss += double(x[c]) * double(x[c]);
  const double r = 1 / std::sqrt(ss), cap = 1 / eps_of<T>();
  if (clamped) *clamped = !(r <= cap);
  return std::min(r, cap);
}

template <class T>
double inv_norm_targets(const Targets<T>& t, long r, long cols) {
  double ss = 0;
  for (long c = 0; c < cols; ++c) ss += t(r, c) * t(r, c);
  return std::min(1 / std::sqrt(ss), 1 / eps_of<T>());
}

// The per-sample loss of row r (before the sample weight).
template <class T>
double row_loss(const LossSpec& l, const Targets<T>& t, const T* p, long r, long cols) {
  const double eps = eps_of<T>();
  const double k = double(cols);
  double sample = 0;
  switch (l.kind) {
    case Loss::mse:
      for (long c = 0; c < cols; ++c) sample += (t(r, c) - p[c]) * (t(r, c) - p[c]);
      return sample / k;
    case Loss::mae:
      for (long c = 0; c < cols; ++c) sample += std::abs(t(r, c) - p[c]);
      return sample / k;
    case Loss::mape:
      for (long c = 0; c < cols; ++c) sample += std::abs((t(r, c) - p[c]) / std::max(std::abs(t(r, c)), eps));
      return 100 * sample / k;
    case Loss::msle:
      for (long c = 0; c < cols; ++c) {
        const double d = std::log1p(std::max(double(p[c]), eps)) - std::log1p(std::max(t(r, c), eps));
        sample += d * d;
      }
      return sample / k;
    case Loss::binary_crossentropy:
      for (long c = 0; c < cols; ++c) {
        if (l.from_logits) {  // -t log sigmoid(z) - (1-t) log sigmoid(-z) = softplus(z) - t z
          sample += softplus(p[c]) - t(r, c) * p[c];
        } else {
          const double q = clip_probability(p[c]);
          sample -= t(r, c) * std::log(q) + (1 - t(r, c)) * std::log(1 - q);
        }
      }
      return sample / k;
    case Loss::categorical_crossentropy:
    case Loss::sparse_categorical_crossentropy: {
      if (l.from_logits) {
        const double lse = log_sum_exp(p, cols);
        if (t.sparse) return lse - p[label_of(t.target, r)];
        for (long c = 0; c < cols; ++c) sample -= t(r, c) * (p[c] - lse);
        return sample;
      }
      double sum = 0;
      for (long c = 0; c < cols; ++c) sum += p[c];
      if (t.sparse) return -std::log(clip_probability(T(p[label_of(t.target, r)] / sum)));
      for (long c = 0; c < cols; ++c) sample -= t(r, c) * std::log(clip_probability(T(p[c] / sum)));
      return sample;
    }
    case Loss::hinge:
    case Loss::squared_hinge:
      for (long c = 0; c < cols; ++c) {
        const double m = std::max(1 - t(r, c) * p[c], 0.0);
        sample += l.kind == Loss::hinge ? m : m * m;
      }
      return sample / k;
    case Loss::categorical_hinge: {
      double pos = 0, neg = -INFINITY;
      for (long c = 0; c < cols; ++c) {
        pos += t(r, c) * p[c];
        neg = std::max(neg, (1 - t(r, c)) * p[c]);
      }
      return std::max(neg - pos + 1, 0.0);
    }
    case Loss::kl_divergence:
      for (long c = 0; c < cols; ++c) {
        const double tc = std::clamp(t(r, c), eps, 1.0), pc = std::clamp(double(p[c]), eps, 1.0);
        sample += tc * std::log(tc / pc);
      }
      return sample;
    case Loss::poisson:
      for (long c = 0; c < cols; ++c) sample += p[c] - t(r, c) * std::log(p[c] + eps);
      return sample / k;
    case Loss::huber:
      for (long c = 0; c < cols; ++c) {
        const double e = p[c] - t(r, c), a = std::abs(e);
        sample += a <= l.delta ? 0.5 * e * e : l.delta * a - 0.5 * l.delta * l.delta;
      }
      return sample / k;
    case Loss::log_cosh:
      for (long c = 0; c < cols; ++c) {
        const double x = p[c] - t(r, c);
        sample += x + softplus(-2 * x) - kLog2;
      }
      return sample / k;
    case Loss::cosine_similarity: {
      const double sp = inv_norm(p, cols), st = inv_norm_targets(t, r, cols);
      for (long c = 0; c < cols; ++c) sample -= t(r, c) * st * p[c] * sp;
      return sample;
    }
  }
  return sample;
}

// g = scale * d(per-sample loss)/d(pred row), or d/d(logits) when fused.
template <class T>
void row_gradient(const LossSpec& l, bool fused, const Targets<T>& t, const T* p, T* g, long r, long cols,
                  double scale) {
  const double eps = eps_of<T>();
  const double k = double(cols);
  switch (l.kind) {
    case Loss::mse:
      for (long c = 0; c < cols; ++c) g[c] = T(scale * 2 * (p[c] - t(r, c)) / k);
      return;
    case Loss::mae:
      for (long c = 0; c < cols; ++c) g[c] = T(scale * sign(p[c] - t(r, c)) / k);
      return;
    case Loss::mape:
      for (long c = 0; c < cols; ++c)
        g[c] = T(scale * 100 * sign(p[c] - t(r, c)) / std::max(std::abs(t(r, c)), eps) / k);
      return;
    case Loss::msle:
      for (long c = 0; c < cols; ++c) {
        // max(p, eps) passes the gradient to p where p >= eps (TensorFlow's rule at the tie).
        const double q = std::max(double(p[c]), eps);
        const double d = std::log1p(q) - std::log1p(std::max(t(r, c), eps));
        g[c] = p[c] >= eps ? T(scale * 2 * d / (1 + q) / k) : T(0);
      }
      return;
    case Loss::binary_crossentropy:
      for (long c = 0; c < cols; ++c) {
        if (l.from_logits) {  // d/dz of softplus(z) - t z
          g[c] = T(scale * (sigmoid(p[c]) - t(r, c)) / k);
        } else if (fused) {  // d/dz of the sigmoid cross-entropy
          g[c] = T(scale * (p[c] - t(r, c)) / k);
        } else {
          const T q = clip_probability(p[c]);
          const bool clipped = q != p[c];
          g[c] = clipped ? T(0) : T(scale * (-t(r, c) / q + (1 - t(r, c)) / (1 - q)) / k);
        }
      }
      return;
    case Loss::categorical_crossentropy:
    case Loss::sparse_categorical_crossentropy: {
      if (l.from_logits || fused) {  // d/dz of -sum t log softmax(z) = softmax(z) * sum(t) - t
        double t_sum = 0;
        for (long c = 0; c < cols; ++c) t_sum += t(r, c);
        const double lse = l.from_logits ? log_sum_exp(p, cols) : 0.0;
        for (long c = 0; c < cols; ++c) {
          const double prob = l.from_logits ? std::exp(p[c] - lse) : double(p[c]);
          g[c] = T(scale * (prob * t_sum - t(r, c)));
        }
        return;
      }
      // Through q = clip(p / sum(p)): dL/dq_c = -t_c / q_c where unclipped,
      // then dL/dp_k = dL/dq_k / S - sum_c dL/dq_c p_c / S^2.
      double sum = 0;
      for (long c = 0; c < cols; ++c) sum += p[c];
      double dot = 0;
      for (long c = 0; c < cols; ++c) {
        const T q = T(p[c] / sum);
        const double dq = clip_probability(q) == q ? -t(r, c) / q : 0.0;
        g[c] = T(dq);
        dot += dq * p[c];
      }
      for (long c = 0; c < cols; ++c) g[c] = T(scale * (g[c] / sum - dot / (sum * sum)));
      return;
    }
    case Loss::hinge:
    case Loss::squared_hinge:
      for (long c = 0; c < cols; ++c) {
        const double m = 1 - t(r, c) * p[c];
        const double d = m > 0 ? (l.kind == Loss::hinge ? -t(r, c) : -2 * m * t(r, c)) : 0.0;
        g[c] = T(scale * d / k);
      }
      return;
    case Loss::categorical_hinge: {
      // max(neg - pos + 1, 0), neg = max_c (1 - t_c) p_c, pos = sum t p. A tied
      // maximum shares its gradient equally (TensorFlow's and JAX's rule).
      double pos = 0, neg = -INFINITY;
      for (long c = 0; c < cols; ++c) {
        pos += t(r, c) * p[c];
        neg = std::max(neg, (1 - t(r, c)) * p[c]);
      }
      const bool active = neg - pos + 1 > 0;
      long ties = 0;
      for (long c = 0; c < cols; ++c) ties += (1 - t(r, c)) * p[c] == neg;
      for (long c = 0; c < cols; ++c) {
        const double arg = (1 - t(r, c)) * p[c] == neg ? (1 - t(r, c)) / double(ties) : 0.0;
        g[c] = active ? T(scale * (arg - t(r, c))) : T(0);
      }
      return;
    }
    case Loss::kl_divergence:
      for (long c = 0; c < cols; ++c) {
        const double tc = std::clamp(t(r, c), eps, 1.0);
        const bool inside = p[c] >= eps && p[c] <= 1;
        g[c] = inside ? T(scale * -tc / p[c]) : T(0);
      }
      return;
    case Loss::poisson:
      for (long c = 0; c < cols; ++c) g[c] = T(scale * (1 - t(r, c) / (p[c] + eps)) / k);
      return;
    case Loss::huber:
      for (long c = 0; c < cols; ++c) {
        const double e = p[c] - t(r, c);
        g[c] = T(scale * (std::abs(e) <= l.delta ? e : l.delta * sign(e)) / k);
      }
      return;
    case Loss::log_cosh:
      for (long c = 0; c < cols; ++c) g[c] = T(scale * std::tanh(double(p[c]) - t(r, c)) / k);
      return;
    case Loss::cosine_similarity: {
      // L = -s(p) sum_c u_c p_c with u = normalised t and s = min(|p|^-1, 1/eps):
      // dL/dp = -s u + (u.p) s^3 p where |p| > eps, else -s u (s is constant there).
      bool clamped = false;
      const double sp = inv_norm(p, cols, &clamped), st = inv_norm_targets(t, r, cols);
      double dot = 0;
      for (long c = 0; c < cols; ++c) dot += t(r, c) * st * p[c];
      const double radial = clamped ? 0.0 : dot * sp * sp * sp;
      for (long c = 0; c < cols; ++c) g[c] = T(scale * (-t(r, c) * st * sp + radial * p[c]));
      return;
    }
  }
}

}  // namespace

LossSpec parse_loss(const std::string& name) {
  LossSpec spec;
  spec.kind = kLosses.parse(name, "loss");
  return spec;
}

void validate(const LossSpec& spec) {
  if (!(spec.label_smoothing >= 0 && spec.label_smoothing <= 1))
    throw std::invalid_argument("label_smoothing must be in [0, 1], got " + std::to_string(spec.label_smoothing) + ".");
  if (!(spec.delta > 0)) throw std::invalid_argument("delta must be > 0, got " + std::to_string(spec.delta) + ".");
  const bool smoothable = spec.kind == Loss::binary_crossentropy || spec.kind == Loss::categorical_crossentropy;
  if (spec.label_smoothing != 0 && !smoothable)
    throw std::invalid_argument(std::string(loss_name(spec.kind)) + " takes no label_smoothing.");
  if (spec.from_logits && !is_crossentropy(spec.kind))
    throw std::invalid_argument(std::string(loss_name(spec.kind)) + " takes no from_logits.");
}
const char* loss_name(Loss l) { return kLosses.name(l); }
std::vector<std::string> loss_names() { return kLosses.names(); }

long loss_target_cols(const LossSpec& l, long outputs) {
  return l.kind == Loss::sparse_categorical_crossentropy ? 1 : outputs;
}

bool loss_fuses_with(const LossSpec& l, const ActivationSpec& a) {
  if (l.from_logits) return false;  // the loss applies sigmoid / softmax itself
  switch (l.kind) {
    case Loss::binary_crossentropy:
      return a.kind == Activation::sigmoid;
    case Loss::categorical_crossentropy:
    case Loss::sparse_categorical_crossentropy:
      return a.kind == Activation::softmax;
    default:
      return false;
  }
}

template <class T>
void loss_check_targets(const LossSpec& l, const T* target, long rows, long outputs) {
  if (l.kind != Loss::sparse_categorical_crossentropy) return;
  for (long r = 0; r < rows; ++r) {
    const T v = target[r];
    if (!(v >= 0 && v < static_cast<T>(outputs)) || v != std::floor(v))
      throw std::invalid_argument("sparse_categorical_crossentropy: label " + std::to_string(v) + " at row " +
                                  std::to_string(r) + " is not an integer class index in [0, " +
                                  std::to_string(outputs) + ").");
  }
}

template <class T>
double loss_value(const LossSpec& l, const T* pred, const T* target, const T* w, long rows, long cols) {
  const Targets<T> t(l, target, rows, cols);
  double total = 0;
  for (long r = 0; r < rows; ++r) total += weight_of(w, r) * row_loss(l, t, pred + r * cols, r, cols);
  return total / rows;
}

template <class T>
void loss_per_sample(const LossSpec& l, const T* pred, const T* target, long rows, long cols, double* values) {
  const Targets<T> t(l, target, rows, cols);
  for (long r = 0; r < rows; ++r) values[r] = row_loss(l, t, pred + r * cols, r, cols);
}

template <class T>
void loss_gradient(const LossSpec& l, bool fused, const T* pred, const T* target, const T* w, T* grad, long rows,
                   long cols) {
  const Targets<T> t(l, target, rows, cols);
  for (long r = 0; r < rows; ++r)
    row_gradient(l, fused, t, pred + r * cols, grad + r * cols, r, cols, weight_of(w, r) / rows);
}

#define DENSENN_INSTANTIATE(T)                                                                           \
  template void loss_check_targets<T>(const LossSpec&, const T*, long, long);                            \
  template double loss_value<T>(const LossSpec&, const T*, const T*, const T*, long, long);              \
  template void loss_per_sample<T>(const LossSpec&, const T*, const T*, long, long, double*);            \
  template void loss_gradient<T>(const LossSpec&, bool, const T*, const T*, const T*, T*, long, long);
DENSENN_INSTANTIATE(float)
DENSENN_INSTANTIATE(double)
#undef DENSENN_INSTANTIATE

}  // namespace densenn
