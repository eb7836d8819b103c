/* watcher.storymath in C: the story index's inner loops (see storymath.py, their definition).
 *
 * Every function returns what storymath.py returns for the same arguments, to the bit: the
 * float32 weights are rounded as array("f") rounds them, sums are taken in the same order as
 * Python's sum() takes them (with its compensation from Python 3.12 on), and ties are broken
 * the same way. tests/test_storymath.py compares the two.
 *
 * Built with -ffp-contract=off (setup.py): a fused multiply-add would round differently.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* --- Python's sum() of floats, started from 0.0 --- */

typedef struct {
    double sum;
    double comp; /* Neumaier's compensation (Python 3.12+) */
} Sum;

static inline void
sum_add(Sum *s, double x)
{
#if PY_VERSION_HEX >= 0x030C0000
    double t = s->sum + x;
    if (fabs(s->sum) >= fabs(x)) {
        s->comp += (s->sum - t) + x;
    }
    else {
        s->comp += (x - t) + s->sum;
    }
    s->sum = t;
#else
    s->sum += x;
#endif
}

static inline double
sum_result(const Sum *s)
{
#if PY_VERSION_HEX >= 0x030C0000
    if (s->comp != 0.0 && isfinite(s->comp)) {
        return s->sum + s->comp;
    }
#endif
    return s->sum;
}

/* An int argument as a Py_ssize_t, saturated (Python compares the int itself). */
static int
ssize_arg(PyObject *arg, Py_ssize_t *out)
{
    if (!PyLong_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "an int is required, not %.100s", Py_TYPE(arg)->tp_name);
        return -1;
    }
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(arg, &overflow);
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    *out = overflow > 0 ? PY_SSIZE_T_MAX
         : overflow < 0 ? PY_SSIZE_T_MIN
         : v > PY_SSIZE_T_MAX ? PY_SSIZE_T_MAX
         : v < PY_SSIZE_T_MIN ? PY_SSIZE_T_MIN : (Py_ssize_t)v;
    return 0;
}

/* --- dot --- */

/* A query's terms by address (score): the index's terms are interned strings, so a term of a
   candidate equal to a query term is the same object, and is found without reading it (at 10
   candidates of 50 terms per article, reading each term's hash from its string, scattered in
   memory, was most of score's time). Holds a reference to each term. */

#define QBITS 8
#define QSIZE (1 << QBITS)

typedef struct {
    PyObject *key; /* NULL: empty */
    double weight;
} QSlot;

typedef struct {
    QSlot slots[QSIZE];
} QTable;

static inline size_t
qtable_pos(const PyObject *key)
{
    return (size_t)((((uint64_t)(uintptr_t)key >> 4) * UINT64_C(0x9E3779B97F4A7C15)) >>
                    (64 - QBITS));
}

/* 1: `table` holds the query; 0: the query does not qualify (a subclass of dict, a key that is
   not an interned str, a weight that is not a float, or too many terms): look terms up in the
   dict instead. */
static int
qtable_fill(QTable *table, PyObject *query)
{
    if (!PyDict_CheckExact(query) || PyDict_GET_SIZE(query) > QSIZE / 2) {
        return 0;
    }
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(query, &pos, &key, &value)) {
        if (!PyUnicode_CheckExact(key) || !PyUnicode_CHECK_INTERNED(key) ||
            !PyFloat_CheckExact(value)) {
            return 0;
        }
    }
    memset(table->slots, 0, sizeof table->slots);
    pos = 0;
    while (PyDict_Next(query, &pos, &key, &value)) {
        size_t i = qtable_pos(key);
        while (table->slots[i].key != NULL) {
            i = (i + 1) & (QSIZE - 1);
        }
        Py_INCREF(key);
        table->slots[i].key = key;
        table->slots[i].weight = PyFloat_AS_DOUBLE(value);
    }
    return 1;
}

static void
qtable_release(QTable *table)
{
    for (size_t i = 0; i < QSIZE; i++) {
        Py_XDECREF(table->slots[i].key);
    }
}

/* The weight of `term` in the query, 0.0 when it has none. */
static inline double
qtable_get(const QTable *table, const PyObject *term)
{
    size_t i = qtable_pos(term);
    for (;;) {
        const QSlot *slot = &table->slots[i];
        if (slot->key == term) {
            return slot->weight;
        }
        if (slot->key == NULL) {
            return 0.0;
        }
        i = (i + 1) & (QSIZE - 1);
    }
}

/* The dot product of `query` (a dict; or `table`, its terms by address, when not NULL) with
   (terms, weights): *found is 0 when fewer than `need` terms are shared. Returns -1 with an
   exception set on error. */
static int
dot_impl(PyObject *query, const QTable *table, PyObject *terms, PyObject *weights,
         Py_ssize_t need, double *out, int *found)
{
    Py_buffer view;
    PyObject *seq = PySequence_Tuple(terms);
    if (seq == NULL) {
        return -1;
    }
    if (PyObject_GetBuffer(weights, &view, PyBUF_SIMPLE) < 0) {
        Py_DECREF(seq);
        return -1;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    int rc = -1;
    if (view.len != 4 * n) {
        PyErr_Format(PyExc_ValueError,
                     "a vector of %zd terms needs %zd bytes of weights, got %zd", n, 4 * n,
                     view.len);
        goto done;
    }
    PyObject **items = PySequence_Fast_ITEMS(seq);
    const char *raw = (const char *)view.buf;
    Sum acc = {0.0, 0.0};
    Py_ssize_t shared = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        double q;
        if (table != NULL) {
            q = qtable_get(table, items[i]);
        }
        else {
            PyObject *v = PyDict_GetItemWithError(query, items[i]);
            if (v == NULL) {
                if (PyErr_Occurred()) {
                    goto done;
                }
                continue;
            }
            q = PyFloat_CheckExact(v) ? PyFloat_AS_DOUBLE(v) : PyFloat_AsDouble(v);
            if (q == -1.0 && PyErr_Occurred()) {
                goto done;
            }
        }
        if (q == 0.0) {
            continue; /* not shared: 0.0 is falsy, and counted as a missing term */
        }
        float w;
        memcpy(&w, raw + 4 * i, 4);
        sum_add(&acc, (double)w * q);
        shared++;
    }
    *found = shared >= need;
    *out = sum_result(&acc);
    rc = 0;
done:
    PyBuffer_Release(&view);
    Py_DECREF(seq);
    return rc;
}

static PyObject *
storymath_dot(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "dot() takes 4 arguments (%zd given)", nargs);
        return NULL;
    }
    if (!PyDict_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "dot(): the query must be a dict");
        return NULL;
    }
    Py_ssize_t need;
    if (ssize_arg(args[3], &need) < 0) {
        return NULL;
    }
    double result;
    int found;
    if (dot_impl(args[0], NULL, args[1], args[2], need, &result, &found) < 0) {
        return NULL;
    }
    if (!found) {
        Py_RETURN_NONE;
    }
    return PyFloat_FromDouble(result);
}

/* --- score --- */

static PyObject *str_terms, *str_weights;

