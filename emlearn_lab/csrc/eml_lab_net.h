/* eml_lab_net.h: header-only C99 inference for dense networks exported by emlearn_lab
 * (eml.export_c). It computes exactly what emlearn_lab's host reference and MicroPython
 * runtime compute, bit for bit:
 *
 * - float32 weights: each layer starts from its bias and adds w * a, one rounded product and
 *   one rounded sum at a time, in input order. A fused multiply-add (one rounding) would give
 *   other bits: GCC fuses a*b + c across statements (vfma.f32 on a Cortex-M4F) under
 *   -ffp-contract=fast, its default with -std=gnu* and in C++ under any -std (only ISO C
 *   modes imply -ffp-contract=off), and -ffast-math also reorders and rewrites divisions. So
 *   the float code below and the model header's functions are compiled with contraction and
 *   fast-math off whatever the project's flags (EML_LAB_NET_EXACT_BEGIN / _END: GCC's
 *   optimize pragma, clang's float_control and FP_CONTRACT pragmas; GCC ignores the ISO
 *   pragma). Other compilers: pass their "no contraction, IEEE" option. Needs IEEE
 *   single-precision arithmetic (no x87 excess precision: on 32-bit x86 use -msse2
 *   -mfpmath=sse). sigmoid and tanh use eml_lab_net_exp, the same polynomial the host uses,
 *   so no libm is needed.
 * - int8 weights: integer arithmetic only (int32 accumulators, power-of-two rescaling).
 *
 * No dynamic allocation; scratch lives on the caller's stack (two buffers of the widest
 * layer). All data is static const (flash on a microcontroller).
 */
#ifndef EML_LAB_NET_H
#define EML_LAB_NET_H

#include <stdint.h>
#include <string.h>

/* Exact float32 arithmetic between BEGIN and END, whatever the command line says (see above).
 * Checked on arm-none-eabi-gcc 12 (Cortex-M4F, -std=gnu11 / gnu++17 / c++11, -ffast-math). */
#if defined(__clang__)
#define EML_LAB_NET_EXACT_BEGIN _Pragma("float_control(precise, on, push)") \
    _Pragma("STDC FP_CONTRACT OFF")
#define EML_LAB_NET_EXACT_END _Pragma("float_control(pop)")
#elif defined(__GNUC__)
#define EML_LAB_NET_EXACT_BEGIN _Pragma("GCC push_options") \
    _Pragma("GCC optimize(\"fp-contract=off\", \"no-fast-math\")")
#define EML_LAB_NET_EXACT_END _Pragma("GCC pop_options")
#else
#define EML_LAB_NET_EXACT_BEGIN
#define EML_LAB_NET_EXACT_END
#endif

EML_LAB_NET_EXACT_BEGIN

#define EML_LAB_NET_LINEAR 0
#define EML_LAB_NET_RELU 1
#define EML_LAB_NET_SIGMOID 2
#define EML_LAB_NET_TANH 3

typedef struct {
    uint16_t n_in;
    uint16_t n_out;
    uint8_t activation;
    const float *weights;      /* [n_out][n_in] */
    const float *bias;         /* [n_out] */
} eml_lab_net_f32_layer;

typedef struct {
    uint16_t n_in;
    uint16_t n_out;
    uint8_t activation;
    const int8_t *weights;     /* [n_out][n_in] */
    const int32_t *bias;       /* [n_out], on the accumulator's scale */
    const uint8_t *shift;      /* [n_out] right shift accumulator -> int8 (hidden layers) */
    const int8_t *lut;         /* [256] sigmoid/tanh table indexed by pre-activation + 128,
                                  or NULL */
} eml_lab_net_i8_layer;

/* floor(v) for |v| < 2**31 without libm. */
static inline int32_t eml_lab_net_floor(float v)
{
    int32_t k = (int32_t)v;
    return ((float)k > v) ? k - 1 : k;
}

/* The portable float32 exp of emlearn_lab/nets/float32.py: clamp to [-80, 80], Cody-Waite
 * reduction by ln 2, degree-6 Taylor polynomial (Horner), exact scaling by 2**k. */
static inline float eml_lab_net_exp(float x)
{
    static const float poly[7] = {
        0.00138888892f, 0.00833333377f, 0.0416666679f, 0.166666672f, 0.5f, 1.0f, 1.0f};
    float t, r, p, s;
    int32_t k;
    int i;
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    if ((bits & 0x7F800000u) == 0x7F800000u && (bits & 0x7FFFFFu)) {
        return x;                   /* NaN (from inf - inf upstream) stays NaN */
    }
    if (x < -80.0f) {
        x = -80.0f;
    } else if (x > 80.0f) {
        x = 80.0f;
    }
    t = x * 1.44269502f;
    t = t + 0.5f;
    k = eml_lab_net_floor(t);
    t = (float)k * 0.693145752f;
    r = x - t;
    t = (float)k * 1.42860677e-06f;
    r = r - t;
    p = poly[0];
    for (i = 1; i < 7; i++) {
        p = p * r;
        p = p + poly[i];
    }
    bits = (uint32_t)(k + 127) << 23;      /* 2**k, exact: |k| <= 116 */
    memcpy(&s, &bits, sizeof s);
    return p * s;
}

