
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_backend_adapter_int.h"
#include "ngx_http_backend_adapter_bg.h"


/*
 * Adapter calls of queue items and job slots.  A subrequest needs a main
 * request, and a timer has none: each call gets a request of its own, in
 * a pool of its own, on a connection that is no socket (fd -1, its events
 * never in the event loop), with the configuration of the server that
 * has the adapter's location.  The adapter's subrequests hang from it as
 * from a client's request, so nginx's upstream does the exchange and the
 * adapter's timers, retries, breaker and rate limit apply unchanged.
 *
 * nginx never closes this request: it holds a reference of its own
 * (r->count 1) that only ngx_http_backend_adapter_bg_free() gives up,
 * after the caller is done with the answer and once no subrequest is left
 * (an attempt given up at its timeout ends a moment later); then the pool,
 * with the request, the connection and the answer, is destroyed.  A worker
 * that exits frees what is left (ngx_http_backend_adapter_bg_exit()).
 */


#define NGX_HTTP_BACKEND_ADAPTER_BG_LINGER  100


struct ngx_http_backend_adapter_bg_s {
    ngx_http_backend_adapter_call_t  *cc;
    ngx_http_core_srv_conf_t         *cscf;     /* has the location */
    ngx_queue_t                       calls;    /* the worker's, in flight */
    ngx_uint_t                        line;
};


/* the connection's log context: nginx's first, as its code expects */
typedef struct {
    ngx_http_log_ctx_t                   http;
    ngx_http_backend_adapter_bg_call_t  *bc;
} ngx_http_backend_adapter_bg_log_ctx_t;


static ngx_http_request_t *ngx_http_backend_adapter_bg_request(
    ngx_http_backend_adapter_bg_call_t *bc);
static ngx_http_backend_json_t *ngx_http_backend_adapter_bg_tree(
    ngx_pool_t *pool, ngx_http_backend_adapter_bg_field_t *fields,
    ngx_uint_t nfields);
static void ngx_http_backend_adapter_bg_ended(
    ngx_http_backend_adapter_result_t *res, void *data);
static void ngx_http_backend_adapter_bg_done(ngx_event_t *ev);
static void ngx_http_backend_adapter_bg_linger(ngx_event_t *ev);
static void ngx_http_backend_adapter_bg_destroy(
    ngx_http_backend_adapter_bg_call_t *bc);
static u_char *ngx_http_backend_adapter_bg_log(ngx_log_t *log, u_char *buf,
    size_t len);
static ngx_http_core_loc_conf_t *ngx_http_backend_adapter_bg_location(
    ngx_http_location_tree_node_t *node, ngx_str_t *uri);


