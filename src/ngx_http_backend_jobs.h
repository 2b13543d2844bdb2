
/*
 * Copyright (C) ngx_backend authors
 */


#ifndef _NGX_HTTP_BACKEND_JOBS_H_INCLUDED_
#define _NGX_HTTP_BACKEND_JOBS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_backend.h"
#include "ngx_http_backend_adapter_bg.h"


/*
 * Background work: the engine (ngx_http_backend_jobs.c) and its
 * configuration (ngx_http_backend_jobs_conf.c); the listener
 * (ngx_http_backend_jobs_listen.c) wakes queues with
 * ngx_http_backend_jobs_wake().
 */


#define NGX_HTTP_BACKEND_JOBS_JOB          0
#define NGX_HTTP_BACKEND_JOBS_QUEUE        1

/* what params names: slot.* for jobs, item.* for queues */
#define NGX_HTTP_BACKEND_JOBS_SLOT_TIME    0
#define NGX_HTTP_BACKEND_JOBS_SLOT_JOB     1
#define NGX_HTTP_BACKEND_JOBS_SLOT_ATTEMPT 2
#define NGX_HTTP_BACKEND_JOBS_ITEM_PAYLOAD 3
#define NGX_HTTP_BACKEND_JOBS_ITEM_ID      4
#define NGX_HTTP_BACKEND_JOBS_ITEM_ATTEMPT 5
#define NGX_HTTP_BACKEND_JOBS_ITEM_KEY     6
#define NGX_HTTP_BACKEND_JOBS_ITEM_QUEUE   7
/* the answer of the block's "call", either kind */
#define NGX_HTTP_BACKEND_JOBS_CALL_RESULT  8
#define NGX_HTTP_BACKEND_JOBS_CALL_STATUS  9

#define NGX_HTTP_BACKEND_JOBS_MAX_PARAMS   8
/* the job's parameters and the fence's five (8 + 5) */
#define NGX_HTTP_BACKEND_JOBS_VALUES       13

#define NGX_HTTP_BACKEND_JOBS_NONE         0
#define NGX_HTTP_BACKEND_JOBS_LATEST       1
#define NGX_HTTP_BACKEND_JOBS_ALL          2

/* outcomes of runs and items, as docs/metrics.md */
#define NGX_HTTP_BACKEND_JOBS_DONE         0
#define NGX_HTTP_BACKEND_JOBS_RETRY        1
#define NGX_HTTP_BACKEND_JOBS_FAILED       2   /* a queue's "dead" */
#define NGX_HTTP_BACKEND_JOBS_LOST         3
#define NGX_HTTP_BACKEND_JOBS_OUTCOMES     4

/* how often a queue's depth is read, by worker 0 */
#define NGX_HTTP_BACKEND_JOBS_STATS        5000

#define NGX_HTTP_BACKEND_JOBS_ERROR_LEN    512

/* the listener's states */
#define NGX_HTTP_BACKEND_JOBS_LISTEN_OFF   0
#define NGX_HTTP_BACKEND_JOBS_CONNECTING   1
#define NGX_HTTP_BACKEND_JOBS_LISTENING    2

#define NGX_HTTP_BACKEND_JOBS_RECONNECT    1000
#define NGX_HTTP_BACKEND_JOBS_CONNECT_TIMEOUT  5000


/* the node's workers in the limit's zone: old ones of a reload included */
#define NGX_HTTP_BACKEND_JOBS_WORKERS      256
/* a slot being freed by whoever found its process gone */
#define NGX_HTTP_BACKEND_JOBS_REAPING      ((ngx_atomic_uint_t) -1)


typedef struct ngx_http_backend_jobs_task_s  ngx_http_backend_jobs_task_t;
typedef struct ngx_http_backend_jobs_main_conf_s
    ngx_http_backend_jobs_main_conf_t;


typedef struct {
    ngx_http_backend_jobs_task_t   *task;

    ngx_http_backend_pg_query_t     query;      /* the run, then its fail */
    ngx_http_backend_pg_query_t     renew;
    ngx_event_t                     lease;

    char                           *values[NGX_HTTP_BACKEND_JOBS_VALUES];
    char                           *renew_values[5];

    u_char                          slot[64];
    u_char                          id[NGX_INT64_LEN + 1];
    u_char                          attempt[NGX_INT_T_LEN + 1];
    u_char                          error[NGX_HTTP_BACKEND_JOBS_ERROR_LEN];

    /* an item's payload and dedupe key, null-terminated, malloc'ed */
    u_char                         *data;
    size_t                          size;
    u_char                         *key;

    /* the block's call, in flight or answered */
    ngx_http_backend_adapter_bg_call_t  *call;

    uint64_t                        started;    /* us */

    unsigned                        busy:1;     /* the run or its fail */
    unsigned                        failing:1;
    unsigned                        renewing:1;
} ngx_http_backend_jobs_run_t;