static PyObject *
storymath_score(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "score() takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *query = args[0];
    if (!PyDict_Check(query)) {
        PyErr_SetString(PyExc_TypeError, "score(): the query must be a dict");
        return NULL;
    }
    Py_ssize_t need;
    if (ssize_arg(args[2], &need) < 0) {
        return NULL;
    }
    PyObject *docs = PySequence_Tuple(args[1]);
    if (docs == NULL) {
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(docs);
    PyObject *out = PyList_New(n);
    if (out == NULL) {
        Py_DECREF(docs);
        return NULL;
    }
    QTable *table = NULL;
    QTable space;
    if (n > 0 && qtable_fill(&space, query)) {
        table = &space;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *d = PySequence_Fast_GET_ITEM(docs, i);
        PyObject *terms = PyObject_GetAttr(d, str_terms);
        if (terms == NULL) {
            goto fail;
        }
        PyObject *weights = PyObject_GetAttr(d, str_weights);
        if (weights == NULL) {
            Py_DECREF(terms);
            goto fail;
        }
        double result;
        int found;
        int rc = dot_impl(query, table, terms, weights, need, &result, &found);
        Py_DECREF(terms);
        Py_DECREF(weights);
        if (rc < 0) {
            goto fail;
        }
        if (!found || result == 0.0) {
            result = 0.0; /* (`dot(...) or 0.0`: None, 0.0 and -0.0 give 0.0) */
        }
        PyObject *pair = Py_BuildValue("(dO)", result, d);
        if (pair == NULL) {
            goto fail;
        }
        PyList_SET_ITEM(out, i, pair);
    }
    if (table != NULL) {
        qtable_release(table);
    }
    Py_DECREF(docs);
    return out;
fail:
    if (table != NULL) {
        qtable_release(table);
    }
    Py_DECREF(docs);
    Py_DECREF(out);
    return NULL;
}

/* --- candidates --- */

typedef struct {
    uint32_t key;
    uint32_t slot; /* 1 + the key's place in the arrival order; 0: empty */
} Bucket;

typedef struct {
    uint32_t key;
    Py_ssize_t count;
    Py_ssize_t order;
} Hit;

static int
by_count(const void *a, const void *b)
{
    const Hit *x = a, *y = b;
    if (x->count != y->count) {
        return x->count > y->count ? -1 : 1;
    }
    return x->order < y->order ? -1 : (x->order > y->order);
}

static int
by_key(const void *a, const void *b)
{
    uint32_t x = ((const Hit *)a)->key, y = ((const Hit *)b)->key;
    return x < y ? -1 : (x > y);
}

static PyObject *
storymath_candidates(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "candidates() takes 4 arguments (%zd given)", nargs);
        return NULL;
    }
    Py_ssize_t tail, budget, k;
    if (ssize_arg(args[1], &tail) < 0 || ssize_arg(args[2], &budget) < 0
        || ssize_arg(args[3], &k) < 0) {
        return NULL;
    }
    if (tail < 0 || k < 0) {
        PyErr_SetString(PyExc_ValueError, "candidates(): tail and k must not be negative");
        return NULL;
    }
    PyObject *lists = PySequence_Tuple(args[0]);
    if (lists == NULL) {
        return NULL;
    }
    Py_ssize_t nlists = PySequence_Fast_GET_SIZE(lists);
    Py_buffer *views = PyMem_Calloc(nlists ? nlists : 1, sizeof(Py_buffer));
    Py_ssize_t *starts = PyMem_Calloc(nlists ? nlists : 1, sizeof(Py_ssize_t));
    Py_ssize_t nviews = 0, total = 0;
    Hit *hits = NULL;
    Bucket *table = NULL;
    PyObject *out = NULL;
    if (views == NULL || starts == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    /* the values walked: from starts[i] to the end of each list walked */
    for (Py_ssize_t i = 0; i < nlists; i++) {
        Py_buffer *v = &views[i];
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(lists, i), v, PyBUF_SIMPLE) < 0) {
            goto done;
        }
        nviews++;
        if (v->len % 4) {
            PyErr_Format(PyExc_ValueError,
                         "a posting list holds 4-byte values, got %zd bytes", v->len);
            goto done;
        }
        Py_ssize_t count = v->len / 4;
        if (count > tail && tail > 0) {
            starts[i] = count - tail;
            total += tail;
            budget = budget < PY_SSIZE_T_MIN + tail ? PY_SSIZE_T_MIN : budget - tail;
        }
        else {
            starts[i] = 0;
            total += count;
            Py_ssize_t spent = count > tail ? 0 : count; /* tail 0: all of it, for no budget */
            budget = budget < PY_SSIZE_T_MIN + spent ? PY_SSIZE_T_MIN : budget - spent;
        }
        if (budget <= 0) {
            break;
        }
    }
    size_t cap = 16;
    while ((Py_ssize_t)cap < 2 * total) {
        cap <<= 1;
    }
    table = PyMem_Calloc(cap, sizeof(Bucket));
    hits = PyMem_Malloc((total ? total : 1) * sizeof(Hit));
    if (table == NULL || hits == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t nhits = 0;
    for (Py_ssize_t i = 0; i < nviews; i++) {
        const char *raw = (const char *)views[i].buf;
        Py_ssize_t count = views[i].len / 4;
        for (Py_ssize_t j = starts[i]; j < count; j++) {
            uint32_t key;
            memcpy(&key, raw + 4 * j, 4);
            size_t h = (size_t)(key * 2654435761u) & (cap - 1);
            while (table[h].slot && table[h].key != key) {
                h = (h + 1) & (cap - 1);
            }
            if (table[h].slot) {
                hits[table[h].slot - 1].count++;
            }
            else {
                table[h].key = key;
                table[h].slot = (uint32_t)(nhits + 1);
                hits[nhits].key = key;
                hits[nhits].count = 1;
                hits[nhits].order = nhits;
                nhits++;
            }
        }
    }
    if (nhits > k) {
        qsort(hits, (size_t)nhits, sizeof(Hit), by_count);
        nhits = k;
    }
    qsort(hits, (size_t)nhits, sizeof(Hit), by_key);
    out = PyList_New(nhits);
    if (out == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < nhits; i++) {
        PyObject *value = PyLong_FromUnsignedLong(hits[i].key);
        if (value == NULL) {
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, i, value);
    }
done:
    for (Py_ssize_t i = 0; i < nviews; i++) {
        PyBuffer_Release(&views[i]);
    }
    PyMem_Free(views);
    PyMem_Free(starts);
    PyMem_Free(table);
    PyMem_Free(hits);
    Py_DECREF(lists);
    return out;
}

/* --- weigh --- */

typedef struct {
    double weight;
    Py_ssize_t index;
} Weighted;

static int
by_weight(const void *a, const void *b)
{
    const Weighted *x = a, *y = b;
    if (x->weight != y->weight) {
        return x->weight > y->weight ? -1 : 1;
    }
    return x->index < y->index ? -1 : (x->index > y->index);
}

/* The vector of `n` terms whose weights (tf * idf) are in w[i].weight, w[i].index == i:
   times `entity` for a term in `proper`, the `max_terms` strongest (ties in the given order),
   L2-normalised, as ((terms...), float32 bytes). */
static PyObject *
weigh_core(PyObject *const *terms, Weighted *w, Py_ssize_t n, PyObject *proper, double entity,
           Py_ssize_t max_terms)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        int is_proper = PySequence_Contains(proper, terms[i]);
        if (is_proper < 0) {
            return NULL;
        }
        if (is_proper) {
            w[i].weight = w[i].weight * entity;
        }
        if (isnan(w[i].weight)) {
            PyErr_Format(PyExc_ValueError, "weigh(): the weight of term %R is not a number",
                         terms[i]);
            return NULL;
        }
    }
    qsort(w, (size_t)n, sizeof(Weighted), by_weight);
    Py_ssize_t keep = n < max_terms ? n : max_terms;
    PyObject *top_terms = PyTuple_New(keep);
    PyObject *packed = PyBytes_FromStringAndSize(NULL, 4 * keep);
    PyObject *out = NULL;
    if (top_terms == NULL || packed == NULL) {
        goto done;
    }
    Sum squares = {0.0, 0.0};
    for (Py_ssize_t i = 0; i < keep; i++) {
        sum_add(&squares, w[i].weight * w[i].weight);
    }
    double norm = sqrt(sum_result(&squares));
    if (norm == 0.0) {
        norm = 1.0;
    }
    char *raw = PyBytes_AS_STRING(packed);
    for (Py_ssize_t i = 0; i < keep; i++) {
        PyObject *term = terms[w[i].index];
        Py_INCREF(term);
        PyTuple_SET_ITEM(top_terms, i, term);
        float value = (float)(w[i].weight / norm);
        memcpy(raw + 4 * i, &value, 4);
    }
    out = PyTuple_Pack(2, top_terms, packed);
done:
    Py_XDECREF(top_terms);
    Py_XDECREF(packed);
    return out;
}

static int
max_terms_arg(PyObject *arg, Py_ssize_t *out)
{
    if (ssize_arg(arg, out) < 0) {
        return -1;
    }
    if (*out < 0) {
        PyErr_SetString(PyExc_ValueError, "max_terms must not be negative");
        return -1;
    }
    return 0;
}

