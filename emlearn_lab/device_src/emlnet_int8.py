# int8 network on the device: builds the layout table the kernel walks (see emlnet_kernels)
# and returns run(x) -> class index and scores() -> the int32 last-layer accumulators.
import array
import struct

try:
    from emlnet_kernels import net8
except (ImportError, SyntaxError, ValueError):
    # No native code on this port (or an .mpy for another arch): the bytecode twin.
    from emlnet_pure import net8

# Layout table: 8 header slots, then 8 per layer.
H_LAYERS = 0        # n_layers, n_features, input shift offset, buffer A offset (bytes in
H_HEADER = 8        # work), buffer B offset, scores offset, classifier?, n_outputs


def _align4(n):
    return (n + 3) & ~3


def layout(nf, no, layers, width):
    """The int32 layout table for a parsed network file whose layers are (n_in, n_out, act,
    lut); offsets of each layer's sections follow emlearn_lab/nets/netfile.py."""
    nl = len(layers)
    h = array.array("i", [0] * (H_HEADER + 8 * nl))
    off = 16 + 8 * nl
    a_off = 4 * no
    h[0], h[1], h[2], h[3], h[4], h[5], h[7] = nl, nf, off, a_off, a_off + _align4(width), 0, no
    off += _align4(nf)
    for i in range(nl):
        n_in, n_out, act, lut = layers[i]
        d = H_HEADER + 8 * i
        h[d], h[d + 1], h[d + 2] = n_in, n_out, off
        off += _align4(n_in * n_out)
        h[d + 3] = off
        off += 4 * n_out
        h[d + 4] = off
        off += _align4(n_out)
        h[d + 5] = off if lut else 0     # 0: no table (offset 0 is the header)
        off += 256 * lut
        h[d + 6] = act
    return h


def check(data, nf, layers, h):
    """Raise ValueError unless every shift is in range and no int32 sum can overflow: the
    kernel's sums are exact only while the true value fits an int32 (a 32-bit port wraps)."""
    for j in range(nf):
        s = data[h[2] + j]
        if 120 < s < 136:
            raise ValueError("corrupt network file: input shift %d of feature %d (the writer "
                             "keeps them within +-120)" % (s - 256 if s > 127 else s, j))
    last = len(layers) - 1
    for i in range(len(layers)):
        d = H_HEADER + 8 * i
        n_in, n_out, w, c, r = h[d], h[d + 1], h[d + 2], h[d + 3], h[d + 4]
        for o in range(n_out):
            shift = 0 if i == last else data[r + o]
            if shift > 31:
                raise ValueError("corrupt network file: right shift %d in layer %d (at most "
                                 "31)" % (shift, i))
            # bias = const + 128 * sum(uint8 weights) - 16384 * n_in (see emlnet_kernels);
            # |sum w*a| <= 16384 * n_in, and the rounding adds 2**(shift - 1).
            row = w + o * n_in
            bias = struct.unpack_from("<i", data, c + 4 * o)[0] \
                + 128 * sum(data[row:row + n_in]) - 16384 * n_in
            top = abs(bias) + 16384 * n_in + ((1 << shift) >> 1)
            if top > 0x7FFFFFFF:
                raise ValueError("corrupt network file: neuron %d of layer %d can overflow "
                                 "int32 (bias %d, %d inputs)" % (o, i, bias, n_in))


def bind(data, nf, no, layers, kind):
    width = nf
    for n_in, n_out, act, lut in layers:
        width = max(width, n_out)
    h = layout(nf, no, layers, width)
    h[6] = 1 if kind == 0 else 0
    check(data, nf, layers, h)
    work = array.array("i", [0] * (no + 2 * (_align4(width) // 4)))

    def run(x):
        return net8(work, data, h, x)

    def scores():
        return work[:no]
    return run, scores