struct ngx_http_backend_jobs_task_s {
    ngx_uint_t                      kind;
    ngx_str_t                       name;       /* null-terminated */
    ngx_str_t                       sql;
    ngx_uint_t                      params[NGX_HTTP_BACKEND_JOBS_MAX_PARAMS];
    ngx_uint_t                      nparams;
    ngx_str_t                       database;
    ngx_http_backend_adapter_bg_t  *call;       /* "call": an external API */

    ngx_msec_t                      every;
    ngx_msec_t                      timeout;
    ngx_uint_t                      catch_up;
    ngx_uint_t                      catch_max;
    ngx_uint_t                      overlap;    /* 1: skip */
    ngx_uint_t                      max_attempts;
    ngx_msec_t                      backoff;
    ngx_msec_t                      lease;
    ngx_uint_t                      concurrency;
    ngx_uint_t                      batch;

    u_char                         *file;
    ngx_uint_t                      line;

    ngx_http_backend_pg_server_t   *server;
    ngx_http_backend_pg_stmt_t     *claim_stmt;
    ngx_http_backend_pg_stmt_t     *run_stmt;
    ngx_http_backend_pg_stmt_t     *fail_stmt;
    ngx_http_backend_pg_stmt_t     *renew_stmt;
    ngx_http_backend_pg_stmt_t     *stats_stmt;

    /* metrics, labelled with the name */
    ngx_http_backend_series_t      *outcomes[NGX_HTTP_BACKEND_JOBS_OUTCOMES];
    ngx_http_backend_series_t      *duration;
    ngx_http_backend_series_t      *lag;
    ngx_http_backend_series_t      *last_success;   /* jobs */
    ngx_http_backend_series_t      *missed;         /* jobs */
    ngx_http_backend_series_t      *skipped;        /* jobs */
    ngx_http_backend_series_t      *depth;          /* queues */
    ngx_http_backend_series_t      *oldest;         /* queues */

    /* the worker's state, set up in init_process */
    ngx_http_backend_jobs_main_conf_t  *jmcf;
    ngx_event_t                     timer;
    ngx_http_backend_pg_query_t     claim;
    char                           *claim_values[8];
    u_char                         *claim_buf;
    /* the numbers the run, its fail and its renewal send */
    char                           *timeout_value;
    char                           *max_attempts_value;
    char                           *backoff_value;
    char                           *lease_value;
    ngx_http_backend_pg_query_t     stats;
    char                           *stats_values[1];
    ngx_msec_t                      stats_at;
    ngx_http_backend_jobs_run_t    *runs;
    ngx_uint_t                      nruns;
    ngx_uint_t                      active;
    ngx_uint_t                      asked;      /* by the last claim */

    unsigned                        claiming:1;
    unsigned                        woken:1;    /* while claiming */
    unsigned                        more:1;     /* the last batch was full */
    unsigned                        down:1;     /* the last claim failed */
    unsigned                        counting:1; /* stats in flight */
};


/*
 * backend_jobs_limit for the whole node: a total reserved with
 * compare-and-swap before each claim, and each worker's share in a slot of
 * its own, so that what a crashed worker held is given back by the next
 * worker that finds the limit reached and the process gone
 */

typedef struct {
    ngx_atomic_t                    pid;
    ngx_atomic_t                    count;
} ngx_http_backend_jobs_worker_t;


typedef struct {
    ngx_atomic_t                    total;
    ngx_http_backend_jobs_worker_t  workers[NGX_HTTP_BACKEND_JOBS_WORKERS];
} ngx_http_backend_jobs_shm_t;


struct ngx_http_backend_jobs_main_conf_s {
    ngx_array_t                     tasks;      /* of task_t */
    ngx_msec_t                      poll;
    ngx_uint_t                      limit;
    ngx_str_t                       listen;
    u_char                         *listen_file;
    ngx_uint_t                      listen_line;

    ngx_http_backend_pg_server_t   *listen_server;

    ngx_shm_zone_t                 *zone;
    ngx_http_backend_jobs_shm_t    *sh;

    /* the worker's */
    u_char                          owner[NGX_MAXHOSTNAMELEN + 32];
    ngx_http_backend_jobs_worker_t *worker;     /* its slot, or NULL */
    ngx_uint_t                      alone;      /* held without a slot */
    ngx_log_t                      *log;

    PGconn                         *pgconn;
    ngx_connection_t               *connection;
    ngx_event_t                     reconnect;
    ngx_uint_t                      listen_state;
};


void ngx_http_backend_jobs_wake(ngx_http_backend_jobs_task_t *t);

void ngx_http_backend_jobs_listen_start(ngx_event_t *ev);
void ngx_http_backend_jobs_listen_close(
    ngx_http_backend_jobs_main_conf_t *jmcf, ngx_uint_t retry);


extern ngx_module_t  ngx_http_backend_jobs_module;


#endif /* _NGX_HTTP_BACKEND_JOBS_H_INCLUDED_ */