char *
ngx_http_backend_adapter_bg_conf(ngx_conf_t *cf, char *root,
    ngx_http_backend_adapter_bg_t **pbg)
{
    char                           *rv;
    ngx_http_backend_adapter_bg_t  *bg;

    bg = *pbg;

    if (bg == NULL) {
        bg = ngx_pcalloc(cf->pool, sizeof(ngx_http_backend_adapter_bg_t));
        if (bg == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    rv = ngx_http_backend_adapter_call_conf(cf, root, &bg->cc);

    if (rv == NGX_CONF_OK) {
        bg->line = cf->conf_file->line;
        ngx_queue_init(&bg->calls);
        *pbg = bg;
    }

    return rv;
}


ngx_int_t
ngx_http_backend_adapter_bg_init(ngx_conf_t *cf,
    ngx_http_backend_adapter_bg_t *bg, char *block, ngx_str_t *name,
    u_char *file)
{
    ngx_http_backend_adapter_call_t  *cc;

    cc = bg->cc;

    cc->adapter = ngx_http_backend_adapter_find(cf, &cc->name);

    if (cc->adapter == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "%s \"%V\" calls unknown adapter \"%V\" in %s:%ui",
                      block, name, &cc->name, file, bg->line);
        return NGX_ERROR;
    }

    /*
     * the item or slot is tried again after a failure (and its statement
     * after the call may fail): a POST or PATCH must carry a key, the
     * same on every attempt, so that the API takes it once
     */

    if ((cc->method & (NGX_HTTP_POST|NGX_HTTP_PATCH))
        && cc->adapter->idempotency.len == 0)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "%s \"%V\": a %V call needs \"idempotency header=\" "
                      "in adapter \"%V\" (its key is the %s's own) in %s:%ui",
                      block, name, &cc->method_name, &cc->name,
                      block[8] == 'q' ? "item" : "slot", file, bg->line);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The server whose locations have the adapter's, found as nginx finds a
 * static location; its configuration is the call's request's
 */

ngx_int_t
ngx_http_backend_adapter_bg_server(ngx_conf_t *cf,
    ngx_http_backend_adapter_bg_t *bg, char *block, ngx_str_t *name,
    u_char *file)
{
    ngx_uint_t                  s;
    ngx_str_t                  *loc;
    ngx_http_core_loc_conf_t   *clcf, *found;
    ngx_http_core_srv_conf_t  **cscfp;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    cscfp = cmcf->servers.elts;
    loc = &bg->cc->adapter->location;

    for (s = 0; s < cmcf->servers.nelts; s++) {
        clcf = cscfp[s]->ctx->loc_conf[ngx_http_core_module.ctx_index];

        found = ngx_http_backend_adapter_bg_location(clcf->static_locations,
                                                     loc);

        if (found && found->name.len == loc->len
            && ngx_strncmp(found->name.data, loc->data, loc->len) == 0)
        {
            bg->cscf = cscfp[s];
            return NGX_OK;
        }
    }

    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                  "%s \"%V\" in %s:%ui calls adapter \"%V\", whose location "
                  "\"%V\" is in no server (a call without a client request "
                  "needs it as a location of its own)",
                  block, name, file, bg->line, &bg->cc->name, loc);

    return NGX_ERROR;
}


static ngx_http_core_loc_conf_t *
ngx_http_backend_adapter_bg_location(ngx_http_location_tree_node_t *node,
    ngx_str_t *uri)
{
    u_char                    *u;
    size_t                     len, n;
    ngx_int_t                  rc;
    ngx_http_core_loc_conf_t  *found;

    len = uri->len;
    u = uri->data;
    found = NULL;

    while (node) {
        n = (len <= (size_t) node->len) ? len : node->len;

        rc = ngx_filename_cmp(u, node->name, n);

        if (rc != 0) {
            node = (rc < 0) ? node->left : node->right;
            continue;
        }

        if (len > (size_t) node->len) {
            if (node->inclusive) {
                found = node->inclusive;
                node = node->tree;
                u += n;
                len -= n;
                continue;
            }

            node = node->right;
            continue;
        }

        if (len == (size_t) node->len) {
            return node->exact ? node->exact : node->inclusive;
        }

        node = node->left;
    }

    return found;
}


