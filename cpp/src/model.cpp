// The embedded runtime (model.hpp) and the C ABI (c_api.h).
#include "densenn/model.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "densenn/c_api.h"
#include "densenn/model_file.hpp"
#include "densenn/pool.hpp"
#include "densenn/sequential.hpp"
#include "runtime_table.hpp"

#ifdef DENSENN_DISPATCH_RUNTIME
#include <dlfcn.h>

#include <cstdlib>

#include "cpu_features.hpp"
#endif

namespace densenn {
namespace {

constexpr long kPoolRows = 256;  // rows per forward pass through a pooled workspace

template <class T>
std::unique_ptr<Sequential<T>> build(const ModelFile& file) {
  check_architecture(file);  // sizes agree with the tensors, so nothing below allocates more than the file holds
  std::unique_ptr<Sequential<T>> model;
  try {
    model = std::make_unique<Sequential<T>>(file.input_dim, file.layers, 0);
  } catch (const std::exception& e) {
    throw ModelFileError(std::string("cannot build the model: ") + e.what());
  }
  const Tensor* params = file.find("params");
  const Tensor* state = file.find("state");
  if (params && params->count) std::memcpy(model->params().data(), params->data, params->count * sizeof(T));
  if (state && state->count) std::memcpy(model->state().data(), state->data, state->count * sizeof(T));
  return model;
}

}  // namespace

struct Model::Workspace::Impl {
  densenn::Workspace<float> f;
  densenn::Workspace<double> d;
  Buffer<double> in, out;  // a float64 model's inputs and outputs, converted
  long rows = 0;
};

struct Model::Impl {
  std::unique_ptr<Sequential<float>> f;
  std::unique_ptr<Sequential<double>> d;
  Pool<Model::Workspace::Impl> pool;  // float64 models' workspaces with their conversion buffers (float: Sequential's)
  // Or the model lives in a faster instruction set's runtime (faster_runtime()), which does all the work.
  const RuntimeTable* fast = nullptr;
  dn_model* fast_model = nullptr;

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    if (fast_model) fast->free(fast_model);
  }

  long input() const { return fast ? fast->input_size(fast_model) : f ? f->input_dim() : d->input_dim(); }
  long output() const { return fast ? fast->output_size(fast_model) : f ? f->output_dim() : d->output_dim(); }

  void reserve(Model::Workspace::Impl& ws, long rows) const {
    if (fast || rows <= ws.rows) return;  // (the faster runtime keeps its own workspaces)
    if (f) {
      f->reserve(ws.f, rows);
    } else {
      d->reserve(ws.d, rows);
      ws.in.resize(std::size_t(rows * input()));
      ws.out.resize(std::size_t(rows * output()));
    }
    ws.rows = rows;
  }

  // Runs in pieces of ws.rows rows (reserving min(rows, kPoolRows) when smaller).
  void run(Model::Workspace::Impl& ws, const float* x, long rows, float* y) const {
    if (rows <= 0) return;
    if (fast) {
      if (fast->predict(fast_model, x, rows, y) != 0) throw std::runtime_error(fast->last_error());
      return;
    }
    reserve(ws, std::min(rows, kPoolRows));
    if (f) {
      f->predict(ws.f, x, rows, y);
      return;
    }
    const long in = input(), out = output();
    for (long start = 0; start < rows; start += ws.rows) {
      const long n = std::min(ws.rows, rows - start);
      std::copy(x + start * in, x + (start + n) * in, ws.in.begin());
      d->predict(ws.d, ws.in.data(), n, ws.out.data());
      std::transform(ws.out.begin(), ws.out.begin() + n * out, y + start * out, [](double v) { return float(v); });
    }
  }
};

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

Model::Workspace::Workspace(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Workspace::Workspace(Workspace&&) noexcept = default;
Model::Workspace& Model::Workspace::operator=(Workspace&&) noexcept = default;
Model::Workspace::~Workspace() = default;

Model Model::load(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  if (const RuntimeTable* fast = faster_runtime()) {
    impl->fast_model = fast->load(path.c_str());
    if (!impl->fast_model) throw ModelFileError(fast->last_error());
    impl->fast = fast;
    return Model(std::move(impl));
  }
  ModelFile file = read_model_file(path);
  try {
    if (file.dtype == DType::float64)
      impl->d = build<double>(file);
    else
      impl->f = build<float>(file);
  } catch (const ModelFileError& e) {
    throw ModelFileError("'" + path + "': " + e.what());
  }
  return Model(std::move(impl));
}

int Model::input_size() const { return int(impl_->input()); }
int Model::output_size() const { return int(impl_->output()); }
bool Model::is_float64() const { return impl_->fast ? impl_->fast->is_float64(impl_->fast_model) != 0 : impl_->d != nullptr; }

Model::Workspace Model::make_workspace(long rows) const {
  auto ws = std::make_unique<Workspace::Impl>();
  impl_->reserve(*ws, std::max(rows, 1L));
  return Workspace(std::move(ws));
}

void Model::predict(Workspace& ws, const float* x, long rows, float* y) const {
  if (rows < 0) throw std::invalid_argument("predict: rows must be >= 0, got " + std::to_string(rows) + ".");
  if (rows > 0 && (!x || !y)) throw std::invalid_argument("predict: x and y must not be null.");
  if (!ws.impl_) throw std::invalid_argument("predict: the workspace was moved from.");
  impl_->run(*ws.impl_, x, rows, y);
}

void Model::predict(const float* x, long rows, float* y) const {
  if (rows < 0) throw std::invalid_argument("predict: rows must be >= 0, got " + std::to_string(rows) + ".");
  if (rows == 0) return;
  if (!x || !y) throw std::invalid_argument("predict: x and y must not be null.");
  if (impl_->fast) {
    if (impl_->fast->predict(impl_->fast_model, x, rows, y) != 0) throw std::runtime_error(impl_->fast->last_error());
    return;
  }
  if (impl_->f) {  // the model's own pooled workspaces (and, for large batches, its parallel passes)
    impl_->f->predict(x, rows, y);
    return;
  }
  const auto ws = impl_->pool.take();
  impl_->run(*ws, x, rows, y);
}

}  // namespace densenn

