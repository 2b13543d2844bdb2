
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_backend_jobs.h"


/*
 * The listener of background work: each worker holds LISTEN
 * backend_queue on a direct connection of its own (backend_jobs_listen),
 * outside the engine's pools, since LISTEN needs a session that a
 * transaction-mode pooler does not keep.  app.enqueue() notifies at
 * commit with the queue's name; the listener wakes that queue's claims.
 * A lost connection is logged and made again every second; polling goes
 * on meanwhile, so a listener only makes queues faster.
 */


static ngx_int_t ngx_http_backend_jobs_listen_wrap(
    ngx_http_backend_jobs_main_conf_t *jmcf);
static void ngx_http_backend_jobs_listen_unwrap(
    ngx_http_backend_jobs_main_conf_t *jmcf);
static void ngx_http_backend_jobs_listen_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_backend_jobs_listen_events(
    ngx_http_backend_jobs_main_conf_t *jmcf, ngx_uint_t write);
static void ngx_http_backend_jobs_listen_read(
    ngx_http_backend_jobs_main_conf_t *jmcf);
static void ngx_http_backend_jobs_wake_all(
    ngx_http_backend_jobs_main_conf_t *jmcf);
static void ngx_http_backend_jobs_listen_notice(void *arg,
    const char *message);
static u_char *ngx_http_backend_jobs_listen_error(PGconn *conn, u_char *buf,
    size_t size);


/* the listener: LISTEN backend_queue on a direct connection of its own */

void
ngx_http_backend_jobs_listen_start(ngx_event_t *ev)
{
    u_char                              err[NGX_HTTP_BACKEND_JOBS_ERROR_LEN];
    ngx_http_backend_pg_server_t       *server;
    ngx_http_backend_jobs_main_conf_t  *jmcf;

    jmcf = ev->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    server = jmcf->listen_server;

    if (server) {
        jmcf->pgconn = PQconnectStartParams(server->keywords, server->values,
                                            0);
    } else {
        jmcf->pgconn = PQconnectStart((char *) jmcf->listen.data);
    }

    if (jmcf->pgconn == NULL) {
        goto failed;
    }

    if (PQstatus(jmcf->pgconn) == CONNECTION_BAD
        || PQsetnonblocking(jmcf->pgconn, 1) == -1)
    {
        ngx_log_error(NGX_LOG_WARN, jmcf->log, 0,
                      "backend_jobs_listen: %s",
                      ngx_http_backend_jobs_listen_error(jmcf->pgconn, err,
                                                         sizeof(err)));
        goto failed;
    }

    /* the server's notices into the error log, not onto stderr */
    (void) PQsetNoticeProcessor(jmcf->pgconn,
                                ngx_http_backend_jobs_listen_notice, jmcf);

    jmcf->listen_state = NGX_HTTP_BACKEND_JOBS_CONNECTING;

    if (ngx_http_backend_jobs_listen_wrap(jmcf) != NGX_OK) {
        ngx_http_backend_jobs_listen_close(jmcf, 1);
    }

    return;

failed:

    if (jmcf->pgconn) {
        PQfinish(jmcf->pgconn);
        jmcf->pgconn = NULL;
    }

    ngx_add_timer(&jmcf->reconnect, NGX_HTTP_BACKEND_JOBS_RECONNECT);
}


/* libpq's socket as a connection of nginx's, connecting: events, timer */

