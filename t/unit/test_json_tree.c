
/*
 * Copyright (C) ngx_backend authors
 */


/*
 * ngx_http_backend_json: the tree's containers at their exact size, the
 * limit on the tree's memory, and string literals that are valid UTF-8
 * whatever bytes they are given.
 */


#include <ngx_config.h>
#include <ngx_core.h>

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


/* a string literal: the length said first, then exactly those bytes */

static void
test_literal(ngx_pool_t *pool, const char *in, size_t len, const char *want,
    const char *what)
{
    u_char  *buf, *last;
    size_t   n;

    n = ngx_http_backend_json_str_len((u_char *) in, len);

    buf = ngx_pnalloc(pool, n + 16);
    if (buf == NULL) {
        test_ok(0, what);
        return;
    }

    ngx_memset(buf, 'X', n + 16);

    last = ngx_http_backend_json_str_write(buf, (u_char *) in, len);

    if ((size_t) (last - buf) != n || n != strlen(want)
        || ngx_strncmp(buf, want, n) != 0 || buf[n] != 'X')
    {
        printf("# said %u, wrote %u: %.*s\n", (unsigned) n,
               (unsigned) (last - buf), (int) (last - buf), buf);
        test_ok(0, what);
        return;
    }

    test_ok(1, what);
}


/* a string literal as it was written a byte at a time, for test_blocks() */

static u_char *
test_str_bytes(u_char *p, u_char *s, size_t len)
{
    u_char         *last;
    ngx_int_t       k;
    static u_char   hex[] = "0123456789abcdef";

    *p++ = '"';

    for (last = s + len; s < last; s++) {

        if (*s == '"' || *s == '\\') {
            *p++ = '\\';
            *p++ = *s;

        } else if (*s == '\b' || *s == '\f' || *s == '\n' || *s == '\r'
                   || *s == '\t')
        {
            *p++ = '\\';
            *p++ = (*s == '\b') ? 'b' : (*s == '\f') ? 'f'
                   : (*s == '\n') ? 'n' : (*s == '\r') ? 'r' : 't';

        } else if (*s < 0x20) {
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
                *p++ = 0xef; *p++ = 0xbf; *p++ = 0xbd;
                s += -k - 1;
            }
        }
    }

    *p++ = '"';

    return p;
}


/*
 * Strings are read 8 bytes at a time where none needs more than a copy:
 * random strings, mostly plain text, at every alignment, each byte that
 * needs a look (or a UTF-8 sequence) anywhere in a block, written as they
 * were a byte at a time, and not a byte past what str_len() said.
 */

static void
test_blocks(void)
{
    u_char       in[80], want[600], got[600];
    size_t       len, n, w;
    uint32_t     seed;
    ngx_uint_t   i, j, off, bad;

    static const char  *pieces[] = {
        "\"", "\\", "\n", "\x01", "\x1f", " ", "~", "\x7f",
        "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\x80", "\xff",
        "\xed\xa0\x80", "\xe2\x82", "\xc3"
    };

    seed = 777;
    bad = 0;

#define test_rand()  (seed = seed * 1103515245 + 12345, (seed >> 16) & 0x7fff)

    for (i = 0; i < 50000; i++) {
        off = i % 8;
        len = 0;
        n = test_rand() % 64;

        while (len < n) {
            if (test_rand() % 8) {
                in[off + len++] = 'a' + test_rand() % 26;
                continue;
            }

            j = test_rand() % (sizeof(pieces) / sizeof(pieces[0]));

            if (len + strlen(pieces[j]) > sizeof(in) - 8) {
                break;
            }

            ngx_memcpy(in + off + len, pieces[j], strlen(pieces[j]));
            len += strlen(pieces[j]);
        }

        w = test_str_bytes(want, in + off, len) - want;
        n = ngx_http_backend_json_str_len(in + off, len);

        ngx_memset(got, 'X', sizeof(got));

        if (n != w
            || (size_t) (ngx_http_backend_json_str_write(got, in + off, len)
                         - got) != w
            || ngx_memcmp(got, want, w) != 0 || got[w] != 'X')
        {
            if (bad++ == 0) {
                printf("# %u bytes at offset %u: said %u, want %u\n",
                       (unsigned) len, (unsigned) off, (unsigned) n,
                       (unsigned) w);
            }
        }
    }

#undef test_rand

    test_ok(bad == 0, "8 bytes at a time = a byte at a time, 50000 strings");
}


static ngx_http_backend_json_t *
test_parse(ngx_pool_t *pool, const char *in, size_t max_size, ngx_str_t *err)
{
    ngx_int_t                        rc;
    ngx_http_backend_json_t         *json;
    ngx_http_backend_json_limits_t   limits;

    limits.max_depth = 0;
    limits.max_size = max_size;

    ngx_str_null(err);

    rc = ngx_http_backend_json_parse_limited(pool, (u_char *) in, strlen(in),
                                             &limits, &json, err);

    return (rc == NGX_OK) ? json : NULL;
}


/* every container's items exactly as many as it has, one for the empty */

