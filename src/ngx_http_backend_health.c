
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_backend.h"
#include "ngx_http_backend_metrics.h"


/*
 * Liveness and readiness, for load balancers and orchestrators.
 *
 * backend_liveness answers from the worker and checks nothing.
 * backend_readiness says whether this node can serve: Postgres answers a
 * trivial statement, the applied migration version is at least
 * backend_readiness_migration, JWKS keys are loaded, Redis is up (down is
 * "degraded" and keeps the node ready, unless it is required).
 *
 * The Postgres checks are made by one worker of the node at a time, at
 * most once per backend_readiness_interval, and their result is kept in a
 * small zone of this module ("backend_readiness"), so every worker gives
 * the same answer and a load balancer's polls do not reach the database.
 * While a check is in flight, requests answer from the last result; until
 * the node's first result, a request waits for it (polling the zone) up to
 * NGX_HTTP_BACKEND_HEALTH_WAIT, then answers 503 "starting".  JWKS and
 * Redis are the worker's own state, asked of the auth module.
 */


#define NGX_HTTP_BACKEND_HEALTH_WAIT       3000
#define NGX_HTTP_BACKEND_HEALTH_POLL       25

#define NGX_HTTP_BACKEND_HEALTH_OPTIONAL   0
#define NGX_HTTP_BACKEND_HEALTH_REQUIRED   1

/* the zone's result, one word: flags, and the applied version above them */
#define NGX_HTTP_BACKEND_HEALTH_VALID      0x01
#define NGX_HTTP_BACKEND_HEALTH_PG_OK      0x02
#define NGX_HTTP_BACKEND_HEALTH_VERSION    0x04    /* the version is known */
#define NGX_HTTP_BACKEND_HEALTH_SHIFT      8
#define NGX_HTTP_BACKEND_HEALTH_MAX        0x7fffff /* fits 32 bits too */

/* the checks, in the body's order and the metric's check label */
#define NGX_HTTP_BACKEND_CHECK_POSTGRES    0
#define NGX_HTTP_BACKEND_CHECK_MIGRATIONS  1
#define NGX_HTTP_BACKEND_CHECK_JWKS        2
#define NGX_HTTP_BACKEND_CHECK_REDIS       3
#define NGX_HTTP_BACKEND_CHECKS            4


typedef enum {
    NGX_HTTP_BACKEND_STATE_OK = 0,
    NGX_HTTP_BACKEND_STATE_SKIPPED,
    NGX_HTTP_BACKEND_STATE_DEGRADED,
    NGX_HTTP_BACKEND_STATE_STARTING,
    NGX_HTTP_BACKEND_STATE_FAILING
} ngx_http_backend_health_state_e;


typedef struct {
    ngx_atomic_t                    claim;      /* the checking pid, or 0 */
    ngx_atomic_t                    claimed;    /* ngx_current_msec */
    ngx_atomic_t                    checked;    /* ngx_current_msec */
    ngx_atomic_t                    result;     /* 0: none yet */
} ngx_http_backend_health_shm_t;


typedef struct {
    ngx_str_t                       database;
    ngx_int_t                       migration;
    ngx_uint_t                      redis;
    ngx_msec_t                      interval;

    ngx_http_backend_pg_server_t   *server;
    ngx_http_backend_pg_stmt_t     *ping;
    ngx_http_backend_pg_stmt_t     *version;
    ngx_shm_zone_t                 *zone;
    ngx_msec_t                      claim_ttl;

    ngx_http_backend_series_t      *ready;
    ngx_http_backend_series_t      *checks[NGX_HTTP_BACKEND_CHECKS];

    /* where backend_readiness_database is, for its errors */
    u_char                         *database_file;
    ngx_uint_t                      database_line;
    ngx_uint_t                      used;       /* a backend_readiness */

    /* the worker's check in flight, and its timer */
    ngx_http_backend_pg_query_t     query;
    ngx_event_t                     timer;
    unsigned                        running:1;
} ngx_http_backend_health_main_conf_t;