static ngx_int_t
ngx_http_backend_jobs_listen_wrap(ngx_http_backend_jobs_main_conf_t *jmcf)
{
    int                fd;
    ngx_connection_t  *c;

    fd = PQsocket(jmcf->pgconn);
    if (fd == -1) {
        return NGX_ERROR;
    }

    c = ngx_get_connection(fd, jmcf->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    /* libpq owns the socket */
    c->shared = 1;
    c->data = jmcf;
    c->pool = NULL;
    c->read->handler = ngx_http_backend_jobs_listen_handler;
    c->write->handler = ngx_http_backend_jobs_listen_handler;
    c->read->log = jmcf->log;
    c->write->log = jmcf->log;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

    jmcf->connection = c;

    if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK
        || ngx_http_backend_jobs_listen_events(jmcf, 1) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* a worker shutting down does not wait for it */
    c->read->cancelable = 1;
    ngx_add_timer(c->read, NGX_HTTP_BACKEND_JOBS_CONNECT_TIMEOUT);

    return NGX_OK;
}


/* nginx's connection dropped; libpq closes the socket (NGX_CLOSE_EVENT) */

static void
ngx_http_backend_jobs_listen_unwrap(ngx_http_backend_jobs_main_conf_t *jmcf)
{
    if (jmcf->connection == NULL) {
        return;
    }

    ngx_http_backend_pg_unwrap_socket(jmcf->connection);
    jmcf->connection = NULL;
}


/* write interest only while libpq has something to send (level events) */

static ngx_int_t
ngx_http_backend_jobs_listen_events(ngx_http_backend_jobs_main_conf_t *jmcf,
    ngx_uint_t write)
{
    ngx_event_t  *wev;

    wev = jmcf->connection->write;

    if (write && !wev->active) {
        return ngx_add_event(wev, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }

    if (!write && wev->active) {
        return ngx_del_event(wev, NGX_WRITE_EVENT, 0);
    }

    return NGX_OK;
}


static void
ngx_http_backend_jobs_listen_handler(ngx_event_t *ev)
{
    int                                 rc;
    u_char                              err[NGX_HTTP_BACKEND_JOBS_ERROR_LEN];
    ngx_connection_t                   *c;
    PostgresPollingStatusType           poll;
    ngx_http_backend_jobs_main_conf_t  *jmcf;

    c = ev->data;
    jmcf = c->data;

    if (jmcf->listen_state == NGX_HTTP_BACKEND_JOBS_LISTENING) {
        if (ev->write) {
            rc = PQflush(jmcf->pgconn);

            if (rc == -1
                || ngx_http_backend_jobs_listen_events(jmcf, rc == 1)
                   != NGX_OK)
            {
                goto lost;
            }

            return;
        }

        ngx_http_backend_jobs_listen_read(jmcf);
        return;
    }

    /* connecting */

    if (ev->timedout) {
        ngx_log_error(NGX_LOG_WARN, jmcf->log, NGX_ETIMEDOUT,
                      "backend_jobs_listen: connect timed out, polling "
                      "meanwhile");
        ngx_http_backend_jobs_listen_close(jmcf, 1);
        return;
    }

    poll = PQconnectPoll(jmcf->pgconn);

    /*
     * libpq moved to another socket (the next host, an SSL retry): it
     * closed the old one, which took it out of epoll, and the new one may
     * have the same number.  A connection is STARTED only right after its
     * connect(): once the old one completed, STARTED again is a new one.
     */

    if (poll != PGRES_POLLING_FAILED
        && (PQstatus(jmcf->pgconn) == CONNECTION_STARTED
            || PQsocket(jmcf->pgconn) != c->fd))
    {

        ngx_http_backend_jobs_listen_unwrap(jmcf);

        if (ngx_http_backend_jobs_listen_wrap(jmcf) != NGX_OK) {
            goto lost;
        }

        c = jmcf->connection;
    }

    switch (poll) {

    case PGRES_POLLING_READING:
        if (ngx_http_backend_jobs_listen_events(jmcf, 0) != NGX_OK) {
            goto lost;
        }
        return;

    case PGRES_POLLING_WRITING:
        if (ngx_http_backend_jobs_listen_events(jmcf, 1) != NGX_OK) {
            goto lost;
        }
        return;

    case PGRES_POLLING_OK:
        break;

    default:
        ngx_log_error(NGX_LOG_WARN, jmcf->log, 0,
                      "backend_jobs_listen: connect failed: %s",
                      ngx_http_backend_jobs_listen_error(jmcf->pgconn, err,
                                                         sizeof(err)));
        ngx_http_backend_jobs_listen_close(jmcf, 1);
        return;
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (!PQsendQuery(jmcf->pgconn, "LISTEN backend_queue")) {
        goto lost;
    }

    jmcf->listen_state = NGX_HTTP_BACKEND_JOBS_LISTENING;

    if (ngx_http_backend_jobs_listen_events(jmcf,
                                            PQflush(jmcf->pgconn) == 1)
        != NGX_OK)
    {
        goto lost;
    }

    ngx_log_error(NGX_LOG_INFO, jmcf->log, 0,
                  "backend_jobs_listen: listening");

    /* what was enqueued while nobody listened */
    ngx_http_backend_jobs_wake_all(jmcf);

    return;

lost:

    ngx_log_error(NGX_LOG_WARN, jmcf->log, 0,
                  "backend_jobs_listen: connection lost: %s, polling "
                  "meanwhile",
                  ngx_http_backend_jobs_listen_error(jmcf->pgconn, err,
                                                     sizeof(err)));
    ngx_http_backend_jobs_listen_close(jmcf, 1);
}


static void
ngx_http_backend_jobs_listen_read(ngx_http_backend_jobs_main_conf_t *jmcf)
{
    u_char                         err[NGX_HTTP_BACKEND_JOBS_ERROR_LEN];
    size_t                         len;
    PGnotify                      *n;
    PGresult                      *res;
    ngx_uint_t                     i;
    ngx_http_backend_jobs_task_t  *t;

    if (!PQconsumeInput(jmcf->pgconn)) {
        goto lost;
    }

    while (!PQisBusy(jmcf->pgconn)) {
        res = PQgetResult(jmcf->pgconn);
        if (res == NULL) {
            break;
        }

        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            PQclear(res);
            goto lost;
        }

        PQclear(res);
    }

    t = jmcf->tasks.elts;

    while ((n = PQnotifies(jmcf->pgconn)) != NULL) {
        len = ngx_strlen(n->extra);

        for (i = 0; i < jmcf->tasks.nelts; i++) {
            if (t[i].kind == NGX_HTTP_BACKEND_JOBS_QUEUE
                && t[i].name.len == len
                && ngx_strncmp(t[i].name.data, n->extra, len) == 0)
            {
                ngx_http_backend_jobs_wake(&t[i]);
            }
        }

        PQfreemem(n);
    }

    if (PQstatus(jmcf->pgconn) != CONNECTION_OK) {
        goto lost;
    }

    return;

lost:

    ngx_log_error(NGX_LOG_WARN, jmcf->log, 0,
                  "backend_jobs_listen: connection lost: %s, polling "
                  "meanwhile",
                  ngx_http_backend_jobs_listen_error(jmcf->pgconn, err,
                                                     sizeof(err)));
    ngx_http_backend_jobs_listen_close(jmcf, 1);
}


void
ngx_http_backend_jobs_listen_close(ngx_http_backend_jobs_main_conf_t *jmcf,
    ngx_uint_t retry)
{
    ngx_http_backend_jobs_listen_unwrap(jmcf);

    if (jmcf->pgconn) {
        PQfinish(jmcf->pgconn);
        jmcf->pgconn = NULL;
    }

    jmcf->listen_state = NGX_HTTP_BACKEND_JOBS_LISTEN_OFF;

    if (retry && !ngx_exiting && !ngx_terminate && !ngx_quit) {
        if (!jmcf->reconnect.timer_set) {
            ngx_add_timer(&jmcf->reconnect, NGX_HTTP_BACKEND_JOBS_RECONNECT);
        }
    }
}


static void
ngx_http_backend_jobs_wake_all(ngx_http_backend_jobs_main_conf_t *jmcf)
{
    ngx_uint_t                     i;
    ngx_http_backend_jobs_task_t  *t;

    t = jmcf->tasks.elts;

    for (i = 0; i < jmcf->tasks.nelts; i++) {
        if (t[i].kind == NGX_HTTP_BACKEND_JOBS_QUEUE) {
            ngx_http_backend_jobs_wake(&t[i]);
        }
    }
}


static void
ngx_http_backend_jobs_listen_notice(void *arg, const char *message)
{
    ngx_http_backend_jobs_main_conf_t *jmcf = arg;

    u_char  buf[NGX_HTTP_BACKEND_JOBS_ERROR_LEN];
    u_char *p, *last;

    last = ngx_cpystrn(buf, (u_char *) message, sizeof(buf));

    for (p = buf; p < last; p++) {
        if (*p == '\n' || *p == '\t') {
            *p = ' ';
        }
    }

    while (last > buf && last[-1] == ' ') {
        *--last = '\0';
    }

    ngx_log_error(NGX_LOG_INFO, jmcf->log, 0,
                  "backend_jobs_listen: server says: %s", buf);
}


/* libpq's message on one line, for the log */

static u_char *
ngx_http_backend_jobs_listen_error(PGconn *conn, u_char *buf, size_t size)
{
    u_char  *p, *last;

    last = ngx_cpystrn(buf, (u_char *) (conn ? PQerrorMessage(conn) : ""),
                       size);

    for (p = buf; p < last; p++) {
        if (*p == '\n' || *p == '\t') {
            *p = ' ';
        }
    }

    while (last > buf && last[-1] == ' ') {
        *--last = '\0';
    }

    for (p = buf; *p == ' '; p++) { /* void */ }

    return (*p == '\0') ? (u_char *) "no message" : p;
}
