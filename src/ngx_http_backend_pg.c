
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_backend_pg.h"


#define NGX_HTTP_BACKEND_PG_BACKOFF_MIN  100
#define NGX_HTTP_BACKEND_PG_BACKOFF_MAX  5000
#define NGX_HTTP_BACKEND_PG_GRACE        1000

/* query->clock */
#define NGX_HTTP_BACKEND_PG_STOPPED      0
#define NGX_HTTP_BACKEND_PG_WAITING      1
#define NGX_HTTP_BACKEND_PG_RUNNING      2


typedef enum {
    NGX_HTTP_BACKEND_PG_CONNECTING = 0,
    NGX_HTTP_BACKEND_PG_IDLE,
    NGX_HTTP_BACKEND_PG_PREPARING,
    NGX_HTTP_BACKEND_PG_QUERYING,
    NGX_HTTP_BACKEND_PG_DEALLOCATING,   /* a stale statement, then Prepare */
    NGX_HTTP_BACKEND_PG_CHECKING        /* the first connection's check */
} ngx_http_backend_pg_state_e;


/* conn->prepared[]: the state of each statement on the server */

#define NGX_HTTP_BACKEND_PG_UNPREPARED  0
#define NGX_HTTP_BACKEND_PG_PREPARED    1
#define NGX_HTTP_BACKEND_PG_STALE       2   /* DEALLOCATE before Prepare */


/* pipeline mode: a statement sent and not yet answered up to its Sync */

typedef struct {
    ngx_http_backend_pg_query_t    *query;      /* NULL: aborted */
    ngx_http_backend_pg_stmt_t     *stmt;
    unsigned                        prepare:1;  /* its Prepare went first */
    unsigned                        skip:2;     /* Deallocate, Prepare */
    unsigned                        early:1;    /* one of them failed */
    unsigned                        sent:1;     /* may have reached it */
} ngx_http_backend_pg_slot_t;


struct ngx_http_backend_pg_conn_s {
    ngx_queue_t                     queue;      /* in pool->idle or ->free */
    ngx_http_backend_pg_pool_t     *pool;
    PGconn                         *pgconn;
    ngx_connection_t               *connection;
    ngx_http_backend_pg_state_e     state;

    ngx_http_backend_pg_query_t    *query;
    ngx_http_backend_pg_stmt_t     *stmt;
    PGresult                       *result;

    u_char                         *prepared;   /* a state per statement */
    ngx_uint_t                      requests;
    ngx_msec_t                      started;
    ngx_uint_t                      check;      /* statements checked */

    /* pipeline mode: a ring of server->pipeline slots */
    ngx_http_backend_pg_slot_t     *slots;
    ngx_uint_t                      head;
    ngx_uint_t                      nslots;

    /* its part of the gauges: backend_pg_connections, _pipeline_depth */
    ngx_http_backend_series_t      *counted;
    ngx_uint_t                      depth;

    unsigned                        flushing:1;
    unsigned                        orphan:1;   /* its query was aborted */
    unsigned                        retiring:1; /* no new statements */
    unsigned                        sent:1;     /* Execute may have gone */
};


/*
 * pooler=transaction goes the pipeline's way with one statement per
 * connection: its preamble, the statement and one Sync
 */

#define ngx_http_backend_pg_piped(pool)                                      \
    ((pool)->server->pipeline > 1 || (pool)->server->pooler)


struct ngx_http_backend_pg_pool_s {
    ngx_http_backend_pg_server_t   *server;
    ngx_log_t                      *log;

    ngx_http_backend_pg_conn_t     *conns;
    ngx_queue_t                     free;
    ngx_queue_t                     idle;
    ngx_uint_t                      active;     /* connecting or open */

    ngx_queue_t                     waiting;
    ngx_uint_t                      nwaiting;

    ngx_msec_t                      backoff;
    ngx_msec_t                      down_until;
    unsigned                        down:1;
    unsigned                        checked:1;  /* statements, once */
};


static ngx_int_t ngx_http_backend_pg_connect(ngx_http_backend_pg_pool_t *pool);
static ngx_int_t ngx_http_backend_pg_wrap(ngx_http_backend_pg_conn_t *pc);
static void ngx_http_backend_pg_unwrap(ngx_http_backend_pg_conn_t *pc);
static void ngx_http_backend_pg_event_handler(ngx_event_t *ev);
static void ngx_http_backend_pg_connect_step(ngx_http_backend_pg_conn_t *pc);
static void ngx_http_backend_pg_connect_failed(ngx_http_backend_pg_conn_t *pc);
static void ngx_http_backend_pg_backoff(ngx_http_backend_pg_pool_t *pool);
static void ngx_http_backend_pg_send(ngx_http_backend_pg_conn_t *pc,
    ngx_http_backend_pg_query_t *q);
static ngx_int_t ngx_http_backend_pg_flush(ngx_http_backend_pg_conn_t *pc);
static ngx_int_t ngx_http_backend_pg_want_write(ngx_http_backend_pg_conn_t *pc,
    ngx_uint_t on);
static void ngx_http_backend_pg_receive(ngx_http_backend_pg_conn_t *pc);
static void ngx_http_backend_pg_idle_handler(ngx_http_backend_pg_conn_t *pc);
static void ngx_http_backend_pg_release(ngx_http_backend_pg_conn_t *pc);
static void ngx_http_backend_pg_close(ngx_http_backend_pg_conn_t *pc);
static void ngx_http_backend_pg_done(ngx_http_backend_pg_conn_t *pc,
    ngx_http_backend_pg_status_e status, PGresult *res);
static void ngx_http_backend_pg_fail_waiting(ngx_http_backend_pg_pool_t *pool);
static ngx_http_backend_pg_query_t *ngx_http_backend_pg_dequeue(
    ngx_http_backend_pg_pool_t *pool);
static void ngx_http_backend_pg_dispatch(ngx_http_backend_pg_pool_t *pool);
static void ngx_http_backend_pg_wait_handler(ngx_event_t *ev);
static void ngx_http_backend_pg_post(ngx_http_backend_pg_query_t *q);
static ngx_http_backend_pg_status_e ngx_http_backend_pg_outcome(
    ngx_http_backend_pg_conn_t *pc, ngx_http_backend_pg_query_t *q,
    PGresult *res);
static void ngx_http_backend_pg_pipe_send(ngx_http_backend_pg_conn_t *pc,
    ngx_http_backend_pg_query_t *q);
static ngx_int_t ngx_http_backend_pg_pooled(ngx_http_backend_pg_conn_t *pc,
    ngx_http_backend_pg_query_t *q);
static ngx_http_backend_pg_conn_t *ngx_http_backend_pg_pipe_pick(
    ngx_http_backend_pg_pool_t *pool);
static void ngx_http_backend_pg_pipe_fill(ngx_http_backend_pg_conn_t *pc);
static void ngx_http_backend_pg_pipe_receive(ngx_http_backend_pg_conn_t *pc);
static ngx_int_t ngx_http_backend_pg_pipe_done(ngx_http_backend_pg_conn_t *pc);
static void ngx_http_backend_pg_pipe_fail(ngx_http_backend_pg_conn_t *pc,
    ngx_http_backend_pg_status_e status);
static void ngx_http_backend_pg_log_error(ngx_http_backend_pg_conn_t *pc,
    const char *what);
static ngx_int_t ngx_http_backend_pg_alive(ngx_http_backend_pg_conn_t *pc);
static ngx_uint_t ngx_http_backend_pg_may_retry(ngx_http_backend_pg_query_t *q,
    ngx_uint_t sent);
static void ngx_http_backend_pg_retry(ngx_http_backend_pg_pool_t *pool,
    ngx_http_backend_pg_query_t *q);
static ngx_uint_t ngx_http_backend_pg_stale(PGresult *res);
static char *ngx_http_backend_pg_message(PGresult *res);
static ngx_int_t ngx_http_backend_pg_deallocate(ngx_http_backend_pg_conn_t *pc,
    ngx_http_backend_pg_stmt_t *stmt);
static ngx_int_t ngx_http_backend_pg_check(ngx_http_backend_pg_conn_t *pc);
static void ngx_http_backend_pg_check_handler(ngx_http_backend_pg_conn_t *pc,
    ngx_event_t *ev);
static void ngx_http_backend_pg_gauges(ngx_http_backend_pg_conn_t *pc);
static void ngx_http_backend_pg_lost(ngx_http_backend_pg_conn_t *pc);
static void ngx_http_backend_pg_clock(ngx_http_backend_pg_query_t *q,
    ngx_uint_t clock);
static void ngx_http_backend_pg_account(ngx_http_backend_pg_query_t *q);


