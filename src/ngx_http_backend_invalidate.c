
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_backend.h"
#include "ngx_http_backend_cache.h"
#include "ngx_http_backend_redis.h"
#include "ngx_http_backend_auth_conf.h"


/*
 * Invalidations of cached auth contexts, on their way to Redis and the
 * other nodes, and the states of the worker's Redis links.
 *
 * An invalidation is pending in the session zone until Redis has taken it
 * (INCR of the generation, its reply checked, then PUBLISH): every worker
 * of the node sees it, a context read from Redis for its user or session
 * is not trusted meanwhile, and any worker sends it again when Redis is
 * back.  A worker back from an outage moves Redis's epoch before it trusts
 * anything there; so does an overflow of the pending list, which also
 * flushes every node's zone (docs/architecture.md).
 */


/* a message on the channel: Redis's epoch moved, every zone flushes */
#define NGX_HTTP_BACKEND_INVALIDATE_EPOCH  'e'

/* how often a worker sends what is pending, if anything is */
#define NGX_HTTP_BACKEND_AUTH_REPLAY       1000


/* an invalidation (or an epoch move) being handed to Redis */

typedef struct {
    ngx_queue_t                         queue;
    ngx_http_backend_redis_cmd_t        cmd;
    ngx_http_backend_auth_main_conf_t  *amcf;
    ngx_http_backend_invalidate_t      *inv;    /* NULL: nobody waits */
    uint64_t                            seq;    /* the pending entry's */
    ngx_uint_t                          what;   /* 'u', 's', 'e' */
    ngx_str_t                           id;
    unsigned                            step:1;     /* 1: the PUBLISH */
    unsigned                            replayed:1;
    unsigned                            covers:1;   /* an overflow */
} ngx_http_backend_auth_job_t;


static ngx_http_backend_auth_job_t *ngx_http_backend_auth_job(
    ngx_http_backend_auth_main_conf_t *amcf, ngx_uint_t what, ngx_str_t *id,
    uint64_t seq);
static ngx_int_t ngx_http_backend_auth_job_send(
    ngx_http_backend_auth_job_t *job);
static void ngx_http_backend_auth_job_handler(
    ngx_http_backend_redis_cmd_t *cmd, redisReply *reply);
static void ngx_http_backend_auth_job_done(ngx_http_backend_auth_job_t *job,
    ngx_uint_t taken);
static void ngx_http_backend_auth_replay(
    ngx_http_backend_auth_main_conf_t *amcf);
static ngx_msec_t ngx_http_backend_auth_hold(
    ngx_http_backend_auth_main_conf_t *amcf);
static void ngx_http_backend_auth_replay_tick(ngx_event_t *ev);
static void ngx_http_backend_auth_message(void *data, ngx_str_t *channel,
    ngx_str_t *msg);
static void ngx_http_backend_auth_redis_state(void *data, ngx_uint_t link,
    ngx_uint_t state);


