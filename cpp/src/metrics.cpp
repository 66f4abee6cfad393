// Keras 3's metrics (keras.metrics), accumulated over a pass.
//
// Mean metrics (the accuracies, mae, mse, rmse) keep sum(w * value) and sum(w),
// where value is the per-sample value (a mean over the outputs for the
// element-wise ones) and w the sample weight (1 unless the metric was compiled
// as a weighted metric). Precision / Recall keep two confusion counts at one
// threshold; AUC keeps tp, fp, tn, fn at each of its thresholds, as Keras'
// metric variables do, and computes the area from them at the end.
#include "densenn/metrics.hpp"

#include "densenn/buffer.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

#include "cpu_kernels.hpp"
#include "names.hpp"

namespace densenn {
namespace {

const NameTable<Metric> kMetrics = {
    {"binary_accuracy", Metric::binary_accuracy},
    {"categorical_accuracy", Metric::categorical_accuracy},
    {"sparse_categorical_accuracy", Metric::sparse_categorical_accuracy},
    {"accuracy", Metric::accuracy},
    {"mean_absolute_error", Metric::mean_absolute_error},
    {"mean_squared_error", Metric::mean_squared_error},
    {"root_mean_squared_error", Metric::root_mean_squared_error},
    {"top_k_categorical_accuracy", Metric::top_k_categorical_accuracy},
    {"sparse_top_k_categorical_accuracy", Metric::sparse_top_k_categorical_accuracy},
    {"precision", Metric::precision},
    {"recall", Metric::recall},
    {"auc", Metric::auc},
};

const NameTable<AucCurve> kCurves = {{"ROC", AucCurve::roc}, {"PR", AucCurve::pr}};

const NameTable<AucSummation> kSummations = {
    {"interpolation", AucSummation::interpolation},
    {"minoring", AucSummation::minoring},
    {"majoring", AucSummation::majoring},
};

constexpr double kEpsilon = 1e-7;  // keras.config.epsilon(): AUC's end-point thresholds are -eps and 1 + eps

template <class T>
long argmax(const T* v, long n) {
  long best = 0;  // first index wins ties, as numpy/keras argmax
  for (long i = 1; i < n; ++i)
    if (v[i] > v[best]) best = i;
  return best;
}

// ops.in_top_k: the target is in the top k when fewer than k classes score
// strictly higher (ties at the boundary count as in, as TensorFlow's in_top_k).
template <class T>
bool in_top_k(const T* p, long cols, long label, long k) {
  if (label < 0 || label >= cols || !std::isfinite(double(p[label]))) return false;
  long higher = 0;
  for (long c = 0; c < cols; ++c) higher += p[c] > p[label];
  return higher < k;
}

// ops.divide_no_nan
double divide_no_nan(double a, double b) { return b == 0 ? 0.0 : a / b; }

bool is_mean_metric(Metric m) {
  switch (m) {
    case Metric::precision:
    case Metric::recall:
    case Metric::auc:
      return false;
    default:
      return true;
  }
}

constexpr long kAucCounts = 4;  // AUC's state per threshold and label: tp, fp, tn, fn

long auc_num_thresholds(const MetricSpec& s) {
  return s.thresholds.empty() ? s.num_thresholds : long(s.thresholds.size()) + 2;
}

long auc_labels(const MetricSpec& s) { return s.multi_label ? s.outputs : 1; }

// All of AUC's thresholds: -eps, the user's (sorted) or (i+1)/(n-1), 1 + eps.
std::vector<double> auc_thresholds(const MetricSpec& s) {
  std::vector<double> t{0.0 - kEpsilon};
  if (s.thresholds.empty()) {
    for (long i = 0; i < s.num_thresholds - 2; ++i) t.push_back((i + 1) * 1.0 / double(s.num_thresholds - 1));
  } else {
    std::vector<double> user = s.thresholds;
    std::sort(user.begin(), user.end());
    t.insert(t.end(), user.begin(), user.end());
  }
  t.push_back(1.0 + kEpsilon);
  return t;
}

// metrics_utils.is_evenly_distributed_thresholds([0] + thresholds + [1]):
// np.allclose against arange(n, float32) / (n - 1) with atol = epsilon.
bool auc_evenly_distributed(const MetricSpec& s) {
  if (s.thresholds.empty()) return true;
  std::vector<double> t{0.0};
  std::vector<double> user = s.thresholds;
  std::sort(user.begin(), user.end());
  t.insert(t.end(), user.begin(), user.end());
  t.push_back(1.0);
  const long n = long(t.size());
  if (n < 3) return false;
  for (long i = 0; i < n; ++i) {
    const double even = double(float(i) / float(n - 1));
    if (!(std::abs(t[std::size_t(i)] - even) <= kEpsilon + 1e-5 * std::abs(even))) return false;
  }
  return true;
}

template <class T>
T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

// Mean metrics: the per-sample value.
template <class T>
double sample_value(const MetricSpec& spec, const T* p, const T* t, long cols, long tcols) {
  // Element-wise metrics broadcast a one-column target over the outputs, as Keras does.
  auto target = [&](long c) { return tcols == cols ? t[c] : t[0]; };
  double sum = 0;
  switch (spec.kind) {
    case Metric::binary_accuracy:  // mean over the outputs of cast(p > threshold) == t
      for (long c = 0; c < cols; ++c) sum += (p[c] > T(spec.threshold) ? T(1) : T(0)) == target(c);
      return sum / double(cols);
    case Metric::accuracy:  // mean over the outputs of p == t
      for (long c = 0; c < cols; ++c) sum += p[c] == target(c);
      return sum / double(cols);
    case Metric::mean_absolute_error:
      for (long c = 0; c < cols; ++c) sum += std::abs(double(p[c]) - double(target(c)));
      return sum / double(cols);
    case Metric::mean_squared_error:
    case Metric::root_mean_squared_error:
      for (long c = 0; c < cols; ++c) {
        const double d = double(p[c]) - double(target(c));
        sum += d * d;
      }
      return sum / double(cols);
    case Metric::categorical_accuracy:
      return argmax(p, cols) == argmax(t, tcols);
    case Metric::sparse_categorical_accuracy:  // the argmax, as a value of the label's type, equals the label
      return static_cast<T>(argmax(p, cols)) == t[0];
    case Metric::top_k_categorical_accuracy:
      return in_top_k(p, cols, argmax(t, tcols), spec.k);
    case Metric::sparse_top_k_categorical_accuracy: {
      const double label = double(t[0]);  // cast to int32, as Keras does
      if (!(label > -1.0 && label < double(cols))) return 0.0;
      return in_top_k(p, cols, static_cast<long>(label), spec.k);
    }
    default:
      return 0.0;
  }
}

// metrics_utils._filter_top_k for one row: keeps the k largest predictions
// (ties to the lower index, as ops.top_k) and sets the others to NEG_INF.
template <class T>
void filter_top_k(const T* p, long cols, long k, std::vector<long>& order, std::vector<T>& out) {
  out.assign(p, p + cols);
  if (k >= cols) return;
  order.resize(std::size_t(cols));
  std::iota(order.begin(), order.end(), 0L);
  auto key = [&](long i) { return std::isnan(double(p[i])) ? -std::numeric_limits<double>::infinity() : double(p[i]); };
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](long a, long b) {
    const double ka = key(a), kb = key(b);
    return ka > kb || (ka == kb && a < b);
  });
  for (long i = k; i < cols; ++i) out[std::size_t(order[std::size_t(i)])] = T(kMetricNegInf);
}

