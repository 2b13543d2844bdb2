
/*
 * Copyright (C) ngx_backend authors
 */


/*
 * Postgres text values as JSON: ngx_http_backend_pg_value() and
 * ngx_http_backend_pg_result_json() over results built in memory.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_backend_json.h"
#include "ngx_http_backend_pg.h"


typedef struct {
    Oid          type;
    const char  *in;
    const char  *out;
} test_value_t;


static ngx_uint_t  test_n;
static ngx_uint_t  test_failed;


static test_value_t  test_values[] = {
    { 16, "t", "true" },
    { 16, "f", "false" },
    { 21, "-7", "-7" },
    { 23, "2147483647", "2147483647" },
    { 20, "9007199254740993", "9007199254740993" },
    { 700, "1.5", "1.5" },
    { 701, "NaN", "null" },
    { 701, "Infinity", "null" },
    { 701, "-Infinity", "null" },
    { 701, "1e+100", "1e+100" },
    { 1700, "1.50", "\"1.50\"" },
    { 1700, "NaN", "\"NaN\"" },
    { 25, "tab\there \"q\" \\ \x01", "\"tab\\there \\\"q\\\" \\\\ \\u0001\"" },
    { 25, "caf\xc3\xa9", "\"caf\xc3\xa9\"" },
    { 2950, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
      "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"" },
    { 1082, "2025-06-02", "\"2025-06-02\"" },
    { 1186, "1 day 02:00:00", "\"1 day 02:00:00\"" },
    { 114, "{\"a\": 1,\n \"b\": [1, 2]}", "{\"a\":1,\"b\":[1,2]}" },
    { 3802, "{\"s\": \"x\\\" y, z\", \"t\": [true, null]}",
      "{\"s\":\"x\\\" y, z\",\"t\":[true,null]}" },

    /* timestamptz, DateStyle ISO; output as Date.prototype.toJSON() */
    { 1184, "2025-06-02 14:00:00+00", "\"2025-06-02T14:00:00.000Z\"" },
    { 1184, "2025-06-02 14:00:00.5+00", "\"2025-06-02T14:00:00.500Z\"" },
    { 1184, "2025-06-02 14:00:00.123999+00", "\"2025-06-02T14:00:00.123Z\"" },
    { 1184, "2025-06-02 02:00:00-03", "\"2025-06-02T05:00:00.000Z\"" },
    { 1184, "2025-06-02 01:00:00+05:30", "\"2025-06-01T19:30:00.000Z\"" },
    { 1184, "2025-06-02 01:00:00+05:30:15", "\"2025-06-01T19:29:45.000Z\"" },
    { 1184, "2024-12-31 23:30:00-01", "\"2025-01-01T00:30:00.000Z\"" },
    { 1184, "2024-02-29 12:00:00+00", "\"2024-02-29T12:00:00.000Z\"" },
    { 1184, "1970-01-01 00:00:00+00", "\"1970-01-01T00:00:00.000Z\"" },
    { 1184, "1969-12-31 23:59:59.999+00", "\"1969-12-31T23:59:59.999Z\"" },
    { 1184, "0001-01-01 00:00:00+00", "\"0001-01-01T00:00:00.000Z\"" },
    { 1184, "0001-01-01 00:00:00+00 BC", "\"0000-01-01T00:00:00.000Z\"" },
    { 1184, "0002-01-01 00:00:00+00 BC", "\"-000001-01-01T00:00:00.000Z\"" },
    { 1184, "10000-01-01 00:00:00+00", "\"+010000-01-01T00:00:00.000Z\"" },
    { 1184, "275760-09-13 00:00:00+00", "\"+275760-09-13T00:00:00.000Z\"" },
    { 1184, "275760-09-13 00:00:00.001+00", "null" },
    { 1184, "294276-12-31 23:59:59+00", "null" },
    { 1184, "12345678-01-01 00:00:00+00", "null" },
    { 1184, "infinity", "null" },
    { 1184, "-infinity", "null" },
    { 1114, "2025-06-02 14:00:00", "\"2025-06-02T14:00:00.000Z\"" },
    { 1114, "2025-06-02T14:00:00.1", "\"2025-06-02T14:00:00.100Z\"" },
    { 1184, "2025-06-02 14:00:00.+00", "\"2025-06-02T14:00:00.000Z\"" },
    { 1184, "0000-01-01 00:00:00+00", "\"0000-01-01T00:00:00.000Z\"" },
    { 1184, "9999-12-31 23:59:59.999999+00",
      "\"9999-12-31T23:59:59.999Z\"" },

    /* fields out of range are carried by the calendar, not copied */
    { 1184, "2025-02-29 00:00:00+00", "\"2025-03-01T00:00:00.000Z\"" },
    { 1184, "1900-02-29 00:00:00+00", "\"1900-03-01T00:00:00.000Z\"" },
    { 1184, "2000-02-29 00:00:00+00", "\"2000-02-29T00:00:00.000Z\"" },
    { 1184, "2025-04-31 00:00:00+00", "\"2025-05-01T00:00:00.000Z\"" },
    { 1184, "2025-12-31 24:00:00+00", "\"2026-01-01T00:00:00.000Z\"" },
    { 1184, "2025-06-02 14:60:60+00", "\"2025-06-02T15:01:00.000Z\"" },
    { 1184, "2025-13-01 00:00:00+00", "\"2026-01-01T00:00:00.000Z\"" },
    { 1184, "2025-00-10 00:00:00+00", "\"2024-12-10T00:00:00.000Z\"" },
    { 1184, "2025-06-00 00:00:00+00", "\"2025-05-31T00:00:00.000Z\"" },
    { 1184, "2025-06-02 14:00:00+00x", "null" },
    { 1184, "2025-06-02 14:00:00+0", "null" },
    { 1184, "2025-06-02 14:00:00.123+01", "\"2025-06-02T13:00:00.123Z\"" },

    /* declined after its fields were read: nothing written past the measure */
    { 1185, "{\"2025-06-02 14:00:00.123+01\",\"2025-06-02 14:00:00+0\"}",
      "[\"2025-06-02T13:00:00.123Z\",null]" },
    { 1185, "{\"2025-06-02 14:00:00.5+00 BC\"}",
      "[\"-002024-06-02T14:00:00.500Z\"]" },

    /* arrays */
    { 1007, "{}", "[]" },
    { 1007, "{1,2,NULL}", "[1,2,null]" },
    { 1007, "{{1,2},{3,4}}", "[[1,2],[3,4]]" },
    { 1007, "[0:1]={5,6}", "[5,6]" },
    { 1009, "{\"a b\",c,\"d\\\"e\",\"NULL\",NULL,\"x,y\"}",
      "[\"a b\",\"c\",\"d\\\"e\",\"NULL\",null,\"x,y\"]" },
    { 1000, "{t,f}", "[true,false]" },
    { 1231, "{1.5,NaN}", "[\"1.5\",\"NaN\"]" },
    { 1185, "{\"2025-01-01 00:00:00+00\"}", "[\"2025-01-01T00:00:00.000Z\"]" },
    { 3807, "{\"{\\\"a\\\": 1}\"}", "[{\"a\":1}]" },

    /* what is not read as an array stays a string */
    { 1007, "{1,2", "\"{1,2\"" },
    /* ... and no byte is written past its measure (t/fuzz/fuzz_result.c) */
    { 1185, "{x", "\"{x\"" },
    { 1009, "{a,b,c", "\"{a,b,c\"" },

    { 0, NULL, NULL }
};


