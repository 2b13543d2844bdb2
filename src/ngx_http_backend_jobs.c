
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_backend.h"
#include "ngx_http_backend_jobs.h"
#include "ngx_http_backend_metrics.h"


/*
 * Background work: scheduled jobs (backend_schedule) and durable queues
 * (backend_queue), run by every worker of every node from timers, on the
 * non-blocking Postgres engine, coordinated by the database alone
 * (migrations 0004 and 0006).
 *
 * A job's tick is one statement, app.tick_job(): the oldest due slot of
 * the job claimed under its lock (time is the database's now()), with a
 * lease.  The run is one statement too: the job's SQL in a materialized
 * CTE and the slot's fence, app.finish_slot_within(), which marks it done
 * only while the row is still this owner's attempt -- so the work and its
 * record commit together, and a holder whose lease was taken over rolls
 * its work back (SQLSTATE BG001).  A failed run is recorded by
 * app.fail_slot(): retry after a backoff with jitter, then failed.  The
 * lease is renewed while the run goes on; a node that dies leaves it to
 * expire, and another node takes the slot over.
 *
 * A queue is claimed in batches (app.claim_items(), FOR UPDATE SKIP
 * LOCKED), each item run as its handler's SQL with app.finish_item_within()
 * in one statement, failed attempts recorded by app.fail_item() (backoff,
 * then dead).  Workers are woken by NOTIFY backend_queue on a connection
 * of their own (backend_jobs_listen), and poll in any case, so a lost or
 * missing listener only makes them slower.
 */


static ngx_http_backend_jobs_task_t *ngx_http_backend_jobs_task(
    ngx_conf_t *cf, ngx_http_backend_jobs_main_conf_t *jmcf,
    ngx_uint_t kind);
static char *ngx_http_backend_jobs_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_backend_jobs_item(ngx_conf_t *cf, ngx_command_t *dummy,
    void *conf);
static char *ngx_http_backend_jobs_check(ngx_conf_t *cf,
    ngx_http_backend_jobs_task_t *t);
