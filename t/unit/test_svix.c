
/*
 * Copyright (C) ngx_backend authors
 */


/*
 * Svix webhook verification, ngx_http_backend_svix_verify(): headers,
 * timestamp tolerance, the "v1,<base64>" list, secrets; signatures made
 * here with OpenSSL's HMAC, the way Svix signs.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ngx_http_backend_svix.h"


#define TEST_NOW  1700000000


static ngx_uint_t  test_n;
static ngx_uint_t  test_failed;


static void
test_ok(ngx_uint_t ok, const char *what, const char *got)
{
    test_n++;

    if (!ok) {
        test_failed++;
    }

    printf("%s %u - %s%s%s\n", ok ? "ok" : "not ok", (unsigned) test_n, what,
           ok ? "" : ": got ", ok ? "" : got);
}


/* "v1," and the base64 HMAC-SHA256 of "id.ts.body" */

static void
test_sign(ngx_str_t *key, char *id, char *ts, char *body, char *out)
{
    u_char        mac[EVP_MAX_MD_SIZE], msg[512];
    ngx_str_t     src, dst;
    unsigned int  n;

    src.len = ngx_sprintf(msg, "%s.%s.%s", id, ts, body) - msg;

    HMAC(EVP_sha256(), key->data, (int) key->len, msg, src.len, mac, &n);

    src.data = mac;
    src.len = n;
    dst.data = (u_char *) out + 3;
    ngx_encode_base64(&dst, &src);

    ngx_memcpy(out, "v1,", 3);
    out[3 + dst.len] = '\0';
}


static void
test_case(ngx_array_t *secrets, const char *what, char *id, char *ts,
    char *sig, char *body, const char *want)
{
    ngx_int_t    rc;
    ngx_str_t    sid, sts, ssig;
    const char  *error, *got;

    sid.data = (u_char *) id;
    sid.len = id ? strlen(id) : 0;
    sts.data = (u_char *) ts;
    sts.len = ts ? strlen(ts) : 0;
    ssig.data = (u_char *) sig;
    ssig.len = sig ? strlen(sig) : 0;

    error = "?";

    rc = ngx_http_backend_svix_verify(secrets, 300, TEST_NOW,
                                      id ? &sid : NULL, ts ? &sts : NULL,
                                      sig ? &ssig : NULL, (u_char *) body,
                                      strlen(body), &error);

    got = (rc == NGX_OK) ? "ok" : (rc == NGX_ERROR) ? "NGX_ERROR" : error;

    test_ok(strcmp(got, want) == 0, what, got);
}


int
main(void)
{
    char          good[128], second[128], foreign[128], list[512];
    char          body[] = "{\"type\":\"user.created\",\"data\":{}}";
    ngx_log_t     log;
    ngx_str_t    *s, other;
    ngx_pool_t   *pool;
    ngx_array_t  *secrets;

    ngx_memzero(&log, sizeof(ngx_log_t));
    ngx_pagesize = getpagesize();

    pool = ngx_create_pool(4096, &log);
    secrets = ngx_array_create(pool, 2, sizeof(ngx_str_t));

    s = ngx_array_push(secrets);
    ngx_str_set(s, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    s = ngx_array_push(secrets);
    ngx_str_set(s, "the second secret");
    ngx_str_set(&other, "not configured");

    test_sign(&((ngx_str_t *) secrets->elts)[0], "msg_1", "1700000000", body,
              good);
    test_sign(&((ngx_str_t *) secrets->elts)[1], "msg_1", "1700000000", body,
              second);
    test_sign(&other, "msg_1", "1700000000", body, foreign);

    test_case(secrets, "signed", "msg_1", "1700000000", good, body, "ok");
    test_case(secrets, "the second secret", "msg_1", "1700000000", second,
              body, "ok");

    (void) snprintf(list, sizeof(list), "v1,AAAA  v2,x %s v1,", good);
    test_case(secrets, "one entry of a list", "msg_1", "1700000000", list,
              body, "ok");

    test_case(secrets, "a secret not configured", "msg_1", "1700000000",
              foreign, body, "invalid signature");
    test_case(secrets, "another body", "msg_1", "1700000000", good, "{}",
              "invalid signature");
    test_case(secrets, "another id", "msg_2", "1700000000", good, body,
              "invalid signature");

    /* found by t/fuzz/fuzz_svix.c: base64 decoding stops at the padding */
    (void) snprintf(list, sizeof(list), "%sAAAA", good);
    test_case(secrets, "text after the padding", "msg_1", "1700000000", list,
              body, "invalid signature");

    (void) snprintf(list, sizeof(list), "%s", good);
    list[strlen(list) - 1] = '\0';
    test_case(secrets, "no padding", "msg_1", "1700000000", list, body,
              "invalid signature");

    test_case(secrets, "v1, alone", "msg_1", "1700000000", "v1,", body,
              "invalid signature");
    test_case(secrets, "no id", NULL, "1700000000", good, body,
              "missing required headers");
    test_case(secrets, "no timestamp", "msg_1", NULL, good, body,
              "missing required headers");
    test_case(secrets, "no signature", "msg_1", "1700000000", NULL, body,
              "missing required headers");
    test_case(secrets, "timestamp not a number", "msg_1", "17e8", good, body,
              "invalid timestamp");
    test_case(secrets, "timestamp too old", "msg_1", "1699999699", good,
              body, "message timestamp too old");
    test_case(secrets, "timestamp too new", "msg_1", "1700000301", good,
              body, "message timestamp too new");

    printf("1..%u\n", (unsigned) test_n);

    ngx_destroy_pool(pool);

    return test_failed ? 1 : 0;
}
