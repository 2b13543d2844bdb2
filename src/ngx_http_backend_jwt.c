
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>

#include "ngx_http_backend_jwt.h"


typedef struct {
    ngx_str_t                     kid;        /* empty: any kid */
    EVP_PKEY                     *key;
} ngx_http_backend_jwt_key_t;


struct ngx_http_backend_jwks_s {
    ngx_pool_t                   *pool;
    ngx_array_t                   keys;
};


static ngx_int_t ngx_http_backend_jwks_push(ngx_http_backend_jwks_t *jwks,
    ngx_str_t *kid, EVP_PKEY *key);
static void ngx_http_backend_jwks_cleanup(void *data);
static EVP_PKEY *ngx_http_backend_jwk_rsa(ngx_pool_t *pool, ngx_str_t *n,
    ngx_str_t *e);
static ngx_int_t ngx_http_backend_jwt_decode(ngx_pool_t *pool, u_char *p,
    size_t len, ngx_str_t *out);
static ngx_str_t *ngx_http_backend_jwt_string(ngx_http_backend_json_t *obj,
    const char *name);
static ngx_int_t ngx_http_backend_jwt_time(ngx_http_backend_json_t *obj,
    const char *name, time_t *t);


ngx_http_backend_jwks_t *
ngx_http_backend_jwks_create(ngx_pool_t *pool)
{
    ngx_pool_cleanup_t       *cln;
    ngx_http_backend_jwks_t  *jwks;

    jwks = ngx_pcalloc(pool, sizeof(ngx_http_backend_jwks_t));
    if (jwks == NULL) {
        return NULL;
    }

    if (ngx_array_init(&jwks->keys, pool, 4,
                       sizeof(ngx_http_backend_jwt_key_t))
        != NGX_OK)
    {
        return NULL;
    }

    /* the keys are OpenSSL's: freed with the pool */

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_backend_jwks_cleanup;
    cln->data = jwks;

    jwks->pool = pool;

    return jwks;
}


static void
ngx_http_backend_jwks_cleanup(void *data)
{
    ngx_http_backend_jwks_t *jwks = data;

    ngx_uint_t                   i;
    ngx_http_backend_jwt_key_t  *k;

    k = jwks->keys.elts;

    for (i = 0; i < jwks->keys.nelts; i++) {
        EVP_PKEY_free(k[i].key);
    }

    jwks->keys.nelts = 0;
}


ngx_uint_t
ngx_http_backend_jwks_count(ngx_http_backend_jwks_t *jwks)
{
    return jwks->keys.nelts;
}


/* a token verified before still has its key: rotation removes keys */

