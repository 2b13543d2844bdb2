
/*
 * Copyright (C) ngx_backend authors
 */


#ifndef _NGX_HTTP_BACKEND_ADAPTER_INT_H_INCLUDED_
#define _NGX_HTTP_BACKEND_ADAPTER_INT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_backend.h"
#include "ngx_http_backend_adapter.h"
#include "ngx_http_backend_cache.h"


/*
 * What the adapter module's two files share: its configuration
 * (ngx_http_backend_adapter_conf.c) and its calls
 * (ngx_http_backend_adapter.c)
 */



#define NGX_HTTP_BACKEND_ADAPTER_STATES      256
#define NGX_HTTP_BACKEND_ADAPTER_NAME_MAX    64

#define NGX_HTTP_BACKEND_ADAPTER_CACHE       'A'

/* what ends an attempt or a call; the metrics' outcome labels */

#define NGX_HTTP_BACKEND_ADAPTER_OK          0
#define NGX_HTTP_BACKEND_ADAPTER_TIMEOUT     1
#define NGX_HTTP_BACKEND_ADAPTER_ERROR       2
#define NGX_HTTP_BACKEND_ADAPTER_5XX         3
#define NGX_HTTP_BACKEND_ADAPTER_429         4
#define NGX_HTTP_BACKEND_ADAPTER_4XX         5
#define NGX_HTTP_BACKEND_ADAPTER_MALFORMED   6
#define NGX_HTTP_BACKEND_ADAPTER_ATTEMPTS    7   /* outcomes of an attempt */
#define NGX_HTTP_BACKEND_ADAPTER_OPEN        7
#define NGX_HTTP_BACKEND_ADAPTER_LIMITED     8
#define NGX_HTTP_BACKEND_ADAPTER_BUDGET      9
#define NGX_HTTP_BACKEND_ADAPTER_DEGRADED    10
#define NGX_HTTP_BACKEND_ADAPTER_OUTCOMES    11

/* retries on=: failures, and statuses by a bit each */

#define NGX_HTTP_BACKEND_RETRY_TIMEOUT       0x0001
#define NGX_HTTP_BACKEND_RETRY_ERROR         0x0002
#define NGX_HTTP_BACKEND_RETRY_429           0x0004
#define NGX_HTTP_BACKEND_RETRY_500           0x0008
#define NGX_HTTP_BACKEND_RETRY_502           0x0010
#define NGX_HTTP_BACKEND_RETRY_503           0x0020
#define NGX_HTTP_BACKEND_RETRY_504           0x0040
#define NGX_HTTP_BACKEND_RETRY_5XX           0x0080

#define NGX_HTTP_BACKEND_ADAPTER_PART_TEXT   0
#define NGX_HTTP_BACKEND_ADAPTER_PART_INPUT  1
#define NGX_HTTP_BACKEND_ADAPTER_PART_CTX    2


typedef struct {
    u_char                          name[NGX_HTTP_BACKEND_ADAPTER_NAME_MAX];
    size_t                          len;        /* 0: a free slot */
    ngx_http_backend_breaker_t      breaker;
    ngx_http_backend_bucket_t       bucket;
} ngx_http_backend_adapter_state_t;


typedef struct {
    ngx_http_backend_adapter_state_t  states[NGX_HTTP_BACKEND_ADAPTER_STATES];
} ngx_http_backend_adapter_sh_t;


typedef struct {
    ngx_str_t                       name;
    ngx_str_t                       location;
    ngx_msec_t                      timeout;
    ngx_msec_t                      budget;
    ngx_uint_t                      retries;
    ngx_uint_t                      retry_on;
    ngx_msec_t                      backoff;
    ngx_msec_t                      backoff_max;
    ngx_uint_t                      jitter;
    ngx_str_t                       idempotency;    /* a header name */
    ngx_http_backend_breaker_conf_t breaker;        /* failures 0: none */
    ngx_uint_t                      rate;           /* 0: none */
    ngx_uint_t                      burst;
    ngx_msec_t                      stale;          /* 0: fail */

    ngx_http_backend_adapter_state_t  *state;       /* in the zone */

    ngx_http_backend_series_t      *calls[NGX_HTTP_BACKEND_ADAPTER_OUTCOMES];
    ngx_http_backend_series_t      *attempts[NGX_HTTP_BACKEND_ADAPTER_ATTEMPTS];
    ngx_http_backend_series_t      *duration;
    ngx_http_backend_series_t      *breaker_state;
    ngx_http_backend_series_t      *transitions[3];
    ngx_http_backend_series_t      *degraded[NGX_HTTP_BACKEND_ADAPTER_OUTCOMES];

    u_char                         *file;
    ngx_uint_t                      line;
} ngx_http_backend_adapter_t;