typedef struct {
    ngx_uint_t                      handler;    /* 0, liveness, readiness */
} ngx_http_backend_health_loc_conf_t;


typedef struct {
    ngx_http_request_t             *request;
    ngx_event_t                     poll;
    ngx_msec_t                      started;
} ngx_http_backend_health_ctx_t;


#define NGX_HTTP_BACKEND_LIVENESS   1
#define NGX_HTTP_BACKEND_READINESS  2


static ngx_int_t ngx_http_backend_liveness_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_backend_readiness_handler(ngx_http_request_t *r);
static void ngx_http_backend_readiness_poll(ngx_event_t *ev);
static void ngx_http_backend_readiness_cleanup(void *data);
static ngx_atomic_uint_t ngx_http_backend_health_result(
    ngx_http_backend_health_main_conf_t *hmcf);
static void ngx_http_backend_health_check(
    ngx_http_backend_health_main_conf_t *hmcf);
static void ngx_http_backend_health_pinged(ngx_http_backend_pg_query_t *q);
static void ngx_http_backend_health_versioned(
    ngx_http_backend_pg_query_t *q);
static void ngx_http_backend_health_done(
    ngx_http_backend_health_main_conf_t *hmcf, ngx_atomic_uint_t result);
static ngx_int_t ngx_http_backend_health_states(
    ngx_http_backend_health_main_conf_t *hmcf, ngx_http_request_t *r,
    ngx_atomic_uint_t result, ngx_uint_t *state);
static void ngx_http_backend_health_tick(ngx_event_t *ev);
static ngx_int_t ngx_http_backend_readiness_send(ngx_http_request_t *r,
    ngx_atomic_uint_t result);
static ngx_int_t ngx_http_backend_health_send(ngx_http_request_t *r,
    ngx_uint_t status, u_char *body, size_t len);

static ngx_int_t ngx_http_backend_health_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void *ngx_http_backend_health_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_backend_health_init_main_conf(ngx_conf_t *cf,
    void *conf);
static void *ngx_http_backend_health_create_loc_conf(ngx_conf_t *cf);
static ngx_int_t ngx_http_backend_health_init_process(ngx_cycle_t *cycle);
static void ngx_http_backend_health_exit_process(ngx_cycle_t *cycle);