static char *ngx_http_backend_jobs_listen(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void *ngx_http_backend_jobs_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_backend_jobs_init_main_conf(ngx_conf_t *cf, void *conf);
static ngx_int_t ngx_http_backend_jobs_prepare(ngx_conf_t *cf,
    ngx_http_backend_jobs_task_t *t);
static ngx_http_backend_pg_stmt_t *ngx_http_backend_jobs_stmt(ngx_conf_t *cf,
    ngx_http_backend_jobs_task_t *t, char *fmt, ...);
static ngx_int_t ngx_http_backend_jobs_metrics(ngx_conf_t *cf,
    ngx_http_backend_jobs_task_t *t);
static ngx_int_t ngx_http_backend_jobs_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_backend_jobs_init_process(ngx_cycle_t *cycle);
static void ngx_http_backend_jobs_exit_process(ngx_cycle_t *cycle);

static ngx_uint_t ngx_http_backend_jobs_reserve(
    ngx_http_backend_jobs_main_conf_t *jmcf, ngx_uint_t n);
static void ngx_http_backend_jobs_release(
    ngx_http_backend_jobs_main_conf_t *jmcf, ngx_uint_t n);
static ngx_uint_t ngx_http_backend_jobs_reap(
    ngx_http_backend_jobs_main_conf_t *jmcf);
static void ngx_http_backend_jobs_attach(
    ngx_http_backend_jobs_main_conf_t *jmcf);
static void ngx_http_backend_jobs_arm(ngx_http_backend_jobs_task_t *t,
    ngx_msec_t delay);
static void ngx_http_backend_jobs_tick(ngx_event_t *ev);
static void ngx_http_backend_jobs_claimed(ngx_http_backend_pg_query_t *q);
static ngx_int_t ngx_http_backend_jobs_start(
    ngx_http_backend_jobs_task_t *t, PGresult *res, int row);
static void ngx_http_backend_jobs_ran(ngx_http_backend_pg_query_t *q);
static void ngx_http_backend_jobs_fail(ngx_http_backend_jobs_run_t *run,
    ngx_http_backend_pg_query_t *q);
static void ngx_http_backend_jobs_record(ngx_http_backend_jobs_run_t *run);
static void ngx_http_backend_jobs_call(ngx_http_backend_jobs_run_t *run);
static void ngx_http_backend_jobs_called(
    ngx_http_backend_adapter_bg_call_t *bc, void *data);
static void ngx_http_backend_jobs_statement(ngx_http_backend_jobs_run_t *run);
static ngx_int_t ngx_http_backend_jobs_postconfiguration(ngx_conf_t *cf);
static void ngx_http_backend_jobs_failed(ngx_http_backend_pg_query_t *q);
static void ngx_http_backend_jobs_end(ngx_http_backend_jobs_run_t *run);
static void ngx_http_backend_jobs_lease(ngx_event_t *ev);
static void ngx_http_backend_jobs_renewed(ngx_http_backend_pg_query_t *q);
static void ngx_http_backend_jobs_counted(ngx_http_backend_pg_query_t *q);
static ngx_int_t ngx_http_backend_jobs_int(PGresult *res, int row, int col);
static void ngx_http_backend_jobs_message(ngx_http_backend_pg_query_t *q,
    u_char *buf, size_t size);



static ngx_str_t  ngx_http_backend_jobs_outcome_names[2][4] = {
    { ngx_string("done"), ngx_string("retry"), ngx_string("failed"),
      ngx_string("lost") },
    { ngx_string("done"), ngx_string("retry"), ngx_string("dead"),
      ngx_string("lost") }
};

static char  *ngx_http_backend_jobs_catch_up[] = { "none", "latest", "all" };

static ngx_conf_num_bounds_t  ngx_http_backend_jobs_limit_bounds = {
    ngx_conf_check_num_bounds, 1, 10000
};


static ngx_command_t  ngx_http_backend_jobs_commands[] = {

    { ngx_string("backend_schedule"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_backend_jobs_block,
      NGX_HTTP_MAIN_CONF_OFFSET,
      NGX_HTTP_BACKEND_JOBS_JOB,
      NULL },

    { ngx_string("backend_queue"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_backend_jobs_block,
      NGX_HTTP_MAIN_CONF_OFFSET,
      NGX_HTTP_BACKEND_JOBS_QUEUE,
      NULL },

    { ngx_string("backend_jobs_poll"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_backend_jobs_main_conf_t, poll),
      NULL },

    { ngx_string("backend_jobs_limit"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_backend_jobs_main_conf_t, limit),
      &ngx_http_backend_jobs_limit_bounds },

    { ngx_string("backend_jobs_listen"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_backend_jobs_listen,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_backend_jobs_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_backend_jobs_postconfiguration, /* postconfiguration */

    ngx_http_backend_jobs_create_main_conf, /* create main configuration */
    ngx_http_backend_jobs_init_main_conf,  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_backend_jobs_module = {
    NGX_MODULE_V1,
    &ngx_http_backend_jobs_module_ctx,     /* module context */
    ngx_http_backend_jobs_commands,        /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_backend_jobs_init_process,    /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_backend_jobs_exit_process,    /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* the node's limit */

static ngx_uint_t
ngx_http_backend_jobs_reserve(ngx_http_backend_jobs_main_conf_t *jmcf,
    ngx_uint_t n)
{
    ngx_uint_t                    k, reaped;
    ngx_atomic_uint_t             cur;
    ngx_http_backend_jobs_shm_t  *sh;

    sh = jmcf->sh;
    reaped = 0;

    if (n == 0) {
        return 0;
    }

    for ( ;; ) {
        cur = sh->total;

        if (cur >= jmcf->limit) {
            /* full: perhaps of what crashed workers held, once a call */

            if (reaped || ngx_http_backend_jobs_reap(jmcf) == 0) {
                return 0;
            }

            reaped = 1;
            continue;
        }

        k = ngx_min(n, jmcf->limit - cur);

        if (ngx_atomic_cmp_set(&sh->total, cur, cur + k)) {
            break;
        }
    }

    if (jmcf->worker) {
        (void) ngx_atomic_fetch_add(&jmcf->worker->count, k);

    } else {
        jmcf->alone += k;
    }

    return k;
}


static void
ngx_http_backend_jobs_release(ngx_http_backend_jobs_main_conf_t *jmcf,
    ngx_uint_t n)
{
    if (n == 0) {
        return;
    }

    if (jmcf->worker) {
        (void) ngx_atomic_fetch_add(&jmcf->worker->count,
                                    - (ngx_atomic_int_t) n);

    } else {
        jmcf->alone -= n;
    }

    (void) ngx_atomic_fetch_add(&jmcf->sh->total, - (ngx_atomic_int_t) n);
}


/*
 * What workers that are gone (killed, crashed) still hold, given back;
 * the slot freed.  Whoever swaps the dead pid out first does it, once.
 */

static ngx_uint_t
ngx_http_backend_jobs_reap(ngx_http_backend_jobs_main_conf_t *jmcf)
{
    ngx_uint_t                       i, n;
    ngx_atomic_uint_t                pid, count;
    ngx_http_backend_jobs_worker_t  *w;

    n = 0;
    w = jmcf->sh->workers;

    for (i = 0; i < NGX_HTTP_BACKEND_JOBS_WORKERS; i++) {
        pid = w[i].pid;

        if (pid == 0 || pid == NGX_HTTP_BACKEND_JOBS_REAPING
            || pid == (ngx_atomic_uint_t) ngx_pid || w[i].count == 0)
        {
            continue;
        }

        if (kill((ngx_pid_t) pid, 0) == 0 || ngx_errno != NGX_ESRCH) {
            continue;
        }

        if (!ngx_atomic_cmp_set(&w[i].pid, pid,
                                NGX_HTTP_BACKEND_JOBS_REAPING))
        {
            continue;
        }

        count = w[i].count;
        w[i].count = 0;
        (void) ngx_atomic_fetch_add(&jmcf->sh->total,
                                    - (ngx_atomic_int_t) count);
        w[i].pid = 0;

        ngx_log_error(NGX_LOG_NOTICE, jmcf->log, 0,
                      "backend_jobs_limit: %uA run(s) of the gone process "
                      "%uA given back", count, pid);
        n += count;
    }

    return n;
}


/* the worker's slot in the zone, taken in init_process */

static void
ngx_http_backend_jobs_attach(ngx_http_backend_jobs_main_conf_t *jmcf)
{
    ngx_uint_t                       i;
    ngx_http_backend_jobs_worker_t  *w;

    w = jmcf->sh->workers;

    for (i = 0; i < NGX_HTTP_BACKEND_JOBS_WORKERS; i++) {
        if (w[i].pid == 0
            && ngx_atomic_cmp_set(&w[i].pid, 0, (ngx_atomic_uint_t) ngx_pid))
        {
            w[i].count = 0;
            jmcf->worker = &w[i];
            return;
        }
    }

    /* more processes than slots: this one counts in the total only, and
     * what it holds is lost to the node's limit if it crashes */

    ngx_log_error(NGX_LOG_WARN, jmcf->log, 0,
                  "backend_jobs_limit: more than %d processes, this one "
                  "is not reaped if it crashes",
                  NGX_HTTP_BACKEND_JOBS_WORKERS);
}


/* the engine: one task's timer, claims, runs, fences */

static void
ngx_http_backend_jobs_arm(ngx_http_backend_jobs_task_t *t, ngx_msec_t delay)
{
    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    /* ngx_add_timer() keeps a timer set within 300 ms: move it for real */

    if (t->timer.timer_set) {
        ngx_del_timer(&t->timer);
    }

    ngx_add_timer(&t->timer, delay);
}


/* the poll interval, spread by up to a quarter so workers do not align */

static ngx_msec_t
ngx_http_backend_jobs_poll(ngx_http_backend_jobs_task_t *t)
{
    ngx_msec_t  poll;

    poll = t->jmcf->poll;

    if (t->kind == NGX_HTTP_BACKEND_JOBS_JOB && t->every < poll) {
        poll = t->every;
    }

    return poll + (ngx_msec_t) ngx_random() % (poll / 4 + 1);
}


void
ngx_http_backend_jobs_wake(ngx_http_backend_jobs_task_t *t)
{
    if (t->claiming) {
        t->woken = 1;
        return;
    }

    ngx_http_backend_jobs_arm(t, 0);
}


static void
ngx_http_backend_jobs_tick(ngx_event_t *ev)
{
    ngx_uint_t                          i, n;
    ngx_http_backend_jobs_task_t       *t;
    ngx_http_backend_jobs_main_conf_t  *jmcf;

    t = ev->data;
    jmcf = t->jmcf;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    /* worker 0 reads each queue's depth for the gauges */

    if (t->stats_stmt && !t->counting
        && ngx_current_msec - t->stats_at >= NGX_HTTP_BACKEND_JOBS_STATS)
    {
        t->stats_at = ngx_current_msec;
        t->stats.server = t->server;
        t->stats.stmt = t->stats_stmt;
        t->stats.values = t->stats_values;
        t->stats.handler = ngx_http_backend_jobs_counted;
        t->stats.data = t;
        t->stats.log = jmcf->log;
        t->stats.read_only = 1;

        if (ngx_http_backend_pg_run(&t->stats) == NGX_OK) {
            t->counting = 1;
        }
    }

    if (t->claiming) {
        return;
    }

    /* what this worker may still take: the task's runs, the node's limit */

    n = 0;

    for (i = 0; i < t->nruns; i++) {
        if (!t->runs[i].busy && !t->runs[i].renewing) {
            n++;
        }
    }

    if (t->kind == NGX_HTTP_BACKEND_JOBS_QUEUE && n > t->batch) {
        n = t->batch;
    }

    /* the node's limit: reserved before the claim, the unused returned */

    n = ngx_http_backend_jobs_reserve(jmcf, n);

    if (n == 0) {
        ngx_http_backend_jobs_arm(t, ngx_http_backend_jobs_poll(t));
        return;
    }

    t->asked = n;

    if (t->kind == NGX_HTTP_BACKEND_JOBS_QUEUE) {
        /* $3 of the claim: how many */
        t->claim_values[2] = (char *) t->claim_buf;
        ngx_sprintf(t->claim_buf, "%ui%Z", n);
    }

    t->claim.server = t->server;
    t->claim.stmt = t->claim_stmt;
    t->claim.values = t->claim_values;
    t->claim.handler = ngx_http_backend_jobs_claimed;
    t->claim.data = t;
    t->claim.log = jmcf->log;
    t->claim.read_only = 0;

    t->woken = 0;

    if (ngx_http_backend_pg_run(&t->claim) == NGX_OK) {
        t->claiming = 1;
        return;
    }

    ngx_http_backend_jobs_release(jmcf, n);
    ngx_http_backend_jobs_arm(t, ngx_http_backend_jobs_poll(t));
}


static void
ngx_http_backend_jobs_claimed(ngx_http_backend_pg_query_t *q)
{
    int                                 i, n;
    PGresult                           *res;
    ngx_int_t                           missed, skipped;
    ngx_uint_t                          started;
    ngx_http_backend_jobs_task_t       *t;

    t = q->data;
    t->claiming = 0;
    started = 0;

    res = q->result;
    q->result = NULL;

    if (q->status != NGX_HTTP_BACKEND_PG_OK) {
        if (!t->down) {
            ngx_log_error(NGX_LOG_WARN, q->log, 0,
                          "backend %s \"%V\": claim failed (%s), polling "
                          "until it works",
                          t->kind == NGX_HTTP_BACKEND_JOBS_JOB
                          ? "schedule" : "queue", &t->name,
                          q->status == NGX_HTTP_BACKEND_PG_SQL_ERROR
                          ? (char *) q->sqlstate : "database unavailable");
            t->down = 1;
        }

        t->more = 0;
        goto next;
    }

    if (t->down) {
        ngx_log_error(NGX_LOG_NOTICE, q->log, 0,
                      "backend %s \"%V\": claiming again",
                      t->kind == NGX_HTTP_BACKEND_JOBS_JOB
                      ? "schedule" : "queue", &t->name);
        t->down = 0;
    }

    n = PQntuples(res);

    if (t->kind == NGX_HTTP_BACKEND_JOBS_JOB) {
        /* one row: slot, attempt, reason, lag_ms, missed, skipped */

        if (n != 1 || PQnfields(res) != 6) {
            goto next;
        }

        skipped = ngx_http_backend_jobs_int(res, 0, 5);

        if (skipped > 0) {
            ngx_http_backend_metrics_add(t->skipped, skipped);
            ngx_log_error(NGX_LOG_INFO, q->log, 0,
                          "backend schedule \"%V\": %i slot(s) recorded as "
                          "skipped, a run was still going", &t->name,
                          skipped);
        }

        missed = ngx_http_backend_jobs_int(res, 0, 4);

        if (missed > 0) {
            ngx_http_backend_metrics_add(t->missed, missed);
            ngx_log_error(NGX_LOG_NOTICE, q->log, 0,
                          "backend schedule \"%V\": %i slot(s) recorded as "
                          "missed (catch_up %s)", &t->name, missed,
                          ngx_http_backend_jobs_catch_up[t->catch_up]);
        }

        if (PQgetisnull(res, 0, 0)) {
            goto next;
        }

        if (ngx_http_backend_jobs_start(t, res, 0) == NGX_OK) {
            /* a job runs one slot at a time: the next tick after it */
            PQclear(res);
            return;
        }

        goto next;
    }

    /* items: id, payload, attempt, dedupe_key, lag_ms */

    for (i = 0; i < n && started < t->asked; i++) {
        if (ngx_http_backend_jobs_start(t, res, i) == NGX_OK) {
            started++;
        }
    }

    t->more = (n > 0 && (ngx_uint_t) n == t->asked);

next:

    if (res) {
        PQclear(res);
    }

    ngx_http_backend_jobs_release(t->jmcf, t->asked - started);

    if (t->woken || t->more) {
        ngx_http_backend_jobs_arm(t, 0);

    } else {
        ngx_http_backend_jobs_arm(t, ngx_http_backend_jobs_poll(t));
    }
}


/* a claimed slot or item: its run, with its lease renewed meanwhile */

static ngx_int_t
ngx_http_backend_jobs_start(ngx_http_backend_jobs_task_t *t, PGresult *res,
    int row)
{
    int                           plen, klen;
    char                         *v;
    size_t                        size;
    u_char                       *p;
    ngx_uint_t                    i, k;
    ngx_int_t                     lag;
    ngx_http_backend_jobs_run_t  *run;

    run = NULL;

    for (i = 0; i < t->nruns; i++) {
        if (!t->runs[i].busy && !t->runs[i].renewing) {
            run = &t->runs[i];
            break;
        }
    }

    if (run == NULL) {
        /* cannot happen (we claim what is free); the lease returns it */
        ngx_log_error(NGX_LOG_ALERT, t->jmcf->log, 0,
                      "backend \"%V\": no free run for a claimed row",
                      &t->name);
        return NGX_DECLINED;
    }

    run->busy = 1;
    run->failing = 0;
    run->started = ngx_http_backend_metrics_now();

    if (t->kind == NGX_HTTP_BACKEND_JOBS_JOB) {
        v = PQgetvalue(res, row, 0);
        ngx_cpystrn(run->slot, (u_char *) v, sizeof(run->slot));
        ngx_cpystrn(run->attempt, (u_char *) PQgetvalue(res, row, 1),
                    sizeof(run->attempt));
        lag = ngx_http_backend_jobs_int(res, row, 3);

        if (lag >= 0) {
            ngx_http_backend_metrics_observe(t->lag, (uint64_t) lag * 1000);
        }

        for (i = 0; i < t->nparams; i++) {
            switch (t->params[i]) {
            case NGX_HTTP_BACKEND_JOBS_SLOT_TIME:
                run->values[i] = (char *) run->slot;
                break;
            case NGX_HTTP_BACKEND_JOBS_SLOT_JOB:
                run->values[i] = (char *) t->name.data;
                break;
            case NGX_HTTP_BACKEND_JOBS_SLOT_ATTEMPT:
                run->values[i] = (char *) run->attempt;
                break;
            default: /* CALL_*: once answered */
                run->values[i] = NULL;
                break;
            }
        }

        /* the fence: job, slot, owner, attempt, timeout */
        run->values[i++] = (char *) t->name.data;
        run->values[i++] = (char *) run->slot;
        run->values[i++] = (char *) t->jmcf->owner;
        run->values[i++] = (char *) run->attempt;
        run->values[i] = t->timeout_value;

        /* renew: job, slot, owner, attempt, lease */
        run->renew_values[0] = (char *) t->name.data;
        run->renew_values[1] = (char *) run->slot;
        run->renew_values[2] = (char *) t->jmcf->owner;
        run->renew_values[3] = (char *) run->attempt;
        run->renew_values[4] = t->lease_value;

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, t->jmcf->log, 0,
                       "backend schedule \"%V\": slot %s attempt %s",
                       &t->name, run->slot, run->attempt);

    } else {
        ngx_cpystrn(run->id, (u_char *) PQgetvalue(res, row, 0),
                    sizeof(run->id));
        ngx_cpystrn(run->attempt, (u_char *) PQgetvalue(res, row, 2),
                    sizeof(run->attempt));

        plen = PQgetlength(res, row, 1);
        klen = PQgetisnull(res, row, 3) ? 0 : PQgetlength(res, row, 3);
        size = plen + klen + 2;

        if (size > run->size) {
            p = ngx_alloc(ngx_max(size, 256), t->jmcf->log);
            if (p == NULL) {
                /* left to its lease: another attempt later */
                run->busy = 0;
                return NGX_DECLINED;
            }

            if (run->data) {
                ngx_free(run->data);
            }

            run->data = p;
            run->size = ngx_max(size, 256);
        }

        p = ngx_cpymem(run->data, PQgetvalue(res, row, 1), plen);
        *p++ = '\0';
        run->key = p;
        p = ngx_cpymem(p, PQgetvalue(res, row, 3), klen);
        *p = '\0';

        if (ngx_http_backend_jobs_int(res, row, 2) == 1) {
            lag = ngx_http_backend_jobs_int(res, row, 4);

            if (lag >= 0) {
                ngx_http_backend_metrics_observe(t->lag,
                                                 (uint64_t) lag * 1000);
            }
        }

        for (i = 0; i < t->nparams; i++) {
            switch (t->params[i]) {
            case NGX_HTTP_BACKEND_JOBS_ITEM_PAYLOAD:
                run->values[i] = (char *) run->data;
                break;
            case NGX_HTTP_BACKEND_JOBS_ITEM_ID:
                run->values[i] = (char *) run->id;
                break;
            case NGX_HTTP_BACKEND_JOBS_ITEM_ATTEMPT:
                run->values[i] = (char *) run->attempt;
                break;
            case NGX_HTTP_BACKEND_JOBS_ITEM_KEY:
                /* NULL is SQL NULL: an item without a dedupe key */
                run->values[i] = klen ? (char *) run->key : NULL;
                break;
            case NGX_HTTP_BACKEND_JOBS_ITEM_QUEUE:
                run->values[i] = (char *) t->name.data;
                break;
            default: /* CALL_*: once answered */
                run->values[i] = NULL;
                break;
            }
        }

        /* the fence: id, owner, attempt, timeout */
        k = i;
        run->values[k++] = (char *) run->id;
        run->values[k++] = (char *) t->jmcf->owner;
        run->values[k++] = (char *) run->attempt;
        run->values[k] = t->timeout_value;

        run->renew_values[0] = (char *) run->id;
        run->renew_values[1] = (char *) t->jmcf->owner;
        run->renew_values[2] = (char *) run->attempt;
        run->renew_values[3] = t->lease_value;
    }

    t->active++;

    if (t->call) {
        /* the call first, its lease renewed meanwhile; then the statement */
        ngx_add_timer(&run->lease, t->lease / 3);
        ngx_http_backend_jobs_call(run);
        return NGX_OK;
    }

    ngx_http_backend_jobs_statement(run);

    return NGX_OK;
}


static void
ngx_http_backend_jobs_statement(ngx_http_backend_jobs_run_t *run)
{
    ngx_http_backend_jobs_task_t  *t;

    t = run->task;

    run->query.server = t->server;
    run->query.stmt = t->run_stmt;
    run->query.values = run->values;
    run->query.handler = ngx_http_backend_jobs_ran;
    run->query.data = run;
    run->query.log = t->jmcf->log;
    run->query.read_only = 0;

    if (ngx_http_backend_pg_run(&run->query) != NGX_OK) {
        /* posts nothing: recorded as failed (or left to the lease) now */
        ngx_http_backend_jobs_fail(run, &run->query);
        return;
    }

    if (!run->lease.timer_set) {
        ngx_add_timer(&run->lease, t->lease / 3);
    }
}


/*
 * The block's call: an idempotency key of the work's own (the queue and
 * the item, or the job and the slot), the same on every attempt of the
 * adapter and of the work, so that an API that took a call whose
 * statement then failed takes the next attempt's as the same
 */

static void
ngx_http_backend_jobs_call(ngx_http_backend_jobs_run_t *run)
{
    u_char                               *p, *last;
    ngx_str_t                             key, what;
    ngx_uint_t                            n;
    ngx_http_backend_jobs_task_t         *t;
    ngx_http_backend_adapter_bg_field_t   fields[5];

    u_char  kbuf[256 + 64], wbuf[256 + 64];

    t = run->task;

    if (t->kind == NGX_HTTP_BACKEND_JOBS_JOB) {
        p = ngx_snprintf(kbuf, sizeof(kbuf), "%V:%s", &t->name, run->slot);
        what.len = ngx_snprintf(wbuf, sizeof(wbuf), "schedule \"%V\" slot "
                                "%s attempt %s", &t->name, run->slot,
                                run->attempt)
                   - wbuf;

        fields[0].name = "time";
        fields[0].value = run->slot;
        fields[0].json = 0;
        fields[1].name = "job";
        fields[1].value = t->name.data;
        fields[1].json = 0;
        fields[2].name = "attempt";
        fields[2].value = run->attempt;
        fields[2].json = 1;
        n = 3;

    } else {
        p = ngx_snprintf(kbuf, sizeof(kbuf), "%V:%s", &t->name, run->id);
        what.len = ngx_snprintf(wbuf, sizeof(wbuf), "queue \"%V\" item %s "
                                "attempt %s", &t->name, run->id, run->attempt)
                   - wbuf;

        fields[0].name = "id";
        fields[0].value = run->id;
        fields[0].json = 0;
        fields[1].name = "queue";
        fields[1].value = t->name.data;
        fields[1].json = 0;
        fields[2].name = "attempt";
        fields[2].value = run->attempt;
        fields[2].json = 1;
        fields[3].name = "payload";
        fields[3].value = run->data;
        fields[3].json = 1;
        fields[4].name = "key";
        fields[4].value = *run->key ? run->key : NULL;
        fields[4].json = 0;
        n = 5;
    }

    /* a header value: what is not [A-Za-z0-9._:-] (a slot's time) is _ */

    key.data = kbuf;
    key.len = p - kbuf;

    for (last = p, p = kbuf; p < last; p++) {
        if (!(ngx_http_backend_isalnum(*p) || *p == '.' || *p == '_'
              || *p == ':' || *p == '-'))
        {
            *p = '_';
        }
    }

    what.data = wbuf;

    run->call = ngx_http_backend_adapter_bg_start(t->call, fields, n, &key,
                                                  &what,
                                                  ngx_http_backend_jobs_called,
                                                  run);

    if (run->call == NULL) {
        (void) ngx_cpystrn(run->error, (u_char *) "external API call not made "
                        "(no memory)", sizeof(run->error));
        ngx_http_backend_jobs_record(run);
    }
}


/* the call's end: its answer into the statement, or the attempt failed */

static void
ngx_http_backend_jobs_called(ngx_http_backend_adapter_bg_call_t *bc,
    void *data)
{
    ngx_http_backend_jobs_run_t *run = data;

    ngx_uint_t                     i;
    ngx_http_backend_jobs_task_t  *t;

    t = run->task;

    if (!bc->ok) {
        ngx_cpystrn(run->error, bc->error, sizeof(run->error));
        ngx_http_backend_adapter_bg_free(bc);
        run->call = NULL;

        ngx_http_backend_jobs_record(run);
        return;
    }

    for (i = 0; i < t->nparams; i++) {
        if (t->params[i] == NGX_HTTP_BACKEND_JOBS_CALL_RESULT) {
            run->values[i] = (char *) bc->result.data;

        } else if (t->params[i] == NGX_HTTP_BACKEND_JOBS_CALL_STATUS) {
            run->values[i] = (char *) bc->status;
        }
    }

    ngx_http_backend_jobs_statement(run);
}


static void
ngx_http_backend_jobs_ran(ngx_http_backend_pg_query_t *q)
{
    ngx_http_backend_jobs_run_t   *run;
    ngx_http_backend_jobs_task_t  *t;

    run = q->data;
    t = run->task;

    if (run->lease.timer_set) {
        ngx_del_timer(&run->lease);
    }

    if (q->status == NGX_HTTP_BACKEND_PG_OK) {
        ngx_http_backend_metrics_add(t->outcomes[NGX_HTTP_BACKEND_JOBS_DONE],
                                     1);
        ngx_http_backend_metrics_observe(t->duration,
                                 ngx_http_backend_metrics_now() - run->started);

        if (t->last_success) {
            ngx_http_backend_metrics_set(t->last_success, ngx_time());
        }

        if (t->kind == NGX_HTTP_BACKEND_JOBS_JOB) {
            ngx_log_error(NGX_LOG_INFO, q->log, 0,
                          "backend schedule \"%V\": slot %s done "
                          "(attempt %s)", &t->name, run->slot, run->attempt);
        }

        if (q->result) {
            PQclear(q->result);
            q->result = NULL;
        }

        ngx_http_backend_jobs_end(run);
        return;
    }

    if (q->status == NGX_HTTP_BACKEND_PG_SQL_ERROR
        && ngx_strcmp(q->sqlstate, "BG001") == 0)
    {
        /* taken over: nothing of this run committed, nothing to record */

        ngx_http_backend_metrics_add(t->outcomes[NGX_HTTP_BACKEND_JOBS_LOST],
                                     1);
        ngx_log_error(NGX_LOG_WARN, q->log, 0,
                      "backend %s \"%V\": %s %s attempt %s was taken over "
                      "after its lease, rolled back",
                      t->kind == NGX_HTTP_BACKEND_JOBS_JOB
                      ? "schedule" : "queue", &t->name,
                      t->kind == NGX_HTTP_BACKEND_JOBS_JOB ? "slot" : "item",
                      t->kind == NGX_HTTP_BACKEND_JOBS_JOB
                      ? run->slot : run->id, run->attempt);

        if (q->result) {
            PQclear(q->result);
            q->result = NULL;
        }

        ngx_http_backend_jobs_end(run);
        return;
    }

    ngx_http_backend_jobs_fail(run, q);
}


/* a failed run: recorded by its own statement, retry or failed (dead) */

static void
ngx_http_backend_jobs_fail(ngx_http_backend_jobs_run_t *run,
    ngx_http_backend_pg_query_t *q)
{
    ngx_http_backend_jobs_message(q, run->error, sizeof(run->error));

    if (q->result) {
        PQclear(q->result);
        q->result = NULL;
    }

    ngx_http_backend_jobs_record(run);
}


/* run->error says why */

static void
ngx_http_backend_jobs_record(ngx_http_backend_jobs_run_t *run)
{
    ngx_http_backend_jobs_task_t  *t;

    t = run->task;

    if (run->lease.timer_set) {
        ngx_del_timer(&run->lease);
    }

    ngx_log_error(NGX_LOG_WARN, t->jmcf->log, 0,
                  "backend %s \"%V\": %s %s attempt %s failed: %s",
                  t->kind == NGX_HTTP_BACKEND_JOBS_JOB ? "schedule" : "queue",
                  &t->name,
                  t->kind == NGX_HTTP_BACKEND_JOBS_JOB ? "slot" : "item",
                  t->kind == NGX_HTTP_BACKEND_JOBS_JOB ? run->slot : run->id,
                  run->attempt, run->error);

    run->failing = 1;

    /*
     * job: job, slot, owner, attempt, error, max_attempts, backoff
     * item: id, owner, attempt, error, max_attempts, backoff
     */

    if (t->kind == NGX_HTTP_BACKEND_JOBS_JOB) {
        run->values[0] = (char *) t->name.data;
        run->values[1] = (char *) run->slot;
        run->values[2] = (char *) t->jmcf->owner;
        run->values[3] = (char *) run->attempt;
        run->values[4] = (char *) run->error;
        run->values[5] = t->max_attempts_value;
        run->values[6] = t->backoff_value;

    } else {
        run->values[0] = (char *) run->id;
        run->values[1] = (char *) t->jmcf->owner;
        run->values[2] = (char *) run->attempt;
        run->values[3] = (char *) run->error;
        run->values[4] = t->max_attempts_value;
        run->values[5] = t->backoff_value;
    }

    run->query.server = t->server;
    run->query.stmt = t->fail_stmt;
    run->query.values = run->values;
    run->query.handler = ngx_http_backend_jobs_failed;
    run->query.data = run;
    run->query.log = t->jmcf->log;
    run->query.read_only = 0;

    if (ngx_http_backend_pg_run(&run->query) != NGX_OK) {
        /* not recorded: the lease expires, the next claim sees to it */
        ngx_log_error(NGX_LOG_WARN, t->jmcf->log, 0,
                      "backend \"%V\": failure not recorded (database "
                      "unavailable), left to its lease", &t->name);
        ngx_http_backend_metrics_add(
                               t->outcomes[NGX_HTTP_BACKEND_JOBS_RETRY], 1);
        ngx_http_backend_jobs_end(run);
    }
}


static void
ngx_http_backend_jobs_failed(ngx_http_backend_pg_query_t *q)
{
    char                          *status;
    ngx_http_backend_jobs_run_t   *run;
    ngx_http_backend_jobs_task_t  *t;

    run = q->data;
    t = run->task;

    status = "";

    if (q->status == NGX_HTTP_BACKEND_PG_OK && PQntuples(q->result) == 1
        && !PQgetisnull(q->result, 0, 0))
    {
        status = PQgetvalue(q->result, 0, 0);
    }

    if (ngx_strcmp(status, "retry") == 0
        || ngx_strcmp(status, "pending") == 0)
    {
        ngx_http_backend_metrics_add(
                               t->outcomes[NGX_HTTP_BACKEND_JOBS_RETRY], 1);

    } else if (ngx_strcmp(status, "failed") == 0
               || ngx_strcmp(status, "dead") == 0)
    {
        ngx_http_backend_metrics_add(
                              t->outcomes[NGX_HTTP_BACKEND_JOBS_FAILED], 1);

        ngx_log_error(NGX_LOG_ERR, q->log, 0,
                      "backend %s \"%V\": %s %s %s after attempt %s: %s",
                      t->kind == NGX_HTTP_BACKEND_JOBS_JOB
                      ? "schedule" : "queue", &t->name,
                      t->kind == NGX_HTTP_BACKEND_JOBS_JOB ? "slot" : "item",
                      t->kind == NGX_HTTP_BACKEND_JOBS_JOB
                      ? run->slot : run->id, status, run->attempt,
                      run->error);

    } else {
        /* BG001 (taken over meanwhile) or not recorded: left to the lease */
        ngx_http_backend_metrics_add(
                                t->outcomes[NGX_HTTP_BACKEND_JOBS_LOST], 1);
        ngx_log_error(NGX_LOG_WARN, q->log, 0,
                      "backend \"%V\": failure not recorded (%s), left to "
                      "its lease", &t->name,
                      q->status == NGX_HTTP_BACKEND_PG_SQL_ERROR
                      ? (char *) q->sqlstate : "database unavailable");
    }

    if (q->result) {
        PQclear(q->result);
        q->result = NULL;
    }

    ngx_http_backend_jobs_end(run);
}


static void
ngx_http_backend_jobs_end(ngx_http_backend_jobs_run_t *run)
{
    ngx_http_backend_jobs_task_t  *t;

    t = run->task;

    if (run->lease.timer_set) {
        ngx_del_timer(&run->lease);
    }

    if (run->call) {
        ngx_http_backend_adapter_bg_free(run->call);
        run->call = NULL;
    }

    run->busy = 0;
    run->failing = 0;
    t->active--;
    ngx_http_backend_jobs_release(t->jmcf, 1);

    /* a job goes on with its next due slot at once (catch-up); a queue
     * claims again at once if its last batch was full */

    if (t->kind == NGX_HTTP_BACKEND_JOBS_JOB || t->more) {
        ngx_http_backend_jobs_wake(t);
    }
}


static void
ngx_http_backend_jobs_lease(ngx_event_t *ev)
{
    ngx_http_backend_jobs_run_t   *run;
    ngx_http_backend_jobs_task_t  *t;

    run = ev->data;
    t = run->task;

    if (!run->busy || run->failing) {
        return;
    }

    ngx_add_timer(&run->lease, t->lease / 3);

    if (run->renewing) {
        return;
    }

    run->renew.server = t->server;
    run->renew.stmt = t->renew_stmt;
    run->renew.values = run->renew_values;
    run->renew.handler = ngx_http_backend_jobs_renewed;
    run->renew.data = run;
    run->renew.log = t->jmcf->log;
    run->renew.read_only = 0;

    if (ngx_http_backend_pg_run(&run->renew) == NGX_OK) {
        run->renewing = 1;
    }
}


static void
ngx_http_backend_jobs_renewed(ngx_http_backend_pg_query_t *q)
{
    ngx_http_backend_jobs_run_t  *run;

    run = q->data;
    run->renewing = 0;

    if (q->status != NGX_HTTP_BACKEND_PG_OK && run->busy) {
        /* the fence of the run decides; this only says why */
        ngx_log_error(NGX_LOG_WARN, q->log, 0,
                      "backend \"%V\": lease not renewed (%s)",
                      &run->task->name,
                      q->status == NGX_HTTP_BACKEND_PG_SQL_ERROR
                      ? (char *) q->sqlstate : "database unavailable");
    }

    if (q->result) {
        PQclear(q->result);
        q->result = NULL;
    }

    if (!run->busy && run->task->kind == NGX_HTTP_BACKEND_JOBS_JOB) {
        /* the job's only run is free again */
        ngx_http_backend_jobs_wake(run->task);
    }
}


/* one row: the queue's pending and running items, the oldest's wait (s) */

static void
ngx_http_backend_jobs_counted(ngx_http_backend_pg_query_t *q)
{
    ngx_http_backend_jobs_task_t  *t;

    t = q->data;
    t->counting = 0;

    if (q->status == NGX_HTTP_BACKEND_PG_OK && PQntuples(q->result) == 1) {
        ngx_http_backend_metrics_set(t->depth,
                                 ngx_http_backend_jobs_int(q->result, 0, 0));
        ngx_http_backend_metrics_set(t->oldest,
                                 ngx_http_backend_jobs_int(q->result, 0, 1));
    }

    if (q->result) {
        PQclear(q->result);
        q->result = NULL;
    }
}


static ngx_int_t
ngx_http_backend_jobs_int(PGresult *res, int row, int col)
{
    char  *v;

    if (col >= PQnfields(res) || PQgetisnull(res, row, col)) {
        return -1;
    }

    v = PQgetvalue(res, row, col);

    return ngx_atoi((u_char *) v, ngx_strlen(v));
}


/* the error of a failed statement, for the ledger and the log */

static void
ngx_http_backend_jobs_message(ngx_http_backend_pg_query_t *q, u_char *buf,
    size_t size)
{
    char    *msg;
    u_char  *p;

    msg = NULL;

    if (q->result) {
        msg = PQresultErrorField(q->result, PG_DIAG_MESSAGE_PRIMARY);
    }

    if (msg) {
        p = ngx_snprintf(buf, size - 1, "%s (%s)", msg, q->sqlstate);

    } else {
        p = ngx_snprintf(buf, size - 1, "%s",
                         q->status == NGX_HTTP_BACKEND_PG_TIMEOUT
                         ? "timed out" : "database unavailable");
    }

    *p = '\0';

    /* cut at a UTF-8 boundary: the text goes into a text column */

    if ((size_t) (p - buf) == size - 1) {
        while (p > buf && (p[-1] & 0xc0) == 0x80) {
            p--;
        }

        if (p > buf && (p[-1] & 0x80)) {
            p--;
        }

        *p = '\0';
    }
}


/* configuration */

static void *
ngx_http_backend_jobs_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_backend_jobs_main_conf_t  *jmcf;

    jmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_backend_jobs_main_conf_t));
    if (jmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&jmcf->tasks, cf->pool, 4,
                       sizeof(ngx_http_backend_jobs_task_t))
        != NGX_OK)
    {
        return NULL;
    }

    jmcf->poll = NGX_CONF_UNSET_MSEC;
    jmcf->limit = NGX_CONF_UNSET_UINT;

    return jmcf;
}


static ngx_http_backend_jobs_task_t *
ngx_http_backend_jobs_task(ngx_conf_t *cf,
    ngx_http_backend_jobs_main_conf_t *jmcf, ngx_uint_t kind)
{
    u_char                        *p;
    ngx_str_t                     *value;
    ngx_uint_t                     i;
    ngx_http_backend_jobs_task_t  *t;

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].len > 200) {
        goto invalid;
    }

    for (p = value[1].data; p < value[1].data + value[1].len; p++) {
        if (!(ngx_http_backend_isalnum(*p)
              || *p == '.' || *p == '_' || *p == '-'))
        {
            goto invalid;
        }
    }

    t = jmcf->tasks.elts;

    for (i = 0; i < jmcf->tasks.nelts; i++) {
        if (t[i].kind == kind && t[i].name.len == value[1].len
            && ngx_strncmp(t[i].name.data, value[1].data, value[1].len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate %V \"%V\", first defined in %s:%ui",
                               &value[0], &value[1], t[i].file, t[i].line);
            return NULL;
        }
    }

    t = ngx_array_push(&jmcf->tasks);
    if (t == NULL) {
        return NULL;
    }

    ngx_memzero(t, sizeof(ngx_http_backend_jobs_task_t));

    t->kind = kind;
    t->name = value[1];         /* null-terminated by the parser */
    t->nparams = NGX_CONF_UNSET_UINT;
    t->every = NGX_CONF_UNSET_MSEC;
    t->timeout = NGX_CONF_UNSET_MSEC;
    t->catch_up = NGX_CONF_UNSET_UINT;
    t->catch_max = 1;
    t->overlap = NGX_CONF_UNSET_UINT;
    t->max_attempts = NGX_CONF_UNSET_UINT;
    t->backoff = NGX_CONF_UNSET_MSEC;
    t->lease = NGX_CONF_UNSET_MSEC;
    t->concurrency = NGX_CONF_UNSET_UINT;
    t->batch = NGX_CONF_UNSET_UINT;
    t->file = cf->conf_file->file.name.data;
    t->line = cf->conf_file->line;

    return t;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid %V name \"%V\"",
                       &value[0], &value[1]);
    return NULL;
}


