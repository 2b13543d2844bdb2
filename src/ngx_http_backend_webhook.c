
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_backend.h"
#include "ngx_http_backend_metrics.h"
#include "ngx_http_backend_svix.h"


/*
 * Webhooks signed the Svix way (Clerk's): the signature is checked on the
 * raw body before anything else; a verified delivery is handed to one SQL
 * statement that stores it (unique by its id) and applies it, and the
 * answer is 2xx only once that statement has committed.  Failed applies
 * are retried from a timer of one worker per node.  A delivery that
 * statement can never store (a permanent SQL error, see below) is stored
 * as a dead letter, raw, by a second statement, and then acknowledged.
 */


#define NGX_HTTP_BACKEND_WEBHOOK_MAX_SECRETS  8


/* backend_webhook_deliveries_total's outcomes, as docs/metrics.md */

#define NGX_HTTP_BACKEND_WEBHOOK_APPLIED             0
#define NGX_HTTP_BACKEND_WEBHOOK_DUPLICATE           1
#define NGX_HTTP_BACKEND_WEBHOOK_IGNORED             2
#define NGX_HTTP_BACKEND_WEBHOOK_FAILED              3
#define NGX_HTTP_BACKEND_WEBHOOK_DEAD                4
#define NGX_HTTP_BACKEND_WEBHOOK_REJECTED_SIGNATURE  5
#define NGX_HTTP_BACKEND_WEBHOOK_REJECTED_TIMESTAMP  6
#define NGX_HTTP_BACKEND_WEBHOOK_REJECTED_REQUEST    7
#define NGX_HTTP_BACKEND_WEBHOOK_UNAVAILABLE         8
#define NGX_HTTP_BACKEND_WEBHOOK_OUTCOMES            9


typedef struct {
    ngx_array_t                     secrets;    /* of ngx_str_t, raw bytes */
    time_t                          tolerance;
    ngx_str_t                       database;
    ngx_str_t                       sql;
    ngx_uint_t                      nparams;
    ngx_http_backend_pg_server_t   *server;
    ngx_http_backend_pg_stmt_t     *stmt;
    ngx_str_t                       dead_sql;
    ngx_http_backend_pg_stmt_t     *dead_stmt;
    off_t                           max_body;
    ngx_flag_t                      enabled;
} ngx_http_backend_webhook_loc_conf_t;


typedef struct {
    ngx_str_t                       database;
    ngx_str_t                       sql;
    ngx_http_backend_pg_server_t   *server;
    ngx_http_backend_pg_stmt_t     *stmt;
    ngx_msec_t                      interval;
    ngx_uint_t                      limit;
    ngx_uint_t                      max_attempts;
    ngx_msec_t                      backoff;

    ngx_str_t                       backlog_sql;
    ngx_http_backend_pg_stmt_t     *backlog_stmt;
    u_char                         *backlog_file;
    ngx_uint_t                      backlog_line;

    ngx_http_backend_series_t     **deliveries;     /* by outcome */
    ngx_http_backend_series_t      *retry_rounds;
    ngx_http_backend_series_t      *dead_letters;
    ngx_http_backend_series_t      *backlog;
    ngx_http_backend_series_t      *backlog_oldest;

    /* the worker's (worker 0 only) */
    ngx_event_t                     timer;
    ngx_http_backend_pg_query_t     query;
    ngx_http_backend_pg_query_t     backlog_query;
    char                           *values[3];
    u_char                          buf[3][NGX_INT_T_LEN + 1];
    unsigned                        running:1;
} ngx_http_backend_webhook_main_conf_t;


typedef struct {
    ngx_http_request_t             *request;
    ngx_http_backend_pg_query_t     query;
    char                           *values[3];
    ngx_str_t                       body;
    ngx_http_backend_invalidate_t   invalidate;
    ngx_str_t                       status;
    char                           *dead_values[4];
    unsigned                        running:1;
    unsigned                        invalidating:1;
    unsigned                        dead:1;
} ngx_http_backend_webhook_ctx_t;


static ngx_int_t ngx_http_backend_webhook_handler(ngx_http_request_t *r);
static void ngx_http_backend_webhook_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_backend_webhook_verify(ngx_http_request_t *r,
    ngx_http_backend_webhook_loc_conf_t *wlcf, u_char *body, size_t len,
    ngx_str_t *id, const char **error);
static ngx_str_t *ngx_http_backend_webhook_header(ngx_http_request_t *r,
    const char *name);
static void ngx_http_backend_webhook_query_handler(
    ngx_http_backend_pg_query_t *q);
static ngx_uint_t ngx_http_backend_webhook_permanent(u_char *sqlstate);
static ngx_int_t ngx_http_backend_webhook_dead_letter(
    ngx_http_backend_webhook_ctx_t *ctx, PGresult *res);
static void ngx_http_backend_webhook_invalidated(
    ngx_http_backend_invalidate_t *inv);
static ngx_int_t ngx_http_backend_webhook_reply(ngx_http_request_t *r,
    ngx_uint_t status, const char *key, ngx_str_t *value);
static void ngx_http_backend_webhook_cleanup(void *data);
static void ngx_http_backend_webhook_count(ngx_http_request_t *r,
    ngx_uint_t outcome);
static ngx_uint_t ngx_http_backend_webhook_outcome(
    ngx_http_backend_webhook_ctx_t *ctx);

static int ngx_http_backend_webhook_col(PGresult *res, const char *name,
    int position);
static void ngx_http_backend_webhook_retry(ngx_event_t *ev);
static void ngx_http_backend_webhook_retried(ngx_http_backend_pg_query_t *q);
static void ngx_http_backend_webhook_next(
    ngx_http_backend_webhook_main_conf_t *wmcf, ngx_log_t *log);
static void ngx_http_backend_webhook_backlog(ngx_http_backend_pg_query_t *q);
static ngx_int_t ngx_http_backend_webhook_metrics(ngx_conf_t *cf,
    ngx_http_backend_webhook_main_conf_t *wmcf);

static void *ngx_http_backend_webhook_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_backend_webhook_init_main_conf(ngx_conf_t *cf,
    void *conf);
