
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_backend.h"


/* type oids, from pg_type.dat; stable across server versions */

#define NGX_PG_BOOL         16
#define NGX_PG_INT8         20
#define NGX_PG_INT2         21
#define NGX_PG_INT4         23
#define NGX_PG_OID          26
#define NGX_PG_JSON         114
#define NGX_PG_FLOAT4       700
#define NGX_PG_FLOAT8       701
#define NGX_PG_TIMESTAMP    1114
#define NGX_PG_TIMESTAMPTZ  1184
#define NGX_PG_NUMERIC      1700
#define NGX_PG_JSONB        3802

/* "+275760-09-13T00:00:00.000Z" with its quotes, the longest a Date has */
#define NGX_HTTP_BACKEND_PG_DATE_LEN  29


#define NGX_HTTP_BACKEND_PG_ARRAY_DEPTH  6


#define ngx_http_backend_pg_digit(c)  ((u_char) ((c) - '0') < 10)


/*
 * superjson's Dates in an array (result_dates()): each timestamp the
 * array writer reads is added to paths as prefix.i.j, its indexes
 */

typedef struct {
    ngx_array_t    *paths;
    ngx_pool_t     *pool;
    ngx_str_t       prefix;
    ngx_uint_t      depth;
    ngx_uint_t      index[NGX_HTTP_BACKEND_PG_ARRAY_DEPTH + 1];
    ngx_uint_t      failed;
} ngx_http_backend_pg_dates_t;


typedef struct {
    u_char                       *p;
    size_t                        n;
    ngx_http_backend_pg_dates_t  *dates;    /* NULL: not collected */
} ngx_http_backend_pg_out_t;


typedef struct {
    Oid         array;
    Oid         element;
} ngx_http_backend_pg_array_type_t;


typedef struct {
    Oid         type;
    Oid         element;    /* of an array type, else 0 */
    ngx_uint_t  text;       /* written as a string of its text */
} ngx_http_backend_pg_col_t;


/*
 * Text cells of a result up to this many bytes in all are bounded by 6
 * bytes a byte (\u00XX) and read once, while written; past it, the
 * wasted memory would be too much: they are measured first
 */
#define NGX_HTTP_BACKEND_PG_TEXT_UNREAD  8192


static void ngx_http_backend_pg_out(ngx_http_backend_pg_out_t *out,
    u_char *s, size_t len);
static void ngx_http_backend_pg_out_str(ngx_http_backend_pg_out_t *out,
    u_char *s, size_t len);
static void ngx_http_backend_pg_scalar(ngx_http_backend_pg_out_t *out,
    Oid type, u_char *v, size_t len);
static void ngx_http_backend_pg_json(ngx_http_backend_pg_out_t *out,
    u_char *v, size_t len);
static ngx_int_t ngx_http_backend_pg_timestamp(ngx_http_backend_pg_out_t *out,
    u_char *v, size_t len);
static ngx_int_t ngx_http_backend_pg_timestamp_utc(
    ngx_http_backend_pg_out_t *out, u_char *v, size_t len);
static void ngx_http_backend_pg_date_path(ngx_http_backend_pg_out_t *out);
static u_char *ngx_http_backend_pg_digits(u_char *p, int64_t n,
    ngx_uint_t width);
static Oid ngx_http_backend_pg_element(Oid type);
static ngx_uint_t ngx_http_backend_pg_text(Oid type);
static u_char *ngx_http_backend_pg_array(ngx_http_backend_pg_out_t *out,
    Oid type, u_char *p, u_char *last, u_char *scratch, ngx_uint_t depth);


static ngx_http_backend_pg_array_type_t  ngx_http_backend_pg_arrays[] = {
    { 1000, NGX_PG_BOOL },
    { 1005, NGX_PG_INT2 },
    { 1007, NGX_PG_INT4 },
    { 1016, NGX_PG_INT8 },
    { 1028, NGX_PG_OID },
    { 1021, NGX_PG_FLOAT4 },
    { 1022, NGX_PG_FLOAT8 },
    { 1231, NGX_PG_NUMERIC },
    { 199, NGX_PG_JSON },
    { 3807, NGX_PG_JSONB },
    { 1115, NGX_PG_TIMESTAMP },
    { 1185, NGX_PG_TIMESTAMPTZ },
    { 1009, 25 },                   /* text */
    { 1015, 1043 },                 /* varchar */
    { 1014, 1042 },                 /* bpchar */
    { 1002, 18 },                   /* char */
    { 1003, 19 },                   /* name */
    { 2951, 2950 },                 /* uuid */
    { 1182, 1082 },                 /* date */
    { 1183, 1083 },                 /* time */
    { 1270, 1266 },                 /* timetz */
    { 1187, 1186 },                 /* interval */
    { 0, 0 }
};