template <class T>
void accumulate_precision_recall(const MetricSpec& spec, const T* pred, const T* target, const T* w, long rows,
                                 long cols, double* state) {
  std::vector<long> order;
  std::vector<T> row;
  const T threshold = T(spec.threshold);
  const long first = spec.class_id >= 0 ? spec.class_id : 0;
  const long last = spec.class_id >= 0 ? spec.class_id + 1 : cols;
  for (long r = 0; r < rows; ++r) {
    const double wr = (spec.weighted && w) ? double(w[r]) : 1.0;
    const T* p = pred + r * cols;
    if (spec.top_k > 0) {
      filter_top_k(p, cols, spec.top_k, order, row);
      p = row.data();
    }
    for (long c = first; c < last; ++c) {
      const bool positive = target[r * cols + c] != T(0);  // labels cast to bool
      const bool predicted = p[c] > threshold;
      if (spec.kind == Metric::precision) {
        if (predicted) state[positive ? 0 : 1] += wr;  // tp, fp
      } else {
        if (positive) state[predicted ? 0 : 1] += wr;  // tp, fn
      }
    }
  }
}

// AUC's confusion counts: state = [tp | fp | tn | fn], each num_thresholds x
// labels (row-major by threshold).
template <class T>
void accumulate_auc(const MetricSpec& spec, const T* pred, const T* target, const T* w, long rows, long cols,
                    double* state) {
  const long n = auc_num_thresholds(spec);
  const long labels = auc_labels(spec);
  if (spec.multi_label && labels != cols)
    throw std::logic_error("AUC(multi_label=True) was compiled for a different output width.");
  const std::size_t size = std::size_t(n * labels);
  double *tp = state, *fp = state + size, *tn = state + 2 * size, *fn = state + 3 * size;
  auto weight_of = [&](long r, long c) {
    double wr = (spec.weighted && w) ? double(w[r]) : 1.0;
    if (!spec.multi_label && !spec.label_weights.empty()) wr *= spec.label_weights[std::size_t(c)];
    return wr;
  };
  auto prediction = [&](long r, long c) {
    const T p = pred[r * cols + c];
    return spec.from_logits ? sigmoid(p) : p;
  };
  if (auc_evenly_distributed(spec)) {
    // metrics_utils._update_confusion_matrix_variables_optimized: a prediction p
    // (clipped to [0, 1]) lies above thresholds 0 .. ceil(p * (n - 1)) - 1 (and
    // always above -eps); bucket sums, then reversed cumulative sums.
    std::vector<double> pos(size, 0.0), neg(size, 0.0);
    for (long r = 0; r < rows; ++r) {
      for (long c = 0; c < cols; ++c) {
        T p = prediction(r, c);
        p = p >= T(0) ? std::min(p, T(1)) : T(0);  // ops.clip (NaN lands in the lowest bucket)
        long bucket = static_cast<long>(std::ceil(p * T(n - 1))) - 1;
        bucket = std::max(bucket, 0L);
        const long label = spec.multi_label ? c : 0;
        const double wrc = weight_of(r, c);
        const std::size_t at = std::size_t(bucket * labels + label);
        if (target[r * cols + c] != T(0))
          pos[at] += wrc;
        else
          neg[at] += wrc;
      }
    }
    for (long l = 0; l < labels; ++l) {
      double total_pos = 0, total_neg = 0;
      for (long i = 0; i < n; ++i) {
        total_pos += pos[std::size_t(i * labels + l)];
        total_neg += neg[std::size_t(i * labels + l)];
      }
      double above_pos = 0, above_neg = 0;
      for (long i = n; i-- > 0;) {
        const std::size_t at = std::size_t(i * labels + l);
        above_pos += pos[at];
        above_neg += neg[at];
        tp[at] += above_pos;
        fp[at] += above_neg;
        tn[at] += total_neg - above_neg;
        fn[at] += total_pos - above_pos;
      }
    }
  } else {
    // The general path: prediction > threshold at every threshold (no clipping).
    const std::vector<double> thresholds = auc_thresholds(spec);
    std::vector<T> cut(thresholds.size());
    for (std::size_t i = 0; i < cut.size(); ++i) cut[i] = T(thresholds[i]);
    for (long r = 0; r < rows; ++r) {
      for (long c = 0; c < cols; ++c) {
        const T p = prediction(r, c);
        const long label = spec.multi_label ? c : 0;
        const double wrc = weight_of(r, c);
        const bool positive = target[r * cols + c] != T(0);
        for (long i = 0; i < n; ++i) {
          const std::size_t at = std::size_t(i * labels + label);
          const bool above = p > cut[std::size_t(i)];
          if (positive)
            (above ? tp : fn)[at] += wrc;
          else
            (above ? fp : tn)[at] += wrc;
        }
      }
    }
  }
}