static void *ngx_http_backend_webhook_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_backend_webhook_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static ngx_int_t ngx_http_backend_webhook_init_process(ngx_cycle_t *cycle);

static char *ngx_http_backend_webhook(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_backend_webhook_secret(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_backend_webhook_sql(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_backend_webhook_dead_letter_sql(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_backend_webhook_retry_conf(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_backend_webhook_backlog_sql(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);


/* the label values of backend_webhook_deliveries_total, in order */

static ngx_str_t  ngx_http_backend_webhook_outcomes[] = {
    ngx_string("applied"),
    ngx_string("duplicate"),
    ngx_string("ignored"),
    ngx_string("failed"),
    ngx_string("dead"),
    ngx_string("rejected_signature"),
    ngx_string("rejected_timestamp"),
    ngx_string("rejected_request"),
    ngx_string("unavailable")
};


static ngx_command_t  ngx_http_backend_webhook_commands[] = {

    { ngx_string("backend_webhook"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_backend_webhook,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("backend_webhook_secret"),
      NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_backend_webhook_secret,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("backend_webhook_tolerance"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_backend_webhook_loc_conf_t, tolerance),
      NULL },

    { ngx_string("backend_webhook_sql"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_backend_webhook_sql,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("backend_webhook_dead_letter_sql"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_backend_webhook_dead_letter_sql,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("backend_webhook_retry"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_backend_webhook_retry_conf,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("backend_webhook_backlog_sql"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_backend_webhook_backlog_sql,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_backend_webhook_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_backend_webhook_create_main_conf, /* create main configuration */
    ngx_http_backend_webhook_init_main_conf, /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_backend_webhook_create_loc_conf, /* create location conf */
    ngx_http_backend_webhook_merge_loc_conf /* merge location configuration */
};


ngx_module_t  ngx_http_backend_webhook_module = {
    NGX_MODULE_V1,
    &ngx_http_backend_webhook_module_ctx,  /* module context */
    ngx_http_backend_webhook_commands,     /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_backend_webhook_init_process, /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_backend_webhook_handler(ngx_http_request_t *r)
{
    ngx_int_t                             rc;
    ngx_http_backend_webhook_loc_conf_t  *wlcf;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_backend_webhook_module);

    if (ngx_http_backend_get_ctx(r) == NULL) {
        ngx_http_backend_webhook_count(r, NGX_HTTP_BACKEND_WEBHOOK_UNAVAILABLE);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method != NGX_HTTP_POST) {
        ngx_http_backend_webhook_count(r,
                                   NGX_HTTP_BACKEND_WEBHOOK_REJECTED_REQUEST);

        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_backend_webhook_reply(r, NGX_HTTP_NOT_ALLOWED,
                                              "error", NULL);
    }

    rc = ngx_http_backend_body_read(r, wlcf->max_body,
                                    ngx_http_backend_webhook_body);

    if (rc == NGX_DECLINED) {
        ngx_http_backend_webhook_count(r,
                                   NGX_HTTP_BACKEND_WEBHOOK_REJECTED_REQUEST);
        return ngx_http_backend_webhook_reply(r,
                                          NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                          "error", NULL);
    }

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        ngx_http_backend_webhook_count(r,
                                   rc >= NGX_HTTP_INTERNAL_SERVER_ERROR
                                   ? NGX_HTTP_BACKEND_WEBHOOK_UNAVAILABLE
                                   : NGX_HTTP_BACKEND_WEBHOOK_REJECTED_REQUEST);
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_backend_webhook_body(ngx_http_request_t *r)
{
    u_char                               *body;
    size_t                                len;
    ngx_int_t                             rc;
    ngx_str_t                             id, msg, *type_str, err, raw;
    const char                           *error;
    ngx_pool_cleanup_t                   *cln;
    ngx_http_backend_ctx_t               *bctx;
    ngx_http_backend_json_t              *json, *type;
    ngx_http_backend_webhook_ctx_t       *ctx;
    ngx_http_backend_webhook_loc_conf_t  *wlcf;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_backend_webhook_module);

    /* null-terminated: the payload is bound as a statement parameter */

    rc = ngx_http_backend_body(r, &raw);

    if (rc == NGX_ERROR) {
        goto failed;
    }

    if (rc == NGX_DECLINED) {
        ngx_http_backend_webhook_count(r,
                                   NGX_HTTP_BACKEND_WEBHOOK_REJECTED_REQUEST);
        ngx_http_finalize_request(r, ngx_http_backend_webhook_reply(r,
                                      NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                      "error", NULL));
        return;
    }

    body = raw.data;
    len = raw.len;

    /* the signature, on the raw body, before anything looks at it */

    if (ngx_http_backend_webhook_verify(r, wlcf, body, len, &id, &error)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "backend webhook: rejected: %s", error);

        /* the svix errors that are about the timestamp, not the MAC */

        ngx_http_backend_webhook_count(r, ngx_strstr(error, "timestamp")
                              ? NGX_HTTP_BACKEND_WEBHOOK_REJECTED_TIMESTAMP
                              : NGX_HTTP_BACKEND_WEBHOOK_REJECTED_SIGNATURE);

        msg.data = (u_char *) error;
        msg.len = ngx_strlen(error);

        ngx_http_finalize_request(r, ngx_http_backend_webhook_reply(r,
                     ngx_strcmp(error, "invalid signature") == 0
                     ? NGX_HTTP_UNAUTHORIZED : NGX_HTTP_BAD_REQUEST,
                     "error", &msg));
        return;
    }

    if (ngx_http_backend_json_parse(r->pool, body, len, 64, &json, &err)
        != NGX_OK
        || json->type != NGX_HTTP_BACKEND_JSON_OBJECT
        || (type = ngx_http_backend_json_get(json, (u_char *) "type", 4))
           == NULL
        || type->type != NGX_HTTP_BACKEND_JSON_STRING)
    {
        ngx_http_backend_webhook_count(r,
                                   NGX_HTTP_BACKEND_WEBHOOK_REJECTED_REQUEST);
        ngx_str_set(&msg, "the payload is not an event");
        ngx_http_finalize_request(r, ngx_http_backend_webhook_reply(r,
                                      NGX_HTTP_BAD_REQUEST, "error", &msg));
        return;
    }

    type_str = &type->string;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_backend_webhook_ctx_t));
    if (ctx == NULL) {
        goto failed;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        goto failed;
    }

    cln->handler = ngx_http_backend_webhook_cleanup;
    cln->data = ctx;

    ctx->request = r;

    ctx->values[0] = ngx_pnalloc(r->pool, id.len + 1);
    ctx->values[1] = ngx_pnalloc(r->pool, type_str->len + 1);
    if (ctx->values[0] == NULL || ctx->values[1] == NULL) {
        goto failed;
    }

    *ngx_cpymem(ctx->values[0], id.data, id.len) = '\0';
    *ngx_cpymem(ctx->values[1], type_str->data, type_str->len) = '\0';

    /* every error-log line of the delivery names it from now on */

    bctx = ngx_http_get_module_ctx(r, ngx_http_backend_module);
    if (bctx) {
        bctx->event_id.data = (u_char *) ctx->values[0];
        bctx->event_id.len = id.len;
    }
    ctx->values[2] = (char *) body;
    ctx->body = raw;

    ctx->query.server = wlcf->server;
    ctx->query.stmt = wlcf->stmt;
    ctx->query.values = ctx->values;
    ctx->query.handler = ngx_http_backend_webhook_query_handler;
    ctx->query.data = ctx;
    ctx->query.log = r->connection->log;

    if (ngx_http_backend_pg_run(&ctx->query) == NGX_OK) {
        ctx->running = 1;
        return;
    }

    ngx_http_backend_webhook_query_handler(&ctx->query);
    return;

failed:

    ngx_http_backend_webhook_count(r, NGX_HTTP_BACKEND_WEBHOOK_UNAVAILABLE);
    ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
}


/* svix-id, svix-timestamp, svix-signature (or webhook-*) */

static ngx_int_t
ngx_http_backend_webhook_verify(ngx_http_request_t *r,
    ngx_http_backend_webhook_loc_conf_t *wlcf, u_char *body, size_t len,
    ngx_str_t *id, const char **error)
{
    ngx_int_t   rc;
    ngx_str_t  *hid, *hts, *hsig;

    hid = ngx_http_backend_webhook_header(r, "id");
    hts = ngx_http_backend_webhook_header(r, "timestamp");
    hsig = ngx_http_backend_webhook_header(r, "signature");

    rc = ngx_http_backend_svix_verify(&wlcf->secrets, wlcf->tolerance,
                                      ngx_time(), hid, hts, hsig, body, len,
                                      error);
    if (rc == NGX_OK) {
        *id = *hid;
    }

    return rc;
}


static ngx_str_t *
ngx_http_backend_webhook_header(ngx_http_request_t *r, const char *name)
{
    u_char            key[32];
    size_t            len;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);

    ngx_memcpy(key, "svix-", 5);
    ngx_memcpy(key + 5, name, len);

    h = ngx_http_backend_header(r, key, 5 + len);

    if (h == NULL) {
        ngx_memcpy(key, "webhook-", 8);
        ngx_memcpy(key + 8, name, len);

        h = ngx_http_backend_header(r, key, 8 + len);
    }

    if (h == NULL || h->value.len == 0) {
        return NULL;
    }

    return &h->value;
}


static void
ngx_http_backend_webhook_query_handler(ngx_http_backend_pg_query_t *q)
{
    int                                    col;
    ngx_int_t                              rc;
    ngx_str_t                              msg;
    PGresult                              *res;
    ngx_uint_t                             outcome;
    ngx_http_request_t                    *r;
    ngx_http_backend_webhook_ctx_t        *ctx;
    ngx_http_backend_webhook_loc_conf_t   *wlcf;
    ngx_http_backend_webhook_main_conf_t  *wmcf;

    ctx = q->data;
    ctx->running = 0;
    r = ctx->request;

    res = q->result;
    q->result = NULL;

    if (q->status == NGX_HTTP_BACKEND_PG_SQL_ERROR && !ctx->dead
        && ngx_http_backend_webhook_permanent(q->sqlstate))
    {
        wlcf = ngx_http_get_module_loc_conf(r,
                                            ngx_http_backend_webhook_module);

        if (wlcf->dead_stmt) {
            /* every delivery would fail alike: stored raw, acknowledged */

            ctx->dead = 1;

            rc = ngx_http_backend_webhook_dead_letter(ctx, res);

            if (res) {
                PQclear(res);
            }

            if (rc == NGX_OK) {
                ctx->running = 1;
                return;
            }

            if (rc == NGX_ERROR) {
                goto failed;
            }

            /* NGX_DECLINED: the dead-letter statement failed at once */

            ngx_http_backend_webhook_query_handler(q);
            return;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "backend webhook: \"%s\": SQLSTATE %s will not go away "
                      "on redelivery, but there is no "
                      "backend_webhook_dead_letter_sql to store it",
                      ctx->values[0], q->sqlstate);
    }

    if (q->status != NGX_HTTP_BACKEND_PG_OK) {
        /* not stored: not acknowledged, so that Svix delivers it again */

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "backend webhook: \"%s\" not stored%s (%s%s), "
                      "answered 503 so that it is delivered again",
                      ctx->values[0], ctx->dead ? " as a dead letter" : "",
                      q->status == NGX_HTTP_BACKEND_PG_SQL_ERROR
                      ? "SQLSTATE " : "database ",
                      q->status == NGX_HTTP_BACKEND_PG_SQL_ERROR
                      ? (char *) q->sqlstate
                      : q->status == NGX_HTTP_BACKEND_PG_TIMEOUT
                        ? "timeout" : "unavailable");

        if (res) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "backend webhook: %s", PQresultErrorMessage(res));
            PQclear(res);
        }

        ngx_http_backend_webhook_count(r,
                                       NGX_HTTP_BACKEND_WEBHOOK_UNAVAILABLE);

        ngx_str_set(&msg, "not stored, retry later");
        ngx_http_finalize_request(r, ngx_http_backend_webhook_reply(r,
                                      NGX_HTTP_SERVICE_UNAVAILABLE, "error",
                                      &msg));
        return;
    }

    ngx_str_set(&ctx->status, "stored");

    if (PQntuples(res) > 0) {
        col = ngx_http_backend_webhook_col(res, "status", 0);

        if (col >= 0 && !PQgetisnull(res, 0, col)) {
            ctx->status.len = PQgetlength(res, 0, col);
            ctx->status.data = ngx_pnalloc(r->pool, ctx->status.len);
            if (ctx->status.data == NULL) {
                PQclear(res);
                goto failed;
            }

            ngx_memcpy(ctx->status.data, PQgetvalue(res, 0, col),
                       ctx->status.len);
        }

        col = ngx_http_backend_pg_column(res, "clerk_user");

        if (col >= 0 && !PQgetisnull(res, 0, col)) {
            ctx->invalidate.id.len = PQgetlength(res, 0, col);
            ctx->invalidate.id.data = ngx_pnalloc(r->pool,
                                                  ctx->invalidate.id.len);
            if (ctx->invalidate.id.data == NULL) {
                PQclear(res);
                goto failed;
            }

            ngx_memcpy(ctx->invalidate.id.data, PQgetvalue(res, 0, col),
                       ctx->invalidate.id.len);
        }
    }

    PQclear(res);

    /* stored and committed: the answer is a 200 now, whatever follows */

    outcome = ngx_http_backend_webhook_outcome(ctx);

    ngx_http_backend_webhook_count(r, outcome);

    if (outcome == NGX_HTTP_BACKEND_WEBHOOK_DEAD) {
        wmcf = ngx_http_get_module_main_conf(r,
                                             ngx_http_backend_webhook_module);
        ngx_http_backend_metrics_add(wmcf->dead_letters, 1);
    }

    if (ctx->dead
        && ctx->status.len == 4 && ngx_strncmp(ctx->status.data, "dead", 4)
           == 0)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "backend webhook: \"%s\" dead-lettered, answered "
                      "200 (%s, SQLSTATE %s): it needs a person",
                      ctx->values[0], ctx->values[1], ctx->dead_values[3]);

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "backend webhook: \"%s\" (%s): %V", ctx->values[0],
                      ctx->values[1], &ctx->status);
    }

    if (ctx->invalidate.id.len) {
        /* the user's cached context goes before the answer */

        ctx->invalidate.what = NGX_HTTP_BACKEND_INVALIDATE_USER;
        ctx->invalidate.handler = ngx_http_backend_webhook_invalidated;
        ctx->invalidate.data = ctx;
        ctx->invalidate.log = r->connection->log;

        rc = ngx_http_backend_auth_invalidate((ngx_cycle_t *) ngx_cycle,
                                              &ctx->invalidate);
        if (rc == NGX_OK) {
            ctx->invalidating = 1;
            return;
        }
    }

    ngx_http_finalize_request(r, ngx_http_backend_webhook_reply(r,
                                  NGX_HTTP_OK, "status", &ctx->status));
    return;

failed:

    ngx_http_backend_webhook_count(r, NGX_HTTP_BACKEND_WEBHOOK_UNAVAILABLE);
    ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
}


/*
 * The statement's status: applied, duplicate, ignored, failed (stored for
 * the retries), dead (stored as a dead letter); a statement without a
 * status column, or with a word of its own, stored the event: applied
 */

static ngx_uint_t
ngx_http_backend_webhook_outcome(ngx_http_backend_webhook_ctx_t *ctx)
{
    ngx_str_t   *word;
    ngx_uint_t   i;

    word = ngx_http_backend_webhook_outcomes;

    for (i = 0; i <= NGX_HTTP_BACKEND_WEBHOOK_DEAD; i++) {
        if (ctx->status.len == word[i].len
            && ngx_strncmp(ctx->status.data, word[i].data, word[i].len) == 0)
        {
            return i;
        }
    }

    return NGX_HTTP_BACKEND_WEBHOOK_APPLIED;
}


static void
ngx_http_backend_webhook_count(ngx_http_request_t *r, ngx_uint_t outcome)
{
    ngx_http_backend_webhook_main_conf_t  *wmcf;

    wmcf = ngx_http_get_module_main_conf(r, ngx_http_backend_webhook_module);

    ngx_http_backend_metrics_add(wmcf->deliveries[outcome], 1);
}


static void
ngx_http_backend_webhook_invalidated(ngx_http_backend_invalidate_t *inv)
{
    ngx_http_backend_webhook_ctx_t  *ctx;

    ctx = inv->data;
    ctx->invalidating = 0;

    ngx_http_finalize_request(ctx->request,
                              ngx_http_backend_webhook_reply(ctx->request,
                                  NGX_HTTP_OK, "status", &ctx->status));
}


/*
 * Errors that the same delivery would meet again, however often Svix
 * retried it: data exceptions (22: a value the column or type refuses,
 * such as jsonb's \u0000, 22P05), integrity violations of the row itself
 * (23, but 23001, 23503 and 23P01, which depend on other rows that may
 * change; a 23505 on the event's id finds it stored, a duplicate), and
 * program limits (54).  The rest (08, 53, 57, 40, 42, 55, P0, ...) may
 * go away: a server back, a deploy fixed.
 */

static ngx_uint_t
ngx_http_backend_webhook_permanent(u_char *sqlstate)
{
    if (ngx_strlen(sqlstate) != 5) {
        return 0;
    }

    if (ngx_strncmp(sqlstate, "22", 2) == 0
        || ngx_strncmp(sqlstate, "54", 2) == 0)
    {
        return 1;
    }

    if (ngx_strncmp(sqlstate, "23", 2) == 0) {
        return ngx_strcmp(sqlstate, "23001") != 0
               && ngx_strcmp(sqlstate, "23503") != 0
               && ngx_strcmp(sqlstate, "23P01") != 0;
    }

    return 0;
}


/*
 * backend_webhook_dead_letter_sql: $1 the id, $2 the type, $3 the raw body
 * as bytea's hex text (it may hold what text cannot), $4 the error,
 * "SQLSTATE: message".  NGX_OK: running; NGX_DECLINED: failed at once,
 * ctx->query.status says why.
 */

static ngx_int_t
ngx_http_backend_webhook_dead_letter(ngx_http_backend_webhook_ctx_t *ctx,
    PGresult *res)
{
    u_char                               *p;
    size_t                                len, plen, dlen;
    char                                 *primary, *detail;
    ngx_http_request_t                   *r;
    ngx_http_backend_webhook_loc_conf_t  *wlcf;

    r = ctx->request;
    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_backend_webhook_module);

    primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;

    plen = primary ? ngx_strlen(primary) : 0;
    dlen = detail ? ngx_strlen(detail) : 0;

    len = 5 + sizeof(": ") - 1 + plen + sizeof(" ()") - 1 + dlen + 1;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->dead_values[3] = (char *) p;

    p = ngx_cpymem(p, ctx->query.sqlstate, 5);
    p = ngx_cpymem(p, ": ", 2);
    p = ngx_cpymem(p, primary, plen);

    if (dlen) {
        p = ngx_sprintf(p, " (%*s)", dlen, detail);
    }

    *p = '\0';

    p = ngx_pnalloc(r->pool, 2 + 2 * ctx->body.len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->dead_values[2] = (char *) p;

    *p++ = '\\';
    *p++ = 'x';
    p = ngx_hex_dump(p, ctx->body.data, ctx->body.len);
    *p = '\0';

    ctx->dead_values[0] = ctx->values[0];
    ctx->dead_values[1] = ctx->values[1];

    ctx->query.stmt = wlcf->dead_stmt;
    ctx->query.values = ctx->dead_values;

    return ngx_http_backend_pg_run(&ctx->query);
}


/* {"status":"applied"} or {"error":"..."} */

static ngx_int_t
ngx_http_backend_webhook_reply(ngx_http_request_t *r, ngx_uint_t status,
    const char *key, ngx_str_t *value)
{
    u_char       *p;
    size_t        len;
    ngx_buf_t    *b;
    ngx_str_t     v;
    ngx_int_t         rc;
    ngx_chain_t       out;
    ngx_table_elt_t  *h;

    switch (status) {
    case NGX_HTTP_NOT_ALLOWED:
        ngx_str_set(&v, "method not allowed");
        break;
    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        ngx_str_set(&v, "payload too large");
        break;
    default:
        ngx_str_set(&v, "error");
    }

    if (value) {
        v = *value;
    }

    len = sizeof("{\"\":}") - 1 + ngx_strlen(key)
          + ngx_http_backend_json_str_len(v.data, v.len);

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(b->last, "{\"%s\":", key);
    p = ngx_http_backend_json_str_write(p, v.data, v.len);
    *p++ = '}';

    b->last = p;
    b->last_buf = (r == r->main);
    b->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    if (status == NGX_HTTP_NOT_ALLOWED) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        ngx_str_set(&h->value, "POST");
    }

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static void
ngx_http_backend_webhook_cleanup(void *data)
{
    ngx_http_backend_webhook_ctx_t *ctx = data;

    if (ctx->running) {
        /* the statement runs to its end: the event is stored or not */
        ngx_http_backend_pg_abort(&ctx->query);
        ctx->running = 0;
    }

    if (ctx->invalidating) {
        ngx_http_backend_auth_invalidate_cancel(&ctx->invalidate);
        ctx->invalidating = 0;
    }
}


/* a column by name, else the one at the position the convention gives */

static int
ngx_http_backend_webhook_col(PGresult *res, const char *name, int position)
{
    int  col;

    col = ngx_http_backend_pg_column(res, name);

    return (col >= 0 || position >= PQnfields(res)) ? col : position;
}


/* the retries: one statement per interval, in worker 0 of each node */

static void
ngx_http_backend_webhook_retry(ngx_event_t *ev)
{
    ngx_http_backend_webhook_main_conf_t  *wmcf;

    wmcf = ev->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    if (!wmcf->running) {
        ngx_http_backend_metrics_add(wmcf->retry_rounds, 1);

        wmcf->query.server = wmcf->server;
        wmcf->query.stmt = wmcf->stmt;
        wmcf->query.values = wmcf->values;
        wmcf->query.handler = ngx_http_backend_webhook_retried;
        wmcf->query.data = wmcf;
        wmcf->query.log = ev->log;

        if (ngx_http_backend_pg_run(&wmcf->query) == NGX_OK) {
            wmcf->running = 1;
            return;
        }
    }

    ngx_add_timer(&wmcf->timer, wmcf->interval);
}


static void
ngx_http_backend_webhook_retried(ngx_http_backend_pg_query_t *q)
{
    int                                    scol, ucol, icol, i, n;
    char                                  *status;
    PGresult                              *res;
    ngx_uint_t                             applied, failed, dead;
    ngx_http_backend_invalidate_t          inv;
    ngx_http_backend_webhook_main_conf_t  *wmcf;

    wmcf = q->data;
    wmcf->running = 0;

    res = q->result;
    q->result = NULL;

    if (q->status != NGX_HTTP_BACKEND_PG_OK) {
        ngx_log_error(NGX_LOG_WARN, q->log, 0,
                      "backend webhook: retry statement failed (%s), "
                      "trying again in %M ms",
                      q->status == NGX_HTTP_BACKEND_PG_SQL_ERROR
                      ? (char *) q->sqlstate : "database unavailable",
                      wmcf->interval);
        goto next;
    }

    n = PQntuples(res);
    icol = ngx_http_backend_webhook_col(res, "svix_id", 0);
    scol = ngx_http_backend_webhook_col(res, "status", 1);
    ucol = ngx_http_backend_pg_column(res, "clerk_user");

    applied = failed = dead = 0;

    for (i = 0; i < n; i++) {
        status = (scol >= 0) ? PQgetvalue(res, i, scol) : "";

        if (ngx_strcmp(status, "dead") == 0) {
            dead++;
            ngx_log_error(NGX_LOG_ERR, q->log, 0,
                          "backend webhook: \"%s\" dead-lettered after its "
                          "last attempt", PQgetvalue(res, i, icol));

        } else if (ngx_strcmp(status, "failed") == 0) {
            failed++;

        } else {
            applied++;
        }

        if (ucol < 0 || PQgetisnull(res, i, ucol)) {
            continue;
        }

        /* no handler: nobody waits, the invalidation copies the id */

        ngx_memzero(&inv, sizeof(ngx_http_backend_invalidate_t));

        inv.what = NGX_HTTP_BACKEND_INVALIDATE_USER;
        inv.id.data = (u_char *) PQgetvalue(res, i, ucol);
        inv.id.len = PQgetlength(res, i, ucol);
        inv.log = q->log;

        (void) ngx_http_backend_auth_invalidate((ngx_cycle_t *) ngx_cycle,
                                                &inv);
    }

    if (n) {
        ngx_log_error(NGX_LOG_NOTICE, q->log, 0,
                      "backend webhook: retried %d event(s): %ui applied, "
                      "%ui failed again, %ui dead", n, applied, failed, dead);
    }

    ngx_http_backend_metrics_add(wmcf->dead_letters, dead);

next:

    if (res) {
        PQclear(res);
    }

    ngx_http_backend_webhook_next(wmcf, q->log);
}


/*
 * After each round, what is still due: backend_webhook_backlog_sql, then
 * the next round.  Its failure only leaves the gauges as they were.
 */

static void
ngx_http_backend_webhook_next(ngx_http_backend_webhook_main_conf_t *wmcf,
    ngx_log_t *log)
{
    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    if (wmcf->backlog_stmt && !wmcf->running) {
        wmcf->backlog_query.server = wmcf->server;
        wmcf->backlog_query.stmt = wmcf->backlog_stmt;
        wmcf->backlog_query.values = NULL;
        wmcf->backlog_query.handler = ngx_http_backend_webhook_backlog;
        wmcf->backlog_query.data = wmcf;
        wmcf->backlog_query.log = log;
        wmcf->backlog_query.read_only = 1;

        if (ngx_http_backend_pg_run(&wmcf->backlog_query) == NGX_OK) {
            wmcf->running = 1;
            return;
        }
    }

    ngx_add_timer(&wmcf->timer, wmcf->interval);
}


/* one row: the failed events due (due), the age of the oldest (seconds) */

static void
ngx_http_backend_webhook_backlog(ngx_http_backend_pg_query_t *q)
{
    int                                    col[2], i, len;
    char                                  *v;
    PGresult                              *res;
    ngx_int_t                              n[2];
    ngx_http_backend_webhook_main_conf_t  *wmcf;

    wmcf = q->data;
    wmcf->running = 0;

    res = q->result;
    q->result = NULL;

    if (q->status != NGX_HTTP_BACKEND_PG_OK || PQntuples(res) != 1) {
        ngx_log_error(NGX_LOG_WARN, q->log, 0,
                      "backend webhook: backlog statement failed (%s)",
                      q->status == NGX_HTTP_BACKEND_PG_SQL_ERROR
                      ? (char *) q->sqlstate
                      : q->status == NGX_HTTP_BACKEND_PG_OK
                        ? "not one row" : "database unavailable");
        goto next;
    }

    col[0] = ngx_http_backend_webhook_col(res, "due", 0);
    col[1] = ngx_http_backend_webhook_col(res, "oldest_seconds", 1);

    for (i = 0; i < 2; i++) {
        n[i] = 0;

        if (col[i] < 0 || PQgetisnull(res, 0, col[i])) {
            continue;
        }

        /* whole seconds of a numeric or a double */

        v = PQgetvalue(res, 0, col[i]);

        for (len = 0; v[len] >= '0' && v[len] <= '9'; len++) {
            /* void */
        }

        n[i] = ngx_atoi((u_char *) v, len);

        if (n[i] == NGX_ERROR) {
            n[i] = 0;
        }
    }

    ngx_http_backend_metrics_set(wmcf->backlog, n[0]);
    ngx_http_backend_metrics_set(wmcf->backlog_oldest, n[1]);

next:

    if (res) {
        PQclear(res);
    }

    if (!ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_add_timer(&wmcf->timer, wmcf->interval);
    }
}


static void *
ngx_http_backend_webhook_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_backend_webhook_main_conf_t  *wmcf;

    wmcf = ngx_pcalloc(cf->pool,
                       sizeof(ngx_http_backend_webhook_main_conf_t));
    if (wmcf == NULL) {
        return NULL;
    }

    return wmcf;
}


