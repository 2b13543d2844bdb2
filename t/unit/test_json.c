
/*
 * Copyright (C) ngx_backend authors
 */


/*
 * ngx_http_backend_json: parse, the errors of invalid input, writing back,
 * lookups and equality.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <math.h>

#include "ngx_http_backend_json.h"


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


/* valid input written back as it was, minus blanks */

static void
test_roundtrip(ngx_pool_t *pool, const char *in, const char *out)
{
    ngx_int_t                 rc;
    ngx_str_t                 err, s;
    ngx_http_backend_json_t  *json;

    rc = ngx_http_backend_json_parse(pool, (u_char *) in, strlen(in), 0,
                                     &json, &err);
    if (rc != NGX_OK) {
        printf("# %s: %.*s\n", in, (int) err.len, err.data);
        test_ok(0, in);
        return;
    }

    if (ngx_http_backend_json_serialize(pool, json, &s) != NGX_OK) {
        test_ok(0, in);
        return;
    }

    if (s.len != strlen(out) || ngx_strncmp(s.data, out, s.len) != 0) {
        printf("# got %.*s\n", (int) s.len, s.data);
        test_ok(0, in);
        return;
    }

    test_ok(1, in);
}


static void
test_invalid(ngx_pool_t *pool, const char *in, size_t len, ngx_uint_t depth,
    const char *want, const char *what)
{
    ngx_int_t                 rc;
    ngx_str_t                 err;
    ngx_http_backend_json_t  *json;

    ngx_str_null(&err);

    rc = ngx_http_backend_json_parse(pool, (u_char *) in, len, depth, &json,
                                     &err);

    if (rc != NGX_DECLINED
        || ngx_strlcasestrn(err.data, err.data + err.len, (u_char *) want,
                            strlen(want) - 1)
           == NULL)
    {
        printf("# rc %d, err \"%.*s\", want \"%s\"\n", (int) rc,
               (int) err.len, err.data, want);
        test_ok(0, what);
        return;
    }

    test_ok(1, what);
}


static ngx_http_backend_json_t *
test_parse(ngx_pool_t *pool, const char *in)
{
    ngx_str_t                 err;
    ngx_http_backend_json_t  *json;

    if (ngx_http_backend_json_parse(pool, (u_char *) in, strlen(in), 0,
                                    &json, &err)
        != NGX_OK)
    {
        printf("Bail out! %s: %.*s\n", in, (int) err.len, err.data);
        exit(1);
    }

    return json;
}


static void
test_number(ngx_pool_t *pool, const char *in, const char *out)
{
    ngx_str_t                 err, s;
    ngx_http_backend_json_t  *json;

    if (ngx_http_backend_json_parse(pool, (u_char *) in, strlen(in), 0,
                                    &json, &err)
        != NGX_OK
        || ngx_http_backend_json_number_text(pool, json, &s) != NGX_OK)
    {
        test_ok(0, in);
        return;
    }

    if (s.len != strlen(out) || ngx_strncmp(s.data, out, s.len) != 0
        || s.data[s.len] != '\0')
    {
        printf("# %s: got %.*s\n", in, (int) s.len, s.data);
        test_ok(0, in);
        return;
    }

    test_ok(1, in);
}


/*
 * minify: the same verdict as parse on the same input (want NULL:
 * declined), and the text without white space
 */

static void
test_minify(ngx_pool_t *pool, const char *in, size_t len, ngx_uint_t depth,
    const char *want, const char *what)
{
    size_t                    i;
    ngx_int_t                 rc, rc2;
    ngx_str_t                 err, s;
    ngx_http_backend_json_t  *json;

    rc = ngx_http_backend_json_minify(pool, (u_char *) in, len, depth, &s,
                                      &err);
    rc2 = ngx_http_backend_json_parse(pool, (u_char *) in, len, depth,
                                      &json, &err);

    if (rc != rc2) {
        printf("# minify %d, parse %d\n", (int) rc, (int) rc2);
        test_ok(0, what);
        return;
    }

    if (want == NULL) {
        test_ok(rc == NGX_DECLINED, what);
        return;
    }

    if (rc != NGX_OK || s.len != strlen(want)
        || ngx_strncmp(s.data, want, s.len) != 0)
    {
        printf("# got %d bytes:", (int) s.len);

        for (i = 0; rc == NGX_OK && i < s.len; i++) {
            printf(" %02x", s.data[i]);
        }

        printf("\n");
        test_ok(0, what);
        return;
    }

    test_ok(1, what);
}


