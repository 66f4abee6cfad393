#include "densenn/optimizers.hpp"

#include <Eigen/Core>
#include <cmath>
#include <stdexcept>
#include <string>

namespace densenn {
namespace {

void require(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument(message);
}

template <class T>
using Vec = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using ConstVec = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

}  // namespace

std::vector<std::string> optimizer_names() { return {"sgd", "adam"}; }

int optimizer_state_per_param(const OptimizerConfig& c) {
  require(std::isfinite(c.learning_rate) && c.learning_rate >= 0,
          "learning_rate must be a finite number >= 0, got " + std::to_string(c.learning_rate) + ".");
  if (c.name == "sgd") {
    require(std::isfinite(c.momentum) && c.momentum >= 0 && c.momentum <= 1,
            "momentum must be in [0, 1], got " + std::to_string(c.momentum) + ".");
    return c.momentum != 0 ? 1 : 0;
  }
  if (c.name == "adam") {
    require(c.beta_1 >= 0 && c.beta_1 < 1, "beta_1 must be in [0, 1), got " + std::to_string(c.beta_1) + ".");
    require(c.beta_2 >= 0 && c.beta_2 < 1, "beta_2 must be in [0, 1), got " + std::to_string(c.beta_2) + ".");
    require(c.epsilon > 0, "epsilon must be > 0, got " + std::to_string(c.epsilon) + ".");
    return 2;
  }
  throw std::invalid_argument("Unknown optimizer '" + c.name + "'. Valid names: sgd, adam.");
}

template <class T>
void optimizer_step(const OptimizerConfig& c, T* params, const T* grads, T* state, std::size_t n,
                    const std::vector<Slice>& /*variables*/, long long iteration, double learning_rate) {
  const auto size = static_cast<Eigen::Index>(n);
  Vec<T> v(params, size);
  ConstVec<T> g(grads, size);
  const T lr = T(learning_rate);
  if (c.name == "sgd") {
    if (c.momentum == 0) {
      v -= lr * g;
      return;
    }
    const T mu = T(c.momentum);
    Vec<T> m(state, size);
    m = mu * m - lr * g;
    if (c.nesterov)
      v += mu * m - lr * g;
    else
      v += m;
    return;
  }
  // Adam: the bias corrections fold into one step size (Keras' alpha).
  const double t = double(iteration + 1);
  const T alpha = T(learning_rate * std::sqrt(1 - std::pow(c.beta_2, t)) / (1 - std::pow(c.beta_1, t)));
  Vec<T> m(state, size);
  Vec<T> s(state + n, size);
  m += (g - m) * T(1 - c.beta_1);
  s += (g.square() - s) * T(1 - c.beta_2);
  v -= alpha * m / (s.sqrt() + T(c.epsilon));
}

template void optimizer_step<float>(const OptimizerConfig&, float*, const float*, float*, std::size_t,
                                    const std::vector<Slice>&, long long, double);
template void optimizer_step<double>(const OptimizerConfig&, double*, const double*, double*, std::size_t,
                                     const std::vector<Slice>&, long long, double);

}  // namespace densenn
