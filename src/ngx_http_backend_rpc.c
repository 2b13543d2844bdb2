
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_backend.h"
#include "ngx_http_backend_legacy.h"


/*
 * The tRPC HTTP protocol (v11 semantics, v10 streaming understood): a
 * request names one procedure or a batch of them; each call is checked
 * (procedure, method, tier, input) and run; the calls' envelopes are sent
 * as one JSON value, a JSON array, or lines as they complete.
 */


typedef struct {
    ngx_str_t                       key;
    ngx_int_t                       code;
    ngx_uint_t                      status;
} ngx_http_backend_error_code_t;


static ngx_http_backend_proc_t *ngx_http_backend_rpc_find(
    ngx_http_request_t *r, ngx_http_backend_main_conf_t *bmcf,
    ngx_str_t *path);
static ngx_int_t ngx_http_backend_rpc_arg(ngx_http_request_t *r,
    char *name, ngx_str_t *value);
static u_char *ngx_http_backend_rpc_unescape(u_char *dst, u_char *src,
    size_t len);
static ngx_int_t ngx_http_backend_rpc_utf8(ngx_pool_t *pool, ngx_str_t *s);
static ngx_int_t ngx_http_backend_rpc_calls(ngx_http_request_t *r,
    ngx_http_backend_ctx_t *ctx, ngx_uint_t max_batch, ngx_str_t *path,
    ngx_str_t *msg);
static ngx_int_t ngx_http_backend_rpc_bad_path(ngx_http_request_t *r,
    ngx_str_t *path);
static ngx_uint_t ngx_http_backend_rpc_mixed(ngx_http_backend_ctx_t *ctx,
    ngx_str_t *msg);
static ngx_int_t ngx_http_backend_rpc_input(ngx_http_request_t *r,
    ngx_http_backend_ctx_t *ctx, u_char *body, size_t len);
static ngx_uint_t ngx_http_backend_rpc_check(ngx_http_backend_call_t *call);
static void ngx_http_backend_rpc_call(ngx_http_backend_call_t *call);
static ngx_int_t ngx_http_backend_rpc_validate(ngx_http_backend_call_t *call);
static ngx_int_t ngx_http_backend_rpc_bind(ngx_http_backend_call_t *call);
static ngx_int_t ngx_http_backend_rpc_invalidate(ngx_http_backend_call_t *call,
    PGresult *res, ngx_str_t *data);
static void ngx_http_backend_rpc_invalidated(
    ngx_http_backend_invalidate_t *inv);
static void ngx_http_backend_rpc_query_handler(ngx_http_backend_pg_query_t *q);
static ngx_uint_t ngx_http_backend_rpc_bad_value(u_char *sqlstate);
static void ngx_http_backend_rpc_call_metrics(ngx_http_backend_call_t *call);
static ngx_int_t ngx_http_backend_rpc_send(ngx_http_backend_ctx_t *ctx);
static ngx_int_t ngx_http_backend_rpc_send_head(ngx_http_backend_ctx_t *ctx);
static ngx_int_t ngx_http_backend_rpc_send_line(ngx_http_backend_ctx_t *ctx,
    ngx_http_backend_call_t *call);
static ngx_int_t ngx_http_backend_rpc_line(ngx_http_backend_ctx_t *ctx,
    ngx_http_backend_call_t *call, u_char *data, size_t len,
    ngx_uint_t last);
static ngx_int_t ngx_http_backend_rpc_headers(ngx_http_request_t *r,
    ngx_uint_t status, off_t length);
static ngx_int_t ngx_http_backend_rpc_output(ngx_http_request_t *r,
    u_char *data, size_t len, ngx_uint_t last);
static void ngx_http_backend_rpc_cleanup(void *data);
static ngx_uint_t ngx_http_backend_rpc_accepts_jsonl(ngx_http_request_t *r);


static ngx_http_backend_error_code_t  ngx_http_backend_error_codes[] = {
    { ngx_string("PARSE_ERROR"), -32700, 400 },
    { ngx_string("BAD_REQUEST"), -32600, 400 },
    { ngx_string("UNAUTHORIZED"), -32001, 401 },
    { ngx_string("FORBIDDEN"), -32003, 403 },
    { ngx_string("NOT_FOUND"), -32004, 404 },
    { ngx_string("METHOD_NOT_SUPPORTED"), -32005, 405 },
    { ngx_string("TIMEOUT"), -32008, 408 },
    { ngx_string("CONFLICT"), -32009, 409 },
    { ngx_string("PRECONDITION_FAILED"), -32012, 412 },
    { ngx_string("PAYLOAD_TOO_LARGE"), -32013, 413 },
    { ngx_string("UNSUPPORTED_MEDIA_TYPE"), -32015, 415 },
    { ngx_string("UNPROCESSABLE_CONTENT"), -32022, 422 },
    { ngx_string("TOO_MANY_REQUESTS"), -32029, 429 },
    { ngx_string("INTERNAL_SERVER_ERROR"), -32603, 500 },
    { ngx_string("NOT_IMPLEMENTED"), -32603, 501 },
    { ngx_string("BAD_GATEWAY"), -32603, 502 },
    { ngx_string("SERVICE_UNAVAILABLE"), -32603, 503 },
    { ngx_string("GATEWAY_TIMEOUT"), -32603, 504 },
    { ngx_string("OK"), 0, 200 }
};


ngx_uint_t
ngx_http_backend_error_status(ngx_http_backend_error_e code)
{
    return ngx_http_backend_error_codes[code].status;
}


ngx_str_t *
ngx_http_backend_error_name(ngx_http_backend_error_e code)
{
    return &ngx_http_backend_error_codes[code].key;
}


/*
 * backend_calls_total{procedure,type,code} for every declared procedure
 * and every outcome, and for "unknown" of both types: label values come
 * from the configuration only, never from a request
 */

