/* eml_lab_gauss.h: header-only C99 scoring of Gaussian detectors exported by emlearn_lab
 * (eml.export_c of a GaussianMixture, BayesianGaussianMixture or EllipticEnvelope). It
 * computes exactly what emlearn_lab's host reference (emlearn_lab/gauss/float32.py) and the
 * MicroPython runtime (emlgauss.py) compute, bit for bit: one rounded float32 operation at a
 * time, in the same order, with the same portable exp (eml_lab_net_exp) and log
 * (eml_lab_gauss_log), so no libm is needed. Contraction into fused multiply-adds and
 * fast-math are switched off for this code whatever the project's flags (see eml_lab_net.h,
 * which must be next to this file); a program linked with -ffast-math on x86 (crtfastmath)
 * flushes subnormals to zero everywhere, which no header can undo: do not link with it.
 *
 * No dynamic allocation; all model data is static const (flash on a microcontroller).
 */
#ifndef EML_LAB_GAUSS_H
#define EML_LAB_GAUSS_H

#include "eml_lab_net.h"

EML_LAB_NET_EXACT_BEGIN

#define EML_LAB_GAUSS_FULL 0
#define EML_LAB_GAUSS_TIED 1
#define EML_LAB_GAUSS_DIAG 2
#define EML_LAB_GAUSS_SPHERICAL 3

typedef struct {
    int32_t n_features;
    int32_t n_components;
    int32_t covariance;        /* EML_LAB_GAUSS_FULL ... */
    int32_t envelope;          /* 1: score = -Mahalanobis^2 (EllipticEnvelope) */
    const float *means;        /* [n_components][n_features] */
    const float *consts;       /* [n_components]: log weight + log det - n/2 log(2 pi) */
    const float *factor;       /* the precision factor, packed as emlearn_lab/gauss/gaussfile */
} eml_lab_gauss;

static inline float eml_lab_gauss_f(uint32_t bits)
{
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* The portable float32 log of emlearn_lab/gauss/float32.py (plog): NaN for NaN and x < 0,
 * -inf for 0, inf for inf; else x = 2**e * m, m in [sqrt(2)/2, sqrt(2)), and an odd
 * polynomial in s = f / (2 + f), f = m - 1. */
static inline float eml_lab_gauss_log(float x)
{
    uint32_t bits;
    int32_t e;
    float m, f, s, z, p, r, lg, ef;
    if (x != x) {
        return x;
    }
    if (x < 0.0f) {
        return eml_lab_gauss_f(0x7FC00000u);
    }
    if (x == 0.0f) {
        return eml_lab_gauss_f(0xFF800000u);
    }
    if (x > eml_lab_gauss_f(0x7F7FFFFFu)) {
        return x;                                  /* +inf */
    }
    e = 0;
    if (x < eml_lab_gauss_f(0x00800000u)) {        /* subnormal: times 2**25 */
        x = x * eml_lab_gauss_f(0x4C000000u);
        e = -25;
    }
    memcpy(&bits, &x, sizeof bits);
    e += (int32_t)((bits >> 23) & 0xFFu) - 127;
    m = eml_lab_gauss_f((bits & 0x7FFFFFu) | 0x3F800000u);
    if (m > eml_lab_gauss_f(0x3FB504F3u)) {
        m = m * 0.5f;
        e += 1;
    }
    f = m - 1.0f;
    s = f / (2.0f + f);
    z = s * s;
    p = eml_lab_gauss_f(0x3E3A2E8Cu) * z;
    p = p + eml_lab_gauss_f(0x3E638E39u);
    p = p * z;
    p = p + eml_lab_gauss_f(0x3E924925u);
    p = p * z;
    p = p + eml_lab_gauss_f(0x3ECCCCCDu);
    p = p * z;
    p = p + eml_lab_gauss_f(0x3F2AAAABu);
    r = s * z;
    r = r * p;
    lg = (s + s) + r;
    ef = (float)e;
    return (ef * eml_lab_gauss_f(0x35BFBE8Eu) + lg) + ef * eml_lab_gauss_f(0x3F317200u);
}

/* Squared Mahalanobis distance of x to component k. */
static inline float eml_lab_gauss_mahalanobis(const eml_lab_gauss *g, const float *x,
                                              int32_t k)
{
    const int32_t n = g->n_features;
    const float *mean = g->means + (size_t)k * (size_t)n;
    float m = 0.0f, y, d;
    int32_t i, j;
    if (g->covariance == EML_LAB_GAUSS_FULL || g->covariance == EML_LAB_GAUSS_TIED) {
        const float *packed = g->factor;
        if (g->covariance == EML_LAB_GAUSS_FULL) {
            packed += (size_t)k * (size_t)(n * (n + 1) / 2);
        }
        for (j = 0; j < n; j++) {
            y = 0.0f;
            for (i = 0; i <= j; i++) {
                d = x[i] - mean[i];
                d = d * *packed++;
                y = y + d;
            }
            y = y * y;
            m = m + y;
        }
        return m;
    }
    for (i = 0; i < n; i++) {
        d = x[i] - mean[i];
        y = d * (g->covariance == EML_LAB_GAUSS_DIAG ? g->factor[(size_t)k * (size_t)n + i]
                                                       : g->factor[k]);
        y = y * y;
        m = m + y;
    }
    return m;
}

/* The detector's score (higher is more normal): a mixture's log-density (log-sum-exp of
 * the components' log-probabilities, lp: scratch of n_components floats), or minus the
 * squared Mahalanobis distance (envelope). */
static inline float eml_lab_gauss_score(const eml_lab_gauss *g, const float *x, float *lp)
{
    float mx, s, t;
    int32_t k;
    if (g->envelope) {
        return -eml_lab_gauss_mahalanobis(g, x, 0);
    }
    for (k = 0; k < g->n_components; k++) {
        t = 0.5f * eml_lab_gauss_mahalanobis(g, x, k);
        lp[k] = g->consts[k] - t;
    }
    if (g->n_components == 1) {
        return lp[0];
    }
    mx = lp[0];
    for (k = 1; k < g->n_components; k++) {
        if (lp[k] > mx) {
            mx = lp[k];
        }
    }
    if (mx == eml_lab_gauss_f(0xFF800000u)) {
        return mx;
    }
    s = 0.0f;
    for (k = 0; k < g->n_components; k++) {
        t = lp[k] - mx;
        s = s + eml_lab_net_exp(t);
    }
    return mx + eml_lab_gauss_log(s);
}

EML_LAB_NET_EXACT_END

#endif /* EML_LAB_GAUSS_H */
