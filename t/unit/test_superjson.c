
/*
 * Copyright (C) ngx_backend authors
 */


/*
 * ngx_http_backend_superjson: envelopes decoded as superjson.deserialize()
 * reads them (paths, escapes, superjson 1's meta, the marks left on the
 * tree, undefined dropped, extended years as Postgres reads them), what is
 * refused and its message; results, errors and JSON lines encoded.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <math.h>

#include "ngx_http_backend.h"


static ngx_uint_t  test_n;
static ngx_uint_t  test_failed;


static void
test_ok(ngx_uint_t ok, const char *what)
{
    test_n++;

    if (!ok) {
        test_failed++;
    }

    printf("%s %u - %s\n", ok ? "ok" : "not ok", (unsigned) test_n, what);
}


static ngx_uint_t
test_eq(ngx_str_t *s, const char *want)
{
    if (s->len == strlen(want) && ngx_strncmp(s->data, want, s->len) == 0) {
        return 1;
    }

    printf("# got  %.*s\n# want %s\n", (int) s->len, s->data, want);
    return 0;
}


/*
 * in decoded: its JSON is out (NULL: undefined), or refused with the
 * message out
 */

static ngx_http_backend_json_t *
test_decode(ngx_pool_t *pool, const char *in, ngx_uint_t batch,
    ngx_int_t want, const char *out, const char *what)
{
    ngx_int_t                 rc;
    ngx_str_t                 err, s;
    ngx_http_backend_json_t  *json;

    if (ngx_http_backend_json_parse(pool, (u_char *) in, strlen(in), 0,
                                    &json, &err)
        != NGX_OK)
    {
        printf("# %s: %.*s\n", in, (int) err.len, err.data);
        test_ok(0, what);
        return NULL;
    }

    ngx_str_null(&err);

    rc = ngx_http_backend_superjson_input(pool, &json, batch, &err);

    if (rc != want) {
        printf("# rc %d, %.*s\n", (int) rc, (int) err.len, err.data);
        test_ok(0, what);
        return NULL;
    }

    if (rc == NGX_DECLINED) {
        test_ok(test_eq(&err, out), what);
        return NULL;
    }

    if (json == NULL) {
        test_ok(out == NULL, what);
        return NULL;
    }

    if (out == NULL
        || ngx_http_backend_json_serialize(pool, json, &s) != NGX_OK)
    {
        test_ok(0, what);
        return NULL;
    }

    test_ok(test_eq(&s, out), what);

    return json;
}


static ngx_http_backend_json_t *
test_at(ngx_http_backend_json_t *v, const char *key)
{
    return ngx_http_backend_json_get(v, (u_char *) key, strlen(key));
}