ngx_int_t
ngx_http_backend_rpc_metrics(ngx_conf_t *cf,
    ngx_http_backend_main_conf_t *bmcf)
{
    ngx_str_t                   v[3];
    ngx_uint_t                  i, t, code;
    ngx_http_backend_proc_t    *proc;
    ngx_http_backend_family_t  *calls, *duration, *f;

    static ngx_str_t  types[] = { ngx_string("query"),
                                  ngx_string("mutation") };

    calls = ngx_http_backend_metrics_family(cf, "backend_calls_total",
                "Procedure calls by outcome: OK or the tRPC error code.",
                NGX_HTTP_BACKEND_COUNTER, "procedure,type,code");

    duration = ngx_http_backend_metrics_duration(cf,
                "backend_call_duration_seconds",
                "Procedure calls, from the request's start to the call's "
                "result.", "procedure");

    if (calls == NULL || duration == NULL) {
        return NGX_ERROR;
    }

    proc = bmcf->procs.elts;

    for (i = 0; i < bmcf->procs.nelts; i++) {
        v[0] = proc[i].name;
        v[1] = types[proc[i].type == NGX_HTTP_BACKEND_MUTATION];

        for (code = 0; code < NGX_HTTP_BACKEND_NCODES; code++) {
            v[2] = ngx_http_backend_error_codes[code].key;

            proc[i].calls[code] = ngx_http_backend_metrics_series(cf, calls,
                                                                  v);
            if (proc[i].calls[code] == NULL) {
                return NGX_ERROR;
            }
        }

        proc[i].calls[NGX_HTTP_BACKEND_OK]->always = 1;

        proc[i].duration = ngx_http_backend_metrics_series(cf, duration, v);
        if (proc[i].duration == NULL) {
            return NGX_ERROR;
        }

        proc[i].duration->always = 1;
    }

    ngx_str_set(&v[0], "unknown");

    for (t = 0; t < 2; t++) {
        v[1] = types[t];

        for (code = 0; code < NGX_HTTP_BACKEND_NCODES; code++) {
            v[2] = ngx_http_backend_error_codes[code].key;

            bmcf->unknown[t][code] = ngx_http_backend_metrics_series(cf,
                                                                   calls, v);
            if (bmcf->unknown[t][code] == NULL) {
                return NGX_ERROR;
            }
        }
    }

    f = ngx_http_backend_metrics_family(cf, "backend_rpc_rejected_total",
                "Requests to backend_rpc refused before any call (a bad "
                "path, a batch too large, a body too large), by tRPC code.",
                NGX_HTTP_BACKEND_COUNTER, "code");
    if (f == NULL) {
        return NGX_ERROR;
    }

    for (code = 0; code < NGX_HTTP_BACKEND_OK; code++) {
        bmcf->rejected[code] = ngx_http_backend_metrics_series(cf, f,
                                      &ngx_http_backend_error_codes[code].key);
        if (bmcf->rejected[code] == NULL) {
            return NGX_ERROR;
        }
    }

    f = ngx_http_backend_metrics_histogram(cf, "backend_batch_size",
                "Calls per request to backend_rpc (1: not a batch).", NULL,
                "1 2 4 8 16 32 64 128");
    if (f == NULL) {
        return NGX_ERROR;
    }

    bmcf->batch_size = ngx_http_backend_metrics_series1(cf, f, NULL);

    f = ngx_http_backend_metrics_family(cf,
                "backend_rpc_received_bytes_total",
                "Request bodies received by backend_rpc locations.",
                NGX_HTTP_BACKEND_COUNTER, NULL);
    if (f == NULL) {
        return NGX_ERROR;
    }

    bmcf->received = ngx_http_backend_metrics_series1(cf, f, NULL);

    f = ngx_http_backend_metrics_family(cf, "backend_rpc_sent_bytes_total",
                "Response bodies sent by backend_rpc locations.",
                NGX_HTTP_BACKEND_COUNTER, NULL);
    if (f == NULL) {
        return NGX_ERROR;
    }

    bmcf->sent = ngx_http_backend_metrics_series1(cf, f, NULL);

    if (bmcf->batch_size == NULL || bmcf->received == NULL
        || bmcf->sent == NULL)
    {
        return NGX_ERROR;
    }

    bmcf->batch_size->always = 1;
    bmcf->received->always = 1;
    bmcf->sent->always = 1;

    return NGX_OK;
}


/* what the calls of a request add up to, counted when it is logged */

void
ngx_http_backend_rpc_count(ngx_http_request_t *r, ngx_http_backend_ctx_t *ctx)
{
    off_t                          sent;
    ngx_http_backend_main_conf_t  *bmcf;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_backend_module);

    if (ctx->rejected) {
        ngx_http_backend_metrics_add(bmcf->rejected[ctx->code], 1);

    } else if (ctx->ncalls) {
        ngx_http_backend_metrics_observe(bmcf->batch_size, ctx->ncalls);
    }

    ngx_http_backend_metrics_add(bmcf->received, ctx->received);

    sent = r->connection->sent - (off_t) r->header_size;

    if (sent > 0) {
        ngx_http_backend_metrics_add(bmcf->sent, sent);
    }
}


/*
 * {"error":{"message":"...","code":-32004,"data":{"code":"NOT_FOUND",
 * "httpStatus":404,"path":"..."}}}; extra is a ready "key":value list
 */

ngx_int_t
ngx_http_backend_error(ngx_pool_t *pool, ngx_str_t *out,
    ngx_http_backend_error_e code, ngx_str_t *message, ngx_str_t *path,
    ngx_str_t *extra)
{
    size_t                          len;
    u_char                         *p;
    ngx_http_backend_error_code_t  *e;

    e = &ngx_http_backend_error_codes[code];

    if (message == NULL || message->len == 0) {
        /* a TRPCError without a message says its code */
        message = &e->key;
    }

    len = sizeof("{\"error\":{\"message\":,\"code\":-32768,\"data\":{"
                 "\"code\":\"\",\"httpStatus\":599}}}") - 1
          + ngx_http_backend_json_str_len(message->data, message->len)
          + e->key.len;

    if (path) {
        len += sizeof(",\"path\":") - 1
               + ngx_http_backend_json_str_len(path->data, path->len);
    }

    if (extra && extra->len) {
        len += 1 + extra->len;
    }

    out->data = ngx_pnalloc(pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(out->data, "{\"error\":{\"message\":",
                   sizeof("{\"error\":{\"message\":") - 1);
    p = ngx_http_backend_json_str_write(p, message->data, message->len);
    p = ngx_sprintf(p, ",\"code\":%i,\"data\":{\"code\":\"%V\","
                    "\"httpStatus\":%ui", e->code, &e->key, e->status);

    if (path) {
        p = ngx_cpymem(p, ",\"path\":", sizeof(",\"path\":") - 1);
        p = ngx_http_backend_json_str_write(p, path->data, path->len);
    }

    if (extra && extra->len) {
        *p++ = ',';
        p = ngx_cpymem(p, extra->data, extra->len);
    }

    p = ngx_cpymem(p, "}}}", 3);

    out->len = p - out->data;

    return NGX_OK;
}


/* an error of the whole request, before any call: one object, no path */

ngx_int_t
ngx_http_backend_send_error(ngx_http_request_t *r,
    ngx_http_backend_error_e code, ngx_str_t *message)
{
    ngx_int_t                     rc;
    ngx_str_t                     out;
    ngx_http_backend_ctx_t       *ctx;
    ngx_http_backend_loc_conf_t  *blcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_backend_module);

    if (ctx) {
        /* refused as a whole: for the access log and the metrics */
        ctx->rejected = 1;
        ctx->code = code;
    }

    if (ngx_http_backend_error(r->pool, &out, code, message, NULL, NULL)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_backend_module);

    if (blcf->transformer == NGX_HTTP_BACKEND_TRANSFORMER_SUPERJSON
        && ngx_http_backend_superjson_error(r->pool, &out) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_backend_rpc_headers(r, ngx_http_backend_error_status(code),
                                      out.len);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_backend_rpc_output(r, out.data, out.len, 1);
}


ngx_int_t
ngx_http_backend_rpc_start(ngx_http_request_t *r, ngx_http_backend_ctx_t *ctx,
    u_char *body, size_t len)
{
    ngx_int_t                      rc;
    ngx_str_t                      path, msg;
    ngx_uint_t                     i, n, parse, legacy;
    ngx_table_elt_t               *h;
    ngx_http_cleanup_t            *cln;
    ngx_http_backend_call_t       *call;
    ngx_http_backend_loc_conf_t   *blcf;
    ngx_http_backend_main_conf_t  *bmcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_backend_module);
    bmcf = ngx_http_get_module_main_conf(r, ngx_http_backend_module);

    ctx->request = r;
    ctx->start = ngx_http_backend_metrics_now();
    ctx->received = len;
    ctx->superjson = (blcf->transformer
                      == NGX_HTTP_BACKEND_TRANSFORMER_SUPERJSON);

    /* the calls: their paths */

    rc = ngx_http_backend_rpc_calls(r, ctx, blcf->max_batch, &path, &msg);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        if (msg.len == 0) {
            return ngx_http_backend_rpc_bad_path(r, &path);
        }

        return ngx_http_backend_send_error(r, NGX_HTTP_BACKEND_BAD_REQUEST,
                                           &msg);
    }

    if (ngx_http_backend_rpc_accepts_jsonl(r)) {
        if (!ctx->batch) {
            ngx_str_set(&msg, "Streaming requests must be batched "
                              "(you can do a batch of 1)");
            return ngx_http_backend_send_error(r, NGX_HTTP_BACKEND_BAD_REQUEST,
                                               &msg);
        }

        ctx->jsonl = 1;

    } else if (ctx->batch) {
        /* v10 unstable_httpBatchStreamLink */
        h = ngx_http_backend_header(r, (u_char *) "trpc-batch-mode",
                                    sizeof("trpc-batch-mode") - 1);

        if (h && h->value.len == 6
            && ngx_strncmp(h->value.data, "stream", 6) == 0)
        {
            ctx->stream = 1;
        }
    }

    n = ctx->ncalls;

    for (i = 0; i < n; i++) {
        call = &ctx->calls[i];
        call->proc = ngx_http_backend_rpc_find(r, bmcf, &call->path);
    }

    /* undeclared procedures: to the legacy server, if there is one */
    legacy = ngx_http_backend_legacy_calls(r, ctx);

    if (ngx_http_backend_rpc_mixed(ctx, &msg)) {
        return ngx_http_backend_send_error(r, NGX_HTTP_BACKEND_BAD_REQUEST,
                                           &msg);
    }

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_backend_rpc_cleanup;
    cln->data = ctx;

    /*
     * The input is parsed only for a call that may run and reads it: a
     * request no call of which passes its procedure, method and tier
     * costs no parse
     */

    /* inputs for the legacy server: renumbered, or shadowed calls' */
    parse = ngx_http_backend_legacy_needs_input(r, ctx, legacy);

    for (i = 0; i < n; i++) {
        call = &ctx->calls[i];

        if (!call->legacy && ngx_http_backend_rpc_check(call)
            && (call->proc->uses_input || call->proc->schema))
        {
            parse = 1;
        }
    }

    if (parse) {
        if (ngx_http_backend_rpc_input(r, ctx, body, len) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ctx->batch && ctx->input
            && ctx->input->type != NGX_HTTP_BACKEND_JSON_OBJECT)
        {
            ngx_str_set(&msg, "\"input\" needs to be an object when doing "
                              "a batch call");
            return ngx_http_backend_send_error(r,
                                               NGX_HTTP_BACKEND_BAD_REQUEST,
                                               &msg);
        }

        /* the legacy server's inputs as the client wrote them */
        if (ngx_http_backend_legacy_save_input(r, ctx, legacy) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ctx->superjson && ctx->input) {
            /* a bad envelope is bad input, as invalid JSON is */
            rc = ngx_http_backend_superjson_input(r->pool, &ctx->input,
                                                  ctx->batch,
                                                  &ctx->input_error);
            if (rc == NGX_ERROR) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            if (rc == NGX_DECLINED) {
                ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                              "backend: bad input: %V", &ctx->input_error);
                ctx->input = NULL;
            }
        }
    }

    for (i = 0; i < n; i++) {
        call = &ctx->calls[i];

        if (call->done || call->legacy) {
            continue;
        }

        if (!ctx->batch) {
            call->input = ctx->input;

        } else if (ctx->input) {
            u_char  buf[NGX_INT_T_LEN];

            call->input = ngx_http_backend_json_get(ctx->input, buf,
                                                    ngx_sprintf(buf, "%ui", i)
                                                    - buf);
        }

        ngx_http_backend_rpc_call(call);
    }

    if (legacy && ngx_http_backend_legacy_start(r, ctx, body, len) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->pending == 0) {
        return ngx_http_backend_rpc_send(ctx);
    }

    /* the client may go away while the database works */
    r->read_event_handler = ngx_http_test_reading;

    if (ctx->jsonl || ctx->stream) {
        if (ngx_http_backend_rpc_send_head(ctx) == NGX_ERROR) {
            return NGX_ERROR;
        }
    }

    ctx->async = 1;

    return NGX_DONE;
}


