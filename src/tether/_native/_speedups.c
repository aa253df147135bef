/* tether._native._speedups: the compiled hot path.
 *
 * The same three names, with the same semantics, as tether/_native/_python.py
 * (the reference; tests/_native/test_parity.py holds both to the same answers):
 *
 *   apply_mask(data, mask) -> bytes
 *       XOR with the 4-byte key repeated (RFC 6455 5.3), 8 bytes at a time; the
 *       compiler vectorises the loop (SSE2 on every x86-64), and an AVX2 clone of
 *       it is picked at run time where the CPU has AVX2.
 *   parse_frames(buf, expect_mask, max_payload) -> (list[(b0, payload)], used)
 *       every complete frame at the start of buf, unmasked while copied out of
 *       the buffer (one pass); raises ProtocolError / PayloadTooBig only for a
 *       bad frame at the start of the buffer.
 *   build_frame(opcode, payload, fin=True, rsv=0, mask=None) -> bytes
 *       one frame in one allocation, masked while copied.
 *   Utf8Decoder
 *       incremental strict UTF-8 decoder: an ASCII fast path (8 bytes a word),
 *       then a DFA validator (Hoehrmann's, with the state kept between calls)
 *       that finds invalid input at the first byte that can't be part of a valid
 *       sequence (as early as CPython's decoder or earlier); valid text is then
 *       turned into str by CPython's own decoder.
 *
 * Plain C against the CPython API, no Cython needed to build it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static PyObject *ProtocolError = NULL;
static PyObject *PayloadTooBig = NULL;
static PyObject *StructError = NULL;

/* ------------------------------------------------------------------ masking */

static inline uint64_t
mask64(const unsigned char key[4])
{
    uint64_t k;
    unsigned char k8[8];
    memcpy(k8, key, 4);
    memcpy(k8 + 4, key, 4);
    memcpy(&k, k8, 8);
    return k;
}

/* dst[i] = src[i] ^ key[(i + phase) % 4]; dst may equal src. */
#define MASK_BODY                                                          \
    unsigned char k[4];                                                    \
    for (int j = 0; j < 4; j++) k[j] = key[(j + phase) & 3];               \
    uint64_t k64 = mask64(k);                                              \
    size_t i = 0;                                                          \
    for (; i + 8 <= n; i += 8) {                                           \
        uint64_t v;                                                        \
        memcpy(&v, src + i, 8);                                            \
        v ^= k64;                                                          \
        memcpy(dst + i, &v, 8);                                            \
    }                                                                      \
    for (; i < n; i++) dst[i] = src[i] ^ k[i & 3];

static void
mask_generic(unsigned char *dst, const unsigned char *src, size_t n,
             const unsigned char *key, unsigned phase)
{
    MASK_BODY
}

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define TETHER_HAVE_AVX2_CLONE 1
__attribute__((target("avx2"))) static void
mask_avx2(unsigned char *dst, const unsigned char *src, size_t n,
          const unsigned char *key, unsigned phase)
{
    MASK_BODY
}
#endif

typedef void (*mask_fn)(unsigned char *, const unsigned char *, size_t,
                        const unsigned char *, unsigned);
static mask_fn do_mask = mask_generic;
static const char *mask_impl = "uint64";

static void
pick_mask_impl(void)
{
#ifdef TETHER_HAVE_AVX2_CLONE
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) {
        do_mask = mask_avx2;
        mask_impl = "avx2";
        return;
    }
    mask_impl = "sse2";
#endif
}

/* Read a 4-byte masking key from any buffer into `out`: 0, or -1 with an exception. */
static int
read_key(PyObject *obj, unsigned char out[4])
{
    Py_buffer key;
    if (PyObject_GetBuffer(obj, &key, PyBUF_SIMPLE) < 0)
        return -1;
    int ok = key.len == 4;
    if (ok)
        memcpy(out, key.buf, 4);
    PyBuffer_Release(&key);
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "a masking key is 4 bytes");
        return -1;
    }
    return 0;
}

static PyObject *
apply_mask(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "apply_mask() takes 2 arguments (%zd given)", nargs);
        return NULL;
    }
    Py_buffer data;
    unsigned char key[4];
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0)
        return NULL;
    if (data.len == 0) {
        PyBuffer_Release(&data);
        return PyBytes_FromStringAndSize(NULL, 0);
    }
    if (read_key(args[1], key) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, data.len);
    if (out != NULL) {
        do_mask((unsigned char *)PyBytes_AS_STRING(out), (const unsigned char *)data.buf,
                (size_t)data.len, key, 0);
    }
    PyBuffer_Release(&data);
    return out;
}

