#include "densenn/losses.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "names.hpp"

namespace densenn {
namespace {

const NameTable<Loss> kLosses = {
    {"mse", Loss::mse},
    {"binary_crossentropy", Loss::binary_crossentropy},
    {"categorical_crossentropy", Loss::categorical_crossentropy},
    {"sparse_categorical_crossentropy", Loss::sparse_categorical_crossentropy},
};

constexpr double kEps = 1e-7;  // keras.config.epsilon(): clips probabilities away from 0 and 1

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
}
const char* loss_name(Loss l) { return kLosses.name(l); }
std::vector<std::string> loss_names() { return kLosses.names(); }

long loss_target_cols(const LossSpec& l, long outputs) {
  return l.kind == Loss::sparse_categorical_crossentropy ? 1 : outputs;
}

bool loss_fuses_with(const LossSpec& l, const ActivationSpec& a) {
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
  double total = 0;
  for (long r = 0; r < rows; ++r) {
    const T* p = pred + r * cols;
    double sample = 0;
    switch (l.kind) {
      case Loss::mse: {
        const T* t = target + r * cols;
        for (long c = 0; c < cols; ++c) sample += double(t[c] - p[c]) * double(t[c] - p[c]);
        sample /= cols;
        break;
      }
      case Loss::binary_crossentropy: {
        const T* t = target + r * cols;
        for (long c = 0; c < cols; ++c) {
          const double q = clip_probability(p[c]);
          sample -= double(t[c]) * std::log(q) + (1 - double(t[c])) * std::log(1 - q);
        }
        sample /= cols;
        break;
      }
      case Loss::categorical_crossentropy: {
        const T* t = target + r * cols;
        double sum = 0;
        for (long c = 0; c < cols; ++c) sum += p[c];
        for (long c = 0; c < cols; ++c) sample -= double(t[c]) * std::log(clip_probability(T(p[c] / sum)));
        break;
      }
      case Loss::sparse_categorical_crossentropy: {
        double sum = 0;
        for (long c = 0; c < cols; ++c) sum += p[c];
        sample = -std::log(clip_probability(T(p[label_of(target, r)] / sum)));
        break;
      }
    }
    total += weight_of(w, r) * sample;
  }
  return total / rows;
}

template <class T>
void loss_gradient(const LossSpec& l, bool fused, const T* pred, const T* target, const T* w, T* grad, long rows,
                   long cols) {
  for (long r = 0; r < rows; ++r) {
    const T* p = pred + r * cols;
    T* g = grad + r * cols;
    const double scale = weight_of(w, r) / rows;
    switch (l.kind) {
      case Loss::mse: {
        const T* t = target + r * cols;
        for (long c = 0; c < cols; ++c) g[c] = T(scale * 2 * (p[c] - t[c]) / cols);
        break;
      }
      case Loss::binary_crossentropy: {
        const T* t = target + r * cols;
        for (long c = 0; c < cols; ++c) {
          if (fused) {  // d/dz of the sigmoid cross-entropy
            g[c] = T(scale * (p[c] - t[c]) / cols);
          } else {
            const T q = clip_probability(p[c]);
            const bool clipped = q != p[c];
            g[c] = clipped ? T(0) : T(scale * (-double(t[c]) / q + (1 - double(t[c])) / (1 - q)) / cols);
          }
        }
        break;
      }
      case Loss::categorical_crossentropy:
      case Loss::sparse_categorical_crossentropy: {
        const bool sparse = l.kind == Loss::sparse_categorical_crossentropy;
        const long label = sparse ? label_of(target, r) : -1;
        auto t = [&](long c) { return sparse ? (c == label ? 1.0 : 0.0) : double(target[r * cols + c]); };
        if (fused) {  // d/dz of -sum t log softmax(z) = p * sum(t) - t
          double t_sum = 0;
          for (long c = 0; c < cols; ++c) t_sum += t(c);
          for (long c = 0; c < cols; ++c) g[c] = T(scale * (p[c] * t_sum - t(c)));
          break;
        }
        // Through q = clip(p / sum(p)): dL/dq_c = -t_c / q_c where unclipped,
        // then dL/dp_k = dL/dq_k / S - sum_c dL/dq_c p_c / S^2.
        double sum = 0;
        for (long c = 0; c < cols; ++c) sum += p[c];
        double dot = 0;
        for (long c = 0; c < cols; ++c) {
          const T q = T(p[c] / sum);
          const double dq = clip_probability(q) == q ? -t(c) / q : 0.0;
          g[c] = T(dq);
          dot += dq * p[c];
        }
        for (long c = 0; c < cols; ++c) g[c] = T(scale * (g[c] / sum - dot / (sum * sum)));
        break;
      }
    }
  }
}

#define DENSENN_INSTANTIATE(T)                                                                           \
  template void loss_check_targets<T>(const LossSpec&, const T*, long, long);                            \
  template double loss_value<T>(const LossSpec&, const T*, const T*, const T*, long, long);              \
  template void loss_gradient<T>(const LossSpec&, bool, const T*, const T*, const T*, T*, long, long);
DENSENN_INSTANTIATE(float)
DENSENN_INSTANTIATE(double)
#undef DENSENN_INSTANTIATE

}  // namespace densenn
