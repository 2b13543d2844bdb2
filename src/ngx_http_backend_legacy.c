
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_backend.h"
#include "ngx_http_backend_legacy.h"


/*
 * backend_rpc_legacy: the calls of a backend_rpc request whose procedure is
 * not declared here go to the legacy server, as one request (a batch of
 * them if the client sent a batch), through a subrequest to the location
 * the directive names (its proxy_pass, timeouts and keepalive are nginx's
 * own).  The answer, kept in memory, gives each of those calls its
 * envelope; the request's other calls run here, and rpc.c writes all of
 * them, in the client's order and format, as they complete.  A legacy
 * server that is down, too slow, or answers something that is not tRPC
 * gives those calls an error envelope (BAD_GATEWAY, GATEWAY_TIMEOUT).
 */


typedef struct {
    ngx_http_backend_ctx_t         *ctx;
    ngx_uint_t                      n;          /* legacy calls */
    ngx_str_t                      *raw;        /* inputs, per call */

    ngx_int_t                       rc;         /* the subrequest's */
    ngx_uint_t                      status;
    ngx_buf_t                      *answer;

    ngx_event_t                     event;

    unsigned                        done:1;
} ngx_http_backend_legacy_t;


static ngx_int_t ngx_http_backend_legacy_request(ngx_http_request_t *r,
    ngx_http_backend_legacy_t *lg, ngx_str_t *uri, ngx_str_t *args,
    ngx_str_t *body);
static ngx_int_t ngx_http_backend_legacy_input(ngx_http_request_t *r,
    ngx_http_backend_ctx_t *ctx, ngx_http_backend_legacy_t *lg,
    ngx_str_t *json);
static ngx_int_t ngx_http_backend_legacy_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static void ngx_http_backend_legacy_answer(ngx_event_t *ev);
static ngx_int_t ngx_http_backend_legacy_parse(ngx_http_request_t *r,
    ngx_http_backend_legacy_t *lg, ngx_str_t *msg);
static ngx_int_t ngx_http_backend_legacy_unwrap(ngx_http_request_t *r,
    ngx_http_backend_call_t *call, ngx_http_backend_json_t *env);
static ngx_int_t ngx_http_backend_legacy_dates(ngx_pool_t *pool,
    ngx_array_t *dates, ngx_http_backend_json_t *v, u_char *prefix,
    size_t len, ngx_uint_t depth);
static void ngx_http_backend_legacy_fail(ngx_http_backend_ctx_t *ctx,
    ngx_http_backend_error_e code, ngx_str_t *msg);
static void ngx_http_backend_legacy_complete(ngx_http_backend_ctx_t *ctx);
static void ngx_http_backend_legacy_gone(void *data);
static void ngx_http_backend_legacy_cleanup(void *data);
static char *ngx_http_backend_legacy(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void *ngx_http_backend_legacy_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_backend_legacy_init_main_conf(ngx_conf_t *cf,
    void *conf);
static void *ngx_http_backend_legacy_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_backend_legacy_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);