static char *
ngx_http_backend_jobs_block(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_backend_jobs_main_conf_t *jmcf = conf;

    char                          *rv;
    ngx_conf_t                     save;
    ngx_http_backend_jobs_task_t  *t;

    t = ngx_http_backend_jobs_task(cf, jmcf, cmd->offset);
    if (t == NULL) {
        return NGX_CONF_ERROR;
    }

    save = *cf;
    cf->handler = ngx_http_backend_jobs_item;
    cf->handler_conf = (char *) t;

    rv = ngx_conf_parse(cf, NULL);

    *cf = save;

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    return ngx_http_backend_jobs_check(cf, t);
}


static ngx_int_t
ngx_http_backend_jobs_time(ngx_str_t *s, ngx_msec_t *t)
{
    ngx_int_t  n;

    n = ngx_parse_time(s, 0);
    if (n == NGX_ERROR || n <= 0) {
        return NGX_ERROR;
    }

    *t = (ngx_msec_t) n;

    return NGX_OK;
}


static ngx_int_t
ngx_http_backend_jobs_number(ngx_str_t *s, ngx_uint_t *n, ngx_uint_t max)
{
    ngx_int_t  v;

    v = ngx_atoi(s->data, s->len);
    if (v == NGX_ERROR || v < 1 || (ngx_uint_t) v > max) {
        return NGX_ERROR;
    }

    *n = (ngx_uint_t) v;

    return NGX_OK;
}


