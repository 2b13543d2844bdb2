
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/rand.h>

#include "ngx_http_backend_adapter_int.h"


/*
 * backend_adapter blocks and the "call" of a procedure: each attempt is a
 * subrequest (in memory, in the background, so that it neither holds up
 * the parent's output nor needs it) to the adapter's internal location,
 * whose proxy_pass makes the exchange with nginx's own upstream
 * machinery.  Around it: a timer per attempt, one for the whole call (the
 * budget), retries with backoff, and the node's breaker, rate limit and
 * last good answers in shared memory (docs/directives.md).
 */


typedef struct ngx_http_backend_adapter_run_s  ngx_http_backend_adapter_run_t;


typedef struct {
    ngx_http_backend_adapter_run_t *run;            /* NULL: given up */
    ngx_http_request_t             *sr;
    ngx_str_t                       uri;
    ngx_uint_t                      n;
} ngx_http_backend_adapter_attempt_t;


struct ngx_http_backend_adapter_run_s {
    ngx_http_backend_call_t        *call;           /* NULL: a background */
    ngx_http_request_t             *request;
    ngx_http_backend_json_t        *input;          /* the target's values */
    ngx_http_backend_json_t        *body_json;

    /* a call without a client request: its end */
    ngx_http_backend_adapter_handler_pt  handler;
    void                           *data;

    ngx_http_backend_adapter_t     *adapter;
    ngx_http_backend_adapter_call_t  *cc;
    ngx_http_backend_adapter_main_conf_t  *amcf;

    ngx_str_t                       uri;
    ngx_str_t                       body;
    ngx_str_t                       key;            /* idempotency */
    ngx_str_t                       stale_key;

    ngx_uint_t                      attempts;
    ngx_msec_t                      deadline;
    uint64_t                        start;

    ngx_event_t                     timer;          /* attempt or wait */
    ngx_event_t                     budget;
    ngx_event_t                     ended;          /* posted */

    ngx_http_backend_adapter_attempt_t  *attempt;

    /* the last attempt's end */
    ngx_uint_t                      outcome;
    ngx_uint_t                      status;
    ngx_msec_t                      retry_after;
    ngx_str_t                       answer;
    ngx_http_backend_json_t        *json;           /* the answer, parsed */

    unsigned                        probe:1;
    unsigned                        has_retry_after:1;
    unsigned                        finished:1;
};


static void ngx_http_backend_adapter_attempt(
    ngx_http_backend_adapter_run_t *run);
static ngx_int_t ngx_http_backend_adapter_subrequest(
    ngx_http_backend_adapter_run_t *run);
static ngx_int_t ngx_http_backend_adapter_sr_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static void ngx_http_backend_adapter_ended(ngx_event_t *ev);
static void ngx_http_backend_adapter_timer(ngx_event_t *ev);
static void ngx_http_backend_adapter_budget(ngx_event_t *ev);
static void ngx_http_backend_adapter_attempt_end(
    ngx_http_backend_adapter_run_t *run);
static void ngx_http_backend_adapter_give_up(
    ngx_http_backend_adapter_run_t *run);
static void ngx_http_backend_adapter_report(
    ngx_http_backend_adapter_run_t *run, ngx_uint_t what);
static void ngx_http_backend_adapter_transition(ngx_http_backend_adapter_t *a,
    ngx_uint_t from, ngx_uint_t to, ngx_log_t *log);
static void ngx_http_backend_adapter_finish(
    ngx_http_backend_adapter_run_t *run, ngx_uint_t outcome);
static ngx_int_t ngx_http_backend_adapter_stale(
    ngx_http_backend_adapter_run_t *run, ngx_uint_t why);
static ngx_int_t ngx_http_backend_adapter_header(ngx_http_request_t *r,
    char *name, ngx_str_t *value);
static ngx_int_t ngx_http_backend_adapter_set_header(ngx_http_request_t *r,
    char *name, ngx_str_t *value);
static ngx_int_t ngx_http_backend_adapter_client_key(
    ngx_http_backend_adapter_run_t *run, ngx_str_t *err);
static ngx_int_t ngx_http_backend_adapter_target(
    ngx_http_backend_adapter_run_t *run, ngx_str_t *err);
static void ngx_http_backend_adapter_cleanup(void *data);
static ngx_http_backend_adapter_run_t *ngx_http_backend_adapter_run_new(
    ngx_http_request_t *r, ngx_http_backend_adapter_call_t *cc,
    ngx_http_backend_json_t *input, ngx_http_backend_json_t *body);
static ngx_int_t ngx_http_backend_adapter_go(
    ngx_http_backend_adapter_run_t *run);

/* rpc.c: a call whose procedure has "call" */

void
ngx_http_backend_adapter_run(ngx_http_backend_call_t *call)
{
    u_char                                *p;
    ngx_str_t                              err;
    ngx_http_request_t                    *r;
    ngx_http_backend_adapter_t            *a;
    ngx_http_backend_adapter_run_t        *run;
    ngx_http_backend_adapter_call_t       *cc;

    r = call->ctx->request;
    cc = call->proc->call;
    a = cc->adapter;

    run = ngx_http_backend_adapter_run_new(r, cc, call->input, call->input);
    if (run == NULL) {
        goto failed;
    }

    run->call = call;

    switch (ngx_http_backend_adapter_target(run, &err)) {

    case NGX_OK:
        break;

    case NGX_DECLINED:
        ngx_http_backend_metrics_add(a->calls[NGX_HTTP_BACKEND_ADAPTER_4XX],
                                     1);
        ngx_http_backend_rpc_call_error(call, NGX_HTTP_BACKEND_BAD_REQUEST,
                                        &err);
        return;

    default:
        goto failed;
    }

    if (cc->key.nelts) {
        /* the client's key: its retry of the procedure is the same call */
        switch (ngx_http_backend_adapter_client_key(run, &err)) {

        case NGX_OK:
            break;

        case NGX_DECLINED:
            ngx_http_backend_metrics_add(
                a->calls[NGX_HTTP_BACKEND_ADAPTER_4XX], 1);
            ngx_http_backend_rpc_call_error(call,
                                            NGX_HTTP_BACKEND_BAD_REQUEST,
                                            &err);
            return;

        default:
            goto failed;
        }

    } else if (a->idempotency.len) {
        /* one key per call, the same on every attempt */
        u_char  rnd[16];

        if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
            goto failed;
        }

        run->key.data = ngx_pnalloc(r->pool, 2 * sizeof(rnd));
        if (run->key.data == NULL) {
            goto failed;
        }

        p = ngx_hex_dump(run->key.data, rnd, sizeof(rnd));
        run->key.len = p - run->key.data;
    }

    if (ngx_http_backend_adapter_go(run) != NGX_OK) {
        goto failed;
    }

    return;

