#include <Eigen/Core>
#include <cstring>

#include "densenn/backend.hpp"

namespace densenn {
namespace {

template <class T>
using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

template <class T>
class CpuBackend final : public Backend<T> {
 public:
  const char* name() const override { return "cpu"; }

  void matmul(bool trans_a, bool trans_b, long m, long n, long k, const T* a, const T* b, T* c,
              bool accumulate) override {
    Eigen::Map<const Mat<T>> A(a, trans_a ? k : m, trans_a ? m : k);
    Eigen::Map<const Mat<T>> B(b, trans_b ? n : k, trans_b ? k : n);
    Eigen::Map<Mat<T>> C(c, m, n);
    // Eigen picks its blocked GEMM (threaded with OpenMP when large) or, for
    // tiny shapes, a coefficient-wise product.
    auto store = [&](const auto& product) {
      if (accumulate)
        C.noalias() += product;
      else
        C.noalias() = product;
    };
    if (trans_a && trans_b)
      store(A.transpose() * B.transpose());
    else if (trans_a)
      store(A.transpose() * B);
    else if (trans_b)
      store(A * B.transpose());
    else
      store(A * B);
  }

  void bias_activation_forward(Activation act, const T* bias, T* z, T* y, long rows, long cols) override {
    if (bias) {
      Eigen::Map<Mat<T>> Z(z, rows, cols);
      Z.rowwise() += Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(bias, cols);
    }
    activation_forward(act, z, y, rows, cols);
  }

  void activation_backward(Activation act, const T* z, const T* y, T* grad, long rows, long cols) override {
    densenn::activation_backward(act, z, y, grad, rows, cols);
  }

  void bias_gradient(const T* grad, T* db, long rows, long cols) override {
    Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>(db, cols) = Eigen::Map<const Mat<T>>(grad, rows, cols).colwise().sum();
  }

  void gather_rows(const T* src, long cols, const long* index, long count, T* dst) override {
    for (long i = 0; i < count; ++i) std::memcpy(dst + i * cols, src + index[i] * cols, sizeof(T) * cols);
  }

  double loss_value(Loss loss, const T* pred, const T* target, const T* w, long rows, long cols) override {
    return densenn::loss_value(loss, pred, target, w, rows, cols);
  }

  void loss_gradient(Loss loss, bool fused, const T* pred, const T* target, const T* w, T* grad, long rows,
                     long cols) override {
    densenn::loss_gradient(loss, fused, pred, target, w, grad, rows, cols);
  }

  void metric_accumulate(Metric metric, const T* pred, const T* target, const T* w, long rows, long cols,
                         double* total, double* weight) override {
    densenn::metric_accumulate(metric, pred, target, w, rows, cols, total, weight);
  }

  void optimizer_step(const OptimizerConfig& config, T* params, const T* grads, T* state, std::size_t n,
                      long long iteration) override {
    densenn::optimizer_step(config, params, grads, state, n, iteration);
  }
};

}  // namespace

template <class T>
Backend<T>& cpu_backend() {
  static CpuBackend<T> backend;
  return backend;
}

template Backend<float>& cpu_backend<float>();
template Backend<double>& cpu_backend<double>();

}  // namespace densenn