ngx_int_t
ngx_http_backend_auth_invalidate(ngx_cycle_t *cycle,
    ngx_http_backend_invalidate_t *inv)
{
    uint64_t                            seq;
    ngx_int_t                           rc;
    ngx_http_backend_auth_job_t        *job;
    ngx_http_backend_auth_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_backend_auth_module);

    inv->cmd = NULL;

    /* a user and a session are both generation counters, by their ids */

    if (amcf->cache) {
        ngx_http_backend_cache_bump(amcf->cache, &inv->id);
    }

    if (amcf->redis == NULL) {
        return NGX_DONE;
    }

    /*
     * Pending until Redis has taken it, in the zone, so that no worker of
     * this node trusts what Redis holds for it meanwhile and any of them
     * can send it when Redis is back
     */

    rc = ngx_http_backend_cache_pending_add(amcf->cache, inv->what, &inv->id,
                                            amcf->pending_max,
                                            ngx_http_backend_auth_redis_usable(
                                                amcf)
                                            ? ngx_http_backend_auth_hold(amcf)
                                            : 0,
                                            &seq);

    ngx_http_backend_auth_pending_gauge(amcf);

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_WARN, inv->log, 0,
                      "backend auth: %ui invalidations are pending already, "
                      "the one of \"%V\" is dropped: the redis epoch moves "
                      "once redis takes commands", amcf->pending_max,
                      &inv->id);
        return NGX_DONE;
    }

    if (!ngx_http_backend_auth_redis_usable(amcf)) {
        ngx_log_error(NGX_LOG_WARN, inv->log, 0,
                      "backend auth: redis is unreachable, the invalidation "
                      "of \"%V\" is pending until it is back", &inv->id);
        return NGX_DONE;
    }

    job = ngx_http_backend_auth_job(amcf, inv->what, &inv->id, seq);
    if (job == NULL) {
        ngx_http_backend_cache_pending_done(amcf->cache, inv->what, &inv->id,
                                            seq, 0);
        ngx_http_backend_auth_pending_gauge(amcf);
        return NGX_ERROR;
    }

    if (ngx_http_backend_auth_job_send(job) != NGX_OK) {
        ngx_http_backend_auth_job_done(job, 0);
        return NGX_DONE;
    }

    /* a request that goes away cancels; the job goes on without it */

    if (inv->handler) {
        job->inv = inv;
        inv->cmd = job;
    }

    return NGX_OK;
}


void
ngx_http_backend_auth_invalidate_cancel(ngx_http_backend_invalidate_t *inv)
{
    ngx_http_backend_auth_job_t  *job;

    job = inv->cmd;

    if (job) {
        job->inv = NULL;
        inv->cmd = NULL;
    }
}


/* what = 'e': moves Redis's epoch */

static ngx_http_backend_auth_job_t *
ngx_http_backend_auth_job(ngx_http_backend_auth_main_conf_t *amcf,
    ngx_uint_t what, ngx_str_t *id, uint64_t seq)
{
    ngx_http_backend_auth_job_t  *job;

    /* not the request's: it outlives a request that goes away */

    job = ngx_alloc(sizeof(ngx_http_backend_auth_job_t) + id->len,
                    ngx_cycle->log);
    if (job == NULL) {
        return NULL;
    }

    ngx_memzero(job, sizeof(ngx_http_backend_auth_job_t));

    job->amcf = amcf;
    job->what = what;
    job->seq = seq;
    job->id.data = (u_char *) (job + 1);
    job->id.len = id->len;
    ngx_memcpy(job->id.data, id->data, id->len);

    job->cmd.handler = ngx_http_backend_auth_job_handler;
    job->cmd.data = job;

    ngx_queue_insert_tail(&amcf->jobs, &job->queue);
    amcf->njobs++;

    return job;
}


/*
 * Step 0, the change: INCR <prefix>gen:<user or session> or INCR
 * <prefix>epoch; step 1, once its reply is checked: PUBLISH <channel>
 * u:<user>, s:<session> or e: (every zone flushes)
 */

static ngx_int_t
ngx_http_backend_auth_job_send(ngx_http_backend_auth_job_t *job)
{
    u_char                             *buf, *p;
    size_t                              len[3];
    ngx_int_t                           rc;
    const char                         *argv[3];
    ngx_http_backend_auth_main_conf_t  *amcf;

    amcf = job->amcf;

    buf = ngx_alloc(amcf->redis_prefix.len + job->id.len + 8, ngx_cycle->log);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    p = buf;

    if (job->step == 0) {
        p = ngx_cpymem(p, amcf->redis_prefix.data, amcf->redis_prefix.len);

        if (job->what == NGX_HTTP_BACKEND_INVALIDATE_EPOCH) {
            p = ngx_cpymem(p, "epoch", 5);

        } else {
            p = ngx_cpymem(p, "gen:", 4);
            p = ngx_cpymem(p, job->id.data, job->id.len);
        }

        argv[0] = "INCR";
        len[0] = 4;
        argv[1] = (const char *) buf;
        len[1] = p - buf;

        rc = ngx_http_backend_redis_send(amcf->redis, &job->cmd, 2, argv, len);

    } else {
        *p++ = (u_char) job->what;
        *p++ = ':';
        p = ngx_cpymem(p, job->id.data, job->id.len);

        argv[0] = "PUBLISH";
        len[0] = 7;
        argv[1] = (const char *) amcf->redis_channel.data;
        len[1] = amcf->redis_channel.len;
        argv[2] = (const char *) buf;
        len[2] = p - buf;

        rc = ngx_http_backend_redis_send(amcf->redis, &job->cmd, 3, argv, len);
    }

    ngx_free(buf);

    return rc;
}