/* ------------------------------------------------------------------ frames */

/* build_frame(opcode, payload, fin=True, rsv=0, mask=None) -> bytes: one frame in
 * one allocation, masked while copied when a key is given. */
static PyObject *
build_frame(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"opcode", "payload", "fin", "rsv", "mask"};
    PyObject *slots[5] = {NULL, NULL, Py_True, NULL, Py_None};
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs > 5) {
        PyErr_SetString(PyExc_TypeError, "build_frame() takes at most 5 arguments");
        return NULL;
    }
    for (Py_ssize_t k = 0; k < nargs; k++)
        slots[k] = args[k];
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, k);
        int found = 0;
        for (int j = 0; j < 5; j++) {
            if (PyUnicode_CompareWithASCIIString(name, names[j]) == 0) {
                if (j < nargs) {
                    PyErr_Format(PyExc_TypeError, "build_frame() got multiple values for '%s'",
                                 names[j]);
                    return NULL;
                }
                slots[j] = args[nargs + k];
                found = 1;
                break;
            }
        }
        if (!found) {
            PyErr_Format(PyExc_TypeError, "build_frame() got an unexpected keyword argument '%U'",
                         name);
            return NULL;
        }
    }
    if (slots[0] == NULL || slots[1] == NULL) {
        PyErr_SetString(PyExc_TypeError, "build_frame() needs an opcode and a payload");
        return NULL;
    }
    long opcode = PyLong_AsLong(slots[0]);
    if (opcode == -1 && PyErr_Occurred())
        return NULL;
    long rsv = 0;
    if (slots[3] != NULL) {
        rsv = PyLong_AsLong(slots[3]);
        if (rsv == -1 && PyErr_Occurred())
            return NULL;
    }
    int fin = PyObject_IsTrue(slots[2]);
    if (fin < 0)
        return NULL;
    unsigned long b0 = (fin ? 0x80 : 0) | (unsigned long)rsv | (unsigned long)opcode;
    if (b0 > 0xFF || opcode < 0 || rsv < 0) {
        /* what struct.pack("!B", ...) says in the pure-Python build_frame */
        PyErr_SetString(StructError, "ubyte format requires 0 <= number <= 255");
        return NULL;
    }
    Py_buffer payload;
    unsigned char key[4];
    int masked = slots[4] != Py_None;
    if (PyObject_GetBuffer(slots[1], &payload, PyBUF_SIMPLE) < 0)
        return NULL;
    if (masked && read_key(slots[4], key) < 0) {
        PyBuffer_Release(&payload);
        return NULL;
    }
    size_t n = (size_t)payload.len;
    size_t hdr = n < 126 ? 2 : n < 65536 ? 4 : 10;
    size_t total = hdr + (masked ? 4 : 0) + n;
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
    if (out != NULL) {
        unsigned char *o = (unsigned char *)PyBytes_AS_STRING(out);
        unsigned char mbit = masked ? 0x80 : 0;
        o[0] = (unsigned char)b0;
        if (n < 126) {
            o[1] = mbit | (unsigned char)n;
        }
        else if (n < 65536) {
            o[1] = mbit | 126;
            o[2] = (unsigned char)(n >> 8);
            o[3] = (unsigned char)n;
        }
        else {
            o[1] = mbit | 127;
            for (int j = 0; j < 8; j++)
                o[2 + j] = (unsigned char)((uint64_t)n >> (56 - 8 * j));
        }
        o += hdr;
        if (masked) {
            memcpy(o, key, 4);
            do_mask(o + 4, (const unsigned char *)payload.buf, n, key, 0);
        }
        else if (n) {
            memcpy(o, payload.buf, n);
        }
    }
    PyBuffer_Release(&payload);
    return out;
}


static PyObject *
make_error(PyObject *cls, const char *msg)
{
    return PyObject_CallFunction(cls, "s", msg);
}