static char *
ngx_http_backend_webhook_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_backend_webhook_main_conf_t *wmcf = conf;

    ngx_uint_t  n;

    if (ngx_http_backend_webhook_metrics(cf, wmcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (wmcf->sql.len == 0) {
        if (wmcf->backlog_sql.len) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "backend_webhook_backlog_sql in %s:%ui is run "
                          "after each round of backend_webhook_retry, "
                          "which is not configured",
                          wmcf->backlog_file, wmcf->backlog_line);
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    wmcf->server = ngx_http_backend_pg_server(cf, &wmcf->database);
    if (wmcf->server == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "backend_webhook_retry needs a database: no "
                      "backend_pg \"%V\"", &wmcf->database);
        return NGX_CONF_ERROR;
    }

    (void) ngx_http_backend_pg_sql_params(&wmcf->sql, &n);

    wmcf->stmt = ngx_http_backend_pg_stmt_add(cf, wmcf->server, &wmcf->sql,
                                              n);
    if (wmcf->stmt == NULL) {
        return NGX_CONF_ERROR;
    }

    if (wmcf->backlog_sql.len) {
        wmcf->backlog_stmt = ngx_http_backend_pg_stmt_add(cf, wmcf->server,
                                                          &wmcf->backlog_sql,
                                                          0);
        if (wmcf->backlog_stmt == NULL) {
            return NGX_CONF_ERROR;
        }

        /* 0 is an answer: nothing is due */
        wmcf->backlog->always = 1;
        wmcf->backlog_oldest->always = 1;
    }

    return NGX_CONF_OK;
}


