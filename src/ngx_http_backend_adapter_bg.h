
/*
 * Copyright (C) ngx_backend authors
 */


#ifndef _NGX_HTTP_BACKEND_ADAPTER_BG_H_INCLUDED_
#define _NGX_HTTP_BACKEND_ADAPTER_BG_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * An adapter's call without a client request: the "call" of a
 * backend_queue or backend_schedule block (ngx_http_backend_adapter_bg.c).
 * Each call is made from a request of its own, with no client, so that
 * the adapter's subrequests, timers, retries, breaker, rate limit and
 * metrics are those of a procedure's call.
 */


#define NGX_HTTP_BACKEND_ADAPTER_BG_ERRLEN  256


typedef struct ngx_http_backend_adapter_bg_s
    ngx_http_backend_adapter_bg_t;
typedef struct ngx_http_backend_adapter_bg_call_s
    ngx_http_backend_adapter_bg_call_t;

typedef void (*ngx_http_backend_adapter_bg_pt)(
    ngx_http_backend_adapter_bg_call_t *bc, void *data);


/* a value of the work ({item.payload.email}, {slot.time}) */
typedef struct {
    char                           *name;
    u_char                         *value;      /* null-terminated; NULL */
    unsigned                        json:1;     /* value is JSON text */
} ngx_http_backend_adapter_bg_field_t;


/* a call in flight, then ended: what its handler reads */
struct ngx_http_backend_adapter_bg_call_s {
    unsigned                        ok:1;
    ngx_str_t                       result;     /* ok: JSON, terminated */
    u_char                          status[NGX_INT_T_LEN + 1];
    u_char                          error[NGX_HTTP_BACKEND_ADAPTER_BG_ERRLEN];

    /* the call's own */
    ngx_http_backend_adapter_bg_t  *bg;
    ngx_pool_t                     *pool;
    ngx_http_request_t             *request;
    ngx_str_t                       what;       /* for the log */
    ngx_http_backend_adapter_bg_pt  handler;
    void                           *data;
    ngx_event_t                     done;       /* posted: the handler */
    ngx_event_t                     linger;     /* a given-up attempt */
    ngx_queue_t                     queue;      /* in bg->calls */
    unsigned                        ended:1;
    unsigned                        released:1;
};


/* "call ..." in the block; root: "item" or "slot" */
char *ngx_http_backend_adapter_bg_conf(ngx_conf_t *cf, char *root,
    ngx_http_backend_adapter_bg_t **bg);

/* after the http block: the adapter by name, what the call needs */
ngx_int_t ngx_http_backend_adapter_bg_init(ngx_conf_t *cf,
    ngx_http_backend_adapter_bg_t *bg, char *block, ngx_str_t *name,
    u_char *file);

/* once the locations are known: the server whose location it is */
ngx_int_t ngx_http_backend_adapter_bg_server(ngx_conf_t *cf,
    ngx_http_backend_adapter_bg_t *bg, char *block, ngx_str_t *name,
    u_char *file);

/*
 * A call: the target's values from fields, the idempotency key, what the
 * log names.  The handler runs later, from a posted event, once.  NULL:
 * no call was made (no memory).
 */
ngx_http_backend_adapter_bg_call_t *ngx_http_backend_adapter_bg_start(
    ngx_http_backend_adapter_bg_t *bg,
    ngx_http_backend_adapter_bg_field_t *fields, ngx_uint_t nfields,
    ngx_str_t *key, ngx_str_t *what, ngx_http_backend_adapter_bg_pt handler,
    void *data);

/* the handler's data no longer needed: freed once no attempt is in flight */
void ngx_http_backend_adapter_bg_free(ngx_http_backend_adapter_bg_call_t *bc);

/* exit_process: every call left freed */
void ngx_http_backend_adapter_bg_exit(ngx_http_backend_adapter_bg_t *bg);


#endif /* _NGX_HTTP_BACKEND_ADAPTER_BG_H_INCLUDED_ */