static PyObject *
storymath_weigh(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_Format(PyExc_TypeError, "weigh() takes 6 arguments (%zd given)", nargs);
        return NULL;
    }
    double entity = PyFloat_AsDouble(args[4]);
    if (entity == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t max_terms;
    if (max_terms_arg(args[5], &max_terms) < 0) {
        return NULL;
    }
    PyObject *terms = PySequence_Tuple(args[0]);
    PyObject *idfs = terms ? PySequence_Tuple(args[1]) : NULL;
    PyObject *tfs = idfs ? PySequence_Tuple(args[2]) : NULL;
    PyObject *out = NULL;
    Weighted *w = NULL;
    if (tfs == NULL) {
        goto done;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(terms);
    if (PySequence_Fast_GET_SIZE(idfs) != n || PySequence_Fast_GET_SIZE(tfs) != n) {
        PyErr_Format(PyExc_ValueError,
                     "weigh needs as many idfs and tfs as terms, got %zd terms, %zd idfs and "
                     "%zd tfs", n, PySequence_Fast_GET_SIZE(idfs),
                     PySequence_Fast_GET_SIZE(tfs));
        goto done;
    }
    w = PyMem_Malloc((n ? n : 1) * sizeof(Weighted));
    if (w == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        double tf = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(tfs, i));
        if (tf == -1.0 && PyErr_Occurred()) {
            goto done;
        }
        double idf = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(idfs, i));
        if (idf == -1.0 && PyErr_Occurred()) {
            goto done;
        }
        w[i].weight = tf * idf;
        w[i].index = i;
    }
    out = weigh_core(PySequence_Fast_ITEMS(terms), w, n, args[3], entity, max_terms);
done:
    PyMem_Free(w);
    Py_XDECREF(terms);
    Py_XDECREF(idfs);
    Py_XDECREF(tfs);
    return out;
}

/* --- vector --- */

static PyObject *one;

static PyObject *
storymath_vector(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 7) {
        PyErr_Format(PyExc_TypeError, "vector() takes 7 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *counts = args[0], *idf_cache = args[1], *df = args[2], *proper = args[4];
    if (!PyDict_Check(counts) || !PyDict_Check(idf_cache) || !PyDict_Check(df)) {
        PyErr_SetString(PyExc_TypeError, "vector(): counts, idf_cache and df must be dicts");
        return NULL;
    }
    if (idf_cache == df) {
        PyErr_SetString(PyExc_ValueError,
                        "vector(): the idf cache and the document frequencies must be two dicts");
        return NULL;
    }
    double scale = PyFloat_AsDouble(args[3]);
    if (scale == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    double entity = PyFloat_AsDouble(args[5]);
    if (entity == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t max_terms;
    if (max_terms_arg(args[6], &max_terms) < 0) {
        return NULL;
    }
    Py_ssize_t n = PyDict_GET_SIZE(counts);
    PyObject **terms = PyMem_Malloc((n ? n : 1) * sizeof(PyObject *));
    Weighted *w = PyMem_Malloc((n ? n : 1) * sizeof(Weighted));
    PyObject *out = NULL, **cached = NULL, **seen = NULL; /* (references, or NULL) */
    Py_ssize_t held = 0; /* terms[0:held] hold a reference */
    if (terms == NULL || w == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t pos = 0;
    PyObject *term, *count;
    /* the terms and their counts, checked before anything is changed */
    while (held < n && PyDict_Next(counts, &pos, &term, &count)) {
        Py_INCREF(term); /* (the dicts below may run Python code: __eq__ of a key) */
        terms[held++] = term;
        double c = PyFloat_AsDouble(count);
        if (c == -1.0 && PyErr_Occurred()) {
            goto done;
        }
        if (!isfinite(c)) {
            PyErr_Format(PyExc_ValueError,
                         "vector(): the count of term %R is not a finite number", term);
            goto done;
        }
        w[held - 1].weight = c > 1.0 ? 1.0 + log(c) : c; /* tf, for now */
    }
    if (held != n || PyDict_GET_SIZE(counts) != n) {
        PyErr_SetString(PyExc_RuntimeError, "vector(): counts changed size during iteration");
        goto done;
    }
    /* the terms as interned strings: those kept (the index's, score's) are found by identity,
       and the dicts below find them by identity too (supplied counts may hold copies, e.g.
       unpickled from a parse worker) */
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyUnicode_CheckExact(terms[i])) {
            PyErr_Format(PyExc_TypeError, "vector(): a term must be a str, got %R", terms[i]);
            goto done;
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyUnicode_InternInPlace(&terms[i]);
    }
    /* `proper` answers `in` (weigh_core asks it of every term): a wrong type fails here, before
       the dicts change */
    if (n > 0 && PySequence_Contains(proper, terms[0]) < 0) {
        goto done;
    }
    /* The idf cache and the document frequencies are large dicts: each lookup is a cache miss
       or two. Looked up in passes of lookups alone, the misses of different terms overlap.
       (The terms are distinct: a term's idf does not depend on another's count.) */
    cached = PyMem_Calloc((size_t)(n ? n : 1), sizeof(PyObject *));
    seen = PyMem_Calloc((size_t)(n ? n : 1), sizeof(PyObject *));
    if (cached == NULL || seen == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        cached[i] = PyDict_GetItemWithError(idf_cache, terms[i]);
        if (cached[i] == NULL && PyErr_Occurred()) {
            goto done;
        }
        Py_XINCREF(cached[i]);
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        seen[i] = PyDict_GetItemWithError(df, terms[i]);
        if (seen[i] == NULL && PyErr_Occurred()) {
            goto done;
        }
        Py_XINCREF(seen[i]);
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        term = terms[i];
        double idf;
        if (cached[i] != NULL) {
            idf = PyFloat_AsDouble(cached[i]);
            if (idf == -1.0 && PyErr_Occurred()) {
                goto done;
            }
        }
        else {
            double f = 0.0;
            if (seen[i] != NULL) {
                f = PyFloat_AsDouble(seen[i]);
                if (f == -1.0 && PyErr_Occurred()) {
                    goto done;
                }
            }
            if (f + 1.0 == 0.0) {
                PyErr_SetString(PyExc_ZeroDivisionError, "float division by zero");
                goto done;
            }
            double ratio = scale / (f + 1.0);
            if (ratio <= 0.0) {
                PyErr_SetString(PyExc_ValueError, "math domain error");
                goto done;
            }
            idf = log(ratio) + 0.1;
            PyObject *value = PyFloat_FromDouble(idf);
            if (value == NULL || PyDict_SetItem(idf_cache, term, value) < 0) {
                Py_XDECREF(value);
                goto done;
            }
            Py_DECREF(value);
        }
        /* df[term] = df.get(term, 0) + 1 */
        PyObject *counted = seen[i] ? PyNumber_Add(seen[i], one) : (Py_INCREF(one), one);
        if (counted == NULL || PyDict_SetItem(df, term, counted) < 0) {
            Py_XDECREF(counted);
            goto done;
        }
        Py_DECREF(counted);
        w[i].weight = w[i].weight * idf;
        w[i].index = i;
    }
    out = weigh_core(terms, w, n, proper, entity, max_terms);
done:
    for (Py_ssize_t i = 0; i < held; i++) {
        Py_DECREF(terms[i]);
        if (cached != NULL) {
            Py_XDECREF(cached[i]);
        }
        if (seen != NULL) {
            Py_XDECREF(seen[i]);
        }
    }
    PyMem_Free(cached);
    PyMem_Free(seen);
    PyMem_Free(terms);
    PyMem_Free(w);
    return out;
}

/* --- shingles --- */

/* Python's hash of a tuple of three objects whose hashes are a, b, c (CPython's tuplehash,
   xxHash-based since 3.8); checked against Python's own at import (tuple_hash_ok), the slow
   way (a real tuple) used otherwise. */
#if SIZEOF_VOID_P > 4
#define XXPRIME_1 ((Py_uhash_t)11400714785074694791ULL)
#define XXPRIME_2 ((Py_uhash_t)14029467366897019727ULL)
#define XXPRIME_5 ((Py_uhash_t)2870177450012600261ULL)
#define XXROTATE(x) ((x << 31) | (x >> 33))
#else
#define XXPRIME_1 ((Py_uhash_t)2654435761UL)
#define XXPRIME_2 ((Py_uhash_t)2246822519UL)
#define XXPRIME_5 ((Py_uhash_t)374761393UL)
#define XXROTATE(x) ((x << 13) | (x >> 19))
#endif

static int tuple_hash_ok;

static inline Py_uhash_t
triple_hash(Py_uhash_t a, Py_uhash_t b, Py_uhash_t c)
{
    Py_uhash_t acc = XXPRIME_5;
    Py_uhash_t lanes[3] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        acc += lanes[i] * XXPRIME_2;
        acc = XXROTATE(acc);
        acc *= XXPRIME_1;
    }
    acc += 3 ^ (XXPRIME_5 ^ 3527539UL);
    if (acc == (Py_uhash_t)-1) {
        return 1546275796;
    }
    return acc;
}

static int
check_tuple_hash(void)
{
    static const long probes[][3] = {{0, 0, 0}, {1, 2, 3}, {4000000000L, 7, 255},
                                     {-1, -2, 123456789}};
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        PyObject *t = Py_BuildValue("(lll)", probes[i][0], probes[i][1], probes[i][2]);
        if (t == NULL) {
            return -1;
        }
        Py_uhash_t lanes[3];
        for (int j = 0; j < 3; j++) {
            lanes[j] = (Py_uhash_t)PyObject_Hash(PyTuple_GET_ITEM(t, j));
        }
        Py_hash_t want = PyObject_Hash(t);
        Py_DECREF(t);
        if (want == -1 && PyErr_Occurred()) {
            return -1;
        }
        if ((Py_hash_t)triple_hash(lanes[0], lanes[1], lanes[2]) != want) {
            tuple_hash_ok = 0;
            return 0;
        }
    }
    tuple_hash_ok = 1;
    return 0;
}

static PyObject *
storymath_shingles(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "shingles() takes 2 arguments (%zd given)", nargs);
        return NULL;
    }
    Py_buffer ids, lows;
    if (PyObject_GetBuffer(args[0], &ids, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &lows, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&ids);
        return NULL;
    }
    PyObject *out = NULL, *set = NULL, *it = NULL, *packed = NULL;
    Py_ssize_t len = lows.len;
    const unsigned char *low = (const unsigned char *)lows.buf;
    uint32_t *words = NULL;
    if (ids.len != 4 * len) {
        PyErr_Format(PyExc_ValueError,
                     "shingles needs one low byte per 4-byte id, got %zd bytes of ids and %zd "
                     "low bytes", ids.len, len);
        goto done;
    }
    words = PyMem_Malloc((len ? len : 1) * sizeof(uint32_t));
    if (words == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    memcpy(words, ids.buf, 4 * len);
    set = PySet_New(NULL);
    if (set == NULL) {
        goto done;
    }
    Py_ssize_t n = len - 2;
    long m = 1;
    if (n < 1) {
        for (Py_ssize_t i = 0; i < len; i++) {
            PyObject *value = PyLong_FromUnsignedLong(words[i]);
            if (value == NULL || PySet_Add(set, value) < 0) {
                Py_XDECREF(value);
                goto done;
            }
            Py_DECREF(value);
        }
    }
    else {
        while (n / (2 * m) >= 64 && m < 0xFF) { /* SHINGLE_SAMPLE_MIN; at most 256 */
            m *= 2;
        }
        /* (Python's hash of an int below 2**61 - 1 is the int) */
        for (Py_ssize_t i = 0; i < n; i++) {
            if (low[i] & (m - 1)) {
                continue;
            }
            Py_uhash_t h;
            if (tuple_hash_ok) {
                h = triple_hash(words[i], words[i + 1], words[i + 2]);
            }
            else {
                PyObject *t = Py_BuildValue("(kkk)", (unsigned long)words[i],
                                            (unsigned long)words[i + 1],
                                            (unsigned long)words[i + 2]);
                if (t == NULL) {
                    goto done;
                }
                h = (Py_uhash_t)PyObject_Hash(t);
                Py_DECREF(t);
                if (h == (Py_uhash_t)-1 && PyErr_Occurred()) {
                    goto done;
                }
            }
            PyObject *value = PyLong_FromUnsignedLong(
                (unsigned long)((h & 0xFFFFFF00u) | low[i]));
            if (value == NULL || PySet_Add(set, value) < 0) {
                Py_XDECREF(value);
                goto done;
            }
            Py_DECREF(value);
        }
    }
    /* as array("I", the set): in the set's order */
    packed = PyBytes_FromStringAndSize(NULL, 4 * PySet_GET_SIZE(set));
    it = packed ? PyObject_GetIter(set) : NULL;
    if (it == NULL) {
        goto done;
    }
    char *raw = PyBytes_AS_STRING(packed);
    PyObject *item;
    while ((item = PyIter_Next(it)) != NULL) {
        unsigned long v = PyLong_AsUnsignedLong(item);
        Py_DECREF(item);
        if (v == (unsigned long)-1 && PyErr_Occurred()) {
            goto done;
        }
        if (v > 0xFFFFFFFFUL) {
            PyErr_SetString(PyExc_OverflowError, "unsigned int is greater than maximum");
            goto done;
        }
        uint32_t v32 = (uint32_t)v;
        memcpy(raw, &v32, 4);
        raw += 4;
    }
    if (PyErr_Occurred()) {
        goto done;
    }
    out = Py_BuildValue("(lO)", m, packed);
done:
    Py_XDECREF(it);
    Py_XDECREF(packed);
    Py_XDECREF(set);
    PyMem_Free(words);
    PyBuffer_Release(&lows);
    PyBuffer_Release(&ids);
    return out;
}