/*
 * A query parameter as tRPC's server reads it, URLSearchParams.get(): the
 * first whose name, decoded, is exactly the one asked; the value decoded
 */

static ngx_int_t
ngx_http_backend_rpc_arg(ngx_http_request_t *r, char *name, ngx_str_t *value)
{
    u_char  *p, *last, *end, *eq;
    u_char   buf[32];
    size_t   len;

    len = ngx_strlen(name);
    p = r->args.data;
    last = p + r->args.len;

    for ( /* void */ ; p < last; p = end + 1) {

        end = ngx_strlchr(p, last, '&');
        if (end == NULL) {
            end = last;
        }

        eq = ngx_strlchr(p, end, '=');
        if (eq == NULL) {
            eq = end;
        }

        /* a name decodes to a third of its length at least */

        if ((size_t) (eq - p) < len || (size_t) (eq - p) > sizeof(buf)) {
            continue;
        }

        if ((size_t) (ngx_http_backend_rpc_unescape(buf, p, eq - p) - buf)
            != len
            || ngx_strncmp(buf, name, len) != 0)
        {
            continue;
        }

        if (eq == end) {
            ngx_str_null(value);
            return NGX_OK;
        }

        eq++;

        value->data = ngx_pnalloc(r->pool, end - eq);
        if (value->data == NULL) {
            return NGX_ERROR;
        }

        value->len = ngx_http_backend_rpc_unescape(value->data, eq, end - eq)
                     - value->data;

        return NGX_OK;
    }

    return NGX_DECLINED;
}


/*
 * application/x-www-form-urlencoded as the URL Standard decodes it: '+'
 * is a space, %XX a byte, and a '%' not followed by two hex digits stays
 */

static u_char *
ngx_http_backend_rpc_unescape(u_char *dst, u_char *src, size_t len)
{
    u_char      *last;
    ngx_int_t    hi, lo;

    for (last = src + len; src < last; src++) {

        if (*src == '+') {
            *dst++ = ' ';
            continue;
        }

        if (*src == '%' && last - src > 2) {
            hi = ngx_hextoi(src + 1, 1);
            lo = ngx_hextoi(src + 2, 1);

            if (hi >= 0 && lo >= 0) {
                *dst++ = (u_char) (hi << 4 | lo);
                src += 2;
                continue;
            }
        }

        *dst++ = *src;
    }

    return dst;
}


/* as a JavaScript string holds it: ill-formed UTF-8 becomes U+FFFD */

static ngx_int_t
ngx_http_backend_rpc_utf8(ngx_pool_t *pool, ngx_str_t *s)
{
    u_char      *p, *last, *d, *out;
    size_t       len;
    ngx_int_t    k;
    ngx_uint_t   bad;

    if (s->len == 0) {
        /* s->data may be NULL (no body, a parameter without '=') */
        return NGX_OK;
    }

    len = 0;
    bad = 0;
    last = s->data + s->len;

    for (p = s->data; p < last; p += (k > 0) ? k : -k) {
        if (*p < 0x80) {
            k = 1;
            len++;
            continue;
        }

        k = ngx_http_backend_json_utf8_seq(p, last);

        if (k < 0) {
            bad = 1;
        }

        len += (k > 0) ? (size_t) k : 3;
    }

    if (!bad) {
        return NGX_OK;
    }

    out = ngx_pnalloc(pool, len);
    if (out == NULL) {
        return NGX_ERROR;
    }

    d = out;

    for (p = s->data; p < last; p += (k > 0) ? k : -k) {
        k = ngx_http_backend_json_utf8_seq(p, last);

        if (k > 0) {
            d = ngx_cpymem(d, p, k);

        } else {
            *d++ = 0xef; *d++ = 0xbf; *d++ = 0xbd;
        }
    }

    s->data = out;
    s->len = len;

    return NGX_OK;
}