static char *
ngx_http_backend_jobs_item(ngx_conf_t *cf, ngx_command_t *dummy, void *conf)
{
    ngx_http_backend_jobs_task_t *t = conf;

    ngx_str_t   *value, *name, s;
    ngx_uint_t   i, n, job, k;

    static char  *sources[] = { "slot.time", "slot.job", "slot.attempt",
                                "item.payload", "item.id", "item.attempt",
                                "item.key", "item.queue", "call.result",
                                "call.status", NULL };

    value = cf->args->elts;
    name = &value[0];
    n = cf->args->nelts - 1;
    job = (t->kind == NGX_HTTP_BACKEND_JOBS_JOB);

#define ngx_http_backend_jobs_is(s)                                          \
    (name->len == sizeof(s) - 1 && ngx_strncmp(name->data, s, name->len) == 0)

    if (ngx_http_backend_jobs_is("call")) {
        return ngx_http_backend_adapter_bg_conf(cf, job ? "slot" : "item",
                                                &t->call);
    }

    if (ngx_http_backend_jobs_is("params")) {
        if (t->nparams != NGX_CONF_UNSET_UINT) {
            goto duplicate;
        }

        if (n > NGX_HTTP_BACKEND_JOBS_MAX_PARAMS) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "too many params (at most %d)",
                               NGX_HTTP_BACKEND_JOBS_MAX_PARAMS);
            return NGX_CONF_ERROR;
        }

        for (i = 1; i <= n; i++) {
            for (k = job ? 0 : 3; k < (ngx_uint_t) (job ? 3 : 8); k++) {
                if (value[i].len == ngx_strlen(sources[k])
                    && ngx_strncmp(value[i].data, sources[k], value[i].len)
                       == 0)
                {
                    break;
                }
            }

            if (k == (ngx_uint_t) (job ? 3 : 8)) {
                /* the answer of the block's call, either kind */

                for (k = NGX_HTTP_BACKEND_JOBS_CALL_RESULT; sources[k]; k++) {
                    if (value[i].len == ngx_strlen(sources[k])
                        && ngx_strncmp(value[i].data, sources[k],
                                       value[i].len)
                           == 0)
                    {
                        break;
                    }
                }
            }

            if (sources[k] == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "unknown param \"%V\" (%s, call.result "
                                   "or call.status)", &value[i],
                                   job ? "slot.time, slot.job, slot.attempt"
                                       : "item.payload, item.id, "
                                         "item.attempt, item.key, "
                                         "item.queue");
                return NGX_CONF_ERROR;
            }

            t->params[i - 1] = k;
        }

        t->nparams = n;

        return NGX_CONF_OK;
    }

    if (ngx_http_backend_jobs_is("retries")) {
        /* retries N [backoff=time] */

        if (t->max_attempts != NGX_CONF_UNSET_UINT) {
            goto duplicate;
        }

        if (n < 1 || n > 2) {
            goto args;
        }

        if (value[1].len == 1 && value[1].data[0] == '0') {
            t->max_attempts = 1;

        } else if (ngx_http_backend_jobs_number(&value[1], &k, 100)
                   != NGX_OK)
        {
            goto invalid;

        } else {
            t->max_attempts = k + 1;
        }

        if (n == 2) {
            if (value[2].len <= 8
                || ngx_strncmp(value[2].data, "backoff=", 8) != 0)
            {
                i = 2;
                goto invalid_at;
            }

            s.data = value[2].data + 8;
            s.len = value[2].len - 8;

            if (ngx_http_backend_jobs_time(&s, &t->backoff) != NGX_OK) {
                i = 2;
                goto invalid_at;
            }
        }

        return NGX_CONF_OK;
    }

    if (ngx_http_backend_jobs_is("catch_up")) {
        /* none | latest | all [max=N] */

        if (t->catch_up != NGX_CONF_UNSET_UINT) {
            goto duplicate;
        }

        if (!job) {
            goto unknown;
        }

        if (n < 1 || n > 2) {
            goto args;
        }

        for (k = 0; k < 3; k++) {
            if (value[1].len == ngx_strlen(ngx_http_backend_jobs_catch_up[k])
                && ngx_strncmp(value[1].data, ngx_http_backend_jobs_catch_up[k],
                               value[1].len) == 0)
            {
                break;
            }
        }

        if (k == 3) {
            goto invalid;
        }

        t->catch_up = k;
        t->catch_max = (k == NGX_HTTP_BACKEND_JOBS_ALL) ? 100 : 1;

        if (n == 2) {
            if (k != NGX_HTTP_BACKEND_JOBS_ALL || value[2].len <= 4
                || ngx_strncmp(value[2].data, "max=", 4) != 0)
            {
                i = 2;
                goto invalid_at;
            }

            s.data = value[2].data + 4;
            s.len = value[2].len - 4;

            if (ngx_http_backend_jobs_number(&s, &t->catch_max, 1000000)
                != NGX_OK)
            {
                i = 2;
                goto invalid_at;
            }
        }

        return NGX_CONF_OK;
    }

    if (n != 1) {
        goto args;
    }

    if (ngx_http_backend_jobs_is("sql")) {
        if (t->sql.len) {
            goto duplicate;
        }

        /* it goes into a CTE: no trailing semicolon */
        s = value[1];

        while (s.len && (s.data[s.len - 1] == ';'
                         || s.data[s.len - 1] == ' '
                         || s.data[s.len - 1] == '\n'
                         || s.data[s.len - 1] == '\t'))
        {
            s.len--;
        }

        if (s.len == 0) {
            goto invalid;
        }

        t->sql = s;

        return NGX_CONF_OK;
    }

    if (ngx_http_backend_jobs_is("overlap")) {
        /* wait | skip: the slots due while a run of the job is going */

        if (!job) {
            goto unknown;
        }

        if (t->overlap != NGX_CONF_UNSET_UINT) {
            goto duplicate;
        }

        if (value[1].len == 4 && ngx_strncmp(value[1].data, "wait", 4) == 0) {
            t->overlap = 0;

        } else if (value[1].len == 4
                   && ngx_strncmp(value[1].data, "skip", 4) == 0)
        {
            t->overlap = 1;

        } else {
            goto invalid;
        }

        return NGX_CONF_OK;
    }

    if (ngx_http_backend_jobs_is("database")) {
        if (t->database.len) {
            goto duplicate;
        }

        t->database = value[1];

        return NGX_CONF_OK;
    }

    if (ngx_http_backend_jobs_is("every")) {
        if (!job) {
            goto unknown;
        }

        if (t->every != NGX_CONF_UNSET_MSEC) {
            goto duplicate;
        }

        if (ngx_http_backend_jobs_time(&value[1], &t->every) != NGX_OK) {
            goto invalid;
        }

        return NGX_CONF_OK;
    }

    if (ngx_http_backend_jobs_is("timeout")
        || ngx_http_backend_jobs_is("lease")
        || ngx_http_backend_jobs_is("backoff"))
    {
        ngx_msec_t  *ms;

        ms = (name->data[0] == 't') ? &t->timeout
             : (name->data[0] == 'l') ? &t->lease : &t->backoff;

        if (*ms != NGX_CONF_UNSET_MSEC) {
            goto duplicate;
        }

        if (ngx_http_backend_jobs_time(&value[1], ms) != NGX_OK) {
            goto invalid;
        }

        return NGX_CONF_OK;
    }

    if (ngx_http_backend_jobs_is("max_attempts")) {
        if (t->max_attempts != NGX_CONF_UNSET_UINT) {
            goto duplicate;
        }

        if (ngx_http_backend_jobs_number(&value[1], &t->max_attempts, 101)
            != NGX_OK)
        {
            goto invalid;
        }

        return NGX_CONF_OK;
    }

    if (ngx_http_backend_jobs_is("concurrency")
        || ngx_http_backend_jobs_is("batch"))
    {
        ngx_uint_t  *u;

        if (job) {
            goto unknown;
        }

        u = (name->data[0] == 'c') ? &t->concurrency : &t->batch;

        if (*u != NGX_CONF_UNSET_UINT) {
            goto duplicate;
        }

        if (ngx_http_backend_jobs_number(&value[1], u, 1000) != NGX_OK) {
            goto invalid;
        }

        return NGX_CONF_OK;
    }