/* the families of docs/metrics.md's Webhooks table */

static ngx_int_t
ngx_http_backend_webhook_metrics(ngx_conf_t *cf,
    ngx_http_backend_webhook_main_conf_t *wmcf)
{
    ngx_uint_t                  i;
    ngx_http_backend_family_t  *f;

    f = ngx_http_backend_metrics_family(cf, "backend_webhook_deliveries_total",
                                        "Webhook deliveries, by answer.",
                                        NGX_HTTP_BACKEND_COUNTER, "outcome");
    if (f == NULL) {
        return NGX_ERROR;
    }

    wmcf->deliveries = ngx_palloc(cf->pool,
                                  NGX_HTTP_BACKEND_WEBHOOK_OUTCOMES
                                  * sizeof(ngx_http_backend_series_t *));
    if (wmcf->deliveries == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_BACKEND_WEBHOOK_OUTCOMES; i++) {
        wmcf->deliveries[i] = ngx_http_backend_metrics_series(cf, f,
                                     &ngx_http_backend_webhook_outcomes[i]);
        if (wmcf->deliveries[i] == NULL) {
            return NGX_ERROR;
        }
    }

    f = ngx_http_backend_metrics_family(cf,
                                        "backend_webhook_retry_rounds_total",
                                        "Rounds of the webhook retry timer.",
                                        NGX_HTTP_BACKEND_COUNTER, NULL);
    if (f == NULL) {
        return NGX_ERROR;
    }

    wmcf->retry_rounds = ngx_http_backend_metrics_series1(cf, f, NULL);

    f = ngx_http_backend_metrics_family(cf,
                                        "backend_webhook_dead_letters_total",
                                        "Webhook events moved to the dead "
                                        "letters.",
                                        NGX_HTTP_BACKEND_COUNTER, NULL);
    if (f == NULL) {
        return NGX_ERROR;
    }

    wmcf->dead_letters = ngx_http_backend_metrics_series1(cf, f, NULL);

    f = ngx_http_backend_metrics_family(cf, "backend_webhook_backlog",
                                        "Failed webhook events due for a "
                                        "retry.",
                                        NGX_HTTP_BACKEND_GAUGE_MAX, NULL);
    if (f == NULL) {
        return NGX_ERROR;
    }

    wmcf->backlog = ngx_http_backend_metrics_series1(cf, f, NULL);

    f = ngx_http_backend_metrics_family(cf,
                                    "backend_webhook_backlog_oldest_seconds",
                                    "Age of the oldest failed webhook event "
                                    "due for a retry.",
                                    NGX_HTTP_BACKEND_GAUGE_MAX, NULL);
    if (f == NULL) {
        return NGX_ERROR;
    }

    wmcf->backlog_oldest = ngx_http_backend_metrics_series1(cf, f, NULL);

    if (wmcf->retry_rounds == NULL || wmcf->dead_letters == NULL
        || wmcf->backlog == NULL || wmcf->backlog_oldest == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void *
ngx_http_backend_webhook_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_backend_webhook_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_backend_webhook_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->sql = { 0, NULL };
     *     conf->dead_sql = { 0, NULL };
     *     conf->max_body = 0;
     */

    if (ngx_array_init(&conf->secrets, cf->pool, 2, sizeof(ngx_str_t))
        != NGX_OK)
    {
        return NULL;
    }

    conf->tolerance = NGX_CONF_UNSET;
    conf->enabled = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_backend_webhook_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_backend_webhook_loc_conf_t *prev = parent;
    ngx_http_backend_webhook_loc_conf_t *conf = child;

    ngx_conf_merge_value(conf->tolerance, prev->tolerance, 300);

    if (conf->enabled != 1) {
        conf->enabled = 0;
        return NGX_CONF_OK;
    }

    if (conf->secrets.nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "backend_webhook needs backend_webhook_secret");
        return NGX_CONF_ERROR;
    }

    if (conf->sql.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "backend_webhook needs backend_webhook_sql");
        return NGX_CONF_ERROR;
    }

    conf->server = ngx_http_backend_pg_server(cf, &conf->database);
    if (conf->server == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "backend_webhook_sql needs a database: no "
                           "backend_pg%s%V%s", conf->database.len ? " \"" : "",
                           &conf->database, conf->database.len ? "\"" : "");
        return NGX_CONF_ERROR;
    }

    conf->stmt = ngx_http_backend_pg_stmt_add(cf, conf->server, &conf->sql,
                                              conf->nparams);
    if (conf->stmt == NULL) {
        return NGX_CONF_ERROR;
    }

    if (conf->dead_sql.len) {
        conf->dead_stmt = ngx_http_backend_pg_stmt_add(cf, conf->server,
                                                       &conf->dead_sql, 4);
        if (conf->dead_stmt == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    /* a too large body gets a webhook reply */
    conf->max_body = ngx_http_backend_body_limit(cf);

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_backend_webhook_init_process(ngx_cycle_t *cycle)
{
    ngx_http_backend_webhook_main_conf_t  *wmcf;

    wmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                             ngx_http_backend_webhook_module);

    /* one worker per node retries; several nodes are kept apart by SQL */

    if (wmcf == NULL || wmcf->stmt == NULL || ngx_worker != 0
        || ngx_process != NGX_PROCESS_WORKER)
    {
        return NGX_OK;
    }

    wmcf->values[0] = (char *) wmcf->buf[0];
    wmcf->values[1] = (char *) wmcf->buf[1];
    wmcf->values[2] = (char *) wmcf->buf[2];

    ngx_sprintf(wmcf->buf[0], "%ui%Z", wmcf->limit);
    ngx_sprintf(wmcf->buf[1], "%ui%Z", wmcf->max_attempts);
    ngx_sprintf(wmcf->buf[2], "%M%Z", wmcf->backoff);

    wmcf->timer.handler = ngx_http_backend_webhook_retry;
    wmcf->timer.data = wmcf;
    wmcf->timer.log = cycle->log;
    wmcf->timer.cancelable = 1;

    ngx_add_timer(&wmcf->timer, wmcf->interval);

    return NGX_OK;
}


static char *
ngx_http_backend_webhook(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_backend_webhook_loc_conf_t *wlcf = conf;

    ngx_str_t                 *value;
    ngx_http_core_loc_conf_t  *clcf;

    if (wlcf->enabled != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "svix") != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown webhook scheme \"%V\": only \"svix\" "
                           "(Clerk's) is supported", &value[1]);
        return NGX_CONF_ERROR;
    }

    wlcf->enabled = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_backend_webhook_handler;

    return NGX_CONF_OK;
}


