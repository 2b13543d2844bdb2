
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_backend_jobs_int.h"


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
 *
 * This file is the run time: the node's limit, the claims, runs and
 * items, their calls and leases, the workers' set-up and end; the
 * configuration and the module's definition are in
 * ngx_http_backend_jobs_conf.c.
 */


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
static void ngx_http_backend_jobs_failed(ngx_http_backend_pg_query_t *q);
static void ngx_http_backend_jobs_end(ngx_http_backend_jobs_run_t *run);
static void ngx_http_backend_jobs_lease(ngx_event_t *ev);
static void ngx_http_backend_jobs_renewed(ngx_http_backend_pg_query_t *q);
static void ngx_http_backend_jobs_counted(ngx_http_backend_pg_query_t *q);
static ngx_int_t ngx_http_backend_jobs_int(PGresult *res, int row, int col);
static void ngx_http_backend_jobs_message(ngx_http_backend_pg_query_t *q,
    u_char *buf, size_t size);


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


/*
 * The zone survives reloads (same name and size): old workers finishing
 * their runs keep counting in the same total as the new ones.
 */

ngx_int_t
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


ngx_int_t
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


void
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