static void
test_ok(ngx_uint_t ok, const char *what, ngx_str_t *got, const char *want)
{
    char  name[128], *p;

    /* a TAP line is one line */
    (void) snprintf(name, sizeof(name), "%s", what);

    for (p = name; *p; p++) {
        if (*p == '\n' || *p == '#') {
            *p = ' ';
        }
    }

    test_n++;

    if (ok) {
        printf("ok %u - %s\n", (unsigned) test_n, name);
        return;
    }

    test_failed++;
    printf("not ok %u - %s\n#   got:  %.*s\n#   want: %s\n", (unsigned) test_n,
           name, (int) got->len, got->data, want);
}


static void
test_value(ngx_pool_t *pool, test_value_t *t)
{
    size_t     len, n, i;
    u_char    *scratch;
    ngx_str_t  out;
    char       what[256];

    len = ngx_strlen(t->in);
    scratch = ngx_pnalloc(pool, len + 1);

    n = ngx_http_backend_pg_value(NULL, t->type, (u_char *) t->in, len,
                                  scratch);

    /* a canary after exactly the measured length */

    out.data = ngx_pnalloc(pool, n + 16);
    ngx_memset(out.data, 0xa5, n + 16);
    out.len = ngx_http_backend_pg_value(out.data, t->type, (u_char *) t->in,
                                        len, scratch);

    for (i = n; i < n + 16 && out.data[i] == 0xa5; i++) { /* void */ }

    (void) snprintf(what, sizeof(what), "oid %u: %s", (unsigned) t->type,
                    t->in);

    test_ok(out.len == n && out.len == strlen(t->out)
            && ngx_strncmp(out.data, t->out, out.len) == 0 && i == n + 16,
            what, &out, i == n + 16 ? t->out : "nothing past the measure");
}


