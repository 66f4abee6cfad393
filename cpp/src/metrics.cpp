#include "densenn/metrics.hpp"

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

Metric parse_metric(const std::string& name) { return kMetrics.parse(name, "metric"); }
const char* metric_name(Metric m) { return kMetrics.name(m); }

template <class T>
void metric_accumulate(Metric m, const T* pred, const T* target, const T* w, long rows, long cols, double* total,
                       double* weight) {
  for (long r = 0; r < rows; ++r) {
    const T* p = pred + r * cols;
    double correct = 0;
    switch (m) {
      case Metric::binary_accuracy:  // mean over the outputs of (p > 0.5) == t
        for (long c = 0; c < cols; ++c) correct += (p[c] > T(0.5) ? T(1) : T(0)) == target[r * cols + c];
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
    *total += wr * correct;
    *weight += wr;
  }
}

template void metric_accumulate<float>(Metric, const float*, const float*, const float*, long, long, double*,
                                       double*);
template void metric_accumulate<double>(Metric, const double*, const double*, const double*, long, long, double*,
                                        double*);

}  // namespace densenn