#undef ngx_http_backend_jobs_is

unknown:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "unknown directive \"%V\" in %s", name,
                       job ? "backend_schedule" : "backend_queue");
    return NGX_CONF_ERROR;

args:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid number of arguments in \"%V\"", name);
    return NGX_CONF_ERROR;

duplicate:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" is duplicate%s", name,
                       (name->data[0] == 'r' || name->data[0] == 'm')
                       ? " (retries and max_attempts both set the attempts)"
                       : "");
    return NGX_CONF_ERROR;

invalid:

    i = 1;

invalid_at:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid value \"%V\" in \"%V\"",
                       &value[i], name);
    return NGX_CONF_ERROR;
}


static char *
ngx_http_backend_jobs_check(ngx_conf_t *cf, ngx_http_backend_jobs_task_t *t)
{
    char        *what;
    ngx_uint_t   n;

    what = (t->kind == NGX_HTTP_BACKEND_JOBS_JOB) ? "backend_schedule"
                                                  : "backend_queue";

    if (t->sql.len == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "%s \"%V\" in %s:%ui has no sql", what, &t->name,
                      t->file, t->line);
        return NGX_CONF_ERROR;
    }

    if (t->kind == NGX_HTTP_BACKEND_JOBS_JOB
        && t->every == NGX_CONF_UNSET_MSEC)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "%s \"%V\" in %s:%ui has no \"every\"", what, &t->name,
                      t->file, t->line);
        return NGX_CONF_ERROR;
    }

    if (t->nparams == NGX_CONF_UNSET_UINT) {
        t->nparams = 0;
    }

    for (n = 0; n < t->nparams && t->call == NULL; n++) {
        if (t->params[n] >= NGX_HTTP_BACKEND_JOBS_CALL_RESULT) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "%s \"%V\" in %s:%ui: params names the answer of "
                          "a call, and the block has no \"call\"", what,
                          &t->name, t->file, t->line);
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_http_backend_pg_sql_params(&t->sql, &n) != NGX_OK
        || n != t->nparams)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "%s \"%V\" in %s:%ui: its sql uses %ui parameter(s), "
                      "params names %ui (or the sql has an unterminated "
                      "quote)", what, &t->name, t->file, t->line, n,
                      t->nparams);
        return NGX_CONF_ERROR;
    }

    ngx_conf_init_msec_value(t->timeout, 30000);
    ngx_conf_init_msec_value(t->lease, 30000);
    ngx_conf_init_uint_value(t->catch_up, NGX_HTTP_BACKEND_JOBS_LATEST);
    ngx_conf_init_uint_value(t->overlap, 0);

    if (t->kind == NGX_HTTP_BACKEND_JOBS_JOB) {
        ngx_conf_init_uint_value(t->max_attempts, 4);
        ngx_conf_init_msec_value(t->backoff, 10000);
        t->concurrency = 1;
        t->batch = 1;

    } else {
        ngx_conf_init_uint_value(t->max_attempts, 5);
        ngx_conf_init_msec_value(t->backoff, 1000);
        ngx_conf_init_uint_value(t->concurrency, 4);
        ngx_conf_init_uint_value(t->batch, t->concurrency);
    }

    if (t->lease < 300) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "%s \"%V\" in %s:%ui: lease must be at least 300ms",
                      what, &t->name, t->file, t->line);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * backend_jobs_listen name | "conninfo" | off: where LISTEN backend_queue
 * is held (a backend_pg's connection parameters, or a conninfo string of
 * its own: a direct endpoint, never a transaction pooler)
 */