ngx_int_t
ngx_http_backend_pg_init_pool(ngx_cycle_t *cycle,
    ngx_http_backend_pg_server_t *server)
{
    ngx_uint_t                   i;
    ngx_http_backend_pg_pool_t  *pool;

    pool = ngx_pcalloc(cycle->pool, sizeof(ngx_http_backend_pg_pool_t));
    if (pool == NULL) {
        return NGX_ERROR;
    }

    pool->conns = ngx_pcalloc(cycle->pool,
                              server->max * sizeof(ngx_http_backend_pg_conn_t));
    if (pool->conns == NULL) {
        return NGX_ERROR;
    }

    pool->server = server;
    pool->log = cycle->log;

    ngx_queue_init(&pool->free);
    ngx_queue_init(&pool->idle);
    ngx_queue_init(&pool->waiting);

    for (i = 0; i < server->max; i++) {
        pool->conns[i].pool = pool;
        pool->conns[i].prepared = ngx_pcalloc(cycle->pool,
                                              server->stmts.nelts + 1);
        if (pool->conns[i].prepared == NULL) {
            return NGX_ERROR;
        }

        if (server->pipeline > 1 || server->pooler) {
            pool->conns[i].slots = ngx_pcalloc(cycle->pool,
                                  server->pipeline
                                  * sizeof(ngx_http_backend_pg_slot_t));
            if (pool->conns[i].slots == NULL) {
                return NGX_ERROR;
            }
        }

        ngx_queue_insert_tail(&pool->free, &pool->conns[i].queue);
    }

    server->pool = pool;

    return NGX_OK;
}


void
ngx_http_backend_pg_close_pool(ngx_http_backend_pg_server_t *server)
{
    ngx_uint_t                   i;
    ngx_http_backend_pg_pool_t  *pool;

    pool = server->pool;
    if (pool == NULL) {
        return;
    }

    for (i = 0; i < server->max; i++) {
        if (pool->conns[i].pgconn == NULL) {
            continue;
        }

        if (pool->conns[i].state == NGX_HTTP_BACKEND_PG_IDLE) {
            ngx_queue_remove(&pool->conns[i].queue);
        }

        ngx_http_backend_pg_close(&pool->conns[i]);
    }

    server->pool = NULL;
}


ngx_int_t
ngx_http_backend_pg_run(ngx_http_backend_pg_query_t *q)
{
    ngx_queue_t                 *qu;
    ngx_http_backend_pg_conn_t  *pc;
    ngx_http_backend_pg_pool_t  *pool;

    pool = q->server->pool;

    q->status = NGX_HTTP_BACKEND_PG_OK;
    q->result = NULL;
    q->conn = NULL;
    q->queued = 0;
    q->retried = 0;
    q->replanned = 0;
    q->sqlstate[0] = '\0';
    q->queue_wait = 0;
    q->duration = 0;
    q->clock = NGX_HTTP_BACKEND_PG_STOPPED;
    q->ran = 0;

    ngx_memzero(&q->wait, sizeof(ngx_event_t));
    q->wait.handler = ngx_http_backend_pg_wait_handler;
    q->wait.data = q;
    q->wait.log = q->log;

    if (pool == NULL) {
        q->status = NGX_HTTP_BACKEND_PG_UNAVAILABLE;
        ngx_http_backend_pg_account(q);
        return NGX_DECLINED;
    }

    while (!ngx_queue_empty(&pool->idle)) {
        qu = ngx_queue_head(&pool->idle);
        ngx_queue_remove(qu);
        pc = ngx_queue_data(qu, ngx_http_backend_pg_conn_t, queue);

        if (ngx_http_backend_pg_alive(pc) != NGX_OK) {
            ngx_log_error(NGX_LOG_INFO, pool->log, 0,
                          "backend_pg \"%V\": idle connection closed by "
                          "server", &pool->server->name);
            ngx_http_backend_pg_lost(pc);
            ngx_http_backend_pg_close(pc);
            continue;
        }

        ngx_http_backend_pg_send(pc, q);
        return NGX_OK;
    }

    /*
     * While the database is known to be down and nothing is open, fail
     * fast rather than park requests that would only time out.
     */

    if (pool->down && pool->active == 0
        && (ngx_msec_int_t) (pool->down_until - ngx_current_msec) > 0)
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, q->log, 0,
                       "backend_pg \"%V\": down, failing fast",
                       &q->server->name);
        q->status = NGX_HTTP_BACKEND_PG_UNAVAILABLE;
        ngx_http_backend_pg_account(q);
        return NGX_DECLINED;
    }

    if (ngx_http_backend_pg_piped(pool) && pool->active >= q->server->max) {
        pc = ngx_http_backend_pg_pipe_pick(pool);

        if (pc) {
            ngx_http_backend_pg_pipe_send(pc, q);
            return NGX_OK;
        }
    }

    if (pool->nwaiting >= q->server->queue) {
        ngx_log_error(NGX_LOG_WARN, q->log, 0,
                      "backend_pg \"%V\": queue of %ui is full",
                      &q->server->name, q->server->queue);
        q->status = NGX_HTTP_BACKEND_PG_UNAVAILABLE;
        ngx_http_backend_pg_account(q);
        return NGX_DECLINED;
    }

    ngx_queue_insert_tail(&pool->waiting, &q->queue);
    pool->nwaiting++;
    q->queued = 1;

    ngx_http_backend_metrics_add(q->server->queue_length, 1);
    ngx_http_backend_pg_clock(q, NGX_HTTP_BACKEND_PG_WAITING);

    ngx_add_timer(&q->wait, q->server->queue_timeout);

    if (pool->active < q->server->max) {
        if (ngx_http_backend_pg_connect(pool) != NGX_OK
            && pool->active == 0)
        {
            /* nothing can serve the queue: fail it, this query included */
            ngx_http_backend_pg_fail_waiting(pool);
        }
    }

    return NGX_OK;
}


void
ngx_http_backend_pg_abort(ngx_http_backend_pg_query_t *q)
{
    ngx_http_backend_pg_pool_t  *pool;

    if (q->wait.timer_set) {
        ngx_del_timer(&q->wait);
    }

    if (q->wait.posted) {
        ngx_delete_posted_event(&q->wait);
    }

    if (q->queued) {
        pool = q->server->pool;
        ngx_queue_remove(&q->queue);
        pool->nwaiting--;
        q->queued = 0;

        ngx_http_backend_metrics_add(q->server->queue_length, -1);
    }

    if (q->conn && ngx_http_backend_pg_piped(q->conn->pool)) {
        /* the statement runs to its end; its result is thrown away */
        q->conn->slots[q->slot].query = NULL;
        q->conn = NULL;
    }

    if (q->conn) {
        /* the statement runs to its end; its result is thrown away */
        q->conn->query = NULL;
        q->conn->orphan = 1;
        q->conn->connection->log = q->conn->pool->log;
        q->conn->connection->read->log = q->conn->pool->log;
        q->conn->connection->write->log = q->conn->pool->log;
        q->conn = NULL;
    }

    if (q->result) {
        PQclear(q->result);
        q->result = NULL;
    }
}


static ngx_int_t
ngx_http_backend_pg_connect(ngx_http_backend_pg_pool_t *pool)
{
    ngx_queue_t                   *qu;
    ngx_http_backend_pg_conn_t    *pc;
    ngx_http_backend_pg_server_t  *server;

    server = pool->server;

    if (pool->down
        && (ngx_msec_int_t) (pool->down_until - ngx_current_msec) > 0)
    {
        return NGX_DECLINED;
    }

    if (ngx_queue_empty(&pool->free)) {
        return NGX_DECLINED;
    }

    qu = ngx_queue_head(&pool->free);
    pc = ngx_queue_data(qu, ngx_http_backend_pg_conn_t, queue);

    pc->pgconn = PQconnectStartParams(server->keywords, server->values, 0);

    if (pc->pgconn == NULL) {
        ngx_log_error(NGX_LOG_ALERT, pool->log, 0,
                      "backend_pg \"%V\": PQconnectStartParams() failed",
                      &server->name);
        ngx_http_backend_metrics_add(server->connect_failures, 1);
        ngx_http_backend_pg_backoff(pool);
        return NGX_ERROR;
    }

    if (PQstatus(pc->pgconn) == CONNECTION_BAD
        || PQsetnonblocking(pc->pgconn, 1) == -1)
    {
        ngx_http_backend_pg_log_error(pc, NULL);
        PQfinish(pc->pgconn);
        pc->pgconn = NULL;
        ngx_http_backend_metrics_add(server->connect_failures, 1);
        ngx_http_backend_pg_backoff(pool);
        return NGX_ERROR;
    }

    ngx_queue_remove(qu);
    pool->active++;

    pc->state = NGX_HTTP_BACKEND_PG_CONNECTING;
    pc->query = NULL;
    pc->result = NULL;
    pc->requests = 0;
    pc->started = ngx_current_msec;
    pc->flushing = 0;
    pc->orphan = 0;
    pc->retiring = 0;
    pc->sent = 0;
    pc->head = 0;
    pc->nslots = 0;
    ngx_memzero(pc->prepared, server->stmts.nelts + 1);

    ngx_http_backend_pg_gauges(pc);

    if (ngx_http_backend_pg_wrap(pc) != NGX_OK) {
        ngx_http_backend_pg_close(pc);
        ngx_http_backend_metrics_add(server->connect_failures, 1);
        ngx_http_backend_pg_backoff(pool);
        return NGX_ERROR;
    }

    ngx_add_timer(pc->connection->read, server->connect_timeout);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pool->log, 0,
                   "backend_pg \"%V\": connecting", &server->name);

    /* the first step is "wait until writable", nothing to do before that */

    return NGX_OK;
}


