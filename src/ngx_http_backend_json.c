
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <yajl/yajl_parse.h>
#include <math.h>

#include "ngx_http_backend_json.h"


typedef struct {
    u_char                           *elts;
    ngx_uint_t                        nelts;
    ngx_uint_t                        nalloc;
} ngx_http_backend_json_scratch_t;


typedef struct {
    ngx_pool_t                       *pool;
    ngx_http_backend_json_t          *root;
    ngx_http_backend_json_t         **stack;
    ngx_uint_t                       *base;     /* first child in values */
    ngx_uint_t                       *key_base; /* first key in keys */
    ngx_uint_t                        depth;
    ngx_uint_t                        max_depth;
    ngx_str_t                         key;

    /*
     * The children of the open containers, and the keys of the objects',
     * on the heap: a container's items are allocated once, at their exact
     * number, when it closes
     */
    ngx_http_backend_json_scratch_t   values;
    ngx_http_backend_json_scratch_t   keys;

    size_t                            used;     /* the tree and scratch */
    size_t                            max_size; /* 0: no limit */

    yajl_handle                       handle;
    size_t                            end;      /* past the root value */

    unsigned                          ended:1;  /* end is set */
    unsigned                          finishing:1;
    unsigned                          too_deep:1;
    unsigned                          too_big:1;
    unsigned                          nomem:1;
} ngx_http_backend_json_parser_t;


static ngx_int_t ngx_http_backend_json_use(ngx_http_backend_json_parser_t *p,
    size_t size);
static ngx_int_t ngx_http_backend_json_add(ngx_http_backend_json_parser_t *p,
    ngx_http_backend_json_t *value);
static void ngx_http_backend_json_root_end(
    ngx_http_backend_json_parser_t *p);
static ngx_int_t ngx_http_backend_json_push(ngx_http_backend_json_parser_t *p,
    ngx_http_backend_json_scratch_t *s, void *elt, size_t size);
static int ngx_http_backend_json_on_null(void *ctx);
static int ngx_http_backend_json_on_boolean(void *ctx, int value);
static int ngx_http_backend_json_on_number(void *ctx, const char *s,
    size_t len);