static PyObject *
parse_frames(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "parse_frames() takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *limit_obj = args[2];
    int expect_mask = PyObject_IsTrue(args[1]);
    if (expect_mask < 0)
        return NULL;
    int have_limit = limit_obj != Py_None;
    /* limit < 0: every frame is too big; limit_inf: no frame is. */
    long long limit = 0;
    int limit_inf = 0;
    if (have_limit) {
        int overflow = 0;
        limit = PyLong_AsLongLongAndOverflow(limit_obj, &overflow);
        if (limit == -1 && PyErr_Occurred())
            return NULL;
        if (overflow > 0)
            limit_inf = 1;
        else if (overflow < 0)
            limit = -1;
    }

    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *buf = (const unsigned char *)view.buf;
    size_t end = (size_t)view.len;
    size_t pos = 0;

    PyObject *frames = PyList_New(0);
    if (frames == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    PyObject *error = NULL;

    while (end - pos >= 2) {
        unsigned b0 = buf[pos];
        unsigned b1 = buf[pos + 1];
        int masked = (b1 & 0x80) != 0;
        uint64_t length = b1 & 0x7F;
        size_t hdr = 2;
        if (masked != expect_mask) {
            error = make_error(ProtocolError, expect_mask ? "client frame is not masked"
                                                          : "server frame is masked");
            if (error == NULL)
                goto fail;
        }
        else {
            if (length == 126) {
                if (end - pos < 4)
                    break;
                length = ((uint64_t)buf[pos + 2] << 8) | buf[pos + 3];
                hdr = 4;
            }
            else if (length == 127) {
                if (end - pos < 10)
                    break;
                length = 0;
                for (int j = 0; j < 8; j++)
                    length = (length << 8) | buf[pos + 2 + j];
                hdr = 10;
                if (length >> 63) {
                    error = make_error(ProtocolError,
                                       "64-bit payload length has its most significant bit set");
                    if (error == NULL)
                        goto fail;
                }
            }
            if (error != NULL) {
                /* reported below */
            }
            else if ((b0 & 0x08) && length > 125) {
                error = make_error(ProtocolError, "control frame payload longer than 125 bytes");
                if (error == NULL)
                    goto fail;
            }
            else if (have_limit && !limit_inf && (limit < 0 || length > (uint64_t)limit)) {
                PyObject *msg = PyUnicode_FromFormat(
                    "frame of %llu bytes exceeds limit of %S bytes",
                    (unsigned long long)length, limit_obj);
                if (msg == NULL)
                    goto fail;
                error = PyObject_CallOneArg(PayloadTooBig, msg);
                Py_DECREF(msg);
                if (error == NULL)
                    goto fail;
            }
        }
        if (error != NULL) {
            if (PyList_GET_SIZE(frames) > 0) {
                /* The good frames go to the caller first; the next call raises. */
                Py_CLEAR(error);
                break;
            }
            PyErr_SetObject((PyObject *)Py_TYPE(error), error);
            Py_DECREF(error);
            goto fail;
        }
        if (masked)
            hdr += 4;
        size_t avail = end - pos;
        if (avail < hdr || (uint64_t)(avail - hdr) < length)
            break;
        size_t start = pos + hdr;
        PyObject *payload = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)length);
        if (payload == NULL)
            goto fail;
        if (masked)
            do_mask((unsigned char *)PyBytes_AS_STRING(payload), buf + start, (size_t)length,
                    buf + start - 4, 0);
        else
            memcpy(PyBytes_AS_STRING(payload), buf + start, (size_t)length);
        PyObject *first = PyLong_FromLong((long)b0);
        if (first == NULL) {
            Py_DECREF(payload);
            goto fail;
        }
        PyObject *item = PyTuple_New(2);
        if (item == NULL) {
            Py_DECREF(first);
            Py_DECREF(payload);
            goto fail;
        }
        PyTuple_SET_ITEM(item, 0, first);
        PyTuple_SET_ITEM(item, 1, payload);
        int rc = PyList_Append(frames, item);
        Py_DECREF(item);
        if (rc < 0)
            goto fail;
        pos = start + (size_t)length;
    }
    PyBuffer_Release(&view);
    PyObject *used = PyLong_FromSize_t(pos);
    if (used == NULL) {
        Py_DECREF(frames);
        return NULL;
    }
    PyObject *result = PyTuple_New(2);
    if (result == NULL) {
        Py_DECREF(frames);
        Py_DECREF(used);
        return NULL;
    }
    PyTuple_SET_ITEM(result, 0, frames);
    PyTuple_SET_ITEM(result, 1, used);
    return result;

fail:
    PyBuffer_Release(&view);
    Py_DECREF(frames);
    return NULL;
}

/* ------------------------------------------------------------------ UTF-8 */