size_t
ngx_http_backend_pg_value(u_char *p, Oid type, u_char *v, size_t len,
    u_char *scratch)
{
    Oid                        element;
    ngx_http_backend_pg_out_t  out;

    out.p = NULL;
    out.n = 0;
    out.dates = NULL;

    element = ngx_http_backend_pg_element(type);

    if (element == 0) {
        out.p = p;
        ngx_http_backend_pg_scalar(&out, type, v, len);
        return out.n;
    }

    /*
     * An array literal is read once without writing: one we do not read
     * is written as text instead, and what the array writer would have
     * written up to where it stopped can be longer than that text.
     */

    if (ngx_http_backend_pg_array(&out, element, v, v + len, scratch, 0)
        != NULL)
    {
        if (p) {
            out.p = p;
            out.n = 0;
            (void) ngx_http_backend_pg_array(&out, element, v, v + len,
                                             scratch, 0);
        }

    } else {
        out.p = p;
        out.n = 0;
        ngx_http_backend_pg_out_str(&out, v, len);
    }

    return out.n;
}


ngx_int_t
ngx_http_backend_pg_result_json(ngx_pool_t *pool, PGresult *res,
    ngx_http_backend_pg_shape_e shape, ngx_str_t *out)
{
    int                         row, col, nrows, ncols;
    u_char                     *p, *v, *scratch, *name;
    size_t                      len, max, n, text, ntext;
    ngx_str_t                  *keys, *cells, *cell;
    ngx_http_backend_pg_col_t  *cols;
    ngx_http_backend_pg_out_t   o;

    nrows = PQntuples(res);
    ncols = PQnfields(res);

    if (shape != NGX_HTTP_BACKEND_PG_ROWS && nrows > 1) {
        nrows = 1;
    }

    if (nrows == 0 || ncols == 0) {
        if (shape == NGX_HTTP_BACKEND_PG_ROWS) {
            ngx_str_set(out, "[]");

        } else if (shape == NGX_HTTP_BACKEND_PG_ROW && nrows) {
            ngx_str_set(out, "{}");

        } else {
            ngx_str_set(out, "null");
        }

        return NGX_OK;
    }

    if (shape == NGX_HTTP_BACKEND_PG_VALUE) {
        ncols = 1;
    }

    cols = ngx_palloc(pool, ncols * (sizeof(ngx_http_backend_pg_col_t)
                                     + sizeof(ngx_str_t)));
    if (cols == NULL) {
        return NGX_ERROR;
    }

    keys = (ngx_str_t *) (cols + ncols);

    /*
     * The cells as the first pass reads them (data NULL: SQL NULL), for
     * the second: libpq's accessors check their arguments on every call.
     * As much memory as libpq's own descriptors of the cells.
     */

    cells = ngx_palloc(pool, (size_t) nrows * ncols * sizeof(ngx_str_t));
    if (cells == NULL) {
        return NGX_ERROR;
    }

    /*
     * First a cheap upper bound of the length: most types bound their
     * JSON by their text without reading it; the keys, written once as
     * "name":, are copied into every row.
     */

    max = 0;

    for (col = 0; col < ncols; col++) {
        cols[col].type = PQftype(res, col);
        cols[col].element = ngx_http_backend_pg_element(cols[col].type);
        cols[col].text = cols[col].element == 0
                         && ngx_http_backend_pg_text(cols[col].type);

        if (cols[col].element) {
            for (row = 0; row < nrows; row++) {
                max = ngx_max(max, (size_t) PQgetlength(res, row, col));
            }
        }
    }

    scratch = NULL;

    if (max) {
        scratch = ngx_pnalloc(pool, max);
        if (scratch == NULL) {
            return NGX_ERROR;
        }
    }

    /*
     * One pass writes, after a cheap upper bound of the length: most
     * types bound their JSON by their text without reading it (text
     * itself while the result has little), and the keys, escaped once as
     * "name":, are copied into every row.
     */

    len = 2 + 3 * nrows;
    text = 0;
    ntext = 0;

    for (col = 0; col < ncols; col++) {

        if (shape != NGX_HTTP_BACKEND_PG_VALUE) {
            name = (u_char *) PQfname(res, col);
            n = ngx_strlen(name);

            keys[col].len = ngx_http_backend_json_str_len(name, n) + 1;
            keys[col].data = ngx_pnalloc(pool, keys[col].len);
            if (keys[col].data == NULL) {
                return NGX_ERROR;
            }

            p = ngx_http_backend_json_str_write(keys[col].data, name, n);
            *p = ':';

            len += (keys[col].len + 1) * nrows;
        }

        for (row = 0; row < nrows; row++) {

            cell = &cells[row * ncols + col];

            if (PQgetisnull(res, row, col)) {
                cell->data = NULL;
                len += 4;
                continue;
            }

            v = (u_char *) PQgetvalue(res, row, col);
            n = PQgetlength(res, row, col);

            cell->data = v;
            cell->len = n;

            if (cols[col].element) {
                len += ngx_http_backend_pg_value(NULL, cols[col].type, v, n,
                                                 scratch);

            } else if (cols[col].text) {
                text += n;
                ntext++;

            } else {
                len += ngx_http_backend_pg_bound(cols[col].type, v, n);
            }
        }
    }

    if (text <= NGX_HTTP_BACKEND_PG_TEXT_UNREAD) {
        len += 6 * text + 2 * ntext;

    } else {
        for (col = 0; col < ncols; col++) {
            if (!cols[col].text) {
                continue;
            }

            for (row = 0; row < nrows; row++) {
                cell = &cells[row * ncols + col];

                if (cell->data) {
                    len += ngx_http_backend_json_str_len(cell->data,
                                                         cell->len);
                }
            }
        }
    }

    out->data = ngx_pnalloc(pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = out->data;

    if (shape == NGX_HTTP_BACKEND_PG_ROWS) {
        *p++ = '[';
    }

    for (row = 0; row < nrows; row++) {

        if (shape != NGX_HTTP_BACKEND_PG_VALUE) {
            if (row) {
                *p++ = ',';
            }

            *p++ = '{';
        }

        for (col = 0; col < ncols; col++) {

            if (shape != NGX_HTTP_BACKEND_PG_VALUE) {
                if (col) {
                    *p++ = ',';
                }

                p = ngx_cpymem(p, keys[col].data, keys[col].len);
            }

            cell = &cells[row * ncols + col];

            if (cell->data == NULL) {
                p = ngx_cpymem(p, "null", 4);
                continue;
            }

            v = cell->data;
            n = cell->len;

            if (cols[col].element) {
                p += ngx_http_backend_pg_value(p, cols[col].type, v, n,
                                               scratch);
                continue;
            }

            o.p = p;
            o.n = 0;
            o.dates = NULL;
            ngx_http_backend_pg_scalar(&o, cols[col].type, v, n);
            p = o.p;
        }

        if (shape != NGX_HTTP_BACKEND_PG_VALUE) {
            *p++ = '}';
        }
    }

    if (shape == NGX_HTTP_BACKEND_PG_ROWS) {
        *p++ = ']';
    }

    out->len = p - out->data;

    return NGX_OK;
}


ngx_int_t
ngx_http_backend_pg_result_dates(ngx_pool_t *pool, PGresult *res,
    ngx_http_backend_pg_shape_e shape, ngx_array_t **dates)
{
    int                         row, col, nrows, ncols;
    u_char                     *p, *v, *name, *scratch;
    size_t                      len, n, k;
    Oid                         type, element;
    ngx_str_t                  *path, *keys, base;
    ngx_uint_t                  i;
    ngx_array_t                 found;
    ngx_http_backend_pg_out_t   o;
    ngx_http_backend_pg_dates_t  walk;

    *dates = NULL;

    nrows = PQntuples(res);
    ncols = PQnfields(res);

    if (shape != NGX_HTTP_BACKEND_PG_ROWS && nrows > 1) {
        nrows = 1;
    }

    if (shape == NGX_HTTP_BACKEND_PG_VALUE && ncols > 1) {
        ncols = 1;
    }

    keys = NULL;

    /* row by row, as superjson lists them */

    for (row = 0; row < nrows; row++) {

        for (col = 0; col < ncols; col++) {
            type = PQftype(res, col);
            element = ngx_http_backend_pg_element(type);

            if ((type != NGX_PG_TIMESTAMP && type != NGX_PG_TIMESTAMPTZ
                 && element != NGX_PG_TIMESTAMP
                 && element != NGX_PG_TIMESTAMPTZ)
                || PQgetisnull(res, row, col))
            {
                continue;
            }

            v = (u_char *) PQgetvalue(res, row, col);
            len = PQgetlength(res, row, col);

            o.p = NULL;
            o.n = 0;
            o.dates = NULL;

            /* infinity is written null: no Date */
            if (element == 0
                && ngx_http_backend_pg_timestamp(&o, v, len) != NGX_OK)
            {
                continue;
            }

            if (*dates == NULL) {
                *dates = ngx_array_create(pool, 4, sizeof(ngx_str_t));
                if (*dates == NULL) {
                    return NGX_ERROR;
                }

                keys = ngx_pcalloc(pool, ncols * sizeof(ngx_str_t));
                if (keys == NULL) {
                    return NGX_ERROR;
                }
            }

            if (shape != NGX_HTTP_BACKEND_PG_VALUE && keys[col].data == NULL) {
                /* superjson escapes "." and "\" in a key with "\" */
                name = (u_char *) PQfname(res, col);
                n = ngx_strlen(name);

                for (k = 0, keys[col].len = n; k < n; k++) {
                    if (name[k] == '.' || name[k] == '\\') {
                        keys[col].len++;
                    }
                }

                keys[col].data = ngx_pnalloc(pool, keys[col].len + 1);
                if (keys[col].data == NULL) {
                    return NGX_ERROR;
                }

                for (p = keys[col].data, k = 0; k < n; k++) {
                    if (name[k] == '.' || name[k] == '\\') {
                        *p++ = '\\';
                    }

                    *p++ = name[k];
                }
            }

            /* the value's own path: "", "key", "row.key" */

            if (shape == NGX_HTTP_BACKEND_PG_VALUE) {
                ngx_str_set(&base, "");

            } else if (shape == NGX_HTTP_BACKEND_PG_ROW) {
                base = keys[col];

            } else {
                base.data = ngx_pnalloc(pool,
                                        NGX_INT_T_LEN + 1 + keys[col].len);
                if (base.data == NULL) {
                    return NGX_ERROR;
                }

                base.len = ngx_sprintf(base.data, "%d.%V", row, &keys[col])
                           - base.data;
            }

            if (element == 0) {
                path = ngx_array_push(*dates);
                if (path == NULL) {
                    return NGX_ERROR;
                }

                *path = base;
                continue;
            }

            /*
             * an array: its elements' paths, as the array writer walks
             * it; none if it would be written as text instead
             */

            scratch = ngx_pnalloc(pool, len + 1);
            if (scratch == NULL) {
                return NGX_ERROR;
            }

            if (ngx_array_init(&found, pool, 4, sizeof(ngx_str_t)) != NGX_OK) {
                return NGX_ERROR;
            }

            ngx_memzero(&walk, sizeof(ngx_http_backend_pg_dates_t));
            walk.paths = &found;
            walk.pool = pool;
            walk.prefix = base;
            o.dates = &walk;

            if (ngx_http_backend_pg_array(&o, element, v, v + len, scratch, 0)
                == NULL)
            {
                continue;
            }

            if (walk.failed) {
                return NGX_ERROR;
            }

            for (i = 0; i < found.nelts; i++) {
                path = ngx_array_push(*dates);
                if (path == NULL) {
                    return NGX_ERROR;
                }

                *path = ((ngx_str_t *) found.elts)[i];
            }
        }
    }

    return NGX_OK;
}


/* an array element's superjson path: the column's, then its indexes */

static void
ngx_http_backend_pg_date_path(ngx_http_backend_pg_out_t *out)
{
    u_char                       *p;
    ngx_str_t                    *path;
    ngx_uint_t                    i;
    ngx_http_backend_pg_dates_t  *d;

    d = out->dates;

    path = ngx_array_push(d->paths);
    if (path == NULL) {
        d->failed = 1;
        return;
    }

    path->data = ngx_pnalloc(d->pool, d->prefix.len
                             + (d->depth + 1) * (NGX_INT_T_LEN + 1));
    if (path->data == NULL) {
        d->failed = 1;
        return;
    }

    p = ngx_cpymem(path->data, d->prefix.data, d->prefix.len);

    for (i = 0; i <= d->depth; i++) {
        if (p != path->data) {
            *p++ = '.';
        }

        p = ngx_sprintf(p, "%ui", d->index[i]);
    }

    path->len = p - path->data;
}


static void
ngx_http_backend_pg_out(ngx_http_backend_pg_out_t *out, u_char *s, size_t len)
{
    if (out->p) {
        out->p = ngx_cpymem(out->p, s, len);
    }

    out->n += len;
}


static void
ngx_http_backend_pg_out_str(ngx_http_backend_pg_out_t *out, u_char *s,
    size_t len)
{
    size_t  n;

    if (out->p) {
        n = ngx_http_backend_json_str_write(out->p, s, len) - out->p;
        out->p += n;

    } else {
        n = ngx_http_backend_json_str_len(s, len);
    }

    out->n += n;
}


size_t
ngx_http_backend_pg_bound(Oid type, u_char *v, size_t len)
{
    switch (type) {

    case NGX_PG_BOOL:
        return sizeof("false") - 1;

    case NGX_PG_INT2:
    case NGX_PG_INT4:
    case NGX_PG_INT8:
    case NGX_PG_OID:
    case NGX_PG_JSON:
    case NGX_PG_JSONB:
        return len;

    case NGX_PG_FLOAT4:
    case NGX_PG_FLOAT8:
        return ngx_max(len, sizeof("null") - 1);

    case NGX_PG_TIMESTAMP:
    case NGX_PG_TIMESTAMPTZ:
        return NGX_HTTP_BACKEND_PG_DATE_LEN;

    default:
        return ngx_http_backend_json_str_len(v, len);
    }
}


/* 1: the type is written as a JSON string of its text (bound above) */

static ngx_uint_t
ngx_http_backend_pg_text(Oid type)
{
    switch (type) {

    case NGX_PG_BOOL:
    case NGX_PG_INT2:
    case NGX_PG_INT4:
    case NGX_PG_INT8:
    case NGX_PG_OID:
    case NGX_PG_JSON:
    case NGX_PG_JSONB:
    case NGX_PG_FLOAT4:
    case NGX_PG_FLOAT8:
    case NGX_PG_TIMESTAMP:
    case NGX_PG_TIMESTAMPTZ:
        return 0;

    default:
        return 1;
    }
}


static void
ngx_http_backend_pg_scalar(ngx_http_backend_pg_out_t *out, Oid type,
    u_char *v, size_t len)
{
    switch (type) {

    case NGX_PG_BOOL:
        if (len && v[0] == 't') {
            ngx_http_backend_pg_out(out, (u_char *) "true", 4);

        } else {
            ngx_http_backend_pg_out(out, (u_char *) "false", 5);
        }

        return;

    case NGX_PG_INT2:
    case NGX_PG_INT4:
    case NGX_PG_INT8:
    case NGX_PG_OID:
        ngx_http_backend_pg_out(out, v, len);
        return;

    case NGX_PG_FLOAT4:
    case NGX_PG_FLOAT8:
        /* JSON.stringify() writes NaN and the infinities as null */
        if (len && (v[len - 1] == 'N' || v[len - 1] == 'y')) {
            ngx_http_backend_pg_out(out, (u_char *) "null", 4);

        } else {
            ngx_http_backend_pg_out(out, v, len);
        }

        return;

    case NGX_PG_JSON:
    case NGX_PG_JSONB:
        ngx_http_backend_pg_json(out, v, len);
        return;

    case NGX_PG_TIMESTAMP:
    case NGX_PG_TIMESTAMPTZ:
        if (ngx_http_backend_pg_timestamp(out, v, len) == NGX_OK) {
            if (out->dates) {
                ngx_http_backend_pg_date_path(out);
            }

            return;
        }

        /* infinity and the like: an invalid Date, which writes null */
        ngx_http_backend_pg_out(out, (u_char *) "null", 4);
        return;

    default:
        /* numeric (exact, as node-postgres gives it), text, uuid, ... */
        ngx_http_backend_pg_out_str(out, v, len);
        return;
    }
}


/* json/jsonb text without the blanks JSON.stringify() would not write */

static void
ngx_http_backend_pg_json(ngx_http_backend_pg_out_t *out, u_char *v,
    size_t len)
{
    u_char      *p, *last, *start;
    ngx_uint_t   string;

    string = 0;
    start = v;
    last = v + len;

    for (p = v; p < last; p++) {

        if (string) {
            if (*p == '\\') {
                p++;

            } else if (*p == '"') {
                string = 0;
            }

            continue;
        }

        if (*p == '"') {
            string = 1;
            continue;
        }

        if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') {
            ngx_http_backend_pg_out(out, start, p - start);
            start = p + 1;
        }
    }

    if (start < last) {
        ngx_http_backend_pg_out(out, start, last - start);
    }
}