static PGresult *
test_result(int ncols, PGresAttDesc *attrs, int nrows, const char **cells)
{
    int        row, col;
    PGresult  *res;

    res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    if (res == NULL || !PQsetResultAttrs(res, ncols, attrs)) {
        return NULL;
    }

    for (row = 0; row < nrows; row++) {
        for (col = 0; col < ncols; col++) {
            const char *v = cells[row * ncols + col];

            if (!PQsetvalue(res, row, col, (char *) v,
                            v ? (int) strlen(v) : -1))
            {
                return NULL;
            }
        }
    }

    return res;
}


static void
test_results(ngx_pool_t *pool)
{
    PGresult      *res, *empty;
    ngx_str_t      out;
    PGresAttDesc   attrs[3];

    const char *cells[] = {
        "1", "first \"one\"", "2025-06-02 14:00:00+00",
        "2", NULL, "{1,2}",
    };

    ngx_memzero(attrs, sizeof(attrs));
    attrs[0].name = "id";
    attrs[0].typid = 20;
    attrs[1].name = "title";
    attrs[1].typid = 25;
    attrs[2].name = "scheduledAt";
    attrs[2].typid = 1184;

    res = test_result(3, attrs, 2, cells);
    if (res == NULL) {
        printf("Bail out! PQmakeEmptyPGresult\n");
        exit(1);
    }

    /* the second row's third cell is typed timestamptz but is not one:
     * an invalid Date, written as null */

    (void) ngx_http_backend_pg_result_json(pool, res,
                                           NGX_HTTP_BACKEND_PG_ROWS, &out);
    test_ok(out.len == sizeof("[{\"id\":1,\"title\":\"first \\\"one\\\"\","
                              "\"scheduledAt\":\"2025-06-02T14:00:00.000Z\"},"
                              "{\"id\":2,\"title\":null,"
                              "\"scheduledAt\":null}]") - 1
            && ngx_strncmp(out.data,
                           "[{\"id\":1,\"title\":\"first \\\"one\\\"\","
                           "\"scheduledAt\":\"2025-06-02T14:00:00.000Z\"},"
                           "{\"id\":2,\"title\":null,"
                           "\"scheduledAt\":null}]", out.len) == 0,
            "rows", &out, "[{...},{...}]");

    (void) ngx_http_backend_pg_result_json(pool, res,
                                           NGX_HTTP_BACKEND_PG_ROW, &out);
    test_ok(out.len == sizeof("{\"id\":1,\"title\":\"first \\\"one\\\"\","
                              "\"scheduledAt\":\"2025-06-02T14:00:00.000Z\"}")
                       - 1,
            "first row", &out, "{\"id\":1,...}");

    (void) ngx_http_backend_pg_result_json(pool, res,
                                           NGX_HTTP_BACKEND_PG_VALUE, &out);
    test_ok(out.len == 1 && out.data[0] == '1', "value", &out, "1");

    empty = test_result(3, attrs, 0, cells);

    (void) ngx_http_backend_pg_result_json(pool, empty,
                                           NGX_HTTP_BACKEND_PG_ROWS, &out);
    test_ok(out.len == 2 && ngx_strncmp(out.data, "[]", 2) == 0,
            "no rows", &out, "[]");

    (void) ngx_http_backend_pg_result_json(pool, empty,
                                           NGX_HTTP_BACKEND_PG_VALUE, &out);
    test_ok(out.len == 4 && ngx_strncmp(out.data, "null", 4) == 0,
            "no value", &out, "null");

    PQclear(res);
    PQclear(empty);
}