static char *ngx_http_backend_health(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_backend_readiness_database(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_backend_readiness_migration(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);


static ngx_conf_enum_t  ngx_http_backend_readiness_redis_modes[] = {
    { ngx_string("optional"), NGX_HTTP_BACKEND_HEALTH_OPTIONAL },
    { ngx_string("required"), NGX_HTTP_BACKEND_HEALTH_REQUIRED },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_backend_health_commands[] = {

    { ngx_string("backend_liveness"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_backend_health,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_BACKEND_LIVENESS,
      NULL },

    { ngx_string("backend_readiness"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_backend_health,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_BACKEND_READINESS,
      NULL },

    { ngx_string("backend_readiness_database"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_backend_readiness_database,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("backend_readiness_migration"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_backend_readiness_migration,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("backend_readiness_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_backend_health_main_conf_t, redis),
      &ngx_http_backend_readiness_redis_modes },

    { ngx_string("backend_readiness_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_backend_health_main_conf_t, interval),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_backend_health_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_backend_health_create_main_conf, /* create main configuration */
    ngx_http_backend_health_init_main_conf, /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_backend_health_create_loc_conf, /* create location conf */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_backend_health_module = {
    NGX_MODULE_V1,
    &ngx_http_backend_health_module_ctx,   /* module context */
    ngx_http_backend_health_commands,      /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_backend_health_init_process,  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_backend_health_exit_process,  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_str_t  ngx_http_backend_health_zone_name =
    ngx_string("backend_readiness");

static ngx_str_t  ngx_http_backend_liveness_body =
    ngx_string("{\"status\":\"ok\"}");

static char  *ngx_http_backend_check_names[] = {
    "postgres", "migrations", "jwks", "redis"
};

static ngx_str_t  ngx_http_backend_state_names[] = {
    ngx_string("ok"),
    ngx_string("skipped"),
    ngx_string("degraded"),
    ngx_string("starting"),
    ngx_string("failing")
};


static ngx_int_t
ngx_http_backend_liveness_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_backend_health_send(r, NGX_HTTP_OK,
                                        ngx_http_backend_liveness_body.data,
                                        ngx_http_backend_liveness_body.len);
}


static ngx_int_t
ngx_http_backend_readiness_handler(ngx_http_request_t *r)
{
    ngx_int_t                             rc;
    ngx_atomic_uint_t                     result;
    ngx_pool_cleanup_t                   *cln;
    ngx_http_backend_health_ctx_t        *ctx;
    ngx_http_backend_health_main_conf_t  *hmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_backend_health_module);

    result = ngx_http_backend_health_result(hmcf);

    if (result) {
        return ngx_http_backend_readiness_send(r, result);
    }

    /* the node's first check is under way: wait for it, bounded */

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_backend_health_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->started = ngx_current_msec;
    ctx->poll.handler = ngx_http_backend_readiness_poll;
    ctx->poll.data = ctx;
    ctx->poll.log = r->connection->log;

    cln->handler = ngx_http_backend_readiness_cleanup;
    cln->data = ctx;

    ngx_add_timer(&ctx->poll, NGX_HTTP_BACKEND_HEALTH_POLL);

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_backend_readiness_poll(ngx_event_t *ev)
{
    ngx_http_backend_health_ctx_t *ctx = ev->data;

    ngx_int_t                             rc;
    ngx_connection_t                     *c;
    ngx_atomic_uint_t                     result;
    ngx_http_request_t                   *r;
    ngx_http_backend_health_main_conf_t  *hmcf;

    r = ctx->request;
    c = r->connection;

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_backend_health_module);

    result = ngx_http_backend_health_result(hmcf);

    if (result == 0
        && ngx_current_msec - ctx->started < NGX_HTTP_BACKEND_HEALTH_WAIT)
    {
        ngx_add_timer(&ctx->poll, NGX_HTTP_BACKEND_HEALTH_POLL);
        return;
    }

    rc = ngx_http_backend_readiness_send(r, result);

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_backend_readiness_cleanup(void *data)
{
    ngx_http_backend_health_ctx_t *ctx = data;

    if (ctx->poll.timer_set) {
        ngx_del_timer(&ctx->poll);
    }
}


/*
 * The node's last Postgres result (0: none yet), and a new check started
 * when it is older than the interval and no other worker is making one.
 */

static ngx_atomic_uint_t
ngx_http_backend_health_result(ngx_http_backend_health_main_conf_t *hmcf)
{
    ngx_msec_t                      now;
    ngx_atomic_uint_t               result, checked, pid;
    ngx_http_backend_health_shm_t  *sh;

    if (hmcf->server == NULL) {
        /* no database: nothing to wait for */
        return NGX_HTTP_BACKEND_HEALTH_VALID;
    }

    sh = hmcf->zone->data;
    now = ngx_current_msec;

    result = sh->result;
    checked = sh->checked;

    if (result && (ngx_msec_int_t) (now - checked) < (ngx_msec_int_t)
                                                     hmcf->interval)
    {
        return result;
    }

    if (hmcf->running || ngx_exiting || ngx_terminate || ngx_quit) {
        return result;
    }

    /*
     * A worker that died while checking (a crash: no exit_process) gives
     * its claim up when it is found gone, or at the latest after claim_ttl
     */

    pid = sh->claim;

    if (pid != 0
        && (ngx_msec_int_t) (now - sh->claimed) < (ngx_msec_int_t)
                                                  hmcf->claim_ttl
        && (kill((ngx_pid_t) pid, 0) == 0 || ngx_errno != NGX_ESRCH))
    {
        return result;
    }

    if (!ngx_atomic_cmp_set(&sh->claim, pid, (ngx_atomic_uint_t) ngx_pid)) {
        return result;
    }

    sh->claimed = now;

    ngx_http_backend_health_check(hmcf);

    /* a check that failed at once has its result already */

    return sh->result;
}


static void
ngx_http_backend_health_check(ngx_http_backend_health_main_conf_t *hmcf)
{
    ngx_http_backend_pg_query_t  *q;

    q = &hmcf->query;

    ngx_memzero(q, sizeof(ngx_http_backend_pg_query_t));

    q->server = hmcf->server;
    q->stmt = hmcf->ping;
    q->handler = ngx_http_backend_health_pinged;
    q->data = hmcf;
    q->log = ngx_cycle->log;
    q->read_only = 1;

    if (ngx_http_backend_pg_run(q) == NGX_OK) {
        hmcf->running = 1;
        return;
    }

    ngx_http_backend_health_done(hmcf, 0);
}


static void
ngx_http_backend_health_pinged(ngx_http_backend_pg_query_t *q)
{
    ngx_http_backend_health_main_conf_t *hmcf = q->data;

    if (q->result) {
        PQclear(q->result);
        q->result = NULL;
    }

    if (q->status != NGX_HTTP_BACKEND_PG_OK) {
        hmcf->running = 0;
        ngx_http_backend_health_done(hmcf, 0);
        return;
    }

    if (hmcf->version == NULL) {
        hmcf->running = 0;
        ngx_http_backend_health_done(hmcf, NGX_HTTP_BACKEND_HEALTH_PG_OK);
        return;
    }

    ngx_memzero(q, sizeof(ngx_http_backend_pg_query_t));

    q->server = hmcf->server;
    q->stmt = hmcf->version;
    q->handler = ngx_http_backend_health_versioned;
    q->data = hmcf;
    q->log = ngx_cycle->log;
    q->read_only = 1;

    if (ngx_http_backend_pg_run(q) != NGX_OK) {
        hmcf->running = 0;
        ngx_http_backend_health_done(hmcf, NGX_HTTP_BACKEND_HEALTH_PG_OK);
    }
}


static void
ngx_http_backend_health_versioned(ngx_http_backend_pg_query_t *q)
{
    ngx_http_backend_health_main_conf_t *hmcf = q->data;

    char                           *v;
    int64_t                         version;
    PGresult                       *res;
    ngx_atomic_uint_t               result;
    ngx_http_backend_health_shm_t  *sh;

    hmcf->running = 0;
    sh = hmcf->zone->data;

    res = q->result;
    q->result = NULL;

    result = NGX_HTTP_BACKEND_HEALTH_PG_OK;

    if (q->status == NGX_HTTP_BACKEND_PG_OK
        && PQntuples(res) == 1 && PQnfields(res) == 1)
    {
        version = 0;

        if (!PQgetisnull(res, 0, 0)) {
            v = PQgetvalue(res, 0, 0);
            version = ngx_atoof((u_char *) v, ngx_strlen(v));
        }

        if (version >= 0 && version <= NGX_HTTP_BACKEND_HEALTH_MAX) {
            result |= NGX_HTTP_BACKEND_HEALTH_VERSION
                      | ((ngx_atomic_uint_t) version
                         << NGX_HTTP_BACKEND_HEALTH_SHIFT);
        }

    } else if (q->status == NGX_HTTP_BACKEND_PG_SQL_ERROR
               && (sh->result == 0
                   || (sh->result & NGX_HTTP_BACKEND_HEALTH_VERSION)))
    {
        /* once, when it starts failing */

        ngx_log_error(NGX_LOG_WARN, q->log, 0,
                      "backend readiness: the migration version query on "
                      "\"%V\" failed (SQLSTATE %s)", &hmcf->server->name,
                      q->sqlstate);
    }

    if (res) {
        PQclear(res);
    }

    ngx_http_backend_health_done(hmcf, result);
}


static void
ngx_http_backend_health_done(ngx_http_backend_health_main_conf_t *hmcf,
    ngx_atomic_uint_t result)
{
    ngx_uint_t                      level;
    ngx_atomic_uint_t               old;
    ngx_http_backend_health_shm_t  *sh;

    sh = hmcf->zone->data;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        /* after a reload: a check of the old configuration's */
        (void) ngx_atomic_cmp_set(&sh->claim, (ngx_atomic_uint_t) ngx_pid, 0);
        return;
    }

    result |= NGX_HTTP_BACKEND_HEALTH_VALID;

    /* a change is logged once, by the worker that saw it; at the start,
     * a failure only */

    old = sh->result;

    if (old ? (old ^ result) & NGX_HTTP_BACKEND_HEALTH_PG_OK
            : !(result & NGX_HTTP_BACKEND_HEALTH_PG_OK))
    {
        level = (result & NGX_HTTP_BACKEND_HEALTH_PG_OK) ? NGX_LOG_NOTICE
                                                         : NGX_LOG_WARN;

        ngx_log_error(level, ngx_cycle->log, 0,
                      "backend readiness: postgres \"%V\" %s",
                      &hmcf->server->name,
                      (level == NGX_LOG_NOTICE) ? "answers"
                                                : "does not answer");
    }

    sh->checked = ngx_current_msec;
    sh->result = result;

    (void) ngx_atomic_cmp_set(&sh->claim, (ngx_atomic_uint_t) ngx_pid, 0);
}


/* the checks' states, the body, the metrics */

/*
 * The checks' states from the node's Postgres result and the worker's own
 * JWKS and Redis, and the gauges set from them; r: a readiness request,
 * NULL: the worker's timer.  Returns 1 if ready, or NGX_ERROR.
 */

static ngx_int_t
ngx_http_backend_health_states(ngx_http_backend_health_main_conf_t *hmcf,
    ngx_http_request_t *r, ngx_atomic_uint_t result, ngx_uint_t *state)
{
    int64_t     version;
    ngx_int_t   n;
    ngx_uint_t  i, ready;

    if (hmcf->server == NULL) {
        state[NGX_HTTP_BACKEND_CHECK_POSTGRES] = NGX_HTTP_BACKEND_STATE_SKIPPED;
        state[NGX_HTTP_BACKEND_CHECK_MIGRATIONS] =
                                                NGX_HTTP_BACKEND_STATE_SKIPPED;

    } else if (result == 0) {
        state[NGX_HTTP_BACKEND_CHECK_POSTGRES] =
                                               NGX_HTTP_BACKEND_STATE_STARTING;
        state[NGX_HTTP_BACKEND_CHECK_MIGRATIONS] =
                                               NGX_HTTP_BACKEND_STATE_STARTING;

    } else {
        state[NGX_HTTP_BACKEND_CHECK_POSTGRES] =
            (result & NGX_HTTP_BACKEND_HEALTH_PG_OK)
            ? NGX_HTTP_BACKEND_STATE_OK : NGX_HTTP_BACKEND_STATE_FAILING;

        version = (int64_t) (result >> NGX_HTTP_BACKEND_HEALTH_SHIFT);

        if (hmcf->version == NULL) {
            state[NGX_HTTP_BACKEND_CHECK_MIGRATIONS] =
                                                NGX_HTTP_BACKEND_STATE_SKIPPED;

        } else {
            state[NGX_HTTP_BACKEND_CHECK_MIGRATIONS] =
                ((result & NGX_HTTP_BACKEND_HEALTH_VERSION)
                 && version >= hmcf->migration)
                ? NGX_HTTP_BACKEND_STATE_OK : NGX_HTTP_BACKEND_STATE_FAILING;
        }
    }

    n = ngx_http_backend_auth_jwks_keys((ngx_cycle_t *) ngx_cycle, r);

    if (n == NGX_ERROR) {
        return NGX_ERROR;
    }

    state[NGX_HTTP_BACKEND_CHECK_JWKS] = (n == NGX_DECLINED)
                                         ? NGX_HTTP_BACKEND_STATE_SKIPPED
                                         : (n > 0)
                                           ? NGX_HTTP_BACKEND_STATE_OK
                                           : NGX_HTTP_BACKEND_STATE_FAILING;

    n = ngx_http_backend_auth_redis_up((ngx_cycle_t *) ngx_cycle);

    state[NGX_HTTP_BACKEND_CHECK_REDIS] =
        (n == NGX_DECLINED) ? NGX_HTTP_BACKEND_STATE_SKIPPED
        : n ? NGX_HTTP_BACKEND_STATE_OK
        : (hmcf->redis == NGX_HTTP_BACKEND_HEALTH_REQUIRED)
          ? NGX_HTTP_BACKEND_STATE_FAILING : NGX_HTTP_BACKEND_STATE_DEGRADED;

    ready = 1;

    for (i = 0; i < NGX_HTTP_BACKEND_CHECKS; i++) {
        if (state[i] >= NGX_HTTP_BACKEND_STATE_STARTING) {
            ready = 0;
        }

        /* skipped: nothing there to fail; degraded: it does not count */

        ngx_http_backend_metrics_set(hmcf->checks[i],
                                     state[i] == NGX_HTTP_BACKEND_STATE_OK
                                     || state[i]
                                        == NGX_HTTP_BACKEND_STATE_SKIPPED);
    }

    ngx_http_backend_metrics_set(hmcf->ready, ready);

    return ready;
}


static ngx_int_t
ngx_http_backend_readiness_send(ngx_http_request_t *r,
    ngx_atomic_uint_t result)
{
    u_char                               *p, *body;
    size_t                                len;
    ngx_int_t                             ready;
    ngx_uint_t                            i, starting;
    ngx_uint_t                            state[NGX_HTTP_BACKEND_CHECKS];
    ngx_http_backend_health_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_backend_health_module);

    ready = ngx_http_backend_health_states(hmcf, r, result, state);

    if (ready == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    starting = 0;
    len = sizeof("{\"status\":\"not_ready\",\"checks\":{}}") - 1;

    for (i = 0; i < NGX_HTTP_BACKEND_CHECKS; i++) {
        if (state[i] == NGX_HTTP_BACKEND_STATE_STARTING) {
            starting = 1;
        }

        len += sizeof("\"\":\"\",") - 1
               + ngx_strlen(ngx_http_backend_check_names[i])
               + ngx_http_backend_state_names[state[i]].len;
    }

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body, "{\"status\":\"%s\",\"checks\":{",
                    ready ? "ready" : starting ? "starting" : "not_ready");

    for (i = 0; i < NGX_HTTP_BACKEND_CHECKS; i++) {
        p = ngx_sprintf(p, "%s\"%s\":\"%V\"", i ? "," : "",
                        ngx_http_backend_check_names[i],
                        &ngx_http_backend_state_names[state[i]]);
    }

    *p++ = '}';
    *p++ = '}';

    return ngx_http_backend_health_send(r, ready
                                           ? NGX_HTTP_OK
                                           : NGX_HTTP_SERVICE_UNAVAILABLE,
                                        body, p - body);
}


static ngx_int_t
ngx_http_backend_health_send(ngx_http_request_t *r, ngx_uint_t status,
    u_char *body, size_t len)
{
    ngx_int_t         rc;
    ngx_buf_t        *b;
    ngx_chain_t       out;
    ngx_table_elt_t  *h;

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    /* a cached answer would hide a change of state */

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-store");

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = body;
    b->last = body + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_int_t
ngx_http_backend_health_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t                *shpool;
    ngx_http_backend_health_shm_t  *sh;

    if (data) {
        /*
         * A reload: the result is the old configuration's (another
         * database, another version required): start again
         */

        sh = data;
        shm_zone->data = sh;

        sh->result = 0;
        sh->checked = 0;

        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        /* Windows only */
        return NGX_ERROR;
    }

    sh = ngx_slab_calloc(shpool, sizeof(ngx_http_backend_health_shm_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    shpool->data = sh;
    shm_zone->data = sh;

    return NGX_OK;
}


static void *
ngx_http_backend_health_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_backend_health_main_conf_t  *hmcf;

    hmcf = ngx_pcalloc(cf->pool,
                       sizeof(ngx_http_backend_health_main_conf_t));
    if (hmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     hmcf->database = { 0, NULL };
     *     hmcf->server = NULL;
     *     hmcf->used = 0;
     */

    hmcf->migration = NGX_CONF_UNSET;
    hmcf->redis = NGX_CONF_UNSET_UINT;
    hmcf->interval = NGX_CONF_UNSET_MSEC;

    return hmcf;
}


static char *
ngx_http_backend_health_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_backend_health_main_conf_t *hmcf = conf;

    ngx_uint_t                  i;
    ngx_str_t                   sql;
    ngx_http_backend_family_t  *f;

    ngx_conf_init_uint_value(hmcf->redis, NGX_HTTP_BACKEND_HEALTH_OPTIONAL);
    ngx_conf_init_msec_value(hmcf->interval, 1000);

    /* declared always: the families are part of /metrics's contract */

    f = ngx_http_backend_metrics_family(cf, "backend_ready",
                                        "1 when the node's last readiness "
                                        "check passed.",
                                        NGX_HTTP_BACKEND_GAUGE_MAX, NULL);
    if (f == NULL) {
        return NGX_CONF_ERROR;
    }

    hmcf->ready = ngx_http_backend_metrics_series1(cf, f, NULL);
    if (hmcf->ready == NULL) {
        return NGX_CONF_ERROR;
    }

    f = ngx_http_backend_metrics_family(cf, "backend_readiness_check",
                                        "1 per readiness check that passed "
                                        "(or has nothing to check).",
                                        NGX_HTTP_BACKEND_GAUGE_MAX, "check");
    if (f == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < NGX_HTTP_BACKEND_CHECKS; i++) {
        hmcf->checks[i] = ngx_http_backend_metrics_series1(cf, f,
                                             ngx_http_backend_check_names[i]);
        if (hmcf->checks[i] == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (!hmcf->used) {
        return NGX_CONF_OK;
    }

    /* a 0 is worth seeing: it is what an alert on readiness looks for */

    hmcf->ready->always = 1;

    for (i = 0; i < NGX_HTTP_BACKEND_CHECKS; i++) {
        hmcf->checks[i]->always = 1;
    }

    hmcf->server = ngx_http_backend_pg_server(cf, &hmcf->database);

    if (hmcf->server == NULL) {
        if (hmcf->database.len) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "backend_readiness_database: no backend_pg \"%V\" "
                          "in %s:%ui", &hmcf->database, hmcf->database_file,
                          hmcf->database_line);
            return NGX_CONF_ERROR;
        }

        if (hmcf->migration != NGX_CONF_UNSET) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "backend_readiness_migration needs a database: "
                          "no backend_pg is defined");
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    ngx_str_set(&sql, "SELECT 1");

    hmcf->ping = ngx_http_backend_pg_stmt_add(cf, hmcf->server, &sql, 0);
    if (hmcf->ping == NULL) {
        return NGX_CONF_ERROR;
    }

    if (hmcf->migration != NGX_CONF_UNSET) {
        /* the table and the versions (NNNN) of tools/db-push.sh */

        ngx_str_set(&sql, "SELECT max(version::bigint) "
                          "FROM schema_migrations");

        hmcf->version = ngx_http_backend_pg_stmt_add(cf, hmcf->server, &sql,
                                                     0);
        if (hmcf->version == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    /*
     * A claim older than this is a worker's that died while checking: the
     * engine answers every statement within its queue and query timeouts
     */

    hmcf->claim_ttl = 2 * (hmcf->server->queue_timeout
                           + hmcf->server->query_timeout + 1000);

    hmcf->zone = ngx_shared_memory_add(cf, &ngx_http_backend_health_zone_name,
                                       8 * ngx_pagesize,
                                       &ngx_http_backend_health_module);
    if (hmcf->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    hmcf->zone->init = ngx_http_backend_health_init_zone;

    return NGX_CONF_OK;
}


static void *
ngx_http_backend_health_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_backend_health_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_backend_health_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    return conf;
}


/*
 * Every worker, every interval: the node's check kept fresh, and the
 * worker's gauges with it, so that /metrics does not show what a worker
 * last answered long ago (a load balancer may ask one worker only)
 */

static ngx_int_t
ngx_http_backend_health_init_process(ngx_cycle_t *cycle)
{
    ngx_http_backend_health_main_conf_t  *hmcf;

    hmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                              ngx_http_backend_health_module);

    if (hmcf == NULL || !hmcf->used
        || (ngx_process != NGX_PROCESS_WORKER
            && ngx_process != NGX_PROCESS_SINGLE))
    {
        return NGX_OK;
    }

    hmcf->timer.handler = ngx_http_backend_health_tick;
    hmcf->timer.data = hmcf;
    hmcf->timer.log = cycle->log;
    hmcf->timer.cancelable = 1;

    ngx_add_timer(&hmcf->timer, NGX_HTTP_BACKEND_HEALTH_POLL);

    return NGX_OK;
}


static void
ngx_http_backend_health_tick(ngx_event_t *ev)
{
    ngx_http_backend_health_main_conf_t *hmcf = ev->data;

    ngx_uint_t         state[NGX_HTTP_BACKEND_CHECKS];
    ngx_atomic_uint_t  result;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    result = ngx_http_backend_health_result(hmcf);

    (void) ngx_http_backend_health_states(hmcf, NULL, result, state);

    ngx_add_timer(ev, ngx_max(hmcf->interval, 100));
}


static void
ngx_http_backend_health_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_backend_health_shm_t        *sh;
    ngx_http_backend_health_main_conf_t  *hmcf;

    hmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                              ngx_http_backend_health_module);

    if (hmcf == NULL || hmcf->zone == NULL || hmcf->zone->data == NULL) {
        return;
    }

    /* the engine has closed its pools: a check in flight is gone */

    sh = hmcf->zone->data;

    (void) ngx_atomic_cmp_set(&sh->claim, (ngx_atomic_uint_t) ngx_pid, 0);
}


/* backend_liveness; backend_readiness; */

static char *
ngx_http_backend_health(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_backend_health_loc_conf_t *hlcf = conf;

    ngx_http_core_loc_conf_t             *clcf;
    ngx_http_backend_health_main_conf_t  *hmcf;

    if (hlcf->handler) {
        return "is duplicate";
    }

    hlcf->handler = cmd->offset;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (cmd->offset == NGX_HTTP_BACKEND_LIVENESS) {
        clcf->handler = ngx_http_backend_liveness_handler;
        return NGX_CONF_OK;
    }

    clcf->handler = ngx_http_backend_readiness_handler;

    hmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_backend_health_module);
    hmcf->used = 1;

    return NGX_CONF_OK;
}


/* backend_readiness_database name; */

static char *
ngx_http_backend_readiness_database(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_backend_health_main_conf_t *hmcf = conf;

    ngx_str_t  *value;

    if (hmcf->database.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "backend_readiness_database needs a name");
        return NGX_CONF_ERROR;
    }

    /* backend_pg may come later: it is looked up in init_main_conf */

    hmcf->database = value[1];
    hmcf->database_file = cf->conf_file->file.name.data;
    hmcf->database_line = cf->conf_file->line;

    return NGX_CONF_OK;
}


/* backend_readiness_migration version; */

static char *
ngx_http_backend_readiness_migration(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_backend_health_main_conf_t *hmcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (hmcf->migration != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = ngx_atoi(value[1].data, value[1].len);

    if (n == NGX_ERROR || n > NGX_HTTP_BACKEND_HEALTH_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid migration version \"%V\": a number, "
                           "as in migrations/NNNN_name.up.sql", &value[1]);
        return NGX_CONF_ERROR;
    }

    hmcf->migration = n;

    return NGX_CONF_OK;
}
