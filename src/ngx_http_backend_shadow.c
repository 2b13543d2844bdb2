
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_backend.h"
#include "ngx_http_backend_legacy.h"


/*
 * backend_rpc_shadow: a sample of the calls of declared procedures is sent
 * to the legacy server as well, once our answer is known, and the two
 * answers are compared (status, tRPC code, the data deep-equal but for the
 * paths ignored); backend_shadow_calls_total counts the outcomes and a
 * mismatch is logged with its first differing path.
 *
 * The client's answer and its connection must not wait for the shadow (as
 * they would for nginx's mirror, or a background subrequest: either holds
 * the client's request, hence its keep-alive connection, until it ends).
 * So a shadow call is a subrequest of a request of its own: a request on a
 * connection without a socket, made here, that copies what it needs of the
 * client's (headers, addresses, the request id) into its own pools.  Its
 * events are marked active, so nginx never registers the missing socket;
 * the subrequest is in memory, so nothing is ever written to it; and it is
 * freed here once the subrequest is done, never closed by nginx.  Shadow
 * calls in flight are bounded per worker (max=): over it, a call is
 * dropped and counted.
 */


#define NGX_HTTP_BACKEND_SHADOW_DEPTH  (2 * NGX_HTTP_BACKEND_JSON_MAX_DEPTH)


typedef struct {
    ngx_pool_t                       *pool;     /* this struct's */
    ngx_connection_t                 *connection;
    ngx_http_request_t               *request;  /* of its own */

    ngx_http_backend_shadow_conf_t   *conf;
    ngx_http_backend_series_t       **series;   /* the procedure's */
    ngx_str_t                        *procedure;
    ngx_str_t                         request_id;

    ngx_str_t                         ours;     /* our envelope */
    ngx_uint_t                        status;   /* ours */

    ngx_int_t                         rc;       /* the legacy's answer */
    ngx_uint_t                        legacy_status;
    ngx_str_t                         answer;

    ngx_http_log_ctx_t                log_ctx;
    ngx_log_t                         log;
    ngx_event_t                       run;
    ngx_event_t                       free;

    unsigned                          done:1;
    unsigned                          superjson:1;
} ngx_http_backend_shadow_t;


typedef struct {
    ngx_array_t                      *ignore;   /* of ngx_array_t of str */
    ngx_str_t                         path[NGX_HTTP_BACKEND_SHADOW_DEPTH];
    u_char                            index[NGX_HTTP_BACKEND_SHADOW_DEPTH]
                                           [NGX_INT_T_LEN];
    ngx_uint_t                        depth;    /* of the difference */
} ngx_http_backend_shadow_diff_t;


static ngx_http_backend_shadow_conf_t *ngx_http_backend_shadow_find(
    ngx_http_request_t *r, ngx_http_backend_proc_t *proc);
static ngx_int_t ngx_http_backend_shadow_start(ngx_http_backend_call_t *call,
    ngx_http_backend_shadow_conf_t *sc, ngx_http_backend_series_t **series);
static ngx_int_t ngx_http_backend_shadow_request(ngx_http_backend_shadow_t *sh,
    ngx_http_backend_call_t *call);
static ngx_int_t ngx_http_backend_shadow_sub(ngx_http_backend_shadow_t *sh,
    ngx_http_backend_call_t *call);
static void ngx_http_backend_shadow_run(ngx_event_t *ev);
static ngx_int_t ngx_http_backend_shadow_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static void ngx_http_backend_shadow_finish(ngx_http_request_t *r);
static ngx_uint_t ngx_http_backend_shadow_compare(
    ngx_http_backend_shadow_t *sh, ngx_str_t *where);
static ngx_uint_t ngx_http_backend_shadow_equal(
    ngx_http_backend_shadow_diff_t *d, ngx_uint_t depth,
    ngx_http_backend_json_t *a, ngx_http_backend_json_t *b);
static ngx_uint_t ngx_http_backend_shadow_ignored(
    ngx_http_backend_shadow_diff_t *d, ngx_uint_t depth);
