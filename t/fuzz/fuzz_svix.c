
/*
 * Copyright (C) ngx_backend authors
 */


/*
 * libFuzzer target: Svix webhook verification
 * (ngx_http_backend_svix_verify(), what backend_webhook runs on each
 * delivery).  Input: a flags byte, then svix-id, svix-timestamp and
 * svix-signature, one line each, and the body.  Flags: bit 0 signs the
 * delivery (the first '*' of the signature line becomes the base64 HMAC,
 * or " v1,<base64>" is appended), bits 1-2 with which secret (0, 1: the
 * configured ones; else one that is not), bits 3-5 leave out the id,
 * the timestamp or the signature header.  The clock is fixed at
 * 1700000000, the tolerance 300 s.
 *
 * Checked, against a computation of this target's own: the delivery is
 * verified exactly when its headers are there, its timestamp is within
 * the tolerance, and the signature list has, as one of its
 * space-separated entries, "v1," and the base64 HMAC of a configured
 * secret.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ngx_http_backend_svix.h"


#define FUZZ_NOW        1700000000
#define FUZZ_TOLERANCE  300


static ngx_log_t     fuzz_log;
static ngx_array_t  *fuzz_secrets;
static ngx_pool_t   *fuzz_pool;

static ngx_str_t     fuzz_keys[3] = {
    ngx_string("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
    ngx_string("second secret, 24 bytes!"),
    ngx_string("a secret nobody configured")
};


/* a field of the input in a buffer of its own size, to see overreads */

static ngx_str_t *
fuzz_field(ngx_pool_t *pool, u_char **p, u_char *last, ngx_uint_t line)
{
    u_char     *end;
    ngx_str_t  *s;

    end = line ? memchr(*p, '\n', last - *p) : NULL;
    if (end == NULL) {
        end = last;
    }

    s = ngx_palloc(pool, sizeof(ngx_str_t));
    if (s == NULL) {
        abort();
    }

    s->len = end - *p;
    s->data = ngx_alloc(s->len ? s->len : 1, &fuzz_log);
    if (s->data == NULL) {
        abort();
    }

    ngx_memcpy(s->data, *p, s->len);

    *p = (end < last) ? end + 1 : last;

    return s;
}


static void
fuzz_mac(ngx_str_t *key, ngx_str_t *id, ngx_str_t *ts, ngx_str_t *body,
    u_char *b64, size_t *len)
{
    u_char        mac[EVP_MAX_MD_SIZE];
    ngx_str_t     src, dst;
    unsigned int  n;
    HMAC_CTX     *h;

    h = HMAC_CTX_new();

    if (h == NULL
        || HMAC_Init_ex(h, key->data, (int) key->len, EVP_sha256(), NULL)
           != 1
        || HMAC_Update(h, id->data, id->len) != 1
        || HMAC_Update(h, (u_char *) ".", 1) != 1
        || HMAC_Update(h, ts->data, ts->len) != 1
        || HMAC_Update(h, (u_char *) ".", 1) != 1
        || HMAC_Update(h, body->data, body->len) != 1
        || HMAC_Final(h, mac, &n) != 1)
    {
        abort();
    }

    HMAC_CTX_free(h);

    src.data = mac;
    src.len = n;
    dst.data = b64;
    ngx_encode_base64(&dst, &src);
    *len = dst.len;
}


/* "v1,<b64>" as one space-separated entry of the list */