/* The token cache: a table of 64-byte slots, each a token (up to KEY_MAX bytes, in the slot)
   and its Info. A lookup reads one slot, where a dict of bytes -> tuple read the dict's entry,
   the key, the tuple and the id's int: at 300,000 tokens, each of those a cache miss. Longer
   tokens are analysed each time. */

#define KEY_MAX 38

typedef struct {
    uint64_t hash; /* 0: an empty slot */
    PyObject *term;
    uint32_t id;
    unsigned char low, flags, len;
    char key[KEY_MAX];
} Slot;

_Static_assert(sizeof(Slot) == 64, "a slot is one cache line");

typedef struct {
    PyObject_HEAD
    Slot *slots;
    size_t cap; /* a power of two; 0 before the first token */
    Py_ssize_t used, max_entries;
} TokenCache;

static PyTypeObject TokenCache_Type;

static void
cache_free(TokenCache *self)
{
    /* detached first: a term's __del__ may use the cache */
    Slot *slots = self->slots;
    size_t cap = self->cap;
    self->slots = NULL;
    self->cap = 0;
    self->used = 0;
    for (size_t i = 0; i < cap; i++) {
        Py_XDECREF(slots[i].term);
    }
    PyMem_Free(slots);
}

static PyObject *
cache_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    Py_ssize_t max_entries;
    static char *names[] = {"max_entries", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "n:TokenCache", names, &max_entries)) {
        return NULL;
    }
    if (max_entries < 1) {
        PyErr_SetString(PyExc_ValueError, "a TokenCache holds at least 1 entry");
        return NULL;
    }
    TokenCache *self = (TokenCache *)type->tp_alloc(type, 0);
    if (self != NULL) {
        self->max_entries = max_entries;
    }
    return (PyObject *)self;
}

static void
cache_dealloc(TokenCache *self)
{
    cache_free(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static Py_ssize_t
cache_len(TokenCache *self)
{
    return self->used;
}

static PyObject *
cache_clear(TokenCache *self, PyObject *unused)
{
    cache_free(self);
    Py_RETURN_NONE;
}

static inline uint64_t
key_hash(const unsigned char *key, Py_ssize_t len)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a */
    for (Py_ssize_t i = 0; i < len; i++) {
        h = (h ^ key[i]) * 1099511628211ULL;
    }
    return h ? h : 1;
}

static Slot *
cache_find(TokenCache *self, uint64_t hash, const unsigned char *key, Py_ssize_t len)
{
    if (self->cap == 0) {
        return NULL;
    }
    size_t mask = self->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        Slot *slot = &self->slots[i];
        if (slot->hash == 0) {
            return NULL;
        }
        if (slot->hash == hash && slot->len == len && memcmp(slot->key, key, len) == 0) {
            return slot;
        }
    }
}