// AUC of one label from its counts (stride `labels` between thresholds).
double auc_of_label(const MetricSpec& spec, const double* tp, const double* fp, const double* tn, const double* fn,
                    long n, long labels, long l) {
  auto at = [&](const double* v, long i) { return v[i * labels + l]; };
  double area = 0;
  if (spec.curve == AucCurve::pr && spec.summation == AucSummation::interpolation) {
    // AUC.interpolate_pr_auc (Davis & Goadrich 2006): tp and the predicted
    // positives p = tp + fp vary linearly between thresholds, precision does not.
    for (long i = 0; i + 1 < n; ++i) {
      const double dtp = at(tp, i) - at(tp, i + 1);
      const double p0 = at(tp, i) + at(fp, i), p1 = at(tp, i + 1) + at(fp, i + 1);
      const double slope = divide_no_nan(dtp, std::max(p0 - p1, 0.0));
      const double intercept = at(tp, i + 1) - slope * p1;
      const double ratio = (p0 > 0 && p1 > 0) ? divide_no_nan(p0, std::max(p1, 0.0)) : 1.0;
      area += divide_no_nan(slope * (dtp + intercept * std::log(ratio)), std::max(at(tp, i + 1) + at(fn, i + 1), 0.0));
    }
    return area;
  }
  auto recall = [&](long i) { return divide_no_nan(at(tp, i), at(tp, i) + at(fn, i)); };
  auto x = [&](long i) {
    return spec.curve == AucCurve::roc ? divide_no_nan(at(fp, i), at(fp, i) + at(tn, i)) : recall(i);
  };
  auto y = [&](long i) {
    return spec.curve == AucCurve::roc ? recall(i) : divide_no_nan(at(tp, i), at(tp, i) + at(fp, i));
  };
  for (long i = 0; i + 1 < n; ++i) {
    double height;
    switch (spec.summation) {
      case AucSummation::interpolation:
        height = (y(i) + y(i + 1)) / 2.0;
        break;
      case AucSummation::minoring:
        height = std::min(y(i), y(i + 1));
        break;
      default:
        height = std::max(y(i), y(i + 1));
        break;
    }
    area += (x(i) - x(i + 1)) * height;
  }
  return area;
}