int
main(void)
{
    ngx_str_t                 s, path[3];
    ngx_log_t                 log;
    ngx_pool_t               *pool;
    ngx_array_t               dates;
    ngx_http_backend_json_t  *v, *m;

    ngx_memzero(&log, sizeof(ngx_log_t));

    if (ngx_pagesize == 0) {
        ngx_pagesize = getpagesize();
    }

    pool = ngx_create_pool(4096, &log);
    if (pool == NULL) {
        printf("Bail out! ngx_create_pool\n");
        return 1;
    }

    /* decoding */

    v = test_decode(pool, "{\"json\":{\"a\":\"2025-06-02T14:00:00.000Z\","
                    "\"b\":\"5\",\"c\":\"NaN\",\"d\":null,\"e\":[1,null]},"
                    "\"meta\":{\"values\":{\"a\":[\"Date\"],\"b\":[\"bigint\"],"
                    "\"c\":[\"number\"],\"d\":[\"undefined\"],"
                    "\"e.1\":[\"undefined\"]},\"v\":1}}", 0, NGX_OK,
                    "{\"a\":\"2025-06-02T14:00:00.000Z\",\"b\":\"5\","
                    "\"c\":\"NaN\",\"e\":[1,null]}",
                    "Date, bigint, NaN marked; undefined dropped, null in "
                    "an array");

    if (v) {
        test_ok(test_at(v, "a")->superjson == NGX_HTTP_BACKEND_JSON_SJ_DATE
                && test_at(v, "b")->superjson
                   == NGX_HTTP_BACKEND_JSON_SJ_BIGINT
                && test_at(v, "c")->superjson
                   == NGX_HTTP_BACKEND_JSON_SJ_NUMBER
                && isnan(test_at(v, "c")->number),
                "the marks on the tree");
    }

    test_decode(pool, "{\"json\":{\"a.b\":{\"c\\\\\":\"-Infinity\"}},"
                "\"meta\":{\"values\":{\"a\\\\.b.c\\\\\\\\\":[\"number\"]},"
                "\"v\":1}}", 0, NGX_OK,
                "{\"a.b\":{\"c\\\\\":\"-Infinity\"}}",
                "escaped dot and backslash in a path (v1)");

    test_decode(pool, "{\"json\":{\"a\\\\b\":\"1\"},"
                "\"meta\":{\"values\":{\"a\\\\b\":[\"bigint\"]}}}", 0, NGX_OK,
                "{\"a\\\\b\":\"1\"}",
                "superjson 1 (no v): a backslash is itself");

    test_decode(pool, "{\"json\":null,\"meta\":{\"values\":[\"undefined\"],"
                "\"v\":1}}", 0, NGX_OK, NULL, "undefined at the root");

    test_decode(pool, "\"2020\"", 0, NGX_OK, NULL,
                "not an envelope: undefined");

    test_decode(pool, "{\"json\":[1,{\"x\":1}]}", 0, NGX_OK, "[1,{\"x\":1}]",
                "no meta");

    test_decode(pool, "{\"json\":{\"a\":1},\"meta\":{\"referentialEqualities\":"
                "{\"a\":[\"b\"]},\"v\":1}}", 0, NGX_OK, "{\"a\":1}",
                "referentialEqualities alone change nothing");

    v = test_decode(pool, "{\"0\":{\"json\":\"+010000-01-01T00:00:00.000Z\","
                    "\"meta\":{\"values\":[\"Date\"],\"v\":1}},"
                    "\"1\":{\"json\":\"-000001-06-01T12:30:00.500Z\","
                    "\"meta\":{\"values\":[\"Date\"],\"v\":1}},\"2\":5}", 1,
                    NGX_OK,
                    "{\"0\":\"10000-01-01T00:00:00.000Z\","
                    "\"1\":\"0002-06-01T12:30:00.500Z BC\"}",
                    "a batch: each input its own envelope, one not an "
                    "envelope gone; extended years as Postgres reads them");

    if (v) {
        m = test_at(v, "1");
        test_ok(m->string.data[m->string.len] == '\0',
                "a rewritten Date is NUL-terminated, for binding");
    }

    test_decode(pool, "{\"json\":[[\"a\",1]],\"meta\":{\"values\":[\"map\"],"
                "\"v\":1}}", 0, NGX_DECLINED,
                "Invalid superjson input: unsupported type \"map\" at \"\"",
                "Map refused");

    test_decode(pool, "{\"json\":{\"a\":[{\"b\":1}]},\"meta\":{\"values\":"
                "{\"a.0.b\":[[\"class\",\"Foo\"]]},\"v\":1}}", 0, NGX_DECLINED,
                "Invalid superjson input: unsupported type \"class\" at "
                "\"a.0.b\"",
                "a registered class refused, at its path");

    test_decode(pool, "{\"json\":{\"a\":1},\"meta\":{\"values\":"
                "{\"a\":[\"Date\"]},\"v\":1}}", 0, NGX_DECLINED,
                "Invalid superjson input: not a string: \"Date\" at \"a\"",
                "a Date that is not a string");

    test_decode(pool, "{\"json\":\"2025-13-01T00:00:00.000Z\",\"meta\":"
                "{\"values\":[\"Date\"],\"v\":1}}", 0, NGX_DECLINED,
                "Invalid superjson input: not a toISOString() Date: \"Date\" "
                "at \"\"",
                "month 13");

    test_decode(pool, "{\"json\":\"2025-06-02\",\"meta\":"
                "{\"values\":[\"Date\"],\"v\":1}}", 0, NGX_DECLINED,
                "Invalid superjson input: not a toISOString() Date: \"Date\" "
                "at \"\"",
                "a date without its time");

    test_decode(pool, "{\"json\":\"12a\",\"meta\":"
                "{\"values\":[\"bigint\"],\"v\":1}}", 0, NGX_DECLINED,
                "Invalid superjson input: not a bigint: \"bigint\" at \"\"",
                "a bigint that is not digits");

    test_decode(pool, "{\"json\":\"1\",\"meta\":"
                "{\"values\":[\"number\"],\"v\":1}}", 0, NGX_DECLINED,
                "Invalid superjson input: not NaN or an infinity: "
                "\"number\" at \"\"",
                "a number annotation on a plain number string");

    test_decode(pool, "{\"json\":[1],\"meta\":"
                "{\"values\":{\"5\":[\"Date\"]},\"v\":1}}", 0, NGX_DECLINED,
                "Invalid superjson input: no value at at \"5\"",
                "a path past an array's end");

    test_decode(pool, "{\"json\":{\"a\":\"x\"},\"meta\":"
                "{\"values\":{\"a\\\\x\":[\"Date\"]},\"v\":1}}", 0,
                NGX_DECLINED,
                "Invalid superjson input: invalid path \"a\\x\" at \"\"",
                "a backslash escaping nothing (v1)");

    test_decode(pool, "{\"json\":1,\"meta\":{\"values\":[]}}", 0,
                NGX_DECLINED, "Invalid superjson input: invalid meta at \"\"",
                "an empty annotation");

    /* encoding */

    s.data = (u_char *) "{\"result\":{\"data\":[{\"at\":\"x\"}]}}";
    s.len = strlen((char *) s.data);

    if (ngx_array_init(&dates, pool, 2, sizeof(ngx_str_t)) != NGX_OK) {
        return 1;
    }

    ngx_str_set(&path[0], "0.at");
    ngx_str_set(&path[1], "0.a\\.b");
    *(ngx_str_t *) ngx_array_push(&dates) = path[0];
    *(ngx_str_t *) ngx_array_push(&dates) = path[1];

    test_ok(ngx_http_backend_superjson_call(pool, &s, &dates) == NGX_OK
            && test_eq(&s, "{\"result\":{\"data\":{\"json\":[{\"at\":\"x\"}],"
                           "\"meta\":{\"values\":{\"0.at\":[\"Date\"],"
                           "\"0.a\\\\.b\":[\"Date\"]},\"v\":1}}}}"),
            "a result's Dates in its meta, keys escaped as JSON");

    ngx_str_set(&s, "{\"result\":{\"data\":\"x\"}}");
    dates.nelts = 0;
    ngx_str_null(&path[2]);
    *(ngx_str_t *) ngx_array_push(&dates) = path[2];

    test_ok(ngx_http_backend_superjson_call(pool, &s, &dates) == NGX_OK
            && test_eq(&s, "{\"result\":{\"data\":{\"json\":\"x\",\"meta\":"
                           "{\"values\":[\"Date\"],\"v\":1}}}}"),
            "the value itself a Date");

    ngx_str_set(&s, "{\"result\":{\"data\":null}}");

    test_ok(ngx_http_backend_superjson_call(pool, &s, NULL) == NGX_OK
            && test_eq(&s, "{\"result\":{\"data\":{\"json\":null}}}"),
            "no Dates, no meta");

    ngx_str_set(&s, "{\"result\":{}}");

    test_ok(ngx_http_backend_superjson_call(pool, &s, NULL) == NGX_OK
            && test_eq(&s, "{\"result\":{}}"),
            "no data stays as it is");

    ngx_str_set(&s, "{\"error\":{\"message\":\"m\",\"code\":-32600}}");

    test_ok(ngx_http_backend_superjson_call(pool, &s, NULL) == NGX_OK
            && test_eq(&s, "{\"error\":{\"json\":{\"message\":\"m\","
                           "\"code\":-32600}}}"),
            "an error's shape as the json of an envelope");

    printf("1..%u\n", (unsigned) test_n);

    ngx_destroy_pool(pool);

    return test_failed ? 1 : 0;
}
