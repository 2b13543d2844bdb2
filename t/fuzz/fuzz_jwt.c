
/*
 * Copyright (C) ngx_backend authors
 */


/*
 * libFuzzer target: Clerk session token verification, with the clock,
 * issuer and azp of the unit test's fixtures (t/unit/fixtures/jwt, minted
 * with jose).  The first input byte picks what the rest is:
 *
 *   0  a token, verified against the fixtures' JWKS and a key of this
 *      target (kid "kid-f"): the fixtures' tokens reach the claims with
 *      real signatures, mutations of them the header, base64url and
 *      signature checks;
 *   1  a header and a payload, one line each, which this target encodes
 *      and signs with its own RSA key (RS384/RS512 if the header names
 *      them, else RS256): every payload reaches the claims checks;
 *   2  a JWKS document, added to an empty key set that then verifies a
 *      token of the fixtures.
 *
 * Checked: NGX_OK exactly when the reason is "ok", and a verified token
 * has a sub and an expiry the rules accept.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "ngx_http_backend_jwt.h"


#ifndef FUZZ_FIXTURES
#define FUZZ_FIXTURES  "t/unit/fixtures/"
#endif


static ngx_log_t                     fuzz_log;
static ngx_pool_t                   *fuzz_pool;
static ngx_http_backend_jwks_t      *fuzz_jwks;
static ngx_http_backend_jwt_rules_t  fuzz_rules;
static EVP_PKEY                     *fuzz_key;
static ngx_str_t                     fuzz_token;


static ngx_str_t
fuzz_read(const char *name)
{
    FILE       *f;
    long        n;
    ngx_str_t   s;

    f = fopen(name, "rb");
    if (f == NULL) {
        fprintf(stderr, "%s: %s\n", name, strerror(errno));
        abort();
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);

    s.data = ngx_pnalloc(fuzz_pool, n + 1);
    if (s.data == NULL || fread(s.data, 1, n, f) != (size_t) n) {
        abort();
    }

    s.data[n] = '\0';
    s.len = n;
    fclose(f);

    return s;
}


static void
fuzz_init(void)
{
    u_char              *p, *q;
    BIO                 *bio;
    long                 now;
    char                 issuer[256], azp[256];
    ngx_str_t            text, kid, err, *a;
    ngx_array_t         *azps;
    BUF_MEM             *mem;

    ngx_pagesize = getpagesize();
    fuzz_pool = ngx_create_pool(16384, &fuzz_log);

    text = fuzz_read(FUZZ_FIXTURES "jwt/meta.txt");
    if (sscanf((char *) text.data, "%ld %255s %255s", &now, issuer, azp)
        != 3)
    {
        abort();
    }

    fuzz_rules.now = now;
    fuzz_rules.leeway = 5;
    fuzz_rules.issuer.len = ngx_strlen(issuer);
    fuzz_rules.issuer.data = ngx_pnalloc(fuzz_pool, fuzz_rules.issuer.len);
    ngx_memcpy(fuzz_rules.issuer.data, issuer, fuzz_rules.issuer.len);
    fuzz_rules.max_size = 8192;

    azps = ngx_array_create(fuzz_pool, 1, sizeof(ngx_str_t));
    a = ngx_array_push(azps);
    a->len = ngx_strlen(azp);
    a->data = ngx_pnalloc(fuzz_pool, a->len);
    ngx_memcpy(a->data, azp, a->len);
    fuzz_rules.azp = azps;

    fuzz_jwks = ngx_http_backend_jwks_create(fuzz_pool);

    text = fuzz_read(FUZZ_FIXTURES "jwt/jwks.json");
    if (ngx_http_backend_jwks_add_json(fuzz_jwks, text.data, text.len, &err)
        != NGX_OK)
    {
        abort();
    }

    /* the first token of the fixtures ("valid") */

    text = fuzz_read(FUZZ_FIXTURES "jwt/tokens.txt");
    p = (u_char *) ngx_strchr(text.data, ' ');
    p = p ? (u_char *) ngx_strchr(p + 1, ' ') : NULL;
    q = p ? (u_char *) ngx_strchr(p, '\n') : NULL;
    if (q == NULL) {
        abort();
    }

    fuzz_token.data = p + 1;
    fuzz_token.len = q - p - 1;

    /* a key of our own, to sign what the fuzzer writes */

    fuzz_key = EVP_RSA_gen(2048);
    bio = BIO_new(BIO_s_mem());

    if (fuzz_key == NULL || bio == NULL
        || PEM_write_bio_PUBKEY(bio, fuzz_key) != 1)
    {
        abort();
    }

    BIO_get_mem_ptr(bio, &mem);
    ngx_str_set(&kid, "kid-f");

    if (ngx_http_backend_jwks_add_pem(fuzz_jwks, (u_char *) mem->data,
                                      mem->length, &kid, &err)
        != NGX_OK)
    {
        abort();
    }

    BIO_free(bio);
}