static int
cache_grow(TokenCache *self)
{
    size_t cap = self->cap ? 2 * self->cap : 1024;
    Slot *slots = PyMem_Calloc(cap, sizeof(Slot));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < self->cap; i++) {
        Slot *old = &self->slots[i];
        if (old->hash) {
            size_t j = old->hash & (cap - 1);
            while (slots[j].hash) {
                j = (j + 1) & (cap - 1);
            }
            slots[j] = *old;
        }
    }
    PyMem_Free(self->slots);
    self->slots = slots;
    self->cap = cap;
    return 0;
}

/* Remember a token's Info (forgetting every token first when full). */
static int
cache_put(TokenCache *self, uint64_t hash, const unsigned char *key, Py_ssize_t len,
          PyObject *term, uint32_t id, unsigned char low, unsigned char flags)
{
    if (self->used >= self->max_entries) {
        cache_free(self);
    }
    if ((size_t)(self->used + 1) * 5 > self->cap * 3 && cache_grow(self) < 0) { /* load 0.6 */
        return -1;
    }
    size_t mask = self->cap - 1, i = hash & mask;
    while (self->slots[i].hash) {
        i = (i + 1) & mask;
    }
    Slot *slot = &self->slots[i];
    slot->hash = hash;
    Py_INCREF(term);
    slot->term = term;
    slot->id = id;
    slot->low = low;
    slot->flags = flags;
    slot->len = (unsigned char)len;
    memcpy(slot->key, key, len);
    self->used++;
    return 0;
}