static ngx_int_t
ngx_http_backend_pg_wrap(ngx_http_backend_pg_conn_t *pc)
{
    int                fd;
    ngx_event_t       *rev, *wev;
    ngx_connection_t  *c;

    fd = PQsocket(pc->pgconn);
    if (fd == -1) {
        ngx_log_error(NGX_LOG_ERR, pc->pool->log, 0,
                      "backend_pg \"%V\": no socket",
                      &pc->pool->server->name);
        return NGX_ERROR;
    }

    c = ngx_get_connection(fd, pc->pool->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    /* libpq owns the socket: nginx must never close it */
    c->shared = 1;

    c->data = pc;
    c->log = pc->pool->log;
    c->pool = NULL;

    rev = c->read;
    wev = c->write;

    rev->log = c->log;
    wev->log = c->log;
    rev->handler = ngx_http_backend_pg_event_handler;
    wev->handler = ngx_http_backend_pg_event_handler;

    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

    pc->connection = c;

    /*
     * Level-triggered: one PQconsumeInput() may leave bytes in the socket,
     * which an edge-triggered event would not report again.  Write
     * interest is on only while libpq has something to send.
     */

    if (ngx_add_event(rev, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_backend_pg_want_write(pc, 1);
}


static ngx_int_t
ngx_http_backend_pg_want_write(ngx_http_backend_pg_conn_t *pc, ngx_uint_t on)
{
    ngx_event_t  *wev;

    wev = pc->connection->write;

    if (on && !wev->active) {
        return ngx_add_event(wev, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }

    if (!on && wev->active) {
        return ngx_del_event(wev, NGX_WRITE_EVENT, 0);
    }

    return NGX_OK;
}


static void
ngx_http_backend_pg_unwrap(ngx_http_backend_pg_conn_t *pc)
{
    if (pc->connection == NULL) {
        return;
    }

    ngx_http_backend_pg_unwrap_socket(pc->connection);
    pc->connection = NULL;
}


/*
 * A socket libpq owns, wrapped in an nginx connection for its events (the
 * pool's connections, the jobs' listener): the wrapper goes, the socket
 * stays for libpq to close.  NGX_CLOSE_EVENT: no syscall, closing the
 * socket removes it from epoll.
 */

void
ngx_http_backend_pg_unwrap_socket(ngx_connection_t *c)
{
    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    if (c->read->active || c->read->disabled) {
        ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->write->active || c->write->disabled) {
        ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
    }

    c->fd = (ngx_socket_t) -1;
    ngx_free_connection(c);
}


static void
ngx_http_backend_pg_event_handler(ngx_event_t *ev)
{
    ngx_connection_t            *c;
    ngx_http_backend_pg_conn_t  *pc;

    c = ev->data;
    pc = c->data;

    switch (pc->state) {

    case NGX_HTTP_BACKEND_PG_CONNECTING:
        if (ev->timedout) {
            ngx_log_error(NGX_LOG_ERR, pc->pool->log, NGX_ETIMEDOUT,
                          "backend_pg \"%V\": connect to %s:%s timed out",
                          &pc->pool->server->name, PQhost(pc->pgconn),
                          PQport(pc->pgconn));
            ngx_http_backend_pg_connect_failed(pc);
            return;
        }

        ngx_http_backend_pg_connect_step(pc);
        return;

    case NGX_HTTP_BACKEND_PG_IDLE:
        ngx_http_backend_pg_idle_handler(pc);
        return;

    case NGX_HTTP_BACKEND_PG_CHECKING:
        ngx_http_backend_pg_check_handler(pc, ev);
        return;

    default: /* PREPARING, QUERYING, DEALLOCATING */
        if (ngx_http_backend_pg_piped(pc->pool)) {
            if (ev->timedout) {
                ngx_log_error(NGX_LOG_ERR, pc->pool->log, NGX_ETIMEDOUT,
                              "backend_pg \"%V\": no answer within %Mms, "
                              "dropping the connection and its %ui "
                              "statements", &pc->pool->server->name,
                              pc->pool->server->query_timeout
                              + NGX_HTTP_BACKEND_PG_GRACE, pc->nslots);
                ngx_http_backend_pg_pipe_fail(pc, NGX_HTTP_BACKEND_PG_TIMEOUT);
                return;
            }

            if (pc->flushing && ngx_http_backend_pg_flush(pc) == NGX_ERROR) {
                ngx_http_backend_pg_log_error(pc, "could not send query");
                ngx_http_backend_pg_lost(pc);
                ngx_http_backend_pg_pipe_fail(pc,
                                             NGX_HTTP_BACKEND_PG_UNAVAILABLE);
                return;
            }

            ngx_http_backend_pg_pipe_receive(pc);
            return;
        }

        if (ev->timedout) {
            ngx_log_error(NGX_LOG_ERR, pc->query ? pc->query->log
                                                 : pc->pool->log,
                          NGX_ETIMEDOUT,
                          "backend_pg \"%V\": no answer within %Mms, "
                          "dropping the connection",
                          &pc->pool->server->name,
                          pc->pool->server->query_timeout
                          + NGX_HTTP_BACKEND_PG_GRACE);

            /* PQcancel() blocks: drop the connection, the server's
             * statement_timeout ends the statement */
            ngx_http_backend_pg_done(pc, NGX_HTTP_BACKEND_PG_TIMEOUT, NULL);
            return;
        }

        if (pc->flushing && ngx_http_backend_pg_flush(pc) == NGX_ERROR) {
            ngx_http_backend_pg_log_error(pc, "could not send query");
            ngx_http_backend_pg_lost(pc);
            ngx_http_backend_pg_done(pc, NGX_HTTP_BACKEND_PG_UNAVAILABLE,
                                     NULL);
            return;
        }

        ngx_http_backend_pg_receive(pc);
        return;
    }
}


static void
ngx_http_backend_pg_connect_step(ngx_http_backend_pg_conn_t *pc)
{
    int                           fd;
    ngx_msec_t                    timer;
    PostgresPollingStatusType     rc;
    ngx_http_backend_pg_pool_t   *pool;

    pool = pc->pool;

    for ( ;; ) {
        rc = PQconnectPoll(pc->pgconn);

        /* libpq may have opened a new socket (another host, SSL retry) */

        fd = PQsocket(pc->pgconn);

        if (rc != PGRES_POLLING_FAILED && fd != -1
            && fd != pc->connection->fd)
        {
            timer = pc->connection->read->timer.key;
            ngx_http_backend_pg_unwrap(pc);

            if (ngx_http_backend_pg_wrap(pc) != NGX_OK) {
                ngx_http_backend_pg_connect_failed(pc);
                return;
            }

            ngx_add_timer(pc->connection->read,
                          (ngx_msec_int_t) (timer - ngx_current_msec) > 0
                          ? timer - ngx_current_msec : 1);
        }

        switch (rc) {

        case PGRES_POLLING_OK:
            if (pc->connection->read->timer_set) {
                ngx_del_timer(pc->connection->read);
            }

            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pool->log, 0,
                           "backend_pg \"%V\": connected",
                           &pool->server->name);

            pool->down = 0;
            pool->backoff = 0;

            if (ngx_http_backend_pg_want_write(pc, 0) != NGX_OK) {
                ngx_http_backend_pg_connect_failed(pc);
                return;
            }

            if (ngx_http_backend_pg_piped(pool)
                && PQenterPipelineMode(pc->pgconn) != 1)
            {
                ngx_http_backend_pg_log_error(pc, "no pipeline mode");
                ngx_http_backend_pg_connect_failed(pc);
                return;
            }

            if (!pool->checked && pool->server->stmts.nelts) {
                pool->checked = 1;

                if (ngx_http_backend_pg_check(pc) != NGX_OK) {
                    ngx_http_backend_pg_log_error(pc, "could not send query");
                    ngx_http_backend_pg_connect_failed(pc);
                }

                return;
            }

            pc->state = NGX_HTTP_BACKEND_PG_IDLE;
            ngx_http_backend_pg_release(pc);
            return;

        case PGRES_POLLING_FAILED:
            ngx_http_backend_pg_log_error(pc, NULL);
            ngx_http_backend_pg_connect_failed(pc);
            return;

        default:
            /* CONNECTION_MADE asks for "writable" without having written */
            if (PQstatus(pc->pgconn) == CONNECTION_MADE) {
                continue;
            }

            if (ngx_http_backend_pg_want_write(pc, rc == PGRES_POLLING_WRITING)
                != NGX_OK)
            {
                ngx_http_backend_pg_connect_failed(pc);
            }

            return;
        }
    }
}


static void
ngx_http_backend_pg_connect_failed(ngx_http_backend_pg_conn_t *pc)
{
    ngx_http_backend_pg_pool_t  *pool;

    pool = pc->pool;

    ngx_http_backend_metrics_add(pool->server->connect_failures, 1);

    ngx_http_backend_pg_close(pc);
    ngx_http_backend_pg_backoff(pool);

    if (pool->active == 0) {
        ngx_http_backend_pg_fail_waiting(pool);
    }
}


/* after a failed attempt, wait 100ms, doubling up to 5s, before the next */

static void
ngx_http_backend_pg_backoff(ngx_http_backend_pg_pool_t *pool)
{
    pool->backoff = pool->backoff ? ngx_min(pool->backoff * 2,
                                            NGX_HTTP_BACKEND_PG_BACKOFF_MAX)
                                  : NGX_HTTP_BACKEND_PG_BACKOFF_MIN;
    pool->down = 1;
    pool->down_until = ngx_current_msec + pool->backoff;

    ngx_log_error(NGX_LOG_WARN, pool->log, 0,
                  "backend_pg \"%V\": next connection attempt in %Mms",
                  &pool->server->name, pool->backoff);
}


static void
ngx_http_backend_pg_send(ngx_http_backend_pg_conn_t *pc,
    ngx_http_backend_pg_query_t *q)
{
    int                          rc;
    ngx_http_backend_pg_stmt_t  *stmt;

    if (ngx_http_backend_pg_piped(pc->pool)) {
        ngx_http_backend_pg_pipe_send(pc, q);
        return;
    }

    stmt = q->stmt;

    pc->query = q;
    pc->stmt = stmt;
    pc->orphan = 0;
    pc->sent = 0;
    q->conn = pc;

    ngx_http_backend_pg_clock(q, NGX_HTTP_BACKEND_PG_RUNNING);

    pc->connection->idle = 0;
    pc->connection->log = q->log;
    pc->connection->read->log = q->log;
    pc->connection->write->log = q->log;

    switch (pc->prepared[stmt->index]) {

    case NGX_HTTP_BACKEND_PG_PREPARED:
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, q->log, 0,
                       "backend_pg: execute %s", stmt->name);

        rc = PQsendQueryPrepared(pc->pgconn, (char *) stmt->name,
                                 (int) stmt->nparams,
                                 (const char * const *) q->values,
                                 NULL, NULL, 0);
        pc->state = NGX_HTTP_BACKEND_PG_QUERYING;
        break;

    case NGX_HTTP_BACKEND_PG_STALE:
        rc = (ngx_http_backend_pg_deallocate(pc, stmt) == NGX_OK);
        pc->state = NGX_HTTP_BACKEND_PG_DEALLOCATING;
        break;

    default:
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, q->log, 0,
                       "backend_pg: prepare %s \"%V\"", stmt->name,
                       &stmt->sql);

        rc = PQsendPrepare(pc->pgconn, (char *) stmt->name,
                           (char *) stmt->sql.data, 0, NULL);
        pc->state = NGX_HTTP_BACKEND_PG_PREPARING;
    }

    ngx_http_backend_pg_gauges(pc);

    /*
     * statement_timeout (set to query_timeout) normally ends a slow
     * statement first and keeps the connection; this timer is for a
     * server or network that does not answer at all
     */
    ngx_add_timer(pc->connection->read, pc->pool->server->query_timeout
                                        + NGX_HTTP_BACKEND_PG_GRACE);

    if (rc == 0 || ngx_http_backend_pg_flush(pc) == NGX_ERROR) {
        /* never sent: ngx_http_backend_pg_done() may run it elsewhere */
        ngx_http_backend_pg_log_error(pc, "could not send query");
        ngx_http_backend_pg_lost(pc);
        ngx_http_backend_pg_done(pc, NGX_HTTP_BACKEND_PG_UNAVAILABLE, NULL);
        return;
    }

    if (pc->state == NGX_HTTP_BACKEND_PG_QUERYING) {
        pc->sent = 1;
    }
}


static ngx_int_t
ngx_http_backend_pg_flush(ngx_http_backend_pg_conn_t *pc)
{
    int  rc;

    rc = PQflush(pc->pgconn);

    if (rc == -1) {
        return NGX_ERROR;
    }

    /* 1: the rest goes when writable; reads are consumed meanwhile */
    pc->flushing = (rc == 1);

    return ngx_http_backend_pg_want_write(pc, pc->flushing);
}


static void
ngx_http_backend_pg_receive(ngx_http_backend_pg_conn_t *pc)
{
    int                          rc;
    PGresult                    *res;
    ngx_http_backend_pg_query_t *q;

    if (!PQconsumeInput(pc->pgconn)) {
        ngx_http_backend_pg_log_error(pc, "connection lost");
        ngx_http_backend_pg_lost(pc);
        ngx_http_backend_pg_done(pc, NGX_HTTP_BACKEND_PG_UNAVAILABLE, NULL);
        return;
    }

    for ( ;; ) {

        if (PQisBusy(pc->pgconn)) {
            return;
        }

        res = PQgetResult(pc->pgconn);

        if (res != NULL) {
            /* one statement gives one result; keep the first */
            if (pc->result == NULL) {
                pc->result = res;

            } else {
                PQclear(res);
            }

            continue;
        }

        /* the command is complete */

        res = pc->result;
        pc->result = NULL;

        if (res == NULL) {
            ngx_http_backend_pg_log_error(pc, "no result");
            ngx_http_backend_pg_lost(pc);
            ngx_http_backend_pg_done(pc, NGX_HTTP_BACKEND_PG_UNAVAILABLE,
                                     NULL);
            return;
        }

        if (pc->state == NGX_HTTP_BACKEND_PG_DEALLOCATING) {
            /* gone from the server, whatever it answered */
            PQclear(res);

            pc->prepared[pc->stmt->index] = NGX_HTTP_BACKEND_PG_UNPREPARED;

            if (pc->query) {
                ngx_http_backend_pg_send(pc, pc->query);
                return;
            }

            if (pc->connection->read->timer_set) {
                ngx_del_timer(pc->connection->read);
            }

            pc->state = NGX_HTTP_BACKEND_PG_IDLE;
            ngx_http_backend_pg_release(pc);
            return;
        }

        if (pc->state == NGX_HTTP_BACKEND_PG_PREPARING
            && PQresultStatus(res) == PGRES_COMMAND_OK)
        {
            PQclear(res);

            q = pc->query;

            pc->prepared[pc->stmt->index] = NGX_HTTP_BACKEND_PG_PREPARED;

            if (q == NULL) {
                /* aborted while preparing: nothing left to run */
                if (pc->connection->read->timer_set) {
                    ngx_del_timer(pc->connection->read);
                }

                pc->state = NGX_HTTP_BACKEND_PG_IDLE;
                ngx_http_backend_pg_release(pc);
                return;
            }

            rc = PQsendQueryPrepared(pc->pgconn, (char *) q->stmt->name,
                                     (int) q->stmt->nparams,
                                     (const char * const *) q->values,
                                     NULL, NULL, 0);
            pc->state = NGX_HTTP_BACKEND_PG_QUERYING;

            if (rc == 0 || ngx_http_backend_pg_flush(pc) == NGX_ERROR) {
                ngx_http_backend_pg_log_error(pc, "could not send query");
                ngx_http_backend_pg_lost(pc);
                ngx_http_backend_pg_done(pc, NGX_HTTP_BACKEND_PG_UNAVAILABLE,
                                         NULL);
                return;
            }

            pc->sent = 1;

            if (!PQconsumeInput(pc->pgconn)) {
                ngx_http_backend_pg_log_error(pc, "connection lost");
                ngx_http_backend_pg_lost(pc);
                ngx_http_backend_pg_done(pc, NGX_HTTP_BACKEND_PG_UNAVAILABLE,
                                         NULL);
                return;
            }

            continue;
        }

        ngx_http_backend_pg_done(pc, NGX_HTTP_BACKEND_PG_OK, res);
        return;
    }
}


/* a statement ended, well or not: hand its outcome over, then the conn */

static void
ngx_http_backend_pg_done(ngx_http_backend_pg_conn_t *pc,
    ngx_http_backend_pg_status_e status, PGresult *res)
{
    ngx_uint_t                    keep, retry, stale;
    ngx_http_backend_pg_pool_t   *pool;
    ngx_http_backend_pg_query_t  *q;

    pool = pc->pool;

    q = pc->query;
    pc->query = NULL;

    if (pc->connection->read->timer_set) {
        ngx_del_timer(pc->connection->read);
    }

    if (pc->result) {
        PQclear(pc->result);
        pc->result = NULL;
    }

    keep = 0;
    stale = 0;

    /* a connection lost: run it again if it cannot have run, or written */
    retry = (status == NGX_HTTP_BACKEND_PG_UNAVAILABLE && q
             && ngx_http_backend_pg_may_retry(q, pc->sent));

    if (status == NGX_HTTP_BACKEND_PG_OK) {
        keep = 1;

        if (pc->state == NGX_HTTP_BACKEND_PG_QUERYING
            && ngx_http_backend_pg_stale(res))
        {
            pc->prepared[pc->stmt->index] = NGX_HTTP_BACKEND_PG_STALE;
            stale = 1;
        }

        status = ngx_http_backend_pg_outcome(pc, q, res);

        pc->requests++;

        if (PQstatus(pc->pgconn) != CONNECTION_OK
            || PQtransactionStatus(pc->pgconn) != PQTRANS_IDLE)
        {
            keep = 0;

            if (PQstatus(pc->pgconn) != CONNECTION_OK) {
                ngx_http_backend_pg_lost(pc);
            }

            /* the server said it is going away (57P01, 08006...) */
            retry = (status == NGX_HTTP_BACKEND_PG_UNAVAILABLE && q
                     && ngx_http_backend_pg_may_retry(q, pc->sent));
        }
    }

    if (keep && stale && q && !q->replanned) {
        /*
         * A table of a prepared statement changed since it was prepared
         * ("cached plan must not change result type"): nothing ran.
         * DEALLOCATE it, prepare it again and run it once more, here.
         */
        ngx_log_error(NGX_LOG_WARN, q->log, 0,
                      "backend_pg \"%V\": statement %s prepared again: %s",
                      &pool->server->name, pc->stmt->name,
                      ngx_http_backend_pg_message(res));
        PQclear(res);
        q->replanned = 1;
        q->status = NGX_HTTP_BACKEND_PG_OK;
        q->sqlstate[0] = '\0';
        ngx_http_backend_pg_send(pc, q);
        return;
    }

    if (retry) {
        if (res) {
            PQclear(res);
            res = NULL;
        }

    } else if (q) {
        q->conn = NULL;
        q->status = status;
        q->result = res;
        res = NULL;

    } else if (res) {
        PQclear(res);
    }

    if (keep) {
        pc->state = NGX_HTTP_BACKEND_PG_IDLE;
        ngx_http_backend_pg_release(pc);

    } else {
        ngx_http_backend_pg_close(pc);

        if (retry) {
            ngx_http_backend_pg_retry(pool, q);
            q = NULL;
        }

        ngx_http_backend_pg_dispatch(pool);
    }

    if (q) {
        ngx_http_backend_pg_post(q);
    }
}


static void
ngx_http_backend_pg_idle_handler(ngx_http_backend_pg_conn_t *pc)
{
    PGnotify  *n;

    if (pc->connection->close) {
        /* graceful shutdown: ngx_close_idle_connections() */
        ngx_queue_remove(&pc->queue);
        ngx_http_backend_pg_close(pc);
        return;
    }

    if (!PQconsumeInput(pc->pgconn) || PQstatus(pc->pgconn) == CONNECTION_BAD)
    {
        ngx_log_error(NGX_LOG_INFO, pc->pool->log, 0,
                      "backend_pg \"%V\": idle connection closed by server",
                      &pc->pool->server->name);
        ngx_http_backend_pg_lost(pc);
        ngx_queue_remove(&pc->queue);
        ngx_http_backend_pg_close(pc);
        return;
    }

    while ((n = PQnotifies(pc->pgconn)) != NULL) {
        PQfreemem(n);
    }
}


/* an open connection is free: give it to a waiting query, or keep it */

static void
ngx_http_backend_pg_release(ngx_http_backend_pg_conn_t *pc)
{
    ngx_http_backend_pg_pool_t    *pool;
    ngx_http_backend_pg_query_t   *q;
    ngx_http_backend_pg_server_t  *server;

    pool = pc->pool;
    server = pool->server;

    if ((server->max_requests && pc->requests >= server->max_requests)
        || (server->max_lifetime
            && ngx_current_msec - pc->started >= server->max_lifetime))
    {
        ngx_http_backend_pg_close(pc);
        ngx_http_backend_pg_dispatch(pool);
        return;
    }

    q = ngx_http_backend_pg_dequeue(pool);

    if (q) {
        ngx_http_backend_pg_send(pc, q);

        if (ngx_http_backend_pg_piped(pool)) {
            ngx_http_backend_pg_pipe_fill(pc);
        }

        return;
    }

    if (ngx_terminate || ngx_exiting) {
        ngx_http_backend_pg_close(pc);
        return;
    }

    pc->connection->log = pool->log;
    pc->connection->read->log = pool->log;
    pc->connection->write->log = pool->log;
    pc->connection->idle = 1;

    ngx_queue_insert_head(&pool->idle, &pc->queue);

    ngx_http_backend_pg_gauges(pc);
}


static void
ngx_http_backend_pg_close(ngx_http_backend_pg_conn_t *pc)
{
    ngx_http_backend_pg_pool_t  *pool;

    pool = pc->pool;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pool->log, 0,
                   "backend_pg \"%V\": close connection",
                   &pool->server->name);

    ngx_http_backend_pg_unwrap(pc);

    if (pc->result) {
        PQclear(pc->result);
        pc->result = NULL;
    }

    if (pc->pgconn) {
        PQfinish(pc->pgconn);
        pc->pgconn = NULL;
        pool->active--;
    }

    if (pc->query) {
        pc->query->conn = NULL;
        pc->query = NULL;
    }

    for ( /* void */ ; pc->nslots; pc->nslots--) {
        if (pc->slots[pc->head].query) {
            pc->slots[pc->head].query->conn = NULL;
        }

        pc->head = (pc->head + 1) % pool->server->pipeline;
    }

    ngx_http_backend_pg_gauges(pc);

    ngx_queue_insert_tail(&pool->free, &pc->queue);
}