static void
ngx_http_backend_auth_job_handler(ngx_http_backend_redis_cmd_t *cmd,
    redisReply *reply)
{
    ngx_http_backend_auth_job_t  *job;

    job = cmd->data;

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "backend auth: redis did not take the %s of \"%c:%V\": "
                      "%s, it stays pending", job->step ? "PUBLISH" : "change",
                      (int) job->what, &job->id,
                      reply == NULL ? cmd->error
                      : reply->type == REDIS_REPLY_ERROR ? reply->str
                      : "unexpected reply");

        ngx_http_backend_auth_job_done(job, 0);
        return;
    }

    if (job->step == 0) {
        if (job->what == NGX_HTTP_BACKEND_INVALIDATE_EPOCH) {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "backend auth: redis epoch moved to %L: %s",
                          (int64_t) reply->integer,
                          job->covers ? "invalidations were dropped, "
                                        "every context cached is stale"
                                      : "after an outage, contexts cached "
                                        "in redis before it are not trusted");

            if (!job->covers) {
                ngx_http_backend_auth_job_done(job, 1);
                return;
            }
        }

        /* the change is in: only now may other nodes refill from Redis */

        job->step = 1;

        if (ngx_http_backend_auth_job_send(job) != NGX_OK) {
            ngx_http_backend_auth_job_done(job, 0);
        }

        return;
    }

    ngx_http_backend_auth_job_done(job, 1);
}


static void
ngx_http_backend_auth_job_done(ngx_http_backend_auth_job_t *job,
    ngx_uint_t taken)
{
    ngx_uint_t                          next;
    ngx_http_backend_invalidate_t      *inv;
    ngx_http_backend_auth_main_conf_t  *amcf;

    amcf = job->amcf;
    next = 0;

    if (job->what == NGX_HTTP_BACKEND_INVALIDATE_EPOCH) {
        amcf->bumping = 0;

        if (taken) {
            /* Redis is trusted again: what is pending goes now */
            amcf->epoch_owed = 0;
            next = 1;

            if (job->covers) {
                ngx_http_backend_cache_pending_covered(amcf->cache, job->seq);
                ngx_http_backend_auth_pending_gauge(amcf);
            }
        }

    } else {
        ngx_http_backend_cache_pending_done(amcf->cache, job->what, &job->id,
                                            job->seq, taken);
        ngx_http_backend_auth_pending_gauge(amcf);

        if (taken) {
            ngx_http_backend_metrics_add(amcf->metrics.inv_sent, 1);
        }

        if (taken && job->replayed) {
            ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                          "backend auth: redis took the pending invalidation "
                          "of \"%c:%V\"", (int) job->what, &job->id);
        }
    }

    ngx_queue_remove(&job->queue);
    amcf->njobs--;

    inv = job->inv;

    ngx_free(job);

    if (next) {
        ngx_http_backend_auth_replay(amcf);
    }

    if (inv) {
        /* last: the handler may end its request */
        inv->cmd = NULL;
        inv->handler(inv);
    }
}


/*
 * Hands Redis what this node owes it: an epoch move first (after an
 * outage of this worker, or after the pending list overflowed), then the
 * pending invalidations, oldest first, a bounded number at a time
 */