failed:

    ngx_http_backend_rpc_call_error(call,
                                    NGX_HTTP_BACKEND_INTERNAL_SERVER_ERROR,
                                    NULL);
}


/*
 * A call without a client request (ngx_http_backend_adapter_bg.c): r is
 * the caller's own; the key is the caller's (the same on every attempt of
 * its work), never a random one
 */

ngx_int_t
ngx_http_backend_adapter_start(ngx_http_request_t *r,
    ngx_http_backend_adapter_call_t *cc, ngx_http_backend_json_t *input,
    ngx_http_backend_json_t *body, ngx_str_t *key,
    ngx_http_backend_adapter_handler_pt handler, void *data, ngx_str_t *err)
{
    ngx_int_t                        rc;
    ngx_http_backend_adapter_t      *a;
    ngx_http_backend_adapter_run_t  *run;

    a = cc->adapter;

    run = ngx_http_backend_adapter_run_new(r, cc, input, body);
    if (run == NULL) {
        return NGX_ERROR;
    }

    run->handler = handler;
    run->data = data;

    rc = ngx_http_backend_adapter_target(run, err);

    if (rc != NGX_OK) {
        if (rc == NGX_DECLINED) {
            ngx_http_backend_metrics_add(
                a->calls[NGX_HTTP_BACKEND_ADAPTER_4XX], 1);
        }

        return rc;
    }

    if (a->idempotency.len) {
        run->key = *key;
    }

    return ngx_http_backend_adapter_go(run);
}


/* a call's state, its budget counted from now */

static ngx_http_backend_adapter_run_t *
ngx_http_backend_adapter_run_new(ngx_http_request_t *r,
    ngx_http_backend_adapter_call_t *cc, ngx_http_backend_json_t *input,
    ngx_http_backend_json_t *body)
{
    ngx_http_backend_adapter_run_t  *run;

    run = ngx_pcalloc(r->pool, sizeof(ngx_http_backend_adapter_run_t));
    if (run == NULL) {
        return NULL;
    }

    run->request = r;
    run->input = input;
    run->body_json = body;
    run->adapter = cc->adapter;
    run->cc = cc;
    run->amcf = ngx_http_get_module_main_conf(r,
                                             ngx_http_backend_adapter_module);
    run->start = ngx_http_backend_metrics_now();
    run->deadline = ngx_current_msec + cc->adapter->budget;

    return run;
}


static ngx_int_t
ngx_http_backend_adapter_go(ngx_http_backend_adapter_run_t *run)
{
    ngx_http_request_t  *r;
    ngx_http_cleanup_t  *cln;

    r = run->request;

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_backend_adapter_cleanup;
    cln->data = run;

    run->timer.handler = ngx_http_backend_adapter_timer;
    run->timer.data = run;
    run->timer.log = r->connection->log;

    run->budget.handler = ngx_http_backend_adapter_budget;
    run->budget.data = run;
    run->budget.log = r->connection->log;

    run->ended.handler = ngx_http_backend_adapter_ended;
    run->ended.data = run;
    run->ended.log = r->connection->log;

    ngx_add_timer(&run->budget, run->adapter->budget);

    ngx_http_backend_adapter_attempt(run);

    return NGX_OK;
}


static void
ngx_http_backend_adapter_attempt(ngx_http_backend_adapter_run_t *run)
{
    ngx_int_t                    rc;
    ngx_msec_t                   now, wait;
    ngx_uint_t                   from, transition;
    ngx_msec_int_t               left;
    ngx_http_request_t          *r;
    ngx_http_backend_adapter_t  *a;

    a = run->adapter;
    r = run->request;
    now = ngx_current_msec;

    left = (ngx_msec_int_t) (run->deadline - now);

    if (left <= 0) {
        ngx_http_backend_adapter_finish(run, NGX_HTTP_BACKEND_ADAPTER_BUDGET);
        return;
    }

    if (a->state && a->breaker.failures) {
        ngx_shmtx_lock(&run->amcf->shpool->mutex);

        from = a->state->breaker.state;
        rc = ngx_http_backend_breaker_allow(&a->state->breaker, &a->breaker,
                                            now, &wait, &transition);

        ngx_shmtx_unlock(&run->amcf->shpool->mutex);

        if (transition != NGX_HTTP_BACKEND_BREAKER_NONE) {
            ngx_http_backend_adapter_transition(a, from,
                                          NGX_HTTP_BACKEND_BREAKER_HALF_OPEN,
                                          r->connection->log);
        }

        if (rc == NGX_DECLINED) {
            run->retry_after = wait;
            run->has_retry_after = 1;
            ngx_http_backend_adapter_finish(run,
                                            NGX_HTTP_BACKEND_ADAPTER_OPEN);
            return;
        }

        run->probe = (rc == NGX_AGAIN);

        if (run->probe) {
            ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                          "backend adapter \"%V\": a probe through the "
                          "half-open breaker", &a->name);
        }
    }

    if (a->state && a->rate) {
        ngx_shmtx_lock(&run->amcf->shpool->mutex);

        rc = ngx_http_backend_bucket_take(&a->state->bucket, a->rate,
                                          a->burst, now, &wait);

        ngx_shmtx_unlock(&run->amcf->shpool->mutex);

        if (rc == NGX_DECLINED) {
            ngx_http_backend_adapter_report(run,
                                            NGX_HTTP_BACKEND_BREAKER_NEUTRAL);
            run->retry_after = wait;
            run->has_retry_after = 1;
            ngx_http_backend_adapter_finish(run,
                                            NGX_HTTP_BACKEND_ADAPTER_LIMITED);
            return;
        }
    }

    if (ngx_http_backend_adapter_subrequest(run) != NGX_OK) {
        ngx_http_backend_adapter_report(run, NGX_HTTP_BACKEND_BREAKER_NEUTRAL);
        ngx_http_backend_adapter_finish(run, NGX_HTTP_BACKEND_ADAPTER_ERROR);
        return;
    }

    ngx_add_timer(&run->timer, ngx_min((ngx_msec_t) left, a->timeout));
}