double auc_result(const MetricSpec& spec, const double* state) {
  const long n = auc_num_thresholds(spec);
  const long labels = auc_labels(spec);
  const std::size_t size = std::size_t(n * labels);
  const double *tp = state, *fp = state + size, *tn = state + 2 * size, *fn = state + 3 * size;
  if (!spec.multi_label) return auc_of_label(spec, tp, fp, tn, fn, n, 1, 0);
  double sum = 0, weighted = 0, weights = 0;
  for (long l = 0; l < labels; ++l) {
    const double a = auc_of_label(spec, tp, fp, tn, fn, n, labels, l);
    sum += a;
    if (!spec.label_weights.empty()) {
      weighted += a * spec.label_weights[std::size_t(l)];
      weights += spec.label_weights[std::size_t(l)];
    }
  }
  if (!spec.label_weights.empty()) return divide_no_nan(weighted, weights);
  return labels > 0 ? sum / double(labels) : 0.0;
}

std::string quoted(Metric m) { return "'" + std::string(kMetrics.name(m)) + "'"; }

}  // namespace

MetricSpec parse_metric(const std::string& name) {
  MetricSpec spec;
  spec.kind = kMetrics.parse(name, "metric");
  return spec;
}

const char* metric_name(Metric m) { return kMetrics.name(m); }
std::vector<std::string> metric_names() { return kMetrics.names(); }
AucCurve parse_auc_curve(const std::string& name) { return kCurves.parse(name, "AUC curve"); }
AucSummation parse_auc_summation(const std::string& name) {
  return kSummations.parse(name, "AUC summation method");
}

