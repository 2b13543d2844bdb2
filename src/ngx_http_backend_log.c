
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_backend.h"


/*
 * $backend_* variables for the access log (a JSON log_format with
 * escape=json) and for outbound calls ($backend_traceparent): what the
 * request's context knows once its calls are done.  Values come from the
 * configuration or from the server's own ids, never raw from the client,
 * except a well-formed traceparent's ids.  And $backend_log_sample, for
 * access_log's if=: which lines backend_log_sample keeps.
 */


typedef enum {
    NGX_HTTP_BACKEND_LOG_TRACE_ID = 0,
    NGX_HTTP_BACKEND_LOG_SPAN_ID,
    NGX_HTTP_BACKEND_LOG_PARENT_ID,
    NGX_HTTP_BACKEND_LOG_TRACEPARENT,
    NGX_HTTP_BACKEND_LOG_ACTOR,
    NGX_HTTP_BACKEND_LOG_SESSION_HASH,
    NGX_HTTP_BACKEND_LOG_PROCEDURE,
    NGX_HTTP_BACKEND_LOG_TIER,
    NGX_HTTP_BACKEND_LOG_CODE,
    NGX_HTTP_BACKEND_LOG_DB_TIME,
    NGX_HTTP_BACKEND_LOG_QUEUE_WAIT,
    NGX_HTTP_BACKEND_LOG_CONTEXT_SOURCE,
    NGX_HTTP_BACKEND_LOG_BATCH_SIZE,
    NGX_HTTP_BACKEND_LOG_ACCESS_JSON,
    NGX_HTTP_BACKEND_LOG_SAMPLE
} ngx_http_backend_log_var_e;


/* backend_log_sample: which requests $backend_log_sample keeps */

#define NGX_HTTP_BACKEND_LOG_ALL  10000     /* 100%, in hundredths of 1% */

typedef struct {
    ngx_uint_t                      sample;
    ngx_msec_t                      slow;

    /* sample's share of 2^56 in 14 lowercase hex digits, as trace ids are */
    u_char                          below[14];
} ngx_http_backend_log_loc_conf_t;


static ngx_int_t ngx_http_backend_log_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_backend_log_list(ngx_http_request_t *r,
    ngx_http_backend_ctx_t *ctx, uintptr_t what, ngx_str_t *out);
static ngx_int_t ngx_http_backend_log_access_json(ngx_http_request_t *r,
    ngx_http_backend_ctx_t *ctx, ngx_str_t *out);
static void ngx_http_backend_log_actor(ngx_http_backend_ctx_t *ctx,
    ngx_str_t *prefix, ngx_str_t *id);
static void ngx_http_backend_log_session(u_char *p, ngx_str_t *sid);
static ngx_uint_t ngx_http_backend_log_safe(u_char *s, size_t len);
static u_char *ngx_http_backend_log_chars(u_char *p, u_char *s, size_t len,
    ngx_uint_t safe);
static u_char *ngx_http_backend_log_uint(u_char *p, uint64_t v);
static u_char *ngx_http_backend_log_fixed(u_char *p, uint64_t v,
    ngx_uint_t decimals);
static ngx_uint_t ngx_http_backend_log_status(ngx_http_request_t *r);
static ngx_msec_int_t ngx_http_backend_log_msec(ngx_http_request_t *r);
static ngx_uint_t ngx_http_backend_log_sampled(ngx_http_request_t *r,
    ngx_http_backend_ctx_t *ctx);