// ---------------------------------------------------------------- C ABI
struct dn_model {
  densenn::Model model;
};

namespace {

thread_local std::string last_error;

void set_error(const char* message) {
  try {
    last_error = message;
  } catch (...) {
    last_error.clear();
  }
}

template <class F>
auto guarded(F&& f, decltype(f()) on_error) noexcept -> decltype(f()) {
  try {
    last_error.clear();
    return f();
  } catch (const std::exception& e) {
    set_error(e.what());
  } catch (...) {
    set_error("unknown error");
  }
  return on_error;
}

}  // namespace

extern "C" {

dn_model* dn_model_load(const char* path) {
  return guarded(
      [&]() -> dn_model* {
        if (!path) throw std::invalid_argument("dn_model_load: path is NULL.");
        return new dn_model{densenn::Model::load(path)};
      },
      nullptr);
}

const char* dn_last_error(void) { return last_error.c_str(); }

int dn_model_input_size(const dn_model* model) {
  if (!model) {
    set_error("dn_model_input_size: model is NULL.");
    return -1;
  }
  return model->model.input_size();
}

int dn_model_output_size(const dn_model* model) {
  if (!model) {
    set_error("dn_model_output_size: model is NULL.");
    return -1;
  }
  return model->model.output_size();
}

int dn_model_predict(const dn_model* model, const float* x, int rows, float* y) {
  return guarded(
      [&]() -> int {
        if (!model) throw std::invalid_argument("dn_model_predict: model is NULL.");
        if (rows < 0) throw std::invalid_argument("dn_model_predict: rows must be >= 0, got " + std::to_string(rows) + ".");
        if (rows > 0 && (!x || !y)) throw std::invalid_argument("dn_model_predict: x and y must not be NULL.");
        model->model.predict(x, rows, y);
        return 0;
      },
      1);
}

void dn_model_free(dn_model* model) { delete model; }

}  // extern "C"

// ---------------------------------------------------------------- runtimes per instruction set
namespace densenn {

const RuntimeTable& runtime_table() {
  static const RuntimeTable table = {
      kRuntimeTableVersion,
      DENSENN_RUNTIME_ISA,
      dn_model_load,
      dn_last_error,
      dn_model_input_size,
      dn_model_output_size,
      [](const dn_model* m) -> int { return m->model.is_float64() ? 1 : 0; },
      [](const dn_model* m, const float* x, long rows, float* y) -> int {
        return guarded(
            [&]() -> int {
              m->model.predict(x, rows, y);
              return 0;
            },
            1);
      },
      dn_model_free,
  };
  return table;
}

#ifdef DENSENN_DISPATCH_RUNTIME
const RuntimeTable* faster_runtime() {
  static const RuntimeTable* const chosen = []() -> const RuntimeTable* {
    const char* forced = std::getenv("DENSENN_ISA");
    const std::string wanted = forced && *forced ? forced : "auto";
    Dl_info self{};
    if (!dladdr(reinterpret_cast<void*>(&faster_runtime), &self) || !self.dli_fname) return nullptr;
    std::string dir = self.dli_fname;
    dir = dir.find('/') == std::string::npos ? "." : dir.substr(0, dir.rfind('/'));
    for (const char* isa : {"x86-64-v4", "x86-64-v3"}) {
      if ((wanted != "auto" && wanted != isa) || !cpu_supports(isa)) continue;
      std::string file = std::string("libdensenn_") + isa + ".so";
      std::replace(file.begin(), file.end(), '-', '_');
      void* library = dlopen((dir + "/" + file).c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!library) continue;  // not built (DENSENN_BASELINE_ONLY, another architecture) or not installed
      using Entry = const RuntimeTable* (*)();
      const auto entry = reinterpret_cast<Entry>(dlsym(library, "densenn_runtime_table"));
      const RuntimeTable* table = entry ? entry() : nullptr;
      if (table && table->version == kRuntimeTableVersion) return table;  // (kept loaded for the process)
      dlclose(library);
    }
    return nullptr;
  }();
  return chosen;
}
#else
const RuntimeTable* faster_runtime() { return nullptr; }  // this is one of the faster runtimes
#endif

}  // namespace densenn