void validate(const MetricSpec& spec) {
  const std::string name = quoted(spec.kind);
  switch (spec.kind) {
    case Metric::binary_accuracy:
      if (!(spec.threshold >= 0 && spec.threshold <= 1))
        throw std::invalid_argument(name + ": threshold must be in [0, 1], got " + std::to_string(spec.threshold) +
                                    ".");
      break;
    case Metric::top_k_categorical_accuracy:
    case Metric::sparse_top_k_categorical_accuracy:
      if (spec.k < 1) throw std::invalid_argument(name + ": k must be >= 1, got " + std::to_string(spec.k) + ".");
      break;
    case Metric::precision:
    case Metric::recall:
      if (spec.top_k < 0)
        throw std::invalid_argument(name + ": top_k must be >= 1, got " + std::to_string(spec.top_k) + ".");
      if (spec.class_id < -1)
        throw std::invalid_argument(name + ": class_id must be >= 0, got " + std::to_string(spec.class_id) + ".");
      if (!((spec.threshold >= 0 && spec.threshold <= 1) || (spec.top_k > 0 && spec.threshold == kMetricNegInf)))
        throw std::invalid_argument(name + ": threshold must be in [0, 1], got " + std::to_string(spec.threshold) +
                                    ".");
      break;
    case Metric::auc:
      if (spec.thresholds.empty() && spec.num_thresholds <= 1)
        throw std::invalid_argument("'auc': num_thresholds must be an integer > 1, got " +
                                    std::to_string(spec.num_thresholds) + ".");
      for (double t : spec.thresholds)
        if (!std::isfinite(t)) throw std::invalid_argument("'auc': thresholds must be finite numbers.");
      for (double lw : spec.label_weights)
        if (!(std::isfinite(lw) && lw >= 0))
          throw std::invalid_argument("'auc': label_weights must be finite and non-negative.");
      break;
    default:
      break;
  }
}

