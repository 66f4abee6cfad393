// The only place where Python and the C++ core meet. Arrays arrive already
// validated by the Python front; the checks here are a second line so that
// nothing Python can pass reaches the core with a wrong size.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pythread.h>

#include <Eigen/Core>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <map>
#include <limits>
#include <optional>
#include <tuple>
#include <type_traits>
#include <vector>

#include "densenn/interrupt.hpp"
#include "densenn/model_file.hpp"
#include "densenn/sequential.hpp"
#include "cpu_features.hpp"
#include "threading.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace py = pybind11;
using namespace densenn;

#ifndef DENSENN_MODULE
#error "DENSENN_MODULE must name the extension module"
#endif
#ifndef DENSENN_ISA
#error "DENSENN_ISA must name the instruction set the module was compiled for"
#endif

namespace {

template <class T>
using Array = py::array_t<T, py::array::c_style | py::array::forcecast>;

void require(bool ok, const std::string& message) {
  if (!ok) throw py::value_error(message);
}

// Configurations arrive as dicts (the Python objects' get_config()-like
// descriptions). Every key must be known, so a misspelt or unsupported
// argument is an error rather than silently ignored.
class ConfigReader {
 public:
  ConfigReader(const py::dict& d, std::string what) : d_(d), what_(std::move(what)) {}

  template <class V>
  V get(const char* key, V fallback) {
    used_.push_back(key);
    if (!d_.contains(key) || d_[key].is_none()) return fallback;
    try {
      return d_[key].template cast<V>();
    } catch (const py::cast_error&) {
      throw py::value_error(what_ + ": argument '" + key + "' has the wrong type.");
    }
  }

  void finish() const {
    for (auto item : d_) {
      const auto key = item.first.cast<std::string>();
      if (std::find(used_.begin(), used_.end(), key) == used_.end())
        throw py::value_error(what_ + ": unknown argument '" + key + "'.");
    }
  }

