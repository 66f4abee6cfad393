// Metrics accumulated over a pass (an epoch, an evaluation) in a small state
// vector of sums, then turned into a value, as Keras' stateful metrics.
#pragma once

#include <string>
#include <vector>

namespace densenn {

enum class Metric { binary_accuracy, categorical_accuracy, sparse_categorical_accuracy };

// A metric and its Keras arguments.
struct MetricSpec {
  Metric kind = Metric::binary_accuracy;
  double threshold = 0.5;  // binary accuracy
};

MetricSpec parse_metric(const std::string& name);
const char* metric_name(Metric m);
// Throws std::invalid_argument when an argument is out of range.
void validate(const MetricSpec& spec);

// Number of sums the metric accumulates (its state starts at zero).
long metric_state_size(const MetricSpec& spec);

// Adds one batch to the metric's state; sample_weight may be null.
template <class T>
void metric_accumulate(const MetricSpec& spec, const T* pred, const T* target, const T* sample_weight, long rows,
                       long cols, double* state);

// The metric's value for the state accumulated so far.
double metric_result(const MetricSpec& spec, const double* state);

}  // namespace densenn