static ngx_int_t
ngx_http_backend_pg_number(u_char **pp, u_char *last, ngx_uint_t min,
    ngx_uint_t max, ngx_int_t *value)
{
    u_char     *p;
    ngx_int_t   v;
    ngx_uint_t  n;

    p = *pp;
    v = 0;

    for (n = 0; p < last && *p >= '0' && *p <= '9' && n < max; n++) {
        v = v * 10 + (*p++ - '0');
    }

    if (n < min) {
        return NGX_ERROR;
    }

    *pp = p;
    *value = v;

    return NGX_OK;
}


/* days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant) */

static int64_t
ngx_http_backend_pg_days(int64_t y, ngx_int_t m, ngx_int_t d)
{
    int64_t  era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}


static void
ngx_http_backend_pg_civil(int64_t z, int64_t *y, ngx_int_t *m, ngx_int_t *d)
{
    int64_t  era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;

    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}


/*
 * "2025-06-02 14:00:00.123456+00" (DateStyle ISO) to
 * "2025-06-02T14:00:00.123Z", milliseconds truncated as a JS Date keeps
 * them; timestamps without a zone are read as UTC
 */

static ngx_int_t
ngx_http_backend_pg_timestamp(ngx_http_backend_pg_out_t *out, u_char *v,
    size_t len)
{
    u_char      *p, *last, buf[NGX_HTTP_BACKEND_PG_DATE_LEN];
    int64_t      year, days, ms;
    ngx_int_t    mon, day, hour, min, sec, frac, oh, om, os, sign, n;

    if (ngx_http_backend_pg_timestamp_utc(out, v, len) == NGX_OK) {
        return NGX_OK;
    }

    p = v;
    last = v + len;

    if (ngx_http_backend_pg_number(&p, last, 4, 7, &n) != NGX_OK) {
        return NGX_ERROR;
    }

    year = n;

    if (p == last || *p++ != '-'
        || ngx_http_backend_pg_number(&p, last, 2, 2, &mon) != NGX_OK
        || p == last || *p++ != '-'
        || ngx_http_backend_pg_number(&p, last, 2, 2, &day) != NGX_OK
        || p == last || (*p != ' ' && *p != 'T'))
    {
        return NGX_ERROR;
    }

    p++;

    if (ngx_http_backend_pg_number(&p, last, 2, 2, &hour) != NGX_OK
        || p == last || *p++ != ':'
        || ngx_http_backend_pg_number(&p, last, 2, 2, &min) != NGX_OK
        || p == last || *p++ != ':'
        || ngx_http_backend_pg_number(&p, last, 2, 2, &sec) != NGX_OK)
    {
        return NGX_ERROR;
    }

    frac = 0;

    if (p < last && *p == '.') {
        p++;

        for (n = 0; p < last && *p >= '0' && *p <= '9'; n++, p++) {
            if (n < 3) {
                frac = frac * 10 + (*p - '0');
            }
        }

        for ( /* void */ ; n < 3; n++) {
            frac *= 10;
        }
    }

    oh = 0;
    om = 0;
    os = 0;
    sign = 1;

    if (p < last && (*p == '+' || *p == '-')) {
        sign = (*p++ == '-') ? -1 : 1;

        if (ngx_http_backend_pg_number(&p, last, 2, 2, &oh) != NGX_OK) {
            return NGX_ERROR;
        }

        if (p < last && *p == ':') {
            p++;
            if (ngx_http_backend_pg_number(&p, last, 2, 2, &om) != NGX_OK) {
                return NGX_ERROR;
            }

            if (p < last && *p == ':') {
                p++;
                if (ngx_http_backend_pg_number(&p, last, 2, 2, &os) != NGX_OK)
                {
                    return NGX_ERROR;
                }
            }
        }
    }

    if (last - p == 3 && ngx_strncmp(p, " BC", 3) == 0) {
        year = 1 - year;
        p = last;
    }

    if (p != last) {
        return NGX_ERROR;
    }

    days = ngx_http_backend_pg_days(year, mon, day);

    ms = ((days * 24 + hour) * 60 + min) * 60 + sec;
    ms -= sign * (oh * 3600 + om * 60 + os);
    ms = ms * 1000 + frac;

    /* a Date holds +-8.64e15 ms; past that toJSON() writes null */

    if (ms > 8640000000000000LL || ms < -8640000000000000LL) {
        return NGX_ERROR;
    }

    /* back to the calendar, now in UTC */

    days = ms >= 0 ? ms / 86400000 : (ms - 86399999) / 86400000;
    ms -= days * 86400000;

    ngx_http_backend_pg_civil(days, &year, &mon, &day);

    frac = ms % 1000;
    ms /= 1000;
    sec = ms % 60;
    ms /= 60;
    min = ms % 60;
    hour = ms / 60;

    /* by hand: this runs for every timestamp of every result */

    p = buf;
    *p++ = '"';

    if (year >= 0 && year <= 9999) {
        p = ngx_http_backend_pg_digits(p, year, 4);

    } else {
        /* the extended years of toISOString() */
        *p++ = year < 0 ? '-' : '+';
        p = ngx_http_backend_pg_digits(p, year < 0 ? -year : year, 6);
    }

    *p++ = '-';
    p = ngx_http_backend_pg_digits(p, mon, 2);
    *p++ = '-';
    p = ngx_http_backend_pg_digits(p, day, 2);
    *p++ = 'T';
    p = ngx_http_backend_pg_digits(p, hour, 2);
    *p++ = ':';
    p = ngx_http_backend_pg_digits(p, min, 2);
    *p++ = ':';
    p = ngx_http_backend_pg_digits(p, sec, 2);
    *p++ = '.';
    p = ngx_http_backend_pg_digits(p, frac, 3);
    *p++ = 'Z';
    *p++ = '"';

    ngx_http_backend_pg_out(out, buf, p - buf);

    return NGX_OK;
}