static ngx_int_t
ngx_http_backend_adapter_subrequest(ngx_http_backend_adapter_run_t *run)
{
    ngx_buf_t                           *b;
    ngx_str_t                            v;
    ngx_chain_t                         *cl;
    ngx_http_request_t                  *r, *sr;
    ngx_http_request_body_t             *rb;
    ngx_http_post_subrequest_t          *ps;
    ngx_http_backend_adapter_t          *a;
    ngx_http_backend_adapter_attempt_t  *at;

    a = run->adapter;
    r = run->request;

    at = ngx_pcalloc(r->pool, sizeof(ngx_http_backend_adapter_attempt_t));
    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    rb = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));

    if (at == NULL || ps == NULL || rb == NULL) {
        return NGX_ERROR;
    }

    at->run = run;
    at->uri = run->uri;
    at->n = ++run->attempts;

    ps->handler = ngx_http_backend_adapter_sr_done;
    ps->data = at;

    if (ngx_http_subrequest(r, &a->location, NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY
                            |NGX_HTTP_SUBREQUEST_BACKGROUND)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "backend adapter \"%V\": no subrequest to \"%V\" "
                      "(too many in one request?)", &a->name, &a->location);
        return NGX_ERROR;
    }

    at->sr = sr;
    run->attempt = at;

    ngx_http_set_ctx(sr, at, ngx_http_backend_adapter_module);

    sr->method = run->cc->method;
    sr->method_name = run->cc->method_name;

    /*
     * the subrequest's own headers: the client's (its token, its cookies)
     * must not reach an external API
     */

    if (ngx_list_init(&sr->headers_in.headers, r->pool, 4,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sr->headers_in.content_length = NULL;
    sr->headers_in.transfer_encoding = NULL;
    sr->headers_in.chunked = 0;
    sr->headers_in.content_length_n = -1;

    ngx_str_set(&v, "application/json");

    if (ngx_http_backend_adapter_header(sr, "Accept", &v) != NGX_OK) {
        return NGX_ERROR;
    }

    if (run->key.len
        && ngx_http_backend_adapter_header(sr, (char *) a->idempotency.data,
                                           &run->key)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    sr->request_body = rb;

    if (run->body.len) {
        if (ngx_http_backend_adapter_header(sr, "Content-Type", &v)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        /* a buffer per attempt: sending one consumes it */
        b = ngx_calloc_buf(r->pool);
        cl = ngx_alloc_chain_link(r->pool);
        if (b == NULL || cl == NULL) {
            return NGX_ERROR;
        }

        b->pos = run->body.data;
        b->last = run->body.data + run->body.len;
        b->memory = 1;
        b->last_buf = 1;

        cl->buf = b;
        cl->next = NULL;
        rb->bufs = cl;

        sr->headers_in.content_length_n = run->body.len;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "backend adapter \"%V\": attempt %ui %V",
                   &a->name, at->n, &run->uri);

    return NGX_OK;
}


static ngx_int_t
ngx_http_backend_adapter_header(ngx_http_request_t *r, char *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;

    /* as nginx's parser leaves them: proxy_set_header of the same name wins */
    h->lowcase_key = ngx_pnalloc(r->pool, h->key.len);
    if (h->lowcase_key == NULL) {
        return NGX_ERROR;
    }

    h->hash = ngx_hash_strlow(h->lowcase_key, h->key.data, h->key.len);

    return NGX_OK;
}


/*
 * The subrequest ended, inside nginx's finalization of it: its result is
 * taken here and acted on from a posted event, so that the next attempt
 * or the end of the request does not run within the upstream's frames.
 * NGX_OK always: an upstream failure is the adapter's to answer, not a
 * reason to end the client's request.
 */

static ngx_int_t
ngx_http_backend_adapter_sr_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc)
{
    ngx_http_backend_adapter_attempt_t *at = data;

    size_t                           len;
    ngx_buf_t                       *b;
    ngx_uint_t                       status;
    ngx_table_elt_t                 *h;
    ngx_http_backend_adapter_run_t  *run;

    run = at->run;

    if (run == NULL) {
        return NGX_OK;
    }

    at->run = NULL;
    run->attempt = NULL;

    if (run->timer.timer_set) {
        ngx_del_timer(&run->timer);
    }

    status = sr->headers_out.status;
    run->status = status;
    run->has_retry_after = 0;
    run->answer.len = 0;

    if (status == 0 || rc == NGX_ERROR || sr->connection->error) {
        /* no answer, or one cut short */
        run->outcome = (rc == NGX_HTTP_GATEWAY_TIME_OUT)
                       ? NGX_HTTP_BACKEND_ADAPTER_TIMEOUT
                       : NGX_HTTP_BACKEND_ADAPTER_ERROR;

    } else if (status >= 200 && status < 300) {
        run->outcome = NGX_HTTP_BACKEND_ADAPTER_OK;

        b = sr->out ? sr->out->buf : NULL;

        if (b && b->last > b->pos) {
            len = b->last - b->pos;
            run->answer.data = b->pos;
            run->answer.len = len;
        }

    } else if (status == 429) {
        run->outcome = NGX_HTTP_BACKEND_ADAPTER_429;

    } else if (status >= 500) {
        run->outcome = NGX_HTTP_BACKEND_ADAPTER_5XX;

    } else {
        run->outcome = NGX_HTTP_BACKEND_ADAPTER_4XX;
    }

    if (status == 429 || status == 503) {
        h = ngx_http_backend_list_header(&sr->headers_out.headers,
                                         (u_char *) "Retry-After",
                                         sizeof("Retry-After") - 1);

        if (h
            && ngx_http_backend_adapter_retry_after(h->value.data,
                                                    h->value.len, ngx_time(),
                                                    &run->retry_after)
               == NGX_OK)
        {
            run->has_retry_after = 1;
        }
    }

    ngx_post_event(&run->ended, &ngx_posted_events);

    return NGX_OK;
}


static void
ngx_http_backend_adapter_ended(ngx_event_t *ev)
{
    ngx_http_backend_adapter_run_t *run = ev->data;

    ngx_connection_t  *c;

    c = run->request->connection;

    ngx_http_backend_adapter_attempt_end(run);

    ngx_http_run_posted_requests(c);
}


/* the attempt's timer: past it, the attempt has timed out; or a wait ended */

static void
ngx_http_backend_adapter_timer(ngx_event_t *ev)
{
    ngx_http_backend_adapter_run_t *run = ev->data;

    ngx_connection_t  *c;

    c = run->request->connection;

    if (run->attempt) {
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "backend adapter \"%V\": attempt %ui timed out "
                      "after %Mms", &run->adapter->name, run->attempt->n,
                      run->adapter->timeout);

        ngx_http_backend_adapter_give_up(run);
        run->outcome = NGX_HTTP_BACKEND_ADAPTER_TIMEOUT;
        run->status = 0;
        run->has_retry_after = 0;

        ngx_http_backend_adapter_attempt_end(run);

    } else {
        ngx_http_backend_adapter_attempt(run);
    }

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_backend_adapter_budget(ngx_event_t *ev)
{
    ngx_http_backend_adapter_run_t *run = ev->data;

    ngx_connection_t  *c;

    c = run->request->connection;

    ngx_log_error(NGX_LOG_WARN, c->log, 0,
                  "backend adapter \"%V\": budget of %Mms spent after "
                  "%ui attempt(s)", &run->adapter->name, run->adapter->budget,
                  run->attempts);

    if (run->attempt) {
        ngx_http_backend_adapter_give_up(run);
        ngx_http_backend_adapter_report(run, NGX_HTTP_BACKEND_BREAKER_FAILURE);
        ngx_http_backend_metrics_add(
            run->adapter->attempts[NGX_HTTP_BACKEND_ADAPTER_TIMEOUT], 1);
    }

    ngx_http_backend_adapter_finish(run, NGX_HTTP_BACKEND_ADAPTER_BUDGET);

    ngx_http_run_posted_requests(c);
}


/*
 * An attempt given up: its subrequest's end will be ignored, and its
 * upstream connection is made to time out now (a posted read event marked
 * timed out: the upstream ends the exchange and frees the connection as it
 * does for proxy_read_timeout), so that a hanging API does not hold it.
 * An attempt still connecting or resolving ends by the location's own
 * proxy_connect_timeout or resolver_timeout.
 */

static void
ngx_http_backend_adapter_give_up(ngx_http_backend_adapter_run_t *run)
{
    ngx_connection_t                    *pc;
    ngx_http_request_t                  *sr;
    ngx_http_backend_adapter_attempt_t  *at;

    at = run->attempt;

    if (at == NULL) {
        return;
    }

    at->run = NULL;
    run->attempt = NULL;

    if (run->timer.timer_set) {
        ngx_del_timer(&run->timer);
    }

    sr = at->sr;

    if (sr->upstream && sr->upstream->peer.connection && !sr->done) {
        pc = sr->upstream->peer.connection;
        pc->read->timedout = 1;
        ngx_post_event(pc->read, &ngx_posted_events);
    }
}


static void
ngx_http_backend_adapter_attempt_end(ngx_http_backend_adapter_run_t *run)
{
    ngx_int_t                     rc;
    ngx_str_t                     err;
    ngx_msec_t                    wait, now;
    ngx_uint_t                    outcome, on, retry;
    ngx_msec_int_t                left;
    ngx_http_request_t           *r;
    ngx_http_backend_json_t      *json;
    ngx_http_backend_adapter_t   *a;

    a = run->adapter;
    r = run->request;
    outcome = run->outcome;

    if (outcome == NGX_HTTP_BACKEND_ADAPTER_OK) {
        /* result json: the answer must be JSON; 204 is null */

        if (run->status == NGX_HTTP_NO_CONTENT && run->answer.len == 0) {
            ngx_str_set(&run->answer, "null");

        } else {
            /*
             * as written again: valid UTF-8 JSON, whatever came; a tree
             * only for a statement that takes the answer as parameters
             */

            json = NULL;

            rc = (run->call && run->call->proc->stmt)
                 ? ngx_http_backend_json_parse(r->pool, run->answer.data,
                                               run->answer.len, 0, &json,
                                               &err)
                 : ngx_http_backend_json_minify(r->pool, run->answer.data,
                                                run->answer.len, 0,
                                                &run->answer, &err);

            switch (rc) {

            case NGX_OK:
                run->json = json;

                if (json
                    && ngx_http_backend_json_serialize(r->pool, json,
                                                       &run->answer)
                       != NGX_OK)
                {
                    outcome = NGX_HTTP_BACKEND_ADAPTER_ERROR;
                }

                break;

            case NGX_DECLINED:
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "backend adapter \"%V\": attempt %ui: the "
                              "answer (status %ui, %uz bytes) is not JSON: "
                              "%V", &a->name, run->attempts, run->status,
                              run->answer.len, &err);
                outcome = NGX_HTTP_BACKEND_ADAPTER_MALFORMED;
                break;

            default:
                outcome = NGX_HTTP_BACKEND_ADAPTER_ERROR;
            }
        }

    } else if (outcome != NGX_HTTP_BACKEND_ADAPTER_TIMEOUT) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "backend adapter \"%V\": attempt %ui failed: %s "
                      "(status %ui)", &a->name, run->attempts,
                      ngx_http_backend_adapter_outcomes[outcome],
                      run->status);
    }

    ngx_http_backend_metrics_add(a->attempts[outcome], 1);

    switch (outcome) {

    case NGX_HTTP_BACKEND_ADAPTER_TIMEOUT:
    case NGX_HTTP_BACKEND_ADAPTER_ERROR:
    case NGX_HTTP_BACKEND_ADAPTER_5XX:
    case NGX_HTTP_BACKEND_ADAPTER_MALFORMED:
        ngx_http_backend_adapter_report(run,
                                        NGX_HTTP_BACKEND_BREAKER_FAILURE);
        break;

    default:
        /* an answer, even a refusal, is an API that works */
        ngx_http_backend_adapter_report(run,
                                        NGX_HTTP_BACKEND_BREAKER_SUCCESS);
    }

    run->outcome = outcome;

    if (outcome == NGX_HTTP_BACKEND_ADAPTER_OK) {
        ngx_http_backend_adapter_finish(run, outcome);
        return;
    }

    switch (outcome) {

    case NGX_HTTP_BACKEND_ADAPTER_TIMEOUT:
        on = NGX_HTTP_BACKEND_RETRY_TIMEOUT;
        break;

    case NGX_HTTP_BACKEND_ADAPTER_ERROR:
        on = NGX_HTTP_BACKEND_RETRY_ERROR;
        break;

    case NGX_HTTP_BACKEND_ADAPTER_429:
        on = NGX_HTTP_BACKEND_RETRY_429;
        break;

    case NGX_HTTP_BACKEND_ADAPTER_5XX:
        on = NGX_HTTP_BACKEND_RETRY_5XX
             | (run->status == 500 ? NGX_HTTP_BACKEND_RETRY_500 : 0)
             | (run->status == 502 ? NGX_HTTP_BACKEND_RETRY_502 : 0)
             | (run->status == 503 ? NGX_HTTP_BACKEND_RETRY_503 : 0)
             | (run->status == 504 ? NGX_HTTP_BACKEND_RETRY_504 : 0);
        break;

    default:
        /* other 4xx, a malformed answer: the same again would be too */
        on = 0;
    }

    retry = (a->retry_on & on)
            && run->attempts <= a->retries
            && (run->cc->method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_PUT
                                   |NGX_HTTP_DELETE|NGX_HTTP_OPTIONS)
                || run->key.len);

    if (!retry) {
        ngx_http_backend_adapter_finish(run, outcome);
        return;
    }

    wait = ngx_http_backend_adapter_backoff(run->attempts, a->backoff,
                                            a->backoff_max, a->jitter,
                                            (uint32_t) ngx_random()
                                            ^ ((uint32_t) ngx_random() << 16));

    now = ngx_current_msec;
    left = (ngx_msec_int_t) (run->deadline - now);

    if (run->has_retry_after) {
        if ((ngx_msec_int_t) run->retry_after >= left) {
            /* the API asks for longer than the budget has: answer now */
            ngx_http_backend_adapter_finish(run, outcome);
            return;
        }

        wait = ngx_max(wait, run->retry_after);
    }

    if ((ngx_msec_int_t) wait >= left) {
        ngx_http_backend_adapter_finish(run, outcome);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "backend adapter \"%V\": retry %ui in %Mms",
                  &a->name, run->attempts, wait);

    if (wait == 0) {
        ngx_http_backend_adapter_attempt(run);
        return;
    }

    ngx_add_timer(&run->timer, wait);
}