static ngx_uint_t
test_exact(ngx_http_backend_json_t *v)
{
    ngx_uint_t                       i;
    ngx_http_backend_json_t        **item;
    ngx_http_backend_json_member_t  *m;

    switch (v->type) {

    case NGX_HTTP_BACKEND_JSON_ARRAY:
        if (v->items.nalloc != (v->items.nelts ? v->items.nelts : 1)) {
            return 0;
        }

        item = v->items.elts;

        for (i = 0; i < v->items.nelts; i++) {
            if (!test_exact(item[i])) {
                return 0;
            }
        }

        return 1;

    case NGX_HTTP_BACKEND_JSON_OBJECT:
        if (v->items.nalloc != (v->items.nelts ? v->items.nelts : 1)) {
            return 0;
        }

        m = v->items.elts;

        for (i = 0; i < v->items.nelts; i++) {
            if (!test_exact(m[i].value)) {
                return 0;
            }
        }

        return 1;

    default:
        return 1;
    }
}


int
main(void)
{
    char                            *big;
    size_t                           len;
    ngx_str_t                        err, s;
    ngx_log_t                        log;
    ngx_uint_t                       i, n;
    ngx_pool_t                      *pool, *p;
    ngx_http_backend_json_t         *v, *e;
    ngx_http_backend_json_member_t  *m;

    static const char  *nested = "{\"a\":[1,{\"b\":[],\"c\":{}},[2,3]],"
                                 "\"d\":{\"e\":{\"f\":null}},\"g\":\"h\","
                                 "\"i\":[[],[[]],{}]}";

    ngx_memzero(&log, sizeof(ngx_log_t));
    ngx_pagesize = getpagesize();

    pool = ngx_create_pool(4096, &log);
    if (pool == NULL) {
        printf("Bail out! ngx_create_pool\n");
        return 1;
    }

    /* ill-formed UTF-8 is U+FFFD, one for each maximal ill-formed part */

    test_literal(pool, "\xff", 1, "\"\xef\xbf\xbd\"", "FF");
    test_literal(pool, "a\xff" "b", 3, "\"a\xef\xbf\xbd" "b\"", "a FF b");
    test_literal(pool, "\xc0\xaf", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"",
                 "overlong C0 AF");
    test_literal(pool, "\xed\xa0\x80", 3,
                 "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"",
                 "a surrogate, ED A0 80");
    test_literal(pool, "\xe2\x82", 2, "\"\xef\xbf\xbd\"",
                 "truncated E2 82, at the end");
    test_literal(pool, "\xe2\x82x", 3, "\"\xef\xbf\xbdx\"",
                 "truncated E2 82, then ASCII");
    test_literal(pool, "\xf4\x90\x80\x80", 4,
                 "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"",
                 "beyond U+10FFFF");
    test_literal(pool, "\x80\"", 2, "\"\xef\xbf\xbd\\\"\"",
                 "a lone continuation byte, then a quote");
    test_literal(pool, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9,
                 "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",
                 "valid 2, 3 and 4 byte sequences unchanged");
    test_literal(pool, "\xef\xbf\xbd\x01", 4, "\"\xef\xbf\xbd\\u0001\"",
                 "U+FFFD itself, a control character");

    test_blocks();

    /* the tree: containers at their exact size */

    v = test_parse(pool, nested, 0, &err);
    test_ok(v != NULL && test_exact(v), "containers at their exact size");

    if (v && ngx_http_backend_json_serialize(pool, v, &s) == NGX_OK) {
        test_ok(s.len == strlen(nested)
                && ngx_strncmp(s.data, nested, s.len) == 0,
                "the tree written back");

    } else {
        test_ok(0, "the tree written back");
    }

    /* an empty object takes members later: the defaults of a schema */

    v = test_parse(pool, "[{},{\"a\":1}]", 0, &err);
    e = v ? ((ngx_http_backend_json_t **) v->items.elts)[0] : NULL;

    for (i = 0; e && i < 5; i++) {
        m = ngx_array_push(&e->items);
        if (m == NULL) {
            break;
        }

        ngx_str_set(&m->key, "k");
        m->value = ((ngx_http_backend_json_t **) v->items.elts)[1];
    }

    test_ok(e != NULL && e->items.nelts == 5
            && ngx_http_backend_json_get(e, (u_char *) "k", 1) != NULL,
            "members pushed into a parsed empty object");

    /* the limit: [{},{},...] of 300 KB */

    n = 100000;
    len = 3 * n + 1;
    big = malloc(len + 1);
    if (big == NULL) {
        printf("Bail out! malloc\n");
        return 1;
    }

    big[0] = '[';

    for (i = 0; i < n; i++) {
        ngx_memcpy(big + 1 + 3 * i, "{},", 3);
    }

    big[len - 1] = ']';
    big[len] = '\0';

    p = ngx_create_pool(4096, &log);
    if (p == NULL) {
        printf("Bail out! ngx_create_pool\n");
        return 1;
    }

    v = test_parse(p, big, NGX_HTTP_BACKEND_JSON_MAX_SIZE(len), &err);

    test_ok(v == NULL && err.len > 14
            && ngx_strncmp(err.data, "JSON too large", 14) == 0,
            "[{},...] over the limit is declined as too large");

    ngx_destroy_pool(p);

    p = ngx_create_pool(4096, &log);
    if (p == NULL) {
        printf("Bail out! ngx_create_pool\n");
        return 1;
    }

    v = test_parse(p, big, 0, &err);
    test_ok(v != NULL && v->items.nelts == n && test_exact(v),
            "without a limit the same parses, at exact sizes");

    ngx_destroy_pool(p);
    ngx_destroy_pool(pool);
    free(big);

    printf("1..%u\n", (unsigned) test_n);

    return test_failed ? 1 : 0;
}
