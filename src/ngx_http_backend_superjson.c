
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <math.h>

#include "ngx_http_backend.h"


/*
 * tRPC's superjson transformer (backend_rpc_transformer superjson): an
 * input is {"json":<value>,"meta":{"values":<annotations>,"v":1}}, each
 * input of a batch on its own; a call's data is written the same way, an
 * error as {"json":<error>}; a JSON line of httpBatchStreamLink is one
 * such envelope as a whole.
 *
 * Read: Date (its toISOString() text), bigint, number (NaN, Infinity,
 * -Infinity) and undefined.  Map, Set, RegExp, Error, URL, classes,
 * symbols and custom types have no SQL parameter: refused.  Written: the
 * Dates of timestamp and timestamptz columns.
 */


#define NGX_HTTP_BACKEND_SJ_MAX_ERR    512

/*
 * Members looked at while walking the annotations' paths, in all: a
 * megabyte of input with a member and an annotation each for 30,000 keys
 * would otherwise cost ~10^9 key comparisons; legitimate inputs (a few
 * Dates per row of a few columns) stay far below it
 */
#define NGX_HTTP_BACKEND_SJ_MAX_STEPS  2000000


typedef struct {
    ngx_pool_t                     *pool;
    ngx_str_t                      *err;
    ngx_uint_t                      legacy;     /* meta without "v" */
    ngx_uint_t                      undefined;
    ngx_uint_t                      steps;
} ngx_http_backend_sj_ctx_t;


static ngx_int_t ngx_http_backend_superjson_decode(
    ngx_http_backend_sj_ctx_t *sj, ngx_http_backend_json_t **value);
static ngx_int_t ngx_http_backend_superjson_tree(ngx_http_backend_sj_ctx_t *sj,
    ngx_http_backend_json_t **root, ngx_array_t *path,
    ngx_http_backend_json_t *tree);
static ngx_int_t ngx_http_backend_superjson_path(ngx_http_backend_sj_ctx_t *sj,
    ngx_array_t *path, ngx_str_t *key);
static ngx_int_t ngx_http_backend_superjson_apply(
    ngx_http_backend_sj_ctx_t *sj, ngx_http_backend_json_t **root,
    ngx_array_t *path, ngx_str_t *type);
static void ngx_http_backend_superjson_compact(ngx_http_backend_json_t *v,
    ngx_uint_t depth);
static ngx_uint_t ngx_http_backend_superjson_iso(ngx_str_t *s);
static ngx_int_t ngx_http_backend_superjson_year(ngx_pool_t *pool,
    ngx_str_t *s);
static ngx_int_t ngx_http_backend_superjson_fail(
    ngx_http_backend_sj_ctx_t *sj, const char *what, ngx_array_t *path,
    ngx_str_t *type);
static ngx_int_t ngx_http_backend_superjson_wrap(ngx_pool_t *pool,
    ngx_str_t *json, ngx_array_t *paths, ngx_str_t *out);


/*
 * The input of a request as superjson's deserialize() gives it: one
 * envelope, or an object of them for a batch.  What is not an envelope is
 * undefined, as deserialize() makes it.  NGX_DECLINED: err says why.
 */

ngx_int_t
ngx_http_backend_superjson_input(ngx_pool_t *pool,
    ngx_http_backend_json_t **input, ngx_uint_t batch, ngx_str_t *err)
{
    ngx_int_t                        rc;
    ngx_uint_t                       i, n;
    ngx_http_backend_sj_ctx_t        sj;
    ngx_http_backend_json_member_t  *m;

    sj.pool = pool;
    sj.err = err;
    sj.steps = 0;

    if (*input == NULL) {
        return NGX_OK;
    }

    if (!batch) {
        return ngx_http_backend_superjson_decode(&sj, input);
    }

    if ((*input)->type != NGX_HTTP_BACKEND_JSON_OBJECT) {
        /* the batch's own check answers it */
        return NGX_OK;
    }

    m = (*input)->items.elts;

    for (i = 0, n = 0; i < (*input)->items.nelts; i++) {
        rc = ngx_http_backend_superjson_decode(&sj, &m[i].value);
        if (rc != NGX_OK) {
            return rc;
        }

        /* an undefined input is a missing one: no member holds NULL */
        if (m[i].value) {
            m[n++] = m[i];
        }
    }

    (*input)->items.nelts = n;

    return NGX_OK;
}