static inline float eml_lab_net_activate_f32(float z, uint8_t activation)
{
    float t;
    switch (activation) {
    case EML_LAB_NET_RELU:
        return z > 0.0f ? z : 0.0f;
    case EML_LAB_NET_SIGMOID:
        t = 1.0f + eml_lab_net_exp(-z);
        return 1.0f / t;
    case EML_LAB_NET_TANH:
        t = 2.0f * z;
        t = eml_lab_net_exp(t) + 1.0f;
        t = 2.0f / t;
        return 1.0f - t;
    default:
        return z;
    }
}

/* Runs every layer; the last layer's outputs (its activation applied: linear or relu) go to
 * scores. buf_a and buf_b hold at least the widest layer's outputs. */
static inline void eml_lab_net_run_f32(const eml_lab_net_f32_layer *layers, int n_layers,
                                       const float *x, float *buf_a, float *buf_b,
                                       float *scores)
{
    const float *in = x;
    float *out;
    int l, o, i;
    for (l = 0; l < n_layers; l++) {
        const eml_lab_net_f32_layer *layer = &layers[l];
        const float *w = layer->weights;
        out = (l == n_layers - 1) ? scores : ((l & 1) ? buf_b : buf_a);
        for (o = 0; o < layer->n_out; o++) {
            float acc = layer->bias[o];
            for (i = 0; i < layer->n_in; i++) {
                float product = w[i] * in[i];
                acc = acc + product;
            }
            w += layer->n_in;
            out[o] = eml_lab_net_activate_f32(acc, layer->activation);
        }
        in = out;
    }
}

/* Class index: first maximum, or for one output logit > 0. */
static inline int eml_lab_net_argmax_f32(const float *scores, int n)
{
    int best = 0, j;
    if (n == 1) {
        return scores[0] > 0.0f ? 1 : 0;
    }
    for (j = 1; j < n; j++) {
        if (scores[j] > scores[best]) {
            best = j;
        }
    }
    return best;
}

/* floor(v / 2**r) for any sign (>> of a negative int is implementation-defined in C). */
static inline int32_t eml_lab_net_asr(int32_t v, int r)
{
    return v >= 0 ? (v >> r) : -1 - ((-1 - v) >> r);
}

/* clip(floor(x * 2**shift + 1/2), -128, 127) from the float's bits (integer operations). */
static inline int8_t eml_lab_net_quantise8(float x, int shift)
{
    uint32_t b;
    int32_t e, m, p, v, frac = 0;
    memcpy(&b, &x, sizeof b);
    e = (int32_t)((b >> 23) & 0xFFu);
    m = (int32_t)(b & 0x7FFFFFu);
    if (e == 0) {
        e = 1;                      /* subnormal: no implicit bit */
    } else {
        m |= 0x800000;
    }
    p = e - 149 + shift;            /* |x| * 2**(shift+1) = m * 2**p */
    if (e == 255 || p >= 7) {
        v = 512;                    /* saturates */
    } else if (p >= 0) {
        v = m << p;
    } else if (p > -25) {
        v = m >> -p;
        frac = m & ((1 << -p) - 1);
    } else {
        v = 0;
        frac = m;
    }
    if (b >> 31) {
        v = -v - (frac ? 1 : 0);
    }
    v = eml_lab_net_asr(v + 1, 1);
    return (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
}

static inline void eml_lab_net_run_i8(const eml_lab_net_i8_layer *layers, int n_layers,
                                      const int8_t *input_shift, int n_features,
                                      const float *x, int8_t *buf_a, int8_t *buf_b,
                                      int32_t *scores)
{
    int8_t *in = buf_a, *out;
    int l, o, i;
    for (i = 0; i < n_features; i++) {
        buf_a[i] = eml_lab_net_quantise8(x[i], input_shift[i]);
    }
    for (l = 0; l < n_layers; l++) {
        const eml_lab_net_i8_layer *layer = &layers[l];
        const int8_t *w = layer->weights;
        int last = l == n_layers - 1;
        int32_t lo = layer->activation == EML_LAB_NET_RELU ? 0 : -128;
        out = (in == buf_a) ? buf_b : buf_a;
        for (o = 0; o < layer->n_out; o++) {
            int32_t acc = layer->bias[o];
            for (i = 0; i < layer->n_in; i++) {
                acc += (int32_t)w[i] * (int32_t)in[i];
            }
            w += layer->n_in;
            if (last) {
                scores[o] = (layer->activation == EML_LAB_NET_RELU && acc < 0) ? 0 : acc;
                continue;
            }
            if (layer->shift[o]) {
                acc = eml_lab_net_asr(acc + ((int32_t)1 << (layer->shift[o] - 1)),
                                      layer->shift[o]);
            }
            if (layer->lut) {
                acc = acc < -128 ? -128 : (acc > 127 ? 127 : acc);
                out[o] = layer->lut[acc + 128];
            } else {
                out[o] = (int8_t)(acc < lo ? lo : (acc > 127 ? 127 : acc));
            }
        }
        in = out;
    }
}

static inline int eml_lab_net_argmax_i32(const int32_t *scores, int n)
{
    int best = 0, j;
    if (n == 1) {
        return scores[0] > 0 ? 1 : 0;
    }
    for (j = 1; j < n; j++) {
        if (scores[j] > scores[best]) {
            best = j;
        }
    }
    return best;
}

EML_LAB_NET_EXACT_END

#endif /* EML_LAB_NET_H */