static char *
ngx_http_backend_jobs_listen(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_backend_jobs_main_conf_t *jmcf = conf;

    ngx_str_t  *value;

    if (jmcf->listen.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    jmcf->listen = value[1];
    jmcf->listen_file = cf->conf_file->file.name.data;
    jmcf->listen_line = cf->conf_file->line;

    return NGX_CONF_OK;
}


static char *
ngx_http_backend_jobs_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_backend_jobs_main_conf_t *jmcf = conf;

    ngx_str_t                      name;
    ngx_uint_t                     i, queues;
    ngx_http_backend_jobs_task_t  *t;

    ngx_conf_init_msec_value(jmcf->poll, 1000);
    ngx_conf_init_uint_value(jmcf->limit, 16);

    if (jmcf->poll < 10) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "backend_jobs_poll must be at least 10ms");
        return NGX_CONF_ERROR;
    }

    t = jmcf->tasks.elts;
    queues = 0;

    for (i = 0; i < jmcf->tasks.nelts; i++) {
        if (ngx_http_backend_jobs_prepare(cf, &t[i]) != NGX_OK
            || ngx_http_backend_jobs_metrics(cf, &t[i]) != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        if (t[i].call
            && ngx_http_backend_adapter_bg_init(cf, t[i].call,
                                        t[i].kind == NGX_HTTP_BACKEND_JOBS_JOB
                                        ? "backend_schedule" : "backend_queue",
                                        &t[i].name, t[i].file)
               != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        if (t[i].kind == NGX_HTTP_BACKEND_JOBS_QUEUE) {
            queues++;
        }
    }

    if (jmcf->tasks.nelts) {
        ngx_str_set(&name, "backend_jobs");

        jmcf->zone = ngx_shared_memory_add(cf, &name,
                          ngx_max(8 * ngx_pagesize,
                                  ngx_align(sizeof(ngx_http_backend_jobs_shm_t)
                                            + 4 * ngx_pagesize,
                                            ngx_pagesize)),
                          &ngx_http_backend_jobs_module);
        if (jmcf->zone == NULL) {
            return NGX_CONF_ERROR;
        }

        jmcf->zone->init = ngx_http_backend_jobs_init_zone;
        jmcf->zone->data = jmcf;
    }

    if (jmcf->listen.len == 3
        && ngx_strncmp(jmcf->listen.data, "off", 3) == 0)
    {
        ngx_str_null(&jmcf->listen);
    }

    if (jmcf->listen.len) {
        jmcf->listen_server = ngx_http_backend_pg_server(cf, &jmcf->listen);

        if (jmcf->listen_server == NULL
            && ngx_strlchr(jmcf->listen.data,
                           jmcf->listen.data + jmcf->listen.len, '=')
               == NULL)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "backend_jobs_listen in %s:%ui names no "
                          "backend_pg \"%V\" (nor is it a conninfo string)",
                          jmcf->listen_file, jmcf->listen_line,
                          &jmcf->listen);
            return NGX_CONF_ERROR;
        }

        if (queues == 0) {
            ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                          "backend_jobs_listen in %s:%ui: no backend_queue "
                          "to wake, no connection made",
                          jmcf->listen_file, jmcf->listen_line);
            ngx_str_null(&jmcf->listen);
        }
    }

    return NGX_CONF_OK;
}