/* a connection went away: open another if queries are waiting */

static void
ngx_http_backend_pg_dispatch(ngx_http_backend_pg_pool_t *pool)
{
    if (ngx_terminate || ngx_queue_empty(&pool->waiting)) {
        return;
    }

    if (pool->active < pool->server->max
        && ngx_http_backend_pg_connect(pool) != NGX_OK
        && pool->active == 0)
    {
        ngx_http_backend_pg_fail_waiting(pool);
    }
}


static void
ngx_http_backend_pg_fail_waiting(ngx_http_backend_pg_pool_t *pool)
{
    ngx_http_backend_pg_query_t  *q;

    for ( ;; ) {
        q = ngx_http_backend_pg_dequeue(pool);
        if (q == NULL) {
            return;
        }

        q->status = NGX_HTTP_BACKEND_PG_UNAVAILABLE;
        ngx_http_backend_pg_post(q);
    }
}


/* the oldest waiting query, out of the queue and off its timer */

static ngx_http_backend_pg_query_t *
ngx_http_backend_pg_dequeue(ngx_http_backend_pg_pool_t *pool)
{
    ngx_queue_t                  *qu;
    ngx_http_backend_pg_query_t  *q;

    if (ngx_queue_empty(&pool->waiting)) {
        return NULL;
    }

    qu = ngx_queue_head(&pool->waiting);
    ngx_queue_remove(qu);
    pool->nwaiting--;

    ngx_http_backend_metrics_add(pool->server->queue_length, -1);

    q = ngx_queue_data(qu, ngx_http_backend_pg_query_t, queue);
    q->queued = 0;

    if (q->wait.timer_set) {
        ngx_del_timer(&q->wait);
    }

    return q;
}