static void
ngx_http_backend_adapter_report(ngx_http_backend_adapter_run_t *run,
    ngx_uint_t what)
{
    ngx_uint_t                   from, to, transition;
    ngx_http_backend_adapter_t  *a;

    a = run->adapter;

    if (a->state == NULL || a->breaker.failures == 0) {
        return;
    }

    if (what == NGX_HTTP_BACKEND_BREAKER_NEUTRAL && !run->probe) {
        return;
    }

    ngx_shmtx_lock(&run->amcf->shpool->mutex);

    from = a->state->breaker.state;
    transition = ngx_http_backend_breaker_report(&a->state->breaker,
                                                 &a->breaker, ngx_current_msec,
                                                 what, run->probe);
    to = a->state->breaker.state;

    ngx_shmtx_unlock(&run->amcf->shpool->mutex);

    run->probe = 0;

    if (transition != NGX_HTTP_BACKEND_BREAKER_NONE) {
        ngx_http_backend_adapter_transition(a, from, to,
                               run->request->connection->log);
    }
}


static void
ngx_http_backend_adapter_transition(ngx_http_backend_adapter_t *a,
    ngx_uint_t from, ngx_uint_t to, ngx_log_t *log)
{
    ngx_uint_t  level;

    static char        *names[] = { "closed", "open", "half-open" };
    static ngx_uint_t   values[] = { 0, 2, 1 };

    ngx_http_backend_metrics_add(a->transitions[to], 1);
    ngx_http_backend_metrics_set(a->breaker_state, values[to]);

    level = (to == NGX_HTTP_BACKEND_BREAKER_OPEN) ? NGX_LOG_WARN
                                                  : NGX_LOG_NOTICE;

    ngx_log_error(level, log, 0, "backend adapter \"%V\": breaker %s -> %s",
                  &a->name, names[from], names[to]);
}


