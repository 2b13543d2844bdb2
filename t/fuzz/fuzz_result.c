
/*
 * Copyright (C) ngx_backend authors
 */


/*
 * libFuzzer target: the result writer, ngx_http_backend_pg_value() and
 * ngx_http_backend_pg_bound(), as ngx_http_backend_pg_result_json() uses
 * them.  The first input byte picks a type OID, the rest is its text
 * value (cut at a NUL, which Postgres' text never has).  Checked:
 *
 *   - a scalar's JSON fits its bound, written into a buffer of exactly
 *     the bound (ASan sees any byte past it), and the write is as long as
 *     the measure;
 *   - an array's JSON is written into a buffer of exactly its measured
 *     length (result_json sizes arrays so);
 *   - the output is valid JSON (the project's parser reads it back) for
 *     every value of a type whose writer does not copy Postgres' text
 *     through (bool, timestamps, numeric, text, uuid, arrays of these),
 *     and for json/jsonb, int and float values that are valid as such.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_backend_json.h"

/* ngx_http_backend_pg.h needs nginx's HTTP headers; the two it is about */
typedef unsigned int  Oid;

size_t ngx_http_backend_pg_value(u_char *p, Oid type, u_char *v, size_t len,
    u_char *scratch);
size_t ngx_http_backend_pg_bound(Oid type, u_char *v, size_t len);


typedef enum {
    FUZZ_ANY = 0,       /* any text gives valid JSON */
    FUZZ_INT,           /* valid JSON for -?[0-9]+ */
    FUZZ_FLOAT,         /* for JSON numbers, NaN, Infinity, -Infinity */
    FUZZ_JSON           /* for valid JSON */
} fuzz_domain_e;


typedef struct {
    Oid            oid;
    Oid            element;     /* of an array type, else 0 */
    fuzz_domain_e  domain;      /* of the value, or of its elements */
} fuzz_type_t;


static fuzz_type_t  fuzz_types[] = {
    { 16, 0, FUZZ_ANY },            /* bool */
    { 21, 0, FUZZ_INT },            /* int2 */
    { 23, 0, FUZZ_INT },            /* int4 */
    { 20, 0, FUZZ_INT },            /* int8 */
    { 26, 0, FUZZ_INT },            /* oid */
    { 700, 0, FUZZ_FLOAT },         /* float4 */
    { 701, 0, FUZZ_FLOAT },         /* float8 */
    { 1700, 0, FUZZ_ANY },          /* numeric */
    { 25, 0, FUZZ_ANY },            /* text */
    { 1043, 0, FUZZ_ANY },          /* varchar */
    { 114, 0, FUZZ_JSON },          /* json */
    { 3802, 0, FUZZ_JSON },         /* jsonb */
    { 1114, 0, FUZZ_ANY },          /* timestamp */
    { 1184, 0, FUZZ_ANY },          /* timestamptz */
    { 1082, 0, FUZZ_ANY },          /* date */
    { 2950, 0, FUZZ_ANY },          /* uuid */
    { 1000, 16, FUZZ_ANY },
    { 1005, 21, FUZZ_INT },
    { 1007, 23, FUZZ_INT },
    { 1016, 20, FUZZ_INT },
    { 1021, 700, FUZZ_FLOAT },
    { 1022, 701, FUZZ_FLOAT },
    { 1231, 1700, FUZZ_ANY },
    { 1009, 25, FUZZ_ANY },
    { 199, 114, FUZZ_JSON },
    { 3807, 3802, FUZZ_JSON },
    { 1115, 1114, FUZZ_ANY },
    { 1185, 1184, FUZZ_ANY },
    { 1182, 1082, FUZZ_ANY },
    { 2951, 2950, FUZZ_ANY },
};


static ngx_log_t  fuzz_log;


/* well-formed UTF-8 (RFC 3629: no overlongs, surrogates, or > U+10FFFF) */

static ngx_uint_t
fuzz_utf8(u_char *p, size_t len)
{
    u_char      *last;
    uint32_t     u, min;
    ngx_uint_t   n;

    last = p + len;

    while (p < last) {
        u = *p++;

        if (u < 0x80) {
            continue;
        }

        if (u >= 0xc2 && u <= 0xdf) {
            n = 1; u &= 0x1f; min = 0x80;

        } else if (u >= 0xe0 && u <= 0xef) {
            n = 2; u &= 0x0f; min = 0x800;

        } else if (u >= 0xf0 && u <= 0xf4) {
            n = 3; u &= 0x07; min = 0x10000;

        } else {
            return 0;
        }

        if ((size_t) (last - p) < n) {
            return 0;
        }

        while (n--) {
            if ((*p & 0xc0) != 0x80) {
                return 0;
            }

            u = (u << 6) | (*p++ & 0x3f);
        }

        if (u < min || u > 0x10ffff || (u >= 0xd800 && u <= 0xdfff)) {
            return 0;
        }
    }

    return 1;
}


