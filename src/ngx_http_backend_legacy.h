
/*
 * Copyright (C) ngx_backend authors
 */


#ifndef _NGX_HTTP_BACKEND_LEGACY_H_INCLUDED_
#define _NGX_HTTP_BACKEND_LEGACY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_backend.h"


/*
 * The way from the Bun/Hono stack to this one (docs/migrating.md):
 * backend_rpc_legacy sends the calls of procedures not declared here to
 * the legacy server (ngx_http_backend_legacy.c), backend_rpc_shadow sends
 * a sample of the calls declared here there as well and compares the
 * answers (ngx_http_backend_shadow.c).
 */


#define NGX_HTTP_BACKEND_SHADOW_MATCH         0
#define NGX_HTTP_BACKEND_SHADOW_MISMATCH      1
#define NGX_HTTP_BACKEND_SHADOW_LEGACY_ERROR  2
#define NGX_HTTP_BACKEND_SHADOW_DROPPED       3
#define NGX_HTTP_BACKEND_SHADOW_NOUTCOMES     4


typedef struct {
    ngx_str_t                       procedure;  /* empty: every one */
    ngx_uint_t                      rate;       /* calls in 10000 */
    ngx_uint_t                      max;        /* in flight, per worker */
    ngx_uint_t                      inflight;
    ngx_array_t                     ignore;     /* of ngx_array_t of str */
    unsigned                        mutations:1;

    u_char                         *file;
    ngx_uint_t                      line;
} ngx_http_backend_shadow_conf_t;


typedef struct {
    ngx_str_t                       uri;        /* '/'-terminated */
    ngx_array_t                    *shadows;    /* of shadow_conf_t */
} ngx_http_backend_legacy_loc_conf_t;


typedef struct {
    /* backend_shadow_calls_total: NOUTCOMES series per procedure */
    ngx_http_backend_series_t     **shadow;
    ngx_http_backend_proc_t        *procs;
    ngx_uint_t                      nprocs;

    ngx_array_t                     shadowed;   /* of shadow_conf_t * */
    unsigned                        shadow_all:1;
} ngx_http_backend_legacy_main_conf_t;


/* rpc_start(): the calls that go to the legacy server, marked; their count */
ngx_uint_t ngx_http_backend_legacy_calls(ngx_http_request_t *r,
    ngx_http_backend_ctx_t *ctx);
/* rpc_start(): the input must be parsed for the legacy server's sake */
ngx_uint_t ngx_http_backend_legacy_needs_input(ngx_http_request_t *r,
    ngx_http_backend_ctx_t *ctx, ngx_uint_t legacy);
/*
 * rpc_start(): each call's input as the client wrote it (before superjson
 * reads it), kept when the legacy server may be sent it
 */
ngx_int_t ngx_http_backend_legacy_save_input(ngx_http_request_t *r,
    ngx_http_backend_ctx_t *ctx, ngx_uint_t legacy);
/* that input of a call, or NULL */
ngx_str_t *ngx_http_backend_legacy_raw(ngx_http_request_t *r,
    ngx_uint_t index);
/* rpc_start(): the marked calls sent, as one request; NGX_ERROR: no memory */
ngx_int_t ngx_http_backend_legacy_start(ngx_http_request_t *r,
    ngx_http_backend_ctx_t *ctx, u_char *body, size_t len);

/*
 * a copy of a request's headers without those the legacy must not see, and
 * X-Request-Id: the request's id
 */
ngx_int_t ngx_http_backend_legacy_headers(ngx_pool_t *pool, ngx_list_t *dst,
    ngx_list_t *src, ngx_uint_t deep, ngx_str_t *request_id);
/* an envelope's status and code as the client reads them */
void ngx_http_backend_legacy_envelope(ngx_http_backend_json_t *env,
    ngx_uint_t *status, ngx_http_backend_error_e *code);

/* rpc_call_done(): a sample of the declared calls, to compare */
void ngx_http_backend_shadow_call(ngx_http_backend_call_t *call);
char *ngx_http_backend_shadow_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


extern ngx_module_t  ngx_http_backend_legacy_module;


#endif /* _NGX_HTTP_BACKEND_LEGACY_H_INCLUDED_ */