/* the call's answer: the API's, a last good one, or an error */

static void
ngx_http_backend_adapter_finish(ngx_http_backend_adapter_run_t *run,
    ngx_uint_t outcome)
{
    u_char                      *p;
    ngx_str_t                    msg, extra, value;
    ngx_msec_t                   secs;
    ngx_http_request_t          *r;
    ngx_http_backend_call_t     *call;
    ngx_http_backend_adapter_t  *a;
    ngx_http_backend_error_e     code;

    ngx_http_backend_adapter_result_t  res;

    a = run->adapter;
    call = run->call;
    r = run->request;

    run->finished = 1;

    if (run->timer.timer_set) {
        ngx_del_timer(&run->timer);
    }

    if (run->budget.timer_set) {
        ngx_del_timer(&run->budget);
    }

    if (run->ended.posted) {
        ngx_delete_posted_event(&run->ended);
    }

    ngx_http_backend_metrics_observe(a->duration,
                                     ngx_http_backend_metrics_now()
                                     - run->start);

    if (call == NULL) {
        /* in the background: the API's answer or an error, never stale */
        ngx_http_backend_metrics_add(a->calls[outcome], 1);

        if (outcome != NGX_HTTP_BACKEND_ADAPTER_OK) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "backend adapter \"%V\": call failed: %s after %ui "
                          "attempt(s)", &a->name,
                          ngx_http_backend_adapter_outcomes[outcome],
                          run->attempts);
        }

        res.outcome = outcome;
        res.status = run->status;
        res.attempts = run->attempts;
        res.answer = run->answer;

        run->handler(&res, run->data);
        return;
    }

    if (outcome == NGX_HTTP_BACKEND_ADAPTER_OK) {
        ngx_http_backend_metrics_add(a->calls[outcome], 1);

        if (call->proc->stmt) {
            /* call, then sql: the statement, once, with the answer */
            call->answer = run->json;
            ngx_http_backend_rpc_statement(call);
            return;
        }

        /*
         * the last good answer, stored again at most once a second per
         * call: a degraded answer may be up to a second older than the
         * last success, and a busy call does not write the zone each time
         */

        if (a->stale && run->amcf->cache
            && call->proc->type == NGX_HTTP_BACKEND_QUERY
            && ngx_http_backend_cache_older(run->amcf->cache,
                                            NGX_HTTP_BACKEND_ADAPTER_CACHE,
                                            &run->stale_key, a->stale, 1000)
               == NGX_OK)
        {
            /* stored with its time, for the age of a degraded answer */
            value.data = ngx_pnalloc(r->pool,
                                     NGX_TIME_T_LEN + 1 + run->answer.len);

            if (value.data) {
                p = ngx_sprintf(value.data, "%T", ngx_time());
                *p++ = '\0';
                p = ngx_cpymem(p, run->answer.data, run->answer.len);
                value.len = p - value.data;

                if (ngx_http_backend_cache_set(run->amcf->cache,
                                               NGX_HTTP_BACKEND_ADAPTER_CACHE,
                                               &run->stale_key, NULL, 0, 0,
                                               &value, a->stale)
                    != NGX_OK)
                {
                    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                                  "backend adapter \"%V\": no room in "
                                  "\"backend_adapter_zone\" for the "
                                  "answer", &a->name);
                }
            }
        }

        ngx_http_backend_rpc_call_result(call, &run->answer);
        return;
    }

    /* degraded: a query, when the API gave no answer; never a mutation */

    if (ngx_http_backend_adapter_degradable(outcome)
        && a->stale && run->amcf->cache && call->proc->stmt == NULL
        && call->proc->type == NGX_HTTP_BACKEND_QUERY)
    {
        switch (ngx_http_backend_adapter_stale(run, outcome)) {

        case NGX_OK:
            return;

        case NGX_ERROR:
            outcome = NGX_HTTP_BACKEND_ADAPTER_ERROR;
            break;

        default:
            break;
        }
    }

    ngx_http_backend_metrics_add(a->calls[outcome], 1);

    switch (outcome) {

    case NGX_HTTP_BACKEND_ADAPTER_TIMEOUT:
    case NGX_HTTP_BACKEND_ADAPTER_BUDGET:
        code = NGX_HTTP_BACKEND_GATEWAY_TIMEOUT;
        break;

    case NGX_HTTP_BACKEND_ADAPTER_429:
    case NGX_HTTP_BACKEND_ADAPTER_LIMITED:
        code = NGX_HTTP_BACKEND_TOO_MANY_REQUESTS;
        break;

    case NGX_HTTP_BACKEND_ADAPTER_4XX:
        code = (run->status == 404) ? NGX_HTTP_BACKEND_NOT_FOUND
               : (run->status == 409) ? NGX_HTTP_BACKEND_CONFLICT
               : (run->status == 400 || run->status == 422)
                 ? NGX_HTTP_BACKEND_BAD_REQUEST
               : NGX_HTTP_BACKEND_INTERNAL_SERVER_ERROR;
        break;

    case NGX_HTTP_BACKEND_ADAPTER_MALFORMED:
        code = NGX_HTTP_BACKEND_INTERNAL_SERVER_ERROR;
        break;

    default: /* error, 5xx, breaker open */
        code = NGX_HTTP_BACKEND_SERVICE_UNAVAILABLE;
    }

    msg.len = sizeof("external API \"\": breaker_open") - 1 + a->name.len
              + 16;
    msg.data = ngx_pnalloc(r->pool, msg.len);

    extra.len = sizeof("\"adapter\":,\"reason\":\"\",\"upstreamStatus\":,"
                       "\"attempts\":,\"retryAfter\":") - 1
                + ngx_http_backend_json_str_len(a->name.data, a->name.len)
                + 16 + 3 * NGX_INT_T_LEN;
    extra.data = ngx_pnalloc(r->pool, extra.len);

    if (msg.data == NULL || extra.data == NULL) {
        goto failed;
    }

    msg.len = ngx_sprintf(msg.data, "external API \"%V\": %s", &a->name,
                          ngx_http_backend_adapter_outcomes[outcome])
              - msg.data;

    p = ngx_cpymem(extra.data, "\"adapter\":", sizeof("\"adapter\":") - 1);
    p = ngx_http_backend_json_str_write(p, a->name.data, a->name.len);
    p = ngx_sprintf(p, ",\"reason\":\"%s\",\"attempts\":%ui",
                    ngx_http_backend_adapter_outcomes[outcome],
                    run->attempts);

    if (run->status) {
        p = ngx_sprintf(p, ",\"upstreamStatus\":%ui", run->status);
    }

    if (run->has_retry_after
        && (outcome == NGX_HTTP_BACKEND_ADAPTER_OPEN
            || outcome == NGX_HTTP_BACKEND_ADAPTER_LIMITED
            || outcome == NGX_HTTP_BACKEND_ADAPTER_429
            || outcome == NGX_HTTP_BACKEND_ADAPTER_5XX))
    {
        /* whole seconds, rounded up: 0 would invite a retry at once */
        secs = (run->retry_after + 999) / 1000;

        value.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (value.data == NULL) {
            goto failed;
        }

        value.len = ngx_sprintf(value.data, "%M", secs ? secs : 1)
                    - value.data;

        p = ngx_sprintf(p, ",\"retryAfter\":%V", &value);

        if (!call->ctx->head_sent
            && ngx_http_backend_adapter_set_header(r, "Retry-After", &value)
               != NGX_OK)
        {
            goto failed;
        }
    }

    extra.len = p - extra.data;

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "backend adapter \"%V\": call failed: %s after %ui "
                  "attempt(s)", &a->name,
                  ngx_http_backend_adapter_outcomes[outcome], run->attempts);

    if (ngx_http_backend_error(r->pool, &call->out, code, &msg, &call->path,
                               &extra)
        != NGX_OK)
    {
        goto failed;
    }

    call->status = ngx_http_backend_error_status(code);
    call->code = code;

    ngx_http_backend_rpc_call_done(call);

    return;

