
/*
 * Copyright (C) ngx_backend authors
 */


#ifndef _NGX_HTTP_BACKEND_H_INCLUDED_
#define _NGX_HTTP_BACKEND_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_backend_auth.h"
#include "ngx_http_backend_json.h"
#include "ngx_http_backend_metrics.h"
#include "ngx_http_backend_pg.h"
#include "ngx_http_backend_schema.h"


#define ngx_http_backend_isalnum(c)                                           \
    (((c) >= '0' && (c) <= '9') || ((c) >= 'a' && (c) <= 'z')                 \
     || ((c) >= 'A' && (c) <= 'Z'))


#define NGX_HTTP_BACKEND_QUERY       1
#define NGX_HTTP_BACKEND_MUTATION    2

#define NGX_HTTP_BACKEND_RESULT_MANY   0
#define NGX_HTTP_BACKEND_RESULT_ONE    1
#define NGX_HTTP_BACKEND_RESULT_VALUE  2
#define NGX_HTTP_BACKEND_RESULT_NONE   3
#define NGX_HTTP_BACKEND_RESULT_JSON   4   /* a call's answer, as JSON */

#define NGX_HTTP_BACKEND_PARAM_INPUT   0
#define NGX_HTTP_BACKEND_PARAM_CTX     1
#define NGX_HTTP_BACKEND_PARAM_VAR     2
#define NGX_HTTP_BACKEND_PARAM_ANSWER  3   /* a field of a call's answer */


/* tRPC error codes (v11 TRPC_ERROR_CODES_BY_KEY) */

typedef enum {
    NGX_HTTP_BACKEND_PARSE_ERROR = 0,
    NGX_HTTP_BACKEND_BAD_REQUEST,
    NGX_HTTP_BACKEND_UNAUTHORIZED,
    NGX_HTTP_BACKEND_FORBIDDEN,
    NGX_HTTP_BACKEND_NOT_FOUND,
    NGX_HTTP_BACKEND_METHOD_NOT_SUPPORTED,
    NGX_HTTP_BACKEND_TIMEOUT,
    NGX_HTTP_BACKEND_CONFLICT,
    NGX_HTTP_BACKEND_PRECONDITION_FAILED,
    NGX_HTTP_BACKEND_PAYLOAD_TOO_LARGE,
    NGX_HTTP_BACKEND_UNSUPPORTED_MEDIA_TYPE,
    NGX_HTTP_BACKEND_UNPROCESSABLE_CONTENT,
    NGX_HTTP_BACKEND_TOO_MANY_REQUESTS,
    NGX_HTTP_BACKEND_INTERNAL_SERVER_ERROR,
    NGX_HTTP_BACKEND_NOT_IMPLEMENTED,
    NGX_HTTP_BACKEND_BAD_GATEWAY,
    NGX_HTTP_BACKEND_SERVICE_UNAVAILABLE,
    NGX_HTTP_BACKEND_GATEWAY_TIMEOUT,
    NGX_HTTP_BACKEND_OK                 /* a call's outcome: no error */
} ngx_http_backend_error_e;

#define NGX_HTTP_BACKEND_NCODES  (NGX_HTTP_BACKEND_OK + 1)


typedef struct {
    ngx_uint_t                      source;
    ngx_str_t                       name;       /* as written */
    ngx_array_t                     path;       /* input.a.b: of ngx_str_t */
    ngx_http_complex_value_t       *value;      /* $variable */
    size_t                          field;      /* ctx.<field>: offset */
} ngx_http_backend_param_t;


/* "call": an external API's adapter (ngx_http_backend_adapter.c) */
typedef struct ngx_http_backend_adapter_call_s
    ngx_http_backend_adapter_call_t;


typedef struct {
    ngx_str_t                       name;
    ngx_uint_t                      type;
    ngx_str_t                       tier;
    ngx_http_backend_tier_t        *tier_ref;
    ngx_str_t                       input;      /* schema file */
    ngx_http_backend_schema_t      *schema;
    ngx_str_t                       database;
    ngx_str_t                       sql;
    ngx_array_t                     params;     /* of param_t */
    ngx_uint_t                      result;
    ngx_str_t                       data;       /* a constant result */
    ngx_str_t                       not_found;
    ngx_uint_t                      invalidate; /* 'u', 's', or 0 */
    ngx_str_t                       invalidate_column;

    ngx_http_backend_pg_server_t   *server;
    ngx_http_backend_pg_stmt_t     *stmt;

    ngx_http_backend_adapter_call_t  *call;

    /* metrics: calls by outcome, durations */
    ngx_http_backend_series_t      *calls[NGX_HTTP_BACKEND_NCODES];
    ngx_http_backend_series_t      *duration;

    unsigned                        public:1;
    unsigned                        uses_input:1;
    unsigned                        data_user:1;

    u_char                         *file;
    ngx_uint_t                      line;

    /* where its directives are, for errors found after the block */
    ngx_uint_t                      tier_line;
    ngx_uint_t                      sql_line;
    ngx_uint_t                      params_line;
    ngx_uint_t                      data_line;
    ngx_uint_t                      database_line;
    ngx_uint_t                      needs_sql_line; /* result, invalidate */
} ngx_http_backend_proc_t;


