
/*
 * Copyright (C) ngx_backend authors
 */


#ifndef _NGX_HTTP_BACKEND_ADAPTER_H_INCLUDED_
#define _NGX_HTTP_BACKEND_ADAPTER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * External APIs behind named adapters (docs/directives.md,
 * backend_adapter).  This header holds the policies, pure functions of
 * their state, a clock and a random value, so that they are unit tested
 * without nginx's event loop (ngx_http_backend_adapter_policy.c,
 * t/unit/test_adapter.c); the module (ngx_http_backend_adapter.c) keeps
 * their state in shared memory and calls them under the zone's lock.
 */


#define NGX_HTTP_BACKEND_BREAKER_CLOSED     0
#define NGX_HTTP_BACKEND_BREAKER_OPEN       1
#define NGX_HTTP_BACKEND_BREAKER_HALF_OPEN  2

/* what an ended call tells the breaker */
#define NGX_HTTP_BACKEND_BREAKER_SUCCESS    0
#define NGX_HTTP_BACKEND_BREAKER_FAILURE    1
#define NGX_HTTP_BACKEND_BREAKER_NEUTRAL    2   /* a probe given back */

/* a transition, for the metrics and the log */
#define NGX_HTTP_BACKEND_BREAKER_NONE       0
#define NGX_HTTP_BACKEND_BREAKER_OPENED     1
#define NGX_HTTP_BACKEND_BREAKER_PROBING    2
#define NGX_HTTP_BACKEND_BREAKER_CLOSING    3

#define NGX_HTTP_BACKEND_JITTER_NONE        0
#define NGX_HTTP_BACKEND_JITTER_FULL        1


typedef struct {
    ngx_uint_t                      failures;   /* to open */
    ngx_msec_t                      window;
    ngx_msec_t                      open;       /* before probes */
    ngx_uint_t                      probes;
} ngx_http_backend_breaker_conf_t;


typedef struct {
    ngx_uint_t                      state;
    ngx_uint_t                      failures;
    ngx_msec_t                      window_start;
    ngx_msec_t                      since;      /* opened, or probing */
    ngx_uint_t                      probes;     /* in flight */
} ngx_http_backend_breaker_t;


typedef struct {
    ngx_msec_t                      last;
    ngx_uint_t                      tokens;     /* thousandths */
    unsigned                        started:1;
} ngx_http_backend_bucket_t;


/*
 * The wait before retry n (1: the first retry): exponential from base,
 * capped at max; full jitter draws uniformly in [0, that] from rnd
 */
ngx_msec_t ngx_http_backend_adapter_backoff(ngx_uint_t n, ngx_msec_t base,
    ngx_msec_t max, ngx_uint_t jitter, uint32_t rnd);

/*
 * A value put into a path or a query: every byte but the unreserved ones
 * (A-Z a-z 0-9 - . _ ~) percent-encoded, so that it cannot add a segment,
 * a query, a fragment, user info or a scheme.  dst NULL: the length only.
 */
size_t ngx_http_backend_adapter_escape(u_char *dst, u_char *src, size_t len);

/* a Retry-After value (seconds or an HTTP date) in ms from now */
ngx_int_t ngx_http_backend_adapter_retry_after(u_char *p, size_t len,
    time_t now, ngx_msec_t *ms);

/*
 * NGX_OK: closed, call; NGX_AGAIN: a probe, call; NGX_DECLINED: open,
 * fail fast, *retry_after ms before a probe may go
 */
ngx_int_t ngx_http_backend_breaker_allow(ngx_http_backend_breaker_t *b,
    ngx_http_backend_breaker_conf_t *conf, ngx_msec_t now,
    ngx_msec_t *retry_after, ngx_uint_t *transition);
/* a call's end; returns the transition it made */
ngx_uint_t ngx_http_backend_breaker_report(ngx_http_backend_breaker_t *b,
    ngx_http_backend_breaker_conf_t *conf, ngx_msec_t now, ngx_uint_t what,
    ngx_uint_t probe);

/*
 * A token bucket of burst tokens refilled at rate per second: NGX_OK, a
 * token taken; NGX_DECLINED, none, *wait ms until one is there
 */
ngx_int_t ngx_http_backend_bucket_take(ngx_http_backend_bucket_t *b,
    ngx_uint_t rate, ngx_uint_t burst, ngx_msec_t now, ngx_msec_t *wait);


#endif /* _NGX_HTTP_BACKEND_ADAPTER_H_INCLUDED_ */
