
/*
 * Copyright (C) ngx_backend authors
 */


#ifndef _NGX_HTTP_BACKEND_SVIX_H_INCLUDED_
#define _NGX_HTTP_BACKEND_SVIX_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * Svix's signature scheme (Clerk's webhooks), apart from the request so
 * that t/fuzz/fuzz_svix.c can call it: the values of svix-id,
 * svix-timestamp and svix-signature (NULL: the header is missing), the
 * raw body, the secrets (of ngx_str_t, raw bytes).  NGX_OK: a signature
 * matches; NGX_DECLINED: *error says why, for the client; NGX_ERROR: no
 * memory.
 */
ngx_int_t ngx_http_backend_svix_verify(ngx_array_t *secrets,
    time_t tolerance, time_t now, ngx_str_t *id, ngx_str_t *timestamp,
    ngx_str_t *signature, u_char *body, size_t len, const char **error);


#endif /* _NGX_HTTP_BACKEND_SVIX_H_INCLUDED_ */
