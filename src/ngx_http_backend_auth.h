
/*
 * Copyright (C) ngx_backend authors
 */


#ifndef _NGX_HTTP_BACKEND_AUTH_H_INCLUDED_
#define _NGX_HTTP_BACKEND_AUTH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * The auth context: built once per request in the access phase from a
 * Clerk session token and the application's user row, shared by every
 * call of a batch; tiers are checked against it.
 */


typedef struct ngx_http_backend_tier_s  ngx_http_backend_tier_t;


typedef struct {
    ngx_str_t                       clerk_user_id;
    ngx_str_t                       session_id;
    ngx_str_t                       org_id;
    ngx_str_t                       org_slug;
    ngx_str_t                       org_role;

    ngx_str_t                       user_id;    /* empty: no app user */
    ngx_str_t                       role;
    ngx_str_t                       user;       /* the row as JSON */

    const char                     *reason;     /* for the log */
    /* where the context came from, for $backend_context_source and the
     * metrics: "zone", "redis", "database", or empty (none needed) */
    const char                     *source;
    void                           *fill;       /* async state */

    ngx_uint_t                      jwks;       /* JWKS fetch state */
    ngx_uint_t                      polls;

    unsigned                        done:1;
    unsigned                        waiting:1;
    unsigned                        verified:1;
    unsigned                        cookie:1;   /* token from __session */

    /*
     * The user lookup failed for the server's reason, not the token's:
     * calls that need a user answer 503 (transient) or 500, never 401
     */
    unsigned                        lookup_failed:1;
    unsigned                        transient:1;
    unsigned                        retry_after:1;  /* header added */
} ngx_http_backend_auth_ctx_t;


typedef struct ngx_http_backend_invalidate_s  ngx_http_backend_invalidate_t;

typedef void (*ngx_http_backend_invalidate_pt)(
    ngx_http_backend_invalidate_t *inv);

#define NGX_HTTP_BACKEND_INVALIDATE_USER     'u'
#define NGX_HTTP_BACKEND_INVALIDATE_SESSION  's'

struct ngx_http_backend_invalidate_s {
    ngx_uint_t                      what;
    ngx_str_t                       id;         /* Clerk user or session */
    ngx_http_backend_invalidate_pt  handler;
    void                           *data;
    ngx_log_t                      *log;
    void                           *cmd;        /* private */
};


ngx_http_backend_tier_t *ngx_http_backend_auth_tier(ngx_conf_t *cf,
    ngx_str_t *name);
ngx_uint_t ngx_http_backend_auth_is_public(ngx_http_backend_tier_t *tier);

/* NGX_OK, or NGX_DECLINED with *code and *message to answer */
ngx_int_t ngx_http_backend_auth_check(ngx_http_request_t *r,
    ngx_http_backend_tier_t *tier, ngx_uint_t *code, ngx_str_t *message);

/*
 * Drops a user's or a session's cached contexts on this node, in Redis,
 * and (through Redis) on every other node: both are generation counters
 * (bumped in the zone, INCR gen:<id> in Redis), so that a fill that began
 * before the invalidation is never stored after it.  Until Redis has taken
 * it (the INCR, then the PUBLISH, each reply checked) it is pending in the
 * session zone, sent again by any worker, and this node trusts nothing
 * Redis holds for that user or session.  NGX_OK: inv->handler is called
 * once Redis has taken it or failed to (it stays pending then); NGX_DONE:
 * nothing to wait for (no Redis, or it is down: pending); NGX_ERROR: no
 * memory.  inv->id is copied.  Cancel with ..._invalidate_cancel(): the
 * invalidation goes on, the handler is not called.  A NULL handler: no
 * callback, inv need not outlive the call.
 */
ngx_int_t ngx_http_backend_auth_invalidate(ngx_cycle_t *cycle,
    ngx_http_backend_invalidate_t *inv);
void ngx_http_backend_auth_invalidate_cancel(
    ngx_http_backend_invalidate_t *inv);


/*
 * For readiness (ngx_http_backend_health.c), NGX_DECLINED when not
 * configured: the keys this worker verifies tokens with (r: a request,
 * which updates the worker's copy of backend_auth_jwks_url's keys, and
 * with none yet starts their fetch in the background); whether this
 * worker's Redis links are up (1) or not (0)
 */
ngx_int_t ngx_http_backend_auth_jwks_keys(ngx_cycle_t *cycle,
    ngx_http_request_t *r);
ngx_int_t ngx_http_backend_auth_redis_up(ngx_cycle_t *cycle);


extern ngx_module_t  ngx_http_backend_auth_module;


#endif /* _NGX_HTTP_BACKEND_AUTH_H_INCLUDED_ */