static void
ngx_http_backend_pg_wait_handler(ngx_event_t *ev)
{
    ngx_http_backend_pg_pool_t   *pool;
    ngx_http_backend_pg_query_t  *q;

    q = ev->data;

    if (q->queued) {
        /* queue_timeout: no connection became free in time */

        pool = q->server->pool;

        ngx_queue_remove(&q->queue);
        pool->nwaiting--;
        q->queued = 0;

        ngx_log_error(NGX_LOG_WARN, q->log, 0,
                      "backend_pg \"%V\": no connection within %Mms",
                      &q->server->name, q->server->queue_timeout);

        q->status = NGX_HTTP_BACKEND_PG_UNAVAILABLE;

        ngx_http_backend_metrics_add(q->server->queue_length, -1);
        ngx_http_backend_metrics_add(q->server->queue_timeouts, 1);
        ngx_http_backend_pg_account(q);
    }

    q->handler(q);
}


/*
 * Callbacks run from a posted event, never from inside the engine's own
 * frames, so a handler may start another query or free its request.
 */

static void
ngx_http_backend_pg_post(ngx_http_backend_pg_query_t *q)
{
    if (q->wait.timer_set) {
        ngx_del_timer(&q->wait);
    }

    ngx_http_backend_pg_account(q);

    ngx_post_event(&q->wait, &ngx_posted_events);
}


static void
ngx_http_backend_pg_log_error(ngx_http_backend_pg_conn_t *pc,
    const char *what)
{
    size_t      len;
    char       *msg, *host, *port, *hint;
    ngx_log_t  *log;

    msg = pc->pgconn ? PQerrorMessage(pc->pgconn) : "";
    len = ngx_strlen(msg);

    while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' ')) {
        len--;
    }

    log = pc->query ? pc->query->log : pc->pool->log;

    /* name the server: libpq's message may not */

    host = pc->pgconn ? PQhost(pc->pgconn) : NULL;
    port = pc->pgconn ? PQport(pc->pgconn) : NULL;

    if (host == NULL) {
        host = "";
    }

    if (port == NULL) {
        port = "";
    }

    if (what == NULL) {
        /* PgBouncer's answer to "options": a pooler in front */
        hint = (!pc->pool->server->pooler
                && ngx_strstr(msg, "unsupported startup parameter"))
               ? " (a transaction pooler? see pooler=transaction)" : "";

        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "backend_pg \"%V\": could not connect to %s:%s: %*s%s",
                      &pc->pool->server->name, host, port, len, msg, hint);
        return;
    }

    ngx_log_error(NGX_LOG_ERR, log, 0, "backend_pg \"%V\": %s (%s:%s): %*s",
                  &pc->pool->server->name, what, host, port, len, msg);
}


/* what a statement's result means for its caller */

static ngx_http_backend_pg_status_e
ngx_http_backend_pg_outcome(ngx_http_backend_pg_conn_t *pc,
    ngx_http_backend_pg_query_t *q, PGresult *res)
{
    char                          *state;
    ngx_http_backend_pg_status_e   status;

    switch (PQresultStatus(res)) {

    case PGRES_TUPLES_OK:
    case PGRES_COMMAND_OK:
        return NGX_HTTP_BACKEND_PG_OK;

    default:
        break;
    }

    status = NGX_HTTP_BACKEND_PG_SQL_ERROR;

    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

    if (q) {
        if (state) {
            ngx_cpystrn(q->sqlstate, (u_char *) state, 6);
        }

        if (state && ngx_strcmp(state, "57014") == 0) {
            status = NGX_HTTP_BACKEND_PG_TIMEOUT;
        }

        if (state && (state[0] == '0' && state[1] == '8')) {
            status = NGX_HTTP_BACKEND_PG_UNAVAILABLE;
        }

        if (state && state[0] == '5' && state[1] == '7' && state[2] == 'P') {
            status = NGX_HTTP_BACKEND_PG_UNAVAILABLE;
        }
    }

    if (state && ngx_strcmp(state, "26000") == 0) {
        /* the prepared statement vanished (DISCARD ALL?): redo */
        ngx_memzero(pc->prepared, pc->pool->server->stmts.nelts + 1);
    }

    return status;
}


