
/*
 * Copyright (C) ngx_backend authors
 */


#ifndef _NGX_HTTP_BACKEND_PG_H_INCLUDED_
#define _NGX_HTTP_BACKEND_PG_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <libpq-fe.h>

#include "ngx_http_backend_metrics.h"


/*
 * The non-blocking Postgres engine: one pool of libpq connections per
 * configured database in each worker, driven by nginx events.  Modules run
 * prepared statements through ngx_http_backend_pg_run() and get a callback.
 */


typedef struct ngx_http_backend_pg_server_s  ngx_http_backend_pg_server_t;
typedef struct ngx_http_backend_pg_pool_s    ngx_http_backend_pg_pool_t;
typedef struct ngx_http_backend_pg_conn_s    ngx_http_backend_pg_conn_t;
typedef struct ngx_http_backend_pg_query_s   ngx_http_backend_pg_query_t;

typedef void (*ngx_http_backend_pg_handler_pt)(
    ngx_http_backend_pg_query_t *q);


/* the outcomes of backend_pg_statements_total: these, then the classes */

#define NGX_HTTP_BACKEND_PG_OUTCOME_OK           0
#define NGX_HTTP_BACKEND_PG_OUTCOME_TIMEOUT      1
#define NGX_HTTP_BACKEND_PG_OUTCOME_UNAVAILABLE  2
#define NGX_HTTP_BACKEND_PG_OUTCOME_OTHER        3   /* an unknown class */
#define NGX_HTTP_BACKEND_PG_OUTCOMES             4

/*
 * The SQLSTATE classes of PostgreSQL's Appendix A (version 15), two
 * characters each, declared as outcomes at configuration time: a class
 * that is not here counts as "other", so no label is made at run time
 */

#define NGX_HTTP_BACKEND_PG_CLASSES                                          \
    "00" "01" "02" "03" "08" "09" "0A" "0B" "0F" "0L" "0P" "0Z"              \
    "20" "21" "22" "23" "24" "25" "26" "27" "28" "2B" "2D" "2F"              \
    "34" "38" "39" "3B" "3D" "3F" "40" "42" "44" "53" "54" "55"              \
    "57" "58" "72" "F0" "HV" "P0" "XX"

/* connections by state: connecting (or checking statements), idle, busy */

#define NGX_HTTP_BACKEND_PG_CONNECTING_STATE     0
#define NGX_HTTP_BACKEND_PG_IDLE_STATE           1
#define NGX_HTTP_BACKEND_PG_BUSY_STATE           2


typedef enum {
    NGX_HTTP_BACKEND_PG_OK = 0,
    NGX_HTTP_BACKEND_PG_UNAVAILABLE,    /* no connection, queue full */
    NGX_HTTP_BACKEND_PG_TIMEOUT,        /* query_timeout or queue_timeout */
    NGX_HTTP_BACKEND_PG_SQL_ERROR       /* the server said no: see sqlstate */
} ngx_http_backend_pg_status_e;


typedef struct {
    ngx_str_t                       sql;        /* null-terminated */
    ngx_uint_t                      nparams;
    ngx_uint_t                      index;      /* in server->stmts */
    u_char                          name[32];   /* null-terminated */

    /* for the log: the procedure, where the statement is configured */
    ngx_str_t                       owner;      /* may be empty */
    u_char                         *file;
    ngx_uint_t                      line;
} ngx_http_backend_pg_stmt_t;


struct ngx_http_backend_pg_server_s {
    ngx_str_t                       name;
    ngx_str_t                       conninfo;

    /* connection parameters for PQconnectStartParams(), null-terminated */
    const char                    **keywords;
    const char                    **values;

    ngx_uint_t                      max;
    ngx_uint_t                      queue;
    ngx_msec_t                      queue_timeout;
    ngx_msec_t                      connect_timeout;
    ngx_msec_t                      query_timeout;
    ngx_msec_t                      max_lifetime;
    ngx_uint_t                      max_requests;
    ngx_uint_t                      pipeline;   /* statements per conn */

    /*
     * pooler=transaction: behind a transaction pooler (PgBouncer), no
     * session state at all: each statement is an unnamed one, sent with
     * preamble (its settings, SET LOCAL) as one transaction, one Sync
     */
    ngx_uint_t                      pooler;
    u_char                         *preamble;   /* null-terminated */

    ngx_array_t                     stmts;      /* of stmt_t * */

    /* the worker's pool, created in init_process */
    ngx_http_backend_pg_pool_t     *pool;

    /* metrics, labelled database="<name>", declared at configuration time */
    ngx_http_backend_series_t      *connections[3];     /* by state */
    ngx_http_backend_series_t      *queue_length;
    ngx_http_backend_series_t      *queue_wait;
    ngx_http_backend_series_t      *statement_duration;
    ngx_http_backend_series_t     **statements;         /* by outcome, then
                                                           by class */
    ngx_http_backend_series_t      *queue_timeouts;
    ngx_http_backend_series_t      *query_timeouts;
    ngx_http_backend_series_t      *connect_failures;
    ngx_http_backend_series_t      *connections_lost;
    ngx_http_backend_series_t      *pipeline_depth;