static void
ngx_http_backend_auth_replay(ngx_http_backend_auth_main_conf_t *amcf)
{
    uint64_t                      seq, overflow;
    ngx_str_t                     id;
    ngx_uint_t                    i, n, what;
    ngx_http_backend_auth_job_t  *job;
    u_char                        buf[NGX_HTTP_BACKEND_CACHE_ID_MAX];

    if (amcf->redis == NULL || !ngx_http_backend_redis_ready(amcf->redis)
        || amcf->bumping)
    {
        return;
    }

    seq = ngx_http_backend_cache_pending_seq(amcf->cache, &overflow, &n);

    if (amcf->epoch_owed || overflow) {
        ngx_str_null(&id);

        job = ngx_http_backend_auth_job(amcf,
                                        NGX_HTTP_BACKEND_INVALIDATE_EPOCH,
                                        &id, seq);
        if (job == NULL) {
            return;
        }

        /* an overflow: the other nodes' zones must flush too */
        job->covers = (overflow != 0);

        if (ngx_http_backend_auth_job_send(job) != NGX_OK) {
            ngx_http_backend_auth_job_done(job, 0);
            return;
        }

        amcf->bumping = 1;
        return;
    }

    id.data = buf;

    for (i = 0; i < n && i < 64 && amcf->njobs < 256; i++) {

        if (ngx_http_backend_cache_pending_claim(amcf->cache,
                                                 ngx_http_backend_auth_hold(
                                                     amcf),
                                                 &what, &id, &seq)
            != NGX_OK)
        {
            break;
        }

        job = ngx_http_backend_auth_job(amcf, what, &id, seq);
        if (job == NULL) {
            ngx_http_backend_cache_pending_done(amcf->cache, what, &id, seq,
                                                0);
            break;
        }

        job->replayed = 1;

        if (ngx_http_backend_auth_job_send(job) != NGX_OK) {
            ngx_http_backend_auth_job_done(job, 0);
            break;
        }
    }
}


/* a claim outlives the change and the PUBLISH, each up to a timeout */

static ngx_msec_t
ngx_http_backend_auth_hold(ngx_http_backend_auth_main_conf_t *amcf)
{
    return 2 * amcf->redis_conf->timeout + 1000;
}


/* what Redis holds is trusted once the command link is up and owes nothing */

ngx_uint_t
ngx_http_backend_auth_redis_usable(ngx_http_backend_auth_main_conf_t *amcf)
{
    return amcf->redis && ngx_http_backend_redis_ready(amcf->redis)
           && !amcf->epoch_owed;
}


/*
 * The pending list is the node's, in the zone: each worker reports the
 * count it last saw (a max gauge), on each change it makes and every
 * replay tick, so that the count outlives any one worker and a reload
 */

void
ngx_http_backend_auth_pending_gauge(ngx_http_backend_auth_main_conf_t *amcf)
{
    uint64_t    overflow;
    ngx_uint_t  n;

    if (amcf->cache == NULL) {
        return;
    }

    (void) ngx_http_backend_cache_pending_seq(amcf->cache, &overflow, &n);

    ngx_http_backend_metrics_set(amcf->metrics.inv_pending, n);
}


/*
 * For readiness: NGX_DECLINED without backend_session_redis, else 1 when
 * both links (commands, subscription) of this worker are up
 */

ngx_int_t
ngx_http_backend_auth_redis_up(ngx_cycle_t *cycle)
{
    ngx_http_backend_auth_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_backend_auth_module);

    if (amcf == NULL || amcf->redis_conf == NULL) {
        return NGX_DECLINED;
    }

    return amcf->redis && ngx_http_backend_redis_ready(amcf->redis)
           && amcf->subscribed;
}


static void
ngx_http_backend_auth_replay_tick(ngx_event_t *ev)
{
    ngx_http_backend_auth_main_conf_t *amcf = ev->data;

    ngx_http_backend_auth_replay(amcf);
    ngx_http_backend_auth_pending_gauge(amcf);

    if (!ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_add_timer(ev, NGX_HTTP_BACKEND_AUTH_REPLAY);
    }
}


/* "u:<user>", "s:<session>" or "e:", from any node, this one included */

