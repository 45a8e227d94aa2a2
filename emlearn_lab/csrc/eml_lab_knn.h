/* eml_lab_knn.h: header-only C99 nearest neighbours exported by emlearn_lab (eml.export_c of
 * a KNeighborsClassifier / KNeighborsRegressor). It computes exactly what emlearn_lab's host
 * reference (emlearn_lab/neighbors/exact.py) and the MicroPython runtime (emlknn.py) compute,
 * bit for bit:
 *
 * - distances: per example, acc = 0, then for each feature in order d = x - e and
 *   acc = acc + d * d (euclidean: the squared distance) or acc + |d| (manhattan), one rounded
 *   float32 operation at a time (int16 features: in integers; rows must lie in
 *   [-MAX_ABS, MAX_ABS], as the host and the device check);
 * - the k nearest by (distance, example index);
 * - distance weights w = 1 / s, s = sqrt(acc) (euclidean, correctly rounded: written here,
 *   no libm) or acc; neighbours at distance 0 (w = inf) weigh 1 and the others 0; when every
 *   weight is 0, all weigh 1;
 * - votes per class (int32 counts, or float32 sums of the weights) added in neighbour order,
 *   the class the first maximum; regressors the float32 (weighted) mean.
 *
 * Contraction into fused multiply-adds and fast-math are off for this code whatever the
 * project's flags (see eml_lab_net.h, which must be next to this file), but a program LINKED
 * with -ffast-math on x86 (crtfastmath) flushes subnormal results to zero everywhere, which
 * changes tiny weights: do not link with it. No dynamic
 * allocation; the examples are static const (flash on a microcontroller).
 */
#ifndef EML_LAB_KNN_H
#define EML_LAB_KNN_H

#include "eml_lab_net.h"

EML_LAB_NET_EXACT_BEGIN

#define EML_LAB_KNN_MAX_K 64