/*
 * Text cells are bounded unread while a result has at most 8192 bytes of
 * them, measured past that: both sides of the limit, at the worst case of
 * 6 bytes a byte (a buffer over the pool's limit is malloc()ed at its
 * size, where valgrind sees a byte written past it), and bytes that are
 * not UTF-8
 */

static void
test_text(ngx_pool_t *pool)
{
    char          *cell, *want;
    size_t         n, len, sizes[] = { 8191, 8192, 8193, 20000 };
    PGresult      *res;
    ngx_str_t      out;
    ngx_uint_t     i, j, fill;
    PGresAttDesc   attrs[2];
    const char    *cells[2];

    ngx_memzero(attrs, sizeof(attrs));
    attrs[0].name = "a\"b";
    attrs[0].typid = 25;
    attrs[1].name = "n";
    attrs[1].typid = 23;

    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        for (fill = 0; fill < 2; fill++) {
            n = sizes[i];

            cell = malloc(n + 1);
            want = malloc(6 * n + 64);
            if (cell == NULL || want == NULL) {
                printf("Bail out! malloc\n");
                exit(1);
            }

            for (j = 0; j < n; j++) {
                /* \x01 is written as \u0001; \xff (not UTF-8) as U+FFFD */
                cell[j] = fill ? "x\xff\"\xc3\xa9"[j % 5] : '\x01';
            }

            cell[n] = '\0';

            cells[0] = cell;
            cells[1] = "7";

            res = test_result(2, attrs, 1, cells);
            if (res == NULL) {
                printf("Bail out! PQmakeEmptyPGresult\n");
                exit(1);
            }

            len = ngx_cpymem(want, "{\"a\\\"b\":", 8) - (u_char *) want;
            len += ngx_http_backend_pg_value((u_char *) want + len, 25,
                                             (u_char *) cell, n, NULL);
            len = ngx_cpymem(want + len, ",\"n\":7}", 7) - (u_char *) want;

            if (ngx_http_backend_pg_result_json(pool, res,
                                                NGX_HTTP_BACKEND_PG_ROW, &out)
                != NGX_OK)
            {
                printf("Bail out! result_json\n");
                exit(1);
            }

            want[len] = '\0';

            test_ok(out.len == len && ngx_memcmp(out.data, want, len) == 0,
                    fill ? "text, mixed bytes" : "text, 6 bytes a byte",
                    &out, want);

            PQclear(res);
            free(cell);
            free(want);
        }
    }
}


/* superjson: the paths of the Dates, as result_json() writes the values */

static void
test_dates(ngx_pool_t *pool)
{
    char           buf[512], *p;
    PGresult      *res;
    ngx_str_t      got, *path;
    ngx_uint_t     i, k;
    ngx_array_t   *dates;
    PGresAttDesc   attrs[4];

    static struct {
        ngx_http_backend_pg_shape_e   shape;
        const char                   *want;
    } cases[] = {
        { NGX_HTTP_BACKEND_PG_ROWS,
          "0.at 0.a\\.b\\\\ 0.list.1 0.list.2.0 1.list.0" },
        { NGX_HTTP_BACKEND_PG_ROW, "at a\\.b\\\\ list.1 list.2.0" },
        { NGX_HTTP_BACKEND_PG_VALUE, "(root)" },
    };

    const char *cells[] = {
        "2025-06-02 14:00:00+00", "2025-06-02 14:00:00", "7",
        "{NULL,\"2020-01-01 00:00:00+00\",{\"2021-01-01 00:00:00+00\"},"
        "infinity}",
        "infinity", NULL, "8", "{\"1999-12-31 23:59:59.999+00\"}",
    };

    ngx_memzero(attrs, sizeof(attrs));
    attrs[0].name = "at";
    attrs[0].typid = 1184;
    attrs[1].name = "a.b\\";
    attrs[1].typid = 1114;
    attrs[2].name = "n";
    attrs[2].typid = 23;
    attrs[3].name = "list";
    attrs[3].typid = 1185;

    res = test_result(4, attrs, 2, cells);
    if (res == NULL) {
        printf("Bail out! PQmakeEmptyPGresult\n");
        exit(1);
    }

    for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        if (ngx_http_backend_pg_result_dates(pool, res, cases[k].shape, &dates)
            != NGX_OK)
        {
            printf("Bail out! result_dates\n");
            exit(1);
        }

        p = buf;
        path = dates ? dates->elts : NULL;

        for (i = 0; dates && i < dates->nelts; i++) {
            p += snprintf(p, buf + sizeof(buf) - p, "%s%.*s", i ? " " : "",
                          path[i].len ? (int) path[i].len : 6,
                          path[i].len ? (char *) path[i].data : "(root)");
        }

        got.data = (u_char *) buf;
        got.len = p - buf;

        test_ok(got.len == strlen(cases[k].want)
                && ngx_strncmp(got.data, cases[k].want, got.len) == 0,
                "the Dates' paths (superjson)", &got, cases[k].want);
    }

    PQclear(res);
}