/*
 * The common case, a valid UTC time of years 0 to 9999 (what a server
 * with TimeZone UTC sends, and every timestamp without a zone), is its
 * Date already: the fields are copied, the calendar is not computed.
 * NGX_DECLINED: anything else, for ngx_http_backend_pg_timestamp().
 */

static ngx_int_t
ngx_http_backend_pg_timestamp_utc(ngx_http_backend_pg_out_t *out, u_char *v,
    size_t len)
{
    u_char       *p, *last, *b, *start, *frac;
    u_char        buf[NGX_HTTP_BACKEND_PG_DATE_LEN];
    ngx_uint_t    n, nfrac, year, mon, day;

    static u_char  mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30,
                               31 };

    if (len < 19 || v[4] != '-' || v[7] != '-'
        || (v[10] != ' ' && v[10] != 'T') || v[13] != ':' || v[16] != ':')
    {
        return NGX_DECLINED;
    }

    /* the digits of "YYYY-MM-DD HH:MM:SS", tested without a branch each */

    if (!(ngx_http_backend_pg_digit(v[0]) & ngx_http_backend_pg_digit(v[1])
          & ngx_http_backend_pg_digit(v[2]) & ngx_http_backend_pg_digit(v[3])
          & ngx_http_backend_pg_digit(v[5]) & ngx_http_backend_pg_digit(v[6])
          & ngx_http_backend_pg_digit(v[8]) & ngx_http_backend_pg_digit(v[9])
          & ngx_http_backend_pg_digit(v[11])
          & ngx_http_backend_pg_digit(v[12])
          & ngx_http_backend_pg_digit(v[14])
          & ngx_http_backend_pg_digit(v[15])
          & ngx_http_backend_pg_digit(v[17])
          & ngx_http_backend_pg_digit(v[18])))
    {
        return NGX_DECLINED;
    }

    year = (v[0] - '0') * 1000 + (v[1] - '0') * 100 + (v[2] - '0') * 10
           + (v[3] - '0');
    mon = (v[5] - '0') * 10 + (v[6] - '0');
    day = (v[8] - '0') * 10 + (v[9] - '0');

    /* out of range fields are left to the calendar, which carries them */

    if (mon < 1 || mon > 12 || day < 1 || day > mdays[mon - 1]
        || (mon == 2 && day == 29
            && (year % 4 || (year % 100 == 0 && year % 400)))
        || v[11] > '2' || (v[11] == '2' && v[12] > '3')
        || v[14] > '5' || v[17] > '5')
    {
        return NGX_DECLINED;
    }

    /* the milliseconds, and nothing but "+00" after them */

    p = v + 19;
    last = v + len;
    frac = p;
    nfrac = 0;

    if (p < last && *p == '.') {
        for (frac = ++p; p < last && ngx_http_backend_pg_digit(*p); p++) {
            /* void */
        }

        nfrac = p - frac;
    }

    if (p != last
        && !(last - p == 3 && p[0] == '+' && p[1] == '0' && p[2] == '0'))
    {
        return NGX_DECLINED;
    }

    /* nothing declines from here: written in place, where there is room */

    start = out->p ? out->p : buf;

    b = start;
    *b++ = '"';
    b = ngx_cpymem(b, v, 10);
    *b++ = 'T';
    b = ngx_cpymem(b, v + 11, 8);
    *b++ = '.';

    for (n = 0; n < 3; n++) {
        b[n] = (n < nfrac) ? frac[n] : '0';
    }

    b += 3;
    *b++ = 'Z';
    *b++ = '"';

    out->n += b - start;

    if (out->p) {
        out->p = b;
    }

    return NGX_OK;
}


