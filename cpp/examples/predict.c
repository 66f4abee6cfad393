/* Loads a densenn model file and prints its predictions for rows of numbers
 * (whitespace- or comma-separated, input size per row) read from a file or
 * from standard input. C API: densenn/c_api.h.
 *
 *   cc predict.c -I"$(densenn config --includedir)" -L"$(densenn config --libdir)" \
 *      -Wl,-rpath,"$(densenn config --libdir)" -ldensenn -o predict
 *   ./predict model.dnn inputs.txt
 */
#include <densenn/c_api.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s MODEL.dnn [INPUT]   (rows of numbers; standard input without INPUT)\n", argv[0]);
        return 2;
    }
    dn_model *model = dn_model_load(argv[1]);
    if (!model) {
        fprintf(stderr, "error: %s\n", dn_last_error());
        return 1;
    }
    FILE *in = argc == 3 ? fopen(argv[2], "r") : stdin;
    if (!in) {
        fprintf(stderr, "cannot open %s\n", argv[2]);
        dn_model_free(model);
        return 1;
    }
    size_t count = 0, capacity = 1024;
    float *x = malloc(capacity * sizeof *x);
    float value;
    int status = 0;
    for (;;) {
        int c;
        while ((c = fgetc(in)) == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r') {}
        if (c == EOF) break;
        ungetc(c, in);
        if (fscanf(in, "%f", &value) != 1) {
            fprintf(stderr, "error: not a number in the input\n");
            status = 1;
            break;
        }
        if (count == capacity) {
            capacity *= 2;
            float *bigger = realloc(x, capacity * sizeof *x);
            if (!bigger) {
                fprintf(stderr, "error: out of memory\n");
                status = 1;
                break;
            }
            x = bigger;
        }
        x[count++] = value;
    }
    if (in != stdin) fclose(in);
    const int n_in = dn_model_input_size(model), n_out = dn_model_output_size(model);
    if (status == 0 && count % (size_t)n_in != 0) {
        fprintf(stderr, "error: expected rows of %d numbers, got %zu numbers in all\n", n_in, count);
        status = 1;
    }
    if (status == 0) {
        const int rows = (int)(count / (size_t)n_in);
        float *y = malloc(((size_t)rows * (size_t)n_out + 1) * sizeof *y);
        if (!y || dn_model_predict(model, x, rows, y) != 0) {
            fprintf(stderr, "error: %s\n", y ? dn_last_error() : "out of memory");
            status = 1;
        } else {
            for (int r = 0; r < rows; ++r)
                for (int j = 0; j < n_out; ++j)
                    printf("%.9g%c", y[(size_t)r * n_out + j], j + 1 == n_out ? '\n' : ' ');
        }
        free(y);
    }
    free(x);
    dn_model_free(model);
    return status;
}