/* the message shows the path percent-encoded, as the client sent it */

static ngx_int_t
ngx_http_backend_rpc_bad_path(ngx_http_request_t *r, ngx_str_t *path)
{
    u_char     *p;
    ngx_str_t   msg;
    ngx_uint_t  i;

    msg.data = ngx_pnalloc(r->pool, sizeof("Invalid URL-encoding in path "
                                           "\"\"") - 1 + 3 * path->len);
    if (msg.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(msg.data, "Invalid URL-encoding in path \"",
                   sizeof("Invalid URL-encoding in path \"") - 1);

    for (i = 0; i < path->len; i++) {
        if (path->data[i] >= 0x80) {
            p = ngx_sprintf(p, "%%%02XD", (ngx_uint_t) path->data[i]);

        } else {
            *p++ = path->data[i];
        }
    }

    *p++ = '"';
    msg.len = p - msg.data;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "backend: %V", &msg);

    return ngx_http_backend_send_error(r, NGX_HTTP_BACKEND_BAD_REQUEST, &msg);
}


/*
 * tRPC 11 answers a batch of queries and mutations together with one 400
 * for the whole request, before any call runs: so do we
 */

static ngx_uint_t
ngx_http_backend_rpc_mixed(ngx_http_backend_ctx_t *ctx, ngx_str_t *msg)
{
    ngx_uint_t                i, first;
    ngx_http_backend_proc_t  *proc;

    first = 0;

    for (i = 0; i < ctx->ncalls; i++) {
        proc = ctx->calls[i].proc;

        if (proc == NULL) {
            continue;
        }

        if (first == 0) {
            first = proc->type;
            continue;
        }

        if (proc->type != first) {
            if (first == NGX_HTTP_BACKEND_QUERY) {
                ngx_str_set(msg, "Cannot mix procedure types in call: "
                                 "query, mutation");

            } else {
                ngx_str_set(msg, "Cannot mix procedure types in call: "
                                 "mutation, query");
            }

            return 1;
        }
    }

    return 0;
}


/* ngx_hash_t keys are lowercase; tRPC paths are not */

/*
 * The procedure path (what follows the last slash of the URI), the batch
 * flag, and the calls with their paths, split on ',' for a batch.
 * NGX_DECLINED: a 400 with msg, or, msg empty, a path that is not UTF-8
 * (in path).  Pure: the fuzz target fuzz_trpc calls it.
 */

static ngx_int_t
ngx_http_backend_rpc_calls(ngx_http_request_t *r, ngx_http_backend_ctx_t *ctx,
    ngx_uint_t max_batch, ngx_str_t *path, ngx_str_t *msg)
{
    u_char                   *p, *last, *start;
    ngx_int_t                 rc;
    ngx_str_t                 batch;
    ngx_uint_t                i, n;
    ngx_http_backend_call_t  *call;

    msg->len = 0;

    last = r->uri.data + r->uri.len;
    p = last;

    while (p > r->uri.data && p[-1] != '/') {
        p--;
    }

    path->data = p;
    path->len = last - p;

    /* tRPC's decodeURIComponent() refuses what is not UTF-8 */

    for (p = path->data; p < last; /* void */) {
        rc = ngx_http_backend_json_utf8_seq(p, last);

        if (rc < 0) {
            return NGX_DECLINED;
        }

        p += rc;
    }

    rc = ngx_http_backend_rpc_arg(r, "batch", &batch);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_OK && batch.len == 1 && batch.data[0] == '1') {
        ctx->batch = 1;
    }

    n = 1;

    if (ctx->batch) {
        for (p = path->data; p < last; p++) {
            if (*p == ',') {
                n++;
            }
        }

        if (n > max_batch) {
            ngx_str_set(msg, "Batch call exceeds maximum size");
            return NGX_DECLINED;
        }
    }

    ctx->calls = ngx_pcalloc(r->pool, n * sizeof(ngx_http_backend_call_t));
    if (ctx->calls == NULL) {
        return NGX_ERROR;
    }

    ctx->ncalls = n;
    ctx->pending = n;

    start = path->data;

    for (i = 0; i < n; i++) {
        call = &ctx->calls[i];

        call->ctx = ctx;
        call->index = i;

        if (ctx->batch) {
            for (p = start; p < last && *p != ','; p++) { /* void */ }

            call->path.data = start;
            call->path.len = p - start;
            start = p + 1;

        } else {
            call->path = *path;
        }
    }

    return NGX_OK;
}


static ngx_http_backend_proc_t *
ngx_http_backend_rpc_find(ngx_http_request_t *r,
    ngx_http_backend_main_conf_t *bmcf, ngx_str_t *path)
{
    u_char                    buf[256];
    ngx_uint_t                key;
    ngx_http_backend_proc_t  *proc;

    if (path->len > sizeof(buf)) {
        return NULL;
    }

    key = ngx_hash_strlow(buf, path->data, path->len);

    proc = ngx_hash_find(&bmcf->hash, key, buf, path->len);

    if (proc == NULL
        || ngx_strncmp(proc->name.data, path->data, path->len) != 0)
    {
        return NULL;
    }

    return proc;
}


static ngx_int_t
ngx_http_backend_rpc_input(ngx_http_request_t *r, ngx_http_backend_ctx_t *ctx,
    u_char *body, size_t len)
{
    ngx_int_t                        rc;
    ngx_str_t                        arg;
    ngx_http_backend_json_limits_t   limits;

    /* a query's input is in the URL, a mutation's in the body */

    if (r->method != NGX_HTTP_POST) {
        rc = ngx_http_backend_rpc_arg(r, "input", &arg);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_DECLINED) {
            return NGX_OK;
        }

    } else {
        /* as Request.text() reads it: a UTF-8 BOM dropped */

        if (len >= 3 && body[0] == 0xef && body[1] == 0xbb
            && body[2] == 0xbf)
        {
            body += 3;
            len -= 3;
        }

        arg.data = body;
        arg.len = len;
    }

    /* JSON.parse() gets a string: ill-formed UTF-8 is U+FFFD in it */

    if (ngx_http_backend_rpc_utf8(r->pool, &arg) != NGX_OK) {
        return NGX_ERROR;
    }

    body = arg.data;
    len = arg.len;

    if (body == NULL || len == 0) {
        return NGX_OK;
    }

    limits.max_depth = NGX_HTTP_BACKEND_JSON_MAX_DEPTH;
    limits.max_size = NGX_HTTP_BACKEND_JSON_MAX_SIZE(len);

    rc = ngx_http_backend_json_parse_limited(r->pool, body, len, &limits,
                                             &ctx->input, &ctx->input_error);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "backend: bad input: %V", &ctx->input_error);
        ctx->input = NULL;
    }

    return NGX_OK;
}


/* the procedure, the method, the tier: 1 if the call may go on */