/*
 * Pipeline mode (backend_pg pipeline=N): up to N statements in flight on
 * one connection, each its own Prepare (first use), Execute and Sync, so
 * each is its own implicit transaction and an error stops only its own.
 * The server runs them back to back instead of sleeping between round
 * trips, and answers several in one read.
 */

static void
ngx_http_backend_pg_pipe_send(ngx_http_backend_pg_conn_t *pc,
    ngx_http_backend_pg_query_t *q)
{
    ngx_uint_t                   i;
    ngx_http_backend_pg_stmt_t  *stmt;
    ngx_http_backend_pg_slot_t  *slot;

    stmt = q->stmt;

    i = (pc->head + pc->nslots) % pc->pool->server->pipeline;
    slot = &pc->slots[i];

    slot->query = q;
    slot->stmt = stmt;
    slot->prepare = 0;
    slot->skip = 0;
    slot->early = 0;
    slot->sent = 0;

    pc->nslots++;
    pc->state = NGX_HTTP_BACKEND_PG_QUERYING;
    pc->connection->idle = 0;

    q->conn = pc;
    q->slot = i;

    ngx_http_backend_pg_clock(q, NGX_HTTP_BACKEND_PG_RUNNING);
    ngx_http_backend_pg_gauges(pc);

    if (pc->pool->server->pooler) {
        if (ngx_http_backend_pg_pooled(pc, q) != NGX_OK) {
            goto failed;
        }

        slot->skip++;
        goto sent;
    }

    if (pc->prepared[stmt->index] == NGX_HTTP_BACKEND_PG_STALE) {
        if (ngx_http_backend_pg_deallocate(pc, stmt) != NGX_OK) {
            goto failed;
        }

        pc->prepared[stmt->index] = NGX_HTTP_BACKEND_PG_UNPREPARED;
        slot->skip++;
    }

    if (pc->prepared[stmt->index] == NGX_HTTP_BACKEND_PG_UNPREPARED) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, q->log, 0,
                       "backend_pg: prepare %s \"%V\"", stmt->name,
                       &stmt->sql);

        if (!PQsendPrepare(pc->pgconn, (char *) stmt->name,
                           (char *) stmt->sql.data, 0, NULL))
        {
            goto failed;
        }

        pc->prepared[stmt->index] = NGX_HTTP_BACKEND_PG_PREPARED;
        slot->prepare = 1;
        slot->skip++;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, q->log, 0,
                   "backend_pg: execute %s, %ui in flight", stmt->name,
                   pc->nslots);

    if (!PQsendQueryPrepared(pc->pgconn, (char *) stmt->name,
                             (int) stmt->nparams,
                             (const char * const *) q->values,
                             NULL, NULL, 0)
        || !PQpipelineSync(pc->pgconn))
    {
        goto failed;
    }

sent:

    /* reset by every answer: it fires when the server stops answering */

    if (!pc->connection->read->timer_set) {
        ngx_add_timer(pc->connection->read, pc->pool->server->query_timeout
                                            + NGX_HTTP_BACKEND_PG_GRACE);
    }

    if (ngx_http_backend_pg_flush(pc) == NGX_ERROR) {
        goto failed;
    }

    slot->sent = 1;

    return;

failed:

    /* this one was never sent: ngx_http_backend_pg_pipe_fail() may retry */
    ngx_http_backend_pg_log_error(pc, "could not send query");
    ngx_http_backend_pg_lost(pc);
    ngx_http_backend_pg_pipe_fail(pc, NGX_HTTP_BACKEND_PG_UNAVAILABLE);
}


/*
 * pooler=transaction: the preamble and the statement, both unnamed (a
 * transaction pooler hands each transaction to any server connection, on
 * which a named statement may not exist), then one Sync: one implicit
 * transaction, so the preamble's settings end with it, and the pooler
 * sees one request and one ReadyForQuery at a time
 */

static ngx_int_t
ngx_http_backend_pg_pooled(ngx_http_backend_pg_conn_t *pc,
    ngx_http_backend_pg_query_t *q)
{
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, q->log, 0,
                   "backend_pg: run unnamed \"%V\"", &q->stmt->sql);

    if (!PQsendQueryParams(pc->pgconn, (char *) pc->pool->server->preamble,
                           0, NULL, NULL, NULL, NULL, 0)
        || !PQsendQueryParams(pc->pgconn, (char *) q->stmt->sql.data,
                              (int) q->stmt->nparams, NULL,
                              (const char * const *) q->values,
                              NULL, NULL, 0)
        || !PQpipelineSync(pc->pgconn))
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the open connection with the fewest statements in flight, if any */

static ngx_http_backend_pg_conn_t *
ngx_http_backend_pg_pipe_pick(ngx_http_backend_pg_pool_t *pool)
{
    ngx_uint_t                   i, max;
    ngx_http_backend_pg_conn_t  *pc, *best;

    best = NULL;
    max = pool->server->pipeline;

    for (i = 0; i < pool->server->max; i++) {
        pc = &pool->conns[i];

        if (pc->pgconn == NULL || pc->state != NGX_HTTP_BACKEND_PG_QUERYING
            || pc->retiring || pc->nslots >= max)
        {
            continue;
        }

        if (best == NULL || pc->nslots < best->nslots) {
            best = pc;
        }
    }

    return best;
}


static void
ngx_http_backend_pg_pipe_fill(ngx_http_backend_pg_conn_t *pc)
{
    ngx_http_backend_pg_pool_t   *pool;
    ngx_http_backend_pg_query_t  *q;

    pool = pc->pool;

    while (pc->pgconn && pc->state == NGX_HTTP_BACKEND_PG_QUERYING
           && !pc->retiring && pc->nslots < pool->server->pipeline)
    {
        q = ngx_http_backend_pg_dequeue(pool);
        if (q == NULL) {
            break;
        }

        ngx_http_backend_pg_pipe_send(pc, q);
    }
}


static void
ngx_http_backend_pg_pipe_receive(ngx_http_backend_pg_conn_t *pc)
{
    PGresult                    *res;
    ngx_uint_t                   nulls;
    ngx_http_backend_pg_slot_t  *slot;

    if (!PQconsumeInput(pc->pgconn)) {
        ngx_http_backend_pg_log_error(pc, "connection lost");
        ngx_http_backend_pg_lost(pc);
        ngx_http_backend_pg_pipe_fail(pc, NGX_HTTP_BACKEND_PG_UNAVAILABLE);
        return;
    }

    nulls = 0;

    while (pc->nslots) {

        if (PQisBusy(pc->pgconn)) {
            return;
        }

        res = PQgetResult(pc->pgconn);

        if (res == NULL) {
            /* the end of one command's results; twice: nothing more yet */
            if (++nulls > 1) {
                return;
            }

            continue;
        }

        nulls = 0;
        slot = &pc->slots[pc->head];

        switch (PQresultStatus(res)) {

        case PGRES_PIPELINE_SYNC:
            PQclear(res);

            if (ngx_http_backend_pg_pipe_done(pc) != NGX_OK) {
                return;
            }

            continue;

        case PGRES_COMMAND_OK:
        case PGRES_TUPLES_OK:
            if (slot->skip) {
                /* a Deallocate's, Prepare's or preamble's */
                slot->skip--;
                PQclear(res);
                continue;
            }

            break;

        default:
            if (slot->skip) {
                /* a Deallocate or Prepare failed; the rest comes back
                 * aborted */
                slot->skip = 0;
                slot->early = 1;

                if (slot->prepare) {
                    pc->prepared[slot->stmt->index] =
                                               NGX_HTTP_BACKEND_PG_UNPREPARED;
                }
            }

            break;
        }

        /* the first result is the statement's (or its Prepare's error) */

        if (pc->result == NULL) {
            pc->result = res;

        } else {
            PQclear(res);
        }
    }
}


/*
 * The head statement's Sync came: hand its outcome over.  NGX_OK: the
 * connection is still open (busy or idle); else it was closed.
 */