void bind_metric(MetricSpec& spec, long outputs, long target_cols) {
  validate(spec);
  const std::string name = quoted(spec.kind);
  const bool labels = target_cols == 1 && outputs > 1;  // the loss takes integer labels
  switch (spec.kind) {
    case Metric::categorical_accuracy:
    case Metric::top_k_categorical_accuracy:
      if (target_cols != outputs)
        throw std::invalid_argument(
            "Metric " + name + " compares one-hot targets with the model's " + std::to_string(outputs) +
            " outputs, but the loss takes integer labels (one column): use " +
            (spec.kind == Metric::categorical_accuracy ? "'sparse_categorical_accuracy' (or 'accuracy')"
                                                       : "'sparse_top_k_categorical_accuracy'") +
            ".");
      break;
    case Metric::sparse_categorical_accuracy:
    case Metric::sparse_top_k_categorical_accuracy:
      if (target_cols != 1)
        throw std::invalid_argument(
            "Metric " + name +
            " takes integer labels (loss='sparse_categorical_crossentropy'), but the loss takes one-hot targets of "
            "width " +
            std::to_string(target_cols) + ": use " +
            (spec.kind == Metric::sparse_categorical_accuracy ? "'categorical_accuracy' (or 'accuracy')"
                                                              : "'top_k_categorical_accuracy'") +
            ".");
      break;
    case Metric::precision:
    case Metric::recall:
    case Metric::auc:
      if (labels)
        throw std::invalid_argument("Metric " + name + " needs targets as wide as the model's output (" +
                                    std::to_string(outputs) +
                                    "), but the loss takes integer labels (one column): use one-hot targets.");
      if (spec.class_id >= outputs)
        throw std::invalid_argument(name + ": class_id must be in [0, " + std::to_string(outputs) +
                                    ") for a model with " + std::to_string(outputs) + " outputs, got " +
                                    std::to_string(spec.class_id) + ".");
      if (!spec.label_weights.empty() && long(spec.label_weights.size()) != outputs)
        throw std::invalid_argument("'auc': label_weights must have one weight per output (" +
                                    std::to_string(outputs) + "), got " + std::to_string(spec.label_weights.size()) +
                                    ".");
      break;
    default:  // element-wise: a one-column target broadcasts over the outputs
      if (target_cols != outputs && target_cols != 1)
        throw std::invalid_argument("Metric " + name + ": targets of width " + std::to_string(target_cols) +
                                    " do not match the model's " + std::to_string(outputs) + " outputs.");
      break;
  }
  if (spec.kind == Metric::auc && !spec.thresholds.empty()) {
    std::sort(spec.thresholds.begin(), spec.thresholds.end());
    spec.num_thresholds = long(spec.thresholds.size()) + 2;
  }
  spec.outputs = outputs;
  spec.target_cols = target_cols;
  if (spec.kind == Metric::auc) {
    // Refused at compile time, before a pass allocates it: its state and, per batch, the bucket sums (two per
    // state column) and the thresholds. In double: a huge num_thresholds must not overflow before the check.
    const double n = double(auc_num_thresholds(spec)), labels = double(auc_labels(spec));
    check_allocation(8.0 * ((kAucCounts + 2) * n * labels + n),
                     "'auc' with num_thresholds=" + std::to_string(auc_num_thresholds(spec)) +
                         (spec.multi_label ? " and " + std::to_string(auc_labels(spec)) + " labels" : std::string()) +
                         " (its confusion counts, and per batch its bucket sums)");
  }
}

long metric_state_size(const MetricSpec& spec) {
  if (spec.kind == Metric::auc) return kAucCounts * auc_num_thresholds(spec) * auc_labels(spec);
  return 2;  // mean metrics: sum(w * value), sum(w); precision: tp, fp; recall: tp, fn
}

template <class T>
void metric_accumulate(const MetricSpec& spec, const T* pred, const T* target, const T* w, long rows, long cols,
                       double* state) {
  if (spec.kind == Metric::auc) return accumulate_auc(spec, pred, target, w, rows, cols, state);
  if (spec.kind == Metric::precision || spec.kind == Metric::recall)
    return accumulate_precision_recall(spec, pred, target, w, rows, cols, state);
  const long tcols = spec.target_cols > 0 ? spec.target_cols : cols;
  for (long r = 0; r < rows; ++r) {
    const double wr = (spec.weighted && w) ? double(w[r]) : 1.0;
    state[0] += wr * sample_value(spec, pred + r * cols, target + r * tcols, cols, tcols);
    state[1] += wr;
  }
}

double metric_result(const MetricSpec& spec, const double* state) {
  if (spec.kind == Metric::auc) return auc_result(spec, state);
  // Mean: total / count; precision: tp / (tp + fp); recall: tp / (tp + fn); 0 when empty.
  const double value = is_mean_metric(spec.kind) ? divide_no_nan(state[0], state[1])
                                                 : divide_no_nan(state[0], state[0] + state[1]);
  return spec.kind == Metric::root_mean_squared_error ? std::sqrt(value) : value;
}

template void metric_accumulate<float>(const MetricSpec&, const float*, const float*, const float*, long, long,
                                       double*);
template void metric_accumulate<double>(const MetricSpec&, const double*, const double*, const double*, long, long,
                                        double*);

}  // namespace densenn
