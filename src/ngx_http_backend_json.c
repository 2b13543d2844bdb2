
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <yajl/yajl_parse.h>
#include <math.h>

#include "ngx_http_backend_json.h"


typedef struct {
    ngx_pool_t                *pool;
    ngx_http_backend_json_t   *root;
    ngx_http_backend_json_t  **stack;
    ngx_uint_t                 depth;
    ngx_uint_t                 max_depth;
    ngx_str_t                  key;
    unsigned                   too_deep:1;
    unsigned                   nomem:1;
} ngx_http_backend_json_parser_t;


static ngx_int_t ngx_http_backend_json_add(ngx_http_backend_json_parser_t *p,
    ngx_http_backend_json_t *value);
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


ngx_int_t
ngx_http_backend_json_parse(ngx_pool_t *pool, u_char *data, size_t len,
    ngx_uint_t max_depth, ngx_http_backend_json_t **json, ngx_str_t *err)
{
    size_t                           n;
    u_char                          *msg, *start, *last;
    yajl_handle                      h;
    yajl_status                      st;
    ngx_http_backend_json_parser_t   p;

    ngx_memzero(&p, sizeof(ngx_http_backend_json_parser_t));

    p.pool = pool;
    p.max_depth = max_depth ? max_depth : NGX_HTTP_BACKEND_JSON_MAX_DEPTH;

    p.stack = ngx_palloc(pool, p.max_depth
                               * sizeof(ngx_http_backend_json_t *));
    if (p.stack == NULL) {
        return NGX_ERROR;
    }

    h = yajl_alloc(&ngx_http_backend_json_callbacks, NULL, &p);
    if (h == NULL) {
        return NGX_ERROR;
    }

    st = yajl_parse(h, data, len);
    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }

    if (st == yajl_status_ok && p.root != NULL) {
        yajl_free(h);
        *json = p.root;
        return NGX_OK;
    }

    if (p.nomem) {
        yajl_free(h);
        return NGX_ERROR;
    }

    if (p.too_deep) {
        yajl_free(h);

        err->data = ngx_pnalloc(pool, 64);
        if (err->data == NULL) {
            return NGX_ERROR;
        }

        err->len = ngx_sprintf(err->data, "JSON nested deeper than %ui levels",
                               p.max_depth)
                   - err->data;
        return NGX_DECLINED;
    }

    /* yajl's message, without its "parse error: " prefix and the newline */

    msg = yajl_get_error(h, 0, data, len);
    n = yajl_get_bytes_consumed(h);

    err->data = ngx_pnalloc(pool, 128);
    if (err->data == NULL) {
        if (msg) {
            yajl_free_error(h, msg);
        }

        yajl_free(h);
        return NGX_ERROR;
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

    yajl_free(h);

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_backend_json_add(ngx_http_backend_json_parser_t *p,
    ngx_http_backend_json_t *value)
{
    ngx_http_backend_json_t          *top, **item;
    ngx_http_backend_json_member_t   *m;

    if (p->depth == 0) {
        p->root = value;
        return NGX_OK;
    }

    top = p->stack[p->depth - 1];

    if (top->type == NGX_HTTP_BACKEND_JSON_ARRAY) {
        item = ngx_array_push(&top->items);
        if (item == NULL) {
            return NGX_ERROR;
        }

        *item = value;
        return NGX_OK;
    }

    m = ngx_array_push(&top->items);
    if (m == NULL) {
        return NGX_ERROR;
    }

    m->key = p->key;
    m->value = value;

    return NGX_OK;
}


static ngx_http_backend_json_t *
ngx_http_backend_json_value(ngx_http_backend_json_parser_t *p,
    ngx_http_backend_json_type_e type)
{
    ngx_http_backend_json_t  *v;

    v = ngx_http_backend_json_new(p->pool, type);
    if (v == NULL || ngx_http_backend_json_add(p, v) != NGX_OK) {
        p->nomem = 1;
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
    v->number = strtod((char *) raw, NULL);
    v->integer = 1;

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

    if (ngx_array_init(&v->items, p->pool, 4, size) != NGX_OK) {
        p->nomem = 1;
        return 0;
    }

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

    p->depth--;

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


size_t
ngx_http_backend_json_str_len(u_char *s, size_t len)
{
    size_t  n;
    u_char  *last;

    n = 2;

    if (len == 0) {
        /* s may be NULL: an empty ngx_str_t */
        return n;
    }

    for (last = s + len; s < last; s++) {
        if (*s == '"' || *s == '\\' || *s == '\b' || *s == '\f'
            || *s == '\n' || *s == '\r' || *s == '\t')
        {
            n += 2;

        } else if (*s < 0x20) {
            n += 6;

        } else {
            n++;
        }
    }

    return n;
}


u_char *
ngx_http_backend_json_str_write(u_char *p, u_char *s, size_t len)
{
    u_char         *last;
    static u_char   hex[] = "0123456789abcdef";

    *p++ = '"';

    for (last = len ? s + len : s; s < last; s++) {

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

            } else {
                *p++ = *s;
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
    ngx_uint_t                       i;
    ngx_http_backend_json_t        **ai, **bi, *v;
    ngx_http_backend_json_member_t  *m;

    if (a->type != b->type) {
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
        if (a->items.nelts != b->items.nelts) {
            return 0;
        }

        m = a->items.elts;

        for (i = 0; i < a->items.nelts; i++) {
            v = ngx_http_backend_json_get(b, m[i].key.data, m[i].key.len);
            if (v == NULL || !ngx_http_backend_json_equal(m[i].value, v)) {
                return 0;
            }
        }

        return 1;

    default:
        return 1;
    }
}
