// The embedded runtime: load a model saved by densenn (model.save('m.dnn'))
// and predict, from C++ without Python. Thread-safe: any number of threads
// may predict with one Model at once. Needs no Eigen (nor any other header)
// from its users.
#pragma once

#include <memory>
#include <string>

namespace densenn {

class Model {
 public:
  // Throws densenn::ModelFileError (a std::runtime_error, see model_file.hpp)
  // for an unreadable, corrupted or unsupported file.
  static Model load(const std::string& path);

  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  int input_size() const;
  int output_size() const;
  // Whether the model computes in float64 (inputs and outputs are float either way).
  bool is_float64() const;

  // y (rows x output_size) = model(x (rows x input_size)), row-major, in
  // inference mode (no dropout, moving statistics). Thread-safe. Takes a
  // workspace from the model's pool (growing it the first time a thread
  // needs one), so once warm it allocates nothing for batches no larger
  // than before; large batches run in passes of 256 rows or more (~1 MB of
  // activations), several at once on OpenMP's threads when there is work
  // enough. Throws std::invalid_argument for a null pointer or rows < 0.
  void predict(const float* x, long rows, float* y) const;

  // One row; allocates nothing once warm.
  void predict_row(const float* x, float* y) const { predict(x, 1, y); }

  // A caller-owned workspace, for code that wants to see every allocation:
  // predict(ws, ...) never allocates for rows <= the rows it was made for.
  class Workspace {
   public:
    Workspace(Workspace&&) noexcept;
    Workspace& operator=(Workspace&&) noexcept;
    ~Workspace();
    struct Impl;

   private:
    friend class Model;
    explicit Workspace(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
  };
  Workspace make_workspace(long rows = 1) const;
  void predict(Workspace& ws, const float* x, long rows, float* y) const;

  struct Impl;

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace densenn
