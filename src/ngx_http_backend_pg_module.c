
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_backend.h"


typedef struct {
    ngx_array_t                     servers;    /* of server_t * */
} ngx_http_backend_pg_main_conf_t;


/* the name=value parameters of backend_pg */

typedef struct {
    ngx_str_t                       name;
    size_t                          offset;
    ngx_uint_t                      time;       /* else a number */
    ngx_uint_t                      min;
    ngx_uint_t                      max;
} ngx_http_backend_pg_param_t;


static ngx_int_t ngx_http_backend_pg_conninfo(ngx_conf_t *cf,
    ngx_http_backend_pg_server_t *server);
static ngx_int_t ngx_http_backend_pg_preamble(ngx_conf_t *cf,
    ngx_http_backend_pg_server_t *server);
static char *ngx_http_backend_pg_strdup(ngx_pool_t *pool, const char *s);
static void *ngx_http_backend_pg_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_backend_pg_init_main_conf(ngx_conf_t *cf, void *conf);
static ngx_int_t ngx_http_backend_pg_metrics(ngx_conf_t *cf,
    ngx_http_backend_pg_main_conf_t *pmcf);
static char *ngx_http_backend_pg(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_backend_pg_init_process(ngx_cycle_t *cycle);
static void ngx_http_backend_pg_exit_process(ngx_cycle_t *cycle);


static ngx_http_backend_pg_param_t  ngx_http_backend_pg_params[] = {

    { ngx_string("max="),
      offsetof(ngx_http_backend_pg_server_t, max), 0, 1, 10000 },

    { ngx_string("queue="),
      offsetof(ngx_http_backend_pg_server_t, queue), 0, 0,
      NGX_MAX_INT_T_VALUE },

    { ngx_string("max_requests="),
      offsetof(ngx_http_backend_pg_server_t, max_requests), 0, 0,
      NGX_MAX_INT_T_VALUE },

    { ngx_string("pipeline="),
      offsetof(ngx_http_backend_pg_server_t, pipeline), 0, 1, 64 },

    { ngx_string("queue_timeout="),
      offsetof(ngx_http_backend_pg_server_t, queue_timeout), 1, 1, 0 },

    { ngx_string("connect_timeout="),
      offsetof(ngx_http_backend_pg_server_t, connect_timeout), 1, 1, 0 },

    { ngx_string("query_timeout="),
      offsetof(ngx_http_backend_pg_server_t, query_timeout), 1, 1, 0 },

    { ngx_string("max_lifetime="),
      offsetof(ngx_http_backend_pg_server_t, max_lifetime), 1, 0, 0 },

    { ngx_null_string, 0, 0, 0, 0 }
};


static ngx_command_t  ngx_http_backend_pg_commands[] = {

    { ngx_string("backend_pg"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_backend_pg,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_backend_pg_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_backend_pg_create_main_conf,  /* create main configuration */
    ngx_http_backend_pg_init_main_conf,    /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_backend_pg_module = {
    NGX_MODULE_V1,
    &ngx_http_backend_pg_module_ctx,       /* module context */
    ngx_http_backend_pg_commands,          /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_backend_pg_init_process,      /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_backend_pg_exit_process,      /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


ngx_http_backend_pg_server_t *
ngx_http_backend_pg_server(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_uint_t                        i;
    ngx_http_backend_pg_server_t    **server;
    ngx_http_backend_pg_main_conf_t  *pmcf;

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_backend_pg_module);

    server = pmcf->servers.elts;

    if (name == NULL || name->len == 0) {
        return pmcf->servers.nelts ? server[0] : NULL;
    }

    for (i = 0; i < pmcf->servers.nelts; i++) {
        if (server[i]->name.len == name->len
            && ngx_strncmp(server[i]->name.data, name->data, name->len) == 0)
        {
            return server[i];
        }
    }

    return NULL;
}


ngx_http_backend_pg_stmt_t *
ngx_http_backend_pg_stmt_add(ngx_conf_t *cf,
    ngx_http_backend_pg_server_t *server, ngx_str_t *sql, ngx_uint_t nparams)
{
    ngx_http_backend_pg_stmt_t  *stmt, **p;

    stmt = ngx_pcalloc(cf->pool, sizeof(ngx_http_backend_pg_stmt_t));
    if (stmt == NULL) {
        return NULL;
    }

    stmt->sql.len = sql->len;
    stmt->sql.data = ngx_pnalloc(cf->pool, sql->len + 1);
    if (stmt->sql.data == NULL) {
        return NULL;
    }

    (void) ngx_cpystrn(stmt->sql.data, sql->data, sql->len + 1);

    stmt->nparams = nparams;
    stmt->index = server->stmts.nelts;
    stmt->file = cf->conf_file->file.name.data;
    stmt->line = cf->conf_file->line;
    (void) ngx_snprintf(stmt->name, sizeof(stmt->name) - 1, "ngx_backend_%ui%Z",
                        stmt->index);

    p = ngx_array_push(&server->stmts);
    if (p == NULL) {
        return NULL;
    }

    *p = stmt;

    return stmt;
}


static void *
ngx_http_backend_pg_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_backend_pg_main_conf_t  *pmcf;

    pmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_backend_pg_main_conf_t));
    if (pmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&pmcf->servers, cf->pool, 2,
                       sizeof(ngx_http_backend_pg_server_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return pmcf;
}


static char *
ngx_http_backend_pg_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_backend_pg_main_conf_t *pmcf = conf;

    /* here, after backend_metrics_duration_buckets wherever it is */

    if (ngx_http_backend_pg_metrics(cf, pmcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The Postgres families, declared even without a backend_pg, and each
 * server's series, so that the request path finds them in its server
 */

static ngx_int_t
ngx_http_backend_pg_metrics(ngx_conf_t *cf,
    ngx_http_backend_pg_main_conf_t *pmcf)
{
    char                           *classes;
    ngx_str_t                       v[2];
    ngx_uint_t                      i, k, n;
    ngx_http_backend_family_t      *conns, *queue, *wait, *duration, *stmts,
                                   *timeouts, *failures, *lost, *depth;
    ngx_http_backend_series_t     **s;
    ngx_http_backend_pg_server_t  **server, *srv;

    static char  *states[] = { "connecting", "idle", "busy" };
    static char  *outcomes[] = { "OK", "timeout", "unavailable", "other" };

    conns = ngx_http_backend_metrics_family(cf, "backend_pg_connections",
                "Connections to the database by state, summed over the "
                "workers.", NGX_HTTP_BACKEND_GAUGE, "database,state");
    queue = ngx_http_backend_metrics_family(cf, "backend_pg_queue_length",
                "Statements waiting for a connection.",
                NGX_HTTP_BACKEND_GAUGE, "database");
    wait = ngx_http_backend_metrics_duration(cf,
                "backend_pg_queue_wait_seconds",
                "Time a statement waited for a connection (0 when one was "
                "free).", "database");
    duration = ngx_http_backend_metrics_duration(cf,
                "backend_pg_statement_duration_seconds",
                "From sending a statement to its result.", "database");
    stmts = ngx_http_backend_metrics_family(cf, "backend_pg_statements_total",
                "Statements by outcome: OK, the SQLSTATE's class, timeout, "
                "unavailable.", NGX_HTTP_BACKEND_COUNTER,
                "database,outcome");
    timeouts = ngx_http_backend_metrics_family(cf, "backend_pg_timeouts_total",
                "Statements timed out, by stage: queue (queue_timeout) or "
                "query (query_timeout).", NGX_HTTP_BACKEND_COUNTER,
                "database,stage");
    failures = ngx_http_backend_metrics_family(cf,
                "backend_pg_connect_failures_total",
                "Connection attempts that failed.", NGX_HTTP_BACKEND_COUNTER,
                "database");
    lost = ngx_http_backend_metrics_family(cf,
                "backend_pg_connections_lost_total",
                "Connections that broke while in use or idle.",
                NGX_HTTP_BACKEND_COUNTER, "database");
    depth = ngx_http_backend_metrics_family(cf, "backend_pg_pipeline_depth",
                "Statements sent and not yet answered.",
                NGX_HTTP_BACKEND_GAUGE, "database");

    if (conns == NULL || queue == NULL || wait == NULL || duration == NULL
        || stmts == NULL || timeouts == NULL || failures == NULL
        || lost == NULL || depth == NULL)
    {
        return NGX_ERROR;
    }

    classes = NGX_HTTP_BACKEND_PG_CLASSES;
    n = NGX_HTTP_BACKEND_PG_OUTCOMES + ngx_strlen(classes) / 2;

    server = pmcf->servers.elts;

    for (i = 0; i < pmcf->servers.nelts; i++) {
        srv = server[i];
        v[0] = srv->name;

        for (k = 0; k < 3; k++) {
            v[1].data = (u_char *) states[k];
            v[1].len = ngx_strlen(states[k]);

            srv->connections[k] = ngx_http_backend_metrics_series(cf, conns,
                                                                  v);
            if (srv->connections[k] == NULL) {
                return NGX_ERROR;
            }

            /* a gauge's 0 says something: shown from the start */
            srv->connections[k]->always = 1;
        }

        srv->queue_length = ngx_http_backend_metrics_series(cf, queue, v);
        srv->pipeline_depth = ngx_http_backend_metrics_series(cf, depth, v);
        srv->queue_wait = ngx_http_backend_metrics_series(cf, wait, v);
        srv->statement_duration = ngx_http_backend_metrics_series(cf,
                                                                  duration, v);
        srv->connect_failures = ngx_http_backend_metrics_series(cf, failures,
                                                                v);
        srv->connections_lost = ngx_http_backend_metrics_series(cf, lost, v);

        ngx_str_set(&v[1], "queue");
        srv->queue_timeouts = ngx_http_backend_metrics_series(cf, timeouts,
                                                              v);
        ngx_str_set(&v[1], "query");
        srv->query_timeouts = ngx_http_backend_metrics_series(cf, timeouts,
                                                              v);

        if (srv->queue_length == NULL || srv->pipeline_depth == NULL
            || srv->queue_wait == NULL || srv->statement_duration == NULL
            || srv->connect_failures == NULL || srv->connections_lost == NULL
            || srv->queue_timeouts == NULL || srv->query_timeouts == NULL)
        {
            return NGX_ERROR;
        }

        srv->queue_length->always = 1;
        srv->pipeline_depth->always = 1;

        s = ngx_palloc(cf->pool, n * sizeof(ngx_http_backend_series_t *));
        if (s == NULL) {
            return NGX_ERROR;
        }

        for (k = 0; k < n; k++) {
            if (k < NGX_HTTP_BACKEND_PG_OUTCOMES) {
                v[1].data = (u_char *) outcomes[k];
                v[1].len = ngx_strlen(outcomes[k]);

            } else {
                v[1].data = (u_char *) classes
                            + 2 * (k - NGX_HTTP_BACKEND_PG_OUTCOMES);
                v[1].len = 2;
            }

            s[k] = ngx_http_backend_metrics_series(cf, stmts, v);
            if (s[k] == NULL) {
                return NGX_ERROR;
            }
        }

        srv->statements = s;
    }

    return NGX_OK;
}


static char *
ngx_http_backend_pg(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_backend_pg_main_conf_t *pmcf = conf;

    ngx_int_t                       n;
    ngx_str_t                      *value, s;
    ngx_msec_t                      ms;
    ngx_uint_t                      i;
    ngx_http_backend_pg_param_t    *p;
    ngx_http_backend_pg_server_t   *server, **sp;

    value = cf->args->elts;

    if (ngx_http_backend_pg_server(cf, &value[1]) != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate backend_pg \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    server = ngx_pcalloc(cf->pool, sizeof(ngx_http_backend_pg_server_t));
    if (server == NULL) {
        return NGX_CONF_ERROR;
    }

    server->name = value[1];
    server->conninfo = value[2];
    server->file = cf->conf_file->file.name.data;
    server->line = cf->conf_file->line;

    server->max = 10;
    server->queue = 512;
    server->queue_timeout = 5000;
    server->connect_timeout = 5000;
    server->query_timeout = 30000;
    server->max_lifetime = 3600000;
    server->max_requests = 10000;
    server->pipeline = 1;

    if (ngx_array_init(&server->stmts, cf->pool, 8,
                       sizeof(ngx_http_backend_pg_stmt_t *))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    for (i = 3; i < cf->args->nelts; i++) {

        if (value[i].len > sizeof("pooler=") - 1
            && ngx_strncmp(value[i].data, "pooler=", sizeof("pooler=") - 1)
               == 0)
        {
            if (ngx_strcmp(value[i].data, "pooler=transaction") != 0) {
                goto invalid;
            }

            server->pooler = 1;
            continue;
        }

        for (p = ngx_http_backend_pg_params; p->name.len; p++) {
            if (value[i].len > p->name.len
                && ngx_strncmp(value[i].data, p->name.data, p->name.len) == 0)
            {
                break;
            }
        }

        if (p->name.len == 0) {
            goto invalid;
        }

        s.data = value[i].data + p->name.len;
        s.len = value[i].len - p->name.len;

        if (p->time) {
            ms = ngx_parse_time(&s, 0);
            if (ms == (ngx_msec_t) NGX_ERROR || ms < p->min) {
                goto invalid;
            }

            *(ngx_msec_t *) ((char *) server + p->offset) = ms;

        } else {
            n = ngx_atoi(s.data, s.len);
            if (n == NGX_ERROR || (ngx_uint_t) n < p->min
                || (ngx_uint_t) n > p->max)
            {
                goto invalid;
            }

            *(ngx_uint_t *) ((char *) server + p->offset) = n;
        }
    }

    if (server->pooler && server->pipeline > 1) {
        /* several Syncs in flight: some PgBouncer versions mishandle them */
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"pipeline=%ui\" is not supported with "
                           "\"pooler=transaction\" in \"%V\"",
                           server->pipeline, &server->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_backend_pg_conninfo(cf, server) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    sp = ngx_array_push(&pmcf->servers);
    if (sp == NULL) {
        return NGX_CONF_ERROR;
    }

    *sp = server;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


/*
 * The connection string, checked now and turned into PQconnectStartParams()
 * arrays: the host resolved here (libpq would resolve it with blocking DNS
 * in a worker), one host only and an SSL mode that never reconnects (libpq
 * would open a new socket under us), server settings that make results
 * read the same everywhere, and statement_timeout backing query_timeout.
 *
 * With pooler=transaction those settings cannot be the session's: a
 * transaction pooler refuses "options" (PgBouncer: "unsupported startup
 * parameter") and would hand a SET to whichever client gets the server
 * connection next.  The startup packet then carries only what PgBouncer
 * tracks per client (application_name, client_encoding), and the settings
 * go into a preamble that each statement's transaction runs first, local
 * to that transaction (set_config(..., true), as SET LOCAL).
 */

static ngx_int_t
ngx_http_backend_pg_conninfo(ngx_conf_t *cf,
    ngx_http_backend_pg_server_t *server)
{
    char                *errmsg, *s;
    u_char              *p, *conninfo, addr[NGX_SOCKADDR_STRLEN];
    size_t               len;
    ngx_url_t            u;
    ngx_uint_t           n, i, has_app, has_ssl, has_gss, has_enc;
    const char          *host, *hostaddr, *options;
    PQconninfoOption    *opts, *o;

    conninfo = ngx_pnalloc(cf->pool, server->conninfo.len + 1);
    if (conninfo == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_cpystrn(conninfo, server->conninfo.data,
                       server->conninfo.len + 1);

    errmsg = NULL;
    opts = PQconninfoParse((char *) conninfo, &errmsg);

    if (opts == NULL) {
        len = errmsg ? ngx_strlen(errmsg) : 0;
        while (len && (errmsg[len - 1] == '\n' || errmsg[len - 1] == ' ')) {
            len--;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid connection string \"%V\": %*s",
                           &server->conninfo, len, errmsg ? errmsg : "");
        if (errmsg) {
            PQfreemem(errmsg);
        }

        return NGX_ERROR;
    }

    host = NULL;
    hostaddr = NULL;
    options = NULL;
    has_app = 0;
    has_ssl = 0;
    has_gss = 0;
    has_enc = 0;
    n = 0;

    for (o = opts; o->keyword; o++) {
        if (o->val == NULL || o->val[0] == '\0') {
            continue;
        }

        n++;

        if (ngx_strcmp(o->keyword, "host") == 0) {
            host = o->val;

        } else if (ngx_strcmp(o->keyword, "hostaddr") == 0) {
            hostaddr = o->val;

        } else if (ngx_strcmp(o->keyword, "options") == 0) {
            options = o->val;

        } else if (ngx_strcmp(o->keyword, "application_name") == 0) {
            has_app = 1;

        } else if (ngx_strcmp(o->keyword, "gssencmode") == 0) {
            has_gss = 1;

        } else if (ngx_strcmp(o->keyword, "client_encoding") == 0) {
            has_enc = 1;

        } else if (ngx_strcmp(o->keyword, "sslmode") == 0) {
            has_ssl = 1;

            if (ngx_strcmp(o->val, "prefer") == 0
                || ngx_strcmp(o->val, "allow") == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "sslmode \"%s\" is not supported in "
                                   "\"%V\": use disable, require, verify-ca "
                                   "or verify-full", o->val, &server->name);
                goto failed;
            }
        }
    }

    if ((host && ngx_strchr(host, ','))
        || (hostaddr && ngx_strchr(hostaddr, ',')))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "several hosts in \"%V\" are not supported",
                           &server->name);
        goto failed;
    }

    if (server->pooler && options) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"options\" in \"%V\" cannot pass a transaction "
                           "pooler: set them on the role or database",
                           &server->name);
        goto failed;
    }

    /*
     * room for ours: hostaddr, options or client_encoding,
     * application_name, ssl, gss, NULL
     */

    server->keywords = ngx_pcalloc(cf->pool, (n + 6) * sizeof(char *));
    server->values = ngx_pcalloc(cf->pool, (n + 6) * sizeof(char *));
    if (server->keywords == NULL || server->values == NULL) {
        goto failed;
    }

    i = 0;

    for (o = opts; o->keyword; o++) {
        if (o->val == NULL || o->val[0] == '\0'
            || ngx_strcmp(o->keyword, "options") == 0)
        {
            continue;
        }

        server->keywords[i] = ngx_http_backend_pg_strdup(cf->pool, o->keyword);
        server->values[i] = ngx_http_backend_pg_strdup(cf->pool, o->val);
        if (server->keywords[i] == NULL || server->values[i] == NULL) {
            goto failed;
        }

        i++;
    }

    if (host && host[0] != '/' && hostaddr == NULL) {
        ngx_memzero(&u, sizeof(ngx_url_t));

        u.url.data = (u_char *) host;
        u.url.len = ngx_strlen(host);
        u.default_port = 5432;
        u.no_port = 1;

        if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "host \"%s\" of \"%V\" not found%s%s", host,
                               &server->name, u.err ? ": " : "",
                               u.err ? u.err : "");
            goto failed;
        }

        len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, addr,
                            NGX_SOCKADDR_STRLEN - 1, 0);
        if (addr[0] == '[') {
            /* no brackets around IPv6 addresses in libpq */
            ngx_memmove(addr, addr + 1, len - 2);
            len -= 2;
        }

        addr[len] = '\0';

        server->keywords[i] = "hostaddr";
        server->values[i] = ngx_http_backend_pg_strdup(cf->pool, (char *) addr);
        if (server->values[i] == NULL) {
            goto failed;
        }

        i++;
    }

    if (server->pooler) {
        if (ngx_http_backend_pg_preamble(cf, server) != NGX_OK) {
            goto failed;
        }

        if (!has_enc) {
            server->keywords[i] = "client_encoding";
            server->values[i++] = "UTF8";
        }

    } else {
        len = sizeof("-c statement_timeout=4294967295 -c TimeZone=UTC "
                     "-c DateStyle=ISO,MDY -c IntervalStyle=postgres ") - 1
              + (options ? ngx_strlen(options) : 0) + 1;

        s = ngx_pnalloc(cf->pool, len);
        if (s == NULL) {
            goto failed;
        }

        /* the user's options come last: they win */

        p = ngx_snprintf((u_char *) s, len - 1,
                         "-c statement_timeout=%M -c TimeZone=UTC "
                         "-c DateStyle=ISO,MDY -c IntervalStyle=postgres %s",
                         server->query_timeout, options ? options : "");
        *p = '\0';

        server->keywords[i] = "options";
        server->values[i++] = s;
    }

    if (!has_app) {
        server->keywords[i] = "application_name";
        server->values[i++] = "ngx_backend";
    }

    /* libpq's default, "prefer", may reconnect without SSL */

    if (!has_ssl) {
        server->keywords[i] = "sslmode";
        server->values[i++] = "disable";
    }

    if (!has_gss) {
        server->keywords[i] = "gssencmode";
        server->values[i++] = "disable";
    }

    server->keywords[i] = NULL;
    server->values[i] = NULL;

    PQconninfoFree(opts);

    return NGX_OK;

failed:

    PQconninfoFree(opts);

    return NGX_ERROR;
}


/*
 * pooler=transaction: the settings of "options" above, for one transaction
 * each, run first in the same Sync as the statement (ngx_http_backend_pg.c)
 */

static ngx_int_t
ngx_http_backend_pg_preamble(ngx_conf_t *cf,
    ngx_http_backend_pg_server_t *server)
{
    u_char  *p;
    size_t   len;

    len = sizeof("select set_config('statement_timeout', '4294967295', true),"
                 " set_config('TimeZone', 'UTC', true),"
                 " set_config('DateStyle', 'ISO, MDY', true),"
                 " set_config('IntervalStyle', 'postgres', true)");

    server->preamble = ngx_pnalloc(cf->pool, len);
    if (server->preamble == NULL) {
        return NGX_ERROR;
    }

    p = ngx_snprintf(server->preamble, len - 1,
                     "select set_config('statement_timeout', '%M', true),"
                     " set_config('TimeZone', 'UTC', true),"
                     " set_config('DateStyle', 'ISO, MDY', true),"
                     " set_config('IntervalStyle', 'postgres', true)",
                     server->query_timeout);
    *p = '\0';

    return NGX_OK;
}


static char *
ngx_http_backend_pg_strdup(ngx_pool_t *pool, const char *s)
{
    size_t   len;
    u_char  *p;

    len = ngx_strlen(s);

    p = ngx_pnalloc(pool, len + 1);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, s, len + 1);

    return (char *) p;
}


static ngx_int_t
ngx_http_backend_pg_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                        i;
    ngx_http_backend_pg_server_t    **server;
    ngx_http_backend_pg_main_conf_t  *pmcf;

    pmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_backend_pg_module);
    if (pmcf == NULL) {
        return NGX_OK;
    }

    server = pmcf->servers.elts;

    for (i = 0; i < pmcf->servers.nelts; i++) {
        if (ngx_http_backend_pg_init_pool(cycle, server[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_http_backend_pg_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                        i;
    ngx_http_backend_pg_server_t    **server;
    ngx_http_backend_pg_main_conf_t  *pmcf;

    pmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_backend_pg_module);
    if (pmcf == NULL) {
        return;
    }

    server = pmcf->servers.elts;

    for (i = 0; i < pmcf->servers.nelts; i++) {
        ngx_http_backend_pg_close_pool(server[i]);
    }
}