static void
test_sql_params(void)
{
    ngx_str_t    sql, got;
    ngx_uint_t   n, i;
    char         buf[32];

    static struct {
        const char  *sql;
        ngx_int_t    n;
    } cases[] = {
        { "select 1", 0 },
        { "select $1, $2", 2 },
        { "select $2", -101 },
        { "select $1, $3, $1", -102 },
        { "select $0", -100 },
        { "select $3, $2, $1", 3 },
        { "select '$2', $3, $1", -102 },
        { "select '$3', \"$4\", $1 -- $5\n /* $6 */", 1 },
        { "select $$ $7 $$, $tag$ $8 $tag$, $1", 1 },
        { "select 'it''s $9', $1", 1 },
        { "select '$1", -1 },
        { "select /* $1", -1 },
        { "select $x$ $1", -1 },
        { NULL, 0 }
    };

    for (i = 0; cases[i].sql; i++) {
        sql.data = (u_char *) cases[i].sql;
        sql.len = strlen(cases[i].sql);
        n = 0;

        /* -1: an error; -100 - K: $K is missing (or $0 is used) */

        switch (ngx_http_backend_pg_sql_params(&sql, &n)) {
        case NGX_OK:
            break;
        case NGX_DECLINED:
            n = (ngx_uint_t) (-100 - (ngx_int_t) n);
            break;
        default:
            n = (ngx_uint_t) -1;
        }

        got.data = (u_char *) buf;
        got.len = snprintf(buf, sizeof(buf), "%d", (int) n);

        test_ok(n == (ngx_uint_t) cases[i].n, cases[i].sql, &got,
                cases[i].n == -1 ? "-1 (error)" : "(see source)");
    }
}


/*
 * Timestamps in UTC are copied (ngx_http_backend_pg_timestamp_utc()),
 * others go through the calendar: random fields, valid or not, written
 * with "+00" and with "+00:00:00" (the same instant, never copied) must
 * give the same Date.
 */

static void
test_utc(void)
{
    char         a[64], b[64], fa[40], fb[40];
    size_t       la, lb, na, nb;
    uint32_t     seed, f[8];
    ngx_str_t    got;
    ngx_uint_t   i, j, bad;

    seed = 4321;
    bad = 0;

#define test_rand()  (seed = seed * 1103515245 + 12345, (seed >> 16) & 0x7fff)

    for (i = 0; i < 20000; i++) {
        for (j = 0; j < 8; j++) {
            f[j] = test_rand();
        }

        la = snprintf(a, sizeof(a), "%04d-%02d-%02d%c%02d:%02d:%02d",
                      (int) (f[0] % 10000), (int) (f[1] % 14),
                      (int) (f[2] % 33), f[7] % 5 ? ' ' : 'T',
                      (int) (f[3] % 26), (int) (f[4] % 62),
                      (int) (f[5] % 62));

        if (f[6] % 3) {
            la += snprintf(a + la, sizeof(a) - la, ".%0*d",
                           (int) (f[6] % 7), (int) (f[6] % 1000000));
        }

        lb = la;
        ngx_memcpy(b, a, la);
        la += snprintf(a + la, sizeof(a) - la, "+00");
        lb += snprintf(b + lb, sizeof(b) - lb, "+00:00:00");

        na = ngx_http_backend_pg_value((u_char *) fa, 1184, (u_char *) a, la,
                                       NULL);
        nb = ngx_http_backend_pg_value((u_char *) fb, 1184, (u_char *) b, lb,
                                       NULL);

        if (na != nb || ngx_memcmp(fa, fb, na) != 0) {
            if (bad++ == 0) {
                got.data = (u_char *) fa;
                got.len = na;
                fb[nb] = '\0';
                test_ok(0, a, &got, fb);
            }
        }
    }

#undef test_rand

    if (bad == 0) {
        got.len = 0;
        test_ok(1, "UTC copied = UTC computed, 20000 random values", &got,
                "");
    }
}