typedef struct {
    ngx_array_t                     procs;      /* of proc_t */
    ngx_hash_t                      hash;
    ngx_int_t                       request_id_index;

    /* the worker's request id stream, seeded in init_process */
    uint64_t                        rid_seed[2];
    uint64_t                        rid_count;

    /* nginx's own, the same for every request: kept to chain to */
    ngx_http_log_handler_pt         log_handler;

    /* metrics of calls to undeclared procedures, by type and outcome;
     * requests refused before any call; batch sizes; bytes */
    ngx_http_backend_series_t      *unknown[2][NGX_HTTP_BACKEND_NCODES];
    ngx_http_backend_series_t      *rejected[NGX_HTTP_BACKEND_NCODES];
    ngx_http_backend_series_t      *batch_size;
    ngx_http_backend_series_t      *received;
    ngx_http_backend_series_t      *sent;
} ngx_http_backend_main_conf_t;


typedef struct {
    ngx_flag_t                      rpc;
    ngx_uint_t                      max_batch;
    ngx_uint_t                      transformer;
    off_t                           max_body;
} ngx_http_backend_loc_conf_t;


/* backend_rpc_transformer */
#define NGX_HTTP_BACKEND_TRANSFORMER_JSON       0
#define NGX_HTTP_BACKEND_TRANSFORMER_SUPERJSON  1


typedef struct ngx_http_backend_ctx_s  ngx_http_backend_ctx_t;


typedef struct {
    ngx_http_backend_ctx_t         *ctx;
    ngx_uint_t                      index;
    ngx_str_t                       path;
    ngx_http_backend_proc_t        *proc;
    ngx_http_backend_json_t        *input;      /* NULL: undefined */
    ngx_http_backend_json_t        *answer;     /* an external API's */

    ngx_http_backend_pg_query_t     query;

    ngx_str_t                       out;        /* the call's envelope */
    ngx_array_t                    *dates;      /* superjson: its Dates */
    ngx_uint_t                      status;
    ngx_http_backend_error_e        code;       /* or NGX_HTTP_BACKEND_OK */

    ngx_http_backend_invalidate_t   invalidate;
    ngx_str_t                       result;     /* held while invalidating */

    unsigned                        done:1;
    unsigned                        running:1;
    unsigned                        invalidating:1;
    unsigned                        legacy:1;   /* backend_rpc_legacy's */
} ngx_http_backend_call_t;


struct ngx_http_backend_ctx_s {
    ngx_http_request_t             *request;
    ngx_str_t                       request_id;

    /* W3C trace context: the client's traceparent, or one started here */
    u_char                          trace_id[32];
    u_char                          parent_id[16];  /* the caller's span */
    u_char                          span_id[16];    /* ours */
    u_char                          trace_flags[2];

    /* webhooks: the svix-id, named in every error-log line */
    ngx_str_t                       event_id;

    /* for the access log and the metrics: microseconds */
    uint64_t                        start;
    uint64_t                        db_time;
    uint64_t                        queue_wait;
    size_t                          received;
    ngx_http_backend_error_e        code;       /* a request-level error */

    ngx_http_backend_auth_ctx_t     auth;

    ngx_http_backend_call_t        *calls;
    ngx_uint_t                      ncalls;
    ngx_uint_t                      pending;

    ngx_http_backend_json_t        *input;      /* the parsed input */
    ngx_str_t                       input_error;

    ngx_chain_t                    *out;
    ngx_chain_t                   **last;

    ngx_uint_t                      lines;      /* v10 lines sent */

    unsigned                        batch:1;
    unsigned                        jsonl:1;    /* v11 httpBatchStreamLink */
    unsigned                        stream:1;   /* v10 trpc-batch-mode */
    unsigned                        superjson:1;
    unsigned                        async:1;    /* rpc_start() returned */
    unsigned                        head_sent:1;
    unsigned                        finalized:1;
    unsigned                        rejected:1; /* before any call */
    unsigned                        counted:1;  /* in the metrics */
};


ngx_int_t ngx_http_backend_error(ngx_pool_t *pool, ngx_str_t *out,
    ngx_http_backend_error_e code, ngx_str_t *message, ngx_str_t *path,
    ngx_str_t *extra);