static PyMethodDef cache_methods[] = {
    {"clear", (PyCFunction)cache_clear, METH_NOARGS, "Forget every token."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods cache_as_sequence = {
    .sq_length = (lenfunc)cache_len,
};

static PyTypeObject TokenCache_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "watcher.storymath.TokenCache",
    .tp_doc = "The Info of tokens seen (by tokens()): at most max_entries, all forgotten when "
              "full (see storymath.py).",
    .tp_basicsize = sizeof(TokenCache),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = cache_new,
    .tp_dealloc = (destructor)cache_dealloc,
    .tp_methods = cache_methods,
    .tp_as_sequence = &cache_as_sequence,
};

/* --- tokens --- */

typedef struct {
    char *data;
    Py_ssize_t len, cap;
} Buf;

static int
buf_put(Buf *b, const void *item, Py_ssize_t size)
{
    if (b->len + size > b->cap) {
        Py_ssize_t cap = b->cap ? 2 * b->cap : 1024;
        while (cap < b->len + size) {
            cap *= 2;
        }
        char *data = PyMem_Realloc(b->data, cap);
        if (data == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, item, size);
    b->len += size;
    return 0;
}

typedef struct {
    PyObject *terms;
    Buf ids, lows, flags;
} Tokens;

static int
put_token(Tokens *out, PyObject *term, uint32_t id, unsigned char low, unsigned char flags)
{
    if (PyList_Append(out->terms, term) < 0 || buf_put(&out->ids, &id, 4) < 0
        || buf_put(&out->lows, &low, 1) < 0 || buf_put(&out->flags, &flags, 1) < 0) {
        return -1;
    }
    return 0;
}

/* analyse(token) for a token not remembered: its Info checked, put out, and remembered
   (when short enough). */
static int
analyse_token(TokenCache *cache, PyObject *analyse, const unsigned char *key, Py_ssize_t len,
              uint64_t hash, Tokens *out)
{
    PyObject *token = PyBytes_FromStringAndSize((const char *)key, len);
    if (token == NULL) {
        return -1;
    }
    PyObject *info = PyObject_CallOneArg(analyse, token);
    Py_DECREF(token);
    if (info == NULL) {
        return -1;
    }
    int rc = -1;
    if (!PyTuple_Check(info) || PyTuple_GET_SIZE(info) != 4
        || !PyUnicode_Check(PyTuple_GET_ITEM(info, 0))) {
        PyErr_SetString(PyExc_TypeError,
                        "tokens(): analyse must return a (str, int, int, int) tuple");
        goto done;
    }
    unsigned long id = PyLong_AsUnsignedLong(PyTuple_GET_ITEM(info, 1));
    if (id == (unsigned long)-1 && PyErr_Occurred()) {
        goto done;
    }
    if (id > 0xFFFFFFFFUL) {
        PyErr_SetString(PyExc_OverflowError, "unsigned int is greater than maximum");
        goto done;
    }
    long low = PyLong_AsLong(PyTuple_GET_ITEM(info, 2));
    long flags = low == -1 && PyErr_Occurred() ? -1 : PyLong_AsLong(PyTuple_GET_ITEM(info, 3));
    if (flags == -1 && PyErr_Occurred()) {
        goto done;
    }
    if (low < 0 || low > 255 || flags < 0 || flags > 255) {
        PyErr_SetString(PyExc_ValueError, "bytes must be in range(0, 256)");
        goto done;
    }
    PyObject *term = PyTuple_GET_ITEM(info, 0);
    if (put_token(out, term, (uint32_t)id, (unsigned char)low, (unsigned char)flags) < 0) {
        goto done;
    }
    if (len <= KEY_MAX && cache_find(cache, hash, key, len) == NULL
        && cache_put(cache, hash, key, len, term, (uint32_t)id, (unsigned char)low,
                     (unsigned char)flags) < 0) {
        goto done;
    }
    rc = 0;
done:
    Py_DECREF(info);
    return rc;
}

typedef struct {
    Py_ssize_t start, len;
    uint64_t hash; /* 0: a token too long for the cache */
} Span;

static PyObject *
storymath_tokens(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "tokens() takes 4 arguments (%zd given)", nargs);
        return NULL;
    }
    if (!PyObject_TypeCheck(args[2], &TokenCache_Type)) {
        PyErr_SetString(PyExc_TypeError, "tokens(): the cache must be a storymath.TokenCache");
        return NULL;
    }
    TokenCache *cache = (TokenCache *)args[2];
    PyObject *analyse = args[3];
    Py_buffer table;
    if (PyObject_GetBuffer(args[1], &table, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    PyObject *lines = NULL, *lengths = NULL, *result = NULL;
    Tokens out = {NULL, {0}, {0}, {0}};
    Buf line_buf = {0};
    Span *spans = NULL;
    Py_ssize_t spans_cap = 0;
    if (table.len != 256) {
        PyErr_SetString(PyExc_ValueError, "translation table must be 256 characters long");
        goto done;
    }
    const unsigned char *map = (const unsigned char *)table.buf;
    lines = PySequence_Tuple(args[0]);
    if (lines == NULL) {
        goto done;
    }
    Py_ssize_t nlines = PySequence_Fast_GET_SIZE(lines);
    out.terms = PyList_New(0);
    lengths = PyList_New(nlines);
    if (out.terms == NULL || lengths == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < nlines; i++) {
        PyObject *line = PySequence_Fast_GET_ITEM(lines, i);
        if (!PyUnicode_Check(line)) {
            PyErr_Format(PyExc_TypeError, "tokens(): a line must be a str, not %.100s",
                         Py_TYPE(line)->tp_name);
            goto done;
        }
        PyObject *encoded = NULL;
        const unsigned char *text;
        Py_ssize_t size;
        if (PyUnicode_IS_ASCII(line)) {
            text = PyUnicode_1BYTE_DATA(line);
            size = PyUnicode_GET_LENGTH(line);
        }
        else {
            encoded = PyUnicode_AsEncodedString(line, "utf-8", "replace");
            if (encoded == NULL) {
                goto done;
            }
            text = (const unsigned char *)PyBytes_AS_STRING(encoded);
            size = PyBytes_GET_SIZE(encoded);
        }
        line_buf.len = 0;
        int failed = size && buf_put(&line_buf, text, size) < 0;
        Py_XDECREF(encoded);
        if (failed) {
            goto done;
        }
        unsigned char *mapped = (unsigned char *)line_buf.data;
        for (Py_ssize_t j = 0; j < size; j++) {
            mapped[j] = map[mapped[j]];
        }
        /* as bytes.split(): runs of bytes that are not ASCII whitespace; the line's tokens
           found first, and their slots fetched into the CPU's cache all at once (a slot is
           most often a miss: their waits overlap), then looked up */
        Py_ssize_t count = 0, j = 0;
        while (j < size) {
            while (j < size && Py_ISSPACE(mapped[j])) {
                j++;
            }
            if (j == size) {
                break;
            }
            Py_ssize_t start = j;
            while (j < size && !Py_ISSPACE(mapped[j])) {
                j++;
            }
            if (count == spans_cap) {
                Py_ssize_t cap = spans_cap ? 2 * spans_cap : 64;
                Span *grown = PyMem_Realloc(spans, (size_t)cap * sizeof(Span));
                if (grown == NULL) {
                    PyErr_NoMemory();
                    goto done;
                }
                spans = grown;
                spans_cap = cap;
            }
            Py_ssize_t len = j - start;
            uint64_t hash = len <= KEY_MAX ? key_hash(mapped + start, len) : 0;
            spans[count].start = start;
            spans[count].len = len;
            spans[count].hash = hash;
            if (hash && cache->cap) {
                __builtin_prefetch(&cache->slots[hash & (cache->cap - 1)]);
            }
            count++;
        }
        for (Py_ssize_t t = 0; t < count; t++) {
            const unsigned char *key = mapped + spans[t].start;
            Py_ssize_t len = spans[t].len;
            uint64_t hash = spans[t].hash;
            Slot *slot = len <= KEY_MAX ? cache_find(cache, hash, key, len) : NULL;
            if (slot != NULL) {
                if (put_token(&out, slot->term, slot->id, slot->low, slot->flags) < 0) {
                    goto done;
                }
            }
            else if (analyse_token(cache, analyse, key, len, hash, &out) < 0) {
                goto done;
            }
        }
        PyObject *n = PyLong_FromSsize_t(count);
        if (n == NULL) {
            goto done;
        }
        PyList_SET_ITEM(lengths, i, n);
    }
    result = Py_BuildValue("(Oy#y#y#O)", out.terms, out.ids.data ? out.ids.data : "",
                           out.ids.len, out.lows.data ? out.lows.data : "", out.lows.len,
                           out.flags.data ? out.flags.data : "", out.flags.len, lengths);
done:
    PyMem_Free(out.ids.data);
    PyMem_Free(out.lows.data);
    PyMem_Free(out.flags.data);
    PyMem_Free(line_buf.data);
    PyMem_Free(spans);
    Py_XDECREF(out.terms);
    Py_XDECREF(lengths);
    Py_XDECREF(lines);
    PyBuffer_Release(&table);
    return result;
}

/* --- count --- */

typedef struct {
    PyObject *key; /* NULL: empty; else a reference */
    Py_hash_t hash;
    Py_ssize_t part; /* the last part the key was counted in */
    Py_ssize_t n;    /* its count in that part */
    long long total; /* whole weights */
    double ftotal;   /* other weights */
} CSlot;

static PyObject *
storymath_count(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "count() takes 2 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *given = PySequence_Tuple(args[0]);
    if (given == NULL) {
        return NULL;
    }
    Py_ssize_t nparts = PyTuple_GET_SIZE(given);
    PyObject *parts = PyTuple_New(nparts); /* each part as a tuple, filled below */
    if (parts == NULL) {
        Py_DECREF(given);
        return NULL;
    }
    PyObject *weights = PySequence_Tuple(args[1]);
    if (weights == NULL) {
        Py_DECREF(given);
        Py_DECREF(parts);
        return NULL;
    }
    PyObject *out = NULL, *result = NULL;
    CSlot *slots = NULL;
    Py_ssize_t *order = NULL, *touched = NULL, size = 0, found = 0;
    double *ws = NULL;
    if (PyTuple_GET_SIZE(weights) != nparts) {
        PyErr_Format(PyExc_ValueError, "count(): %zd parts and %zd weights", nparts,
                     PyTuple_GET_SIZE(weights));
        goto done;
    }
    ws = PyMem_Malloc((nparts ? nparts : 1) * sizeof(double));
    if (ws == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    int whole = 1;
    Py_ssize_t items = 0;
    for (Py_ssize_t p = 0; p < nparts; p++) {
        ws[p] = PyFloat_AsDouble(PyTuple_GET_ITEM(weights, p));
        if (ws[p] == -1.0 && PyErr_Occurred()) {
            goto done;
        }
        whole = whole && ws[p] > 0.0 && ws[p] <= 8.0 && ws[p] == floor(ws[p]);
        /* each part as a tuple: a key's __eq__ cannot change it meanwhile */
        PyObject *part = PySequence_Tuple(PyTuple_GET_ITEM(given, p));
        if (part == NULL) {
            goto done;
        }
        items += PyTuple_GET_SIZE(part);
        PyTuple_SET_ITEM(parts, p, part);
    }
    size = 16;
    while (size < 2 * items) {
        size *= 2;
    }
    slots = PyMem_Calloc((size_t)size, sizeof(CSlot));
    order = PyMem_Malloc((size_t)(items ? items : 1) * sizeof(Py_ssize_t));
    touched = PyMem_Malloc((size_t)(items ? items : 1) * sizeof(Py_ssize_t));
    if (slots == NULL || order == NULL || touched == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t p = 0; p < nparts; p++) {
        PyObject *part = PyTuple_GET_ITEM(parts, p);
        Py_ssize_t nt = 0;
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(part); i++) {
            PyObject *key = PyTuple_GET_ITEM(part, i);
            Py_hash_t hash = PyObject_Hash(key);
            if (hash == -1) {
                goto done;
            }
            size_t at = (size_t)hash & (size_t)(size - 1);
            CSlot *slot;
            for (;;) {
                slot = &slots[at];
                if (slot->key == NULL) {
                    Py_INCREF(key);
                    slot->key = key;
                    slot->hash = hash;
                    slot->part = -1;
                    order[found++] = (Py_ssize_t)at;
                    break;
                }
                if (slot->key == key) {
                    break;
                }
                if (slot->hash == hash) {
                    int eq = PyObject_RichCompareBool(slot->key, key, Py_EQ);
                    if (eq < 0) {
                        goto done;
                    }
                    if (eq) {
                        break;
                    }
                }
                at = (at + 1) & (size_t)(size - 1);
            }
            if (slot->part != p) {
                slot->part = p;
                slot->n = 0;
                touched[nt++] = (Py_ssize_t)at;
            }
            slot->n++;
        }
        /* counts[term] = counts.get(term, 0.0) + n * w, in the order of first occurrence */
        for (Py_ssize_t i = 0; i < nt; i++) {
            CSlot *slot = &slots[touched[i]];
            if (whole) {
                slot->total += (long long)slot->n * (long long)ws[p];
            }
            else {
                slot->ftotal = slot->ftotal + (double)slot->n * ws[p];
            }
        }
    }
    out = PyDict_New();
    if (out == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < found; i++) {
        CSlot *slot = &slots[order[i]];
        if (PyUnicode_Check(slot->key) && PyUnicode_GET_LENGTH(slot->key) == 0) {
            continue; /* the "" term */
        }
        PyObject *value = whole ? PyLong_FromLongLong(slot->total)
                                : PyFloat_FromDouble(slot->ftotal);
        if (value == NULL || PyDict_SetItem(out, slot->key, value) < 0) {
            Py_XDECREF(value);
            goto done;
        }
        Py_DECREF(value);
    }
    result = out;
    out = NULL;
done:
    if (slots != NULL) {
        for (Py_ssize_t i = 0; i < found; i++) {
            Py_DECREF(slots[order[i]].key);
        }
    }
    PyMem_Free(slots);
    PyMem_Free(order);
    PyMem_Free(touched);
    PyMem_Free(ws);
    Py_XDECREF(out);
    Py_DECREF(given);
    Py_DECREF(parts); /* (a part not filled is NULL: tuples allow it) */
    Py_DECREF(weights);
    return result;
}

/* --- overlap --- */

static int
rate_arg(PyObject *arg, uint32_t *out)
{
    int overflow = 0;
    long long v = PyLong_Check(arg) ? PyLong_AsLongLongAndOverflow(arg, &overflow) : 0;
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (!PyLong_Check(arg) || overflow || v < 1 || v > 0xFFFFFFFFLL) {
        PyErr_Format(PyExc_ValueError,
                     "overlap(): a sample rate must be an int from 1 to 2**32 - 1, got %R", arg);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

/* the values of `raw` (n of them) kept at `rate` (all when `keep_all`), copied to `out`;
   returns how many */
static Py_ssize_t
thinned(const char *raw, Py_ssize_t n, uint32_t rate, int keep_all, uint32_t *out)
{
    Py_ssize_t m = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint32_t h;
        memcpy(&h, raw + 4 * i, 4);
        if (keep_all || !(h & (rate - 1))) {
            out[m++] = h;
        }
    }
    return m;
}

/* (a 32-bit mix: consecutive or evenly spaced values spread over the table) */
static inline uint32_t
mix32(uint32_t h)
{
    h ^= h >> 16;
    h *= UINT32_C(0x85EBCA6B);
    h ^= h >> 13;
    h *= UINT32_C(0xC2B2AE35);
    h ^= h >> 16;
    return h;
}

/* The distinct values of a (na of them) and how many of them b holds, by a hash table of a
   (value + 1; 0 empty; HIT once a value of b found it). Returns 1; 0 when the table took
   more probes than a few per value (values made to collide: the caller sorts instead); -1
   out of memory. (na below 2**28.) */
static int
overlap_hashed(const uint32_t *a, Py_ssize_t na, const uint32_t *b, Py_ssize_t nb,
               Py_ssize_t *distinct_out, Py_ssize_t *inter_out)
{
    size_t cap = 16;
    int bits = 4;
    while ((Py_ssize_t)cap < 2 * na) {
        cap *= 2;
        bits++;
    }
    uint64_t *table = PyMem_Calloc(cap, sizeof(uint64_t));
    if (table == NULL) {
        return -1;
    }
    const uint64_t HIT = UINT64_C(1) << 40;
    Py_ssize_t budget = 8 * (na + nb) + 64; /* probes past the first slot */
    Py_ssize_t distinct = 0, inter = 0;
    int rc = 1;
    for (Py_ssize_t i = 0; i < na && rc; i++) {
        size_t at = mix32(a[i]) >> (32 - bits);
        for (;; at = (at + 1) & (cap - 1)) {
            if (table[at] == 0) {
                table[at] = (uint64_t)a[i] + 1;
                distinct++;
                break;
            }
            if ((table[at] & ~HIT) == (uint64_t)a[i] + 1) {
                break;
            }
            if (--budget < 0) {
                rc = 0;
                break;
            }
        }
    }
    for (Py_ssize_t j = 0; j < nb && distinct && rc; j++) {
        size_t at = mix32(b[j]) >> (32 - bits);
        for (;; at = (at + 1) & (cap - 1)) {
            if (table[at] == 0) {
                break;
            }
            if ((table[at] & ~HIT) == (uint64_t)b[j] + 1) {
                if (!(table[at] & HIT)) {
                    table[at] |= HIT;
                    inter++;
                }
                break;
            }
            if (--budget < 0) {
                rc = 0;
                break;
            }
        }
    }
    PyMem_Free(table);
    *distinct_out = distinct;
    *inter_out = inter;
    return rc;
}

static int
by_u32(const void *x, const void *y)
{
    uint32_t u = *(const uint32_t *)x, v = *(const uint32_t *)y;
    return (u > v) - (u < v);
}

/* overlap_hashed's result by sorting a and b (in place) */
static void
overlap_sorted(uint32_t *a, Py_ssize_t na, uint32_t *b, Py_ssize_t nb, Py_ssize_t *distinct_out,
               Py_ssize_t *inter_out)
{
    qsort(a, (size_t)na, 4, by_u32);
    qsort(b, (size_t)nb, 4, by_u32);
    Py_ssize_t distinct = 0;
    for (Py_ssize_t i = 0; i < na; i++) {
        if (i == 0 || a[i] != a[i - 1]) {
            a[distinct++] = a[i];
        }
    }
    Py_ssize_t inter = 0, i = 0;
    for (Py_ssize_t j = 0; j < nb; j++) {
        if (j > 0 && b[j] == b[j - 1]) {
            continue;
        }
        while (i < distinct && a[i] < b[j]) {
            i++;
        }
        if (i < distinct && a[i] == b[j]) {
            inter++;
        }
    }
    *distinct_out = distinct;
    *inter_out = inter;
}

static PyObject *
storymath_overlap(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "overlap() takes 4 arguments (%zd given)", nargs);
        return NULL;
    }
    uint32_t ra, rb;
    if (rate_arg(args[0], &ra) < 0 || rate_arg(args[2], &rb) < 0) {
        return NULL;
    }
    Py_buffer va, vb;
    if (PyObject_GetBuffer(args[1], &va, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[3], &vb, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&va);
        return NULL;
    }
    PyObject *result = NULL;
    uint32_t *a = NULL, *b = NULL;
    if (va.len % 4 || vb.len % 4) {
        PyErr_Format(PyExc_ValueError, "overlap(): samples are 4-byte values, got %zd and %zd "
                     "bytes", va.len, vb.len);
        goto done;
    }
    a = PyMem_Malloc(va.len ? (size_t)va.len : 1);
    b = PyMem_Malloc(vb.len ? (size_t)vb.len : 1);
    if (a == NULL || b == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    /* the finer sample thinned to the coarser rate */
    Py_ssize_t na = thinned(va.buf, va.len / 4, rb, !(ra < rb), a);
    Py_ssize_t nb = thinned(vb.buf, vb.len / 4, ra, !(rb < ra), b);
    Py_ssize_t distinct, inter;
    int hashed = na <= (Py_ssize_t)1 << 28 ? overlap_hashed(a, na, b, nb, &distinct, &inter)
                                           : 0;
    if (hashed < 0) {
        PyErr_NoMemory();
        goto done;
    }
    if (hashed == 0) {
        overlap_sorted(a, na, b, nb, &distinct, &inter);
    }
    if (!distinct || !nb) {
        result = Py_BuildValue("(dd)", 0.0, 0.0);
    }
    else {
        double small = (double)(distinct < nb ? distinct : nb);
        result = Py_BuildValue("(dd)", (double)inter / (double)(distinct + nb - inter),
                               (double)inter / small);
    }
done:
    PyMem_Free(a);
    PyMem_Free(b);
    PyBuffer_Release(&va);
    PyBuffer_Release(&vb);
    return result;
}

/* --- candidates_of --- */

typedef struct {
    Py_ssize_t len, index;
    PyObject *list;
} Posted;

static int
by_len(const void *a, const void *b)
{
    const Posted *x = a, *y = b;
    if (x->len != y->len) {
        return x->len < y->len ? -1 : 1;
    }
    return (x->index > y->index) - (x->index < y->index);
}

static PyObject *
storymath_candidates_of(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_Format(PyExc_TypeError, "candidates_of() takes 5 arguments (%zd given)", nargs);
        return NULL;
    }
    if (!PyDict_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "candidates_of(): the postings must be a dict");
        return NULL;
    }
    PyObject *terms = PySequence_Tuple(args[1]);
    if (terms == NULL) {
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(terms), found = 0;
    Posted *posted = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(Posted));
    PyObject *lists = NULL, *out = NULL;
    if (posted == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *plist = PyDict_GetItemWithError(args[0], PyTuple_GET_ITEM(terms, i));
        if (plist == NULL) {
            if (PyErr_Occurred()) {
                goto done;
            }
            continue;
        }
        Py_INCREF(plist);
        int truth = PyObject_IsTrue(plist);
        Py_ssize_t len = truth > 0 ? PyObject_Size(plist) : 0;
        if (truth < 0 || len < 0) {
            Py_DECREF(plist);
            goto done;
        }
        if (!truth) {
            Py_DECREF(plist);
            continue;
        }
        posted[found].len = len;
        posted[found].index = i;
        posted[found].list = plist;
        found++;
    }
    qsort(posted, (size_t)found, sizeof(Posted), by_len);
    lists = PyTuple_New(found);
    if (lists == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < found; i++) {
        Py_INCREF(posted[i].list);
        PyTuple_SET_ITEM(lists, i, posted[i].list);
    }
    PyObject *call[4] = {lists, args[2], args[3], args[4]};
    out = storymath_candidates(module, call, 4);
done:
    for (Py_ssize_t i = 0; i < found; i++) {
        Py_DECREF(posted[i].list);
    }
    PyMem_Free(posted);
    Py_XDECREF(lists);
    Py_DECREF(terms);
    return out;
}

