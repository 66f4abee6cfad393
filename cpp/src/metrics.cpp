#include "densenn/metrics.hpp"

#include <stdexcept>

#include "names.hpp"

namespace densenn {
namespace {

const NameTable<Metric> kMetrics = {
    {"binary_accuracy", Metric::binary_accuracy},
    {"categorical_accuracy", Metric::categorical_accuracy},
    {"sparse_categorical_accuracy", Metric::sparse_categorical_accuracy},
};

template <class T>
long argmax(const T* v, long n) {
  long best = 0;  // first index wins ties, as numpy/keras argmax
  for (long i = 1; i < n; ++i)
    if (v[i] > v[best]) best = i;
  return best;
}

}  // namespace

MetricSpec parse_metric(const std::string& name) {
  MetricSpec spec;
  spec.kind = kMetrics.parse(name, "metric");
  return spec;
}

const char* metric_name(Metric m) { return kMetrics.name(m); }

void validate(const MetricSpec& spec) {
  if (!(spec.threshold >= 0 && spec.threshold <= 1))
    throw std::invalid_argument("threshold must be in [0, 1], got " + std::to_string(spec.threshold) + ".");
}

long metric_state_size(const MetricSpec&) {
  return 2;  // the accuracies: sum(w * correct), sum(w)
}

template <class T>
void metric_accumulate(const MetricSpec& spec, const T* pred, const T* target, const T* w, long rows, long cols,
                       double* state) {
  for (long r = 0; r < rows; ++r) {
    const T* p = pred + r * cols;
    double correct = 0;
    switch (spec.kind) {
      case Metric::binary_accuracy:  // mean over the outputs of (p > threshold) == t
        for (long c = 0; c < cols; ++c) correct += (p[c] > T(spec.threshold) ? T(1) : T(0)) == target[r * cols + c];
        correct /= cols;
        break;
      case Metric::categorical_accuracy:
        correct = argmax(p, cols) == argmax(target + r * cols, cols);
        break;
      case Metric::sparse_categorical_accuracy:
        correct = static_cast<T>(argmax(p, cols)) == target[r];
        break;
    }
    const double wr = w ? double(w[r]) : 1.0;
    state[0] += wr * correct;
    state[1] += wr;
  }
}

double metric_result(const MetricSpec&, const double* state) { return state[1] > 0 ? state[0] / state[1] : 0.0; }

template void metric_accumulate<float>(const MetricSpec&, const float*, const float*, const float*, long, long,
                                       double*);
template void metric_accumulate<double>(const MetricSpec&, const double*, const double*, const double*, long, long,
                                        double*);

}  // namespace densenn