ngx_http_backend_adapter_bg_call_t *
ngx_http_backend_adapter_bg_start(ngx_http_backend_adapter_bg_t *bg,
    ngx_http_backend_adapter_bg_field_t *fields, ngx_uint_t nfields,
    ngx_str_t *key, ngx_str_t *what, ngx_http_backend_adapter_bg_pt handler,
    void *data)
{
    u_char                              *p;
    ngx_int_t                            rc;
    ngx_str_t                            err, k;
    ngx_pool_t                          *pool;
    ngx_http_request_t                  *r;
    ngx_http_backend_json_t             *tree;
    ngx_http_backend_adapter_bg_call_t  *bc;

    pool = ngx_create_pool(4096, ngx_cycle->log);
    if (pool == NULL) {
        return NULL;
    }

    bc = ngx_pcalloc(pool, sizeof(ngx_http_backend_adapter_bg_call_t));
    if (bc == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    bc->bg = bg;
    bc->pool = pool;
    bc->handler = handler;
    bc->data = data;

    bc->what.data = ngx_pnalloc(pool, what->len);
    k.data = ngx_pnalloc(pool, key->len);

    if (bc->what.data == NULL || k.data == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    bc->what.len = what->len;
    ngx_memcpy(bc->what.data, what->data, what->len);
    k.len = key->len;
    ngx_memcpy(k.data, key->data, key->len);

    r = ngx_http_backend_adapter_bg_request(bc);
    if (r == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    bc->request = r;

    bc->done.handler = ngx_http_backend_adapter_bg_done;
    bc->done.data = bc;
    bc->done.log = r->connection->log;

    bc->linger.handler = ngx_http_backend_adapter_bg_linger;
    bc->linger.data = bc;
    bc->linger.log = r->connection->log;

    ngx_queue_insert_tail(&bg->calls, &bc->queue);

    tree = ngx_http_backend_adapter_bg_tree(pool, fields, nfields);

    if (tree == NULL) {
        ngx_queue_remove(&bc->queue);
        ngx_destroy_pool(pool);
        return NULL;
    }

    rc = ngx_http_backend_adapter_start(r, bg->cc, tree, tree, &k,
                                        ngx_http_backend_adapter_bg_ended, bc,
                                        &err);

    if (rc == NGX_ERROR) {
        ngx_http_backend_adapter_bg_destroy(bc);
        return NULL;
    }

    if (rc == NGX_DECLINED) {
        /* the work lacks a value of the target: an error like the API's */
        p = ngx_snprintf(bc->error, sizeof(bc->error) - 1, "%V", &err);
        *p = '\0';

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "backend adapter \"%V\": no call: %V",
                      &bg->cc->adapter->name, &err);

        bc->ended = 1;
        ngx_post_event(&bc->done, &ngx_posted_events);
    }

    /* the first attempt's subrequest was posted to r: run it now */
    ngx_http_run_posted_requests(r->connection);

    return bc;
}


/* the call's own request: no client, the configuration of its server */

static ngx_http_request_t *
ngx_http_backend_adapter_bg_request(ngx_http_backend_adapter_bg_call_t *bc)
{
    ngx_log_t                              *log;
    ngx_pool_t                             *pool;
    ngx_time_t                             *tp;
    ngx_event_t                            *rev, *wev;
    ngx_connection_t                       *c;
    ngx_http_request_t                     *r;
    ngx_http_core_srv_conf_t               *cscf;
    ngx_http_core_loc_conf_t               *clcf;
    ngx_http_core_main_conf_t              *cmcf;
    ngx_http_backend_adapter_bg_log_ctx_t  *ctx;

    pool = bc->pool;
    cscf = bc->bg->cscf;

    c = ngx_pcalloc(pool, sizeof(ngx_connection_t));
    rev = ngx_pcalloc(pool, sizeof(ngx_event_t));
    wev = ngx_pcalloc(pool, sizeof(ngx_event_t));
    log = ngx_palloc(pool, sizeof(ngx_log_t));
    ctx = ngx_pcalloc(pool, sizeof(ngx_http_backend_adapter_bg_log_ctx_t));
    r = ngx_pcalloc(pool, sizeof(ngx_http_request_t));

    if (c == NULL || rev == NULL || wev == NULL || log == NULL || ctx == NULL
        || r == NULL)
    {
        return NULL;
    }

    /*
     * no socket: its events are marked active so that nginx never adds
     * them to the event loop (the upstream does for a client's)
     */

    c->fd = (ngx_socket_t) -1;
    c->pool = pool;
    c->read = rev;
    c->write = wev;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);
    c->requests = 1;
    c->log_error = NGX_ERROR_INFO;
    c->data = r;

    rev->data = c;
    wev->data = c;
    rev->active = 1;
    wev->active = 1;
    wev->ready = 1;

    clcf = cscf->ctx->loc_conf[ngx_http_core_module.ctx_index];

    *log = *ngx_cycle->log;
    c->log = log;
    ngx_set_connection_log(c, clcf->error_log);

    log->connection = c->number;
    log->action = NULL;
    log->handler = ngx_http_backend_adapter_bg_log;
    log->data = ctx;

    ctx->http.connection = c;
    ctx->http.request = r;
    ctx->http.current_request = r;
    ctx->bc = bc;

    rev->log = log;
    wev->log = log;

    r->signature = NGX_HTTP_MODULE;
    r->connection = c;
    r->pool = pool;
    r->main = r;
    r->count = 1;

    r->main_conf = cscf->ctx->main_conf;
    r->srv_conf = cscf->ctx->srv_conf;
    r->loc_conf = cscf->ctx->loc_conf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

    r->ctx = ngx_pcalloc(pool, sizeof(void *) * ngx_http_max_module);
    r->variables = ngx_pcalloc(pool, cmcf->variables.nelts
                                     * sizeof(ngx_http_variable_value_t));

    if (r->ctx == NULL || r->variables == NULL) {
        return NULL;
    }

    if (ngx_list_init(&r->headers_in.headers, pool, 2,
                      sizeof(ngx_table_elt_t))
        != NGX_OK
        || ngx_list_init(&r->headers_out.headers, pool, 2,
                         sizeof(ngx_table_elt_t))
           != NGX_OK
        || ngx_list_init(&r->headers_out.trailers, pool, 1,
                         sizeof(ngx_table_elt_t))
           != NGX_OK)
    {
        return NULL;
    }

    r->headers_in.content_length_n = -1;
    r->headers_in.keep_alive_n = -1;
    r->headers_out.content_length_n = -1;
    r->headers_out.last_modified_time = -1;

    r->uri_changes = NGX_HTTP_MAX_URI_CHANGES + 1;
    r->subrequests = NGX_HTTP_MAX_SUBREQUESTS + 1;

    r->method = NGX_HTTP_GET;
    ngx_str_set(&r->method_name, "GET");
    r->http_version = NGX_HTTP_VERSION_11;
    ngx_str_set(&r->http_protocol, "HTTP/1.1");
    r->uri = bc->bg->cc->adapter->location;
    r->http_state = NGX_HTTP_PROCESS_REQUEST_STATE;

    r->read_event_handler = ngx_http_request_empty_handler;
    r->write_event_handler = ngx_http_request_empty_handler;

    /* never in an access log: the request is no client's */
    r->logged = 1;
    r->internal = 1;

    tp = ngx_timeofday();
    r->start_sec = tp->sec;
    r->start_msec = tp->msec;

    return r;
}


/* {"id":"42","payload":{...},...}: the values the target and body name */

static ngx_http_backend_json_t *
ngx_http_backend_adapter_bg_tree(ngx_pool_t *pool,
    ngx_http_backend_adapter_bg_field_t *fields, ngx_uint_t nfields)
{
    u_char                   *p, *text;
    size_t                    len;
    ngx_str_t                 err;
    ngx_uint_t                i;
    ngx_http_backend_json_t  *tree;

    len = 2;

    for (i = 0; i < nfields; i++) {
        len += ngx_strlen(fields[i].name) + 4;

        if (fields[i].value == NULL) {
            len += sizeof("null") - 1;

        } else if (fields[i].json) {
            len += ngx_strlen(fields[i].value);

        } else {
            len += ngx_http_backend_json_str_len(fields[i].value,
                                               ngx_strlen(fields[i].value));
        }
    }

    text = ngx_pnalloc(pool, len);
    if (text == NULL) {
        return NULL;
    }

    p = text;
    *p++ = '{';

    for (i = 0; i < nfields; i++) {
        p = ngx_sprintf(p, "%s\"%s\":", i ? "," : "", fields[i].name);

        if (fields[i].value == NULL) {
            p = ngx_cpymem(p, "null", sizeof("null") - 1);

        } else if (fields[i].json) {
            p = ngx_cpymem(p, fields[i].value, ngx_strlen(fields[i].value));

        } else {
            p = ngx_http_backend_json_str_write(p, fields[i].value,
                                                ngx_strlen(fields[i].value));
        }
    }

    *p++ = '}';

    if (ngx_http_backend_json_parse(pool, text, p - text, 0, &tree, &err)
        != NGX_OK)
    {
        /* the payload is the database's jsonb: valid JSON */
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "backend adapter: the work's values are not JSON: %V",
                      &err);
        return NULL;
    }

    return tree;
}