/* n >= 0 in exactly width digits (n < 10^width) */

static u_char *
ngx_http_backend_pg_digits(u_char *p, int64_t n, ngx_uint_t width)
{
    ngx_uint_t  i;

    for (i = width; i > 0; i--) {
        p[i - 1] = (u_char) ('0' + n % 10);
        n /= 10;
    }

    return p + width;
}


static Oid
ngx_http_backend_pg_element(Oid type)
{
    ngx_http_backend_pg_array_type_t  *a;

    for (a = ngx_http_backend_pg_arrays; a->array; a++) {
        if (a->array == type) {
            return a->element;
        }
    }

    return 0;
}


/*
 * An array literal: {1,2,NULL}, {{1,2},{3,4}}, {"a b","c\"d"}, with an
 * optional [1:2]= dimension prefix.  Returns the position after it, or
 * NULL for what it does not read.
 */

static u_char *
ngx_http_backend_pg_array(ngx_http_backend_pg_out_t *out, Oid type,
    u_char *p, u_char *last, u_char *scratch, ngx_uint_t depth)
{
    u_char      *s, *d;
    ngx_uint_t   n;

    if (depth == 0 && p < last && *p == '[') {
        while (p < last && *p != '=') {
            p++;
        }

        if (p == last) {
            return NULL;
        }

        p++;
    }

    if (p == last || *p != '{' || depth > NGX_HTTP_BACKEND_PG_ARRAY_DEPTH) {
        return NULL;
    }

    p++;

    ngx_http_backend_pg_out(out, (u_char *) "[", 1);

    for (n = 0; ; n++) {

        while (p < last && *p == ' ') {
            p++;
        }

        if (p == last) {
            return NULL;
        }

        if (*p == '}' && n == 0) {
            p++;
            break;
        }

        if (n) {
            ngx_http_backend_pg_out(out, (u_char *) ",", 1);
        }

        if (out->dates) {
            out->dates->depth = depth;
            out->dates->index[depth] = n;
        }

        if (*p == '{') {
            p = ngx_http_backend_pg_array(out, type, p, last, scratch,
                                          depth + 1);
            if (p == NULL) {
                return NULL;
            }

        } else if (*p == '"') {
            d = scratch;

            for (p++; p < last && *p != '"'; p++) {
                if (*p == '\\' && p + 1 < last) {
                    p++;
                }

                *d++ = *p;
            }

            if (p == last) {
                return NULL;
            }

            p++;

            ngx_http_backend_pg_scalar(out, type, scratch, d - scratch);

        } else {
            s = p;

            while (p < last && *p != ',' && *p != '}') {
                p++;
            }

            d = p;
            while (d > s && d[-1] == ' ') {
                d--;
            }

            if (d - s == 4 && ngx_strncasecmp(s, (u_char *) "null", 4) == 0)
            {
                ngx_http_backend_pg_out(out, (u_char *) "null", 4);

            } else {
                ngx_http_backend_pg_scalar(out, type, s, d - s);
            }
        }

        while (p < last && *p == ' ') {
            p++;
        }

        if (p == last) {
            return NULL;
        }

        if (*p == ',') {
            p++;
            continue;
        }

        if (*p == '}') {
            p++;
            break;
        }

        return NULL;
    }

    ngx_http_backend_pg_out(out, (u_char *) "]", 1);

    return p;
}