static ngx_command_t  ngx_http_backend_legacy_commands[] = {

    { ngx_string("backend_rpc_legacy"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_backend_legacy,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("backend_rpc_shadow"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_backend_shadow_conf,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_backend_legacy_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_backend_legacy_create_main_conf, /* create main configuration */
    ngx_http_backend_legacy_init_main_conf, /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_backend_legacy_create_loc_conf, /* create location configuration */
    ngx_http_backend_legacy_merge_loc_conf /* merge location configuration */
};


ngx_module_t  ngx_http_backend_legacy_module = {
    NGX_MODULE_V1,
    &ngx_http_backend_legacy_module_ctx,   /* module context */
    ngx_http_backend_legacy_commands,      /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/*
 * Headers the legacy server is not sent: it is asked for plain JSON whatever
 * the client accepts (its answer is read whole and each call's envelope
 * written in the client's format here), and not compressed
 */

static ngx_str_t  ngx_http_backend_legacy_drop[] = {
    ngx_string("trpc-accept"),
    ngx_string("trpc-batch-mode"),
    ngx_string("accept"),
    ngx_string("accept-encoding"),
    ngx_string("content-length"),
    ngx_string("transfer-encoding"),
    ngx_string("x-request-id"),
    ngx_null_string
};


ngx_uint_t
ngx_http_backend_legacy_calls(ngx_http_request_t *r,
    ngx_http_backend_ctx_t *ctx)
{
    ngx_uint_t                           i, n;
    ngx_http_backend_legacy_loc_conf_t  *llcf;

    llcf = ngx_http_get_module_loc_conf(r, ngx_http_backend_legacy_module);

    /* a legacy location that is a backend_rpc one: no loop */
    if (llcf->uri.len == 0 || r != r->main) {
        return 0;
    }

    n = 0;

    for (i = 0; i < ctx->ncalls; i++) {
        if (ctx->calls[i].proc == NULL) {
            ctx->calls[i].legacy = 1;
            n++;
        }
    }

    return n;
}


/*
 * A batch split between here and there sends the legacy server its calls'
 * inputs renumbered; a shadow call sends its own
 */

ngx_uint_t
ngx_http_backend_legacy_needs_input(ngx_http_request_t *r,
    ngx_http_backend_ctx_t *ctx, ngx_uint_t legacy)
{
    ngx_http_backend_legacy_loc_conf_t  *llcf;

    llcf = ngx_http_get_module_loc_conf(r, ngx_http_backend_legacy_module);

    return (legacy && legacy < ctx->ncalls) || llcf->shadows != NULL;
}


ngx_int_t
ngx_http_backend_legacy_save_input(ngx_http_request_t *r,
    ngx_http_backend_ctx_t *ctx, ngx_uint_t legacy)
{
    ngx_uint_t                  i;
    ngx_http_backend_json_t    *v;
    ngx_http_backend_legacy_t  *lg;

    u_char  buf[NGX_INT_T_LEN];

    /*
     * a split batch's legacy calls, and superjson's inputs (read in place
     * next); a shadow call otherwise sends the input as it was read, on
     * the few calls sampled
     */

    if (ctx->input == NULL
        || !((legacy && legacy < ctx->ncalls)
             || (ctx->superjson
                 && ngx_http_backend_legacy_needs_input(r, ctx, legacy))))
    {
        return NGX_OK;
    }

    lg = ngx_pcalloc(r->pool, sizeof(ngx_http_backend_legacy_t));
    if (lg == NULL) {
        return NGX_ERROR;
    }

    lg->raw = ngx_pcalloc(r->pool, ctx->ncalls * sizeof(ngx_str_t));
    if (lg->raw == NULL) {
        return NGX_ERROR;
    }

    ngx_http_set_ctx(r, lg, ngx_http_backend_legacy_module);

    for (i = 0; i < ctx->ncalls; i++) {
        v = ctx->batch ? ngx_http_backend_json_get(ctx->input, buf,
                                                   ngx_sprintf(buf, "%ui", i)
                                                   - buf)
                       : ctx->input;

        if (v && ngx_http_backend_json_serialize(r->pool, v, &lg->raw[i])
                 != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


ngx_str_t *
ngx_http_backend_legacy_raw(ngx_http_request_t *r, ngx_uint_t index)
{
    ngx_http_backend_legacy_t  *lg;

    lg = ngx_http_get_module_ctx(r, ngx_http_backend_legacy_module);

    if (lg == NULL || lg->raw == NULL || lg->raw[index].len == 0) {
        return NULL;
    }

    return &lg->raw[index];
}


ngx_int_t
ngx_http_backend_legacy_start(ngx_http_request_t *r,
    ngx_http_backend_ctx_t *ctx, u_char *body, size_t len)
{
    u_char                              *p;
    size_t                               n;
    ngx_str_t                            uri, args, json, data, msg;
    ngx_uint_t                           i, escape;
    ngx_pool_cleanup_t                  *cln;
    ngx_http_backend_legacy_t           *lg;
    ngx_http_backend_legacy_loc_conf_t  *llcf;

    llcf = ngx_http_get_module_loc_conf(r, ngx_http_backend_legacy_module);

    lg = ngx_http_get_module_ctx(r, ngx_http_backend_legacy_module);

    if (lg == NULL) {
        lg = ngx_pcalloc(r->pool, sizeof(ngx_http_backend_legacy_t));
        if (lg == NULL) {
            return NGX_ERROR;
        }

        ngx_http_set_ctx(r, lg, ngx_http_backend_legacy_module);
    }

    lg->ctx = ctx;

    /* the legacy location, then the calls' paths */

    n = llcf->uri.len;

    for (i = 0; i < ctx->ncalls; i++) {
        if (ctx->calls[i].legacy) {
            n += ctx->calls[i].path.len + 1;
            lg->n++;
        }
    }

    uri.data = ngx_pnalloc(r->pool, n);
    if (uri.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(uri.data, llcf->uri.data, llcf->uri.len);

    for (i = 0; i < ctx->ncalls; i++) {
        if (ctx->calls[i].legacy) {
            if (p != uri.data + llcf->uri.len) {
                *p++ = ',';
            }

            p = ngx_cpymem(p, ctx->calls[i].path.data,
                           ctx->calls[i].path.len);
        }
    }

    uri.len = p - uri.data;

    data.data = body;
    data.len = len;

    if (lg->n == ctx->ncalls) {
        /* the request's own query string and body, as the client sent them */
        args = r->args;

    } else {
        /* a batch of some of the calls: their inputs, renumbered */

        if (ctx->input_error.len && lg->raw == NULL) {
            /* not JSON (superjson's envelope of another call may be bad) */
            ngx_http_backend_legacy_fail(ctx, NGX_HTTP_BACKEND_BAD_REQUEST,
                                         &ctx->input_error);
            return NGX_OK;
        }

        if (ngx_http_backend_legacy_input(r, ctx, lg, &json) != NGX_OK) {
            return NGX_ERROR;
        }

        if (r->method == NGX_HTTP_POST) {
            ngx_str_set(&args, "batch=1");
            data = json;

        } else if (json.len == 0) {
            ngx_str_set(&args, "batch=1");

        } else {
            escape = 2 * ngx_escape_uri(NULL, json.data, json.len,
                                        NGX_ESCAPE_URI_COMPONENT);

            args.data = ngx_pnalloc(r->pool, sizeof("batch=1&input=") - 1
                                             + json.len + escape);
            if (args.data == NULL) {
                return NGX_ERROR;
            }

            p = ngx_cpymem(args.data, "batch=1&input=",
                           sizeof("batch=1&input=") - 1);
            p = (u_char *) ngx_escape_uri(p, json.data, json.len,
                                          NGX_ESCAPE_URI_COMPONENT);
            args.len = p - args.data;
        }
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_backend_legacy_cleanup;
    cln->data = lg;

    lg->event.handler = ngx_http_backend_legacy_answer;
    lg->event.data = lg;
    lg->event.log = r->connection->log;

    if (ngx_http_backend_legacy_request(r, lg, &uri, &args, &data)
        != NGX_OK)
    {
        ngx_str_set(&msg, "Legacy server not reachable");
        ngx_http_backend_legacy_fail(ctx, NGX_HTTP_BACKEND_BAD_GATEWAY, &msg);
    }

    return NGX_OK;
}


/*
 * A background subrequest: the client's request does not wait for it to
 * write its own output (the lines of a stream go out as they come), and its
 * answer stays in memory (subrequest_output_buffer_size bounds it)
 */

static ngx_int_t
ngx_http_backend_legacy_request(ngx_http_request_t *r,
    ngx_http_backend_legacy_t *lg, ngx_str_t *uri, ngx_str_t *args,
    ngx_str_t *body)
{
    ngx_buf_t                   *b;
    ngx_chain_t                 *cl;
    ngx_http_request_t          *sr;
    ngx_http_request_body_t     *rb;
    ngx_http_post_subrequest_t  *ps;

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_backend_legacy_done;
    ps->data = lg;

    if (ngx_http_subrequest(r, uri, args, &sr, ps,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY
                            |NGX_HTTP_SUBREQUEST_BACKGROUND)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the client's method, headers and body (read by us: rebuilt) */

    sr->method = r->method;
    sr->method_name = r->method_name;

    if (ngx_http_backend_legacy_headers(r->pool, &sr->headers_in.headers,
                                        &r->headers_in.headers, 0,
                                        &lg->ctx->request_id)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sr->headers_in.chunked = 0;
    sr->headers_in.content_length = NULL;
    sr->headers_in.content_length_n = -1;

    rb = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (rb == NULL) {
        return NGX_ERROR;
    }

    sr->request_body = rb;

    if (r->method != NGX_HTTP_POST) {
        return NGX_OK;
    }

    sr->headers_in.content_length_n = body->len;

    if (body->len == 0) {
        return NGX_OK;
    }

    b = ngx_calloc_buf(r->pool);
    cl = ngx_alloc_chain_link(r->pool);

    if (b == NULL || cl == NULL) {
        return NGX_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->start = b->pos;
    b->end = b->last;
    b->memory = 1;
    b->last_buf = 1;

    cl->buf = b;
    cl->next = NULL;

    rb->bufs = cl;

    return NGX_OK;
}


/*
 * {"0":<input of the first legacy call>,...}, as the client wrote them;
 * empty: no input at all
 */

static ngx_int_t
ngx_http_backend_legacy_input(ngx_http_request_t *r,
    ngx_http_backend_ctx_t *ctx, ngx_http_backend_legacy_t *lg,
    ngx_str_t *json)
{
    u_char      *p;
    size_t       len;
    ngx_uint_t   i, j;

    ngx_str_null(json);

    if (lg->raw == NULL) {
        return NGX_OK;
    }

    len = 2;

    for (i = 0; i < ctx->ncalls; i++) {
        if (ctx->calls[i].legacy) {
            len += NGX_INT_T_LEN + 4 + lg->raw[i].len;
        }
    }

    json->data = ngx_pnalloc(r->pool, len);
    if (json->data == NULL) {
        return NGX_ERROR;
    }

    p = json->data;
    *p++ = '{';

    for (i = 0, j = 0; i < ctx->ncalls; i++) {
        if (!ctx->calls[i].legacy) {
            continue;
        }

        if (lg->raw[i].len) {
            p = ngx_sprintf(p, "%s\"%ui\":%V", p == json->data + 1 ? "" : ",",
                            j, &lg->raw[i]);
        }

        j++;
    }

    *p++ = '}';
    json->len = p - json->data;

    return NGX_OK;
}


/*
 * Called as the subrequest is finalized (more than once if nginx makes an
 * error page for it): what it got is kept, and the calls complete from a
 * posted event, outside the subrequest's frames.  An error of its own must
 * not end the client's request, which a background subrequest's NGX_ERROR
 * would do.
 */

static ngx_int_t
ngx_http_backend_legacy_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc)
{
    ngx_http_backend_legacy_t *lg = data;

    if (!lg->done) {
        lg->done = 1;
        lg->rc = rc;
        lg->status = sr->headers_out.status;
        lg->answer = sr->out ? sr->out->buf : NULL;

        ngx_post_event(&lg->event, &ngx_posted_events);
    }

    if (rc == NGX_ERROR || rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return NGX_OK;
    }

    return rc;
}


static void
ngx_http_backend_legacy_answer(ngx_event_t *ev)
{
    ngx_http_backend_legacy_t *lg = ev->data;

    ngx_int_t                 rc;
    ngx_str_t                 msg;
    ngx_http_request_t       *r;
    ngx_http_backend_ctx_t   *ctx;
    ngx_http_backend_error_e  code;

    ctx = lg->ctx;
    r = ctx->request;

    if (ctx->finalized) {
        return;
    }

    if (lg->rc == NGX_HTTP_GATEWAY_TIME_OUT) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "backend legacy: the legacy server timed out");
        ngx_str_set(&msg, "Legacy server timed out");
        ngx_http_backend_legacy_fail(ctx, NGX_HTTP_BACKEND_GATEWAY_TIMEOUT,
                                     &msg);
        return;
    }

    if (lg->rc == NGX_ERROR || lg->rc >= NGX_HTTP_SPECIAL_RESPONSE
        || lg->status == 0)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "backend legacy: the legacy server failed (%i)",
                      lg->rc);
        ngx_str_set(&msg, "Legacy server unavailable");
        ngx_http_backend_legacy_fail(ctx, NGX_HTTP_BACKEND_BAD_GATEWAY,
                                     &msg);
        return;
    }

    rc = ngx_http_backend_legacy_parse(r, lg, &msg);

    if (rc == NGX_ERROR) {
        ngx_str_null(&msg);
        code = NGX_HTTP_BACKEND_INTERNAL_SERVER_ERROR;

    } else if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "backend legacy: the legacy server's answer "
                      "(status %ui) is not tRPC: %V", lg->status, &msg);
        ngx_str_set(&msg, "Legacy server gave no tRPC answer");
        code = NGX_HTTP_BACKEND_BAD_GATEWAY;

    } else {
        ngx_http_backend_legacy_complete(ctx);
        return;
    }

    ngx_http_backend_legacy_fail(ctx, code, &msg);
}


/*
 * The answer: one envelope (a call alone: its bytes and status as they
 * are), or an array of one per call.  NGX_DECLINED: not tRPC, msg says why.
 */

static ngx_int_t
ngx_http_backend_legacy_parse(ngx_http_request_t *r,
    ngx_http_backend_legacy_t *lg, ngx_str_t *msg)
{
    u_char                           *p, *last;
    ngx_int_t                         rc;
    ngx_str_t                         err;
    ngx_uint_t                        i, j, status;
    ngx_http_backend_ctx_t           *ctx;
    ngx_http_backend_call_t          *call;
    ngx_http_backend_json_t          *json, **items, *env;
    ngx_http_backend_error_e          code;
    ngx_http_backend_json_limits_t    limits;

    ctx = lg->ctx;

    if (lg->answer == NULL || lg->answer->last == lg->answer->pos) {
        ngx_str_set(msg, "empty");
        return NGX_DECLINED;
    }

    p = lg->answer->pos;
    last = lg->answer->last;

    while (last > p && (last[-1] == '\n' || last[-1] == '\r'
                        || last[-1] == ' '))
    {
        last--;
    }

    limits.max_depth = NGX_HTTP_BACKEND_JSON_MAX_DEPTH * 2;
    limits.max_size = NGX_HTTP_BACKEND_JSON_MAX_SIZE(last - p);

    rc = ngx_http_backend_json_parse_limited(r->pool, p, last - p, &limits,
                                             &json, &err);
    if (rc != NGX_OK) {
        *msg = err;
        return rc;
    }

    if (!ctx->batch) {
        ngx_http_backend_legacy_envelope(json, &status, &code);

        if (status == 0) {
            ngx_str_set(msg, "not an envelope");
            return NGX_DECLINED;
        }

        call = &ctx->calls[0];
        call->out.data = p;
        call->out.len = last - p;
        call->status = lg->status;
        call->code = code;

        return NGX_OK;
    }

    if (json->type != NGX_HTTP_BACKEND_JSON_ARRAY
        || json->items.nelts != lg->n)
    {
        ngx_str_set(msg, "not an array of one envelope per call");
        return NGX_DECLINED;
    }

    items = json->items.elts;

    for (i = 0; i < lg->n; i++) {
        ngx_http_backend_legacy_envelope(items[i], &status, &code);

        if (status == 0) {
            ngx_str_set(msg, "not an envelope in the array");
            return NGX_DECLINED;
        }
    }

    for (i = 0, j = 0; i < ctx->ncalls; i++) {
        call = &ctx->calls[i];

        if (!call->legacy) {
            continue;
        }

        env = items[j++];

        ngx_http_backend_legacy_envelope(env, &call->status, &call->code);

        if (ctx->superjson && ctx->jsonl) {
            rc = ngx_http_backend_legacy_unwrap(r, call, env);

            if (rc == NGX_DECLINED) {
                /* this call only: the others of the answer are fine */
                ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                              "backend legacy: \"%V\" answered a superjson "
                              "type other than Date, which a stream cannot "
                              "carry here", &call->path);

                ngx_str_set(&err, "Legacy answer not representable in a "
                                  "stream");

                call->dates = NULL;
                call->code = NGX_HTTP_BACKEND_BAD_GATEWAY;
                call->status = ngx_http_backend_error_status(call->code);

                rc = ngx_http_backend_error(r->pool, &call->out, call->code,
                                            &err, &call->path, NULL);
            }

            if (rc != NGX_OK) {
                return NGX_ERROR;
            }

            continue;
        }

        if (ngx_http_backend_json_serialize(r->pool, env, &call->out)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * superjson in a stream: the line is transformed as a whole (rpc.c), so
 * the legacy's envelope, transformed on its own, gives its plain value and
 * the paths of its Dates.  NGX_DECLINED: another type, which only Dates'
 * paths cannot say.
 */

static ngx_int_t
ngx_http_backend_legacy_unwrap(ngx_http_request_t *r,
    ngx_http_backend_call_t *call, ngx_http_backend_json_t *env)
{
    u_char                   *p;
    ngx_str_t                 json;
    ngx_http_backend_json_t  *v, *data, *meta;

    v = ngx_http_backend_json_get(env, (u_char *) "result", 6);

    if (v == NULL) {
        /* {"error":{"json":{...}}} */
        v = ngx_http_backend_json_get(env, (u_char *) "error", 5);
        data = v ? ngx_http_backend_json_get(v, (u_char *) "json", 4) : NULL;

        if (data == NULL) {
            return ngx_http_backend_json_serialize(r->pool, env, &call->out);
        }

        v = data;
        ngx_str_set(&json, "{\"error\":");

    } else {
        data = ngx_http_backend_json_get(v, (u_char *) "data", 4);

        if (data == NULL) {
            ngx_str_set(&call->out, "{\"result\":{}}");
            return NGX_OK;
        }

        v = ngx_http_backend_json_get(data, (u_char *) "json", 4);
        meta = ngx_http_backend_json_get(data, (u_char *) "meta", 4);
        meta = meta ? ngx_http_backend_json_get(meta, (u_char *) "values", 6)
                    : NULL;

        if (meta) {
            call->dates = ngx_array_create(r->pool, 4, sizeof(ngx_str_t));
            if (call->dates == NULL) {
                return NGX_ERROR;
            }

            if (ngx_http_backend_legacy_dates(r->pool, call->dates, meta,
                                              NULL, 0, 0)
                != NGX_OK)
            {
                return NGX_DECLINED;
            }
        }

        if (v == NULL) {
            /* undefined */
            ngx_str_set(&call->out, "{\"result\":{}}");
            return NGX_OK;
        }

        ngx_str_set(&json, "{\"result\":{\"data\":");
    }

    call->out.len = json.len + ngx_http_backend_json_len(v) + 2;
    call->out.data = ngx_pnalloc(r->pool, call->out.len);
    if (call->out.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(call->out.data, json.data, json.len);
    p = ngx_http_backend_json_write(p, v);
    *p++ = '}';

    if (json.len > sizeof("{\"error\":") - 1) {
        *p++ = '}';
    }

    call->out.len = p - call->out.data;

    return NGX_OK;
}


/*
 * meta.values: ["Date"] at a path, or members down to it; anything else is
 * NGX_DECLINED
 */

static ngx_int_t
ngx_http_backend_legacy_dates(ngx_pool_t *pool, ngx_array_t *dates,
    ngx_http_backend_json_t *v, u_char *prefix, size_t len, ngx_uint_t depth)
{
    u_char                          *p;
    ngx_str_t                       *path;
    ngx_uint_t                       i;
    ngx_http_backend_json_t        **item;
    ngx_http_backend_json_member_t  *m;

    if (depth > NGX_HTTP_BACKEND_JSON_MAX_DEPTH) {
        return NGX_DECLINED;
    }

    if (v->type == NGX_HTTP_BACKEND_JSON_ARRAY) {
        item = v->items.elts;

        if (v->items.nelts != 1
            || item[0]->type != NGX_HTTP_BACKEND_JSON_STRING
            || item[0]->string.len != 4
            || ngx_strncmp(item[0]->string.data, "Date", 4) != 0)
        {
            return NGX_DECLINED;
        }

        path = ngx_array_push(dates);
        if (path == NULL) {
            return NGX_ERROR;
        }

        path->data = prefix;
        path->len = len;

        return NGX_OK;
    }

    if (v->type != NGX_HTTP_BACKEND_JSON_OBJECT) {
        return NGX_DECLINED;
    }

    m = v->items.elts;

    for (i = 0; i < v->items.nelts; i++) {
        p = ngx_pnalloc(pool, len + 1 + m[i].key.len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        if (len) {
            ngx_memcpy(p, prefix, len);
            p[len] = '.';
            ngx_memcpy(p + len + 1, m[i].key.data, m[i].key.len);

        } else {
            ngx_memcpy(p, m[i].key.data, m[i].key.len);
        }

        if (ngx_http_backend_legacy_dates(pool, dates, m[i].value, p,
                                          len ? len + 1 + m[i].key.len
                                              : m[i].key.len,
                                          depth + 1)
            != NGX_OK)
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/*
 * {"result":...} is 200 OK; {"error":{...,"data":{"code","httpStatus"}}}
 * what it says (a code this server does not know counts as
 * INTERNAL_SERVER_ERROR in the metrics); anything else: status 0
 */

void
ngx_http_backend_legacy_envelope(ngx_http_backend_json_t *env,
    ngx_uint_t *status, ngx_http_backend_error_e *code)
{
    ngx_str_t                *name;
    ngx_uint_t                c;
    ngx_http_backend_json_t  *v, *data;

    *status = 0;
    *code = NGX_HTTP_BACKEND_INTERNAL_SERVER_ERROR;

    if (env == NULL || env->type != NGX_HTTP_BACKEND_JSON_OBJECT) {
        return;
    }

    if (ngx_http_backend_json_get(env, (u_char *) "result", 6)) {
        *status = NGX_HTTP_OK;
        *code = NGX_HTTP_BACKEND_OK;
        return;
    }

    v = ngx_http_backend_json_get(env, (u_char *) "error", 5);

    if (v == NULL || v->type != NGX_HTTP_BACKEND_JSON_OBJECT) {
        return;
    }

    *status = NGX_HTTP_INTERNAL_SERVER_ERROR;

    /* superjson: {"error":{"json":{...}}} */
    data = ngx_http_backend_json_get(v, (u_char *) "json", 4);

    if (data && data->type == NGX_HTTP_BACKEND_JSON_OBJECT) {
        v = data;
    }

    data = ngx_http_backend_json_get(v, (u_char *) "data", 4);

    if (data == NULL || data->type != NGX_HTTP_BACKEND_JSON_OBJECT) {
        return;
    }

    v = ngx_http_backend_json_get(data, (u_char *) "httpStatus", 10);

    if (v && v->type == NGX_HTTP_BACKEND_JSON_NUMBER && v->integer
        && v->number >= 400 && v->number < 600)
    {
        *status = (ngx_uint_t) v->number;
    }

    v = ngx_http_backend_json_get(data, (u_char *) "code", 4);

    if (v == NULL || v->type != NGX_HTTP_BACKEND_JSON_STRING) {
        return;
    }

    for (c = 0; c < NGX_HTTP_BACKEND_OK; c++) {
        name = ngx_http_backend_error_name(c);

        if (name->len == v->string.len
            && ngx_strncmp(name->data, v->string.data, name->len) == 0)
        {
            *code = c;
            return;
        }
    }
}


/* every legacy call gets the same error envelope, with its own path */

static void
ngx_http_backend_legacy_fail(ngx_http_backend_ctx_t *ctx,
    ngx_http_backend_error_e code, ngx_str_t *msg)
{
    ngx_uint_t                i;
    ngx_http_request_t       *r;
    ngx_http_backend_call_t  *call;

    r = ctx->request;

    for (i = 0; i < ctx->ncalls; i++) {
        call = &ctx->calls[i];

        if (!call->legacy) {
            continue;
        }

        if (ngx_http_backend_error(r->pool, &call->out, code, msg,
                                   &call->path, NULL)
            != NGX_OK)
        {
            ngx_str_set(&call->out,
                        "{\"error\":{\"message\":\"INTERNAL_SERVER_ERROR\","
                        "\"code\":-32603,\"data\":{\"code\":"
                        "\"INTERNAL_SERVER_ERROR\",\"httpStatus\":500}}}");
            code = NGX_HTTP_BACKEND_INTERNAL_SERVER_ERROR;
        }

        /* rpc.c transforms our own calls' envelopes, not these */
        if (ctx->superjson && !ctx->jsonl
            && ngx_http_backend_superjson_error(r->pool, &call->out)
               != NGX_OK)
        {
            ngx_str_set(&call->out,
                        "{\"error\":{\"json\":{\"message\":"
                        "\"INTERNAL_SERVER_ERROR\",\"code\":-32603,\"data\":"
                        "{\"code\":\"INTERNAL_SERVER_ERROR\","
                        "\"httpStatus\":500}}}}");
            code = NGX_HTTP_BACKEND_INTERNAL_SERVER_ERROR;
        }

        call->status = ngx_http_backend_error_status(code);
        call->code = code;
    }

    ngx_http_backend_legacy_complete(ctx);
}


/*
 * The legacy calls, their envelopes set, done one by one: the last may
 * finalize the request and free everything, the calls and ctx included
 */

static void
ngx_http_backend_legacy_complete(ngx_http_backend_ctx_t *ctx)
{
    ngx_uint_t                i, n, alive;
    ngx_pool_cleanup_t       *cln;
    ngx_http_backend_call_t  *calls;

    cln = ngx_pool_cleanup_add(ctx->request->pool, 0);
    if (cln == NULL) {
        return;
    }

    alive = 1;
    cln->handler = ngx_http_backend_legacy_gone;
    cln->data = &alive;

    calls = ctx->calls;
    n = ctx->ncalls;

    for (i = 0; i < n && alive; i++) {
        if (calls[i].legacy && !calls[i].done) {
            ngx_http_backend_rpc_call_done(&calls[i]);
        }
    }

    if (alive) {
        cln->handler = NULL;
    }
}


static void
ngx_http_backend_legacy_gone(void *data)
{
    ngx_uint_t *alive = data;

    *alive = 0;
}


static void
ngx_http_backend_legacy_cleanup(void *data)
{
    ngx_http_backend_legacy_t *lg = data;

    if (lg->event.posted) {
        ngx_delete_posted_event(&lg->event);
    }
}


ngx_int_t
ngx_http_backend_legacy_headers(ngx_pool_t *pool, ngx_list_t *dst,
    ngx_list_t *src, ngx_uint_t deep, ngx_str_t *request_id)
{
    ngx_str_t        *d;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *copy;

    if (ngx_list_init(dst, pool, 16, sizeof(ngx_table_elt_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    part = &src->part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        for (d = ngx_http_backend_legacy_drop; d->len; d++) {
            if (h[i].key.len == d->len
                && ngx_strncasecmp(h[i].key.data, d->data, d->len) == 0)
            {
                break;
            }
        }

        if (d->len) {
            continue;
        }

        copy = ngx_list_push(dst);
        if (copy == NULL) {
            return NGX_ERROR;
        }

        *copy = h[i];

        if (!deep) {
            continue;
        }

        copy->key.data = ngx_pstrdup(pool, &h[i].key);
        copy->value.data = ngx_pnalloc(pool, h[i].value.len + 1);
        copy->lowcase_key = ngx_pnalloc(pool, h[i].key.len);

        if (copy->key.data == NULL || copy->value.data == NULL
            || copy->lowcase_key == NULL)
        {
            return NGX_ERROR;
        }

        ngx_memcpy(copy->value.data, h[i].value.data, h[i].value.len);
        copy->value.data[h[i].value.len] = '\0';
        ngx_strlow(copy->lowcase_key, h[i].key.data, h[i].key.len);
    }

    /* the legacy's logs and $backend_request_id in its location agree */

    copy = ngx_list_push(dst);
    if (copy == NULL) {
        return NGX_ERROR;
    }

    copy->hash = 1;
    ngx_str_set(&copy->key, "X-Request-Id");
    copy->lowcase_key = (u_char *) "x-request-id";
    copy->value = *request_id;

    return NGX_OK;
}


/* backend_rpc_legacy /location; */

static char *
ngx_http_backend_legacy(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_backend_legacy_loc_conf_t *llcf = conf;

    ngx_str_t  *value;

    if (llcf->uri.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "backend_rpc_legacy takes a location (\"%V\"): "
                           "proxy_pass it to the legacy tRPC endpoint there",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    if (value[1].data[value[1].len - 1] == '/') {
        llcf->uri = value[1];
        return NGX_CONF_OK;
    }

    llcf->uri.len = value[1].len + 1;
    llcf->uri.data = ngx_pnalloc(cf->pool, llcf->uri.len);
    if (llcf->uri.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(llcf->uri.data, value[1].data, value[1].len);
    llcf->uri.data[value[1].len] = '/';

    return NGX_CONF_OK;
}


static void *
ngx_http_backend_legacy_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_backend_legacy_main_conf_t  *lmcf;

    lmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_backend_legacy_main_conf_t));
    if (lmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     lmcf->shadow = NULL;
     *     lmcf->shadow_all = 0;
     */

    if (ngx_array_init(&lmcf->shadowed, cf->pool, 4,
                       sizeof(ngx_http_backend_shadow_conf_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return lmcf;
}


/*
 * backend_shadow_calls_total{procedure,outcome} for every declared
 * procedure (the procedures are all known now: this module comes after
 * ngx_http_backend_module); shown at zero for those a shadow names
 */

static char *
ngx_http_backend_legacy_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_backend_legacy_main_conf_t *lmcf = conf;

    ngx_str_t                        v[2];
    ngx_uint_t                       i, j, k, shown;
    ngx_http_backend_proc_t         *proc;
    ngx_http_backend_family_t       *f;
    ngx_http_backend_series_t       *s;
    ngx_http_backend_main_conf_t    *bmcf;
    ngx_http_backend_shadow_conf_t **named;

    static ngx_str_t  outcomes[] = {
        ngx_string("match"),
        ngx_string("mismatch"),
        ngx_string("legacy_error"),
        ngx_string("dropped")
    };

    bmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_backend_module);

    lmcf->procs = bmcf->procs.elts;
    lmcf->nprocs = bmcf->procs.nelts;

    if (!lmcf->shadow_all && lmcf->shadowed.nelts == 0) {
        return NGX_CONF_OK;
    }

    /* a procedure a shadow names is declared, and may be sent */

    named = lmcf->shadowed.elts;

    for (k = 0; k < lmcf->shadowed.nelts; k++) {
        proc = NULL;

        for (i = 0; i < lmcf->nprocs; i++) {
            if (lmcf->procs[i].name.len == named[k]->procedure.len
                && ngx_strncmp(lmcf->procs[i].name.data,
                               named[k]->procedure.data,
                               named[k]->procedure.len)
                   == 0)
            {
                proc = &lmcf->procs[i];
                break;
            }
        }

        if (proc == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "backend_rpc_shadow: no procedure \"%V\" is "
                          "declared in %s:%ui", &named[k]->procedure,
                          named[k]->file, named[k]->line);
            return NGX_CONF_ERROR;
        }

        if (proc->type == NGX_HTTP_BACKEND_MUTATION && !named[k]->mutations) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "backend_rpc_shadow: \"%V\" is a mutation, sent "
                          "to the legacy server only with \"mutations\" "
                          "in %s:%ui", &named[k]->procedure,
                          named[k]->file, named[k]->line);
            return NGX_CONF_ERROR;
        }
    }

    f = ngx_http_backend_metrics_family(cf, "backend_shadow_calls_total",
                "Declared calls also sent to the legacy server "
                "(backend_rpc_shadow), by how its answer compared.",
                NGX_HTTP_BACKEND_COUNTER, "procedure,outcome");
    if (f == NULL) {
        return NGX_CONF_ERROR;
    }

    lmcf->shadow = ngx_pcalloc(cf->pool, lmcf->nprocs
                                         * NGX_HTTP_BACKEND_SHADOW_NOUTCOMES
                                         * sizeof(ngx_http_backend_series_t *));
    if (lmcf->shadow == NULL && lmcf->nprocs) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < lmcf->nprocs; i++) {
        v[0] = lmcf->procs[i].name;

        shown = lmcf->shadow_all;

        for (k = 0; !shown && k < lmcf->shadowed.nelts; k++) {
            shown = (named[k]->procedure.len == v[0].len
                     && ngx_strncmp(named[k]->procedure.data, v[0].data,
                                    v[0].len)
                        == 0);
        }

        for (j = 0; j < NGX_HTTP_BACKEND_SHADOW_NOUTCOMES; j++) {
            v[1] = outcomes[j];

            s = ngx_http_backend_metrics_series(cf, f, v);
            if (s == NULL) {
                return NGX_CONF_ERROR;
            }

            s->always = shown;
            lmcf->shadow[i * NGX_HTTP_BACKEND_SHADOW_NOUTCOMES + j] = s;
        }
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_backend_legacy_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_backend_legacy_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_backend_legacy_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->uri = { 0, NULL };
     */

    conf->shadows = NGX_CONF_UNSET_PTR;

    return conf;
}


static char *
ngx_http_backend_legacy_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_backend_legacy_loc_conf_t *prev = parent;
    ngx_http_backend_legacy_loc_conf_t *conf = child;

    ngx_http_backend_shadow_conf_t  *sc;

    if (conf->uri.data == NULL) {
        conf->uri = prev->uri;
    }

    ngx_conf_merge_ptr_value(conf->shadows, prev->shadows, NULL);

    if (conf->shadows && conf->uri.len == 0) {
        sc = conf->shadows->elts;

        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "backend_rpc_shadow needs backend_rpc_legacy: the "
                      "shadow calls go to its location, in %s:%ui",
                      sc->file, sc->line);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