/* the adapter's answer, possibly before bg_start() returns */

static void
ngx_http_backend_adapter_bg_ended(ngx_http_backend_adapter_result_t *res,
    void *data)
{
    ngx_http_backend_adapter_bg_call_t *bc = data;

    u_char                      *p;
    ngx_http_backend_adapter_t  *a;

    a = bc->bg->cc->adapter;

    bc->ended = 1;

    p = ngx_sprintf(bc->status, "%ui", res->status);
    *p = '\0';

    if (res->outcome == NGX_HTTP_BACKEND_ADAPTER_OK) {
        bc->result.data = ngx_pnalloc(bc->pool, res->answer.len + 1);

        if (bc->result.data) {
            p = ngx_cpymem(bc->result.data, res->answer.data,
                           res->answer.len);
            *p = '\0';
            bc->result.len = res->answer.len;
            bc->ok = 1;
        }
    }

    if (!bc->ok) {
        p = ngx_snprintf(bc->error, sizeof(bc->error) - 1,
                         "external API \"%V\": %s after %ui attempt(s)",
                         &a->name,
                         bc->result.data == NULL
                         && res->outcome == NGX_HTTP_BACKEND_ADAPTER_OK
                         ? "no memory"
                         : ngx_http_backend_adapter_outcomes[res->outcome],
                         res->attempts);

        if (res->status) {
            p = ngx_snprintf(p, bc->error + sizeof(bc->error) - 1 - p,
                             " (status %ui)", res->status);
        }

        *p = '\0';
    }

    ngx_post_event(&bc->done, &ngx_posted_events);
}