static void
fuzz_verify(ngx_pool_t *pool, ngx_http_backend_jwks_t *jwks, u_char *token,
    size_t len)
{
    ngx_int_t                rc;
    const char              *reason;
    ngx_http_backend_jwt_t   jwt;

    reason = NULL;

    rc = ngx_http_backend_jwt_verify(pool, jwks, &fuzz_rules, token, len,
                                     &jwt, &reason);

    if (rc == NGX_ERROR) {
        return;
    }

    if (getenv("FUZZ_VERBOSE")) {
        fprintf(stderr, "reason: %s\n", reason ? reason : "(none)");
    }

    if (reason == NULL || (rc == NGX_OK) != (ngx_strcmp(reason, "ok") == 0)) {
        fprintf(stderr, "rc %d, reason %s\n", (int) rc,
                reason ? reason : "(none)");
        abort();
    }

    if (rc == NGX_OK
        && (jwt.sub.len == 0
            || jwt.exp <= fuzz_rules.now - fuzz_rules.leeway))
    {
        fprintf(stderr, "verified without sub or expired\n");
        abort();
    }
}


/* header '\n' payload: base64url of each, signed with fuzz_key */

static void
fuzz_sign(ngx_pool_t *pool, u_char *data, size_t size)
{
    u_char        *nl, *token, sig[1024];
    size_t         siglen;
    ngx_str_t      src, dst;
    EVP_MD_CTX    *md;
    const EVP_MD  *hash;

    nl = memchr(data, '\n', size);
    if (nl == NULL) {
        return;
    }

    token = ngx_pnalloc(pool, ngx_base64_encoded_length(size) + 8
                              + ngx_base64_encoded_length(sizeof(sig)));
    if (token == NULL) {
        return;
    }

    src.data = data;
    src.len = nl - data;
    dst.data = token;
    ngx_encode_base64url(&dst, &src);
    dst.data[dst.len++] = '.';

    src.data = nl + 1;
    src.len = data + size - nl - 1;
    dst.data += dst.len;
    ngx_encode_base64url(&dst, &src);
    dst.len = dst.data + dst.len - token;

    hash = EVP_sha256();

    if (ngx_strlcasestrn(data, nl, (u_char *) "RS384", 5 - 1)) {
        hash = EVP_sha384();

    } else if (ngx_strlcasestrn(data, nl, (u_char *) "RS512", 5 - 1)) {
        hash = EVP_sha512();
    }

    md = EVP_MD_CTX_new();
    siglen = sizeof(sig);

    if (md == NULL
        || EVP_DigestSignInit(md, NULL, hash, NULL, fuzz_key) != 1
        || EVP_DigestSign(md, sig, &siglen, token, dst.len) != 1)
    {
        abort();
    }

    EVP_MD_CTX_free(md);

    token[dst.len] = '.';
    src.data = sig;
    src.len = siglen;
    dst.data = token + dst.len + 1;
    ngx_encode_base64url(&dst, &src);

    fuzz_verify(pool, fuzz_jwks, token, dst.data + dst.len - token);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                   *copy;
    ngx_str_t                 err;
    ngx_pool_t               *pool;
    ngx_http_backend_jwks_t  *jwks;

    if (fuzz_pool == NULL) {
        fuzz_init();
    }

    if (size == 0) {
        return 0;
    }

    pool = ngx_create_pool(4096, &fuzz_log);
    if (pool == NULL) {
        abort();
    }

    /* exactly the bytes, so that reads past them are seen */

    copy = ngx_alloc(size > 1 ? size - 1 : 1, &fuzz_log);
    if (copy == NULL) {
        abort();
    }

    ngx_memcpy(copy, data + 1, size - 1);

    switch (data[0] % 3) {

    case 0:
        fuzz_verify(pool, fuzz_jwks, copy, size - 1);
        break;

    case 1:
        fuzz_sign(pool, copy, size - 1);
        break;

    default:
        jwks = ngx_http_backend_jwks_create(pool);
        if (jwks == NULL) {
            abort();
        }

        if (ngx_http_backend_jwks_add_json(jwks, copy, size - 1, &err)
            == NGX_OK)
        {
            fuzz_verify(pool, jwks, fuzz_token.data, fuzz_token.len);
        }

        break;
    }

    ngx_free(copy);
    ngx_destroy_pool(pool);

    return 0;
}