failed:

    ngx_http_backend_rpc_call_error(call,
                                    NGX_HTTP_BACKEND_INTERNAL_SERVER_ERROR,
                                    NULL);
}


/*
 * The last good answer for the same call, if younger than "degraded
 * stale=": {"result":{"degraded":{...},"data":...}} and a Backend-Degraded
 * header.  NGX_DECLINED: none.
 */

static ngx_int_t
ngx_http_backend_adapter_stale(ngx_http_backend_adapter_run_t *run,
    ngx_uint_t why)
{
    u_char                      *p, *data;
    size_t                       data_len;
    time_t                       stored, age;
    ngx_str_t                    value, h, wrapped;
    ngx_http_request_t          *r;
    ngx_http_backend_call_t     *call;
    ngx_http_backend_adapter_t  *a;

    a = run->adapter;
    call = run->call;
    r = run->request;

    if (ngx_http_backend_cache_get(run->amcf->cache,
                                   NGX_HTTP_BACKEND_ADAPTER_CACHE,
                                   &run->stale_key, NULL, 0, r->pool, &value)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    data = ngx_strlchr(value.data, value.data + value.len, '\0');
    if (data == NULL) {
        return NGX_DECLINED;
    }

    stored = ngx_atotm(value.data, data - value.data);
    data++;

    age = (stored == NGX_ERROR || ngx_time() < stored) ? 0
                                                       : ngx_time() - stored;

    /*
     * "degraded" before "data": with superjson, the data is wrapped here
     * as rpc_call_done() would wrap it, and the envelope, which does not
     * start with {"result":{"data":, is left as it is there
     */

    data_len = value.data + value.len - data;

    wrapped.len = sizeof("{\"result\":{\"data\":}}") - 1 + data_len;
    wrapped.data = ngx_pnalloc(r->pool, wrapped.len);
    if (wrapped.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(wrapped.data, "{\"result\":{\"data\":",
                   sizeof("{\"result\":{\"data\":") - 1);
    p = ngx_cpymem(p, data, data_len);
    *p++ = '}';
    *p = '}';

    if (call->ctx->superjson && !call->ctx->jsonl
        && ngx_http_backend_superjson_call(r->pool, &wrapped, NULL) != NGX_OK)
    {
        return NGX_ERROR;
    }

    data = wrapped.data + sizeof("{\"result\":{\"data\":") - 1;
    data_len = wrapped.len - (sizeof("{\"result\":{\"data\":") - 1) - 2;

    call->out.len = sizeof("{\"result\":{\"degraded\":{\"reason\":"
                           "\"breaker_open\",\"age\":,\"adapter\":},"
                           "\"data\":}}") - 1
                    + data_len + NGX_TIME_T_LEN
                    + ngx_http_backend_json_str_len(a->name.data,
                                                    a->name.len);
    call->out.data = ngx_pnalloc(r->pool, call->out.len);
    if (call->out.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(call->out.data, "{\"result\":{\"degraded\":{\"reason\":"
                    "\"%s\",\"age\":%T,\"adapter\":",
                    ngx_http_backend_adapter_outcomes[why], age);
    p = ngx_http_backend_json_str_write(p, a->name.data, a->name.len);
    p = ngx_cpymem(p, "},\"data\":", sizeof("},\"data\":") - 1);
    p = ngx_cpymem(p, data, data_len);
    *p++ = '}';
    *p++ = '}';
    call->out.len = p - call->out.data;

    if (!call->ctx->head_sent) {
        h.data = ngx_pnalloc(r->pool, sizeof("stale; age=") - 1
                                      + NGX_TIME_T_LEN);
        if (h.data == NULL) {
            return NGX_ERROR;
        }

        h.len = ngx_sprintf(h.data, "stale; age=%T", age) - h.data;

        if (ngx_http_backend_adapter_set_header(r, "Backend-Degraded", &h)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    ngx_http_backend_metrics_add(a->calls[NGX_HTTP_BACKEND_ADAPTER_DEGRADED],
                                 1);
    ngx_http_backend_metrics_add(a->degraded[why], 1);

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "backend adapter \"%V\": degraded answer (%s), %T s old",
                  &a->name, ngx_http_backend_adapter_outcomes[why], age);

    call->status = NGX_HTTP_OK;
    call->code = NGX_HTTP_BACKEND_OK;

    ngx_http_backend_rpc_call_done(call);

    return NGX_OK;
}


/* a response header, once per name */

static ngx_int_t
ngx_http_backend_adapter_set_header(ngx_http_request_t *r, char *name,
    ngx_str_t *value)
{
    size_t            len;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);

    h = ngx_http_backend_list_header(&r->headers_out.headers,
                                     (u_char *) name, len);
    if (h) {
        h->value = *value;
        return NGX_OK;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = len;
    h->value = *value;

    return NGX_OK;
}


/*
 * key=input.a.b: 1 to 255 of [A-Za-z0-9._:-], a string or an integer;
 * NGX_DECLINED otherwise (a header value must not carry anything else)
 */

static ngx_int_t
ngx_http_backend_adapter_client_key(ngx_http_backend_adapter_run_t *run,
    ngx_str_t *err)
{
    u_char                   *p;
    ngx_str_t                *seg, s;
    ngx_uint_t                i;
    ngx_http_request_t       *r;
    ngx_http_backend_json_t  *v;

    r = run->request;
    v = run->input;
    seg = run->cc->key.elts;

    for (i = 0; v && i < run->cc->key.nelts; i++) {
        v = ngx_http_backend_json_get(v, seg[i].data, seg[i].len);
    }

    ngx_str_null(&s);

    if (v && v->type == NGX_HTTP_BACKEND_JSON_STRING) {
        s = v->string;

    } else if (v && v->type == NGX_HTTP_BACKEND_JSON_NUMBER) {
        if (ngx_http_backend_json_number_text(r->pool, v, &s) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    for (p = s.data; p < s.data + s.len; p++) {
        if (!(ngx_http_backend_isalnum(*p) || *p == '.' || *p == '_'
              || *p == ':' || *p == '-'))
        {
            break;
        }
    }

    if (s.len == 0 || s.len > 255 || p < s.data + s.len) {
        ngx_str_set(err, "the idempotency key of the call must be 1 to 255 "
                         "of A-Z a-z 0-9 . _ : -");
        return NGX_DECLINED;
    }

    run->key = s;

    return NGX_OK;
}


/*
 * The target of this call: the template with each {value} percent-encoded
 * (ngx_http_backend_adapter_escape()), the body, and the key of its last
 * good answer.  NGX_DECLINED: the input lacks a value, *err says which.
 */

static ngx_int_t
ngx_http_backend_adapter_target(ngx_http_backend_adapter_run_t *run,
    ngx_str_t *err)
{
    u_char                           *p, *start;
    size_t                            len;
    ngx_str_t                        *seg, *f, s, *vals;
    ngx_uint_t                        i, j;
    ngx_http_request_t               *r;
    ngx_http_backend_call_t          *call;
    ngx_http_backend_json_t          *v;
    ngx_http_backend_adapter_part_t  *part;

    call = run->call;
    r = run->request;
    part = run->cc->parts.elts;

    vals = ngx_pcalloc(r->pool, run->cc->parts.nelts * sizeof(ngx_str_t));
    if (vals == NULL) {
        return NGX_ERROR;
    }

    len = 0;

    for (i = 0; i < run->cc->parts.nelts; i++) {

        switch (part[i].type) {

        case NGX_HTTP_BACKEND_ADAPTER_PART_TEXT:
            vals[i] = part[i].text;
            len += part[i].text.len;
            continue;

        case NGX_HTTP_BACKEND_ADAPTER_PART_CTX:
            f = (ngx_str_t *) ((u_char *) call->ctx + part[i].field);
            s = *f;
            break;

        default: /* NGX_HTTP_BACKEND_ADAPTER_PART_INPUT */
            v = run->input;
            seg = part[i].path.elts;

            for (j = 0; v && j < part[i].path.nelts; j++) {
                v = ngx_http_backend_json_get(v, seg[j].data, seg[j].len);
            }

            if (v == NULL) {
                s.len = 0;
                s.data = NULL;
                break;
            }

            switch (v->type) {

            case NGX_HTTP_BACKEND_JSON_STRING:
                s = v->string;
                break;

            case NGX_HTTP_BACKEND_JSON_NUMBER:
                if (ngx_http_backend_json_number_text(r->pool, v, &s)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

                break;

            case NGX_HTTP_BACKEND_JSON_TRUE:
                ngx_str_set(&s, "true");
                break;

            case NGX_HTTP_BACKEND_JSON_FALSE:
                ngx_str_set(&s, "false");
                break;

            default:
                s.len = 0;
                s.data = NULL;
            }
        }

        /*
         * in the path, a value must be a segment: not empty, not . or ..
         * (which every encoding leaves as they are)
         */

        if (s.data == NULL
            || (!part[i].query
                && (s.len == 0
                    || (s.len == 1 && s.data[0] == '.')
                    || (s.len == 2 && s.data[0] == '.' && s.data[1] == '.'))))
        {
            err->len = sizeof("\"{}\" of the call to \"\" needs a string, "
                              "number or boolean that is a path segment")
                       - 1 + part[i].text.len + run->adapter->name.len;
            err->data = ngx_pnalloc(r->pool, err->len);
            if (err->data == NULL) {
                return NGX_ERROR;
            }

            err->len = ngx_sprintf(err->data, "\"{%V}\" of the call to \"%V\" "
                                   "needs a string, number or boolean%s",
                                   &part[i].text, &run->adapter->name,
                                   part[i].query ? ""
                                   : " that is a path segment")
                       - err->data;
            return NGX_DECLINED;
        }

        vals[i] = s;
        len += ngx_http_backend_adapter_escape(NULL, s.data, s.len);
    }

    run->uri.data = ngx_pnalloc(r->pool, len);
    if (run->uri.data == NULL) {
        return NGX_ERROR;
    }

    p = run->uri.data;

    for (i = 0; i < run->cc->parts.nelts; i++) {
        if (part[i].type == NGX_HTTP_BACKEND_ADAPTER_PART_TEXT) {
            p = ngx_cpymem(p, vals[i].data, vals[i].len);

        } else {
            p += ngx_http_backend_adapter_escape(p, vals[i].data,
                                                 vals[i].len);
        }
    }

    run->uri.len = p - run->uri.data;

    v = run->cc->body ? run->body_json : NULL;
    seg = run->cc->body_path.elts;

    for (j = 0; v && j < run->cc->body_path.nelts; j++) {
        v = ngx_http_backend_json_get(v, seg[j].data, seg[j].len);
    }

    if (v && ngx_http_backend_json_serialize(r->pool, v, &run->body)
             != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (!run->adapter->stale || call == NULL) {
        return NGX_OK;
    }

    /*
     * the last good answer's key: adapter, method, target, body, and the
     * caller's user (or session) when a value came from the context
     */

    len = run->adapter->name.len + run->cc->method_name.len + run->uri.len
          + run->body.len + 4;

    if (run->cc->uses_ctx) {
        len += call->ctx->auth.user_id.len + call->ctx->auth.session_id.len
               + 2;
    }

    start = ngx_pnalloc(r->pool, len);
    if (start == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(start, "%V %V %V\n%V", &run->adapter->name,
                    &run->cc->method_name, &run->uri, &run->body);

    if (run->cc->uses_ctx) {
        p = ngx_sprintf(p, "\n%V:%V", &call->ctx->auth.user_id,
                        &call->ctx->auth.session_id);
    }

    run->stale_key.data = start;
    run->stale_key.len = p - start;

    return NGX_OK;
}


/* the request ends first (client gone, an error): no callback may follow */

static void
ngx_http_backend_adapter_cleanup(void *data)
{
    ngx_http_backend_adapter_run_t *run = data;

    if (run->finished) {
        return;
    }

    run->finished = 1;

    if (run->attempt) {
        run->attempt->run = NULL;
        run->attempt = NULL;
    }

    ngx_http_backend_adapter_report(run, NGX_HTTP_BACKEND_BREAKER_NEUTRAL);

    if (run->timer.timer_set) {
        ngx_del_timer(&run->timer);
    }

    if (run->budget.timer_set) {
        ngx_del_timer(&run->budget);
    }

    if (run->ended.posted) {
        ngx_delete_posted_event(&run->ended);
    }
}


/* $backend_adapter_uri: in the adapter's location, the attempt's target */

ngx_int_t
ngx_http_backend_adapter_uri_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_backend_adapter_attempt_t  *at;

    at = ngx_http_get_module_ctx(r, ngx_http_backend_adapter_module);

    if (at == NULL) {
        /* not an adapter's exchange (the access handler refuses clients) */
        v->not_found = 1;
        return NGX_OK;
    }

    /* an attempt given up before it started still goes where it was to */
    v->data = at->uri.data;
    v->len = at->uri.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}