static ngx_int_t ngx_http_backend_shadow_path(ngx_pool_t *pool,
    ngx_http_backend_shadow_diff_t *d, ngx_str_t *where);
static ngx_http_backend_json_t *ngx_http_backend_shadow_unwrap(
    ngx_http_backend_json_t *v);
static void ngx_http_backend_shadow_free(ngx_event_t *ev);
static void ngx_http_backend_shadow_empty(ngx_event_t *ev);


void
ngx_http_backend_shadow_call(ngx_http_backend_call_t *call)
{
    ngx_http_request_t                   *r;
    ngx_http_backend_proc_t              *proc;
    ngx_http_backend_series_t           **series;
    ngx_http_backend_shadow_conf_t       *sc;
    ngx_http_backend_legacy_main_conf_t  *lmcf;

    r = call->ctx->request;
    proc = call->proc;

    if (r != r->main) {
        /* a shadow's own call, in a legacy location that is ours: no loop */
        return;
    }

    sc = ngx_http_backend_shadow_find(r, proc);

    if (sc == NULL
        || (proc->type == NGX_HTTP_BACKEND_MUTATION && !sc->mutations)
        || (ngx_uint_t) ngx_random() % 10000 >= sc->rate)
    {
        return;
    }

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_backend_legacy_module);

    if (lmcf->shadow == NULL) {
        return;
    }

    series = &lmcf->shadow[(proc - lmcf->procs)
                           * NGX_HTTP_BACKEND_SHADOW_NOUTCOMES];

    if (sc->inflight >= sc->max
        || ngx_http_backend_shadow_start(call, sc, series) != NGX_OK)
    {
        ngx_http_backend_metrics_add(
                                series[NGX_HTTP_BACKEND_SHADOW_DROPPED], 1);
    }
}


/* the location's shadow of the procedure: its own, else one for all */

static ngx_http_backend_shadow_conf_t *
ngx_http_backend_shadow_find(ngx_http_request_t *r,
    ngx_http_backend_proc_t *proc)
{
    ngx_uint_t                           i;
    ngx_http_backend_shadow_conf_t      *sc, *all;
    ngx_http_backend_legacy_loc_conf_t  *llcf;

    llcf = ngx_http_get_module_loc_conf(r, ngx_http_backend_legacy_module);

    if (llcf->shadows == NULL) {
        return NULL;
    }

    sc = llcf->shadows->elts;
    all = NULL;

    for (i = 0; i < llcf->shadows->nelts; i++) {
        if (sc[i].procedure.len == 0) {
            all = &sc[i];
            continue;
        }

        if (sc[i].procedure.len == proc->name.len
            && ngx_strncmp(sc[i].procedure.data, proc->name.data,
                           proc->name.len)
               == 0)
        {
            return &sc[i];
        }
    }

    return all;
}