/* --- compact --- */

static PyObject *
storymath_compact(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "compact() takes 2 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *postings = args[0], *live = args[1];
    if (!PyDict_Check(postings) || !PyDict_Check(live)) {
        PyErr_SetString(PyExc_TypeError, "compact(): the postings and the live values must be "
                        "dicts");
        return NULL;
    }
    /* (the postings' items taken out first: a term's hash or __eq__ may run Python code) */
    PyObject *items = PyDict_Items(postings);
    if (items == NULL) {
        return NULL;
    }
    PyObject *fresh = NULL;
    uint64_t *bits = NULL;
    Buf kept = {0};
    /* the live values that a posting holds, as a bitmap: up to the largest posting */
    uint64_t top = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items); i++) {
        Py_buffer view;
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(PyList_GET_ITEM(items, i), 1), &view,
                               PyBUF_SIMPLE) < 0) {
            goto fail;
        }
        for (Py_ssize_t j = 0; j < view.len / 4; j++) {
            uint32_t serial;
            memcpy(&serial, (const char *)view.buf + 4 * j, 4);
            if ((uint64_t)serial + 1 > top) {
                top = (uint64_t)serial + 1;
            }
        }
        PyBuffer_Release(&view);
    }
    bits = PyMem_Calloc((size_t)(top / 64 + 1), sizeof(uint64_t));
    fresh = PyDict_New();
    if (bits == NULL || fresh == NULL) {
        if (bits == NULL) {
            PyErr_NoMemory();
        }
        goto fail;
    }
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(live, &pos, &key, &value)) {
        if (!PyLong_CheckExact(key)) {
            PyErr_SetString(PyExc_TypeError, "compact(): the live values must be ints");
            goto fail;
        }
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(key, &overflow);
        if (v == -1 && PyErr_Occurred()) {
            goto fail;
        }
        if (!overflow && v >= 0 && (uint64_t)v < top) {
            bits[(uint64_t)v / 64] |= UINT64_C(1) << ((uint64_t)v % 64);
        }
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items); i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        PyObject *term = PyTuple_GET_ITEM(item, 0);
        Py_buffer view;
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(item, 1), &view, PyBUF_SIMPLE) < 0) {
            goto fail;
        }
        if (view.len % 4) {
            PyErr_Format(PyExc_ValueError, "a posting list holds 4-byte values, got %zd bytes",
                         view.len);
            PyBuffer_Release(&view);
            goto fail;
        }
        kept.len = 0;
        int failed = 0;
        for (Py_ssize_t j = 0; j < view.len / 4 && !failed; j++) {
            uint32_t serial;
            memcpy(&serial, (const char *)view.buf + 4 * j, 4);
            if (serial < top && (bits[serial / 64] >> (serial % 64)) & 1) {
                failed = buf_put(&kept, &serial, 4) < 0;
            }
        }
        PyBuffer_Release(&view);
        if (failed) {
            goto fail;
        }
        if (kept.len == 0) {
            continue; /* a list left empty is left out */
        }
        PyObject *plist = PyByteArray_FromStringAndSize(kept.data, kept.len);
        int rc = plist == NULL ? -1 : PyDict_SetItem(fresh, term, plist);
        Py_XDECREF(plist);
        if (rc < 0) {
            goto fail;
        }
    }
    Py_DECREF(items);
    PyMem_Free(kept.data);
    PyMem_Free(bits);
    return fresh;
