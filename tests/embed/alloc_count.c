/* Counts heap allocations during one-row predicts (glibc: this program's
 * malloc family wraps __libc_malloc & co., and interposes libdensenn's).
 *   alloc_count MODEL.dnn CALLS   -> prints "<allocations during CALLS predicts>" */
#include <densenn/c_api.h>

#include <stdio.h>
#include <stdlib.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static volatile long allocations;

void *malloc(size_t n) { ++allocations; return __libc_malloc(n); }
void *calloc(size_t n, size_t m) { ++allocations; return __libc_calloc(n, m); }
void *realloc(void *p, size_t n) { ++allocations; return __libc_realloc(p, n); }
void free(void *p) { __libc_free(p); }
void *aligned_alloc(size_t a, size_t n) { ++allocations; return __libc_memalign(a, n); }
void *memalign(size_t a, size_t n) { ++allocations; return __libc_memalign(a, n); }
int posix_memalign(void **p, size_t a, size_t n) {
    ++allocations;
    *p = __libc_memalign(a, n);
    return *p ? 0 : 12;
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    dn_model *m = dn_model_load(argv[1]);
    if (!m) {
        fprintf(stderr, "%s\n", dn_last_error());
        return 1;
    }
    const int calls = atoi(argv[2]), n_in = dn_model_input_size(m), n_out = dn_model_output_size(m);
    float x[4096], y[4096];
    if (n_in > 4096 || n_out > 4096) return 2;
    for (int i = 0; i < n_in; ++i) x[i] = (float)i / (float)n_in - 0.5f;
    if (dn_model_predict(m, x, 1, y) != 0) return 1; /* warm-up: the pool's first workspace */
    const long before = allocations;
    for (int c = 0; c < calls; ++c) {
        x[c % n_in] += 0.001f;
        if (dn_model_predict(m, x, 1, y) != 0) return 1;
    }
    const long during = allocations - before;
    dn_model_free(m);
    printf("%ld\n", during);
    return 0;
}