static ngx_int_t
ngx_http_backend_shadow_start(ngx_http_backend_call_t *call,
    ngx_http_backend_shadow_conf_t *sc, ngx_http_backend_series_t **series)
{
    ngx_pool_t                 *pool;
    ngx_connection_t           *c, *cc;
    ngx_http_request_t         *r;
    ngx_http_backend_shadow_t  *sh;

    r = call->ctx->request;
    cc = r->connection;

    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    sh = ngx_pcalloc(pool, sizeof(ngx_http_backend_shadow_t));
    c = ngx_pcalloc(pool, sizeof(ngx_connection_t));

    if (sh == NULL || c == NULL) {
        goto failed;
    }

    sh->pool = pool;
    sh->connection = c;
    sh->conf = sc;
    sh->series = series;
    sh->procedure = &call->proc->name;
    sh->status = call->status;
    sh->superjson = call->ctx->superjson;

    sh->ours.data = ngx_pstrdup(pool, &call->out);
    sh->ours.len = call->out.len;
    sh->request_id.data = ngx_pstrdup(pool, &call->ctx->request_id);
    sh->request_id.len = call->ctx->request_id.len;

    if (sh->ours.data == NULL || sh->request_id.data == NULL) {
        goto failed;
    }

    /* a connection without a socket, addressed as the client's */

    c->read = ngx_pcalloc(pool, sizeof(ngx_event_t));
    c->write = ngx_pcalloc(pool, sizeof(ngx_event_t));
    c->data = ngx_pcalloc(pool, sizeof(ngx_http_connection_t));

    if (c->read == NULL || c->write == NULL || c->data == NULL) {
        goto failed;
    }

    sh->log = *cc->log;
    sh->log.data = &sh->log_ctx;
    sh->log.action = NULL;
    sh->log_ctx.connection = c;

    c->fd = (ngx_socket_t) -1;
    c->pool = pool;
    c->log = &sh->log;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);
    c->listening = cc->listening;
    c->addr_text = cc->addr_text;
    c->socklen = cc->socklen;
    c->local_socklen = cc->local_socklen;

    c->sockaddr = ngx_palloc(pool, cc->socklen);
    c->local_sockaddr = ngx_palloc(pool, NGX_SOCKADDRLEN);
    c->addr_text.data = ngx_pstrdup(pool, &cc->addr_text);

    if (c->sockaddr == NULL || c->local_sockaddr == NULL
        || c->addr_text.data == NULL)
    {
        goto failed;
    }

    ngx_memcpy(c->sockaddr, cc->sockaddr, cc->socklen);

    if (cc->local_sockaddr && cc->local_socklen) {
        ngx_memcpy(c->local_sockaddr, cc->local_sockaddr, cc->local_socklen);

    } else {
        c->local_socklen = 0;
    }

    /* "active": nginx never adds the missing socket to the event loop */

    c->read->active = 1;
    c->write->active = 1;
    c->read->data = c;
    c->write->data = c;
    c->read->log = c->log;
    c->write->log = c->log;
    c->read->handler = ngx_http_backend_shadow_empty;
    c->write->handler = ngx_http_backend_shadow_empty;

    ((ngx_http_connection_t *) c->data)->conf_ctx =
                                                  r->http_connection->conf_ctx;

    if (ngx_http_backend_shadow_request(sh, call) != NGX_OK) {
        if (sh->request) {
            sh->request->logged = 1;
            ngx_http_free_request(sh->request, 0);
        }

        goto failed;
    }

    sc->inflight++;

    /* it runs from the event loop, outside the client's request */

    sh->run.handler = ngx_http_backend_shadow_run;
    sh->run.data = sh;
    sh->run.log = c->log;

    sh->free.handler = ngx_http_backend_shadow_free;
    sh->free.data = sh;
    sh->free.log = c->log;

    ngx_post_event(&sh->run, &ngx_posted_events);

    return NGX_OK;

failed:

    ngx_destroy_pool(pool);

    return NGX_ERROR;
}


/* the request of its own: the client's headers and request id, copied */

static ngx_int_t
ngx_http_backend_shadow_request(ngx_http_backend_shadow_t *sh,
    ngx_http_backend_call_t *call)
{
    ngx_connection_t        *c;
    ngx_http_request_t      *r, *cr;
    ngx_http_backend_ctx_t  *ctx;

    c = sh->connection;
    cr = call->ctx->request;

    r = ngx_http_create_request(c);
    if (r == NULL) {
        return NGX_ERROR;
    }

    sh->request = r;
    c->data = r;
    c->requests = 1;

    sh->log_ctx.request = r;
    sh->log_ctx.current_request = r;

    r->logged = 1;
    r->method = NGX_HTTP_GET;
    ngx_str_set(&r->method_name, "GET");
    r->http_version = NGX_HTTP_VERSION_11;
    ngx_str_set(&r->http_protocol, "HTTP/1.1");
    r->uri = *sh->procedure;
    r->write_event_handler = ngx_http_backend_shadow_finish;
    r->log_handler = cr->log_handler;

    if (ngx_http_backend_legacy_headers(r->pool, &r->headers_in.headers,
                                        &cr->headers_in.headers, 1,
                                        &sh->request_id)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the error log's request id and trace id, for its lines */

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_backend_ctx_t));
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->request = r;
    ctx->request_id = sh->request_id;
    ngx_memcpy(ctx->trace_id, call->ctx->trace_id, 32);
    ngx_memcpy(ctx->span_id, call->ctx->span_id, 16);

    ngx_http_set_ctx(r, ctx, ngx_http_backend_module);
    ngx_http_set_ctx(r, sh, ngx_http_backend_legacy_module);

    return ngx_http_backend_shadow_sub(sh, call);
}