/*
 * The highest $N placeholder of a statement, outside string literals,
 * quoted identifiers, dollar quotes and comments.  NGX_DECLINED: a number
 * from $1 to the highest is not used (Postgres cannot type it, every call
 * would fail), or $0 is; *n is that number.  NGX_ERROR: an unterminated
 * quote or comment.
 */

ngx_int_t
ngx_http_backend_pg_sql_params(ngx_str_t *sql, ngx_uint_t *n)
{
    u_char      *p, *last, *tag, *q;
    size_t       tlen;
    ngx_uint_t   max, v;
    u_char       used[65536 / 8];

    max = 0;
    ngx_memzero(used, sizeof(used));
    p = sql->data;
    last = p + sql->len;

    while (p < last) {

        if (*p == '\'' || *p == '"') {
            for (q = p + 1; q < last; q++) {
                if (*q == *p) {
                    if (q + 1 < last && q[1] == *p) {
                        q++;
                        continue;
                    }

                    break;
                }
            }

            if (q == last) {
                return NGX_ERROR;
            }

            p = q + 1;
            continue;
        }

        if (*p == '-' && p + 1 < last && p[1] == '-') {
            while (p < last && *p != '\n') {
                p++;
            }

            continue;
        }

        if (*p == '/' && p + 1 < last && p[1] == '*') {
            for (q = p + 2; q + 1 < last; q++) {
                if (q[0] == '*' && q[1] == '/') {
                    break;
                }
            }

            if (q + 1 >= last) {
                return NGX_ERROR;
            }

            p = q + 2;
            continue;
        }

        if (*p == '$') {
            q = p + 1;

            if (q < last && *q >= '0' && *q <= '9') {
                v = 0;

                while (q < last && *q >= '0' && *q <= '9') {
                    v = v * 10 + (*q++ - '0');
                    if (v > 65535) {
                        return NGX_ERROR;
                    }
                }

                if (v == 0) {
                    *n = 0;
                    return NGX_DECLINED;
                }

                used[v / 8] |= (u_char) (1 << (v % 8));
                max = ngx_max(max, v);
                p = q;
                continue;
            }

            /* a dollar quote: $$...$$ or $tag$...$tag$ */

            while (q < last && (*q == '_' || ngx_http_backend_isalnum(*q))) {
                q++;
            }

            if (q < last && *q == '$') {
                tag = p;
                tlen = q - p + 1;

                for (q++; q + tlen <= last; q++) {
                    if (ngx_strncmp(q, tag, tlen) == 0) {
                        break;
                    }
                }

                if (q + tlen > last) {
                    return NGX_ERROR;
                }

                p = q + tlen;
                continue;
            }
        }

        p++;
    }

    for (v = 1; v <= max; v++) {
        if (!(used[v / 8] & (1 << (v % 8)))) {
            *n = v;
            return NGX_DECLINED;
        }
    }

    *n = max;

    return NGX_OK;
}


int
ngx_http_backend_pg_column(PGresult *res, const char *name)
{
    int  col;

    for (col = 0; col < PQnfields(res); col++) {
        if (ngx_strcmp(PQfname(res, col), name) == 0) {
            return col;
        }
    }

    return -1;
}