/* a call's request needs the server whose location is the adapter's */

static ngx_int_t
ngx_http_backend_jobs_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                          i;
    ngx_http_backend_jobs_task_t       *t;
    ngx_http_backend_jobs_main_conf_t  *jmcf;

    jmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_backend_jobs_module);
    t = jmcf->tasks.elts;

    for (i = 0; i < jmcf->tasks.nelts; i++) {
        if (t[i].call
            && ngx_http_backend_adapter_bg_server(cf, t[i].call,
                                        t[i].kind == NGX_HTTP_BACKEND_JOBS_JOB
                                        ? "backend_schedule" : "backend_queue",
                                        &t[i].name, t[i].file)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* the task's statements on its database */

static ngx_int_t
ngx_http_backend_jobs_prepare(ngx_conf_t *cf, ngx_http_backend_jobs_task_t *t)
{
    ngx_uint_t  n;

    t->server = ngx_http_backend_pg_server(cf, &t->database);
    if (t->server == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "%s \"%V\" in %s:%ui needs a database: no backend_pg "
                      "\"%V\"",
                      t->kind == NGX_HTTP_BACKEND_JOBS_JOB
                      ? "backend_schedule" : "backend_queue",
                      &t->name, t->file, t->line, &t->database);
        return NGX_ERROR;
    }

    if (t->timeout > t->server->query_timeout) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "%s \"%V\" in %s:%ui: timeout %M ms is longer than "
                      "backend_pg \"%V\" query_timeout=%M, which ends its "
                      "runs first",
                      t->kind == NGX_HTTP_BACKEND_JOBS_JOB
                      ? "backend_schedule" : "backend_queue",
                      &t->name, t->file, t->line, t->timeout,
                      &t->server->name, t->server->query_timeout);
    }

    n = t->nparams;

    if (t->kind == NGX_HTTP_BACKEND_JOBS_JOB) {
        t->claim_stmt = ngx_http_backend_jobs_stmt(cf, t,
            "select slot, attempt, reason, lag_ms, missed, skipped"
            "  from app.tick_job($1, $2::bigint, $3, $4::integer, $5,"
            "                    $6::bigint, $7::integer, $8)");

        t->run_stmt = ngx_http_backend_jobs_stmt(cf, t,
            "with work as materialized (%V)"
            " select app.finish_slot_within($%ui, $%ui::timestamptz, $%ui,"
            "                               $%ui::integer, $%ui::bigint,"
            "                               (select count(*) from work))",
            &t->sql, n + 1, n + 2, n + 3, n + 4, n + 5);

        t->fail_stmt = ngx_http_backend_jobs_stmt(cf, t,
            "select app.fail_slot($1, $2::timestamptz, $3, $4::integer, $5,"
            "         case when $4::integer < $6::integer"
            "              then app.background_backoff($4::integer,"
            "                                  $7::bigint * interval '1 ms')"
            "         end)");

        t->renew_stmt = ngx_http_backend_jobs_stmt(cf, t,
            "select app.renew_slot($1, $2::timestamptz, $3, $4::integer,"
            "                      $5::bigint * interval '1 ms')");

    } else {
        t->claim_stmt = ngx_http_backend_jobs_stmt(cf, t,
            "select id, payload, attempt, dedupe_key,"
            "       (extract(epoch from clock_timestamp() - created_at)"
            "        * 1000)::bigint"
            "  from app.claim_items($1, $2, $3::integer,"
            "                       $4::bigint * interval '1 ms',"
            "                       $5::integer)");

        t->run_stmt = ngx_http_backend_jobs_stmt(cf, t,
            "with work as materialized (%V)"
            " select app.finish_item_within($%ui::bigint, $%ui,"
            "                               $%ui::integer, $%ui::bigint,"
            "                               (select count(*) from work))",
            &t->sql, n + 1, n + 2, n + 3, n + 4);

        t->fail_stmt = ngx_http_backend_jobs_stmt(cf, t,
            "select app.fail_item($1::bigint, $2, $3::integer, $4,"
            "                     $5::integer, $6::bigint * interval '1 ms')");

        t->renew_stmt = ngx_http_backend_jobs_stmt(cf, t,
            "select app.renew_item($1::bigint, $2, $3::integer,"
            "                      $4::bigint * interval '1 ms')");

        t->stats_stmt = ngx_http_backend_jobs_stmt(cf, t,
            "select count(*),"
            "       coalesce(extract(epoch from now() - min(run_after)"
            "                filter (where status = 'pending'"
            "                          and run_after <= now()))::bigint, 0)"
            "  from app.queue_items"
            " where queue = $1 and status in ('pending', 'running')");
    }

    if (t->claim_stmt == NULL || t->run_stmt == NULL || t->fail_stmt == NULL
        || t->renew_stmt == NULL
        || (t->kind == NGX_HTTP_BACKEND_JOBS_QUEUE && t->stats_stmt == NULL))
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_http_backend_pg_stmt_t *
ngx_http_backend_jobs_stmt(ngx_conf_t *cf, ngx_http_backend_jobs_task_t *t,
    char *fmt, ...)
{
    u_char                      *p;
    size_t                       len;
    va_list                      args;
    ngx_str_t                    sql;
    ngx_uint_t                   n;
    ngx_http_backend_pg_stmt_t  *stmt;

    len = ngx_strlen(fmt) + t->sql.len + 5 * NGX_INT_T_LEN + 1;

    sql.data = ngx_pnalloc(cf->pool, len);
    if (sql.data == NULL) {
        return NULL;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(sql.data, sql.data + len - 1, fmt, args);
    va_end(args);

    *p = '\0';
    sql.len = p - sql.data;

    if (ngx_http_backend_pg_sql_params(&sql, &n) != NGX_OK) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "backend \"%V\" in %s:%ui: invalid sql",
                      &t->name, t->file, t->line);
        return NULL;
    }

    stmt = ngx_http_backend_pg_stmt_add(cf, t->server, &sql, n);
    if (stmt == NULL) {
        return NULL;
    }

    /* the log names the task and where it is configured */
    stmt->owner = t->name;
    stmt->file = t->file;
    stmt->line = t->line;

    return stmt;
}


/* the families of docs/metrics.md's Background work table */