/* GET /legacy/<procedure>?input=..., or POST with the input as the body */

static ngx_int_t
ngx_http_backend_shadow_sub(ngx_http_backend_shadow_t *sh,
    ngx_http_backend_call_t *call)
{
    u_char                              *p;
    size_t                               escape;
    ngx_str_t                            uri, args, json, *raw;
    ngx_buf_t                           *b;
    ngx_chain_t                         *cl;
    ngx_http_request_t                  *r, *sr;
    ngx_http_request_body_t             *rb;
    ngx_http_post_subrequest_t          *ps;
    ngx_http_backend_legacy_loc_conf_t  *llcf;

    r = sh->request;
    llcf = ngx_http_get_module_loc_conf(call->ctx->request,
                                        ngx_http_backend_legacy_module);

    uri.len = llcf->uri.len + sh->procedure->len;
    uri.data = ngx_pnalloc(r->pool, uri.len);
    if (uri.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(uri.data, llcf->uri.data, llcf->uri.len);
    ngx_memcpy(p, sh->procedure->data, sh->procedure->len);

    ngx_str_null(&json);
    ngx_str_null(&args);

    /* the input as the client wrote it (superjson's, before it was read) */
    raw = ngx_http_backend_legacy_raw(call->ctx->request, call->index);

    if (raw) {
        /* the client's request ends first: its pool too */
        json.data = ngx_pstrdup(r->pool, raw);
        if (json.data == NULL) {
            return NGX_ERROR;
        }

        json.len = raw->len;

    } else if (call->input) {
        if (ngx_http_backend_json_serialize(r->pool, call->input, &json)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (call->proc->type == NGX_HTTP_BACKEND_QUERY && json.len) {
        escape = 2 * ngx_escape_uri(NULL, json.data, json.len,
                                    NGX_ESCAPE_URI_COMPONENT);

        args.data = ngx_pnalloc(r->pool, sizeof("input=") - 1 + json.len
                                         + escape);
        if (args.data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(args.data, "input=", sizeof("input=") - 1);
        p = (u_char *) ngx_escape_uri(p, json.data, json.len,
                                      NGX_ESCAPE_URI_COMPONENT);
        args.len = p - args.data;
    }

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_backend_shadow_done;
    ps->data = sh;

    if (ngx_http_subrequest(r, &uri, &args, &sr, ps,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rb = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (rb == NULL) {
        return NGX_ERROR;
    }

    sr->request_body = rb;
    sr->headers_in.content_length_n = -1;

    if (call->proc->type == NGX_HTTP_BACKEND_QUERY) {
        return NGX_OK;
    }

    sr->method = NGX_HTTP_POST;
    ngx_str_set(&sr->method_name, "POST");
    sr->headers_in.content_length_n = json.len;

    if (json.len == 0) {
        return NGX_OK;
    }

    b = ngx_calloc_buf(r->pool);
    cl = ngx_alloc_chain_link(r->pool);

    if (b == NULL || cl == NULL) {
        return NGX_ERROR;
    }

    b->pos = json.data;
    b->last = json.data + json.len;
    b->start = b->pos;
    b->end = b->last;
    b->memory = 1;
    b->last_buf = 1;

    cl->buf = b;
    cl->next = NULL;
    rb->bufs = cl;

    return NGX_OK;
}


static void
ngx_http_backend_shadow_run(ngx_event_t *ev)
{
    ngx_http_backend_shadow_t *sh = ev->data;

    ngx_http_run_posted_requests(sh->connection);
}


/*
 * The subrequest ends (perhaps more than once, an error page made for it):
 * the answer is kept; an error of its own must not terminate the request
 * it belongs to, which this module frees itself
 */

static ngx_int_t
ngx_http_backend_shadow_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc)
{
    ngx_http_backend_shadow_t *sh = data;

    ngx_buf_t  *b;

    if (!sh->done) {
        sh->done = 1;
        sh->rc = rc;
        sh->legacy_status = sr->headers_out.status;

        b = sr->out ? sr->out->buf : NULL;

        if (b) {
            sh->answer.data = b->pos;
            sh->answer.len = b->last - b->pos;
        }
    }

    if (rc == NGX_ERROR || rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return NGX_OK;
    }

    return rc;
}


/* the request of its own is woken once its subrequest is done */

static void
ngx_http_backend_shadow_finish(ngx_http_request_t *r)
{
    ngx_str_t                   where;
    ngx_uint_t                  outcome;
    ngx_connection_t           *c;
    ngx_http_backend_shadow_t  *sh;

    c = r->connection;
    sh = ngx_http_get_module_ctx(r, ngx_http_backend_legacy_module);

    if (!sh->done || sh->free.posted) {
        return;
    }

    c->log->action = NULL;

    outcome = ngx_http_backend_shadow_compare(sh, &where);

    ngx_http_backend_metrics_add(sh->series[outcome], 1);

    if (outcome == NGX_HTTP_BACKEND_SHADOW_MISMATCH) {
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "backend shadow: procedure \"%V\" request %V: "
                      "mismatch at %V", sh->procedure, &sh->request_id,
                      &where);

    } else if (outcome == NGX_HTTP_BACKEND_SHADOW_LEGACY_ERROR) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "backend shadow: procedure \"%V\" request %V: "
                      "legacy error: %V", sh->procedure, &sh->request_id,
                      &where);
    }

    /* freed from the event loop, outside nginx's frames */
    ngx_post_event(&sh->free, &ngx_posted_events);
}


/*
 * status, then the tRPC code, then (both results) the data deep-equal;
 * where: the first difference, or what went wrong with the legacy's answer
 */

static ngx_uint_t
ngx_http_backend_shadow_compare(ngx_http_backend_shadow_t *sh,
    ngx_str_t *where)
{
    ngx_int_t                        rc;
    ngx_str_t                        err;
    ngx_pool_t                      *pool;
    ngx_uint_t                       status;
    ngx_http_backend_json_t         *ours, *theirs, *a, *b;
    ngx_http_backend_error_e         code, legacy_code;
    ngx_http_backend_shadow_diff_t  *d;
    ngx_http_backend_json_limits_t   limits;

    pool = sh->request->pool;

    if (sh->rc == NGX_ERROR || sh->rc >= NGX_HTTP_SPECIAL_RESPONSE
        || sh->legacy_status == 0 || sh->answer.len == 0)
    {
        if (sh->rc == NGX_HTTP_GATEWAY_TIME_OUT) {
            ngx_str_set(where, "timed out");

        } else {
            ngx_str_set(where, "no answer");
        }

        return NGX_HTTP_BACKEND_SHADOW_LEGACY_ERROR;
    }

    limits.max_depth = NGX_HTTP_BACKEND_SHADOW_DEPTH;
    limits.max_size = NGX_HTTP_BACKEND_JSON_MAX_SIZE(sh->answer.len);

    rc = ngx_http_backend_json_parse_limited(pool, sh->answer.data,
                                             sh->answer.len, &limits,
                                             &theirs, &err);
    if (rc != NGX_OK) {
        ngx_str_set(where, "not JSON");
        return NGX_HTTP_BACKEND_SHADOW_LEGACY_ERROR;
    }

    ngx_http_backend_legacy_envelope(theirs, &status, &legacy_code);

    if (status == 0) {
        ngx_str_set(where, "not a tRPC envelope");
        return NGX_HTTP_BACKEND_SHADOW_LEGACY_ERROR;
    }

    limits.max_size = NGX_HTTP_BACKEND_JSON_MAX_SIZE(sh->ours.len);

    rc = ngx_http_backend_json_parse_limited(pool, sh->ours.data,
                                             sh->ours.len, &limits,
                                             &ours, &err);
    if (rc != NGX_OK) {
        ngx_str_set(where, "our envelope");
        return NGX_HTTP_BACKEND_SHADOW_LEGACY_ERROR;
    }

    ngx_http_backend_legacy_envelope(ours, &status, &code);

    if (sh->status != sh->legacy_status) {
        where->data = ngx_pnalloc(pool, sizeof("status  != ") - 1
                                        + 2 * NGX_INT_T_LEN);
        if (where->data == NULL) {
            ngx_str_set(where, "status");

        } else {
            where->len = ngx_sprintf(where->data, "status %ui != %ui",
                                     sh->status, sh->legacy_status)
                         - where->data;
        }

        return NGX_HTTP_BACKEND_SHADOW_MISMATCH;
    }

    if (code != legacy_code) {
        where->data = ngx_pnalloc(pool, sizeof("code  != ") - 1 + 64);
        if (where->data == NULL) {
            ngx_str_set(where, "code");

        } else {
            where->len = ngx_sprintf(where->data, "code %V != %V",
                                     ngx_http_backend_error_name(code),
                                     ngx_http_backend_error_name(legacy_code))
                         - where->data;
        }

        return NGX_HTTP_BACKEND_SHADOW_MISMATCH;
    }

    if (code != NGX_HTTP_BACKEND_OK) {
        /* the same error: its message may differ (docs/migrating.md) */
        return NGX_HTTP_BACKEND_SHADOW_MATCH;
    }

    a = ngx_http_backend_json_get(ours, (u_char *) "result", 6);
    b = ngx_http_backend_json_get(theirs, (u_char *) "result", 6);

    a = a ? ngx_http_backend_json_get(a, (u_char *) "data", 4) : NULL;
    b = b ? ngx_http_backend_json_get(b, (u_char *) "data", 4) : NULL;

    if (sh->superjson) {
        /* the values, whichever side transformed them (a stream's line) */
        a = ngx_http_backend_shadow_unwrap(a);
        b = ngx_http_backend_shadow_unwrap(b);
    }

    d = ngx_pcalloc(pool, sizeof(ngx_http_backend_shadow_diff_t));
    if (d == NULL) {
        ngx_str_set(where, "$");
        return NGX_HTTP_BACKEND_SHADOW_MISMATCH;
    }

    d->ignore = &sh->conf->ignore;

    if (ngx_http_backend_shadow_equal(d, 0, a, b)) {
        return NGX_HTTP_BACKEND_SHADOW_MATCH;
    }

    if (ngx_http_backend_shadow_path(pool, d, where) != NGX_OK) {
        ngx_str_set(where, "$");
    }

    return NGX_HTTP_BACKEND_SHADOW_MISMATCH;
}


/*
 * a and b (NULL: undefined) at d->path[0..depth) are equal, the ignored
 * paths aside; else d->depth says where the first difference is
 */

static ngx_uint_t
ngx_http_backend_shadow_equal(ngx_http_backend_shadow_diff_t *d,
    ngx_uint_t depth, ngx_http_backend_json_t *a, ngx_http_backend_json_t *b)
{
    ngx_uint_t                        i, j, n;
    ngx_http_backend_json_t         **ai, **bi, *v;
    ngx_http_backend_json_member_t   *am, *bm;

    if (ngx_http_backend_shadow_ignored(d, depth)) {
        return 1;
    }

    d->depth = depth;

    if (a == NULL || b == NULL) {
        return a == b;
    }

    if (a->type != b->type) {
        return 0;
    }

    switch (a->type) {

    case NGX_HTTP_BACKEND_JSON_NUMBER:
        return a->number == b->number;

    case NGX_HTTP_BACKEND_JSON_STRING:
        return a->string.len == b->string.len
               && ngx_memcmp(a->string.data, b->string.data,
                             a->string.len) == 0;

    case NGX_HTTP_BACKEND_JSON_ARRAY:
        if (depth + 1 >= NGX_HTTP_BACKEND_SHADOW_DEPTH) {
            return 0;
        }

        ai = a->items.elts;
        bi = b->items.elts;
        n = ngx_max(a->items.nelts, b->items.nelts);

        for (i = 0; i < n; i++) {
            d->path[depth].data = d->index[depth];
            d->path[depth].len = ngx_sprintf(d->index[depth], "%ui", i)
                                 - d->index[depth];

            if (!ngx_http_backend_shadow_equal(d, depth + 1,
                                               i < a->items.nelts
                                               ? ai[i] : NULL,
                                               i < b->items.nelts
                                               ? bi[i] : NULL))
            {
                return 0;
            }
        }

        d->depth = depth;
        return 1;

    case NGX_HTTP_BACKEND_JSON_OBJECT:
        if (depth + 1 >= NGX_HTTP_BACKEND_SHADOW_DEPTH) {
            return 0;
        }

        am = a->items.elts;
        bm = b->items.elts;

        /* a's members in b, then b's that a has not */

        for (i = 0; i < a->items.nelts; i++) {
            d->path[depth] = am[i].key;

            v = ngx_http_backend_json_get(b, am[i].key.data, am[i].key.len);

            if (!ngx_http_backend_shadow_equal(d, depth + 1, am[i].value,
                                               v))
            {
                return 0;
            }
        }

        for (j = 0; j < b->items.nelts; j++) {
            if (ngx_http_backend_json_get(a, bm[j].key.data, bm[j].key.len)) {
                continue;
            }

            d->path[depth] = bm[j].key;

            if (!ngx_http_backend_shadow_equal(d, depth + 1, NULL,
                                               bm[j].value))
            {
                return 0;
            }
        }

        d->depth = depth;
        return 1;

    default: /* null, true, false */
        return 1;
    }
}


/* the path d->path[0..depth) is one of the ignored ones ("*": any) */

static ngx_uint_t
ngx_http_backend_shadow_ignored(ngx_http_backend_shadow_diff_t *d,
    ngx_uint_t depth)
{
    ngx_str_t    *seg;
    ngx_uint_t    i, k;
    ngx_array_t  *paths;

    paths = d->ignore->elts;

    for (i = 0; i < d->ignore->nelts; i++) {
        if (paths[i].nelts != depth) {
            continue;
        }

        seg = paths[i].elts;

        for (k = 0; k < depth; k++) {
            if (seg[k].len == 1 && seg[k].data[0] == '*') {
                continue;
            }

            if (seg[k].len != d->path[k].len
                || ngx_strncmp(seg[k].data, d->path[k].data, seg[k].len)
                   != 0)
            {
                break;
            }
        }

        if (k == depth) {
            return 1;
        }
    }

    return 0;
}


/* $.items.1.title */

static ngx_int_t
ngx_http_backend_shadow_path(ngx_pool_t *pool,
    ngx_http_backend_shadow_diff_t *d, ngx_str_t *where)
{
    u_char      *p;
    size_t       len;
    ngx_uint_t   k;

    len = 1;

    for (k = 0; k < d->depth; k++) {
        len += 1 + d->path[k].len;
    }

    where->data = ngx_pnalloc(pool, len);
    if (where->data == NULL) {
        return NGX_ERROR;
    }

    p = where->data;
    *p++ = '$';

    for (k = 0; k < d->depth; k++) {
        *p++ = '.';
        p = ngx_cpymem(p, d->path[k].data, d->path[k].len);
    }

    where->len = p - where->data;

    return NGX_OK;
}


/* superjson's {"json":<value>,"meta":...}: the value */

static ngx_http_backend_json_t *
ngx_http_backend_shadow_unwrap(ngx_http_backend_json_t *v)
{
    ngx_http_backend_json_t  *json;

    if (v == NULL || v->type != NGX_HTTP_BACKEND_JSON_OBJECT
        || v->items.nelts > 2)
    {
        return v;
    }

    json = ngx_http_backend_json_get(v, (u_char *) "json", 4);

    if (json == NULL
        || (v->items.nelts == 2
            && ngx_http_backend_json_get(v, (u_char *) "meta", 4) == NULL))
    {
        return v;
    }

    return json;
}


static void
ngx_http_backend_shadow_free(ngx_event_t *ev)
{
    ngx_http_backend_shadow_t *sh = ev->data;

    sh->conf->inflight--;

    ngx_http_free_request(sh->request, 0);
    ngx_destroy_pool(sh->pool);
}


static void
ngx_http_backend_shadow_empty(ngx_event_t *ev)
{
    return;
}


/*
 * backend_rpc_shadow [procedure] rate=0.1 [max=32] [mutations]
 *     [ignore=path,...];
 */

char *
ngx_http_backend_shadow_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_backend_legacy_loc_conf_t *llcf = conf;

    u_char                               *p, *last, *start;
    ngx_int_t                             n;
    ngx_str_t                            *value, *seg;
    ngx_uint_t                            i;
    ngx_array_t                          *path;
    ngx_http_backend_shadow_conf_t       *sc, **named;
    ngx_http_backend_legacy_main_conf_t  *lmcf;

    if (llcf->shadows == NGX_CONF_UNSET_PTR) {
        llcf->shadows = ngx_array_create(cf->pool, 2,
                                   sizeof(ngx_http_backend_shadow_conf_t));
        if (llcf->shadows == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    sc = ngx_array_push(llcf->shadows);
    if (sc == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(sc, sizeof(ngx_http_backend_shadow_conf_t));

    sc->rate = NGX_CONF_UNSET_UINT;
    sc->max = 32;
    sc->file = cf->conf_file->file.name.data;
    sc->line = cf->conf_file->line;

    if (ngx_array_init(&sc->ignore, cf->pool, 2, sizeof(ngx_array_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;
    i = 1;

    if (ngx_strlchr(value[1].data, value[1].data + value[1].len, '=')
        == NULL
        && !(value[1].len == 9
             && ngx_strncmp(value[1].data, "mutations", 9) == 0))
    {
        sc->procedure = value[1];
        i = 2;
    }

    for ( /* void */ ; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "rate=", 5) == 0) {
            n = ngx_atofp(value[i].data + 5, value[i].len - 5, 4);

            if (n <= 0 || n > 10000) {
                goto invalid;
            }

            sc->rate = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "max=", 4) == 0) {
            n = ngx_atoi(value[i].data + 4, value[i].len - 4);

            if (n <= 0) {
                goto invalid;
            }

            sc->max = n;
            continue;
        }

        if (value[i].len == 9
            && ngx_strncmp(value[i].data, "mutations", 9) == 0)
        {
            sc->mutations = 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "ignore=", 7) == 0) {
            last = value[i].data + value[i].len;

            for (p = value[i].data + 7; p < last; p++) {

                /* one path: $.a.*.b, or a.*.b */

                path = ngx_array_push(&sc->ignore);
                if (path == NULL
                    || ngx_array_init(path, cf->pool, 4, sizeof(ngx_str_t))
                       != NGX_OK)
                {
                    return NGX_CONF_ERROR;
                }

                if (*p == '$') {
                    p++;

                    if (p < last && *p == '.') {
                        p++;
                    }
                }

                for (start = p; /* void */ ; p++) {
                    if (p < last && *p != '.' && *p != ',') {
                        continue;
                    }

                    if (p == start) {
                        goto invalid;
                    }

                    seg = ngx_array_push(path);
                    if (seg == NULL) {
                        return NGX_CONF_ERROR;
                    }

                    seg->data = start;
                    seg->len = p - start;
                    start = p + 1;

                    if (p == last || *p == ',') {
                        break;
                    }
                }
            }

            continue;
        }

        goto invalid;
    }

    if (sc->rate == NGX_CONF_UNSET_UINT) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "backend_rpc_shadow needs rate=, e.g. rate=0.1");
        return NGX_CONF_ERROR;
    }

    lmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_backend_legacy_module);

    if (sc->procedure.len == 0) {
        lmcf->shadow_all = 1;
        return NGX_CONF_OK;
    }

    named = ngx_array_push(&lmcf->shadowed);
    if (named == NULL) {
        return NGX_CONF_ERROR;
    }

    *named = sc;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}