static ngx_int_t
ngx_http_backend_superjson_decode(ngx_http_backend_sj_ctx_t *sj,
    ngx_http_backend_json_t **value)
{
    ngx_int_t                 rc;
    ngx_array_t               path;
    ngx_http_backend_json_t  *json, *meta, *values, *v;

    if (*value == NULL || (*value)->type != NGX_HTTP_BACKEND_JSON_OBJECT) {
        *value = NULL;
        return NGX_OK;
    }

    json = ngx_http_backend_json_get(*value, (u_char *) "json", 4);
    meta = ngx_http_backend_json_get(*value, (u_char *) "meta", 4);

    *value = json;

    if (json == NULL || meta == NULL
        || meta->type != NGX_HTTP_BACKEND_JSON_OBJECT)
    {
        return NGX_OK;
    }

    /* superjson 1 wrote no "v" and escaped only dots in its paths */
    v = ngx_http_backend_json_get(meta, (u_char *) "v", 1);
    sj->legacy = (v == NULL || v->type != NGX_HTTP_BACKEND_JSON_NUMBER
                  || v->number < 1);

    values = ngx_http_backend_json_get(meta, (u_char *) "values", 6);

    if (values == NULL) {
        /*
         * referentialEqualities alone: the json holds every copy already
         * (only a dedupe instance writes null in their place)
         */
        return NGX_OK;
    }

    if (ngx_array_init(&path, sj->pool, 8, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    sj->undefined = 0;

    rc = ngx_http_backend_superjson_tree(sj, value, &path, values);
    if (rc != NGX_OK) {
        return rc;
    }

    if (sj->undefined && *value) {
        /* undefined members go, once all paths were walked */
        ngx_http_backend_superjson_compact(*value, 0);
    }

    return NGX_OK;
}


/*
 * An annotation tree: {"a.b": tree, ...}, a leaf ["Date"], or an inner
 * node ["map", {children}] (the types with children are all refused)
 */

static ngx_int_t
ngx_http_backend_superjson_tree(ngx_http_backend_sj_ctx_t *sj,
    ngx_http_backend_json_t **root, ngx_array_t *path,
    ngx_http_backend_json_t *tree)
{
    ngx_int_t                         rc;
    ngx_uint_t                        i, depth;
    ngx_str_t                         name;
    ngx_http_backend_json_t         **item;
    ngx_http_backend_json_member_t   *m;

    if (tree->type == NGX_HTTP_BACKEND_JSON_OBJECT) {
        m = tree->items.elts;
        depth = path->nelts;

        for (i = 0; i < tree->items.nelts; i++) {
            rc = ngx_http_backend_superjson_path(sj, path, &m[i].key);
            if (rc != NGX_OK) {
                return rc;
            }

            rc = ngx_http_backend_superjson_tree(sj, root, path, m[i].value);
            if (rc != NGX_OK) {
                return rc;
            }

            path->nelts = depth;
        }

        return NGX_OK;
    }

    if (tree->type != NGX_HTTP_BACKEND_JSON_ARRAY || tree->items.nelts == 0) {
        return ngx_http_backend_superjson_fail(sj, "invalid meta", path,
                                               NULL);
    }

    item = tree->items.elts;

    if (item[0]->type != NGX_HTTP_BACKEND_JSON_STRING) {
        /* ["class", "Name"], ["symbol", ...], ["custom", ...] */
        if (item[0]->type == NGX_HTTP_BACKEND_JSON_ARRAY
            && item[0]->items.nelts
            && (*(ngx_http_backend_json_t **) item[0]->items.elts)->type
               == NGX_HTTP_BACKEND_JSON_STRING)
        {
            name = (*(ngx_http_backend_json_t **) item[0]->items.elts)->string;
            return ngx_http_backend_superjson_fail(sj, "unsupported type",
                                                   path, &name);
        }

        return ngx_http_backend_superjson_fail(sj, "invalid meta", path,
                                               NULL);
    }

    return ngx_http_backend_superjson_apply(sj, root, path, &item[0]->string);
}


/* superjson's parsePath(): "a.b\.c" is a, b.c; "\\" a backslash (v1) */

static ngx_int_t
ngx_http_backend_superjson_path(ngx_http_backend_sj_ctx_t *sj,
    ngx_array_t *path, ngx_str_t *key)
{
    u_char     *p, *last, *d;
    ngx_str_t  *seg;

    if (key->len == 0) {
        seg = ngx_array_push(path);
        if (seg == NULL) {
            return NGX_ERROR;
        }

        /* "" (not NULL: the segment is compared and printed) */
        ngx_str_set(seg, "");
        return NGX_OK;
    }

    d = ngx_pnalloc(sj->pool, key->len);
    if (d == NULL) {
        return NGX_ERROR;
    }

    seg = ngx_array_push(path);
    if (seg == NULL) {
        return NGX_ERROR;
    }

    seg->data = d;
    last = key->data + key->len;

    for (p = key->data; p < last; p++) {

        if (*p == '\\' && p + 1 < last && p[1] == '.') {
            *d++ = '.';
            p++;
            continue;
        }

        if (*p == '\\' && !sj->legacy) {
            if (p + 1 < last && p[1] == '\\') {
                *d++ = '\\';
                p++;
                continue;
            }

            path->nelts--;
            return ngx_http_backend_superjson_fail(sj, "invalid path", path,
                                                   key);
        }

        if (*p == '.') {
            seg->len = d - seg->data;

            seg = ngx_array_push(path);
            if (seg == NULL) {
                return NGX_ERROR;
            }

            seg->data = d;
            continue;
        }

        *d++ = *p;
    }

    seg->len = d - seg->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_backend_superjson_apply(ngx_http_backend_sj_ctx_t *sj,
    ngx_http_backend_json_t **root, ngx_array_t *path, ngx_str_t *type)
{
    u_char                    *end;
    ngx_int_t                  index;
    ngx_str_t                 *seg;
    ngx_uint_t                 i;
    ngx_http_backend_json_t   *v, **item;

    v = *root;
    seg = path->elts;

    for (i = 0; v && i < path->nelts; i++) {

        if (v->type == NGX_HTTP_BACKEND_JSON_OBJECT) {
            sj->steps += v->items.nelts;

            if (sj->steps > NGX_HTTP_BACKEND_SJ_MAX_STEPS) {
                return ngx_http_backend_superjson_fail(sj, "too many "
                                                       "annotations", path,
                                                       NULL);
            }

            v = ngx_http_backend_json_get(v, seg[i].data, seg[i].len);
            continue;
        }

        if (v->type != NGX_HTTP_BACKEND_JSON_ARRAY || seg[i].len == 0
            || seg[i].len > NGX_INT_T_LEN)
        {
            v = NULL;
            break;
        }

        end = seg[i].data + seg[i].len;
        index = ngx_atoi(seg[i].data, end - seg[i].data);

        if (index < 0 || (ngx_uint_t) index >= v->items.nelts) {
            v = NULL;
            break;
        }

        item = v->items.elts;
        v = item[index];
    }

    if (v == NULL) {
        return ngx_http_backend_superjson_fail(sj, "no value at", path, NULL);
    }

    if (type->len == 9 && ngx_strncmp(type->data, "undefined", 9) == 0) {

        if (path->nelts == 0) {
            *root = NULL;
            return NGX_OK;
        }

        /* a member is dropped later; an array keeps its place, as null */
        v->type = NGX_HTTP_BACKEND_JSON_NULL;
        v->superjson = NGX_HTTP_BACKEND_JSON_SJ_UNDEFINED;
        sj->undefined = 1;

        return NGX_OK;
    }

    if (!(type->len == 4 && ngx_strncmp(type->data, "Date", 4) == 0)
        && !(type->len == 6 && ngx_strncmp(type->data, "bigint", 6) == 0)
        && !(type->len == 6 && ngx_strncmp(type->data, "number", 6) == 0))
    {
        return ngx_http_backend_superjson_fail(sj, "unsupported type", path,
                                               type);
    }

    if (v->type != NGX_HTTP_BACKEND_JSON_STRING) {
        return ngx_http_backend_superjson_fail(sj, "not a string:", path,
                                               type);
    }

    if (type->data[0] == 'D') {
        if (!ngx_http_backend_superjson_iso(&v->string)) {
            return ngx_http_backend_superjson_fail(sj, "not a toISOString() "
                                                   "Date:", path, type);
        }

        if (v->string.data[0] == '+' || v->string.data[0] == '-') {
            if (ngx_http_backend_superjson_year(sj->pool, &v->string)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        v->superjson = NGX_HTTP_BACKEND_JSON_SJ_DATE;
        return NGX_OK;
    }

    if (type->len == 6 && ngx_strncmp(type->data, "bigint", 6) == 0) {
        end = v->string.data + v->string.len;
        i = (v->string.len && v->string.data[0] == '-') ? 1 : 0;

        if (v->string.len == i || v->string.len > 1024) {
            return ngx_http_backend_superjson_fail(sj, "not a bigint:", path,
                                                   type);
        }

        for ( /* void */ ; i < v->string.len; i++) {
            if (v->string.data[i] < '0' || v->string.data[i] > '9') {
                return ngx_http_backend_superjson_fail(sj, "not a bigint:",
                                                       path, type);
            }
        }

        v->superjson = NGX_HTTP_BACKEND_JSON_SJ_BIGINT;
        return NGX_OK;
    }

    if (type->len == 6 && ngx_strncmp(type->data, "number", 6) == 0) {
        if (v->string.len == 3
            && ngx_strncmp(v->string.data, "NaN", 3) == 0)
        {
            v->number = NAN;

        } else if (v->string.len == 8
                   && ngx_strncmp(v->string.data, "Infinity", 8) == 0)
        {
            v->number = INFINITY;

        } else if (v->string.len == 9
                   && ngx_strncmp(v->string.data, "-Infinity", 9) == 0)
        {
            v->number = -INFINITY;

        } else {
            return ngx_http_backend_superjson_fail(sj, "not NaN or an "
                                                   "infinity:", path, type);
        }

        v->superjson = NGX_HTTP_BACKEND_JSON_SJ_NUMBER;
        return NGX_OK;
    }

    return ngx_http_backend_superjson_fail(sj, "unsupported type", path,
                                           type);
}


static void
ngx_http_backend_superjson_compact(ngx_http_backend_json_t *v,
    ngx_uint_t depth)
{
    ngx_uint_t                        i, n;
    ngx_http_backend_json_t         **item;
    ngx_http_backend_json_member_t   *m;

    if (depth > NGX_HTTP_BACKEND_JSON_MAX_DEPTH) {
        return;
    }

    if (v->type == NGX_HTTP_BACKEND_JSON_ARRAY) {
        item = v->items.elts;

        for (i = 0; i < v->items.nelts; i++) {
            ngx_http_backend_superjson_compact(item[i], depth + 1);
        }

        return;
    }

    if (v->type != NGX_HTTP_BACKEND_JSON_OBJECT) {
        return;
    }

    m = v->items.elts;

    for (i = 0, n = 0; i < v->items.nelts; i++) {
        if (m[i].value->superjson == NGX_HTTP_BACKEND_JSON_SJ_UNDEFINED) {
            continue;
        }

        ngx_http_backend_superjson_compact(m[i].value, depth + 1);
        m[n++] = m[i];
    }

    v->items.nelts = n;
}


/* what Date.prototype.toISOString() writes: 2025-06-02T14:00:00.000Z */

static ngx_uint_t
ngx_http_backend_superjson_iso(ngx_str_t *s)
{
    u_char      *p;
    ngx_uint_t   i, n;

    static u_char  shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    static ngx_uint_t  max[] = { 12, 31, 24, 59, 59 };

    p = s->data;
    n = s->len;

    /* the extended years, +275760 or -000001: two more digits first */
    if (n == sizeof(shape) - 1 + 3 && (p[0] == '+' || p[0] == '-')) {
        if (p[1] < '0' || p[1] > '9' || p[2] < '0' || p[2] > '9') {
            return 0;
        }

        p += 3;
        n -= 3;
    }

    if (n != sizeof(shape) - 1) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (shape[i] == 'd' ? (p[i] < '0' || p[i] > '9') : p[i] != shape[i]) {
            return 0;
        }
    }

    /* month, day, hour, minute, second */
    for (i = 0; i < 5; i++) {
        n = (p[5 + 3 * i] - '0') * 10 + (p[6 + 3 * i] - '0');

        if (n > max[i] || (i < 2 && n == 0)) {
            return 0;
        }
    }

    return 1;
}


/*
 * Postgres reads no extended year: +010000-... is 10000-..., and the
 * astronomical year -000001 (2 BC) is 0002-... BC
 */

static ngx_int_t
ngx_http_backend_superjson_year(ngx_pool_t *pool, ngx_str_t *s)
{
    u_char      *p;
    ngx_int_t    year;

    year = ngx_atoi(s->data + 1, 6);

    if (s->data[0] == '-') {
        year = -year;
    }

    /* NUL-terminated, as the parser leaves strings: a SQL parameter */
    p = ngx_pnalloc(pool, s->len + sizeof(" BC"));
    if (p == NULL) {
        return NGX_ERROR;
    }

    s->len = (year > 0)
             ? ngx_sprintf(p, "%04i%*s", year, (size_t) 20, s->data + 7) - p
             : ngx_sprintf(p, "%04i%*s BC", 1 - year, (size_t) 20,
                           s->data + 7) - p;
    s->data = p;
    p[s->len] = '\0';

    return NGX_OK;
}


/* 400's message: Invalid superjson input: <what> "type" at "a.0.b" */

static ngx_int_t
ngx_http_backend_superjson_fail(ngx_http_backend_sj_ctx_t *sj,
    const char *what, ngx_array_t *path, ngx_str_t *type)
{
    u_char      *p, *last;
    ngx_str_t   *seg;
    ngx_uint_t   i;

    p = ngx_pnalloc(sj->pool, NGX_HTTP_BACKEND_SJ_MAX_ERR);
    if (p == NULL) {
        return NGX_ERROR;
    }

    sj->err->data = p;
    last = p + NGX_HTTP_BACKEND_SJ_MAX_ERR - 4;

    p = ngx_slprintf(p, last, "Invalid superjson input: %s", what);

    if (type) {
        p = ngx_slprintf(p, last, " \"%V\"", type);
    }

    p = ngx_slprintf(p, last, " at \"");

    seg = path->elts;

    for (i = 0; i < path->nelts; i++) {
        p = ngx_slprintf(p, last, "%s%V", i ? "." : "", &seg[i]);
    }

    p = ngx_slprintf(p, last, "\"");

    sj->err->len = p - sj->err->data;

    return NGX_DECLINED;
}


/*
 * A call's envelope for httpLink, httpBatchLink and v10's stream, from
 * the plain one rpc.c wrote: {"result":{"data":D}} has D as superjson,
 * {"error":E} becomes {"error":{"json":E}}; {"result":{}} stays
 */

ngx_int_t
ngx_http_backend_superjson_call(ngx_pool_t *pool, ngx_str_t *out,
    ngx_array_t *dates)
{
    u_char     *p;
    ngx_str_t   data, wrapped, s;

    static ngx_str_t  result = ngx_string("{\"result\":{\"data\":");

    if (out->len > result.len + 2
        && ngx_strncmp(out->data, result.data, result.len) == 0)
    {
        data.data = out->data + result.len;
        data.len = out->len - result.len - 2;

        if (ngx_http_backend_superjson_wrap(pool, &data, dates, &wrapped)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        s.len = result.len + wrapped.len + 2;
        s.data = ngx_pnalloc(pool, s.len);
        if (s.data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(s.data, result.data, result.len);
        p = ngx_cpymem(p, wrapped.data, wrapped.len);
        *p++ = '}';
        *p = '}';

        *out = s;
        return NGX_OK;
    }

    return ngx_http_backend_superjson_error(pool, out);
}


ngx_int_t
ngx_http_backend_superjson_error(ngx_pool_t *pool, ngx_str_t *out)
{
    u_char     *p;
    ngx_str_t   s;

    static ngx_str_t  error = ngx_string("{\"error\":");

    if (out->len <= error.len + 1
        || ngx_strncmp(out->data, error.data, error.len) != 0)
    {
        return NGX_OK;
    }

    s.len = out->len + sizeof("{\"json\":}") - 1;
    s.data = ngx_pnalloc(pool, s.len);
    if (s.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(s.data, "{\"error\":{\"json\":",
                   sizeof("{\"error\":{\"json\":") - 1);
    p = ngx_cpymem(p, out->data + error.len, out->len - error.len);
    *p = '}';

    *out = s;

    return NGX_OK;
}


/*
 * A JSON line of httpBatchStreamLink (v11), serialized whole: the head
 * (one NULL) with the calls done, or the line of one call.  The calls'
 * data are at "<i>.0.0.result.data" in the head, "2.0.0.result.data" in a
 * later line
 */

ngx_int_t
ngx_http_backend_superjson_line(ngx_pool_t *pool, ngx_str_t *line,
    ngx_http_backend_ctx_t *ctx, ngx_http_backend_call_t *one)
{
    u_char                   *p;
    ngx_str_t                *path, *d;
    ngx_uint_t                i, j, n;
    ngx_array_t               paths;
    ngx_http_backend_call_t  *call;

    if (ngx_array_init(&paths, pool, 4, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    n = one ? 1 : ctx->ncalls;

    for (i = 0; i < n; i++) {
        call = one ? one : &ctx->calls[i];

        if (!call->done || call->dates == NULL
            || call->code != NGX_HTTP_BACKEND_OK)
        {
            continue;
        }

        d = call->dates->elts;

        for (j = 0; j < call->dates->nelts; j++) {
            path = ngx_array_push(&paths);
            if (path == NULL) {
                return NGX_ERROR;
            }

            path->data = ngx_pnalloc(pool, NGX_INT_T_LEN
                                     + sizeof(".0.0.result.data.") - 1
                                     + d[j].len);
            if (path->data == NULL) {
                return NGX_ERROR;
            }

            p = one ? ngx_sprintf(path->data, "2.0.0.result.data")
                    : ngx_sprintf(path->data, "%ui.0.0.result.data",
                                  call->index);

            if (d[j].len) {
                *p++ = '.';
                p = ngx_cpymem(p, d[j].data, d[j].len);
            }

            path->len = p - path->data;
        }
    }

    return ngx_http_backend_superjson_wrap(pool, line, &paths, line);
}


/*
 * {"json":J} or {"json":J,"meta":{"values":{"path":["Date"],...},"v":1}};
 * the one path "" (the value is a Date) is "values":["Date"]
 */

static ngx_int_t
ngx_http_backend_superjson_wrap(ngx_pool_t *pool, ngx_str_t *json,
    ngx_array_t *paths, ngx_str_t *out)
{
    u_char      *p;
    size_t       len;
    ngx_str_t   *path, j;
    ngx_uint_t   i, n, root;

    static u_char  date[] = ":[\"Date\"]";

    /* json and out may be the same */
    j = *json;
    json = &j;

    n = paths ? paths->nelts : 0;
    path = n ? paths->elts : NULL;
    root = (n == 1 && path[0].len == 0);

    len = sizeof("{\"json\":}") - 1 + json->len;

    if (n) {
        len += sizeof(",\"meta\":{\"values\":{},\"v\":1}") - 1;

        for (i = 0; i < n; i++) {
            len += ngx_http_backend_json_str_len(path[i].data, path[i].len)
                   + sizeof(date) - 1 + 1;
        }
    }

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;

    p = ngx_cpymem(p, "{\"json\":", sizeof("{\"json\":") - 1);
    p = ngx_cpymem(p, json->data, json->len);

    if (root) {
        p = ngx_cpymem(p, ",\"meta\":{\"values\":[\"Date\"]",
                       sizeof(",\"meta\":{\"values\":[\"Date\"]") - 1);

    } else if (n) {
        p = ngx_cpymem(p, ",\"meta\":{\"values\":{",
                       sizeof(",\"meta\":{\"values\":{") - 1);

        for (i = 0; i < n; i++) {
            if (i) {
                *p++ = ',';
            }

            p = ngx_http_backend_json_str_write(p, path[i].data, path[i].len);
            p = ngx_cpymem(p, date, sizeof(date) - 1);
        }

        *p++ = '}';
    }

    if (n) {
        p = ngx_cpymem(p, ",\"v\":1}", sizeof(",\"v\":1}") - 1);
    }

    *p++ = '}';

    out->len = p - out->data;

    return NGX_OK;
}