ngx_int_t
ngx_http_backend_jwks_has(ngx_http_backend_jwks_t *jwks, ngx_str_t *kid)
{
    ngx_uint_t                   i;
    ngx_http_backend_jwt_key_t  *k;

    k = jwks->keys.elts;

    for (i = 0; i < jwks->keys.nelts; i++) {
        if (k[i].kid.len == 0
            || (kid->len == k[i].kid.len
                && ngx_strncmp(kid->data, k[i].kid.data, kid->len) == 0))
        {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_backend_jwks_push(ngx_http_backend_jwks_t *jwks, ngx_str_t *kid,
    EVP_PKEY *key)
{
    ngx_http_backend_jwt_key_t  *k;

    k = ngx_array_push(&jwks->keys);
    if (k == NULL) {
        EVP_PKEY_free(key);
        return NGX_ERROR;
    }

    k->key = key;
    k->kid.len = kid ? kid->len : 0;
    k->kid.data = NULL;

    if (k->kid.len) {
        k->kid.data = ngx_pstrdup(jwks->pool, kid);
        if (k->kid.data == NULL) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* {"keys":[{"kty":"RSA","kid":..,"n":..,"e":..}]}; others are skipped */

ngx_int_t
ngx_http_backend_jwks_add_json(ngx_http_backend_jwks_t *jwks, u_char *json,
    size_t len, ngx_str_t *err)
{
    ngx_int_t                  rc;
    ngx_str_t                 *kty, *use, *kid, *n, *e;
    ngx_uint_t                 i, added;
    EVP_PKEY                  *key;
    ngx_http_backend_json_t   *doc, *keys, **item;

    rc = ngx_http_backend_json_parse(jwks->pool, json, len, 0, &doc, err);
    if (rc != NGX_OK) {
        return rc;
    }

    keys = ngx_http_backend_json_get(doc, (u_char *) "keys", 4);

    if (keys == NULL || keys->type != NGX_HTTP_BACKEND_JSON_ARRAY) {
        ngx_str_set(err, "a JWKS needs a \"keys\" array");
        return NGX_DECLINED;
    }

    item = keys->items.elts;
    added = 0;

    for (i = 0; i < keys->items.nelts; i++) {
        kty = ngx_http_backend_jwt_string(item[i], "kty");
        use = ngx_http_backend_jwt_string(item[i], "use");
        kid = ngx_http_backend_jwt_string(item[i], "kid");
        n = ngx_http_backend_jwt_string(item[i], "n");
        e = ngx_http_backend_jwt_string(item[i], "e");

        if (kty == NULL || kty->len != 3
            || ngx_strncmp(kty->data, "RSA", 3) != 0
            || (use && (use->len != 3 || ngx_strncmp(use->data, "sig", 3))))
        {
            continue;
        }

        if (kid == NULL || n == NULL || e == NULL) {
            ngx_str_set(err, "an RSA key of the JWKS lacks kid, n or e");
            return NGX_DECLINED;
        }

        key = ngx_http_backend_jwk_rsa(jwks->pool, n, e);
        if (key == NULL) {
            ngx_str_set(err, "an RSA key of the JWKS is not valid");
            return NGX_DECLINED;
        }

        if (ngx_http_backend_jwks_push(jwks, kid, key) != NGX_OK) {
            return NGX_ERROR;
        }

        added++;
    }

    if (added == 0) {
        ngx_str_set(err, "the JWKS has no RSA signing key");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_backend_jwks_add_pem(ngx_http_backend_jwks_t *jwks, u_char *pem,
    size_t len, ngx_str_t *kid, ngx_str_t *err)
{
    BIO       *bio;
    EVP_PKEY  *key;

    bio = BIO_new_mem_buf(pem, (int) len);
    if (bio == NULL) {
        return NGX_ERROR;
    }

    key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);

    if (key == NULL || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
        EVP_PKEY_free(key);
        ngx_str_set(err, "not an RSA public key in PEM");
        return NGX_DECLINED;
    }

    return ngx_http_backend_jwks_push(jwks, kid, key);
}


static EVP_PKEY *
ngx_http_backend_jwk_rsa(ngx_pool_t *pool, ngx_str_t *n, ngx_str_t *e)
{
    BIGNUM          *bn, *be;
    EVP_PKEY        *key;
    ngx_str_t        dn, de;
    OSSL_PARAM      *params;
    EVP_PKEY_CTX    *ctx;
    OSSL_PARAM_BLD  *bld;

    if (ngx_http_backend_jwt_decode(pool, n->data, n->len, &dn) != NGX_OK
        || ngx_http_backend_jwt_decode(pool, e->data, e->len, &de) != NGX_OK)
    {
        return NULL;
    }

    key = NULL;
    params = NULL;
    ctx = NULL;

    bn = BN_bin2bn(dn.data, (int) dn.len, NULL);
    be = BN_bin2bn(de.data, (int) de.len, NULL);
    bld = OSSL_PARAM_BLD_new();

    if (bn == NULL || be == NULL || bld == NULL
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn)
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
    {
        goto done;
    }

    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);

    if (params == NULL || ctx == NULL
        || EVP_PKEY_fromdata_init(ctx) <= 0
        || EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) <= 0)
    {
        key = NULL;
    }

done:

    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);

    return key;
}


ngx_int_t
ngx_http_backend_jwt_verify(ngx_pool_t *pool, ngx_http_backend_jwks_t *jwks,
    ngx_http_backend_jwt_rules_t *rules, u_char *token, size_t len,
    ngx_http_backend_jwt_t *jwt, const char **reason)
{
    int                          ok;
    u_char                      *p, *dot1, *dot2, *last;
    ngx_str_t                    header, payload, sig, err, *alg, *typ, *cat;
    ngx_str_t                   *kid, *s, *azp;
    ngx_uint_t                   i;
    EVP_MD_CTX                  *md;
    const EVP_MD                *hash;
    ngx_http_backend_json_t     *h, *o, *v;
    ngx_http_backend_jwt_key_t  *k, *key;

    ngx_memzero(jwt, sizeof(ngx_http_backend_jwt_t));

    if (rules->max_size && len > rules->max_size) {
        *reason = "oversized";
        return NGX_DECLINED;
    }

    last = token + len;
    dot1 = ngx_strlchr(token, last, '.');
    dot2 = dot1 ? ngx_strlchr(dot1 + 1, last, '.') : NULL;

    if (dot1 == NULL || dot2 == NULL || ngx_strlchr(dot2 + 1, last, '.')) {
        *reason = "malformed";
        return NGX_DECLINED;
    }

    if (ngx_http_backend_jwt_decode(pool, token, dot1 - token, &header)
           != NGX_OK
        || ngx_http_backend_json_parse(pool, header.data, header.len, 4, &h,
                                       &err) != NGX_OK
        || h->type != NGX_HTTP_BACKEND_JSON_OBJECT)
    {
        *reason = "malformed";
        return NGX_DECLINED;
    }

    /* the header: RS256/384/512 only, a JWT, a session token */

    alg = ngx_http_backend_jwt_string(h, "alg");

    if (alg == NULL || alg->len != 5 || ngx_strncmp(alg->data, "RS", 2) != 0)
    {
        *reason = "alg-not-allowed";
        return NGX_DECLINED;
    }

    if (ngx_strncmp(alg->data + 2, "256", 3) == 0) {
        hash = EVP_sha256();

    } else if (ngx_strncmp(alg->data + 2, "384", 3) == 0) {
        hash = EVP_sha384();

    } else if (ngx_strncmp(alg->data + 2, "512", 3) == 0) {
        hash = EVP_sha512();

    } else {
        *reason = "alg-not-allowed";
        return NGX_DECLINED;
    }

    typ = ngx_http_backend_jwt_string(h, "typ");
    if (typ && (typ->len != 3 || ngx_strncmp(typ->data, "JWT", 3) != 0)) {
        *reason = "typ-not-jwt";
        return NGX_DECLINED;
    }

    cat = ngx_http_backend_jwt_string(h, "cat");
    if (cat && !(cat->len == 15
                 && (ngx_strncmp(cat->data, "cl_B7d4PD111AAA", 15) == 0
                     || ngx_strncmp(cat->data, "cl_I7d4PD111III", 15) == 0)))
    {
        *reason = "not-a-session-token";
        return NGX_DECLINED;
    }

    kid = ngx_http_backend_jwt_string(h, "kid");

    if (ngx_http_backend_jwt_decode(pool, dot1 + 1, dot2 - dot1 - 1,
                                    &payload) != NGX_OK
        || ngx_http_backend_jwt_decode(pool, dot2 + 1, last - dot2 - 1, &sig)
           != NGX_OK)
    {
        *reason = "malformed";
        return NGX_DECLINED;
    }

    /*
     * The signature, before any claim is looked at: with each key of the
     * token's kid and each key without one (PEM keys, any kid), in the
     * order configured, until one verifies; so a rotation that adds a
     * second PEM key accepts the tokens of both
     */

    ok = 0;
    key = NULL;
    k = jwks->keys.elts;

    for (i = 0; !ok && i < jwks->keys.nelts; i++) {
        if (k[i].kid.len
            && (kid == NULL || kid->len != k[i].kid.len
                || ngx_strncmp(kid->data, k[i].kid.data, kid->len) != 0))
        {
            continue;
        }

        key = &k[i];

        md = EVP_MD_CTX_new();
        if (md == NULL) {
            return NGX_ERROR;
        }

        ok = EVP_DigestVerifyInit(md, NULL, hash, NULL, key->key) == 1
             && EVP_DigestVerify(md, sig.data, sig.len, token, dot2 - token)
                == 1;

        EVP_MD_CTX_free(md);
    }

    /* a key that did not verify leaves errors OpenSSL's users would see */
    ERR_clear_error();

    if (key == NULL) {
        *reason = "unknown-kid";
        return NGX_DECLINED;
    }

    if (!ok) {
        *reason = "bad-signature";
        return NGX_DECLINED;
    }

    if (ngx_http_backend_json_parse(pool, payload.data, payload.len, 16,
                                    &jwt->claims, &err)
        != NGX_OK
        || jwt->claims->type != NGX_HTTP_BACKEND_JSON_OBJECT)
    {
        *reason = "malformed";
        return NGX_DECLINED;
    }

    o = jwt->claims;

    s = ngx_http_backend_jwt_string(o, "sub");
    if (s == NULL || s->len == 0) {
        *reason = "no-sub";
        return NGX_DECLINED;
    }

    jwt->sub = *s;

    if (ngx_http_backend_jwt_time(o, "exp", &jwt->exp) != NGX_OK) {
        *reason = "no-exp";
        return NGX_DECLINED;
    }

    if (jwt->exp <= rules->now - rules->leeway) {
        *reason = "expired";
        return NGX_DECLINED;
    }

    {
        time_t  t;

        if (ngx_http_backend_jwt_time(o, "nbf", &t) == NGX_OK
            && t > rules->now + rules->leeway)
        {
            *reason = "not-yet-valid";
            return NGX_DECLINED;
        }

        if (ngx_http_backend_jwt_time(o, "iat", &t) == NGX_OK
            && t > rules->now + rules->leeway)
        {
            *reason = "issued-in-the-future";
            return NGX_DECLINED;
        }
    }

    s = ngx_http_backend_jwt_string(o, "iss");
    if (s) {
        jwt->iss = *s;
    }

    if (rules->issuer.len
        && (s == NULL || s->len != rules->issuer.len
            || ngx_strncmp(s->data, rules->issuer.data, s->len) != 0))
    {
        *reason = "wrong-issuer";
        return NGX_DECLINED;
    }

    s = ngx_http_backend_jwt_string(o, "azp");
    if (s) {
        jwt->azp = *s;
    }

    if (rules->azp && rules->azp->nelts) {
        if (s == NULL) {
            *reason = "azp-missing";
            return NGX_DECLINED;
        }

        azp = rules->azp->elts;

        for (i = 0; i < rules->azp->nelts; i++) {
            if (azp[i].len == s->len
                && ngx_strncmp(azp[i].data, s->data, s->len) == 0)
            {
                break;
            }
        }

        if (i == rules->azp->nelts) {
            *reason = "azp-not-allowed";
            return NGX_DECLINED;
        }
    }

    s = ngx_http_backend_jwt_string(o, "sts");
    if (s && s->len == 7 && ngx_strncmp(s->data, "pending", 7) == 0) {
        *reason = "pending-session";
        return NGX_DECLINED;
    }

    s = ngx_http_backend_jwt_string(o, "sid");
    if (s) {
        jwt->sid = *s;
    }

    if (kid) {
        jwt->kid = *kid;
    }

    /* organizations: v2 "o":{id,slg,rol}, v1 org_id/org_slug/org_role */

    v = ngx_http_backend_json_get(o, (u_char *) "o", 1);

    if (v && v->type == NGX_HTTP_BACKEND_JSON_OBJECT) {
        if ((s = ngx_http_backend_jwt_string(v, "id"))) {
            jwt->org_id = *s;
        }

        if ((s = ngx_http_backend_jwt_string(v, "slg"))) {
            jwt->org_slug = *s;
        }

        if ((s = ngx_http_backend_jwt_string(v, "rol"))) {
            /* v2 drops the "org:" prefix that v1 roles carry */
            jwt->org_role.len = s->len + 4;
            jwt->org_role.data = ngx_pnalloc(pool, s->len + 4);
            if (jwt->org_role.data == NULL) {
                return NGX_ERROR;
            }

            p = ngx_cpymem(jwt->org_role.data, "org:", 4);
            ngx_memcpy(p, s->data, s->len);
        }

    } else {
        if ((s = ngx_http_backend_jwt_string(o, "org_id"))) {
            jwt->org_id = *s;
        }

        if ((s = ngx_http_backend_jwt_string(o, "org_slug"))) {
            jwt->org_slug = *s;
        }

        if ((s = ngx_http_backend_jwt_string(o, "org_role"))) {
            jwt->org_role = *s;
        }
    }

    *reason = "ok";

    return NGX_OK;
}


/* base64url without padding, as JWS writes it */

static ngx_int_t
ngx_http_backend_jwt_decode(ngx_pool_t *pool, u_char *p, size_t len,
    ngx_str_t *out)
{
    ngx_str_t  src;

    if (len == 0 || ngx_strlchr(p, p + len, '=')) {
        return NGX_ERROR;
    }

    src.data = p;
    src.len = len;

    out->data = ngx_pnalloc(pool, ngx_base64_decoded_length(len) + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    return ngx_decode_base64url(out, &src);
}


static ngx_str_t *
ngx_http_backend_jwt_string(ngx_http_backend_json_t *obj, const char *name)
{
    ngx_http_backend_json_t  *v;

    v = ngx_http_backend_json_get(obj, (u_char *) name, ngx_strlen(name));

    return (v && v->type == NGX_HTTP_BACKEND_JSON_STRING) ? &v->string : NULL;
}


static ngx_int_t
ngx_http_backend_jwt_time(ngx_http_backend_json_t *obj, const char *name,
    time_t *t)
{
    ngx_http_backend_json_t  *v;

    v = ngx_http_backend_json_get(obj, (u_char *) name, ngx_strlen(name));

    if (v == NULL || v->type != NGX_HTTP_BACKEND_JSON_NUMBER
        || v->number < 0 || v->number > 1e11)
    {
        return NGX_ERROR;
    }

    *t = (time_t) v->number;

    return NGX_OK;
}
