"""The C program the export tests compile: reads float32 (or int16) rows from argv[1], writes
predict() as int32, then the scores (type %(st)s), then %(value)s (e.g. a double), per row, to
argv[2]."""

HARNESS = r"""#include <stdio.h>
#include "%(name)s.h"

int main(int argc, char **argv)
{
    FILE *in, *out;
    %(xt)s x[%(N)s_N_FEATURES];
    %(st)s s[%(N)s_N_OUTPUTS];
    if (argc != 3) {
        return 2;
    }
    in = fopen(argv[1], "rb");
    out = fopen(argv[2], "wb");
    if (!in || !out) {
        return 3;
    }
    while (fread(x, sizeof x[0], %(N)s_N_FEATURES, in) == %(N)s_N_FEATURES) {
        int32_t p = %(name)s_predict(x);
        %(name)s_scores(x, s);
        fwrite(&p, sizeof p, 1, out);
        fwrite(s, sizeof s[0], %(N)s_N_OUTPUTS, out);
        %(value)s
    }
    fclose(in);
    fclose(out);
    return 0;
}
"""