static void
ngx_http_backend_adapter_bg_done(ngx_event_t *ev)
{
    ngx_http_backend_adapter_bg_call_t *bc = ev->data;

    bc->handler(bc, bc->data);
}


void
ngx_http_backend_adapter_bg_free(ngx_http_backend_adapter_bg_call_t *bc)
{
    if (bc == NULL || bc->released) {
        return;
    }

    bc->released = 1;

    if (bc->done.posted) {
        ngx_delete_posted_event(&bc->done);
    }

    ngx_http_backend_adapter_bg_linger(&bc->linger);
}


/*
 * Freed once the request is ours alone: an attempt given up at its
 * timeout is still a subrequest until its upstream has ended it, which
 * the adapter made happen at once
 */

static void
ngx_http_backend_adapter_bg_linger(ngx_event_t *ev)
{
    ngx_http_backend_adapter_bg_call_t *bc = ev->data;

    if (bc->request->count > 1 || bc->request->posted_requests) {
        ngx_add_timer(&bc->linger, NGX_HTTP_BACKEND_ADAPTER_BG_LINGER);
        return;
    }

    ngx_http_backend_adapter_bg_destroy(bc);
}


static void
ngx_http_backend_adapter_bg_destroy(ngx_http_backend_adapter_bg_call_t *bc)
{
    ngx_http_cleanup_t  *cln;
    ngx_http_request_t  *r;

    r = bc->request;

    /* the adapter's cleanup: its timers and events, if the call is on */

    cln = r->cleanup;
    r->cleanup = NULL;

    while (cln) {
        if (cln->handler) {
            cln->handler(cln->data);
        }

        cln = cln->next;
    }

    if (bc->done.posted) {
        ngx_delete_posted_event(&bc->done);
    }

    if (bc->linger.timer_set) {
        ngx_del_timer(&bc->linger);
    }

    ngx_queue_remove(&bc->queue);

    ngx_destroy_pool(bc->pool);
}


void
ngx_http_backend_adapter_bg_exit(ngx_http_backend_adapter_bg_t *bg)
{
    ngx_uint_t                           n;
    ngx_queue_t                         *q;
    ngx_http_backend_adapter_bg_call_t  *bc;

    if (bg == NULL || bg->calls.next == NULL) {
        return;
    }

    for (n = 0; !ngx_queue_empty(&bg->calls); n++) {
        q = ngx_queue_head(&bg->calls);
        bc = ngx_queue_data(q, ngx_http_backend_adapter_bg_call_t, queue);
        ngx_http_backend_adapter_bg_destroy(bc);
    }

    if (n) {
        /* a fast shutdown: their items and slots are left to their leases */
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "backend adapter \"%V\": %ui call(s) still in flight "
                      "at exit, their work left to its lease",
                      &bg->cc->adapter->name, n);
    }
}


/* ", background call of queue "welcome" item 42" after each line */

static u_char *
ngx_http_backend_adapter_bg_log(ngx_log_t *log, u_char *buf, size_t len)
{
    ngx_http_backend_adapter_bg_log_ctx_t  *ctx;

    ctx = log->data;

    return ngx_snprintf(buf, len, ", background call of %V",
                        &ctx->bc->what);
}