    u_char                         *file;
    ngx_uint_t                      line;
};


struct ngx_http_backend_pg_query_s {
    ngx_http_backend_pg_server_t   *server;
    ngx_http_backend_pg_stmt_t     *stmt;
    char                          **values;     /* NULL is SQL NULL */

    ngx_http_backend_pg_handler_pt  handler;
    void                           *data;
    ngx_log_t                      *log;

    /*
     * Set by the caller: the statement cannot write (a tRPC query), so it
     * may run again after its connection was lost once it was sent.
     * Anything else runs again only if it was never sent.
     */
    unsigned                        read_only:1;

    /* the outcome, valid in the handler */
    ngx_http_backend_pg_status_e    status;
    PGresult                       *result;     /* the handler owns it */
    u_char                          sqlstate[6];
    uint64_t                        queue_wait; /* us until it was sent */
    uint64_t                        duration;   /* us from sent to result */

    /* private to the engine */
    ngx_queue_t                     queue;
    ngx_event_t                     wait;
    ngx_http_backend_pg_conn_t     *conn;
    ngx_uint_t                      slot;       /* in conn's pipeline */
    uint64_t                        mark;       /* us: the clock's start */
    unsigned                        clock:2;    /* stopped, waiting,
                                                   running */
    unsigned                        ran:1;      /* was sent */
    unsigned                        queued:1;
    unsigned                        retried:1;  /* after a lost conn */
    unsigned                        replanned:1; /* after a stale plan */
};


typedef enum {
    NGX_HTTP_BACKEND_PG_ROWS = 0,       /* an array of row objects */
    NGX_HTTP_BACKEND_PG_ROW,            /* the first row as an object */
    NGX_HTTP_BACKEND_PG_VALUE           /* the first value of the first row */
} ngx_http_backend_pg_shape_e;


ngx_http_backend_pg_server_t *ngx_http_backend_pg_server(ngx_conf_t *cf,
    ngx_str_t *name);
ngx_http_backend_pg_stmt_t *ngx_http_backend_pg_stmt_add(ngx_conf_t *cf,
    ngx_http_backend_pg_server_t *server, ngx_str_t *sql, ngx_uint_t nparams);
ngx_int_t ngx_http_backend_pg_sql_params(ngx_str_t *sql, ngx_uint_t *n);

ngx_int_t ngx_http_backend_pg_init_pool(ngx_cycle_t *cycle,
    ngx_http_backend_pg_server_t *server);
void ngx_http_backend_pg_close_pool(ngx_http_backend_pg_server_t *server);

/*
 * Postgres values as JSON, the way a Node backend writes them: numbers,
 * booleans, embedded json/jsonb, numeric as a string, timestamps as
 * Date.prototype.toJSON() writes them, arrays as arrays.  With p == NULL
 * only the length is computed.  scratch: len bytes, used for arrays.
 */
size_t ngx_http_backend_pg_value(u_char *p, Oid type, u_char *v, size_t len,
    u_char *scratch);
/* at least what ngx_http_backend_pg_value() writes for a non-array type */
size_t ngx_http_backend_pg_bound(Oid type, u_char *v, size_t len);
ngx_int_t ngx_http_backend_pg_result_json(ngx_pool_t *pool, PGresult *res,
    ngx_http_backend_pg_shape_e shape, ngx_str_t *out);
/*
 * superjson: where in what result_json() writes the Dates are (timestamp
 * and timestamptz values that are not null), as superjson's paths
 * ("0.createdAt"; "" the value itself); *dates NULL: none
 */
ngx_int_t ngx_http_backend_pg_result_dates(ngx_pool_t *pool, PGresult *res,
    ngx_http_backend_pg_shape_e shape, ngx_array_t **dates);
/* a column by its name as written (PQfnumber() folds case); -1: none */
int ngx_http_backend_pg_column(PGresult *res, const char *name);
/* an nginx connection around a socket libpq owns, dropped; the socket kept */
void ngx_http_backend_pg_unwrap_socket(ngx_connection_t *c);

/*
 * Runs q->stmt with q->values.  NGX_OK: q->handler will be called later,
 * from an event, unless ngx_http_backend_pg_abort() comes first.
 * NGX_DECLINED: it failed at once, q->status says why; no callback.
 */
ngx_int_t ngx_http_backend_pg_run(ngx_http_backend_pg_query_t *q);
void ngx_http_backend_pg_abort(ngx_http_backend_pg_query_t *q);


extern ngx_module_t  ngx_http_backend_pg_module;


#endif /* _NGX_HTTP_BACKEND_PG_H_INCLUDED_ */