int
main(void)
{
    char                      deep[256];
    ngx_log_t                 log;
    ngx_uint_t                i;
    ngx_pool_t               *pool;
    ngx_http_backend_json_t  *a, *b, *v;

    ngx_memzero(&log, sizeof(ngx_log_t));
    ngx_pagesize = getpagesize();

    pool = ngx_create_pool(4096, &log);
    if (pool == NULL) {
        printf("Bail out! ngx_create_pool\n");
        return 1;
    }

    test_roundtrip(pool, "null", "null");
    test_roundtrip(pool, " [true, false, null] ", "[true,false,null]");
    test_roundtrip(pool, "{\"a\": 1, \"b\": {\"c\": [1.5e3, -0, 2]}}",
                   "{\"a\":1,\"b\":{\"c\":[1.5e3,-0,2]}}");
    test_roundtrip(pool, "123456789012345678901234567890",
                   "123456789012345678901234567890");
    test_roundtrip(pool, "\"tab\\t nl\\n q\\\" bs\\\\ u\\u0001 \\u00e9\"",
                   "\"tab\\t nl\\n q\\\" bs\\\\ u\\u0001 \xc3\xa9\"");
    test_roundtrip(pool, "\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\"");
    test_roundtrip(pool, "{}", "{}");
    test_roundtrip(pool, "[]", "[]");

    /* truncated input once crashed the worker */
    test_invalid(pool, "[[[[[", 5, 0, "premature EOF", "[[[[[");
    test_invalid(pool, "{\"a\":", 5, 0, "premature EOF", "{\"a\":");
    test_invalid(pool, "", 0, 0, "premature EOF", "empty");
    test_invalid(pool, "{\"a\":1}x", 8, 0, "trailing garbage", "trailing");
    /* yajl takes a value and an unterminated string after it as complete */
    test_invalid(pool, "[4]\"", 4, 0, "trailing garbage", "[4] and a quote");
    test_invalid(pool, "{}\"", 3, 0, "trailing garbage", "{} and a quote");
    test_invalid(pool, "4 \"ab", 5, 0, "trailing garbage", "4 and a string");
    test_invalid(pool, "\"a\" \"", 5, 0, "trailing garbage",
                 "a string and a quote");
    test_invalid(pool, "{a:1}", 5, 0, "invalid", "unquoted key");
    test_invalid(pool, "\"\xff\"", 3, 0, "invalid", "invalid UTF-8");
    test_invalid(pool, "[1,]", 4, 0, "unallowed token", "trailing comma");
    test_invalid(pool, "nul", 3, 0, "invalid", "nul");

    for (i = 0; i < 100; i++) {
        deep[i] = '[';
    }

    test_invalid(pool, deep, 100, 0, "deeper than 64", "depth limit");
    test_invalid(pool, deep, 5, 4, "deeper than 4", "a smaller depth limit");

    /* numbers */

    a = test_parse(pool, "[1, 1.0, 1e2, 1.5, 1e400]");
    v = ((ngx_http_backend_json_t **) a->items.elts)[0];
    test_ok(v->integer && v->number == 1, "1 is an integer");
    v = ((ngx_http_backend_json_t **) a->items.elts)[1];
    test_ok(v->integer, "1.0 is an integer");
    v = ((ngx_http_backend_json_t **) a->items.elts)[2];
    test_ok(v->integer && v->number == 100, "1e2 is an integer");
    v = ((ngx_http_backend_json_t **) a->items.elts)[3];
    test_ok(!v->integer, "1.5 is not");
    v = ((ngx_http_backend_json_t **) a->items.elts)[4];
    test_ok(!v->integer && v->raw.len == 5, "1e400 keeps its text");

    /* lookups: the last of duplicate keys wins, as with JSON.parse() */

    a = test_parse(pool, "{\"k\":1,\"k\":2}");
    v = ngx_http_backend_json_get(a, (u_char *) "k", 1);
    test_ok(v && v->number == 2, "duplicate keys");
    test_ok(ngx_http_backend_json_get(a, (u_char *) "x", 1) == NULL,
            "missing key");

    /* equality: numbers by value, objects regardless of order */

    a = test_parse(pool, "{\"a\":[1,{\"b\":2.0}],\"c\":null}");
    b = test_parse(pool, "{\"c\":null,\"a\":[1.0,{\"b\":2}]}");
    test_ok(ngx_http_backend_json_equal(a, b), "equal");

    b = test_parse(pool, "{\"c\":null}");
    test_ok(!ngx_http_backend_json_equal(a, b), "not equal");

    /* duplicate keys: the last counts, as in JavaScript */

    a = test_parse(pool, "{\"a\":1,\"a\":2}");
    test_ok(ngx_http_backend_json_equal(a, a), "duplicates: equal to itself");
    b = test_parse(pool, "{\"a\":2}");
    test_ok(ngx_http_backend_json_equal(a, b)
            && ngx_http_backend_json_equal(b, a),
            "duplicates: equal to the object of the last value");
    b = test_parse(pool, "{\"a\":1}");
    test_ok(!ngx_http_backend_json_equal(a, b), "duplicates: not the first");
    b = test_parse(pool, "{\"a\":2,\"b\":1}");
    test_ok(!ngx_http_backend_json_equal(a, b)
            && !ngx_http_backend_json_equal(b, a),
            "duplicates: a key more");

    test_ok(ngx_http_backend_json_utf8_length((u_char *) "a\xc3\xa9\xf0\x9f"
                                              "\x98\x80", 7) == 3,
            "code points");

    /* lone surrogate escapes are U+FFFD, pairs are what they pair */

    test_roundtrip(pool, "[\"\\ud800x\",\"\\udc00\",\"a\\udfff\\ud800b\","
                   "\"\\ud83d\\ude00\",\"\\ud800\\u0041\",\"\\\\ud800\"]",
                   "[\"\xef\xbf\xbdx\",\"\xef\xbf\xbd\","
                   "\"a\xef\xbf\xbd\xef\xbf\xbd" "b\",\"\xf0\x9f\x98\x80\","
                   "\"\xef\xbf\xbd" "A\",\"\\\\ud800\"]");

    /* numbers as bound: their exact value in canonical decimal */

    test_number(pool, "5", "5");
    test_number(pool, "5.0", "5");
    test_number(pool, "1e0", "1");
    test_number(pool, "10e-1", "1");
    test_number(pool, "95E+0", "95");
    test_number(pool, "56.000", "56");
    test_number(pool, "-0", "0");
    test_number(pool, "-0.0e5", "0");
    test_number(pool, "1.50", "1.5");
    test_number(pool, "-12.340e2", "-1234");
    test_number(pool, "1e-7", "0.0000001");
    test_number(pool, "0.00012e2", "0.012");
    test_number(pool, "9007199254740993", "9007199254740993");
    test_number(pool, "9007199254740993.000e0", "9007199254740993");
    test_number(pool, "1e21", "1000000000000000000000");
    test_number(pool, "1.5e1002", "1.5e+1002");
    test_number(pool, "-25e-1003", "-2.5e-1002");
    test_number(pool, "1e9999999999", "1e9999999999");

    /* integers without strtod(), the same values */

    a = test_parse(pool, "[-5, 0, -0, 123456789012345, 1234567890123456,"
                   " 12345678901234567890, 5e0]");
    v = ((ngx_http_backend_json_t **) a->items.elts)[0];
    test_ok(v->integer && v->number == -5, "-5");
    v = ((ngx_http_backend_json_t **) a->items.elts)[2];
    test_ok(v->integer && v->number == 0 && signbit(v->number), "-0");
    v = ((ngx_http_backend_json_t **) a->items.elts)[3];
    test_ok(v->integer && v->number == 123456789012345.0, "15 digits");
    v = ((ngx_http_backend_json_t **) a->items.elts)[4];
    test_ok(v->integer && v->number == 1234567890123456.0, "16 digits");
    v = ((ngx_http_backend_json_t **) a->items.elts)[5];
    test_ok(v->integer && v->number == 12345678901234567890.0, "20 digits");
    v = ((ngx_http_backend_json_t **) a->items.elts)[6];
    test_ok(v->integer && v->number == 5, "5e0");

    /* minify: parse's verdict, the text as it came without blanks */

    test_minify(pool, " { \"a\" : [ 1 , -0.5e+3 , true , false , null ] ,"
                "\n\t\"b\" : { } , \"c\" : [ ] } ", 74, 0,
                "{\"a\":[1,-0.5e+3,true,false,null],\"b\":{},\"c\":[]}",
                "minify: blanks go");
    test_minify(pool, "\"a b\\n\\u00e9\\/\xc3\xa9\"", 17, 0,
                "\"a b\\n\\u00e9\\/\xc3\xa9\"", "minify: strings as they are");
    test_minify(pool, "[\"\\ud800x\",\"\\udc00\",\"\\ud83d\\ude00\","
                "\"\\ud800\\u0041\"]", 50, 0,
                "[\"\\ufffdx\",\"\\ufffd\",\"\\ud83d\\ude00\","
                "\"\\ufffd\\u0041\"]", "minify: lone surrogates");
    test_minify(pool, "7", 1, 0, "7", "minify: a number alone");
    test_minify(pool, "\v[1,\f2]", 7, 0, "[1,2]", "minify: \\v and \\f");
    test_minify(pool, "[1]\v", 4, 0, NULL, "minify: \\v after the root");
    test_minify(pool, "{\"k\":1,\"k\":2}", 13, 0, "{\"k\":1,\"k\":2}",
                "minify: duplicate keys kept");
    test_minify(pool, "", 0, 0, NULL, "minify: empty");
    test_minify(pool, "   ", 3, 0, NULL, "minify: blanks only");
    test_minify(pool, "[[[[[", 5, 0, NULL, "minify: truncated");
    test_minify(pool, "{\"a\":", 5, 0, NULL, "minify: no value");
    test_minify(pool, "{\"a\":1}x", 8, 0, NULL, "minify: trailing");
    test_minify(pool, "[4]\"", 4, 0, NULL, "minify: [4] and a quote");
    test_minify(pool, "{a:1}", 5, 0, NULL, "minify: unquoted key");
    test_minify(pool, "\"\xff\"", 3, 0, NULL, "minify: invalid UTF-8");
    test_minify(pool, "[\"\xed\xa0\x80\"]", 7, 0,
                "[\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"]",
                "minify: CESU as U+FFFD, as parsed");
    test_minify(pool, "\"\xc0\xaf\"", 4, 0, "\"\xef\xbf\xbd\xef\xbf\xbd\"",
                "minify: overlong as U+FFFD, as parsed");
    test_minify(pool, "\"\xed\xa0\"", 4, 0, NULL, "minify: CESU cut");
    test_minify(pool, "[1,]", 4, 0, NULL, "minify: trailing comma");
    test_minify(pool, "[,1]", 4, 0, NULL, "minify: leading comma");
    test_minify(pool, "{\"a\" 1}", 7, 0, NULL, "minify: no colon");
    test_minify(pool, "{\"a\":1,}", 8, 0, NULL, "minify: comma before }");
    test_minify(pool, "[1}", 3, 0, NULL, "minify: ] expected");
    test_minify(pool, "{\"a\":1]", 7, 0, NULL, "minify: } expected");
    test_minify(pool, "nul", 3, 0, NULL, "minify: nul");
    test_minify(pool, "tru", 3, 0, NULL, "minify: tru");
    test_minify(pool, "01", 2, 0, NULL, "minify: leading zero");
    test_minify(pool, "1.", 2, 0, NULL, "minify: no fraction digits");
    test_minify(pool, "-", 1, 0, NULL, "minify: a minus alone");
    test_minify(pool, "1e", 2, 0, NULL, "minify: no exponent digits");
    test_minify(pool, ".5", 2, 0, NULL, "minify: no integer part");
    test_minify(pool, "\"a\tb\"", 5, 0, NULL, "minify: a raw tab");
    test_minify(pool, "\"\\x\"", 4, 0, NULL, "minify: a bad escape");
    test_minify(pool, "\"\\u12g4\"", 8, 0, NULL, "minify: a bad \\u");
    test_minify(pool, "\"\\u12", 5, 0, NULL, "minify: a short \\u");
    test_minify(pool, "\"abc", 4, 0, NULL, "minify: unterminated");
    test_minify(pool, "[1]\0", 4, 0, NULL, "minify: a NUL after");
    test_minify(pool, deep, 64, 0, NULL, "minify: 64 open, unclosed");
    test_minify(pool, deep, 100, 0, NULL, "minify: depth limit");

    for (i = 0; i < 64; i++) {
        deep[64 + i] = ']';
    }

    deep[128] = '\0';
    test_minify(pool, deep, 128, 0, deep, "minify: 64 levels");
    test_minify(pool, deep + 1, 127, 0, NULL, "minify: unbalanced");
    test_minify(pool, deep + 60, 8, 4, "[[[[]]]]", "minify: 4 levels of 4");
    test_minify(pool, deep + 59, 10, 4, NULL, "minify: 5 levels of 4");

    printf("1..%u\n", (unsigned) test_n);

    ngx_destroy_pool(pool);

    return test_failed ? 1 : 0;
}
