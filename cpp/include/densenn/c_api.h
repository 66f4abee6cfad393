/* densenn's C ABI: load a model saved by densenn (model.save("m.dnn")) and
 * predict, from C or any language with a C FFI. Thread-safe: concurrent
 * dn_model_predict calls on one model are allowed. No function lets a C++
 * exception escape; errors are reported by the return value, and
 * dn_last_error() describes the last one on the calling thread. */
#ifndef DENSENN_C_API_H
#define DENSENN_C_API_H

#ifdef __cplusplus
extern "C" {
#endif

#ifndef DN_API /* (the per-instruction-set runtimes define it empty: they export none of these) */
#if defined(__GNUC__)
#define DN_API __attribute__((visibility("default")))
#else
#define DN_API
#endif
#endif

typedef struct dn_model dn_model;

/* The model in the file at `path`, or NULL (see dn_last_error()). */
DN_API dn_model *dn_model_load(const char *path);

/* The calling thread's last error message ("" if none); valid until that
 * thread's next densenn call. */
DN_API const char *dn_last_error(void);

/* Features per input row / values per output row; -1 for a NULL model. */
DN_API int dn_model_input_size(const dn_model *model);
DN_API int dn_model_output_size(const dn_model *model);

/* y (rows x output size) = model(x (rows x input size)), both row-major
 * float arrays. Returns 0 on success, nonzero on error (NULL pointers,
 * rows < 0) with a message in dn_last_error(). rows == 0 does nothing. */
DN_API int dn_model_predict(const dn_model *model, const float *x, int rows, float *y);

/* Frees the model (NULL is allowed). */
DN_API void dn_model_free(dn_model *model);

#ifdef __cplusplus
}
#endif

#endif /* DENSENN_C_API_H */