typedef struct {
    ngx_uint_t                      type;
    ngx_str_t                       text;
    ngx_array_t                     path;           /* input.a.b */
    size_t                          field;          /* ctx.<field> */
    unsigned                        query:1;        /* after the '?' */
} ngx_http_backend_adapter_part_t;


struct ngx_http_backend_adapter_call_s {
    ngx_str_t                       name;
    ngx_http_backend_adapter_t     *adapter;
    ngx_uint_t                      method;
    ngx_str_t                       method_name;
    ngx_str_t                       target;         /* as written */
    ngx_array_t                     parts;          /* of part_t */
    ngx_array_t                     key;            /* key=input.a.b */
    ngx_array_t                     body_path;      /* body=item.payload */
    unsigned                        body:1;         /* body=input */
    unsigned                        uses_ctx:1;
    ngx_uint_t                      line;
};


typedef struct {
    ngx_array_t                     adapters;       /* of adapter_t */
    ngx_http_backend_cache_t       *cache;          /* last good answers */
    ngx_shm_zone_t                 *state_zone;
    ngx_slab_pool_t                *shpool;
    ngx_http_backend_adapter_sh_t  *sh;
    ngx_event_t                     refresh;    /* the breakers' gauge */
    u_char                         *zone_file;
    ngx_uint_t                      zone_line;
} ngx_http_backend_adapter_main_conf_t;


/*
 * A query may get the last good answer when the API gave none: breaker
 * open, budget spent, the last attempt timed out, failed, 5xx or 429, or
 * the rate limit held it back; never for a 4xx or a malformed answer,
 * which the API would give again
 */
#define ngx_http_backend_adapter_degradable(o)                                \
    ((o) != NGX_HTTP_BACKEND_ADAPTER_OK && (o) != NGX_HTTP_BACKEND_ADAPTER_4XX \
     && (o) != NGX_HTTP_BACKEND_ADAPTER_MALFORMED                            \
     && (o) != NGX_HTTP_BACKEND_ADAPTER_DEGRADED)


/*
 * A call without a client request (a queue's item, a job's slot,
 * ngx_http_backend_adapter_bg.c): how it ended, for its handler.  Never a
 * last good answer: the work that follows must see the API's own.
 */

typedef struct {
    ngx_uint_t                      outcome;
    ngx_uint_t                      status;         /* the API's, or 0 */
    ngx_uint_t                      attempts;
    ngx_str_t                       answer;         /* ok: JSON */
} ngx_http_backend_adapter_result_t;

typedef void (*ngx_http_backend_adapter_handler_pt)(
    ngx_http_backend_adapter_result_t *res, void *data);


/* the outcome labels, by NGX_HTTP_BACKEND_ADAPTER_OK... */
extern char  *ngx_http_backend_adapter_outcomes[];

/*
 * A call made from r, a request of the caller's own with no client
 * (ngx_http_backend_adapter_bg.c): input holds the values of the target,
 * body the body (or NULL), key the idempotency key.  The handler is
 * called once, possibly before this returns.  NGX_DECLINED: a value of
 * the target is missing, *err says which.
 */
ngx_int_t ngx_http_backend_adapter_start(ngx_http_request_t *r,
    ngx_http_backend_adapter_call_t *cc, ngx_http_backend_json_t *input,
    ngx_http_backend_json_t *body, ngx_str_t *key,
    ngx_http_backend_adapter_handler_pt handler, void *data, ngx_str_t *err);

/* "call" in a backend_queue or backend_schedule block: root "item", "slot" */
char *ngx_http_backend_adapter_call_conf(ngx_conf_t *cf, char *root,
    ngx_http_backend_adapter_call_t **pcc);
ngx_http_backend_adapter_t *ngx_http_backend_adapter_find(ngx_conf_t *cf,
    ngx_str_t *name);

/* $backend_adapter_uri */
ngx_int_t ngx_http_backend_adapter_uri_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


#endif /* _NGX_HTTP_BACKEND_ADAPTER_INT_H_INCLUDED_ */