static ngx_int_t
ngx_http_backend_pg_pipe_done(ngx_http_backend_pg_conn_t *pc)
{
    PGresult                      *res;
    ngx_uint_t                     replan;
    PGTransactionStatusType        ts;
    ngx_http_backend_pg_slot_t    *slot;
    ngx_http_backend_pg_pool_t    *pool;
    ngx_http_backend_pg_query_t   *q;
    ngx_http_backend_pg_status_e   status;
    ngx_http_backend_pg_server_t  *server;

    pool = pc->pool;
    server = pool->server;

    res = pc->result;
    pc->result = NULL;

    slot = &pc->slots[pc->head];
    q = slot->query;
    slot->query = NULL;

    pc->head = (pc->head + 1) % server->pipeline;
    pc->nslots--;
    pc->requests++;

    ngx_http_backend_pg_gauges(pc);

    replan = 0;

    if (res) {
        if (!slot->early && !server->pooler
            && ngx_http_backend_pg_stale(res))
        {
            /* see ngx_http_backend_pg_done() */
            pc->prepared[slot->stmt->index] = NGX_HTTP_BACKEND_PG_STALE;
            replan = (q && !q->replanned);
        }

        status = ngx_http_backend_pg_outcome(pc, q, res);

    } else {
        ngx_http_backend_pg_log_error(pc, "no result");
        status = NGX_HTTP_BACKEND_PG_UNAVAILABLE;
    }

    if (replan) {
        ngx_log_error(NGX_LOG_WARN, q->log, 0,
                      "backend_pg \"%V\": statement %s prepared again: %s",
                      &server->name, slot->stmt->name,
                      ngx_http_backend_pg_message(res));
        PQclear(res);
        q->conn = NULL;
        q->replanned = 1;
        q->sqlstate[0] = '\0';

    } else if (q) {
        q->conn = NULL;
        q->status = status;
        q->result = res;
        ngx_http_backend_pg_post(q);

    } else if (res) {
        PQclear(res);
    }

    if ((server->max_requests && pc->requests >= server->max_requests)
        || (server->max_lifetime
            && ngx_current_msec - pc->started >= server->max_lifetime))
    {
        pc->retiring = 1;
    }

    /* a statement that leaves a transaction open would hold the others */

    ts = PQtransactionStatus(pc->pgconn);

    if (PQstatus(pc->pgconn) != CONNECTION_OK
        || ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR
        || ts == PQTRANS_UNKNOWN)
    {
        if (replan) {
            q->status = NGX_HTTP_BACKEND_PG_UNAVAILABLE;
            ngx_http_backend_pg_post(q);
        }

        /* else a transaction left open: dropped on purpose */

        if (PQstatus(pc->pgconn) != CONNECTION_OK || ts == PQTRANS_UNKNOWN) {
            ngx_http_backend_pg_lost(pc);
        }

        ngx_http_backend_pg_pipe_fail(pc, NGX_HTTP_BACKEND_PG_UNAVAILABLE);
        return NGX_DECLINED;
    }

    if (replan) {
        /* behind whatever is in flight: DEALLOCATE, Prepare, Execute */
        ngx_http_backend_pg_pipe_send(pc, q);

        if (pc->pgconn == NULL) {
            return NGX_DECLINED;
        }
    }

    if (pc->nslots) {
        ngx_add_timer(pc->connection->read, server->query_timeout
                                            + NGX_HTTP_BACKEND_PG_GRACE);
        ngx_http_backend_pg_pipe_fill(pc);
        return pc->pgconn ? NGX_OK : NGX_DECLINED;
    }

    if (pc->connection->read->timer_set) {
        ngx_del_timer(pc->connection->read);
    }

    pc->state = NGX_HTTP_BACKEND_PG_IDLE;
    ngx_http_backend_pg_release(pc);

    return pc->pgconn ? NGX_OK : NGX_DECLINED;
}


/* the connection failed: every statement in flight fails with it */

static void
ngx_http_backend_pg_pipe_fail(ngx_http_backend_pg_conn_t *pc,
    ngx_http_backend_pg_status_e status)
{
    ngx_queue_t                  retry, *qu;
    ngx_http_backend_pg_slot_t  *slot;
    ngx_http_backend_pg_pool_t  *pool;
    ngx_http_backend_pg_query_t *q;

    pool = pc->pool;

    ngx_queue_init(&retry);

    for ( /* void */ ; pc->nslots; pc->nslots--) {
        slot = &pc->slots[pc->head];
        q = slot->query;
        slot->query = NULL;

        if (q) {
            q->conn = NULL;

            if (status == NGX_HTTP_BACKEND_PG_UNAVAILABLE
                && ngx_http_backend_pg_may_retry(q, slot->sent))
            {
                ngx_queue_insert_tail(&retry, &q->queue);

            } else {
                q->status = status;
                ngx_http_backend_pg_post(q);
            }
        }

        pc->head = (pc->head + 1) % pool->server->pipeline;
    }

    if (pc->connection->read->timer_set) {
        ngx_del_timer(pc->connection->read);
    }

    ngx_http_backend_pg_close(pc);

    /* each goes to the head of the queue: the last first keeps the order */

    while (!ngx_queue_empty(&retry)) {
        qu = ngx_queue_last(&retry);
        ngx_queue_remove(qu);

        ngx_http_backend_pg_retry(pool,
                       ngx_queue_data(qu, ngx_http_backend_pg_query_t, queue));
    }

    ngx_http_backend_pg_dispatch(pool);
}


/*
 * An idle connection is about to be used: one look at its socket, without
 * waiting.  A server that went away while it was idle (a restart) left an
 * error message and an end of file there, which the event loop may not
 * have reported yet: the statement then goes to another connection
 * instead of failing.
 */

static ngx_int_t
ngx_http_backend_pg_alive(ngx_http_backend_pg_conn_t *pc)
{
    u_char      c;
    ssize_t     n;
    PGnotify   *nt;
    ngx_err_t   err;
    ngx_uint_t  i;

    for (i = 0; i < 2; i++) {
        n = recv(pc->connection->fd, &c, 1, MSG_PEEK|MSG_DONTWAIT);

        if (n == -1) {
            err = ngx_socket_errno;
            return (err == NGX_EAGAIN || err == NGX_EINTR) ? NGX_OK
                                                           : NGX_ERROR;
        }

        if (n == 0) {
            return NGX_ERROR;
        }

        /* something came while idle: a notice, or the server's goodbye */

        if (!PQconsumeInput(pc->pgconn)
            || PQstatus(pc->pgconn) == CONNECTION_BAD)
        {
            return NGX_ERROR;
        }

        while ((nt = PQnotifies(pc->pgconn)) != NULL) {
            PQfreemem(nt);
        }
    }

    return NGX_OK;
}


/*
 * After a lost connection, a statement runs once more, on a connection
 * opened or proven since, if it cannot have run (never sent) or cannot
 * have written (read_only).  A mutation that may have reached the server
 * is never sent again: it may have committed.
 */

static ngx_uint_t
ngx_http_backend_pg_may_retry(ngx_http_backend_pg_query_t *q, ngx_uint_t sent)
{
    return !q->retried && (!sent || q->read_only)
           && !ngx_terminate && !ngx_exiting;
}


static void
ngx_http_backend_pg_retry(ngx_http_backend_pg_pool_t *pool,
    ngx_http_backend_pg_query_t *q)
{
    ngx_log_error(NGX_LOG_WARN, q->log, 0,
                  "backend_pg \"%V\": connection lost, running %s again "
                  "on another connection", &pool->server->name,
                  q->stmt->name);

    q->retried = 1;
    q->conn = NULL;
    q->status = NGX_HTTP_BACKEND_PG_OK;
    q->sqlstate[0] = '\0';

    /*
     * At the head of the queue, which only a connection that has just
     * answered or just opened takes: the idle ones may be as dead as the
     * one just lost.  ngx_http_backend_pg_dispatch() opens one.
     */

    ngx_queue_insert_head(&pool->waiting, &q->queue);
    pool->nwaiting++;
    q->queued = 1;

    ngx_http_backend_metrics_add(pool->server->queue_length, 1);
    ngx_http_backend_pg_clock(q, NGX_HTTP_BACKEND_PG_WAITING);

    ngx_add_timer(&q->wait, pool->server->queue_timeout);
}


/* "cached plan must not change result type": a table changed under it */

static ngx_uint_t
ngx_http_backend_pg_stale(PGresult *res)
{
    char  *state;

    if (res == NULL || PQresultStatus(res) != PGRES_FATAL_ERROR) {
        return 0;
    }

    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

    return state && ngx_strcmp(state, "0A000") == 0;
}


/* an error result's message, never NULL */

static char *
ngx_http_backend_pg_message(PGresult *res)
{
    char  *msg;

    msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

    return msg ? msg : "(no message)";
}


/* libpq 15 has no PQsendClosePrepared(): the SQL command does it */

static ngx_int_t
ngx_http_backend_pg_deallocate(ngx_http_backend_pg_conn_t *pc,
    ngx_http_backend_pg_stmt_t *stmt)
{
    u_char  sql[sizeof("DEALLOCATE ") + sizeof(stmt->name)];

    (void) ngx_snprintf(sql, sizeof(sql), "DEALLOCATE %s%Z", stmt->name);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pc->connection->log, 0,
                   "backend_pg: deallocate %s", stmt->name);

    if (!PQsendQueryParams(pc->pgconn, (char *) sql, 0, NULL, NULL, NULL,
                           NULL, 0))
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A worker's first connection to a database, before it serves anything,
 * prepares every statement configured for it as the unnamed statement,
 * all in one round trip (pipeline mode, a Sync after each so that a
 * failure stops only its own): a statement that does not prepare is
 * reported once, naming its procedure, file and line.  Requests are not
 * changed: a statement that fails now (a table not created yet) is
 * prepared again at its first use, as any other.  Behind a transaction
 * pooler, one Sync at a time: the next goes when the last is answered.
 */