/* Bjoern Hoehrmann's UTF-8 DFA (http://bjoern.hoehrmann.de/utf-8/decoder/dfa/),
 * the validating variant: byte classes, then transitions.  State 0 accepts,
 * state 12 (UTF8_REJECT) rejects; overlong forms, surrogates and code points
 * above U+10FFFF are rejected at the first byte that rules them in. */
#define UTF8_ACCEPT 0
#define UTF8_REJECT 12

static const uint8_t utf8_class[256] = {
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,
    7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7, 7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,
    8,8,2,2,2,2,2,2,2,2,2,2,2,2,2,2, 2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,
    10,3,3,3,3,3,3,3,3,3,3,3,3,4,3,3, 11,6,6,6,5,8,8,8,8,8,8,8,8,8,8,8,
};

static const uint8_t utf8_trans[108] = {
    0,12,24,36,60,96,84,12,12,12,48,72, 12,12,12,12,12,12,12,12,12,12,12,12,
    12, 0,12,12,12,12,12, 0,12, 0,12,12, 12,24,12,12,12,12,12,24,12,24,12,12,
    12,12,12,12,12,12,12,24,12,12,12,12, 12,24,12,12,12,12,12,12,12,24,12,12,
    12,12,12,12,12,12,12,36,12,36,12,12, 12,36,12,12,12,12,12,36,12,36,12,12,
    12,36,12,12,12,12,12,12,12,12,12,12,
};

/* Run the DFA over s[0:n] from *state.  Returns the index of the rejecting byte,
 * or -1 if none; *boundary gets the end of the last complete character. */
static Py_ssize_t
utf8_scan(const unsigned char *s, Py_ssize_t n, unsigned *state, Py_ssize_t *boundary)
{
    unsigned st = *state;
    Py_ssize_t i = 0;
    Py_ssize_t last = (st == UTF8_ACCEPT) ? 0 : -1;
    while (i < n) {
        if (st == UTF8_ACCEPT) {
            /* ASCII fast path: 8 bytes at a time. */
            while (i + 8 <= n) {
                uint64_t w;
                memcpy(&w, s + i, 8);
                if (w & UINT64_C(0x8080808080808080))
                    break;
                i += 8;
            }
            while (i < n && s[i] < 0x80)
                i++;
            last = i;
            if (i >= n)
                break;
        }
        st = utf8_trans[st + utf8_class[s[i]]];
        if (st == UTF8_REJECT) {
            *state = st;
            *boundary = last;
            return i;
        }
        i++;
        if (st == UTF8_ACCEPT)
            last = i;
    }
    *state = st;
    *boundary = last;
    return -1;
}

typedef struct {
    PyObject_HEAD
    unsigned state;          /* DFA state after the pending bytes */
    unsigned char pending[4];/* start of an incomplete character */
    int npending;
} Utf8DecoderObject;

static PyTypeObject Utf8DecoderType;

static int
Utf8Decoder_init(Utf8DecoderObject *self, PyObject *args, PyObject *kwds)
{
    if ((kwds != NULL && PyDict_GET_SIZE(kwds)) || PyTuple_GET_SIZE(args)) {
        PyErr_SetString(PyExc_TypeError, "Utf8Decoder() takes no arguments");
        return -1;
    }
    self->state = UTF8_ACCEPT;
    self->npending = 0;
    return 0;
}

static void
raise_decode_error(const unsigned char *s, Py_ssize_t n, Py_ssize_t start, Py_ssize_t end,
                   const char *reason)
{
    PyObject *exc = PyUnicodeDecodeError_Create("utf-8", (const char *)s, n, start, end, reason);
    if (exc != NULL) {
        PyErr_SetObject(PyExc_UnicodeDecodeError, exc);
        Py_DECREF(exc);
    }
}

/* Let CPython's decoder report an invalid (or, at the end, truncated) sequence in
 * s[0:n] with its usual message and positions; fall back to our own if it doesn't. */
static void
report_invalid(const unsigned char *s, Py_ssize_t n, Py_ssize_t bad, int final)
{
    Py_ssize_t consumed = 0;
    PyObject *r = PyUnicode_DecodeUTF8Stateful((const char *)s, n, "strict",
                                               final ? NULL : &consumed);
    if (r != NULL) {
        Py_DECREF(r);
        raise_decode_error(s, n, bad, bad + 1, "invalid continuation byte");
    }
}