static ngx_uint_t
ngx_http_backend_rpc_check(ngx_http_backend_call_t *call)
{
    u_char                   *p;
    ngx_str_t                 msg;
    ngx_uint_t                method, code;
    ngx_http_request_t       *r;
    ngx_http_backend_proc_t  *proc;

    r = call->ctx->request;
    proc = call->proc;

    if (proc == NULL) {
        msg.data = ngx_pnalloc(r->pool, sizeof("No procedure found on path "
                                               "\"\"") - 1 + call->path.len);
        if (msg.data == NULL) {
            goto failed;
        }

        msg.len = ngx_sprintf(msg.data, "No procedure found on path \"%V\"",
                              &call->path)
                  - msg.data;

        ngx_http_backend_rpc_call_error(call, NGX_HTTP_BACKEND_NOT_FOUND,
                                        &msg);
        return 0;
    }

    method = (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))
             ? NGX_HTTP_BACKEND_QUERY
             : (r->method == NGX_HTTP_POST) ? NGX_HTTP_BACKEND_MUTATION : 0;

    if (method != proc->type) {
        msg.len = sizeof("Unsupported -request to mutation procedure at path "
                         "\"\"") - 1 + r->method_name.len + call->path.len;
        msg.data = ngx_pnalloc(r->pool, msg.len);
        if (msg.data == NULL) {
            goto failed;
        }

        p = ngx_sprintf(msg.data, "Unsupported %V-request to %s procedure "
                        "at path \"%V\"", &r->method_name,
                        proc->type == NGX_HTTP_BACKEND_QUERY
                        ? "query" : "mutation",
                        &call->path);
        msg.len = p - msg.data;

        ngx_http_backend_rpc_call_error(call,
                                        NGX_HTTP_BACKEND_METHOD_NOT_SUPPORTED,
                                        &msg);
        return 0;
    }

    if (!proc->public
        && ngx_http_backend_auth_check(r, proc->tier_ref, &code, &msg)
           != NGX_OK)
    {
        ngx_http_backend_rpc_call_error(call, (ngx_http_backend_error_e) code,
                                        msg.len ? &msg : NULL);
        return 0;
    }

    return 1;

failed:

    ngx_http_backend_rpc_call_error(call,
                                    NGX_HTTP_BACKEND_INTERNAL_SERVER_ERROR,
                                    NULL);
    return 0;
}


/* the input, then the statement */

static void
ngx_http_backend_rpc_call(ngx_http_backend_call_t *call)
{
    ngx_http_backend_proc_t  *proc;

    proc = call->proc;

    if (proc->uses_input && call->ctx->input_error.len) {
        ngx_http_backend_rpc_call_error(call, NGX_HTTP_BACKEND_BAD_REQUEST,
                                        &call->ctx->input_error);
        return;
    }

    if (proc->schema) {
        switch (ngx_http_backend_rpc_validate(call)) {

        case NGX_OK:
            break;

        case NGX_DECLINED:
            return;

        default:
            goto failed;
        }
    }

    if (proc->call) {
        ngx_http_backend_adapter_run(call);
        return;
    }

    if (proc->stmt == NULL) {
        if (proc->data_user) {
            ngx_http_backend_rpc_call_result(call,
                                         call->ctx->auth.user.len
                                         ? &call->ctx->auth.user
                                         : &proc->data);
            return;
        }

        ngx_http_backend_rpc_call_result(call, proc->data.len ? &proc->data
                                                              : NULL);
        return;
    }

    ngx_http_backend_rpc_statement(call);

    return;

failed:

    ngx_http_backend_rpc_call_error(call,
                                    NGX_HTTP_BACKEND_INTERNAL_SERVER_ERROR,
                                    NULL);
}


/* the statement: rpc_call(), and an adapter's call once it has its answer */

void
ngx_http_backend_rpc_statement(ngx_http_backend_call_t *call)
{
    ngx_http_request_t       *r;
    ngx_http_backend_proc_t  *proc;

    r = call->ctx->request;
    proc = call->proc;

    switch (ngx_http_backend_rpc_bind(call)) {

    case NGX_OK:
        break;

    case NGX_DECLINED:
        return;

    default:
        goto failed;
    }

    call->query.server = proc->server;
    call->query.stmt = proc->stmt;
    call->query.handler = ngx_http_backend_rpc_query_handler;
    call->query.data = call;
    call->query.log = r->connection->log;
    call->query.read_only = (proc->type == NGX_HTTP_BACKEND_QUERY);

    if (ngx_http_backend_pg_run(&call->query) == NGX_OK) {
        call->running = 1;
        return;
    }

    /* failed at once: the same path as a failure reported later */
    ngx_http_backend_rpc_query_handler(&call->query);

    return;

failed:

    ngx_http_backend_rpc_call_error(call,
                                    NGX_HTTP_BACKEND_INTERNAL_SERVER_ERROR,
                                    NULL);
}


/*
 * The input contract, before anything runs: a rejected input is BAD_REQUEST
 * with the issues as a ZodError's message and data.zodError as flatten()
 * gives it, the convention of tRPC apps.  Defaults are applied in place.
 */