static ngx_uint_t
fuzz_number(u_char *p, size_t len)
{
    u_char  *last;

    last = p + len;

    if (p < last && *p == '-') {
        p++;
    }

    if (p == last || *p < '0' || *p > '9') {
        return 0;
    }

    if (*p == '0') {
        p++;

    } else {
        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p < last && *p == '.') {
        p++;

        if (p == last || *p < '0' || *p > '9') {
            return 0;
        }

        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p < last && (*p == 'e' || *p == 'E')) {
        p++;

        if (p < last && (*p == '+' || *p == '-')) {
            p++;
        }

        if (p == last || *p < '0' || *p > '9') {
            return 0;
        }

        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    return p == last;
}


/* whether a scalar's text is one Postgres could send for the type */

static ngx_uint_t
fuzz_valid(ngx_pool_t *pool, fuzz_domain_e domain, u_char *v, size_t len)
{
    ngx_str_t                 err;
    ngx_http_backend_json_t  *json;

    switch (domain) {

    case FUZZ_INT:
        /* as Postgres writes integers: no leading zeros, no fraction */
        return fuzz_number(v, len) && memchr(v, '.', len) == NULL
               && memchr(v, 'e', len) == NULL && memchr(v, 'E', len) == NULL;

    case FUZZ_FLOAT:
        return fuzz_number(v, len)
               || (len == 3 && ngx_strncmp(v, "NaN", 3) == 0)
               || (len == 8 && ngx_strncmp(v, "Infinity", 8) == 0)
               || (len == 9 && ngx_strncmp(v, "-Infinity", 9) == 0);

    case FUZZ_JSON:
        return ngx_http_backend_json_parse(pool, v, len, 0, &json, &err)
               == NGX_OK;

    default:
        return 1;
    }
}


/*
 * An array's elements are valid for the type: unquoted ones, and the
 * text of quoted ones, one by one.  Arrays of FUZZ_ANY types need no look.
 */

static ngx_uint_t
fuzz_valid_array(ngx_pool_t *pool, fuzz_domain_e domain, u_char *v,
    size_t len)
{
    u_char      *p, *last, *s, *d, *buf;
    ngx_uint_t   need;

    if (domain == FUZZ_ANY) {
        return 1;
    }

    buf = ngx_pnalloc(pool, len + 1);
    if (buf == NULL) {
        return 0;
    }

    p = v;
    last = v + len;

    if (p < last && *p == '[') {
        while (p < last && *p != '=') {
            p++;
        }

        p++;
    }

    /* an element after each '{' and ',' (Postgres writes no empty one) */

    need = 0;

    while (p < last) {
        if (*p == ' ') {
            p++;
            continue;
        }

        if (*p == '{' || *p == '}' || *p == ',') {
            /* 1: after '{', "}" may follow; 2: after ',', it may not */
            if ((need == 1 && *p == ',') || (need == 2 && *p != '{')) {
                return 0;
            }

            need = (*p == '{') ? 1 : (*p == ',') ? 2 : 0;
            p++;
            continue;
        }

        need = 0;
        d = buf;

        if (*p == '"') {
            for (p++; p < last && *p != '"'; p++) {
                if (*p == '\\' && p + 1 < last) {
                    p++;
                }

                *d++ = *p;
            }

            p++;

        } else {
            s = p;

            while (p < last && *p != ',' && *p != '}') {
                p++;
            }

            d = ngx_cpymem(buf, s, p - s);

            while (d > buf && d[-1] == ' ') {
                d--;
            }

            if (d - buf == 4 && ngx_strncasecmp(buf, (u_char *) "null", 4)
                                == 0)
            {
                continue;
            }
        }

        if (!fuzz_valid(pool, domain, buf, d - buf)) {
            return 0;
        }
    }

    return 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char       *v, *buf, *scratch, *nul;
    size_t        len, n, bound, w;
    ngx_str_t     err;
    ngx_pool_t   *pool;
    ngx_uint_t    check;
    fuzz_type_t  *t;

    ngx_http_backend_json_t  *json;

    if (size == 0) {
        return 0;
    }

    if (ngx_pagesize == 0) {
        ngx_pagesize = getpagesize();
    }

    t = &fuzz_types[data[0] % (sizeof(fuzz_types) / sizeof(fuzz_types[0]))];

    len = size - 1;
    nul = memchr(data + 1, '\0', len);
    if (nul) {
        len = nul - (data + 1);
    }

    /* a copy of exactly the value, so reads past it are seen too */

    v = malloc(len ? len : 1);
    scratch = malloc(len ? len : 1);
    if (v == NULL || scratch == NULL) {
        abort();
    }

    ngx_memcpy(v, data + 1, len);

    pool = ngx_create_pool(4096, &fuzz_log);
    if (pool == NULL) {
        abort();
    }

    n = ngx_http_backend_pg_value(NULL, t->oid, v, len, scratch);

    if (t->element) {
        bound = n;

    } else {
        bound = ngx_http_backend_pg_bound(t->oid, v, len);

        if (n > bound) {
            fprintf(stderr, "oid %u: %zu bytes of JSON over the bound %zu\n",
                    t->oid, n, bound);
            abort();
        }
    }

    buf = malloc(bound ? bound : 1);
    if (buf == NULL) {
        abort();
    }

    w = ngx_http_backend_pg_value(buf, t->oid, v, len, scratch);

    if (w != n) {
        fprintf(stderr, "oid %u: wrote %zu bytes, measured %zu\n",
                t->oid, w, n);
        abort();
    }

    if (t->element) {
        check = fuzz_valid_array(pool, t->domain, v, len);

    } else {
        check = fuzz_valid(pool, t->domain, v, len);
    }

    /* Postgres' text is UTF-8 (the database's encoding) */

    if (check && fuzz_utf8(v, len)
        && ngx_http_backend_json_parse(pool, buf, w, 0, &json, &err)
           != NGX_OK)
    {
        fprintf(stderr, "oid %u: not JSON: \"%.*s\" (%.*s)\n", t->oid,
                (int) w, buf, (int) err.len, err.data);
        abort();
    }

    ngx_destroy_pool(pool);
    free(buf);
    free(scratch);
    free(v);

    return 0;
}