static int ngx_http_backend_json_on_string(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_backend_json_on_start_map(void *ctx);
static int ngx_http_backend_json_on_map_key(void *ctx,
    const unsigned char *s, size_t len);
static int ngx_http_backend_json_on_end(void *ctx);
static int ngx_http_backend_json_on_start_array(void *ctx);
static int ngx_http_backend_json_start(ngx_http_backend_json_parser_t *p,
    ngx_http_backend_json_type_e type, size_t size);


static void *ngx_http_backend_json_yajl_malloc(void *ctx, size_t size);
static void *ngx_http_backend_json_yajl_realloc(void *ctx, void *ptr,
    size_t size);
static void ngx_http_backend_json_yajl_free(void *ctx, void *ptr);


static yajl_callbacks  ngx_http_backend_json_callbacks = {
    ngx_http_backend_json_on_null,
    ngx_http_backend_json_on_boolean,
    NULL,
    NULL,
    ngx_http_backend_json_on_number,
    ngx_http_backend_json_on_string,
    ngx_http_backend_json_on_start_map,
    ngx_http_backend_json_on_map_key,
    ngx_http_backend_json_on_end,
    ngx_http_backend_json_on_start_array,
    ngx_http_backend_json_on_end
};


/*
 * yajl 2.1 decodes a lone surrogate escape into "?" and drops the next
 * character (\ud800x), or into CESU bytes no UTF-8 consumer takes
 * (\udc00), or pairs a high one with any escape that follows.  JavaScript
 * keeps lone surrogates, and what stores them (TextEncoder, Postgres)
 * writes U+FFFD in their place: so each unpaired \uD800-\uDFFF becomes
 * \uFFFD here, one UTF-16 code unit for another, before yajl sees it.  The
 * input is copied only when there is one.
 */

static ngx_int_t
ngx_http_backend_json_surrogates(ngx_pool_t *pool, u_char **data, size_t len)
{
    u_char      *p, *last, *copy;
    ngx_int_t    cp, low;

    p = *data;
    last = p + len;
    copy = NULL;

    for ( ;; ) {
        p = ngx_strlchr(p, last, '\\');
        if (p == NULL || last - p < 2) {
            return NGX_OK;
        }

        if (p[1] != 'u' || last - p < 6) {
            p += 2;
            continue;
        }

        cp = ngx_hextoi(p + 2, 4);

        if (cp < 0xd800 || cp > 0xdfff) {
            /* not a surrogate, or not hex: yajl's to judge */
            p += 6;
            continue;
        }

        if (cp <= 0xdbff && last - p >= 12 && p[6] == '\\' && p[7] == 'u') {
            low = ngx_hextoi(p + 8, 4);

            if (low >= 0xdc00 && low <= 0xdfff) {
                p += 12;
                continue;
            }
        }

        if (copy == NULL) {
            copy = ngx_pnalloc(pool, len);
            if (copy == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(copy, *data, len);
            p = copy + (p - *data);
            last = copy + len;
            *data = copy;
        }

        ngx_memcpy(p + 2, "FFFD", 4);
        p += 6;
    }
}


/*
 * yajl's memory from the pool: its handle, lexer and stacks are a few
 * hundred bytes a parse, and malloc() and free() cost more than parsing a
 * small input.  A block keeps its size before it, for realloc; free gives
 * back only what the pool allocated as large.
 */

static void *
ngx_http_backend_json_yajl_malloc(void *ctx, size_t size)
{
    size_t  *p;

    p = ngx_palloc(ctx, sizeof(size_t) + size);
    if (p == NULL) {
        return NULL;
    }

    *p = size;

    return p + 1;
}


static void *
ngx_http_backend_json_yajl_realloc(void *ctx, void *ptr, size_t size)
{
    void    *p;
    size_t   old;

    if (ptr == NULL) {
        return ngx_http_backend_json_yajl_malloc(ctx, size);
    }

    old = ((size_t *) ptr)[-1];

    if (size <= old) {
        return ptr;
    }

    p = ngx_http_backend_json_yajl_malloc(ctx, size);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, ptr, old);
    ngx_http_backend_json_yajl_free(ctx, ptr);

    return p;
}


static void
ngx_http_backend_json_yajl_free(void *ctx, void *ptr)
{
    if (ptr) {
        (void) ngx_pfree(ctx, (size_t *) ptr - 1);
    }
}


ngx_int_t
ngx_http_backend_json_parse(ngx_pool_t *pool, u_char *data, size_t len,
    ngx_uint_t max_depth, ngx_http_backend_json_t **json, ngx_str_t *err)
{
    ngx_http_backend_json_limits_t  limits;

    limits.max_depth = max_depth;
    limits.max_size = 0;

    return ngx_http_backend_json_parse_limited(pool, data, len, &limits, json,
                                               err);
}


ngx_int_t
ngx_http_backend_json_parse_limited(ngx_pool_t *pool, u_char *data,
    size_t len, ngx_http_backend_json_limits_t *limits,
    ngx_http_backend_json_t **json, ngx_str_t *err)
{
    size_t                           n;
    u_char                          *msg, *start, *last;
    ngx_int_t                        rc;
    yajl_handle                      h;
    yajl_status                      st;
    yajl_alloc_funcs                 af;
    ngx_http_backend_json_parser_t   p;

    ngx_memzero(&p, sizeof(ngx_http_backend_json_parser_t));

    p.pool = pool;
    p.max_depth = limits->max_depth ? limits->max_depth
                                    : NGX_HTTP_BACKEND_JSON_MAX_DEPTH;
    p.max_size = limits->max_size;

    p.stack = ngx_palloc(pool, p.max_depth
                               * sizeof(ngx_http_backend_json_t *));
    if (p.stack == NULL) {
        return NGX_ERROR;
    }

    p.base = ngx_palloc(pool, 2 * p.max_depth * sizeof(ngx_uint_t));
    if (p.base == NULL) {
        return NGX_ERROR;
    }

    p.key_base = p.base + p.max_depth;

    if (ngx_http_backend_json_surrogates(pool, &data, len) != NGX_OK) {
        return NGX_ERROR;
    }

    af.malloc = ngx_http_backend_json_yajl_malloc;
    af.realloc = ngx_http_backend_json_yajl_realloc;
    af.free = ngx_http_backend_json_yajl_free;
    af.ctx = pool;

    h = yajl_alloc(&ngx_http_backend_json_callbacks, &af, &p);
    if (h == NULL) {
        return NGX_ERROR;
    }

    p.handle = h;

    st = yajl_parse(h, data, len);
    if (st == yajl_status_ok) {
        p.finishing = 1;
        st = yajl_complete_parse(h);
    }

    if (st == yajl_status_ok && p.root != NULL) {

        /*
         * yajl 2.1 takes a value followed by an unterminated string ([4]"
         * or 4") as complete: it waits for the string's end and then
         * forgets it.  Only white space may follow the root value.
         */

        for (n = p.ended ? p.end : len; n < len; n++) {
            if (data[n] != ' ' && data[n] != '\t' && data[n] != '\n'
                && data[n] != '\r')
            {
                break;
            }
        }

        if (n == len) {
            *json = p.root;
            rc = NGX_OK;
            goto done;
        }

        rc = NGX_DECLINED;

        err->data = ngx_pnalloc(pool, 64);
        if (err->data == NULL) {
            rc = NGX_ERROR;
            goto done;
        }

        err->len = ngx_sprintf(err->data, "Invalid JSON: trailing garbage "
                               "at %uz", n)
                   - err->data;
        goto done;
    }

    if (p.nomem) {
        rc = NGX_ERROR;
        goto done;
    }

    rc = NGX_DECLINED;

    if (p.too_deep || p.too_big) {
        err->data = ngx_pnalloc(pool, 80);
        if (err->data == NULL) {
            rc = NGX_ERROR;
            goto done;
        }

        if (p.too_deep) {
            err->len = ngx_sprintf(err->data,
                                   "JSON nested deeper than %ui levels",
                                   p.max_depth)
                       - err->data;

        } else {
            err->len = ngx_sprintf(err->data,
                                   "JSON too large: its tree would take "
                                   "over %uz bytes", p.max_size)
                       - err->data;
        }

        goto done;
    }

    /* yajl's message, without its "parse error: " prefix and the newline */

    msg = yajl_get_error(h, 0, data, len);
    n = yajl_get_bytes_consumed(h);

    err->data = ngx_pnalloc(pool, 128);
    if (err->data == NULL) {
        if (msg) {
            yajl_free_error(h, msg);
        }

        rc = NGX_ERROR;
        goto done;
    }

    if (msg) {
        start = msg;
        last = msg + ngx_strlen(msg);

        while (last > start && (last[-1] == '\n' || last[-1] == ' ')) {
            last--;
        }

        if ((size_t) (last - start) > 13
            && ngx_strncmp(start, "parse error: ", 13) == 0)
        {
            start += 13;
        }

        err->len = ngx_snprintf(err->data, 128, "Invalid JSON: %*s at %uz",
                                (size_t) (last - start), start, n)
                   - err->data;

        yajl_free_error(h, msg);

    } else {
        err->len = ngx_sprintf(err->data, "Invalid JSON") - err->data;
    }

done:

    yajl_free(h);

    if (p.values.elts) {
        ngx_free(p.values.elts);
    }

    if (p.keys.elts) {
        ngx_free(p.keys.elts);
    }

    return rc;
}


/* what the tree takes, against the limit */

static ngx_int_t
ngx_http_backend_json_use(ngx_http_backend_json_parser_t *p, size_t size)
{
    p->used += size;

    if (p->max_size && p->used > p->max_size) {
        p->too_big = 1;
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * Where the root value ends: yajl has consumed its last token when the
 * callback runs.  A value that ends only at yajl_complete_parse() (a
 * number at the very end) has nothing after it.
 */

static void
ngx_http_backend_json_root_end(ngx_http_backend_json_parser_t *p)
{
    if (!p->finishing) {
        p->end = yajl_get_bytes_consumed(p->handle);
        p->ended = 1;
    }
}


static ngx_int_t
ngx_http_backend_json_add(ngx_http_backend_json_parser_t *p,
    ngx_http_backend_json_t *value)
{
    ngx_int_t  rc;

    if (p->depth == 0) {
        p->root = value;

        if (value->type != NGX_HTTP_BACKEND_JSON_OBJECT
            && value->type != NGX_HTTP_BACKEND_JSON_ARRAY)
        {
            ngx_http_backend_json_root_end(p);
        }

        return NGX_OK;
    }

    if (p->stack[p->depth - 1]->type == NGX_HTTP_BACKEND_JSON_OBJECT) {
        rc = ngx_http_backend_json_push(p, &p->keys, &p->key,
                                        sizeof(ngx_str_t));
        if (rc != NGX_OK) {
            return rc;
        }
    }

    return ngx_http_backend_json_push(p, &p->values, &value,
                                      sizeof(ngx_http_backend_json_t *));
}


static ngx_int_t
ngx_http_backend_json_push(ngx_http_backend_json_parser_t *p,
    ngx_http_backend_json_scratch_t *s, void *elt, size_t size)
{
    u_char      *elts;
    ngx_uint_t   nalloc;

    if (s->nelts == s->nalloc) {
        nalloc = s->nalloc ? 2 * s->nalloc : 64;

        if (ngx_http_backend_json_use(p, (nalloc - s->nalloc) * size)
            != NGX_OK)
        {
            return NGX_DECLINED;
        }

        elts = ngx_alloc(nalloc * size, p->pool->log);
        if (elts == NULL) {
            return NGX_ERROR;
        }

        if (s->elts) {
            ngx_memcpy(elts, s->elts, s->nelts * size);
            ngx_free(s->elts);
        }

        s->elts = elts;
        s->nalloc = nalloc;
    }

    ngx_memcpy(s->elts + s->nelts++ * size, elt, size);

    return NGX_OK;
}


static ngx_http_backend_json_t *
ngx_http_backend_json_value(ngx_http_backend_json_parser_t *p,
    ngx_http_backend_json_type_e type)
{
    ngx_int_t                 rc;
    ngx_http_backend_json_t  *v;


    if (ngx_http_backend_json_use(p, sizeof(ngx_http_backend_json_t))
        != NGX_OK)
    {
        return NULL;
    }

    v = ngx_http_backend_json_new(p->pool, type);
    if (v == NULL) {
        p->nomem = 1;
        return NULL;
    }

    rc = ngx_http_backend_json_add(p, v);

    if (rc != NGX_OK) {
        if (rc == NGX_ERROR) {
            p->nomem = 1;
        }

        return NULL;
    }

    return v;
}


static int
ngx_http_backend_json_on_null(void *ctx)
{
    return ngx_http_backend_json_value(ctx, NGX_HTTP_BACKEND_JSON_NULL)
           != NULL;
}


static int
ngx_http_backend_json_on_boolean(void *ctx, int value)
{
    return ngx_http_backend_json_value(ctx, value
                                            ? NGX_HTTP_BACKEND_JSON_TRUE
                                            : NGX_HTTP_BACKEND_JSON_FALSE)
           != NULL;
}


static int
ngx_http_backend_json_on_number(void *ctx, const char *s, size_t len)
{
    ngx_http_backend_json_parser_t *p = ctx;

    size_t                    i;
    uint64_t                  n;
    u_char                   *raw;
    ngx_http_backend_json_t  *v;

    raw = ngx_pnalloc(p->pool, len + 1);
    if (raw == NULL) {
        p->nomem = 1;
        return 0;
    }

    ngx_memcpy(raw, s, len);
    raw[len] = '\0';

    v = ngx_http_backend_json_value(p, NGX_HTTP_BACKEND_JSON_NUMBER);
    if (v == NULL) {
        return 0;
    }

    v->raw.data = raw;
    v->raw.len = len;
    v->integer = 1;

    /*
     * an integer of up to 15 digits (yajl checked the grammar) is exact
     * in a double: no strtod(), which costs ten times more
     */

    i = (raw[0] == '-');

    if (len - i <= 15) {
        n = 0;

        for ( /* void */ ; i < len; i++) {
            if (raw[i] < '0' || raw[i] > '9') {
                break;
            }

            n = n * 10 + (raw[i] - '0');
        }

        if (i == len) {
            v->number = (raw[0] == '-') ? - (double) n : (double) n;
            return 1;
        }
    }

    v->number = strtod((char *) raw, NULL);

    for (i = 0; i < len; i++) {
        if (raw[i] == '.' || raw[i] == 'e' || raw[i] == 'E') {
            v->integer = 0;
            break;
        }
    }

    /* 1.0 and 1e2 are integers for JSON Schema; 1e400 is not finite */
    if (!v->integer && isfinite(v->number) && v->number == floor(v->number))
    {
        v->integer = 1;
    }

    return 1;
}


static int
ngx_http_backend_json_on_string(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_backend_json_parser_t *p = ctx;

    ngx_http_backend_json_t  *v;

    v = ngx_http_backend_json_value(p, NGX_HTTP_BACKEND_JSON_STRING);
    if (v == NULL) {
        return 0;
    }

    v->string.len = len;
    v->string.data = ngx_pnalloc(p->pool, len + 1);
    if (v->string.data == NULL) {
        p->nomem = 1;
        return 0;
    }

    ngx_memcpy(v->string.data, s, len);
    v->string.data[len] = '\0';

    return 1;
}


static int
ngx_http_backend_json_start(ngx_http_backend_json_parser_t *p,
    ngx_http_backend_json_type_e type, size_t size)
{
    ngx_http_backend_json_t  *v;

    if (p->depth == p->max_depth) {
        p->too_deep = 1;
        return 0;
    }

    v = ngx_http_backend_json_value(p, type);
    if (v == NULL) {
        return 0;
    }

    /* the items are allocated when the container closes */
    v->items.size = size;
    v->items.pool = p->pool;

    p->base[p->depth] = p->values.nelts;
    p->key_base[p->depth] = p->keys.nelts;
    p->stack[p->depth++] = v;

    return 1;
}


static int
ngx_http_backend_json_on_start_map(void *ctx)
{
    return ngx_http_backend_json_start(ctx, NGX_HTTP_BACKEND_JSON_OBJECT,
                                      sizeof(ngx_http_backend_json_member_t));
}


static int
ngx_http_backend_json_on_start_array(void *ctx)
{
    return ngx_http_backend_json_start(ctx, NGX_HTTP_BACKEND_JSON_ARRAY,
                                       sizeof(ngx_http_backend_json_t *));
}


static int
ngx_http_backend_json_on_map_key(void *ctx, const unsigned char *s,
    size_t len)
{
    ngx_http_backend_json_parser_t *p = ctx;

    p->key.len = len;
    p->key.data = ngx_pnalloc(p->pool, len + 1);
    if (p->key.data == NULL) {
        p->nomem = 1;
        return 0;
    }

    ngx_memcpy(p->key.data, s, len);
    p->key.data[len] = '\0';

    return 1;
}


static int
ngx_http_backend_json_on_end(void *ctx)
{
    ngx_http_backend_json_parser_t *p = ctx;

    u_char                          *elts;
    ngx_str_t                       *key;
    ngx_uint_t                       i, n, nalloc;
    ngx_http_backend_json_t         *v, **value, **item;
    ngx_http_backend_json_member_t  *m;

    p->depth--;

    if (p->depth == 0) {
        ngx_http_backend_json_root_end(p);
    }

    v = p->stack[p->depth];
    n = p->values.nelts - p->base[p->depth];

    /* before any value, as in {} alone, values.elts (keys.elts) is NULL */
    value = n ? (ngx_http_backend_json_t **) p->values.elts
                + p->base[p->depth]
              : NULL;

    /* room for one at least: ngx_array_push() cannot grow an empty array */
    nalloc = n ? n : 1;

    if (ngx_http_backend_json_use(p, nalloc * v->items.size) != NGX_OK) {
        return 0;
    }

    elts = ngx_palloc(p->pool, nalloc * v->items.size);
    if (elts == NULL) {
        p->nomem = 1;
        return 0;
    }

    if (v->type == NGX_HTTP_BACKEND_JSON_OBJECT) {
        m = (ngx_http_backend_json_member_t *) elts;
        key = n ? (ngx_str_t *) p->keys.elts + p->key_base[p->depth] : NULL;

        for (i = 0; i < n; i++) {
            m[i].key = key[i];
            m[i].value = value[i];
        }

        p->keys.nelts -= n;

    } else {
        item = (ngx_http_backend_json_t **) elts;

        for (i = 0; i < n; i++) {
            item[i] = value[i];
        }
    }

    v->items.elts = elts;
    v->items.nelts = n;
    v->items.nalloc = nalloc;

    p->values.nelts -= n;

    return 1;
}


ngx_http_backend_json_t *
ngx_http_backend_json_new(ngx_pool_t *pool, ngx_http_backend_json_type_e type)
{
    ngx_http_backend_json_t  *v;

    v = ngx_pcalloc(pool, sizeof(ngx_http_backend_json_t));
    if (v == NULL) {
        return NULL;
    }

    v->type = type;

    return v;
}


ngx_http_backend_json_t *
ngx_http_backend_json_get(ngx_http_backend_json_t *object, u_char *key,
    size_t len)
{
    ngx_uint_t                       i;
    ngx_http_backend_json_member_t  *m;

    if (object == NULL || object->type != NGX_HTTP_BACKEND_JSON_OBJECT) {
        return NULL;
    }

    m = object->items.elts;

    /* the last of duplicate keys wins, as with JSON.parse() */

    for (i = object->items.nelts; i > 0; i--) {
        if (m[i - 1].key.len == len
            && ngx_memcmp(m[i - 1].key.data, key, len) == 0)
        {
            return m[i - 1].value;
        }
    }

    return NULL;
}


/*
 * Well-formed UTF-8 (Unicode's table 3-7): the length of the sequence at p,
 * or minus the length of its maximal ill-formed prefix, which decoders
 * such as TextDecoder replace by one U+FFFD
 */

ngx_int_t
ngx_http_backend_json_utf8_seq(u_char *p, u_char *last)
{
    u_char      lo, hi;
    ngx_int_t   i, n;

    if (*p < 0x80) {
        return 1;
    }

    lo = 0x80;
    hi = 0xbf;

    if (*p < 0xc2) {
        return -1;

    } else if (*p < 0xe0) {
        n = 2;

    } else if (*p < 0xf0) {
        n = 3;
        lo = (*p == 0xe0) ? 0xa0 : 0x80;
        hi = (*p == 0xed) ? 0x9f : 0xbf;

    } else if (*p < 0xf5) {
        n = 4;
        lo = (*p == 0xf0) ? 0x90 : 0x80;
        hi = (*p == 0xf4) ? 0x8f : 0xbf;

    } else {
        return -1;
    }

    for (i = 1; i < n; i++) {
        if (p + i == last || p[i] < lo || p[i] > hi) {
            return -i;
        }

        lo = 0x80;
        hi = 0xbf;
    }

    return n;
}


/*
 * Output is always valid UTF-8: a byte sequence that is not (a path from
 * the URI, say) is written as U+FFFD
 */

/*
 * Nonzero when one of the 8 bytes of w needs more than a copy in a JSON
 * string: below 0x20, '"', '\\', or 0x80 and above (UTF-8, checked).
 * With no byte of 0x80 and above no subtraction borrows but at a byte
 * looked for, so nothing it looks for goes unseen.
 */

#define ngx_http_backend_json_special8(w)                                     \
    ((((w) - 0x2020202020202020ULL)                                           \
      | (((w) ^ 0x2222222222222222ULL) - 0x0101010101010101ULL)              \
      | (((w) ^ 0x5c5c5c5c5c5c5c5cULL) - 0x0101010101010101ULL)              \
      | (w))                                                                  \
     & 0x8080808080808080ULL)


size_t
ngx_http_backend_json_str_len(u_char *s, size_t len)
{
    size_t      n;
    u_char     *last, *block;
    uint64_t    w;
    ngx_int_t   k;

    n = 2;

    if (len == 0) {
        /* s may be NULL: an empty ngx_str_t */
        return n;
    }

    block = s;

    for (last = s + len; s < last; s++) {

        if (s >= block) {
            /* 8 bytes at a time while none needs more than a copy */

            while (last - s >= 8) {
                ngx_memcpy(&w, s, 8);

                if (ngx_http_backend_json_special8(w)) {
                    break;
                }

                n += 8;
                s += 8;
            }

            if (s == last) {
                break;
            }

            /* these bytes one by one */
            block = s + 8;
        }

        if (*s == '"' || *s == '\\' || *s == '\b' || *s == '\f'
            || *s == '\n' || *s == '\r' || *s == '\t')
        {
            n += 2;

        } else if (*s < 0x20) {
            n += 6;

        } else if (*s < 0x80) {
            n++;

        } else {
            k = ngx_http_backend_json_utf8_seq(s, last);

            if (k > 0) {
                n += k;
                s += k - 1;

            } else {
                n += 3;
                s += -k - 1;
            }
        }
    }

    return n;
}


u_char *
ngx_http_backend_json_str_write(u_char *p, u_char *s, size_t len)
{
    u_char         *last, *block;
    uint64_t        w;
    ngx_int_t       k;
    static u_char   hex[] = "0123456789abcdef";

    *p++ = '"';

    block = s;

    for (last = len ? s + len : s; s < last; s++) {

        if (s >= block) {
            /* as in ngx_http_backend_json_str_len() */

            while (last - s >= 8) {
                ngx_memcpy(&w, s, 8);

                if (ngx_http_backend_json_special8(w)) {
                    break;
                }

                ngx_memcpy(p, &w, 8);
                p += 8;
                s += 8;
            }

            if (s == last) {
                break;
            }

            block = s + 8;
        }

        switch (*s) {

        case '"':
        case '\\':
            *p++ = '\\';
            *p++ = *s;
            break;

        case '\b':
            *p++ = '\\'; *p++ = 'b';
            break;

        case '\f':
            *p++ = '\\'; *p++ = 'f';
            break;

        case '\n':
            *p++ = '\\'; *p++ = 'n';
            break;

        case '\r':
            *p++ = '\\'; *p++ = 'r';
            break;

        case '\t':
            *p++ = '\\'; *p++ = 't';
            break;

        default:
            if (*s < 0x20) {
                *p++ = '\\'; *p++ = 'u'; *p++ = '0'; *p++ = '0';
                *p++ = hex[*s >> 4];
                *p++ = hex[*s & 0xf];

            } else if (*s < 0x80) {
                *p++ = *s;

            } else {
                k = ngx_http_backend_json_utf8_seq(s, last);

                if (k > 0) {
                    p = ngx_cpymem(p, s, k);
                    s += k - 1;

                } else {
                    /* U+FFFD */
                    *p++ = 0xef; *p++ = 0xbf; *p++ = 0xbd;
                    s += -k - 1;
                }
            }
        }
    }

    *p++ = '"';

    return p;
}


size_t
ngx_http_backend_json_len(ngx_http_backend_json_t *json)
{
    size_t                           n;
    ngx_uint_t                       i;
    ngx_http_backend_json_t        **item;
    ngx_http_backend_json_member_t  *m;

    switch (json->type) {

    case NGX_HTTP_BACKEND_JSON_NULL:
    case NGX_HTTP_BACKEND_JSON_TRUE:
        return 4;

    case NGX_HTTP_BACKEND_JSON_FALSE:
        return 5;

    case NGX_HTTP_BACKEND_JSON_NUMBER:
        return json->raw.len;

    case NGX_HTTP_BACKEND_JSON_STRING:
        return ngx_http_backend_json_str_len(json->string.data,
                                             json->string.len);

    case NGX_HTTP_BACKEND_JSON_ARRAY:
        n = 2 + (json->items.nelts ? json->items.nelts - 1 : 0);
        item = json->items.elts;

        for (i = 0; i < json->items.nelts; i++) {
            n += ngx_http_backend_json_len(item[i]);
        }

        return n;

    default: /* NGX_HTTP_BACKEND_JSON_OBJECT */
        n = 2 + (json->items.nelts ? json->items.nelts - 1 : 0);
        m = json->items.elts;

        for (i = 0; i < json->items.nelts; i++) {
            n += ngx_http_backend_json_str_len(m[i].key.data, m[i].key.len)
                 + 1 + ngx_http_backend_json_len(m[i].value);
        }

        return n;
    }
}


u_char *
ngx_http_backend_json_write(u_char *p, ngx_http_backend_json_t *json)
{
    ngx_uint_t                       i;
    ngx_http_backend_json_t        **item;
    ngx_http_backend_json_member_t  *m;

    switch (json->type) {

    case NGX_HTTP_BACKEND_JSON_NULL:
        return ngx_cpymem(p, "null", 4);

    case NGX_HTTP_BACKEND_JSON_TRUE:
        return ngx_cpymem(p, "true", 4);

    case NGX_HTTP_BACKEND_JSON_FALSE:
        return ngx_cpymem(p, "false", 5);

    case NGX_HTTP_BACKEND_JSON_NUMBER:
        return ngx_cpymem(p, json->raw.data, json->raw.len);

    case NGX_HTTP_BACKEND_JSON_STRING:
        return ngx_http_backend_json_str_write(p, json->string.data,
                                               json->string.len);

    case NGX_HTTP_BACKEND_JSON_ARRAY:
        *p++ = '[';
        item = json->items.elts;

        for (i = 0; i < json->items.nelts; i++) {
            if (i) {
                *p++ = ',';
            }

            p = ngx_http_backend_json_write(p, item[i]);
        }

        *p++ = ']';
        return p;

    default: /* NGX_HTTP_BACKEND_JSON_OBJECT */
        *p++ = '{';
        m = json->items.elts;

        for (i = 0; i < json->items.nelts; i++) {
            if (i) {
                *p++ = ',';
            }

            p = ngx_http_backend_json_str_write(p, m[i].key.data,
                                                m[i].key.len);
            *p++ = ':';
            p = ngx_http_backend_json_write(p, m[i].value);
        }

        *p++ = '}';
        return p;
    }
}


/*
 * JSON checked and written again without its white space, in one pass and
 * without a tree: what an answer that is only passed on needs.  The same
 * rules as parsing it: RFC 8259's grammar, well-formed UTF-8, at most
 * max_depth levels, and each unpaired surrogate escape made \ufffd.
 */

#define NGX_HTTP_BACKEND_MIN_VALUE      0
#define NGX_HTTP_BACKEND_MIN_FIRST      1   /* after [: a value or ] */
#define NGX_HTTP_BACKEND_MIN_KEY_FIRST  2   /* after {: a key or } */
#define NGX_HTTP_BACKEND_MIN_KEY        3
#define NGX_HTTP_BACKEND_MIN_COLON      4
#define NGX_HTTP_BACKEND_MIN_NEXT       5   /* , or the end of the level */
#define NGX_HTTP_BACKEND_MIN_DONE       6


ngx_int_t
ngx_http_backend_json_minify(ngx_pool_t *pool, u_char *data, size_t len,
    ngx_uint_t max_depth, ngx_str_t *out, ngx_str_t *err)
{
    char                     *lit;
    u_char                   *p, *last, *o, c;
    uint64_t                  objects;
    ngx_int_t                 n, cp, low, rc;
    ngx_uint_t                depth, expect;
    ngx_http_backend_json_t  *json;

    if (max_depth == 0 || max_depth > 64) {
        max_depth = (NGX_HTTP_BACKEND_JSON_MAX_DEPTH > 64)
                    ? 64 : NGX_HTTP_BACKEND_JSON_MAX_DEPTH;
    }

    o = ngx_pnalloc(pool, len ? len : 1);
    if (o == NULL) {
        return NGX_ERROR;
    }

    out->data = o;

    p = data;
    last = data + len;
    depth = 0;
    objects = 0;            /* bit d set: level d + 1 is an object */
    expect = NGX_HTTP_BACKEND_MIN_VALUE;

    for ( ;; ) {

        /* yajl's blanks: \v and \f too, but not after the root value */

        while (p < last
               && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'
                   || ((*p == '\v' || *p == '\f')
                       && expect != NGX_HTTP_BACKEND_MIN_DONE)))
        {
            p++;
        }

        if (p == last) {
            break;
        }

        c = *p;

        switch (expect) {

        case NGX_HTTP_BACKEND_MIN_DONE:
            goto invalid;

        case NGX_HTTP_BACKEND_MIN_COLON:
            if (c != ':') {
                goto invalid;
            }

            *o++ = *p++;
            expect = NGX_HTTP_BACKEND_MIN_VALUE;
            continue;

        case NGX_HTTP_BACKEND_MIN_NEXT:
            if (c == ',') {
                *o++ = *p++;
                expect = (objects >> (depth - 1) & 1)
                         ? NGX_HTTP_BACKEND_MIN_KEY
                         : NGX_HTTP_BACKEND_MIN_VALUE;
                continue;
            }

            if (c != ((objects >> (depth - 1) & 1) ? '}' : ']')) {
                goto invalid;
            }

            goto close;

        case NGX_HTTP_BACKEND_MIN_KEY_FIRST:
            if (c == '}') {
                goto close;
            }

            /* fall through */

        case NGX_HTTP_BACKEND_MIN_KEY:
            if (c != '"') {
                goto invalid;
            }

            goto string;

        case NGX_HTTP_BACKEND_MIN_FIRST:
            if (c == ']') {
                goto close;
            }

            /* fall through */

        default: /* a value */
            break;
        }

        switch (c) {

        case '{':
        case '[':
            if (depth == max_depth) {
                ngx_str_set(err, "nested too deeply");
                return NGX_DECLINED;
            }

            if (c == '{') {
                objects |= (uint64_t) 1 << depth;
                expect = NGX_HTTP_BACKEND_MIN_KEY_FIRST;

            } else {
                objects &= ~((uint64_t) 1 << depth);
                expect = NGX_HTTP_BACKEND_MIN_FIRST;
            }

            depth++;
            *o++ = *p++;
            continue;

        case '"':
            goto string;

        case 't':
        case 'f':
        case 'n':
            lit = (c == 't') ? "true" : (c == 'f') ? "false" : "null";
            n = ngx_strlen(lit);

            if (last - p < n || ngx_strncmp(p, lit, n) != 0) {
                goto invalid;
            }

            o = ngx_cpymem(o, p, n);
            p += n;
            goto value;

        default:
            break;
        }

        /* a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */

        if (c == '-') {
            *o++ = *p++;
        }

        if (p == last || *p < '0' || *p > '9') {
            goto invalid;
        }

        if (*p == '0') {
            *o++ = *p++;

        } else {
            while (p < last && *p >= '0' && *p <= '9') {
                *o++ = *p++;
            }
        }

        if (p < last && *p == '.') {
            *o++ = *p++;

            if (p == last || *p < '0' || *p > '9') {
                goto invalid;
            }

            while (p < last && *p >= '0' && *p <= '9') {
                *o++ = *p++;
            }
        }

        if (p < last && (*p == 'e' || *p == 'E')) {
            *o++ = *p++;

            if (p < last && (*p == '+' || *p == '-')) {
                *o++ = *p++;
            }

            if (p == last || *p < '0' || *p > '9') {
                goto invalid;
            }

            while (p < last && *p >= '0' && *p <= '9') {
                *o++ = *p++;
            }
        }

        goto value;

    string:

        *o++ = *p++;

        for ( ;; ) {
            if (p == last) {
                goto invalid;
            }

            c = *p;

            if (c == '"') {
                *o++ = *p++;
                break;
            }

            if (c < 0x20) {
                goto invalid;
            }

            if (c >= 0x80) {
                n = ngx_http_backend_json_utf8_seq(p, last);

                if (n < 0) {
                    /*
                     * yajl takes lead and continuation bytes in their
                     * number (overlong forms, CESU surrogates) and the
                     * tree writes U+FFFD for them: done as it is
                     */

                    n = (c >> 5 == 0x06) ? 2 : (c >> 4 == 0x0e) ? 3
                        : (c >> 3 == 0x1e) ? 4 : 0;

                    if (n == 0 || last - p < n) {
                        goto invalid;
                    }

                    while (--n) {
                        if (p[n] >> 6 != 0x02) {
                            goto invalid;
                        }
                    }

                    goto tree;
                }

                o = ngx_cpymem(o, p, n);
                p += n;
                continue;
            }

            if (c != '\\') {
                *o++ = *p++;
                continue;
            }

            if (last - p < 2) {
                goto invalid;
            }

            if (p[1] != 'u') {
                if (ngx_strchr("\"\\/bfnrt", p[1]) == NULL || p[1] == '\0') {
                    goto invalid;
                }

                *o++ = *p++;
                *o++ = *p++;
                continue;
            }

            if (last - p < 6
                || (cp = ngx_hextoi(p + 2, 4)) == NGX_ERROR)
            {
                goto invalid;
            }

            if (cp >= 0xd800 && cp <= 0xdbff && last - p >= 12
                && p[6] == '\\' && p[7] == 'u'
                && (low = ngx_hextoi(p + 8, 4)) != NGX_ERROR
                && low >= 0xdc00 && low <= 0xdfff)
            {
                o = ngx_cpymem(o, p, 12);
                p += 12;
                continue;
            }

            if (cp >= 0xd800 && cp <= 0xdfff) {
                o = ngx_cpymem(o, "\\ufffd", 6);

            } else {
                o = ngx_cpymem(o, p, 6);
            }

            p += 6;
        }

        if (expect == NGX_HTTP_BACKEND_MIN_KEY
            || expect == NGX_HTTP_BACKEND_MIN_KEY_FIRST)
        {
            expect = NGX_HTTP_BACKEND_MIN_COLON;
            continue;
        }

        goto value;

    close:

        *o++ = *p++;
        depth--;

    value:

        expect = depth ? NGX_HTTP_BACKEND_MIN_NEXT : NGX_HTTP_BACKEND_MIN_DONE;
    }

    if (expect != NGX_HTTP_BACKEND_MIN_DONE) {
        ngx_str_set(err, "unexpected end of input");
        return NGX_DECLINED;
    }

    out->len = o - out->data;

    return NGX_OK;

invalid:

    ngx_str_set(err, "invalid JSON");
    return NGX_DECLINED;

tree:

    rc = ngx_http_backend_json_parse(pool, data, len, max_depth, &json, err);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_backend_json_serialize(pool, json, out);
}


ngx_int_t
ngx_http_backend_json_serialize(ngx_pool_t *pool,
    ngx_http_backend_json_t *json, ngx_str_t *out)
{
    out->len = ngx_http_backend_json_len(json);

    out->data = ngx_pnalloc(pool, out->len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_http_backend_json_write(out->data, json);

    return NGX_OK;
}


#define NGX_HTTP_BACKEND_JSON_PLAIN_DIGITS  1000


ngx_int_t
ngx_http_backend_json_number_text(ngx_pool_t *pool,
    ngx_http_backend_json_t *v, ngx_str_t *out)
{
    u_char     *p, *last, *digits, *d;
    size_t      nd, zeros;
    ngx_int_t   exp, e, point;
    ngx_uint_t  negative, esign, plain;

    p = v->raw.data;
    last = p + v->raw.len;

    if (ngx_strlchr(p, last, '.') == NULL
        && ngx_strlchr(p, last, 'e') == NULL
        && ngx_strlchr(p, last, 'E') == NULL
        && !(v->raw.len == 2 && p[0] == '-' && p[1] == '0'))
    {
        *out = v->raw;
        return NGX_OK;
    }

    /* the JSON grammar is yajl's to check: -?int(.frac)?([eE][+-]?exp)? */

    digits = ngx_pnalloc(pool, v->raw.len);
    if (digits == NULL) {
        return NGX_ERROR;
    }

    negative = 0;

    if (*p == '-') {
        negative = 1;
        p++;
    }

    nd = 0;
    exp = 0;

    for ( /* void */ ; p < last && *p >= '0' && *p <= '9'; p++) {
        digits[nd++] = *p;
    }

    if (p < last && *p == '.') {
        for (p++; p < last && *p >= '0' && *p <= '9'; p++) {
            digits[nd++] = *p;
            exp--;
        }
    }

    if (p < last && (*p == 'e' || *p == 'E')) {
        p++;
        esign = 0;

        if (p < last && (*p == '+' || *p == '-')) {
            esign = (*p == '-');
            p++;
        }

        if (last - p > 9) {
            /* an exponent of ten digits or more: left as written */
            *out = v->raw;
            return NGX_OK;
        }

        e = ngx_atoi(p, last - p);
        if (e == NGX_ERROR) {
            *out = v->raw;
            return NGX_OK;
        }

        exp += esign ? -e : e;
    }

    /* digits * 10^exp, without leading and trailing zeros */

    d = digits;

    while (nd && *d == '0') {
        d++;
        nd--;
    }

    while (nd && d[nd - 1] == '0') {
        nd--;
        exp++;
    }

    if (nd == 0) {
        ngx_str_set(out, "0");
        return NGX_OK;
    }

    point = (ngx_int_t) nd + exp;      /* digits before the decimal point */

    plain = (exp >= 0 && exp <= NGX_HTTP_BACKEND_JSON_PLAIN_DIGITS)
            || (exp < 0 && point > -NGX_HTTP_BACKEND_JSON_PLAIN_DIGITS);

    out->data = ngx_pnalloc(pool, nd + NGX_HTTP_BACKEND_JSON_PLAIN_DIGITS
                                  + NGX_INT_T_LEN + 8);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = out->data;

    if (negative) {
        *p++ = '-';
    }

    if (!plain) {
        *p++ = d[0];

        if (nd > 1) {
            *p++ = '.';
            p = ngx_cpymem(p, d + 1, nd - 1);
        }

        p = ngx_sprintf(p, "e%s%i", point - 1 < 0 ? "" : "+", point - 1);

    } else if (exp >= 0) {
        p = ngx_cpymem(p, d, nd);

        for (zeros = exp; zeros; zeros--) {
            *p++ = '0';
        }

    } else if (point > 0) {
        p = ngx_cpymem(p, d, point);
        *p++ = '.';
        p = ngx_cpymem(p, d + point, nd - point);

    } else {
        *p++ = '0';
        *p++ = '.';

        for (zeros = -point; zeros; zeros--) {
            *p++ = '0';
        }

        p = ngx_cpymem(p, d, nd);
    }

    *p = '\0';
    out->len = p - out->data;

    return NGX_OK;
}


size_t
ngx_http_backend_json_utf8_length(u_char *s, size_t len)
{
    size_t   n;
    u_char  *last;

    n = 0;

    for (last = s + len; s < last; s++) {
        if ((*s & 0xc0) != 0x80) {
            n++;
        }
    }

    return n;
}


ngx_uint_t
ngx_http_backend_json_equal(ngx_http_backend_json_t *a,
    ngx_http_backend_json_t *b)
{
    ngx_uint_t                       i, n;
    ngx_http_backend_json_t        **ai, **bi, *v;
    ngx_http_backend_json_member_t  *m;

    if (a->type != b->type || a->superjson != b->superjson) {
        return 0;
    }

    switch (a->type) {

    case NGX_HTTP_BACKEND_JSON_NUMBER:
        if (a->raw.len == b->raw.len
            && ngx_memcmp(a->raw.data, b->raw.data, a->raw.len) == 0)
        {
            return 1;
        }

        return a->number == b->number;

    case NGX_HTTP_BACKEND_JSON_STRING:
        return a->string.len == b->string.len
               && ngx_memcmp(a->string.data, b->string.data, a->string.len)
                  == 0;

    case NGX_HTTP_BACKEND_JSON_ARRAY:
        if (a->items.nelts != b->items.nelts) {
            return 0;
        }

        ai = a->items.elts;
        bi = b->items.elts;

        for (i = 0; i < a->items.nelts; i++) {
            if (!ngx_http_backend_json_equal(ai[i], bi[i])) {
                return 0;
            }
        }

        return 1;

    case NGX_HTTP_BACKEND_JSON_OBJECT:

        /*
         * As JavaScript sees the objects: of duplicate keys only the last
         * counts (ngx_http_backend_json_get()), so {"a":1,"a":2} equals
         * itself and {"a":2}
         */

        m = a->items.elts;
        n = 0;

        for (i = 0; i < a->items.nelts; i++) {
            if (ngx_http_backend_json_get(a, m[i].key.data, m[i].key.len)
                != m[i].value)
            {
                continue;
            }

            n++;

            v = ngx_http_backend_json_get(b, m[i].key.data, m[i].key.len);
            if (v == NULL || !ngx_http_backend_json_equal(m[i].value, v)) {
                return 0;
            }
        }

        m = b->items.elts;

        for (i = 0; i < b->items.nelts; i++) {
            if (ngx_http_backend_json_get(b, m[i].key.data, m[i].key.len)
                == m[i].value)
            {
                if (n-- == 0) {
                    return 0;
                }
            }
        }

        return n == 0;

    default:
        return 1;
    }
}