static PyObject *
Utf8Decoder_decode(Utf8DecoderObject *self, PyObject *const *args, Py_ssize_t nargs,
                   PyObject *kwnames)
{
    static const char *const names[] = {"data", "final"};
    PyObject *data_obj = NULL, *final_obj = Py_False;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs < 1 || nargs + nkw > 2 || nargs > 2) {
        if (!(nargs == 0 && nkw >= 1)) {
            PyErr_SetString(PyExc_TypeError, "decode() takes data and an optional final flag");
            return NULL;
        }
    }
    if (nargs >= 1)
        data_obj = args[0];
    if (nargs == 2)
        final_obj = args[1];
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, k);
        if (PyUnicode_CompareWithASCIIString(name, names[1]) == 0 && nargs < 2)
            final_obj = args[nargs + k];
        else if (PyUnicode_CompareWithASCIIString(name, names[0]) == 0 && nargs < 1)
            data_obj = args[nargs + k];
        else {
            PyErr_Format(PyExc_TypeError, "decode() got an unexpected keyword argument '%U'",
                         name);
            return NULL;
        }
    }
    if (data_obj == NULL) {
        PyErr_SetString(PyExc_TypeError, "decode() missing required argument 'data'");
        return NULL;
    }
    int final = PyObject_IsTrue(final_obj);
    if (final < 0)
        return NULL;

    Py_buffer view;
    if (PyObject_GetBuffer(data_obj, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *s = (const unsigned char *)view.buf;
    Py_ssize_t n = view.len;
    PyObject *result = NULL;

    if (self->npending == 0) {
        unsigned st = UTF8_ACCEPT;
        Py_ssize_t boundary;
        Py_ssize_t bad = utf8_scan(s, n, &st, &boundary);
        if (bad >= 0 || (final && st != UTF8_ACCEPT)) {
            report_invalid(s, n, bad >= 0 ? bad : boundary, final);
            goto done;
        }
        if (boundary == n)
            result = PyUnicode_DecodeUTF8((const char *)s, n, "strict");
        else
            result = PyUnicode_DecodeUTF8((const char *)s, boundary, "strict");
        if (result == NULL)
            goto done;
        self->state = st;
        self->npending = (int)(n - boundary);
        memcpy(self->pending, s + boundary, (size_t)(n - boundary));
        goto done;
    }

    /* An incomplete character is pending: finish it, then the rest as above. */
    {
        int np = self->npending;
        Py_ssize_t total = np + n;
        unsigned char *joined = PyMem_Malloc((size_t)total ? (size_t)total : 1);
        if (joined == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        memcpy(joined, self->pending, (size_t)np);
        if (n)
            memcpy(joined + np, s, (size_t)n);
        unsigned st = self->state;
        Py_ssize_t boundary;
        Py_ssize_t bad = utf8_scan(joined + np, n, &st, &boundary);
        /* boundary is relative to joined + np; -1 means inside the pending char. */
        Py_ssize_t jboundary = boundary < 0 ? 0 : boundary + np;
        if (bad >= 0 || (final && st != UTF8_ACCEPT)) {
            report_invalid(joined, total, bad >= 0 ? bad + np : jboundary, final);
            PyMem_Free(joined);
            goto done;
        }
        result = PyUnicode_DecodeUTF8((const char *)joined, jboundary, "strict");
        if (result != NULL) {
            self->state = st;
            self->npending = (int)(total - jboundary);
            memcpy(self->pending, joined + jboundary, (size_t)self->npending);
        }
        PyMem_Free(joined);
    }

done:
    PyBuffer_Release(&view);
    return result;
}

static PyObject *
Utf8Decoder_copy(Utf8DecoderObject *self, PyObject *Py_UNUSED(ignored))
{
    Utf8DecoderObject *other = PyObject_New(Utf8DecoderObject, Py_TYPE(self));
    if (other == NULL)
        return NULL;
    other->state = self->state;
    other->npending = self->npending;
    memcpy(other->pending, self->pending, sizeof(self->pending));
    return (PyObject *)other;
}

static PyMethodDef Utf8Decoder_methods[] = {
    {"decode", (PyCFunction)(void (*)(void))Utf8Decoder_decode,
     METH_FASTCALL | METH_KEYWORDS,
     "decode(data, final=False) -> str: the text decoded so far; raises "
     "UnicodeDecodeError on the first invalid byte."},
    {"copy", (PyCFunction)Utf8Decoder_copy, METH_NOARGS,
     "A decoder in the same state (for checking bytes ahead without consuming them)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject Utf8DecoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tether._native._speedups.Utf8Decoder",
    .tp_basicsize = sizeof(Utf8DecoderObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Incremental strict UTF-8 decoder that fails as soon as a sequence is invalid.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Utf8Decoder_init,
    .tp_methods = Utf8Decoder_methods,
};

/* ------------------------------------------------------------------ module */

/* payload_buffer(n) -> (bytes, memoryview): a bytes object of n bytes, not yet
 * initialised, and a writable view of its storage, to read a large frame's payload
 * into (then unmask it in place): the bytes become the message without a copy.
 * The view holds no reference: the caller keeps the bytes alive while using it, and
 * shares the bytes only once it is filled. */
static PyObject *
payload_buffer(PyObject *self, PyObject *arg)
{
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "payload_buffer() size must not be negative");
        return NULL;
    }
    PyObject *b = PyBytes_FromStringAndSize(NULL, n);
    if (b == NULL)
        return NULL;
    PyObject *view = PyMemoryView_FromMemory(PyBytes_AS_STRING(b), n, PyBUF_WRITE);
    if (view == NULL) {
        Py_DECREF(b);
        return NULL;
    }
    PyObject *pair = PyTuple_Pack(2, b, view);
    Py_DECREF(b);
    Py_DECREF(view);
    return pair;
}

/* mask_inplace(buf, key, offset): XOR a writable buffer with the key, as bytes
 * starting at position `offset` of a masked payload (RFC 6455 section 5.3). */
static PyObject *
mask_inplace(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "mask_inplace() takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    Py_ssize_t offset = PyLong_AsSsize_t(args[2]);
    if (offset == -1 && PyErr_Occurred())
        return NULL;
    Py_buffer data;
    unsigned char key[4];
    if (PyObject_GetBuffer(args[0], &data, PyBUF_WRITABLE) < 0)
        return NULL;
    if (read_key(args[1], key) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    do_mask((unsigned char *)data.buf, (const unsigned char *)data.buf, (size_t)data.len,
            key, (unsigned)(offset & 3));
    PyBuffer_Release(&data);
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"payload_buffer", (PyCFunction)payload_buffer, METH_O,
     "payload_buffer(n) -> (bytes, memoryview): n bytes to fill through the view."},
    {"mask_inplace", (PyCFunction)(void (*)(void))mask_inplace, METH_FASTCALL,
     "mask_inplace(buf, key, offset): XOR buf with the key, from payload position offset."},
    {"apply_mask", (PyCFunction)(void (*)(void))apply_mask, METH_FASTCALL,
     "apply_mask(data, mask) -> bytes: XOR data with the 4-byte mask repeated."},
    {"build_frame", (PyCFunction)(void (*)(void))build_frame, METH_FASTCALL | METH_KEYWORDS,
     "build_frame(opcode, payload, fin=True, rsv=0, mask=None) -> bytes: one frame."},
    {"parse_frames", (PyCFunction)(void (*)(void))parse_frames, METH_FASTCALL,
     "parse_frames(buf, expect_mask, max_payload) -> (frames, used)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_speedups",
    "The compiled hot path: parse_frames, build_frame, apply_mask, Utf8Decoder, payload_buffer, mask_inplace.", -1, module_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    pick_mask_impl();
    PyObject *exceptions = PyImport_ImportModule("tether.exceptions");
    if (exceptions == NULL)
        return NULL;
    ProtocolError = PyObject_GetAttrString(exceptions, "ProtocolError");
    PayloadTooBig = PyObject_GetAttrString(exceptions, "PayloadTooBig");
    Py_DECREF(exceptions);
    if (ProtocolError == NULL || PayloadTooBig == NULL)
        return NULL;
    PyObject *struct_mod = PyImport_ImportModule("struct");
    if (struct_mod == NULL)
        return NULL;
    StructError = PyObject_GetAttrString(struct_mod, "error");
    Py_DECREF(struct_mod);
    if (StructError == NULL)
        return NULL;
    if (PyType_Ready(&Utf8DecoderType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL)
        return NULL;
    Py_INCREF(&Utf8DecoderType);
    if (PyModule_AddObject(m, "Utf8Decoder", (PyObject *)&Utf8DecoderType) < 0) {
        Py_DECREF(&Utf8DecoderType);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddStringConstant(m, "MASK_IMPLEMENTATION", mask_impl) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
