// Metrics accumulated over a pass (an epoch, an evaluation) in a small state
// vector of sums, then turned into a value, as Keras' stateful metrics.
#pragma once

#include <string>
#include <vector>

namespace densenn {

enum class Metric {
  binary_accuracy,
  categorical_accuracy,
  sparse_categorical_accuracy,
  accuracy,  // keras.metrics.Accuracy: exact equality of prediction and target
  mean_absolute_error,
  mean_squared_error,
  root_mean_squared_error,
  top_k_categorical_accuracy,
  sparse_top_k_categorical_accuracy,
  precision,
  recall,
  auc,
};

enum class AucCurve { roc, pr };
enum class AucSummation { interpolation, minoring, majoring };

// keras.metrics NEG_INF: the threshold of Precision/Recall(top_k=...) when none is given.
constexpr double kMetricNegInf = -1e10;

// A metric and its Keras arguments.
struct MetricSpec {
  Metric kind = Metric::binary_accuracy;
  // Keras' compile(weighted_metrics=...): sample weights (and class weights)
  // apply; metrics given as compile(metrics=...) ignore them.
  bool weighted = false;
  double threshold = 0.5;  // binary accuracy; precision / recall
  long k = 5;              // top-k accuracies
  long top_k = 0;          // precision / recall: 0 = unset
  long class_id = -1;      // precision / recall: -1 = unset
  // AUC
  long num_thresholds = 200;
  std::vector<double> thresholds;  // the user's thresholds (without the end points); empty: evenly spaced
  AucCurve curve = AucCurve::roc;
  AucSummation summation = AucSummation::interpolation;
  bool multi_label = false;
  std::vector<double> label_weights;  // empty: none
  bool from_logits = false;
  // Set by bind_metric when a model compiles: its output width and the width
  // of the target rows its loss takes (1 for integer labels).
  long outputs = 0;
  long target_cols = 0;
};

MetricSpec parse_metric(const std::string& name);
const char* metric_name(Metric m);
std::vector<std::string> metric_names();
AucCurve parse_auc_curve(const std::string& name);
AucSummation parse_auc_summation(const std::string& name);
// Throws std::invalid_argument when an argument is out of range.
void validate(const MetricSpec& spec);
// Validates the spec and checks it against a model's output width and target
// width (throws std::invalid_argument, naming the metric, when they do not fit).
void bind_metric(MetricSpec& spec, long outputs, long target_cols);

// Number of sums the metric accumulates (its state starts at zero). AUC keeps
// its confusion counts per threshold (and per label with multi_label).
long metric_state_size(const MetricSpec& spec);

// The metric's value for the state accumulated so far.
double metric_result(const MetricSpec& spec, const double* state);

}  // namespace densenn