static inline float eml_lab_knn_max_float(void)
{
    const uint32_t bits = 0x7F7FFFFFu;
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

typedef struct {
    int32_t n_features;
    int32_t n_examples;
    int32_t k;                 /* at most EML_LAB_KNN_MAX_K and n_examples */
    int32_t n_classes;         /* 0: a regressor */
    int32_t manhattan;         /* 0: euclidean */
    int32_t distance_weights;  /* 0: uniform */
    const float *examples_f32; /* [n_examples][n_features], or NULL */
    const int16_t *examples_i16;
    const int32_t *labels;     /* classifiers: class index per example */
    const float *targets;      /* regressors: value per example */
} eml_lab_knn;

/* The correctly rounded float32 square root of acc >= 0 (0, inf and NaN as they are). */
static inline float eml_lab_knn_sqrt(float x)
{
    uint32_t b, q;
    int32_t e;
    uint64_t m, v, r = 0, bit, half, low;
    memcpy(&b, &x, sizeof b);
    if (!(x > 0.0f) || b >= 0x7F800000u) {
        return x;
    }
    e = (int32_t)((b >> 23) & 0xFFu);
    m = b & 0x7FFFFFu;
    if (e == 0) {                        /* subnormal: normalise */
        e = 1;
        while (!(m & 0x800000u)) {
            m <<= 1;
            e -= 1;
        }
    } else {
        m |= 0x800000u;
    }
    e -= 150;                            /* x = m * 2**e, m in [2**23, 2**24) */
    if (e & 1) {
        m <<= 1;
        e -= 1;
    }
    v = m << 26;                         /* sqrt(x) = sqrt(v) * 2**((e - 26) / 2) */
    e = (e - 26) / 2;
    bit = (uint64_t)1 << 50;
    while (bit > v) {
        bit >>= 2;
    }
    while (bit) {                        /* r = floor(sqrt(v)), v the remainder */
        if (v >= r + bit) {
            v -= r + bit;
            r = (r >> 1) + bit;
        } else {
            r >>= 1;
        }
        bit >>= 2;
    }
    /* r has 25 or 26 bits: keep 24, round to nearest (never a tie: the root of a float is
     * never halfway between two floats), the remainder is the sticky part */
    b = r >= ((uint64_t)1 << 25) ? 2u : 1u;
    half = (uint64_t)1 << (b - 1);
    low = r & ((half << 1) - 1);
    q = (uint32_t)(r >> b);
    if (low > half || (low == half && (v != 0 || (q & 1u)))) {
        q += 1;
    }
    e += (int32_t)b;
    if (q == 0x1000000u) {
        q >>= 1;
        e += 1;
    }
    b = ((uint32_t)(e + 23 + 127) << 23) | (q & 0x7FFFFFu);
    memcpy(&x, &b, sizeof x);
    return x;
}

/* The distance of x to example i: float32 sums, or (int16 models) exact integer sums. */
static inline float eml_lab_knn_dist_f32(const eml_lab_knn *m, const float *x, int32_t i)
{
    const float *e = m->examples_f32 + (size_t)i * (size_t)m->n_features;
    float acc = 0.0f, d;
    int32_t j;
    for (j = 0; j < m->n_features; j++) {
        d = x[j] - e[j];
        if (m->manhattan) {
            d = d < 0.0f ? -d : d;
        } else {
            d = d * d;
        }
        acc = acc + d;
    }
    return acc;
}

static inline int64_t eml_lab_knn_dist_i16(const eml_lab_knn *m, const int16_t *x, int32_t i)
{
    const int16_t *e = m->examples_i16 + (size_t)i * (size_t)m->n_features;
    int64_t acc = 0, d;
    int32_t j;
    for (j = 0; j < m->n_features; j++) {
        d = (int64_t)x[j] - (int64_t)e[j];
        acc += m->manhattan ? (d < 0 ? -d : d) : d * d;
    }
    return acc;
}

/* The k nearest examples of x (float32 row, or int16 for an int16 model) by (distance,
 * index): their indices, and their distances as float32 (what the weights take). Examples
 * come in index order, so a later one enters only when strictly nearer. */
static inline void eml_lab_knn_nearest(const eml_lab_knn *m, const void *x, int32_t *idx,
                                       float *dist)
{
    float bf[EML_LAB_KNN_MAX_K];
    int64_t bi[EML_LAB_KNN_MAX_K];
    int32_t i, j, held = 0;
    for (i = 0; i < m->n_examples; i++) {
        float df = 0.0f;
        int64_t di = 0;
        if (m->examples_f32) {
            df = eml_lab_knn_dist_f32(m, (const float *)x, i);
        } else {
            di = eml_lab_knn_dist_i16(m, (const int16_t *)x, i);
        }
        if (held < m->k) {
            j = held++;
        } else if (m->examples_f32 ? df < bf[m->k - 1] : di < bi[m->k - 1]) {
            j = m->k - 1;
        } else {
            continue;
        }
        while (j > 0 && (m->examples_f32 ? df < bf[j - 1] : di < bi[j - 1])) {
            bf[j] = bf[j - 1];
            bi[j] = bi[j - 1];
            idx[j] = idx[j - 1];
            j--;
        }
        bf[j] = df;
        bi[j] = di;
        idx[j] = i;
    }
    for (j = 0; j < m->k; j++) {
        dist[j] = m->examples_f32 ? bf[j] : (float)bi[j];
    }
}

/* Distance weights of the k neighbours (see the top of this file). */
static inline void eml_lab_knn_weights(const eml_lab_knn *m, const float *dist, float *w)
{
    int32_t j, any_inf = 0, all_zero = 1;
    float s;
    for (j = 0; j < m->k; j++) {
        s = m->manhattan ? dist[j] : eml_lab_knn_sqrt(dist[j]);
        w[j] = 1.0f / s;
        if (w[j] > eml_lab_knn_max_float()) {
            any_inf = 1;
        }
    }
    for (j = 0; j < m->k; j++) {
        if (any_inf) {
            w[j] = w[j] > eml_lab_knn_max_float() ? 1.0f : 0.0f;
        }
        if (w[j] != 0.0f) {
            all_zero = 0;
        }
    }
    if (all_zero) {
        for (j = 0; j < m->k; j++) {
            w[j] = 1.0f;
        }
    }
}

/* Classifiers: votes per class (int32 counts; out_f NULL) or float32 weight sums (out_i
 * NULL); returns the class, the first maximum. Regressors: out_f[0] = the (weighted) mean;
 * returns 0. */
static inline int32_t eml_lab_knn_predict(const eml_lab_knn *m, const void *x, int32_t *out_i,
                                          float *out_f)
{
    int32_t idx[EML_LAB_KNN_MAX_K], j, best = 0;
    float dist[EML_LAB_KNN_MAX_K], w[EML_LAB_KNN_MAX_K], num = 0.0f, den = 0.0f, t;
    eml_lab_knn_nearest(m, x, idx, dist);
    if (m->distance_weights) {
        eml_lab_knn_weights(m, dist, w);
    }
    if (m->n_classes == 0) {
        for (j = 0; j < m->k; j++) {
            if (m->distance_weights) {
                t = w[j] * m->targets[idx[j]];
                num = num + t;
                den = den + w[j];
            } else {
                num = num + m->targets[idx[j]];
            }
        }
        out_f[0] = num / (m->distance_weights ? den : (float)m->k);
        return 0;
    }
    for (j = 0; j < m->n_classes; j++) {
        if (out_i) {
            out_i[j] = 0;
        } else {
            out_f[j] = 0.0f;
        }
    }
    for (j = 0; j < m->k; j++) {
        int32_t c = m->labels[idx[j]];
        if (out_i) {
            out_i[c] += 1;
        } else {
            out_f[c] = out_f[c] + w[j];
        }
    }
    for (j = 1; j < m->n_classes; j++) {
        if (out_i ? out_i[j] > out_i[best] : out_f[j] > out_f[best]) {
            best = j;
        }
    }
    return best;
}

EML_LAB_NET_EXACT_END

#endif /* EML_LAB_KNN_H */