/* files of "whsec_<base64>" secrets, whitespace-separated: rotation */

static char *
ngx_http_backend_webhook_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_backend_webhook_loc_conf_t *wlcf = conf;

    u_char      *p, *last, *start;
    ngx_str_t   *value, content, enc, *secret;
    ngx_uint_t   i;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_http_backend_read_file(cf, &value[i], &content) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        p = content.data;
        last = content.data + content.len;

        while (p < last) {
            while (p < last && (*p == ' ' || *p == '\n' || *p == '\r'
                                || *p == '\t'))
            {
                p++;
            }

            start = p;

            while (p < last && *p != ' ' && *p != '\n' && *p != '\r'
                   && *p != '\t')
            {
                p++;
            }

            if (p == start) {
                break;
            }

            enc.data = start;
            enc.len = p - start;

            if (enc.len > 6 && ngx_strncmp(enc.data, "whsec_", 6) == 0) {
                enc.data += 6;
                enc.len -= 6;
            }

            if (wlcf->secrets.nelts == NGX_HTTP_BACKEND_WEBHOOK_MAX_SECRETS) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "too many webhook secrets");
                return NGX_CONF_ERROR;
            }

            secret = ngx_array_push(&wlcf->secrets);
            if (secret == NULL) {
                return NGX_CONF_ERROR;
            }

            secret->data = ngx_pnalloc(cf->pool,
                                       ngx_base64_decoded_length(enc.len));
            if (secret->data == NULL) {
                return NGX_CONF_ERROR;
            }

            if (ngx_decode_base64(secret, &enc) != NGX_OK
                || secret->len == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid webhook secret in \"%V\": "
                                   "expected whsec_<base64>", &value[i]);
                return NGX_CONF_ERROR;
            }
        }
    }

    if (wlcf->secrets.nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "no webhook secret in %V",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* backend_webhook_sql [database] "statement": $1 id, $2 type, $3 payload */

static char *
ngx_http_backend_webhook_sql(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_backend_webhook_loc_conf_t *wlcf = conf;

    ngx_str_t  *value;

    if (wlcf->sql.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 3) {
        wlcf->database = value[1];
        wlcf->sql = value[2];

    } else {
        wlcf->sql = value[1];
    }

    if (ngx_http_backend_pg_sql_params(&wlcf->sql, &wlcf->nparams) != NGX_OK
        || wlcf->nparams != 3)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "backend_webhook_sql must use $1 (the message "
                           "id), $2 (the event type) and $3 (the payload)");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * backend_webhook_dead_letter_sql "statement": on backend_webhook_sql's
 * database; $1 id, $2 type, $3 raw body (bytea), $4 the error
 */

static char *
ngx_http_backend_webhook_dead_letter_sql(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_backend_webhook_loc_conf_t *wlcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   n;

    if (wlcf->dead_sql.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_backend_pg_sql_params(&value[1], &n) != NGX_OK || n != 4) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "backend_webhook_dead_letter_sql must use $1 (the "
                           "message id), $2 (the event type), $3 (the raw "
                           "body, bytea) and $4 (the error)");
        return NGX_CONF_ERROR;
    }

    wlcf->dead_sql = value[1];

    return NGX_CONF_OK;
}