static void
ngx_http_backend_auth_message(void *data, ngx_str_t *channel, ngx_str_t *msg)
{
    ngx_http_backend_auth_main_conf_t *amcf = data;

    ngx_str_t  id;

    if (msg->len < 2 || msg->data[1] != ':' || amcf->cache == NULL) {
        return;
    }

    if (msg->data[0] == NGX_HTTP_BACKEND_INVALIDATE_EPOCH) {
        ngx_http_backend_cache_flush(amcf->cache);
        return;
    }

    if (msg->len < 3) {
        return;
    }

    id.data = msg->data + 2;
    id.len = msg->len - 2;

    if (msg->data[0] == NGX_HTTP_BACKEND_INVALIDATE_USER
        || msg->data[0] == NGX_HTTP_BACKEND_INVALIDATE_SESSION)
    {
        ngx_http_backend_metrics_add(amcf->metrics.inv_received, 1);
        ngx_http_backend_cache_bump(amcf->cache, &id);
    }
}


/*
 * The subscription: invalidations published while this worker is not
 * subscribed are lost to it: when the channel goes, what the zone holds is
 * dropped (and what is cached until it is back lives outage_ttl only);
 * when it comes back, what was cached meanwhile is dropped too.
 *
 * The command link: back after a failure, the epoch moves before anything
 * in Redis is trusted again (other nodes may owe Redis invalidations they
 * made meanwhile, see docs/architecture.md); then what is pending is sent.
 */

static void
ngx_http_backend_auth_redis_state(void *data, ngx_uint_t link,
    ngx_uint_t state)
{
    ngx_http_backend_auth_main_conf_t *amcf = data;

    if (link == NGX_HTTP_BACKEND_REDIS_SUB) {
        amcf->subscribed = (state != NGX_HTTP_BACKEND_REDIS_LOST);

        if (amcf->cache) {
            ngx_http_backend_cache_flush(amcf->cache);
        }

        return;
    }

    if (state == NGX_HTTP_BACKEND_REDIS_RECOVERED) {
        amcf->epoch_owed = 1;
    }

    if (state != NGX_HTTP_BACKEND_REDIS_LOST) {
        ngx_http_backend_auth_replay(amcf);
    }
}


ngx_int_t
ngx_http_backend_auth_redis_init(ngx_cycle_t *cycle,
    ngx_http_backend_auth_main_conf_t *amcf)
{
    ngx_queue_init(&amcf->jobs);

    amcf->redis = ngx_http_backend_redis_create(cycle, amcf->redis_conf,
                                                cycle->log);
    if (amcf->redis == NULL) {
        return NGX_ERROR;
    }

    /* never holds up a graceful shutdown */

    amcf->replay.handler = ngx_http_backend_auth_replay_tick;
    amcf->replay.data = amcf;
    amcf->replay.log = cycle->log;
    amcf->replay.cancelable = 1;

    ngx_add_timer(&amcf->replay, NGX_HTTP_BACKEND_AUTH_REPLAY);

    /* what the node had pending before this worker started */
    ngx_http_backend_auth_pending_gauge(amcf);

    return ngx_http_backend_redis_subscribe(amcf->redis, &amcf->redis_channel,
                                            ngx_http_backend_auth_message,
                                            ngx_http_backend_auth_redis_state,
                                            amcf);
}


void
ngx_http_backend_auth_redis_exit(ngx_http_backend_auth_main_conf_t *amcf)
{
    ngx_queue_t                  *q;
    ngx_http_backend_auth_job_t  *job;

    /* calls no handler: the jobs are freed here, they stay pending */

    ngx_http_backend_redis_destroy(amcf->redis);
    amcf->redis = NULL;

    while (!ngx_queue_empty(&amcf->jobs)) {
        q = ngx_queue_head(&amcf->jobs);
        ngx_queue_remove(q);

        job = ngx_queue_data(q, ngx_http_backend_auth_job_t, queue);
        ngx_free(job);
    }

    amcf->njobs = 0;
}
