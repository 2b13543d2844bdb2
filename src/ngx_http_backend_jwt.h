
/*
 * Copyright (C) ngx_backend authors
 */


#ifndef _NGX_HTTP_BACKEND_JWT_H_INCLUDED_
#define _NGX_HTTP_BACKEND_JWT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_backend_json.h"


/*
 * Clerk session tokens: RS256/384/512 JWTs verified against RSA keys by
 * kid (a JWKS document, or a PEM key), signature before any claim, then
 * the claims as Clerk's verifyToken checks them, and stricter where our
 * configuration asks (issuer).
 */


typedef struct ngx_http_backend_jwks_s  ngx_http_backend_jwks_t;


typedef struct {
    time_t                        now;
    time_t                        leeway;
    ngx_str_t                     issuer;     /* empty: not checked */
    ngx_array_t                  *azp;        /* of ngx_str_t; NULL: any */
    size_t                        max_size;
} ngx_http_backend_jwt_rules_t;


typedef struct {
    ngx_str_t                     sub;
    ngx_str_t                     sid;
    ngx_str_t                     iss;
    ngx_str_t                     azp;
    ngx_str_t                     org_id;
    ngx_str_t                     org_slug;
    ngx_str_t                     org_role;
    time_t                        exp;
    ngx_http_backend_json_t      *claims;
    ngx_str_t                     kid;
} ngx_http_backend_jwt_t;


ngx_http_backend_jwks_t *ngx_http_backend_jwks_create(ngx_pool_t *pool);
ngx_int_t ngx_http_backend_jwks_add_json(ngx_http_backend_jwks_t *jwks,
    u_char *json, size_t len, ngx_str_t *err);
ngx_int_t ngx_http_backend_jwks_add_pem(ngx_http_backend_jwks_t *jwks,
    u_char *pem, size_t len, ngx_str_t *kid, ngx_str_t *err);
ngx_uint_t ngx_http_backend_jwks_count(ngx_http_backend_jwks_t *jwks);
ngx_int_t ngx_http_backend_jwks_has(ngx_http_backend_jwks_t *jwks,
    ngx_str_t *kid);

/*
 * NGX_OK: verified, *jwt filled; NGX_DECLINED: *reason says why, for an
 * info-level log line ("unknown-kid" asks for a JWKS refresh); NGX_ERROR:
 * no memory.
 */
ngx_int_t ngx_http_backend_jwt_verify(ngx_pool_t *pool,
    ngx_http_backend_jwks_t *jwks, ngx_http_backend_jwt_rules_t *rules,
    u_char *token, size_t len, ngx_http_backend_jwt_t *jwt,
    const char **reason);


#endif /* _NGX_HTTP_BACKEND_JWT_H_INCLUDED_ */