static ngx_uint_t
fuzz_listed(ngx_str_t *list, u_char *b64, size_t len)
{
    u_char  *p, *last, *start;

    p = list->data;
    last = p + list->len;

    while (p < last) {
        while (p < last && *p == ' ') {
            p++;
        }

        start = p;

        while (p < last && *p != ' ') {
            p++;
        }

        if ((size_t) (p - start) == 3 + len
            && ngx_strncmp(start, "v1,", 3) == 0
            && ngx_strncmp(start + 3, b64, len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static ngx_uint_t
fuzz_timely(ngx_str_t *ts)
{
    size_t  i;
    long    t;

    if (ts->len == 0) {
        return 0;
    }

    t = 0;

    for (i = 0; i < ts->len; i++) {
        if (ts->data[i] < '0' || ts->data[i] > '9') {
            return 0;
        }

        /* leading zeros are digits too; anything larger is too late */
        t = ngx_min(t * 10 + ts->data[i] - '0', 10000000000000L);
    }

    return t >= FUZZ_NOW - FUZZ_TOLERANCE && t <= FUZZ_NOW + FUZZ_TOLERANCE;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char       *p, *last, *star, b64[128];
    size_t        len;
    ngx_int_t     rc;
    ngx_str_t    *id, *ts, *sig, *body, *s, signed_sig;
    ngx_uint_t    flags, i, want;
    ngx_pool_t   *pool;
    const char   *error;

    if (fuzz_pool == NULL) {
        ngx_pagesize = getpagesize();
        fuzz_pool = ngx_create_pool(4096, &fuzz_log);
        fuzz_secrets = ngx_array_create(fuzz_pool, 2, sizeof(ngx_str_t));

        for (i = 0; i < 2; i++) {
            s = ngx_array_push(fuzz_secrets);
            *s = fuzz_keys[i];
        }
    }

    if (size == 0) {
        return 0;
    }

    flags = data[0];
    p = (u_char *) data + 1;
    last = (u_char *) data + size;

    pool = ngx_create_pool(4096, &fuzz_log);
    if (pool == NULL) {
        abort();
    }

    id = fuzz_field(pool, &p, last, 1);
    ts = fuzz_field(pool, &p, last, 1);
    sig = fuzz_field(pool, &p, last, 1);
    body = fuzz_field(pool, &p, last, 0);

    if (flags & 1) {
        i = (flags >> 1) & 3;
        fuzz_mac(&fuzz_keys[i < 2 ? i : 2], id, ts, body, b64, &len);

        signed_sig.data = ngx_alloc(sig->len + 4 + len, &fuzz_log);
        if (signed_sig.data == NULL) {
            abort();
        }

        star = memchr(sig->data, '*', sig->len);

        if (star) {
            p = ngx_cpymem(signed_sig.data, sig->data, star - sig->data);
            p = ngx_cpymem(p, b64, len);
            p = ngx_cpymem(p, star + 1, sig->data + sig->len - star - 1);

        } else {
            p = ngx_cpymem(signed_sig.data, sig->data, sig->len);
            p = ngx_cpymem(p, " v1,", 4);
            p = ngx_cpymem(p, b64, len);
        }

        signed_sig.len = p - signed_sig.data;

        ngx_free(sig->data);
        *sig = signed_sig;
    }

    rc = ngx_http_backend_svix_verify(fuzz_secrets, FUZZ_TOLERANCE, FUZZ_NOW,
                                      (flags & 8) ? NULL : id,
                                      (flags & 16) ? NULL : ts,
                                      (flags & 32) ? NULL : sig,
                                      body->data, body->len, &error);

    /* what it should be */

    want = 0;

    if (!(flags & (8|16|32)) && fuzz_timely(ts)) {
        for (i = 0; i < 2; i++) {
            fuzz_mac(&fuzz_keys[i], id, ts, body, b64, &len);
            want |= fuzz_listed(sig, b64, len);
        }
    }

    if (rc == NGX_ERROR || (rc == NGX_OK) != want) {
        fprintf(stderr, "rc %d (%s), expected %s\n", (int) rc,
                rc == NGX_OK ? "ok" : error,
                want ? "verified" : "rejected");
        abort();
    }

    ngx_free(id->data);
    ngx_free(ts->data);
    ngx_free(sig->data);
    ngx_free(body->data);
    ngx_destroy_pool(pool);

    return 0;
}