static ngx_int_t
ngx_http_backend_jobs_metrics(ngx_conf_t *cf, ngx_http_backend_jobs_task_t *t)
{
    ngx_str_t                   values[2];
    ngx_uint_t                  i, job;
    ngx_http_backend_family_t  *f;

    job = (t->kind == NGX_HTTP_BACKEND_JOBS_JOB);

    f = job ? ngx_http_backend_metrics_family(cf, "backend_jobs_runs_total",
                                      "Runs of scheduled jobs, by outcome.",
                                      NGX_HTTP_BACKEND_COUNTER,
                                      "schedule,outcome")
            : ngx_http_backend_metrics_family(cf, "backend_queue_items_total",
                                      "Attempts at queue items, by outcome.",
                                      NGX_HTTP_BACKEND_COUNTER,
                                      "queue,outcome");
    if (f == NULL) {
        return NGX_ERROR;
    }

    values[0] = t->name;

    for (i = 0; i < NGX_HTTP_BACKEND_JOBS_OUTCOMES; i++) {
        values[1] = ngx_http_backend_jobs_outcome_names[job ? 0 : 1][i];

        t->outcomes[i] = ngx_http_backend_metrics_series(cf, f, values);
        if (t->outcomes[i] == NULL) {
            return NGX_ERROR;
        }
    }

    f = job ? ngx_http_backend_metrics_duration(cf,
                                      "backend_jobs_run_duration_seconds",
                                      "Duration of successful job runs.",
                                      "schedule")
            : ngx_http_backend_metrics_duration(cf,
                                      "backend_queue_item_duration_seconds",
                                      "Duration of successful queue items.",
                                      "queue");
    if (f == NULL) {
        return NGX_ERROR;
    }

    t->duration = ngx_http_backend_metrics_series(cf, f, values);

    f = job ? ngx_http_backend_metrics_duration(cf,
                                      "backend_jobs_lag_seconds",
                                      "From a slot's time to its claim.",
                                      "schedule")
            : ngx_http_backend_metrics_duration(cf,
                                      "backend_queue_lag_seconds",
                                      "From an item's enqueueing to its "
                                      "first claim.", "queue");
    if (f == NULL) {
        return NGX_ERROR;
    }

    t->lag = ngx_http_backend_metrics_series(cf, f, values);

    if (job) {
        f = ngx_http_backend_metrics_family(cf,
                              "backend_jobs_last_success_timestamp_seconds",
                              "When a run of the job last succeeded "
                              "(Unix time).", NGX_HTTP_BACKEND_GAUGE_MAX,
                              "schedule");
        if (f == NULL) {
            return NGX_ERROR;
        }

        t->last_success = ngx_http_backend_metrics_series(cf, f, values);

        f = ngx_http_backend_metrics_family(cf,
                                            "backend_jobs_missed_slots_total",
                                            "Slots recorded as missed by "
                                            "catch-up.",
                                            NGX_HTTP_BACKEND_COUNTER,
                                            "schedule");
        if (f == NULL) {
            return NGX_ERROR;
        }

        t->missed = ngx_http_backend_metrics_series(cf, f, values);

        f = ngx_http_backend_metrics_family(cf,
                                            "backend_jobs_skipped_slots_total",
                                            "Slots recorded as skipped: a run "
                                            "of the job was still going.",
                                            NGX_HTTP_BACKEND_COUNTER,
                                            "schedule");
        if (f == NULL) {
            return NGX_ERROR;
        }

        t->skipped = ngx_http_backend_metrics_series(cf, f, values);

        if (t->last_success == NULL || t->missed == NULL
            || t->skipped == NULL)
        {
            return NGX_ERROR;
        }

    } else {
        f = ngx_http_backend_metrics_family(cf, "backend_queue_depth",
                                            "Pending and running items.",
                                            NGX_HTTP_BACKEND_GAUGE_MAX,
                                            "queue");
        if (f == NULL) {
            return NGX_ERROR;
        }

        t->depth = ngx_http_backend_metrics_series(cf, f, values);

        f = ngx_http_backend_metrics_family(cf,
                                            "backend_queue_oldest_seconds",
                                            "How long the oldest due item "
                                            "has waited.",
                                            NGX_HTTP_BACKEND_GAUGE_MAX,
                                            "queue");
        if (f == NULL) {
            return NGX_ERROR;
        }

        t->oldest = ngx_http_backend_metrics_series(cf, f, values);

        if (t->depth == NULL || t->oldest == NULL) {
            return NGX_ERROR;
        }

        t->depth->always = 1;
        t->oldest->always = 1;
    }

    if (t->duration == NULL || t->lag == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The zone survives reloads (same name and size): old workers finishing
 * their runs keep counting in the same total as the new ones.
 */

static ngx_int_t
ngx_http_backend_jobs_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_backend_jobs_main_conf_t  *ojmcf = data;

    ngx_slab_pool_t                    *shpool;
    ngx_http_backend_jobs_main_conf_t  *jmcf;

    jmcf = shm_zone->data;

    if (ojmcf) {
        jmcf->sh = ojmcf->sh;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        jmcf->sh = shpool->data;
        return NGX_OK;
    }

    jmcf->sh = ngx_slab_calloc(shpool, sizeof(ngx_http_backend_jobs_shm_t));
    if (jmcf->sh == NULL) {
        return NGX_ERROR;
    }

    shpool->data = jmcf->sh;

    return NGX_OK;
}


static ngx_int_t
ngx_http_backend_jobs_init_process(ngx_cycle_t *cycle)
{
    u_char                             *p;
    ngx_uint_t                          i, k;
    ngx_http_backend_jobs_run_t        *run;
    ngx_http_backend_jobs_task_t       *t;
    ngx_http_backend_jobs_main_conf_t  *jmcf;

    jmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_backend_jobs_module);

    if (jmcf == NULL || jmcf->tasks.nelts == 0
        || (ngx_process != NGX_PROCESS_WORKER
            && ngx_process != NGX_PROCESS_SINGLE))
    {
        return NGX_OK;
    }

    jmcf->log = cycle->log;

    /* the owner of claims: node and process, what the ledger shows */
    ngx_sprintf(jmcf->owner, "%V/%P%Z", &cycle->hostname, ngx_pid);

    ngx_http_backend_jobs_attach(jmcf);

    t = jmcf->tasks.elts;

    for (i = 0; i < jmcf->tasks.nelts; i++) {
        t[i].jmcf = jmcf;
        t[i].nruns = t[i].concurrency;
        t[i].active = 0;

        t[i].runs = ngx_pcalloc(cycle->pool,
                                t[i].nruns
                                * sizeof(ngx_http_backend_jobs_run_t));
        /* the claim's "how many" (queues), then the fixed numbers */
        t[i].claim_buf = ngx_pnalloc(cycle->pool, 6 * (NGX_INT_T_LEN + 1));

        if (t[i].runs == NULL || t[i].claim_buf == NULL) {
            return NGX_ERROR;
        }

        p = t[i].claim_buf + NGX_INT_T_LEN + 1;

        t[i].timeout_value = (char *) p;
        p = ngx_sprintf(p, "%M%Z", t[i].timeout);
        t[i].max_attempts_value = (char *) p;
        p = ngx_sprintf(p, "%ui%Z", t[i].max_attempts);
        t[i].backoff_value = (char *) p;
        p = ngx_sprintf(p, "%M%Z", t[i].backoff);
        t[i].lease_value = (char *) p;
        p = ngx_sprintf(p, "%M%Z", t[i].lease);

        if (t[i].kind == NGX_HTTP_BACKEND_JOBS_JOB) {
            /* job, every, catch_up, max, owner, lease, max_attempts */
            t[i].claim_values[0] = (char *) t[i].name.data;
            t[i].claim_values[1] = (char *) p;
            p = ngx_sprintf(p, "%M%Z", t[i].every);
            t[i].claim_values[2] =
                           ngx_http_backend_jobs_catch_up[t[i].catch_up];
            t[i].claim_values[3] = (char *) p;
            (void) ngx_sprintf(p, "%ui%Z", t[i].catch_max);
            t[i].claim_values[4] = (char *) jmcf->owner;
            t[i].claim_values[5] = t[i].lease_value;
            t[i].claim_values[6] = t[i].max_attempts_value;
            t[i].claim_values[7] = t[i].overlap ? "skip" : "wait";

        } else {
            /* queue, owner, n, lease, max_attempts */
            t[i].claim_values[0] = (char *) t[i].name.data;
            t[i].claim_values[1] = (char *) jmcf->owner;
            t[i].claim_values[2] = (char *) t[i].claim_buf;
            t[i].claim_values[3] = t[i].lease_value;
            t[i].claim_values[4] = t[i].max_attempts_value;
        }

        t[i].stats_values[0] = (char *) t[i].name.data;

        if (ngx_worker != 0) {
            t[i].stats_stmt = NULL;
        }

        for (k = 0; k < t[i].nruns; k++) {
            run = &t[i].runs[k];
            run->task = &t[i];
            run->lease.handler = ngx_http_backend_jobs_lease;
            run->lease.data = run;
            run->lease.log = cycle->log;
        }

        t[i].timer.handler = ngx_http_backend_jobs_tick;
        t[i].timer.data = &t[i];
        t[i].timer.log = cycle->log;
        t[i].timer.cancelable = 1;

        /* the first tick soon, spread over the workers */
        ngx_add_timer(&t[i].timer,
                      10 + (ngx_msec_t) ngx_random() % (jmcf->poll / 2 + 1));
    }

    if (jmcf->listen.len) {
        jmcf->reconnect.handler = ngx_http_backend_jobs_listen_start;
        jmcf->reconnect.data = jmcf;
        jmcf->reconnect.log = cycle->log;
        jmcf->reconnect.cancelable = 1;

        ngx_add_timer(&jmcf->reconnect, 1);
    }

    return NGX_OK;
}


static void
ngx_http_backend_jobs_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                          i, k;
    ngx_http_backend_jobs_task_t       *t;
    ngx_http_backend_jobs_main_conf_t  *jmcf;

    jmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_backend_jobs_module);

    if (jmcf == NULL || jmcf->log == NULL) {
        return;
    }

    ngx_http_backend_jobs_listen_close(jmcf, 0);

    /* what it still holds (a fast shutdown) given back, its slot freed */

    if (jmcf->worker) {
        ngx_http_backend_jobs_release(jmcf, jmcf->worker->count);
        jmcf->worker->pid = 0;
        jmcf->worker = NULL;

    } else if (jmcf->sh) {
        ngx_http_backend_jobs_release(jmcf, jmcf->alone);
    }

    t = jmcf->tasks.elts;

    for (i = 0; i < jmcf->tasks.nelts; i++) {
        /* calls in flight (a fast shutdown): their requests freed */
        ngx_http_backend_adapter_bg_exit(t[i].call);

        for (k = 0; t[i].runs && k < t[i].nruns; k++) {
            if (t[i].runs[k].data) {
                ngx_free(t[i].runs[k].data);
                t[i].runs[k].data = NULL;
            }
        }
    }
}