static ngx_int_t
ngx_http_backend_pg_check(ngx_http_backend_pg_conn_t *pc)
{
    ngx_uint_t                     i;
    ngx_http_backend_pg_stmt_t   **stmt;
    ngx_http_backend_pg_server_t  *server;

    server = pc->pool->server;
    stmt = server->stmts.elts;

    if (!ngx_http_backend_pg_piped(pc->pool)
        && PQenterPipelineMode(pc->pgconn) != 1)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < (server->pooler ? 1 : server->stmts.nelts); i++) {
        if (!PQsendPrepare(pc->pgconn, "", (char *) stmt[i]->sql.data, 0,
                           NULL)
            || !PQpipelineSync(pc->pgconn))
        {
            return NGX_ERROR;
        }
    }

    pc->check = 0;
    pc->state = NGX_HTTP_BACKEND_PG_CHECKING;

    ngx_add_timer(pc->connection->read, server->query_timeout
                                        + NGX_HTTP_BACKEND_PG_GRACE);

    return ngx_http_backend_pg_flush(pc);
}


static void
ngx_http_backend_pg_check_handler(ngx_http_backend_pg_conn_t *pc,
    ngx_event_t *ev)
{
    char                          *msg, *state;
    PGresult                      *res;
    ngx_uint_t                     nulls;
    ngx_http_backend_pg_stmt_t   **stmt, *st;
    ngx_http_backend_pg_server_t  *server;

    server = pc->pool->server;
    stmt = server->stmts.elts;

    if (ev->timedout) {
        ngx_log_error(NGX_LOG_ERR, pc->pool->log, NGX_ETIMEDOUT,
                      "backend_pg \"%V\": no answer to the check of "
                      "statements within %Mms", &server->name,
                      server->query_timeout + NGX_HTTP_BACKEND_PG_GRACE);
        ngx_http_backend_pg_connect_failed(pc);
        return;
    }

    if (pc->flushing && ngx_http_backend_pg_flush(pc) == NGX_ERROR) {
        ngx_http_backend_pg_log_error(pc, "could not send query");
        ngx_http_backend_pg_connect_failed(pc);
        return;
    }

    if (!PQconsumeInput(pc->pgconn)) {
        ngx_http_backend_pg_log_error(pc, "connection lost");
        ngx_http_backend_pg_connect_failed(pc);
        return;
    }

    nulls = 0;

    while (pc->check < server->stmts.nelts) {

        if (PQisBusy(pc->pgconn)) {
            return;
        }

        res = PQgetResult(pc->pgconn);

        if (res == NULL) {
            if (++nulls > 1) {
                return;
            }

            continue;
        }

        nulls = 0;

        switch (PQresultStatus(res)) {

        case PGRES_PIPELINE_SYNC:
            pc->check++;

            if (server->pooler && pc->check < server->stmts.nelts
                && (!PQsendPrepare(pc->pgconn, "",
                                   (char *) stmt[pc->check]->sql.data, 0,
                                   NULL)
                    || !PQpipelineSync(pc->pgconn)
                    || ngx_http_backend_pg_flush(pc) == NGX_ERROR))
            {
                PQclear(res);
                ngx_http_backend_pg_log_error(pc, "could not send query");
                ngx_http_backend_pg_connect_failed(pc);
                return;
            }

            break;

        case PGRES_COMMAND_OK:
            break;

        default:
            st = stmt[pc->check];
            msg = ngx_http_backend_pg_message(res);
            state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

            if (state == NULL) {
                state = "none";
            }

            if (st->owner.len) {
                ngx_log_error(NGX_LOG_WARN, pc->pool->log, 0,
                              "backend_pg \"%V\": the statement of procedure "
                              "\"%V\" in %s:%ui does not prepare: %s "
                              "(SQLSTATE %s)", &server->name, &st->owner,
                              st->file, st->line, msg, state);

            } else {
                ngx_log_error(NGX_LOG_WARN, pc->pool->log, 0,
                              "backend_pg \"%V\": the statement in %s:%ui "
                              "does not prepare: %s (SQLSTATE %s)",
                              &server->name, st->file, st->line, msg, state);
            }
        }

        PQclear(res);
    }

    if (pc->connection->read->timer_set) {
        ngx_del_timer(pc->connection->read);
    }

    if (!ngx_http_backend_pg_piped(pc->pool)
        && PQexitPipelineMode(pc->pgconn) != 1)
    {
        ngx_http_backend_pg_log_error(pc, "no pipeline mode");
        ngx_http_backend_pg_connect_failed(pc);
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pc->pool->log, 0,
                   "backend_pg \"%V\": statements checked", &server->name);

    pc->state = NGX_HTTP_BACKEND_PG_IDLE;
    ngx_http_backend_pg_release(pc);
}


/*
 * The connection's part of backend_pg_connections and
 * backend_pg_pipeline_depth, brought up to date after any change of its
 * state or of its statements in flight: each change adds its delta, so
 * the sum over the workers is exact, and a closed connection counts 0.
 */

static void
ngx_http_backend_pg_gauges(ngx_http_backend_pg_conn_t *pc)
{
    ngx_uint_t                     depth;
    ngx_http_backend_series_t     *s;
    ngx_http_backend_pg_server_t  *server;

    server = pc->pool->server;

    s = NULL;
    depth = 0;

    if (pc->pgconn) {
        switch (pc->state) {

        case NGX_HTTP_BACKEND_PG_CONNECTING:
        case NGX_HTTP_BACKEND_PG_CHECKING:
            s = server->connections[NGX_HTTP_BACKEND_PG_CONNECTING_STATE];
            break;

        case NGX_HTTP_BACKEND_PG_IDLE:
            s = server->connections[NGX_HTTP_BACKEND_PG_IDLE_STATE];
            break;

        default: /* PREPARING, QUERYING, DEALLOCATING */
            s = server->connections[NGX_HTTP_BACKEND_PG_BUSY_STATE];
            depth = ngx_http_backend_pg_piped(pc->pool) ? pc->nslots : 1;
        }
    }

    if (s != pc->counted) {
        if (pc->counted) {
            ngx_http_backend_metrics_add(pc->counted, -1);
        }

        if (s) {
            ngx_http_backend_metrics_add(s, 1);
        }

        pc->counted = s;
    }

    if (depth != pc->depth) {
        ngx_http_backend_metrics_add(server->pipeline_depth,
                                     (ngx_atomic_int_t) depth
                                     - (ngx_atomic_int_t) pc->depth);
        pc->depth = depth;
    }
}


/* the connection broke under us (not a timeout, not closed on purpose) */

static void
ngx_http_backend_pg_lost(ngx_http_backend_pg_conn_t *pc)
{
    ngx_http_backend_metrics_add(pc->pool->server->connections_lost, 1);
}


/*
 * A statement's clock: the time it waits in the queue goes to
 * q->queue_wait, the time it spends on a connection to q->duration; a
 * statement that finds a connection at once never waits.
 */

static void
ngx_http_backend_pg_clock(ngx_http_backend_pg_query_t *q, ngx_uint_t clock)
{
    uint64_t  now;

    now = ngx_http_backend_metrics_now();

    if (q->clock == NGX_HTTP_BACKEND_PG_RUNNING) {
        q->duration += now - q->mark;

    } else if (q->clock == NGX_HTTP_BACKEND_PG_WAITING) {
        q->queue_wait += now - q->mark;
    }

    if (clock == NGX_HTTP_BACKEND_PG_RUNNING) {
        q->ran = 1;
    }

    q->mark = now;
    q->clock = clock;
}


/* the statement's outcome is final: its clock stops, the metrics count it */

static void
ngx_http_backend_pg_account(ngx_http_backend_pg_query_t *q)
{
    char                          *c;
    ngx_uint_t                     i, k;
    ngx_http_backend_pg_server_t  *server;

    server = q->server;

    ngx_http_backend_pg_clock(q, NGX_HTTP_BACKEND_PG_STOPPED);

    ngx_http_backend_metrics_observe(server->queue_wait, q->queue_wait);

    if (q->ran) {
        ngx_http_backend_metrics_observe(server->statement_duration,
                                         q->duration);
    }

    switch (q->status) {

    case NGX_HTTP_BACKEND_PG_OK:
        k = NGX_HTTP_BACKEND_PG_OUTCOME_OK;
        break;

    case NGX_HTTP_BACKEND_PG_TIMEOUT:
        /* statement_timeout, or no answer at all (a queue_timeout is
         * unavailable, counted where it happens) */
        k = NGX_HTTP_BACKEND_PG_OUTCOME_TIMEOUT;
        ngx_http_backend_metrics_add(server->query_timeouts, 1);
        break;

    case NGX_HTTP_BACKEND_PG_UNAVAILABLE:
        k = NGX_HTTP_BACKEND_PG_OUTCOME_UNAVAILABLE;
        break;

    default: /* NGX_HTTP_BACKEND_PG_SQL_ERROR: the SQLSTATE's class */
        k = NGX_HTTP_BACKEND_PG_OUTCOME_OTHER;
        c = NGX_HTTP_BACKEND_PG_CLASSES;

        for (i = 0; c[2 * i]; i++) {
            if (c[2 * i] == (char) q->sqlstate[0]
                && c[2 * i + 1] == (char) q->sqlstate[1])
            {
                k = NGX_HTTP_BACKEND_PG_OUTCOMES + i;
                break;
            }
        }
    }

    ngx_http_backend_metrics_add(server->statements[k], 1);
}