fail:
    Py_DECREF(items);
    PyMem_Free(kept.data);
    PyMem_Free(bits);
    Py_XDECREF(fresh);
    return NULL;
}

/* --- the module --- */

static PyMethodDef methods[] = {
    {"candidates_of", (PyCFunction)(void (*)(void))storymath_candidates_of, METH_FASTCALL,
     "candidates_of(postings, terms, tail, budget, k): see storymath.py"},
    {"compact", (PyCFunction)(void (*)(void))storymath_compact, METH_FASTCALL,
     "compact(postings, live): see storymath.py"},
    {"count", (PyCFunction)(void (*)(void))storymath_count, METH_FASTCALL,
     "count(parts, weights): see storymath.py"},
    {"dot", (PyCFunction)(void (*)(void))storymath_dot, METH_FASTCALL,
     "dot(query, terms, weights, need): see storymath.py"},
    {"overlap", (PyCFunction)(void (*)(void))storymath_overlap, METH_FASTCALL,
     "overlap(ra, a, rb, b): see storymath.py"},
    {"score", (PyCFunction)(void (*)(void))storymath_score, METH_FASTCALL,
     "score(query, docs, need): see storymath.py"},
    {"candidates", (PyCFunction)(void (*)(void))storymath_candidates, METH_FASTCALL,
     "candidates(lists, tail, budget, k): see storymath.py"},
    {"weigh", (PyCFunction)(void (*)(void))storymath_weigh, METH_FASTCALL,
     "weigh(terms, idfs, tfs, proper, entity, max_terms): see storymath.py"},
    {"shingles", (PyCFunction)(void (*)(void))storymath_shingles, METH_FASTCALL,
     "shingles(ids, lows): see storymath.py"},
    {"tokens", (PyCFunction)(void (*)(void))storymath_tokens, METH_FASTCALL,
     "tokens(lines, table, cache, analyse): see storymath.py"},
    {"vector", (PyCFunction)(void (*)(void))storymath_vector, METH_FASTCALL,
     "vector(counts, idf_cache, df, scale, proper, entity, max_terms): see storymath.py"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "watcher.storymath",
    "The story index's inner loops, in C (see storymath.py).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit_storymath(void)
{
    str_terms = PyUnicode_InternFromString("terms");
    str_weights = PyUnicode_InternFromString("weights");
    one = PyLong_FromLong(1);
    if (str_terms == NULL || str_weights == NULL || one == NULL) {
        return NULL;
    }
    if (check_tuple_hash() < 0) {
        return NULL;
    }
    if (PyType_Ready(&TokenCache_Type) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL) {
        return NULL;
    }
    Py_INCREF(&TokenCache_Type);
    if (PyModule_AddObject(m, "TokenCache", (PyObject *)&TokenCache_Type) < 0) {
        Py_DECREF(&TokenCache_Type);
        Py_DECREF(m);
        return NULL;
    }
    /* constants of storymath.py, for `from watcher.storymath import ...` alike */
    PyObject *tables = PyDict_New();
    if (tables == NULL || PyModule_AddObject(m, "SAMPLE_TABLES", tables) < 0) {
        Py_XDECREF(tables);
        Py_DECREF(m);
        return NULL;
    }
    for (int k = 0; k < 9; k++) {
        unsigned char table[256];
        for (int b = 0; b < 256; b++) {
            table[b] = (b & ((1 << k) - 1)) ? 0 : 1;
        }
        PyObject *key = PyLong_FromLong(1L << k);
        PyObject *value = PyBytes_FromStringAndSize((const char *)table, 256);
        int rc = (key && value) ? PyDict_SetItem(tables, key, value) : -1;
        Py_XDECREF(key);
        Py_XDECREF(value);
        if (rc < 0) {
            Py_DECREF(m);
            return NULL;
        }
    }
    if (PyModule_AddIntConstant(m, "SHINGLE_SAMPLE_MIN", 64) < 0
        || PyModule_AddIntConstant(m, "TUPLE_HASH_FAST", tuple_hash_ok) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