/*
 * backend_webhook_retry [database=name] "statement" [interval=5s]
 *     [limit=50] [max_attempts=8] [backoff=1s]
 * $1 limit, $2 max_attempts, $3 backoff in milliseconds
 */

static char *
ngx_http_backend_webhook_retry_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_backend_webhook_main_conf_t *wmcf = conf;

    ngx_str_t   *value, s;
    ngx_int_t    n;
    ngx_uint_t   i, nparams;

    if (wmcf->sql.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    wmcf->interval = 5000;
    wmcf->limit = 50;
    wmcf->max_attempts = 8;
    wmcf->backoff = 1000;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "database=", 9) == 0) {
            wmcf->database.data = value[i].data + 9;
            wmcf->database.len = value[i].len - 9;
            continue;
        }

        if (ngx_strncmp(value[i].data, "interval=", 9) == 0
            || ngx_strncmp(value[i].data, "backoff=", 8) == 0)
        {
            s.data = (u_char *) ngx_strchr(value[i].data, '=') + 1;
            s.len = value[i].data + value[i].len - s.data;

            n = ngx_parse_time(&s, 0);
            if (n == NGX_ERROR || n == 0) {
                goto invalid;
            }

            if (value[i].data[0] == 'i') {
                wmcf->interval = (ngx_msec_t) n;
            } else {
                wmcf->backoff = (ngx_msec_t) n;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "limit=", 6) == 0
            || ngx_strncmp(value[i].data, "max_attempts=", 13) == 0)
        {
            s.data = (u_char *) ngx_strchr(value[i].data, '=') + 1;
            s.len = value[i].data + value[i].len - s.data;

            n = ngx_atoi(s.data, s.len);
            if (n == NGX_ERROR || n == 0) {
                goto invalid;
            }

            if (value[i].data[0] == 'l') {
                wmcf->limit = (ngx_uint_t) n;
            } else {
                wmcf->max_attempts = (ngx_uint_t) n;
            }

            continue;
        }

        if (wmcf->sql.len) {
            goto invalid;
        }

        wmcf->sql = value[i];
    }

    if (wmcf->sql.len == 0
        || ngx_http_backend_pg_sql_params(&wmcf->sql, &nparams) != NGX_OK
        || nparams != 3)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "backend_webhook_retry needs a statement using $1 "
                           "(limit), $2 (max_attempts) and $3 (backoff, ms)");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


/*
 * backend_webhook_backlog_sql "statement": on backend_webhook_retry's
 * database, after each of its rounds; one row, "due" and "oldest_seconds"
 */

static char *
ngx_http_backend_webhook_backlog_sql(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_backend_webhook_main_conf_t *wmcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   n;

    if (wmcf->backlog_sql.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_backend_pg_sql_params(&value[1], &n) != NGX_OK || n != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "backend_webhook_backlog_sql takes no parameters");
        return NGX_CONF_ERROR;
    }

    wmcf->backlog_sql = value[1];
    wmcf->backlog_file = cf->conf_file->file.name.data;
    wmcf->backlog_line = cf->conf_file->line;

    return NGX_CONF_OK;
}