static ngx_int_t
ngx_http_backend_rpc_validate(ngx_http_backend_call_t *call)
{
    u_char              *p;
    ngx_int_t            rc;
    ngx_str_t            message, flat, extra;
    ngx_array_t          issues;
    ngx_http_request_t  *r;

    r = call->ctx->request;

    if (ngx_array_init(&issues, r->pool, 4,
                       sizeof(ngx_http_backend_schema_issue_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_http_backend_schema_validate(call->proc->schema, r->pool,
                                          &call->input, &issues, 0);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (ngx_http_backend_schema_format(r->pool, &issues, &message, &flat)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    extra.len = sizeof("\"zodError\":") - 1 + flat.len;
    extra.data = ngx_pnalloc(r->pool, extra.len);
    if (extra.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(extra.data, "\"zodError\":", sizeof("\"zodError\":") - 1);
    ngx_memcpy(p, flat.data, flat.len);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "backend: procedure \"%V\": invalid input: %V",
                  &call->proc->name, &flat);

    if (ngx_http_backend_error(r->pool, &call->out,
                               NGX_HTTP_BACKEND_BAD_REQUEST, &message,
                               &call->path, &extra)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    call->status = NGX_HTTP_BAD_REQUEST;
    call->code = NGX_HTTP_BACKEND_BAD_REQUEST;
    ngx_http_backend_rpc_call_done(call);

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_backend_rpc_bind(ngx_http_backend_call_t *call)
{
    char                      **values;
    ngx_int_t                   rc;
    ngx_str_t                   s, *seg, *f;
    ngx_uint_t                  i, j;
    ngx_http_request_t         *r;
    ngx_http_backend_json_t    *v;
    ngx_http_backend_param_t   *param;

    r = call->ctx->request;

    /*
     * without a schema, NUL is still refused (validate's check alone):
     * a C string would end at it, silently
     */

    if (call->proc->schema == NULL && call->input) {
        rc = ngx_http_backend_rpc_validate(call);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    values = ngx_pcalloc(r->pool,
                         (call->proc->params.nelts + 1) * sizeof(char *));
    if (values == NULL) {
        return NGX_ERROR;
    }

    param = call->proc->params.elts;

    for (i = 0; i < call->proc->params.nelts; i++) {

        switch (param[i].source) {

        case NGX_HTTP_BACKEND_PARAM_INPUT:
        case NGX_HTTP_BACKEND_PARAM_ANSWER:
            v = (param[i].source == NGX_HTTP_BACKEND_PARAM_INPUT)
                ? call->input : call->answer;
            seg = param[i].path.elts;

            for (j = 0; v && j < param[i].path.nelts; j++) {
                v = ngx_http_backend_json_get(v, seg[j].data, seg[j].len);
            }

            if (v == NULL || v->type == NGX_HTTP_BACKEND_JSON_NULL) {
                values[i] = NULL;
                break;
            }

            switch (v->type) {

            case NGX_HTTP_BACKEND_JSON_STRING:
                values[i] = (char *) v->string.data;
                break;

            case NGX_HTTP_BACKEND_JSON_NUMBER:
                /* 5.0 is 5 to Zod, and must be to an int parameter too */
                if (ngx_http_backend_json_number_text(r->pool, v, &s)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

                values[i] = (char *) s.data;
                break;

            case NGX_HTTP_BACKEND_JSON_TRUE:
                values[i] = "true";
                break;

            case NGX_HTTP_BACKEND_JSON_FALSE:
                values[i] = "false";
                break;

            default:
                /* objects and arrays go as JSON text, for json/jsonb */
                s.len = ngx_http_backend_json_len(v);
                s.data = ngx_pnalloc(r->pool, s.len + 1);
                if (s.data == NULL) {
                    return NGX_ERROR;
                }

                *ngx_http_backend_json_write(s.data, v) = '\0';
                values[i] = (char *) s.data;
            }

            break;

        case NGX_HTTP_BACKEND_PARAM_VAR:
            if (ngx_http_complex_value(r, param[i].value, &s) != NGX_OK) {
                return NGX_ERROR;
            }

            values[i] = (char *) ngx_pnalloc(r->pool, s.len + 1);
            if (values[i] == NULL) {
                return NGX_ERROR;
            }

            *ngx_cpymem(values[i], s.data, s.len) = '\0';
            break;

        default: /* NGX_HTTP_BACKEND_PARAM_CTX */
            f = (ngx_str_t *) ((u_char *) call->ctx + param[i].field);

            if (f->len == 0) {
                values[i] = NULL;
                break;
            }

            values[i] = (char *) ngx_pnalloc(r->pool, f->len + 1);
            if (values[i] == NULL) {
                return NGX_ERROR;
            }

            *ngx_cpymem(values[i], f->data, f->len) = '\0';
            break;
        }
    }

    call->query.values = values;

    return NGX_OK;
}


/*
 * "invalidate user|session column": the call answers once the cached
 * contexts the first row names are gone here and Redis has taken it, so
 * that the client's next request, on any node, sees the change
 */

static ngx_int_t
ngx_http_backend_rpc_invalidate(ngx_http_backend_call_t *call, PGresult *res,
    ngx_str_t *data)
{
    int                       col;
    ngx_int_t                 rc;
    ngx_http_request_t       *r;
    ngx_http_backend_proc_t  *proc;

    proc = call->proc;
    r = call->ctx->request;

    if (PQntuples(res) == 0) {
        return NGX_OK;
    }

    col = ngx_http_backend_pg_column(res,
                                     (char *) proc->invalidate_column.data);

    if (col < 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "backend: procedure \"%V\" returns no column \"%V\" "
                      "to invalidate", &proc->name, &proc->invalidate_column);
        return NGX_ERROR;
    }

    if (PQgetisnull(res, 0, col)) {
        return NGX_OK;
    }

    call->invalidate.what = proc->invalidate;
    call->invalidate.id.len = PQgetlength(res, 0, col);
    call->invalidate.id.data = ngx_pnalloc(r->pool, call->invalidate.id.len);
    if (call->invalidate.id.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(call->invalidate.id.data, PQgetvalue(res, 0, col),
               call->invalidate.id.len);

    call->invalidate.handler = ngx_http_backend_rpc_invalidated;
    call->invalidate.data = call;
    call->invalidate.log = r->connection->log;

    rc = ngx_http_backend_auth_invalidate((ngx_cycle_t *) ngx_cycle,
                                          &call->invalidate);

    if (rc == NGX_OK) {
        call->result = *data;
        call->invalidating = 1;
        return NGX_AGAIN;
    }

    return (rc == NGX_DONE) ? NGX_OK : NGX_ERROR;
}


static void
ngx_http_backend_rpc_invalidated(ngx_http_backend_invalidate_t *inv)
{
    ngx_http_backend_call_t  *call;

    call = inv->data;
    call->invalidating = 0;

    ngx_http_backend_rpc_call_result(call, &call->result);
}


static void
ngx_http_backend_rpc_query_handler(ngx_http_backend_pg_query_t *q)
{
    char                          *primary, *detail, *source;
    PGresult                      *res;
    ngx_int_t                      rc;
    ngx_str_t                      data, msg, *message;
    ngx_uint_t                     level;
    ngx_http_request_t            *r;
    ngx_http_backend_proc_t       *proc;
    ngx_http_backend_call_t       *call;
    ngx_http_backend_error_e       code;
    ngx_http_backend_pg_shape_e    shape;

    call = q->data;
    call->running = 0;
    proc = call->proc;
    r = call->ctx->request;

    call->ctx->db_time += q->duration;
    call->ctx->queue_wait += q->queue_wait;

    /*
     * The result is cleared before the call completes: completing the
     * last call may finalize the request and free the call with it
     */

    res = q->result;
    q->result = NULL;

    message = NULL;
    code = NGX_HTTP_BACKEND_INTERNAL_SERVER_ERROR;

    switch (q->status) {

    case NGX_HTTP_BACKEND_PG_OK:

        if (proc->result == NGX_HTTP_BACKEND_RESULT_NONE) {
            PQclear(res);
            ngx_http_backend_rpc_call_result(call, NULL);
            return;
        }

        if (proc->result == NGX_HTTP_BACKEND_RESULT_ONE
            && PQntuples(res) == 0)
        {
            PQclear(res);
            ngx_http_backend_rpc_call_error(call, NGX_HTTP_BACKEND_NOT_FOUND,
                                            &proc->not_found);
            return;
        }

        shape = (proc->result == NGX_HTTP_BACKEND_RESULT_MANY)
                ? NGX_HTTP_BACKEND_PG_ROWS
                : (proc->result == NGX_HTTP_BACKEND_RESULT_ONE)
                  ? NGX_HTTP_BACKEND_PG_ROW : NGX_HTTP_BACKEND_PG_VALUE;

        rc = ngx_http_backend_pg_result_json(r->pool, res, shape, &data);

        if (rc == NGX_OK && call->ctx->superjson) {
            rc = ngx_http_backend_pg_result_dates(r->pool, res, shape,
                                                  &call->dates);
        }

        if (rc == NGX_OK && proc->invalidate) {
            rc = ngx_http_backend_rpc_invalidate(call, res, &data);

            if (rc == NGX_AGAIN) {
                PQclear(res);
                return;
            }
        }

        PQclear(res);
        res = NULL;

        if (rc == NGX_OK) {
            ngx_http_backend_rpc_call_result(call, &data);
            return;
        }

        break;

    case NGX_HTTP_BACKEND_PG_UNAVAILABLE:
        ngx_str_set(&msg, "Database unavailable");
        message = &msg;
        code = NGX_HTTP_BACKEND_SERVICE_UNAVAILABLE;
        break;

    case NGX_HTTP_BACKEND_PG_TIMEOUT:
        ngx_str_set(&msg, "Database query timed out");
        message = &msg;
        code = NGX_HTTP_BACKEND_GATEWAY_TIMEOUT;
        break;

    default: /* NGX_HTTP_BACKEND_PG_SQL_ERROR */

        /*
         * the client's mistakes (a value the column type refuses, a
         * constraint) are 4xx; the detail stays in the log
         */

        level = NGX_LOG_ERR;

        if (ngx_strcmp(q->sqlstate, "23505") == 0
            || ngx_strcmp(q->sqlstate, "23503") == 0
            || ngx_strcmp(q->sqlstate, "40001") == 0
            || ngx_strcmp(q->sqlstate, "40P01") == 0)
        {
            code = NGX_HTTP_BACKEND_CONFLICT;
            level = NGX_LOG_INFO;
        }

        /* one log line: libpq's whole message spans several */

        primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
                      : NULL;
        detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;

        if (ngx_http_backend_rpc_bad_value(q->sqlstate)) {
            code = NGX_HTTP_BACKEND_BAD_REQUEST;
            level = NGX_LOG_INFO;
            ngx_str_set(&msg, "Invalid input");
            message = &msg;

            /*
             * a refusal the application's own SQL raised (PL/pgSQL RAISE
             * ... USING ERRCODE = '22023', say) is worded for the client
             * and goes out as it is; the server's wording of its own
             * errors (types, constraints) stays in the log
             */

            source = res ? PQresultErrorField(res, PG_DIAG_SOURCE_FILE)
                         : NULL;

            if (primary && source && ngx_strcmp(source, "pl_exec.c") == 0) {
                msg.len = ngx_strlen(primary);
                msg.data = ngx_pnalloc(r->pool, msg.len);
                if (msg.data == NULL) {
                    ngx_str_set(&msg, "Invalid input");

                } else {
                    ngx_memcpy(msg.data, primary, msg.len);
                }
            }
        }

        ngx_log_error(level, r->connection->log, 0,
                      "backend: procedure \"%V\" failed: %s%s%s "
                      "(SQLSTATE %s)", &proc->name,
                      primary ? primary : "unknown error",
                      detail ? "; " : "", detail ? detail : "", q->sqlstate);
        break;
    }

    if (res) {
        PQclear(res);
    }

    ngx_http_backend_rpc_call_error(call, code, message);
}


/* SQLSTATEs that mean "the client sent a value the schema refuses" */

static ngx_uint_t
ngx_http_backend_rpc_bad_value(u_char *sqlstate)
{
    char  **s;

    static char  *states[] = {
        "22P02",    /* invalid_text_representation */
        "22003",    /* numeric_value_out_of_range */
        "22007",    /* invalid_datetime_format */
        "22008",    /* datetime_field_overflow */
        "22001",    /* string_data_right_truncation */
        "22023",    /* invalid_parameter_value */
        "22021",    /* character_not_in_repertoire */
        "22P05",    /* untranslatable_character */
        "22004",    /* null_value_not_allowed */
        "23502",    /* not_null_violation */
        "23514",    /* check_violation */
        NULL
    };

    for (s = states; *s; s++) {
        if (ngx_strcmp(sqlstate, *s) == 0) {
            return 1;
        }
    }

    return 0;
}


void
ngx_http_backend_rpc_call_error(ngx_http_backend_call_t *call,
    ngx_http_backend_error_e code, ngx_str_t *message)
{
    ngx_http_request_t  *r;

    r = call->ctx->request;

    if (ngx_http_backend_error(r->pool, &call->out, code, message,
                               &call->path, NULL)
        != NGX_OK)
    {
        ngx_str_set(&call->out,
                    "{\"error\":{\"message\":\"INTERNAL_SERVER_ERROR\","
                    "\"code\":-32603,\"data\":{\"code\":"
                    "\"INTERNAL_SERVER_ERROR\",\"httpStatus\":500}}}");
        code = NGX_HTTP_BACKEND_INTERNAL_SERVER_ERROR;
    }

    call->status = ngx_http_backend_error_status(code);
    call->code = code;

    ngx_http_backend_rpc_call_done(call);
}


void
ngx_http_backend_rpc_call_result(ngx_http_backend_call_t *call,
    ngx_str_t *data)
{
    u_char              *p;
    ngx_http_request_t  *r;

    r = call->ctx->request;

    call->status = NGX_HTTP_OK;
    call->code = NGX_HTTP_BACKEND_OK;

    if (data == NULL) {
        /* undefined: JSON.stringify() drops "data" */
        ngx_str_set(&call->out, "{\"result\":{}}");
        ngx_http_backend_rpc_call_done(call);
        return;
    }

    call->out.len = sizeof("{\"result\":{\"data\":}}") - 1 + data->len;
    call->out.data = ngx_pnalloc(r->pool, call->out.len);

    if (call->out.data == NULL) {
        ngx_http_backend_rpc_call_error(call,
                                        NGX_HTTP_BACKEND_INTERNAL_SERVER_ERROR,
                                        NULL);
        return;
    }

    p = ngx_cpymem(call->out.data, "{\"result\":{\"data\":",
                   sizeof("{\"result\":{\"data\":") - 1);
    p = ngx_cpymem(p, data->data, data->len);
    *p++ = '}';
    *p = '}';

    ngx_http_backend_rpc_call_done(call);
}


void
ngx_http_backend_rpc_call_done(ngx_http_backend_call_t *call)
{
    ngx_int_t                rc;
    ngx_connection_t        *c;
    ngx_http_request_t      *r;
    ngx_http_backend_ctx_t  *ctx;

    ctx = call->ctx;
    r = ctx->request;

    /* a legacy call's envelope is the legacy's, transformed already */
    if (ctx->superjson && !ctx->jsonl && !call->legacy
        && ngx_http_backend_superjson_call(r->pool, &call->out, call->dates)
           != NGX_OK)
    {
        ngx_str_set(&call->out,
                    "{\"error\":{\"json\":{\"message\":"
                    "\"INTERNAL_SERVER_ERROR\",\"code\":-32603,\"data\":"
                    "{\"code\":\"INTERNAL_SERVER_ERROR\","
                    "\"httpStatus\":500}}}}");
        call->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        call->code = NGX_HTTP_BACKEND_INTERNAL_SERVER_ERROR;
    }

    call->done = 1;
    ctx->pending--;

    ngx_http_backend_rpc_call_metrics(call);

    if (call->proc) {
        ngx_http_backend_shadow_call(call);
    }

    /* inside rpc_start(): it sends what is known when it is done */

    if (!ctx->async || ctx->finalized) {
        return;
    }

    c = r->connection;

    if (ctx->head_sent) {
        /* streaming: this call's line now */
        rc = ngx_http_backend_rpc_send_line(ctx, call);

        if (rc != NGX_ERROR && ctx->pending) {
            return;
        }

    } else if (ctx->pending) {
        return;

    } else {
        rc = ngx_http_backend_rpc_send(ctx);
    }

    ctx->finalized = 1;
    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_backend_rpc_call_metrics(ngx_http_backend_call_t *call)
{
    ngx_uint_t                     type;
    ngx_http_request_t            *r;
    ngx_http_backend_main_conf_t  *bmcf;

    if (call->proc) {
        ngx_http_backend_metrics_add(call->proc->calls[call->code], 1);
        ngx_http_backend_metrics_observe(call->proc->duration,
                                         ngx_http_backend_metrics_now()
                                         - call->ctx->start);
        return;
    }

    r = call->ctx->request;
    bmcf = ngx_http_get_module_main_conf(r, ngx_http_backend_module);

    /* as tRPC reads the method: POST is a mutation */
    type = (r->method == NGX_HTTP_POST);

    ngx_http_backend_metrics_add(bmcf->unknown[type][call->code], 1);
}


/* the status of a batch: the one status all calls share, else 207 */

static ngx_int_t
ngx_http_backend_rpc_send(ngx_http_backend_ctx_t *ctx)
{
    u_char              *p;
    size_t               len;
    ngx_int_t            rc;
    ngx_uint_t           i, status;
    ngx_http_request_t  *r;

    r = ctx->request;

    if (ctx->jsonl || ctx->stream) {
        /* everything is known: the head and the end in one go */
        rc = ngx_http_backend_rpc_send_head(ctx);
        if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
            return rc;
        }

        return ngx_http_backend_rpc_output(r, (u_char *) "}\n",
                                           ctx->stream ? 2 : 0, 1);
    }

    status = ctx->calls[0].status;
    len = ctx->batch ? 1 + ctx->ncalls : 0;

    for (i = 0; i < ctx->ncalls; i++) {
        if (ctx->calls[i].status != status) {
            status = 207;
        }

        len += ctx->calls[i].out.len;
    }

    if (!ctx->batch) {
        rc = ngx_http_backend_rpc_headers(r, status, len);
        if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
            return rc;
        }

        return ngx_http_backend_rpc_output(r, ctx->calls[0].out.data, len, 1);
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    *p = '[';
    len = 1;

    for (i = 0; i < ctx->ncalls; i++) {
        if (i) {
            p[len++] = ',';
        }

        ngx_memcpy(p + len, ctx->calls[i].out.data, ctx->calls[i].out.len);
        len += ctx->calls[i].out.len;
    }

    p[len++] = ']';

    rc = ngx_http_backend_rpc_headers(r, status, len);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_backend_rpc_output(r, p, len, 1);
}


/*
 * v11 JSON Lines: {"0":[[<envelope>]],"1":[[0],[null,0,1]]} where a call
 * still running is a promise, later settled by [1,0,[[<envelope>]]].
 * v10: {"0":<envelope>\n,"1":<envelope>\n} in completion order.
 */

static ngx_int_t
ngx_http_backend_rpc_send_head(ngx_http_backend_ctx_t *ctx)
{
    u_char                   *p, *start;
    size_t                    len;
    ngx_int_t                 rc;
    ngx_uint_t                i;
    ngx_http_request_t       *r;
    ngx_http_backend_call_t  *call;

    r = ctx->request;

    rc = ngx_http_backend_rpc_headers(r, NGX_HTTP_OK, -1);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    ctx->head_sent = 1;

    len = 3;

    for (i = 0; i < ctx->ncalls; i++) {
        len += NGX_INT_T_LEN * 2 + sizeof(",\"\":[[0],[null,0,]]\n") - 1
               + ctx->calls[i].out.len;
    }

    start = ngx_pnalloc(r->pool, len);
    if (start == NULL) {
        return NGX_ERROR;
    }

    p = start;

    if (ctx->stream) {
        /* v10: a line for each call already done, the rest later */

        for (i = 0; i < ctx->ncalls; i++) {
            call = &ctx->calls[i];

            if (call->done) {
                p = ngx_sprintf(p, "%s\"%ui\":%V\n",
                                ctx->lines++ ? "," : "{", i, &call->out);
            }
        }

        if (p == start) {
            return NGX_OK;
        }

        return ngx_http_backend_rpc_output(r, start, p - start, 0);
    }

    *p++ = '{';

    for (i = 0; i < ctx->ncalls; i++) {
        call = &ctx->calls[i];

        if (i) {
            *p++ = ',';
        }

        if (call->done) {
            p = ngx_sprintf(p, "\"%ui\":[[%V]]", i, &call->out);

        } else {
            p = ngx_sprintf(p, "\"%ui\":[[0],[null,0,%ui]]", i, i);
        }
    }

    *p++ = '}';

    return ngx_http_backend_rpc_line(ctx, NULL, start, p - start, 0);
}


/* a v11 JSON line and its newline; with superjson, serialized whole */

static ngx_int_t
ngx_http_backend_rpc_line(ngx_http_backend_ctx_t *ctx,
    ngx_http_backend_call_t *call, u_char *data, size_t len, ngx_uint_t last)
{
    ngx_str_t            line;
    ngx_http_request_t  *r;

    r = ctx->request;

    line.data = data;
    line.len = len;

    if (ctx->superjson) {
        if (ngx_http_backend_superjson_line(r->pool, &line, ctx, call)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        data = ngx_pnalloc(r->pool, line.len + 1);
        if (data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(data, line.data, line.len);
        line.data = data;
    }

    /* every buffer above has room for it */
    line.data[line.len++] = '\n';

    return ngx_http_backend_rpc_output(r, line.data, line.len, last);
}


static ngx_int_t
ngx_http_backend_rpc_send_line(ngx_http_backend_ctx_t *ctx,
    ngx_http_backend_call_t *call)
{
    u_char              *p, *start;
    size_t               len;
    ngx_http_request_t  *r;

    r = ctx->request;

    if (r->header_only) {
        return ctx->pending ? NGX_OK : NGX_HTTP_OK;
    }

    len = call->out.len + NGX_INT_T_LEN * 2 + 16;

    start = ngx_pnalloc(r->pool, len);
    if (start == NULL) {
        return NGX_ERROR;
    }

    if (ctx->stream) {
        p = ngx_sprintf(start, "%s\"%ui\":%V\n", ctx->lines++ ? "," : "{",
                        call->index, &call->out);

        if (ctx->pending == 0) {
            *p++ = '}';
            *p++ = '\n';
        }

    } else {
        p = ngx_sprintf(start, "[%ui,0,[[%V]]]", call->index, &call->out);

        return ngx_http_backend_rpc_line(ctx, call, start, p - start,
                                         ctx->pending == 0);
    }

    return ngx_http_backend_rpc_output(r, start, p - start,
                                       ctx->pending == 0);
}


static ngx_int_t
ngx_http_backend_rpc_headers(ngx_http_request_t *r, ngx_uint_t status,
    off_t length)
{
    ngx_table_elt_t  *h;

    r->headers_out.status = status;
    r->headers_out.content_length_n = length;

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Vary");
    ngx_str_set(&h->value, "trpc-accept, accept");

    return ngx_http_send_header(r);
}


static ngx_int_t
ngx_http_backend_rpc_output(ngx_http_request_t *r, u_char *data, size_t len,
    ngx_uint_t last)
{
    ngx_buf_t    *b;
    ngx_chain_t   out;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    if (len) {
        b->pos = data;
        b->last = data + len;
        b->memory = 1;
    }

    if (last) {
        b->last_buf = (r == r->main) ? 1 : 0;
        b->last_in_chain = 1;

    } else {
        b->flush = 1;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * v11 httpBatchStreamLink, as tRPC's getAcceptHeader() reads it: a
 * trpc-accept header decides alone, being exactly "application/jsonl";
 * else an Accept item, trimmed, that is exactly that (v11.14 on)
 */

static ngx_uint_t
ngx_http_backend_rpc_accepts_jsonl(ngx_http_request_t *r)
{
    u_char           *p, *last, *end, *comma;
    ngx_table_elt_t  *h;

    static ngx_str_t  jsonl = ngx_string("application/jsonl");

    h = ngx_http_backend_header(r, (u_char *) "trpc-accept",
                                sizeof("trpc-accept") - 1);
    if (h) {
        return h->value.len == jsonl.len
               && ngx_strncmp(h->value.data, jsonl.data, jsonl.len) == 0;
    }

    h = ngx_http_backend_header(r, (u_char *) "accept",
                                sizeof("accept") - 1);
    if (h == NULL) {
        return 0;
    }

    last = h->value.data + h->value.len;

    for (p = h->value.data; /* void */ ; p = comma + 1) {
        comma = ngx_strlchr(p, last, ',');
        end = comma ? comma : last;

        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }

        while (end > p && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }

        if ((size_t) (end - p) == jsonl.len
            && ngx_strncmp(p, jsonl.data, jsonl.len) == 0)
        {
            return 1;
        }

        if (comma == NULL) {
            break;
        }
    }

    return 0;
}


/* the request ends early (client gone, error): no callback may follow */

static void
ngx_http_backend_rpc_cleanup(void *data)
{
    ngx_http_backend_ctx_t *ctx = data;

    ngx_uint_t  i;

    ctx->finalized = 1;

    for (i = 0; i < ctx->ncalls; i++) {
        if (ctx->calls[i].running) {
            ngx_http_backend_pg_abort(&ctx->calls[i].query);
            ctx->calls[i].running = 0;
        }

        if (ctx->calls[i].invalidating) {
            ngx_http_backend_auth_invalidate_cancel(
                                               &ctx->calls[i].invalidate);
            ctx->calls[i].invalidating = 0;
        }
    }
}