 private:
  const py::dict& d_;
  std::string what_;
  std::vector<std::string> used_;
};

LayerConfig layer_config(const py::dict& d) {
  ConfigReader r(d, "layer");
  LayerConfig c;
  c.type = r.get<std::string>("type", "");
  c.units = r.get<long>("units", 0);
  c.activation = r.get<std::string>("activation", "linear");
  c.use_bias = r.get<bool>("use_bias", true);
  c.options = r.get<std::map<std::string, double>>("options", {});
  c.choices = r.get<std::map<std::string, std::string>>("choices", {});
  r.finish();
  return c;
}

LossSpec loss_spec(const py::dict& d) {
  ConfigReader r(d, "loss");
  LossSpec spec = parse_loss(r.get<std::string>("name", ""));
  spec.from_logits = r.get<bool>("from_logits", spec.from_logits);
  spec.label_smoothing = r.get<double>("label_smoothing", spec.label_smoothing);
  spec.delta = r.get<double>("delta", spec.delta);
  r.finish();
  return spec;
}

MetricSpec metric_spec(const py::dict& d) {
  ConfigReader r(d, "metric");
  MetricSpec spec = parse_metric(r.get<std::string>("name", ""));
  spec.weighted = r.get<bool>("weighted", spec.weighted);
  spec.threshold = r.get<double>("threshold", spec.threshold);
  spec.k = r.get<long>("k", spec.k);
  spec.top_k = r.get<long>("top_k", spec.top_k);
  spec.class_id = r.get<long>("class_id", spec.class_id);
  spec.num_thresholds = r.get<long>("num_thresholds", spec.num_thresholds);
  spec.thresholds = r.get<std::vector<double>>("thresholds", spec.thresholds);
  spec.curve = parse_auc_curve(r.get<std::string>("curve", "ROC"));
  spec.summation = parse_auc_summation(r.get<std::string>("summation_method", "interpolation"));
  spec.multi_label = r.get<bool>("multi_label", spec.multi_label);
  spec.label_weights = r.get<std::vector<double>>("label_weights", spec.label_weights);
  spec.from_logits = r.get<bool>("from_logits", spec.from_logits);
  r.finish();
  return spec;
}

OptimizerConfig optimizer_config(const py::dict& d) {
  ConfigReader r(d, "optimizer");
  OptimizerConfig c;
  c.name = r.get<std::string>("name", c.name);
  c.learning_rate = r.get<double>("learning_rate", c.learning_rate);
  c.momentum = r.get<double>("momentum", c.momentum);
  c.nesterov = r.get<bool>("nesterov", c.nesterov);
  c.beta_1 = r.get<double>("beta_1", c.beta_1);
  c.beta_2 = r.get<double>("beta_2", c.beta_2);
  c.epsilon = r.get<double>("epsilon", c.epsilon);
  c.amsgrad = r.get<bool>("amsgrad", c.amsgrad);
  c.rho = r.get<double>("rho", c.rho);
  c.centered = r.get<bool>("centered", c.centered);
  c.initial_accumulator_value = r.get<double>("initial_accumulator_value", c.initial_accumulator_value);
  c.weight_decay = r.get<double>("weight_decay", c.weight_decay);  // None: no weight decay
  c.clipnorm = r.get<double>("clipnorm", c.clipnorm);              // None: no clipping
  c.clipvalue = r.get<double>("clipvalue", c.clipvalue);
  c.global_clipnorm = r.get<double>("global_clipnorm", c.global_clipnorm);
  r.finish();
  return c;
}

// ------------------------------------------------------------ threads and Ctrl-C
// Each model has a reader/writer lock (sequential.hpp): predicts share it, a
// training batch and every write below hold it alone. What keeps the GIL and
// the model locks free of deadlocks: no thread waits for a model lock while it
// holds the GIL (every binding that locks releases the GIL first), and no
// Python code runs while a model lock is held (the interrupt poll below only
// reads a flag).

unsigned long main_thread_id = 0;  // Python's main thread, the one that runs signal handlers

// Whether Ctrl-C was pressed: takes Python's SIGINT flag (with the GIL, in the main thread) without running
// the handler, which would run Python code inside the batch, under the model's lock.
bool sigint_pending(void*) {
  py::gil_scoped_acquire gil;
  return PyOS_InterruptOccurred() != 0;
}

// Multiply-adds of a predict small enough (a few microseconds) to run with the GIL held, uninterruptible.
constexpr double kWorkWithGil = double(1 << 20);

// Runs f() with the GIL released. Python handles signals only in the main thread, between bytecodes, so
// while the core computes there, that thread looks for Ctrl-C every 50 ms at the core's interruption points
// (densenn/interrupt.hpp), also inside one long batch, which the core then abandons and undoes. Once f() has
// unwound, Python's SIGINT handler runs: KeyboardInterrupt (the default handler) propagates; a handler that
// returns makes this return false (f() did not finish). Other threads run f() without looking.
template <class F>
bool run_interruptible(F&& f) {
  std::optional<InterruptCheck> check;
  if (PyThread_get_thread_ident() == main_thread_id) check.emplace(&sigint_pending, nullptr);
  try {
    py::gil_scoped_release release;
    f();
    return true;
  } catch (const Interrupted&) {
    PyErr_SetInterrupt();  // give the flag back, for the handler
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    return false;
  }
}

// Waits for the model's lock (`acquire` returns it) with the GIL already released by the caller. In Python's
// main thread the wait answers Ctrl-C as run_interruptible does (the lock polls the check while it waits,
// fair_shared_mutex.hpp): KeyboardInterrupt from Python's handler, or another wait when a handler returns.
template <class Acquire>
auto wait_for_lock(Acquire&& acquire) {
  for (;;) {
    std::optional<InterruptCheck> check;
    if (PyThread_get_thread_ident() == main_thread_id) check.emplace(&sigint_pending, nullptr);
    try {
      return acquire();
    } catch (const Interrupted&) {
      check.reset();
      py::gil_scoped_acquire gil;
      PyErr_SetInterrupt();  // give the flag back, for the handler
      if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    }
  }
}

// The model's flat buffers by name, for copying under the lock.
template <class T>
Buffer<T>& named_buffer(Sequential<T>& model, const std::string& name) {
  if (name == "params") return model.params();
  if (name == "state") return model.state();
  if (name == "optimizer_state") return model.optimizer_state();
  throw py::value_error("unknown buffer '" + name + "' (expected 'params', 'state' or 'optimizer_state').");
}

// A NumPy array that owns a vector's memory (no copy).
template <class T>
py::array_t<T> to_numpy(std::vector<T>&& values) {
  auto* owned = new std::vector<T>(std::move(values));
  py::capsule free(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>(py::ssize_t(owned->size()), owned->data(), free);
}

// A writable NumPy view of one of the model's flat buffers; the model stays alive while the view exists.
// Unsynchronised (no lock): for the tests' single-threaded finite differences. get_weights, set_weights,
// save and load go through read/write/snapshot below, under the model's lock.
template <class T, Buffer<T>& (Sequential<T>::*buffer)()>
py::array_t<T> buffer_view(py::object self) {
  Buffer<T>& v = (self.cast<Sequential<T>&>().*buffer)();
  return py::array_t<T>({py::ssize_t(v.size())}, {py::ssize_t(sizeof(T))}, v.data(), self);
}

// Whether all n values are finite, large arrays in blocks on OpenMP's threads: the check reads all of x before
// a fit can start, alone on one core otherwise (10k MNIST rows: most of a millisecond).
template <class T>
bool all_finite(const T* values, long n) {
  Backend<T>& backend = cpu_backend<T>();
  auto all_finite_run = [&backend](const T* run, long size) { return backend.all_finite(run, std::size_t(size)); };
  constexpr long kBlock = 1L << 20;
  const long blocks = (n + kBlock - 1) / kBlock;
  // (reading a value from memory counted as 8 multiply-adds: from 4M values, ~1 ms of reading on one core)
  const int threads = int(std::min<long>(threads_for(8.0 * double(n)), blocks));
  if (threads <= 1) return all_finite_run(values, n);  // (no OpenMP region: a one-row predict checks 784 values)
  int bad = 0;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(| : bad)
  for (long b = 0; b < blocks; ++b) bad |= !all_finite_run(values + b * kBlock, std::min(kBlock, n - b * kBlock));
  return bad == 0;
}

template <class T>
void check_matrix(const Array<T>& a, const char* name, long rows, long cols) {
  require(a.ndim() == 2 && a.shape(0) == rows && a.shape(1) == cols,
          std::string(name) + ": expected shape (" + std::to_string(rows) + ", " + std::to_string(cols) + ").");
}

// A pass keeps the arrays it reads alive for as long as it runs.
template <class T>
struct PassHandle {
  py::object model;  // keeps the model alive too
  Array<T> x, y;
  std::optional<Array<T>> w;
  std::unique_ptr<DataPass<T>> pass;
};

template <class T>
void bind_model(py::module_& m, const char* model_name, const char* pass_name) {
  using Model = Sequential<T>;
  using Pass = PassHandle<T>;

  // module_local: both ISA builds of this module may be imported in one process.
  py::class_<Pass>(m, pass_name, py::module_local())
      .def_property_readonly("steps", [](const Pass& p) { return p.pass->steps(); })
      .def_property_readonly("steps_done", [](const Pass& p) { return p.pass->steps_done(); })
      .def_property_readonly("done", [](const Pass& p) { return p.pass->done(); })
      .def_property_readonly("loss", [](const Pass& p) { return p.pass->loss(); })
      .def_property_readonly("metrics", [](const Pass& p) { return p.pass->metric_values(); })
      .def(
          "continue_from", [](Pass& p, const Pass& previous) { p.pass->continue_from(*previous.pass); },
          py::arg("previous"),
          "Goes on from the loss and metric sums of a pass over the batches before this one's (streamed data).")
      .def(
          "run",
          [](Pass& p, long max_steps, double max_seconds) {
            const long before = p.pass->steps_done();
            run_interruptible([&] { p.pass->run(max_steps, max_seconds); });
            return p.pass->steps_done() - before;
          },
          py::arg("max_steps"), py::arg("max_seconds") = 0.0,
          "Runs up to max_steps batches (returning early after max_seconds) with the GIL released; "
          "interruptible by Ctrl-C.");

  py::class_<Model>(m, model_name, py::module_local())
      .def(py::init([](long input_dim, const std::vector<py::dict>& layers, std::uint64_t seed) {
             std::vector<LayerConfig> configs;
             for (const py::dict& layer : layers) configs.push_back(layer_config(layer));
             std::unique_ptr<Model> model;  // drawing a large model's initial weights takes seconds: interruptible
             while (!run_interruptible([&] { model = std::make_unique<Model>(input_dim, configs, seed); })) {
             }
             return model;
           }),
           py::arg("input_dim"), py::arg("layers"), py::arg("seed"))
      .def_property_readonly("input_dim", &Model::input_dim)
      .def_property_readonly("output_dim", &Model::output_dim)
      .def_property_readonly("target_cols", &Model::target_cols)
      .def_property_readonly("backend", [](const Model& model) { return std::string(model.backend().name()); })
      .def("weight_shapes",
           [](const Model& model) {
             std::vector<std::vector<Shape>> shapes;
             for (const auto& layer : model.layers()) shapes.push_back(layer->weight_shapes());
             return shapes;
           })
      .def("state_shapes",
           [](const Model& model) {
             std::vector<std::vector<Shape>> shapes;
             for (const auto& layer : model.layers()) shapes.push_back(layer->state_shapes());
             return shapes;
           })
      // Unsynchronised views of the flat buffers (see buffer_view); the model stays alive while a view exists.
      .def_property_readonly("params", buffer_view<T, &Model::params>)
      .def_property_readonly("state", buffer_view<T, &Model::state>)
      .def_property_readonly("optimizer_state", buffer_view<T, &Model::optimizer_state>)
      .def(
          "read",
          [](Model& model, const std::vector<std::tuple<std::string, long, long>>& slices) {
            std::vector<std::vector<T>> copies;
            {
              py::gil_scoped_release release;
              const auto lock = wait_for_lock([&] { return model.lock_shared(); });
              for (const auto& [name, offset, count] : slices) {
                const Buffer<T>& buffer = named_buffer(model, name);
                require(offset >= 0 && count >= 0 && std::size_t(offset) + std::size_t(count) <= buffer.size(),
                        "read: " + name + "[" + std::to_string(offset) + ":+" + std::to_string(count) +
                            "] is out of range.");
                copies.emplace_back(buffer.begin() + offset, buffer.begin() + offset + count);
              }
            }
            py::list arrays;
            for (auto& c : copies) arrays.append(to_numpy(std::move(c)));
            return arrays;
          },
          py::arg("slices"), "Copies of (buffer name, offset, count) slices, taken together under the lock.")
      .def(
          "write",
          [](Model& model, const std::vector<std::tuple<std::string, long, Array<T>>>& slices) {
            py::gil_scoped_release release;
            const auto lock = wait_for_lock([&] { return model.lock_exclusive(); });
            for (const auto& [name, offset, values] : slices)  // all checked before anything is written
              require(offset >= 0 && std::size_t(offset) + std::size_t(values.size()) <=
                                         named_buffer(model, name).size(),
                      "write: " + std::to_string(values.size()) + " values at " + name + "[" +
                          std::to_string(offset) + "] do not fit.");
            for (const auto& [name, offset, values] : slices)
              std::copy(values.data(), values.data() + values.size(), named_buffer(model, name).begin() + offset);
          },
          py::arg("slices"), "Writes (buffer name, offset, values) slices together under the lock.")
      .def(
          "snapshot",
          [](Model& model) {
            std::vector<T> params, state, optimizer_state;
            long long iterations;
            std::vector<std::uint64_t> rng;
            {
              py::gil_scoped_release release;
              const auto lock = wait_for_lock([&] { return model.lock_shared(); });
              params.assign(model.params().begin(), model.params().end());
              state.assign(model.state().begin(), model.state().end());
              optimizer_state.assign(model.optimizer_state().begin(), model.optimizer_state().end());
              iterations = model.iterations();
              rng = model.rng_state();
            }
            py::dict d;
            d["params"] = to_numpy(std::move(params));
            d["state"] = to_numpy(std::move(state));
            d["optimizer_state"] = to_numpy(std::move(optimizer_state));
            d["iterations"] = iterations;
            d["rng_state"] = rng;
            return d;
          },
          "Copies of params, state, optimizer_state, iterations and rng_state, taken together under the lock.")
      .def(
          "compile",
          [](Model& model, const py::dict& loss, const py::dict& optimizer, const std::vector<py::dict>& metrics,
             const std::vector<bool>& trainable) {
            std::vector<MetricSpec> specs;
            for (const py::dict& m : metrics) specs.push_back(metric_spec(m));
            const LossSpec loss_config = loss_spec(loss);
            const OptimizerConfig optimizer_settings = optimizer_config(optimizer);
            py::gil_scoped_release release;
            const auto lock = wait_for_lock([&] { return model.lock_exclusive(); });
            model.compile(loss_config, optimizer_settings, specs, trainable);  // invalid_argument -> ValueError
          },
          py::arg("loss"), py::arg("optimizer"), py::arg("metrics"), py::arg("trainable") = std::vector<bool>{},
          "trainable: one flag per layer (empty: all); frozen layers are not updated (Keras' trainable=False).")
      .def_property_readonly("compiled",
                             [](const Model& model) {
                               py::gil_scoped_release release;
                               const auto lock = wait_for_lock([&] { return model.lock_shared(); });
                               return model.compiled();
                             })
      .def_property(
          "learning_rate",
          [](Model& model) {
            py::gil_scoped_release release;
            const auto lock = wait_for_lock([&] { return model.lock_shared(); });
            return model.optimizer().learning_rate;
          },
          [](Model& model, double lr) {  // (checked by the optimizer's learning_rate setter)
            py::gil_scoped_release release;
            const auto lock = wait_for_lock([&] { return model.lock_exclusive(); });
            model.optimizer().learning_rate = lr;
          })
      .def_property(
          "iterations",
          [](const Model& model) {
            py::gil_scoped_release release;
            const auto lock = wait_for_lock([&] { return model.lock_shared(); });
            return model.iterations();
          },
          [](Model& model, long long n) {
            py::gil_scoped_release release;
            const auto lock = wait_for_lock([&] { return model.lock_exclusive(); });
            model.set_iterations(n);
          })
      .def_property(
          "rng_state",
          [](const Model& model) {
            py::gil_scoped_release release;
            const auto lock = wait_for_lock([&] { return model.lock_shared(); });
            return model.rng_state();
          },
          [](Model& model, const std::vector<std::uint64_t>& words) {
            py::gil_scoped_release release;
            const auto lock = wait_for_lock([&] { return model.lock_exclusive(); });
            try {
              model.set_rng_state(words);
            } catch (const std::invalid_argument& e) {
              throw py::value_error(e.what());
            }
          })
      .def(
          "predict",
          // With check_finite, None when x holds a NaN or an infinity (found on the way, nearly free).
          [](const Model& model, const Array<T>& x, bool check_finite) -> py::object {
            require(x.ndim() == 2 && x.shape(1) == model.input_dim(),
                    "x: expected shape (n, " + std::to_string(model.input_dim()) + ").");
            const long rows = long(x.shape(0));
            Array<T> out({py::ssize_t(rows), py::ssize_t(model.output_dim())});
            if (rows == 0) return std::move(out);
            const T* in = x.data();
            T* dst = out.mutable_data();
            bool finite = true;
            while (!run_interruptible([&] {
              if (check_finite)
                finite = model.predict_checked(in, rows, dst);
              else
                model.predict(in, rows, dst);
            })) {
            }  // (a SIGINT handler that returns: predict again)
            if (!finite) return py::none();
            return std::move(out);
          },
          py::arg("x"), py::arg("check_finite") = false)
      .def(
          "predict_ready",
          // The lean path of small predicts (model(x), predict_on_batch, predict): one batch from a C-contiguous
          // array of shape (1..max_rows, input_dim), of the model's dtype or of the other float precision (NumPy's
          // default float64 rows for a float32 model: cast here as the full path's astype casts, to nearest),
          // all finite once cast; None for anything else, which the Python front then converts, validates and
          // explains.
          [](const Model& model, py::handle x, long max_rows) -> py::object {
            using Other = std::conditional_t<std::is_same_v<T, float>, double, float>;
            const bool same = py::isinstance<Array<T>>(x);
            if (!same && !py::isinstance<Array<Other>>(x)) return py::none();
            const auto a = py::reinterpret_borrow<py::array>(x);
            if (a.ndim() != 2 || a.shape(1) != model.input_dim() || a.shape(0) < 1 || a.shape(0) > max_rows)
              return py::none();
            const long rows = long(a.shape(0)), n = rows * model.input_dim();
            std::vector<T> cast;
            if (!same) {
              const auto* from = static_cast<const Other*>(a.data());
              cast.resize(std::size_t(n));
              std::transform(from, from + n, cast.begin(), [](Other v) { return static_cast<T>(v); });
            }
            const T* in = same ? static_cast<const T*>(a.data()) : cast.data();
            if (!all_finite(in, n)) return py::none();
            Array<T> out({py::ssize_t(rows), py::ssize_t(model.output_dim())});
            T* dst = out.mutable_data();
            // A few microseconds' work runs with the GIL held when the model's lock is free at once: releasing
            // and taking back the GIL and arming Ctrl-C took 0.14 us of a 2.8 us row.
            if (rows <= Model::kOnePassRows && double(rows) * double(model.params().size()) <= kWorkWithGil &&
                model.try_predict(in, rows, dst))
              return std::move(out);
            while (!run_interruptible([&] { model.predict(in, rows, dst); })) {
            }  // (the model's lock is never awaited with the GIL held; a SIGINT handler that returns: again)
            return std::move(out);
          },
          py::arg("x"), py::arg("max_rows"))
      .def(
          "compute_gradients",
          [](py::object self, const Array<T>& x, const Array<T>& y, std::optional<Array<T>> w) {
            Model& model = self.cast<Model&>();
            require(model.compiled(), "The model must be compiled before computing gradients.");
            require(x.ndim() == 2 && x.shape(1) == model.input_dim() && x.shape(0) > 0,
                    "x: expected a non-empty array of shape (n, " + std::to_string(model.input_dim()) + ").");
            const long rows = long(x.shape(0));
            if (w) require(w->ndim() == 1 && w->shape(0) == rows, "sample_weight: expected shape (n,).");
            double loss;
            std::vector<T> grads;
            {
              py::gil_scoped_release release;
              const auto lock = wait_for_lock([&] { return model.lock_exclusive(); });  // writes grads() and draws training noise
              check_matrix(y, "y", rows, model.target_cols());
              loss_check_targets(model.loss(), y.data(), rows, model.output_dim());
              Workspace<T> ws;
              loss = model.compute_gradients(ws, x.data(), y.data(), w ? w->data() : nullptr, rows);
              grads.assign(model.grads().begin(), model.grads().end());
            }
            return py::make_tuple(loss, to_numpy(std::move(grads)));
          },
          py::arg("x"), py::arg("y"), py::arg("sample_weight") = py::none(),
          "(batch loss, flat gradient copy) for one batch, without updating the weights.")
      .def(
          "set_communicator",
          [](Model& model, std::shared_ptr<Communicator> communicator) {
            py::gil_scoped_release release;
            const auto lock = wait_for_lock([&] { return model.lock_exclusive(); });
            model.set_communicator(std::move(communicator));  // invalid_argument -> ValueError
          },
          py::arg("communicator").none(true),
          "Trains data-parallel over this communicator's ranks (None: alone); see docs/distributed.md.")
      .def_property_readonly("communicator",
                             [](const Model& model) {
                               py::gil_scoped_release release;
                               const auto lock = wait_for_lock([&] { return model.lock_shared(); });
                               return model.communicator();
                             })
      .def(
          "set_training_blocks",
          [](Model& model, int blocks) {
            py::gil_scoped_release release;
            const auto lock = wait_for_lock([&] { return model.lock_exclusive(); });
            model.set_training_blocks(blocks);
          },
          py::arg("blocks"),
          "Splits each training batch into this many blocks of rows whatever the threads (0: as the threading "
          "policy decides): what a group of that many ranks computes.")
      .def(
          "data_pass",
          [](py::object self, Array<T> x, Array<T> y, std::optional<Array<T>> w, long batch_size, bool training,
             bool shuffle, std::vector<double> learning_rates) {
            Model& model = self.cast<Model&>();
            require(model.compiled(), "The model must be compiled before training or evaluation.");
            require(x.ndim() == 2 && x.shape(1) == model.input_dim() && x.shape(0) > 0,
                    "x: expected a non-empty array of shape (n, " + std::to_string(model.input_dim()) + ").");
            const long rows = long(x.shape(0));
            require(y.ndim() == 2 && y.shape(0) == rows,  // its width: checked by the pass, under the model's lock
                    "y: expected shape (" + std::to_string(rows) + ", k).");
            if (w) require(w->ndim() == 1 && w->shape(0) == rows, "sample_weight: expected shape (n,).");
            auto handle = std::make_unique<Pass>();
            handle->model = self;
            handle->x = std::move(x);
            handle->y = std::move(y);
            handle->w = std::move(w);
            const T *xd = handle->x.data(), *yd = handle->y.data(), *wd = handle->w ? handle->w->data() : nullptr;
            {
              py::gil_scoped_release release;
              handle->pass = wait_for_lock([&] {  // the pass takes the model's lock first
                return std::make_unique<DataPass<T>>(model, xd, yd, long(handle->y.shape(1)), wd, rows, batch_size,
                                                     training, shuffle, learning_rates);
              });
            }
            return handle;
          },
          py::arg("x"), py::arg("y"), py::arg("sample_weight"), py::arg("batch_size"), py::arg("training"),
          py::arg("shuffle"), py::arg("learning_rates") = std::vector<double>{},
          "A pass over (x, y) in batches: one training epoch, or an evaluation.");
}

// Each row's loss (before sample weights), computed in float64 by the core's own formulas: what a loss
// object called from Python returns. pred is (n, k); target (n, k), or (n, 1) for integer labels.
Array<double> loss_per_sample(const py::dict& loss, const Array<double>& pred, const Array<double>& target) {
  const LossSpec spec = loss_spec(loss);
  validate(spec);  // (std::invalid_argument reaches Python as ValueError, as below)
  require(pred.ndim() == 2 && pred.shape(0) > 0 && pred.shape(1) > 0, "y_pred: expected a non-empty array (n, k).");
  const long rows = long(pred.shape(0)), cols = long(pred.shape(1));
  check_matrix(target, "y_true", rows, loss_target_cols(spec, cols));
  Array<double> values(py::ssize_t{rows});
  {
    py::gil_scoped_release release;
    loss_check_targets(spec, target.data(), rows, cols);
    cpu_backend<double>().loss_per_sample(spec, pred.data(), target.data(), rows, cols, values.mutable_data());
  }
  return values;
}

// ---------------------------------------------------------------- model files
py::dict layer_dict(const LayerConfig& c) {
  py::dict d;
  d["type"] = c.type;
  d["units"] = c.units;
  d["activation"] = c.activation;
  d["use_bias"] = c.use_bias;
  d["options"] = c.options;
  d["choices"] = c.choices;
  return d;
}

// Writes a model file (model_file.hpp) atomically. `spec`: kind ('model' or
// 'weights'), input_dim, layers (the core's layer dicts), json (str),
// tensors (list of (name, 1-D float32/float64 array), all of one dtype),
// training (None or (iterations, rng_state words)).
void write_file(const std::string& path, const py::dict& spec, std::uint64_t fail_after_bytes, bool crash,
                bool unchecked) {
  ModelFile f;
  const auto kind = spec["kind"].cast<std::string>();
  require(kind == "model" || kind == "weights", "kind must be 'model' or 'weights'.");
  f.kind = kind == "model" ? FileKind::model : FileKind::weights;
  f.input_dim = spec["input_dim"].cast<long>();
  for (auto layer : spec["layers"].cast<py::list>()) f.layers.push_back(layer_config(layer.cast<py::dict>()));
  f.json = spec["json"].cast<std::string>();
  if (!spec["training"].is_none()) {
    auto training = spec["training"].cast<py::tuple>();
    f.has_training_state = true;
    f.iterations = training[0].cast<std::uint64_t>();
    f.rng_state = training[1].cast<std::vector<std::uint64_t>>();
  }
  std::vector<py::array> keep;  // alive (and contiguous) while writing
  bool f64 = false, first = true;
  for (auto item : spec["tensors"].cast<py::list>()) {
    auto pair = item.cast<py::tuple>();
    py::array a = pair[1].cast<py::array>();
    const bool native = a.dtype().byteorder() == '=' || a.dtype().byteorder() == '<';
    const bool is64 = native && a.dtype().kind() == 'f' && a.itemsize() == 8;
    const bool is32 = native && a.dtype().kind() == 'f' && a.itemsize() == 4;
    require(is64 || is32, "tensors must be float32 or float64 arrays.");
    require(first || is64 == f64, "all tensors must have the same dtype.");
    f64 = is64;
    first = false;
    a = py::array::ensure(a, py::array::c_style);
    keep.push_back(a);
    f.tensors.push_back(Tensor{pair[0].cast<std::string>(), std::uint64_t(a.size()), a.data()});
  }
  f.dtype = f64 ? DType::float64 : DType::float32;
  try {  // interruptible by Ctrl-C between blocks (the temporary file is removed); a handler that returns: again
    while (!run_interruptible([&] { write_model_file(path, f, WriteFaults{fail_after_bytes, crash, unchecked}); })) {
    }
  } catch (const ModelFileError& e) {
    throw py::value_error(e.what());
  }
}

// Reads and validates a model file: the layer table must build a network
// whose sizes match the tensors'. Returns everything in it as a dict.
py::dict read_file(const std::string& path) {
  ModelFile f;
  try {  // interruptible by Ctrl-C between blocks; a handler that returns: read again
    while (!run_interruptible([&] {
      f = read_model_file(path);
      try {
        check_architecture(f);
      } catch (const ModelFileError& e) {
        throw ModelFileError("'" + path + "': " + e.what());
      }
    })) {
    }
  } catch (const ModelFileError& e) {
    throw py::value_error(e.what());
  }
  py::dict d;
  d["version"] = f.version;
  d["kind"] = f.kind == FileKind::model ? "model" : "weights";
  d["dtype"] = f.dtype == DType::float64 ? "float64" : "float32";
  d["input_dim"] = f.input_dim;
  py::list layers;
  for (const LayerConfig& c : f.layers) layers.append(layer_dict(c));
  d["layers"] = layers;
  d["json"] = py::bytes(f.json);
  d["training"] = f.has_training_state ? py::object(py::make_tuple(f.iterations, f.rng_state)) : py::object(py::none());
  py::dict tensors;
  for (const Tensor& t : f.tensors) {
    if (f.dtype == DType::float64)
      tensors[py::str(t.name)] = py::array_t<double>(py::ssize_t(t.count), static_cast<const double*>(t.data));
    else
      tensors[py::str(t.name)] = py::array_t<float>(py::ssize_t(t.count), static_cast<const float*>(t.data));
  }
  d["tensors"] = tensors;
  return d;
}

}  // namespace

// ---------------------------------------------------------------- communicators
void bind_communicators(py::module_& m) {
  py::class_<Communicator, std::shared_ptr<Communicator>>(m, "Communicator", py::module_local())
      .def_property_readonly("rank", &Communicator::rank)
      .def_property_readonly("size", &Communicator::size)
      .def_property_readonly("description", &Communicator::description)
      .def_property(
          "timeout", [](const Communicator& c) { return c.timeout().count(); },
          [](Communicator& c, double seconds) {
            require(seconds > 0, "timeout: expected a positive number of seconds, got " + std::to_string(seconds) + ".");
            c.set_timeout(std::chrono::duration<double>(seconds));
          },
          "Seconds an exchange waits for the other ranks before it raises TimeoutError.")
      .def_property("seconds", &Communicator::seconds, &Communicator::set_seconds,
                    "Seconds spent in exchanges so far (waiting for the other ranks included); settable, e.g. to 0.")
      .def("__repr__", [](const Communicator& c) {
        return "<Communicator rank " + std::to_string(c.rank()) + " of " + std::to_string(c.size()) + ", " +
               c.description() + ">";
      });
  m.def(
      "local_group",
      [](int size) {
        require(size >= 1, "size: expected a positive number of ranks, got " + std::to_string(size) + ".");
        return local_group(size);
      },
      py::arg("size"), "size communicators of one in-process group: one per thread, each training its own model.");
  m.def(
      "mpi_communicator",
      [](const std::string& library, long long handle) {
        py::gil_scoped_release release;
        return mpi_communicator(library, handle);
      },
      py::arg("library"), py::arg("handle"),
      "The ranks of an MPI communicator (its C handle, MPI._handleof(comm)) through the MPI library that mpi4py "
      "loaded: library is mpi4py.MPI.__file__ (or the MPI library's path).");
  // An exchange's failure names the step: TimeoutError when the others did not come in time, else RuntimeError.
  py::register_exception_translator([](std::exception_ptr error) {
    try {
      if (error) std::rethrow_exception(error);
    } catch (const ExchangeTimeout& e) {
      PyErr_SetString(PyExc_TimeoutError, e.what());
    } catch (const ExchangeError& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });
}

PYBIND11_MODULE(DENSENN_MODULE, m) {
  m.doc() = "densenn's C++ core (" DENSENN_ISA " build)";
  main_thread_id = py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();
  bind_communicators(m);
  bind_model<float>(m, "SequentialF32", "DataPassF32");
  bind_model<double>(m, "SequentialF64", "DataPassF64");
  m.attr("isa") = DENSENN_ISA;
  m.def("cpu_supports", [](const std::string& isa) { return isa == DENSENN_ISA || cpu_supports(isa); }, py::arg("isa"),
        "Whether this CPU (and OS) can run the module built for isa ('x86-64', 'x86-64-v3', 'x86-64-v4').");
  m.def("simd_instruction_sets", [] {
    std::string sets = Eigen::SimdInstructionSetsInUse();
#if !defined(EIGEN_VECTORIZE_AVX512)  // (Eigen's AVX512 string already names AVX2 and FMA)
#ifdef EIGEN_VECTORIZE_AVX2
    sets += ", AVX2";
#endif
#ifdef EIGEN_VECTORIZE_FMA
    sets += ", FMA";
#endif
#endif
    return sets;
  });
  m.def("write_model_file", &write_file, py::arg("path"), py::arg("spec"),
        py::arg("fail_after_bytes") = std::numeric_limits<std::uint64_t>::max(), py::arg("crash") = false,
        py::arg("unchecked") = false,
        "Writes a densenn model file atomically, refusing one that loading would refuse (test hooks: "
        "fail_after_bytes/crash simulate a failure, unchecked writes a crafted file).");
  m.def("read_model_file", &read_file, py::arg("path"), "Reads and validates a densenn model file.");
  m.def("model_file_version", [] { return kModelFileVersion; });
  m.def("available_memory", &available_memory,
        "Bytes this process can still allocate (MemAvailable, within an RLIMIT_AS cap); 2**64 - 1 if unknown.");
  m.def("check_allocation", &check_allocation, py::arg("nbytes"), py::arg("what"),
        "MemoryError('<what> needs ... GiB, more than the ... GiB of memory available.') when nbytes do not fit.");
  m.attr("max_width") = kMaxWidth;
  // A layer that cannot be built: ValueError(detail) with the layer's index, for the Python front to name it.
  py::register_local_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const LayerError& e) {
      py::object error = py::module_::import("builtins").attr("ValueError")(e.detail);
      error.attr("layer_index") = e.index;
      PyErr_SetObject(PyExc_ValueError, error.ptr());
    }
  });
  m.def(
      "all_finite",
      // No NaN or Inf in a C-contiguous float32/float64 array: one vectorised pass without the temporary boolean
      // array of np.isfinite(x).all() (predicting 10k MNIST rows spent 17% of its time in that check).
      [](py::array a) -> py::object {
        const bool contiguous = (a.flags() & py::array::c_style) != 0;
        if (!contiguous || !(py::isinstance<Array<float>>(a) || py::isinstance<Array<double>>(a)))
          return py::none();  // another dtype or layout: the caller checks with NumPy
        const long n = long(a.size());
        bool finite;
        {
          py::gil_scoped_release release;
          finite = a.itemsize() == 4 ? all_finite(static_cast<const float*>(a.data()), n)
                                     : all_finite(static_cast<const double*>(a.data()), n);
        }
        return py::bool_(finite);
      },
      py::arg("array"), "Whether a C-contiguous float32/float64 array is all finite; None for other arrays.");
  m.def("activation_names", &activation_names);
  m.def("loss_names", &loss_names);
  m.def("optimizer_names", &optimizer_names);
  m.def("loss_per_sample", &loss_per_sample, py::arg("loss"), py::arg("y_pred"), py::arg("y_true"),
        "Each row's loss (float64), as the core computes it: loss is a Loss object's core_config().");
  m.def("max_threads", [] {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
  });
}