ngx_uint_t ngx_http_backend_error_status(ngx_http_backend_error_e code);
ngx_str_t *ngx_http_backend_error_name(ngx_http_backend_error_e code);
/* the procedure families of the metrics, declared in init_main_conf */
ngx_int_t ngx_http_backend_rpc_metrics(ngx_conf_t *cf,
    ngx_http_backend_main_conf_t *bmcf);
/* the request's calls counted, once, when it ends */
void ngx_http_backend_rpc_count(ngx_http_request_t *r,
    ngx_http_backend_ctx_t *ctx);
ngx_int_t ngx_http_backend_send_error(ngx_http_request_t *r,
    ngx_http_backend_error_e code, ngx_str_t *message);
ngx_http_backend_ctx_t *ngx_http_backend_get_ctx(ngx_http_request_t *r);
/*
 * ngx_http_backend_util.c: a file named relative to the prefix, whole and
 * null-terminated; a request header by name (case-insensitive)
 */
ngx_int_t ngx_http_backend_read_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *content);
ngx_table_elt_t *ngx_http_backend_header(ngx_http_request_t *r, u_char *name,
    size_t len);
ngx_table_elt_t *ngx_http_backend_list_header(ngx_list_t *headers,
    u_char *name, size_t len);
/*
 * Bodies are read into memory whole (ngx_http_backend_body.c): the
 * location's client_max_body_size becomes ours to enforce while the body is
 * read (so a too large body gets our error, not nginx's HTML page).
 * Returns the limit.
 */
off_t ngx_http_backend_body_limit(ngx_conf_t *cf);
/* starts reading a body of at most max bytes; NGX_DECLINED: the declared
 * length is over it, the caller answers 413 */
ngx_int_t ngx_http_backend_body_read(ngx_http_request_t *r, off_t max,
    ngx_http_client_body_handler_pt handler);
/* the read body in one piece, null-terminated;
 * NGX_DECLINED: larger than the limit, the caller answers 413 */
ngx_int_t ngx_http_backend_body(ngx_http_request_t *r, ngx_str_t *body);
/* the body handler of backend_rpc locations */
void ngx_http_backend_body_handler(ngx_http_request_t *r);
/* the location has backend_error_page (ngx_http_backend_error.c) */
ngx_uint_t ngx_http_backend_error_page_location(ngx_http_request_t *r);
ngx_int_t ngx_http_backend_request_id(ngx_http_request_t *r, ngx_str_t *id);
ngx_int_t ngx_http_backend_rpc_start(ngx_http_request_t *r,
    ngx_http_backend_ctx_t *ctx, u_char *body, size_t len);
void ngx_http_backend_rpc_call_done(ngx_http_backend_call_t *call);
/* ngx_http_backend_superjson.c: backend_rpc_transformer superjson */
ngx_int_t ngx_http_backend_superjson_input(ngx_pool_t *pool,
    ngx_http_backend_json_t **input, ngx_uint_t batch, ngx_str_t *err);
ngx_int_t ngx_http_backend_superjson_call(ngx_pool_t *pool, ngx_str_t *out,
    ngx_array_t *dates);
ngx_int_t ngx_http_backend_superjson_error(ngx_pool_t *pool, ngx_str_t *out);
ngx_int_t ngx_http_backend_superjson_line(ngx_pool_t *pool, ngx_str_t *line,
    ngx_http_backend_ctx_t *ctx, ngx_http_backend_call_t *one);
/* a call's answer: data (JSON, NULL: undefined), or an error */
void ngx_http_backend_rpc_call_result(ngx_http_backend_call_t *call,
    ngx_str_t *data);
void ngx_http_backend_rpc_call_error(ngx_http_backend_call_t *call,
    ngx_http_backend_error_e code, ngx_str_t *message);
/* the procedure's statement, bound and run (after a call: its answer) */
void ngx_http_backend_rpc_statement(ngx_http_backend_call_t *call);
/* ctx.<field>: the offset of its ngx_str_t in the request's context */
ngx_int_t ngx_http_backend_ctx_field_offset(ngx_str_t *name, size_t *offset);
/* ngx_http_backend_adapter.c: "call" in a procedure block, and a call */
char *ngx_http_backend_adapter_call(ngx_conf_t *cf,
    ngx_http_backend_proc_t *proc);
void ngx_http_backend_adapter_run(ngx_http_backend_call_t *call);


extern ngx_module_t  ngx_http_backend_module;
extern ngx_module_t  ngx_http_backend_adapter_module;


#endif /* _NGX_HTTP_BACKEND_H_INCLUDED_ */