/*
 * result_json() sizes its buffer with ngx_http_backend_pg_bound(): it must
 * never be less than what is written.  Random text per type, timestamps
 * from random fields (valid or not), each written into a malloc()ed
 * buffer of exactly the bound, where valgrind or ASan sees an overflow.
 */

static void
test_bounds(void)
{
    char         in[96];
    size_t       len, n, bound;
    u_char      *buf;
    uint32_t     seed;
    ngx_str_t    got;
    uint32_t     f[11];
    ngx_uint_t   i, j, t, bad;

    static const Oid    types[] = { 16, 21, 23, 20, 700, 701, 114, 3802,
                                    1114, 1184, 1700, 25, 2950 };
    static const char   alphabet[] = "0123456789-+:. TBCinftyNa\"\\\x01{}";

    seed = 12345;
    bad = 0;

#define test_rand()  (seed = seed * 1103515245 + 12345, (seed >> 16) & 0x7fff)

    for (i = 0; i < 20000; i++) {
        t = i % (sizeof(types) / sizeof(types[0]));

        if (i % 2) {
            len = test_rand() % 40;
            for (j = 0; j < len; j++) {
                in[j] = alphabet[test_rand() % (sizeof(alphabet) - 1)];
            }

        } else {
            for (j = 0; j < 11; j++) {
                f[j] = test_rand();
            }

            len = snprintf(in, sizeof(in),
                           "%0*d-%02d-%02d %02d:%02d:%02d.%06d%c%02d%s",
                           4 + (int) (f[0] % 4), (int) (f[1] * 300 % 10000000),
                           (int) (f[2] % 14), (int) (f[3] % 33),
                           (int) (f[4] % 25), (int) (f[5] % 61),
                           (int) (f[6] % 61), (int) (f[7] * 31 % 1000000),
                           f[8] % 2 ? '+' : '-', (int) (f[9] % 16),
                           f[10] % 8 ? "" : " BC");
        }

        n = ngx_http_backend_pg_value(NULL, types[t], (u_char *) in, len,
                                      NULL);
        bound = ngx_http_backend_pg_bound(types[t], (u_char *) in, len);

        buf = malloc(bound ? bound : 1);
        if (buf == NULL) {
            printf("Bail out! malloc\n");
            exit(1);
        }

        if (n > bound
            || ngx_http_backend_pg_value(bound >= n ? buf : NULL, types[t],
                                         (u_char *) in, len, NULL) != n)
        {
            if (bad++ == 0) {
                got.data = (u_char *) in;
                got.len = len;
                test_ok(0, "bound", &got, "a bound at least the length");
            }
        }

        free(buf);
    }

#undef test_rand

    if (bad == 0) {
        got.len = 0;
        test_ok(1, "bound >= written, 20000 random values", &got, "");
    }
}


int
main(void)
{
    ngx_log_t       log;
    ngx_pool_t     *pool;
    test_value_t   *t;

    ngx_memzero(&log, sizeof(ngx_log_t));
    ngx_pagesize = getpagesize();

    pool = ngx_create_pool(16384, &log);
    if (pool == NULL) {
        printf("Bail out! ngx_create_pool\n");
        return 1;
    }

    for (t = test_values; t->in; t++) {
        test_value(pool, t);
    }

    test_results(pool);
    test_text(pool);
    test_dates(pool);
    test_utc();
    test_bounds();
    test_sql_params();

    printf("1..%u\n", (unsigned) test_n);

    ngx_destroy_pool(pool);

    return test_failed ? 1 : 0;
}
