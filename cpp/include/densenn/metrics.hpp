// Metrics accumulated over an epoch as weighted sums (Keras' mean metrics).
#pragma once

#include <string>
#include <vector>

namespace densenn {

enum class Metric { binary_accuracy, categorical_accuracy, sparse_categorical_accuracy };

Metric parse_metric(const std::string& name);
const char* metric_name(Metric m);

// Adds sum(w * correct) over the batch to *total and sum(w) to *weight.
template <class T>
void metric_accumulate(Metric m, const T* pred, const T* target, const T* sample_weight, long rows, long cols,
                       double* total, double* weight);

}  // namespace densenn