static ngx_int_t ngx_http_backend_log_add_variables(ngx_conf_t *cf);
static void *ngx_http_backend_log_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_backend_log_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_backend_log_sample(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_command_t  ngx_http_backend_log_commands[] = {

    { ngx_string("backend_log_sample"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_backend_log_sample,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_backend_log_module_ctx = {
    ngx_http_backend_log_add_variables,    /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_backend_log_create_loc_conf,  /* create location configuration */
    ngx_http_backend_log_merge_loc_conf    /* merge location configuration */
};


ngx_module_t  ngx_http_backend_log_module = {
    NGX_MODULE_V1,
    &ngx_http_backend_log_module_ctx,      /* module context */
    ngx_http_backend_log_commands,         /* module directives */
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


#define ngx_http_backend_log_var(name, what)                                  \
    { ngx_string(name), NULL, ngx_http_backend_log_variable, what,            \
      NGX_HTTP_VAR_NOCACHEABLE, 0 }

static ngx_http_variable_t  ngx_http_backend_log_vars[] = {

    ngx_http_backend_log_var("backend_trace_id",
                             NGX_HTTP_BACKEND_LOG_TRACE_ID),
    ngx_http_backend_log_var("backend_span_id",
                             NGX_HTTP_BACKEND_LOG_SPAN_ID),
    ngx_http_backend_log_var("backend_parent_span_id",
                             NGX_HTTP_BACKEND_LOG_PARENT_ID),
    ngx_http_backend_log_var("backend_traceparent",
                             NGX_HTTP_BACKEND_LOG_TRACEPARENT),
    ngx_http_backend_log_var("backend_actor",
                             NGX_HTTP_BACKEND_LOG_ACTOR),
    ngx_http_backend_log_var("backend_session_hash",
                             NGX_HTTP_BACKEND_LOG_SESSION_HASH),
    ngx_http_backend_log_var("backend_procedure",
                             NGX_HTTP_BACKEND_LOG_PROCEDURE),
    ngx_http_backend_log_var("backend_tier",
                             NGX_HTTP_BACKEND_LOG_TIER),
    ngx_http_backend_log_var("backend_code",
                             NGX_HTTP_BACKEND_LOG_CODE),
    ngx_http_backend_log_var("backend_db_time",
                             NGX_HTTP_BACKEND_LOG_DB_TIME),
    ngx_http_backend_log_var("backend_queue_wait",
                             NGX_HTTP_BACKEND_LOG_QUEUE_WAIT),
    ngx_http_backend_log_var("backend_context_source",
                             NGX_HTTP_BACKEND_LOG_CONTEXT_SOURCE),
    ngx_http_backend_log_var("backend_batch_size",
                             NGX_HTTP_BACKEND_LOG_BATCH_SIZE),
    ngx_http_backend_log_var("backend_access_json",
                             NGX_HTTP_BACKEND_LOG_ACCESS_JSON),
    ngx_http_backend_log_var("backend_log_sample",
                             NGX_HTTP_BACKEND_LOG_SAMPLE),

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_backend_log_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    uint64_t                 us;
    ngx_str_t                s, prefix, id;
    ngx_http_backend_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_backend_module);

    if (ctx == NULL) {
        /* a subrequest (a call out, through proxy_pass): the request's */
        ctx = ngx_http_get_module_ctx(r->main, ngx_http_backend_module);
    }

    if (data == NGX_HTTP_BACKEND_LOG_ACCESS_JSON) {
        if (ngx_http_backend_log_access_json(r, ctx, &s) != NGX_OK) {
            return NGX_ERROR;
        }

        v->data = s.data;
        v->len = s.len;
        v->valid = 1;
        v->no_cacheable = 1;
        v->not_found = 0;

        return NGX_OK;
    }

    if (data == NGX_HTTP_BACKEND_LOG_SAMPLE) {
        /* "0" keeps access_log's if= from writing the line */

        v->data = (u_char *) (ngx_http_backend_log_sampled(r, ctx) ? "1"
                                                                   : "0");
        v->len = 1;
        v->valid = 1;
        v->no_cacheable = 1;
        v->not_found = 0;

        return NGX_OK;
    }

    if (ctx == NULL) {
        /* numbers stay numbers in a JSON log_format */

        switch (data) {

        case NGX_HTTP_BACKEND_LOG_DB_TIME:
        case NGX_HTTP_BACKEND_LOG_QUEUE_WAIT:
            v->data = (u_char *) "0.000000";
            v->len = sizeof("0.000000") - 1;
            break;

        case NGX_HTTP_BACKEND_LOG_BATCH_SIZE:
            v->data = (u_char *) "0";
            v->len = 1;
            break;

        default:
            v->not_found = 1;
            return NGX_OK;
        }

        v->valid = 1;
        v->no_cacheable = 1;
        v->not_found = 0;

        return NGX_OK;
    }

    ngx_str_null(&s);

    switch (data) {

    case NGX_HTTP_BACKEND_LOG_TRACE_ID:
        s.data = ctx->trace_id;
        s.len = 32;
        break;

    case NGX_HTTP_BACKEND_LOG_SPAN_ID:
        s.data = ctx->span_id;
        s.len = 16;
        break;

    case NGX_HTTP_BACKEND_LOG_PARENT_ID:
        if (ctx->parent_id[0] == '\0') {
            /* a trace started here has no parent */
            break;
        }

        s.data = ctx->parent_id;
        s.len = 16;
        break;

    case NGX_HTTP_BACKEND_LOG_TRACEPARENT:
        s.len = sizeof("00--") - 1 + 32 + 1 + 16 + 2;
        s.data = ngx_pnalloc(r->pool, s.len);
        if (s.data == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(s.data, "00-%*s-%*s-%*s", (size_t) 32, ctx->trace_id,
                    (size_t) 16, ctx->span_id, (size_t) 2, ctx->trace_flags);
        break;

    case NGX_HTTP_BACKEND_LOG_ACTOR:
        ngx_http_backend_log_actor(ctx, &prefix, &id);

        s.len = prefix.len + id.len;
        s.data = ngx_pnalloc(r->pool, s.len);
        if (s.data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(ngx_cpymem(s.data, prefix.data, prefix.len), id.data,
                   id.len);
        break;

    case NGX_HTTP_BACKEND_LOG_SESSION_HASH:
        if (ctx->auth.session_id.len == 0) {
            break;
        }

        s.len = 16;
        s.data = ngx_pnalloc(r->pool, s.len);
        if (s.data == NULL) {
            return NGX_ERROR;
        }

        ngx_http_backend_log_session(s.data, &ctx->auth.session_id);

        break;

    case NGX_HTTP_BACKEND_LOG_PROCEDURE:
    case NGX_HTTP_BACKEND_LOG_TIER:
    case NGX_HTTP_BACKEND_LOG_CODE:
        if (ngx_http_backend_log_list(r, ctx, data, &s) != NGX_OK) {
            return NGX_ERROR;
        }

        break;

    case NGX_HTTP_BACKEND_LOG_DB_TIME:
    case NGX_HTTP_BACKEND_LOG_QUEUE_WAIT:
        us = (data == NGX_HTTP_BACKEND_LOG_DB_TIME) ? ctx->db_time
                                                    : ctx->queue_wait;

        s.data = ngx_pnalloc(r->pool, NGX_INT64_LEN + 8);
        if (s.data == NULL) {
            return NGX_ERROR;
        }

        s.len = ngx_sprintf(s.data, "%uL.%06uL", us / 1000000, us % 1000000)
                - s.data;
        break;

    case NGX_HTTP_BACKEND_LOG_CONTEXT_SOURCE:
        if (ctx->auth.source) {
            s.data = (u_char *) ctx->auth.source;
            s.len = ngx_strlen(ctx->auth.source);

        } else {
            ngx_str_set(&s, "none");
        }

        break;

    default: /* NGX_HTTP_BACKEND_LOG_BATCH_SIZE */
        s.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (s.data == NULL) {
            return NGX_ERROR;
        }

        s.len = ngx_sprintf(s.data, "%ui", ctx->ncalls) - s.data;
        break;
    }

    if (s.data == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = s.data;
    v->len = s.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/*
 * The calls' procedures, tiers or codes, comma-separated in the batch's
 * order; a request refused before any call has only its code
 */

static ngx_int_t
ngx_http_backend_log_list(ngx_http_request_t *r, ngx_http_backend_ctx_t *ctx,
    uintptr_t what, ngx_str_t *out)
{
    u_char                   *p;
    size_t                    len;
    ngx_str_t                *item;
    ngx_uint_t                i;
    ngx_http_backend_call_t  *call;

    static ngx_str_t  unknown = ngx_string("unknown");
    static ngx_str_t  none = ngx_string("");

    if (ctx->rejected || ctx->ncalls == 0) {
        if (what == NGX_HTTP_BACKEND_LOG_CODE && ctx->rejected) {
            *out = *ngx_http_backend_error_name(ctx->code);
        }

        return NGX_OK;
    }

    if (ctx->ncalls == 1) {
        call = ctx->calls;

        switch (what) {

        case NGX_HTTP_BACKEND_LOG_PROCEDURE:
            *out = call->proc ? call->proc->name : unknown;
            break;

        case NGX_HTTP_BACKEND_LOG_TIER:
            *out = call->proc ? call->proc->tier : none;
            break;

        default: /* NGX_HTTP_BACKEND_LOG_CODE */
            *out = call->done ? *ngx_http_backend_error_name(call->code)
                              : none;
        }

        return NGX_OK;
    }

    len = 0;
    p = NULL;

    for (i = 0; i < 2; i++) {

        for (call = ctx->calls; call < ctx->calls + ctx->ncalls; call++) {

            switch (what) {

            case NGX_HTTP_BACKEND_LOG_PROCEDURE:
                item = call->proc ? &call->proc->name : &unknown;
                break;

            case NGX_HTTP_BACKEND_LOG_TIER:
                item = call->proc ? &call->proc->tier : &none;
                break;

            default: /* NGX_HTTP_BACKEND_LOG_CODE */
                /* a call not done: the client went away first */
                item = call->done ? ngx_http_backend_error_name(call->code)
                                  : &none;
            }

            if (i == 0) {
                len += item->len + 1;
                continue;
            }

            if (call != ctx->calls) {
                *p++ = ',';
            }

            p = ngx_cpymem(p, item->data, item->len);
        }

        if (i == 0) {
            out->data = ngx_pnalloc(r->pool, len);
            if (out->data == NULL) {
                return NGX_ERROR;
            }

            p = out->data;
        }
    }

    out->len = p - out->data;

    return NGX_OK;
}


/*
 * The whole access log line as one JSON object, for
 *     log_format backend_json escape=none '$backend_access_json';
 * Built here in one pass: nginx's log module would evaluate and escape
 * twenty variables one by one, which costs a fast request a quarter of
 * its CPU.  The line is valid JSON and valid UTF-8 whatever the request
 * held: names from the configuration, codes, hex ids and a request id of
 * [A-Za-z0-9._:-] go as they are; the path and the actor's id are checked
 * for a byte JSON must escape and, only if one is there, go through the
 * project's JSON writer (ill-formed UTF-8 gets U+FFFD in its place).
 */

static ngx_int_t
ngx_http_backend_log_access_json(ngx_http_request_t *r,
    ngx_http_backend_ctx_t *ctx, ngx_str_t *out)
{
    u_char          *p;
    size_t           len, path_len, user_len;
    ngx_str_t        id, proc, tier, code, source, user, prefix;
    ngx_uint_t       status, path_safe, user_safe;
    ngx_msec_int_t   ms;
    u_char           sess[16];

    if (ngx_http_backend_request_id(r, &id) != NGX_OK) {
        ngx_str_null(&id);
    }

    ngx_str_null(&proc);
    ngx_str_null(&tier);
    ngx_str_null(&code);
    ngx_str_set(&source, "none");

    ngx_http_backend_log_actor(ctx, &prefix, &user);

    if (ctx) {
        if (ngx_http_backend_log_list(r, ctx, NGX_HTTP_BACKEND_LOG_PROCEDURE,
                                      &proc)
            != NGX_OK
            || ngx_http_backend_log_list(r, ctx, NGX_HTTP_BACKEND_LOG_TIER,
                                         &tier)
               != NGX_OK
            || ngx_http_backend_log_list(r, ctx, NGX_HTTP_BACKEND_LOG_CODE,
                                         &code)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ctx->auth.source) {
            source.data = (u_char *) ctx->auth.source;
            source.len = ngx_strlen(ctx->auth.source);
        }
    }

    path_safe = ngx_http_backend_log_safe(r->uri.data, r->uri.len);
    path_len = path_safe
               ? r->uri.len
               : ngx_http_backend_json_str_len(r->uri.data, r->uri.len) - 2;

    user_safe = ngx_http_backend_log_safe(user.data, user.len);
    user_len = user_safe
               ? user.len
               : ngx_http_backend_json_str_len(user.data, user.len) - 2;

    status = ngx_http_backend_log_status(r);
    ms = ngx_http_backend_log_msec(r);

    len = sizeof("{\"time\":\"\",\"request_id\":\"\",\"trace_id\":\"\","
                 "\"span_id\":\"\",\"actor\":\"\",\"session\":\"\","
                 "\"method\":\"\",\"path\":\"\",\"procedure\":\"\","
                 "\"tier\":\"\",\"code\":\"\",\"status\":,"
                 "\"request_time\":,\"db_time\":,\"queue_wait\":,"
                 "\"context_source\":\"\",\"batch\":,\"bytes_in\":,"
                 "\"bytes_out\":}") - 1
          + ngx_cached_http_log_iso8601.len + id.len + 32 + 16
          + prefix.len + user_len + 16
          + r->method_name.len + path_len
          + proc.len + tier.len + code.len + source.len
          + 5 * NGX_INT64_LEN + 2 * 8 + 4 + NGX_INT_T_LEN;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;

    /* the request id: the client's of [A-Za-z0-9._:-], or ours in hex */

    p = ngx_cpymem(p, "{\"time\":\"", sizeof("{\"time\":\"") - 1);
    p = ngx_cpymem(p, ngx_cached_http_log_iso8601.data,
                   ngx_cached_http_log_iso8601.len);
    p = ngx_cpymem(p, "\",\"request_id\":\"",
                   sizeof("\",\"request_id\":\"") - 1);
    p = ngx_cpymem(p, id.data, id.len);

    p = ngx_cpymem(p, "\",\"trace_id\":\"", sizeof("\",\"trace_id\":\"") - 1);
    if (ctx) {
        p = ngx_cpymem(p, ctx->trace_id, 32);
    }

    p = ngx_cpymem(p, "\",\"span_id\":\"", sizeof("\",\"span_id\":\"") - 1);
    if (ctx) {
        p = ngx_cpymem(p, ctx->span_id, 16);
    }

    p = ngx_cpymem(p, "\",\"actor\":\"", sizeof("\",\"actor\":\"") - 1);
    p = ngx_cpymem(p, prefix.data, prefix.len);
    p = ngx_http_backend_log_chars(p, user.data, user.len, user_safe);

    p = ngx_cpymem(p, "\",\"session\":\"", sizeof("\",\"session\":\"") - 1);
    if (ctx && ctx->auth.session_id.len) {
        ngx_http_backend_log_session(sess, &ctx->auth.session_id);
        p = ngx_cpymem(p, sess, 16);
    }

    /* nginx's parser lets only A-Z, "_" and "-" into a method */

    p = ngx_cpymem(p, "\",\"method\":\"", sizeof("\",\"method\":\"") - 1);
    p = ngx_cpymem(p, r->method_name.data, r->method_name.len);
    p = ngx_cpymem(p, "\",\"path\":\"", sizeof("\",\"path\":\"") - 1);
    p = ngx_http_backend_log_chars(p, r->uri.data, r->uri.len, path_safe);

    /* procedure and tier names are checked by the configuration */

    p = ngx_cpymem(p, "\",\"procedure\":\"", sizeof("\",\"procedure\":\"") - 1);
    p = ngx_cpymem(p, proc.data, proc.len);
    p = ngx_cpymem(p, "\",\"tier\":\"", sizeof("\",\"tier\":\"") - 1);
    p = ngx_cpymem(p, tier.data, tier.len);
    p = ngx_cpymem(p, "\",\"code\":\"", sizeof("\",\"code\":\"") - 1);
    p = ngx_cpymem(p, code.data, code.len);

    /* numbers by hand: ngx_sprintf() would cost this line half its time */

    p = ngx_cpymem(p, "\",\"status\":", sizeof("\",\"status\":") - 1);
    p = ngx_http_backend_log_uint(p, status);
    p = ngx_cpymem(p, ",\"request_time\":", sizeof(",\"request_time\":") - 1);
    p = ngx_http_backend_log_fixed(p, (uint64_t) ms, 3);
    p = ngx_cpymem(p, ",\"db_time\":", sizeof(",\"db_time\":") - 1);
    p = ngx_http_backend_log_fixed(p, ctx ? ctx->db_time : 0, 6);
    p = ngx_cpymem(p, ",\"queue_wait\":", sizeof(",\"queue_wait\":") - 1);
    p = ngx_http_backend_log_fixed(p, ctx ? ctx->queue_wait : 0, 6);
    p = ngx_cpymem(p, ",\"context_source\":\"",
                   sizeof(",\"context_source\":\"") - 1);
    p = ngx_cpymem(p, source.data, source.len);
    p = ngx_cpymem(p, "\",\"batch\":", sizeof("\",\"batch\":") - 1);
    p = ngx_http_backend_log_uint(p, ctx ? ctx->ncalls : 0);
    p = ngx_cpymem(p, ",\"bytes_in\":", sizeof(",\"bytes_in\":") - 1);
    p = ngx_http_backend_log_uint(p, (uint64_t) ngx_max(r->request_length, 0));
    p = ngx_cpymem(p, ",\"bytes_out\":", sizeof(",\"bytes_out\":") - 1);
    p = ngx_http_backend_log_uint(p,
                                  (uint64_t) ngx_max(r->connection->sent, 0));
    *p++ = '}';

    out->len = p - out->data;

    return NGX_OK;
}


/* whether s goes into a JSON string as it is: no '"', '\', control or 8-bit */

static ngx_uint_t
ngx_http_backend_log_safe(u_char *s, size_t len)
{
    u_char  *last;

    for (last = s + len; s < last; s++) {
        if (*s < 0x20 || *s >= 0x7f || *s == '"' || *s == '\\') {
            return 0;
        }
    }

    return 1;
}


/* s inside a JSON string, its quotes written by the caller */

static u_char *
ngx_http_backend_log_chars(u_char *p, u_char *s, size_t len, ngx_uint_t safe)
{
    u_char  *q;

    if (safe) {
        return ngx_cpymem(p, s, len);
    }

    q = ngx_http_backend_json_str_write(p, s, len);

    /* the writer quotes the string: drop its quotes */

    ngx_memmove(p, p + 1, q - p - 2);

    return q - 2;
}


/* the actor: user:<id>, clerk:<Clerk user id>, or anonymous, in two parts */

static void
ngx_http_backend_log_actor(ngx_http_backend_ctx_t *ctx, ngx_str_t *prefix,
    ngx_str_t *id)
{
    ngx_str_null(id);

    if (ctx && ctx->auth.user_id.len) {
        ngx_str_set(prefix, "user:");
        *id = ctx->auth.user_id;

    } else if (ctx && ctx->auth.clerk_user_id.len) {
        ngx_str_set(prefix, "clerk:");
        *id = ctx->auth.clerk_user_id;

    } else {
        ngx_str_set(prefix, "anonymous");
    }
}


/*
 * The session named without writing its id: 64 bits, MurmurHash2 and
 * CRC-32 of the Clerk session id, in 16 hex digits.  Enough to follow one
 * session through the log; not a secret (a session id is random, and the
 * token, not the id, is the credential), and a hundred times cheaper than
 * SHA-256 through OpenSSL 3, which a fast request would feel.
 */

static void
ngx_http_backend_log_session(u_char *p, ngx_str_t *sid)
{
    uint32_t  a, b;

    a = ngx_murmur_hash2(sid->data, sid->len);
    b = ngx_crc32_long(sid->data, sid->len);

    (void) ngx_hex_dump(p, (u_char *) &a, 4);
    (void) ngx_hex_dump(p + 8, (u_char *) &b, 4);
}


static u_char *
ngx_http_backend_log_uint(u_char *p, uint64_t v)
{
    u_char   buf[NGX_INT64_LEN], *d;

    d = buf + NGX_INT64_LEN;

    do {
        *--d = (u_char) ('0' + v % 10);
        v /= 10;
    } while (v);

    return ngx_cpymem(p, d, buf + NGX_INT64_LEN - d);
}


/* v thousandths (3) or millionths (6) as a decimal: 1234, 3 is 1.234 */

static u_char *
ngx_http_backend_log_fixed(u_char *p, uint64_t v, ngx_uint_t decimals)
{
    uint64_t    unit;
    ngx_uint_t  i;

    unit = (decimals == 3) ? 1000 : 1000000;

    p = ngx_http_backend_log_uint(p, v / unit);
    *p++ = '.';

    v %= unit;

    for (i = decimals; i; i--) {
        p[i - 1] = (u_char) ('0' + v % 10);
        v /= 10;
    }

    return p + decimals;
}


/* the status the log reports, as nginx's $status: 0 when none was set */

static ngx_uint_t
ngx_http_backend_log_status(ngx_http_request_t *r)
{
    return r->err_status ? r->err_status : r->headers_out.status;
}


/* milliseconds since the request began, as nginx's $request_time */

static ngx_msec_int_t
ngx_http_backend_log_msec(ngx_http_request_t *r)
{
    ngx_msec_int_t   ms;
    ngx_time_t      *tp;

    tp = ngx_timeofday();
    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));

    return ngx_max(ms, 0);
}


/*
 * Whether backend_log_sample keeps the request's line: every failure
 * (an HTTP status of 400 or more, a refused request, a call not OK or not
 * done), every request slower than slow=, every trace the caller marked
 * sampled in its traceparent, and of the rest the given share, chosen by
 * the trace id's random low 56 bits: the same traces on every node and in
 * every service that samples this way (as OpenTelemetry's ratio sampler
 * does), so a sampled trace's lines are all there.
 */

static ngx_uint_t
ngx_http_backend_log_sampled(ngx_http_request_t *r,
    ngx_http_backend_ctx_t *ctx)
{
    u_char                            c;
    ngx_uint_t                        status;
    ngx_http_backend_call_t          *call;
    ngx_http_backend_log_loc_conf_t  *llcf;

    llcf = ngx_http_get_module_loc_conf(r, ngx_http_backend_log_module);

    if (llcf->sample >= NGX_HTTP_BACKEND_LOG_ALL) {
        return 1;
    }

    status = ngx_http_backend_log_status(r);

    if (status == 0 || status >= NGX_HTTP_BAD_REQUEST) {
        return 1;
    }

    if (llcf->slow
        && ngx_http_backend_log_msec(r) >= (ngx_msec_int_t) llcf->slow)
    {
        return 1;
    }

    if (ctx == NULL) {
        /* no trace id here: a request outside the backend's locations */
        return (ngx_uint_t) ngx_random() % NGX_HTTP_BACKEND_LOG_ALL
               < llcf->sample;
    }

    if (ctx->rejected) {
        return 1;
    }

    for (call = ctx->calls; call < ctx->calls + ctx->ncalls; call++) {
        if (!call->done || call->code != NGX_HTTP_BACKEND_OK) {
            return 1;
        }
    }

    /* the W3C "sampled" flag: bit 0 of the flags' second hex digit */

    c = ctx->trace_flags[1];

    if (((c >= 'a') ? c - 'a' + 10 : c - '0') & 1) {
        return 1;
    }

    /*
     * trace ids are lowercase hex (the client's checked on arrival), so
     * their digits compare as their values do: no number made per request
     */

    return ngx_memcmp(ctx->trace_id + 18, llcf->below, 14) < 0;
}


static void *
ngx_http_backend_log_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_backend_log_loc_conf_t  *conf;

    conf = ngx_palloc(cf->pool, sizeof(ngx_http_backend_log_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->sample = NGX_CONF_UNSET_UINT;
    conf->slow = NGX_CONF_UNSET_MSEC;

    return conf;
}


static char *
ngx_http_backend_log_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_backend_log_loc_conf_t  *prev = parent;
    ngx_http_backend_log_loc_conf_t  *conf = child;

    ngx_conf_merge_uint_value(conf->sample, prev->sample,
                              NGX_HTTP_BACKEND_LOG_ALL);
    ngx_conf_merge_msec_value(conf->slow, prev->slow, 0);

    (void) ngx_sprintf(conf->below, "%014xL",
                       (uint64_t) conf->sample
                       * (((uint64_t) 1 << 56) / NGX_HTTP_BACKEND_LOG_ALL));

    return NGX_CONF_OK;
}


/* backend_log_sample 1% [slow=250ms]; slow= rides with the share */

static char *
ngx_http_backend_log_sample(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_backend_log_loc_conf_t *llcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value, s;

    if (llcf->sample != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = NGX_ERROR;

    if (value[1].len > 1 && value[1].data[value[1].len - 1] == '%') {
        n = ngx_atofp(value[1].data, value[1].len - 1, 2);
    }

    if (n == NGX_ERROR || n > NGX_HTTP_BACKEND_LOG_ALL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid share \"%V\": a percentage from 0%% "
                           "to 100%% with at most two decimals, "
                           "such as 1%% or 0.25%%", &value[1]);
        return NGX_CONF_ERROR;
    }

    llcf->sample = (ngx_uint_t) n;
    llcf->slow = 0;

    if (cf->args->nelts == 3) {
        if (value[2].len <= 5
            || ngx_strncmp(value[2].data, "slow=", 5) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\": only slow=time "
                               "may follow the share", &value[2]);
            return NGX_CONF_ERROR;
        }

        s.data = value[2].data + 5;
        s.len = value[2].len - 5;

        llcf->slow = ngx_parse_time(&s, 0);

        if (llcf->slow == (ngx_msec_t) NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid time in \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_backend_log_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_backend_log_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}
