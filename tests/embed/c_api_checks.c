/* Checks of the C ABI that need a C program: argument validation, error
 * messages, and many threads predicting with one model at once.
 *   c_api_checks MODEL.dnn BAD.dnn THREADS ITERATIONS
 * Reads rows of inputs (input size per row) from standard input. Prints
 * "OK" and exits 0 when every check passes. */
#include <densenn/c_api.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond, what)                                              \
    do {                                                               \
        if (!(cond)) {                                                 \
            fprintf(stderr, "FAILED: %s (%s)\n", what, dn_last_error()); \
            exit(1);                                                   \
        }                                                              \
    } while (0)

static const dn_model *model;
static const float *inputs;
static const float *expected;
static int rows, n_in, n_out, iterations;
static int mismatches[64];

static void *worker(void *arg) {
    const int id = (int)(size_t)arg;
    float *y = malloc((size_t)n_out * sizeof *y);
    for (int it = 0; it < iterations; ++it) {
        const int r = (it * 7 + id) % rows;
        if (dn_model_predict(model, inputs + (size_t)r * n_in, 1, y) != 0) {
            mismatches[id] += 1000000;
            break;
        }
        if (memcmp(y, expected + (size_t)r * n_out, (size_t)n_out * sizeof *y) != 0) mismatches[id]++;
    }
    free(y);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 5) return 2;
    const int threads = atoi(argv[3]);
    iterations = atoi(argv[4]);
    if (threads < 1 || threads > 64) return 2;

    CHECK(dn_model_load(NULL) == NULL && strlen(dn_last_error()) > 0, "NULL path refused");
    CHECK(dn_model_load("/nonexistent/model.dnn") == NULL && strstr(dn_last_error(), "cannot open"),
          "missing file refused");
    CHECK(dn_model_load(argv[2]) == NULL && strlen(dn_last_error()) > 0, "damaged file refused");
    CHECK(dn_model_input_size(NULL) == -1 && dn_model_output_size(NULL) == -1, "sizes of NULL");
    dn_model_free(NULL);

    dn_model *m = dn_model_load(argv[1]);
    CHECK(m != NULL, "model loads");
    model = m;
    n_in = dn_model_input_size(m);
    n_out = dn_model_output_size(m);
    CHECK(n_in > 0 && n_out > 0, "sizes");

    size_t count = 0, capacity = 256;
    float *x = malloc(capacity * sizeof *x), v;
    while (scanf("%f", &v) == 1) {
        if (count == capacity) x = realloc(x, (capacity *= 2) * sizeof *x);
        x[count++] = v;
    }
    rows = (int)(count / (size_t)n_in);
    CHECK(rows > 0 && count % (size_t)n_in == 0, "inputs");
    inputs = x;
    float *y = malloc((size_t)rows * n_out * sizeof *y);
    float dummy[1];

    CHECK(dn_model_predict(NULL, x, 1, y) != 0 && strstr(dn_last_error(), "NULL"), "NULL model refused");
    CHECK(dn_model_predict(m, NULL, 1, y) != 0 && strstr(dn_last_error(), "NULL"), "NULL x refused");
    CHECK(dn_model_predict(m, x, 1, NULL) != 0 && strstr(dn_last_error(), "NULL"), "NULL y refused");
    CHECK(dn_model_predict(m, x, -1, y) != 0 && strstr(dn_last_error(), "rows"), "negative rows refused");
    CHECK(dn_model_predict(m, NULL, 0, NULL) == 0 && dn_last_error()[0] == '\0', "zero rows");
    (void)dummy;

    /* The reference: one row at a time, on this thread. */
    for (int r = 0; r < rows; ++r)
        CHECK(dn_model_predict(m, x + (size_t)r * n_in, 1, y + (size_t)r * n_out) == 0, "one-row predict");
    expected = y;
    /* A batch gives the same numbers (up to rounding: a batch may sum in another order). */
    float *batch = malloc((size_t)rows * n_out * sizeof *batch);
    CHECK(dn_model_predict(m, x, rows, batch) == 0, "batch predict");
    for (size_t i = 0; i < (size_t)rows * n_out; ++i) {
        const float d = batch[i] - y[i], scale = 1e-4f * (1.0f + (y[i] < 0 ? -y[i] : y[i]));
        CHECK(d <= scale && -d <= scale, "batch equals rows");
    }

    pthread_t tids[64];
    for (int t = 0; t < threads; ++t) pthread_create(&tids[t], NULL, worker, (void *)(size_t)t);
    for (int t = 0; t < threads; ++t) pthread_join(tids[t], NULL);
    for (int t = 0; t < threads; ++t) CHECK(mismatches[t] == 0, "concurrent predicts equal the reference");

    free(batch);
    free(y);
    free(x);
    dn_model_free(m);
    printf("OK\n");
    return 0;
}
