
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <hiredis/async.h>

#include "ngx_http_backend_redis.h"


/*
 * hiredis owns the socket and its buffers; we own the events.  The
 * adapter registers the socket with nginx's event module level-triggered
 * (nothing is lost if hiredis does not read everything at once), and a
 * reply is matched to its command through a token that hiredis keeps as
 * privdata: a command that was cancelled or timed out leaves its token
 * behind, so a late reply finds nobody to call.
 */


#define NGX_HTTP_BACKEND_REDIS_DOWN        0
#define NGX_HTTP_BACKEND_REDIS_CONNECTING  1
#define NGX_HTTP_BACKEND_REDIS_READY       2

#define NGX_HTTP_BACKEND_REDIS_MAX_TIMEOUTS  3


typedef struct {
    ngx_http_backend_redis_t           *redis;
    redisAsyncContext                  *ac;
    ngx_connection_t                   *conn;

    ngx_event_t                         reconnect;
    ngx_event_t                         connect_timer;
    ngx_msec_t                          backoff;

    ngx_uint_t                          state;
    ngx_uint_t                          timeouts;

    unsigned                            subscriber:1;
    unsigned                            failed_logged:1;
} ngx_http_backend_redis_link_t;


typedef struct {
    ngx_http_backend_redis_cmd_t       *cmd;    /* NULL: nobody waits */
    ngx_http_backend_redis_link_t      *link;
} ngx_http_backend_redis_token_t;


struct ngx_http_backend_redis_s {
    ngx_http_backend_redis_conf_t      *conf;
    ngx_log_t                          *log;

    ngx_http_backend_redis_link_t       cmd;
    ngx_http_backend_redis_link_t       sub;

    ngx_str_t                           channel;
    ngx_http_backend_redis_message_pt   message;
    ngx_http_backend_redis_state_pt     state;
    void                               *data;

    unsigned                            destroyed:1;
};


static void ngx_http_backend_redis_connect(ngx_http_backend_redis_link_t *link);
static void ngx_http_backend_redis_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_backend_redis_disconnected(const redisAsyncContext *ac,
    int status);
static void ngx_http_backend_redis_setup_handler(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_backend_redis_sub_handler(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_backend_redis_reply(redisAsyncContext *ac, void *reply,
    void *privdata);
static void ngx_http_backend_redis_timeout(ngx_event_t *ev);
static void ngx_http_backend_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_backend_redis_reconnect_handler(ngx_event_t *ev);
static void ngx_http_backend_redis_lost(ngx_http_backend_redis_link_t *link,
    const char *why);

static void ngx_http_backend_redis_read_handler(ngx_event_t *ev);
static void ngx_http_backend_redis_write_handler(ngx_event_t *ev);
static void ngx_http_backend_redis_add_read(void *privdata);
static void ngx_http_backend_redis_del_read(void *privdata);
static void ngx_http_backend_redis_add_write(void *privdata);
static void ngx_http_backend_redis_del_write(void *privdata);
static void ngx_http_backend_redis_cleanup(void *privdata);


ngx_http_backend_redis_t *
ngx_http_backend_redis_create(ngx_cycle_t *cycle,
    ngx_http_backend_redis_conf_t *conf, ngx_log_t *log)
{
    ngx_http_backend_redis_t  *redis;

    redis = ngx_pcalloc(cycle->pool, sizeof(ngx_http_backend_redis_t));
    if (redis == NULL) {
        return NULL;
    }

    redis->conf = conf;
    redis->log = log;

    redis->cmd.redis = redis;
    redis->sub.redis = redis;
    redis->sub.subscriber = 1;

    ngx_http_backend_redis_connect(&redis->cmd);

    return redis;
}


void
ngx_http_backend_redis_destroy(ngx_http_backend_redis_t *redis)
{
    ngx_http_backend_redis_link_t  *link[2];
    ngx_uint_t                      i;

    /* pending commands belong to requests that are gone: no callbacks */
    redis->destroyed = 1;

    link[0] = &redis->cmd;
    link[1] = &redis->sub;

    for (i = 0; i < 2; i++) {
        if (link[i]->reconnect.timer_set) {
            ngx_del_timer(&link[i]->reconnect);
        }

        if (link[i]->connect_timer.timer_set) {
            ngx_del_timer(&link[i]->connect_timer);
        }

        if (link[i]->ac) {
            redisAsyncFree(link[i]->ac);
            link[i]->ac = NULL;
        }
    }
}


ngx_uint_t
ngx_http_backend_redis_ready(ngx_http_backend_redis_t *redis)
{
    return redis->cmd.state == NGX_HTTP_BACKEND_REDIS_READY;
}


ngx_int_t
ngx_http_backend_redis_send(ngx_http_backend_redis_t *redis,
    ngx_http_backend_redis_cmd_t *cmd, int argc, const char **argv,
    const size_t *argvlen)
{
    ngx_http_backend_redis_token_t  *token;

    if (redis->cmd.state != NGX_HTTP_BACKEND_REDIS_READY) {
        return NGX_DECLINED;
    }

    token = ngx_alloc(sizeof(ngx_http_backend_redis_token_t), redis->log);
    if (token == NULL) {
        return NGX_DECLINED;
    }

    token->cmd = cmd;
    token->link = &redis->cmd;

    if (redisAsyncCommandArgv(redis->cmd.ac, ngx_http_backend_redis_reply,
                              token, argc, argv, argvlen)
        != REDIS_OK)
    {
        ngx_free(token);
        return NGX_DECLINED;
    }

    cmd->token = token;
    cmd->error = NULL;

    ngx_memzero(&cmd->timer, sizeof(ngx_event_t));

    cmd->timer.handler = ngx_http_backend_redis_timeout;
    cmd->timer.data = cmd;
    cmd->timer.log = redis->log;

    ngx_add_timer(&cmd->timer, redis->conf->timeout);

    return NGX_OK;
}


ngx_int_t
ngx_http_backend_redis_send_noreply(ngx_http_backend_redis_t *redis,
    int argc, const char **argv, const size_t *argvlen)
{
    if (redis->cmd.state != NGX_HTTP_BACKEND_REDIS_READY) {
        return NGX_DECLINED;
    }

    if (redisAsyncCommandArgv(redis->cmd.ac, NULL, NULL, argc, argv, argvlen)
        != REDIS_OK)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


void
ngx_http_backend_redis_cancel(ngx_http_backend_redis_cmd_t *cmd)
{
    ngx_http_backend_redis_token_t  *token;

    token = cmd->token;

    if (token) {
        token->cmd = NULL;
        cmd->token = NULL;
    }

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }
}


ngx_int_t
ngx_http_backend_redis_subscribe(ngx_http_backend_redis_t *redis,
    ngx_str_t *channel, ngx_http_backend_redis_message_pt message,
    ngx_http_backend_redis_state_pt state, void *data)
{
    redis->channel = *channel;
    redis->message = message;
    redis->state = state;
    redis->data = data;

    ngx_http_backend_redis_connect(&redis->sub);

    return NGX_OK;
}


static void
ngx_http_backend_redis_connect(ngx_http_backend_redis_link_t *link)
{
    ngx_connection_t               *c;
    redisAsyncContext              *ac;
    ngx_http_backend_redis_t       *redis;
    ngx_http_backend_redis_conf_t  *conf;

    redis = link->redis;
    conf = redis->conf;

    if (ngx_exiting || ngx_terminate || ngx_quit || redis->destroyed) {
        return;
    }

    /* a non-blocking connect to an address resolved at configuration */

    ac = redisAsyncConnect((char *) conf->host.data, conf->port);

    if (ac == NULL) {
        ngx_http_backend_redis_lost(link, "no memory");
        return;
    }

    if (ac->err) {
        ngx_http_backend_redis_lost(link, ac->errstr);
        redisAsyncFree(ac);
        return;
    }

    c = ngx_get_connection(ac->c.fd, redis->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_http_backend_redis_lost(link, "no free connection");
        return;
    }

    c->data = link;
    c->read->handler = ngx_http_backend_redis_read_handler;
    c->write->handler = ngx_http_backend_redis_write_handler;
    c->read->log = redis->log;
    c->write->log = redis->log;

    link->ac = ac;
    link->conn = c;
    link->state = NGX_HTTP_BACKEND_REDIS_CONNECTING;
    link->timeouts = 0;

    ac->data = link;
    ac->ev.data = link;
    ac->ev.addRead = ngx_http_backend_redis_add_read;
    ac->ev.delRead = ngx_http_backend_redis_del_read;
    ac->ev.addWrite = ngx_http_backend_redis_add_write;
    ac->ev.delWrite = ngx_http_backend_redis_del_write;
    ac->ev.cleanup = ngx_http_backend_redis_cleanup;

    /* the connect callback waits for writability: after the hooks */

    redisAsyncSetConnectCallback(ac, ngx_http_backend_redis_connected);
    redisAsyncSetDisconnectCallback(ac, ngx_http_backend_redis_disconnected);

    link->connect_timer.handler = ngx_http_backend_redis_connect_timeout;
    link->connect_timer.data = link;
    link->connect_timer.log = redis->log;
    link->connect_timer.cancelable = 1;

    ngx_add_timer(&link->connect_timer, conf->connect_timeout);
}


static void
ngx_http_backend_redis_connected(const redisAsyncContext *cac, int status)
{
    size_t                          len[2];
    const char                     *argv[2];
    redisAsyncContext              *ac;
    ngx_http_backend_redis_t       *redis;
    ngx_http_backend_redis_link_t  *link;
    u_char                          db[NGX_INT_T_LEN];

    ac = (redisAsyncContext *) cac;
    link = ac->data;
    redis = link->redis;

    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback */
        link->ac = NULL;
        ngx_http_backend_redis_lost(link, ac->errstr);
        return;
    }

    /* AUTH and SELECT first; the link is ready once PING answers */

    if (redis->conf->password.len) {
        argv[0] = "AUTH";
        len[0] = 4;
        argv[1] = (const char *) redis->conf->password.data;
        len[1] = redis->conf->password.len;

        (void) redisAsyncCommandArgv(ac, ngx_http_backend_redis_setup_handler,
                                     NULL, 2, argv, len);
    }

    if (redis->conf->db > 0 && !link->subscriber) {
        argv[0] = "SELECT";
        len[0] = 6;
        argv[1] = (const char *) db;
        len[1] = ngx_sprintf(db, "%i", redis->conf->db) - db;

        (void) redisAsyncCommandArgv(ac, ngx_http_backend_redis_setup_handler,
                                     NULL, 2, argv, len);
    }

    argv[0] = "PING";
    len[0] = 4;

    (void) redisAsyncCommandArgv(ac, ngx_http_backend_redis_setup_handler,
                                 link, 1, argv, len);
}


/* AUTH, SELECT (privdata NULL), then PING (privdata: the link) */

static void
ngx_http_backend_redis_setup_handler(redisAsyncContext *ac, void *r,
    void *privdata)
{
    size_t                          len[2];
    ngx_uint_t                      level;
    redisReply                     *reply;
    const char                     *argv[2];
    ngx_http_backend_redis_t       *redis;
    ngx_http_backend_redis_link_t  *link;

    reply = r;
    link = ac->data;
    redis = link->redis;

    if (reply == NULL) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                      "redis %s:%d: %s", redis->conf->host.data,
                      (int) redis->conf->port, reply->str);
        redisAsyncDisconnect(ac);
        return;
    }

    if (privdata == NULL) {
        return;
    }

    if (link->connect_timer.timer_set) {
        ngx_del_timer(&link->connect_timer);
    }

    if (link->subscriber) {
        argv[0] = "SUBSCRIBE";
        len[0] = 9;
        argv[1] = (const char *) redis->channel.data;
        len[1] = redis->channel.len;

        (void) redisAsyncCommandArgv(ac, ngx_http_backend_redis_sub_handler,
                                     link, 2, argv, len);
        return;
    }

    link->state = NGX_HTTP_BACKEND_REDIS_READY;
    link->backoff = 0;

    level = link->failed_logged ? NGX_LOG_WARN : NGX_LOG_INFO;

    ngx_log_error(level, redis->log, 0, "redis %s:%d: connected",
                  redis->conf->host.data, (int) redis->conf->port);

    link->failed_logged = 0;
}


/* ["subscribe", channel, n] once, then ["message", channel, payload] */

static void
ngx_http_backend_redis_sub_handler(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply                     *reply, **e;
    ngx_str_t                       channel, msg;
    ngx_uint_t                      level;
    ngx_http_backend_redis_t       *redis;
    ngx_http_backend_redis_link_t  *link;

    reply = r;
    link = privdata;
    redis = link->redis;

    if (reply == NULL || redis->destroyed
        || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
    {
        return;
    }

    e = reply->element;

    if (e[0]->type != REDIS_REPLY_STRING) {
        return;
    }

    if (ngx_strcmp(e[0]->str, "subscribe") == 0) {
        link->state = NGX_HTTP_BACKEND_REDIS_READY;
        link->backoff = 0;

        level = link->failed_logged ? NGX_LOG_WARN : NGX_LOG_INFO;

        ngx_log_error(level, redis->log, 0,
                      "redis %s:%d: subscribed to \"%V\"",
                      redis->conf->host.data, (int) redis->conf->port,
                      &redis->channel);

        link->failed_logged = 0;

        redis->state(redis->data, 1);
        return;
    }

    if (ngx_strcmp(e[0]->str, "message") == 0
        && e[1]->type == REDIS_REPLY_STRING
        && e[2]->type == REDIS_REPLY_STRING)
    {
        channel.data = (u_char *) e[1]->str;
        channel.len = e[1]->len;
        msg.data = (u_char *) e[2]->str;
        msg.len = e[2]->len;

        redis->message(redis->data, &channel, &msg);
    }
}


static void
ngx_http_backend_redis_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply                      *reply;
    ngx_http_backend_redis_cmd_t    *cmd;
    ngx_http_backend_redis_token_t  *token;

    reply = r;
    token = privdata;
    cmd = token->cmd;

    if (reply) {
        token->link->timeouts = 0;
    }

    ngx_free(token);

    if (cmd == NULL || cmd->token == NULL) {
        /* cancelled or timed out: the reply is nobody's */
        return;
    }

    cmd->token = NULL;

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    if (reply == NULL) {
        cmd->error = (ac->err && ac->errstr[0]) ? "connection error"
                                                : "disconnected";
    }

    cmd->handler(cmd, reply);
}


static void
ngx_http_backend_redis_timeout(ngx_event_t *ev)
{
    ngx_http_backend_redis_cmd_t    *cmd;
    ngx_http_backend_redis_link_t   *link;
    ngx_http_backend_redis_token_t  *token;

    cmd = ev->data;
    token = cmd->token;

    if (token == NULL) {
        return;
    }

    link = token->link;

    token->cmd = NULL;
    cmd->token = NULL;
    cmd->error = "timeout";

    /* a server that keeps not answering is as good as gone */

    if (++link->timeouts >= NGX_HTTP_BACKEND_REDIS_MAX_TIMEOUTS
        && link->ac && link->state == NGX_HTTP_BACKEND_REDIS_READY)
    {
        ngx_log_error(NGX_LOG_WARN, link->redis->log, 0,
                      "redis %s:%d: %ui commands timed out, reconnecting",
                      link->redis->conf->host.data,
                      (int) link->redis->conf->port, link->timeouts);

        /*
         * redisAsyncDisconnect() would wait for the replies it is owed:
         * free the context now, the pending callbacks fire with NULL
         */

        redisAsyncFree(link->ac);
    }

    cmd->handler(cmd, NULL);
}


static void
ngx_http_backend_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_uint_t                      level;
    ngx_http_backend_redis_link_t  *link;

    link = ev->data;

    if (link->ac == NULL) {
        return;
    }

    level = link->failed_logged ? NGX_LOG_INFO : NGX_LOG_WARN;

    ngx_log_error(level, link->redis->log, 0,
                  "redis %s:%d: connect timed out",
                  link->redis->conf->host.data,
                  (int) link->redis->conf->port);

    link->failed_logged = 1;

    /* the disconnect callback is not called for a connection never made */

    redisAsyncFree(link->ac);
    link->ac = NULL;

    ngx_http_backend_redis_lost(link, NULL);
}


static void
ngx_http_backend_redis_disconnected(const redisAsyncContext *ac, int status)
{
    ngx_http_backend_redis_link_t  *link;

    link = ac->data;
    link->ac = NULL;

    ngx_http_backend_redis_lost(link, status == REDIS_OK ? "closed"
                                                         : ac->errstr);
}


/* the link is down: tell, and try again after a while */

static void
ngx_http_backend_redis_lost(ngx_http_backend_redis_link_t *link,
    const char *why)
{
    ngx_uint_t                 was;
    ngx_http_backend_redis_t  *redis;

    redis = link->redis;

    was = link->state;
    link->state = NGX_HTTP_BACKEND_REDIS_DOWN;

    if (link->connect_timer.timer_set) {
        ngx_del_timer(&link->connect_timer);
    }

    if (why && !link->failed_logged) {
        ngx_log_error(NGX_LOG_WARN, redis->log, 0,
                      "redis %s:%d: %s%s, retrying in the background",
                      redis->conf->host.data, (int) redis->conf->port,
                      link->subscriber ? "subscription: " : "", why);
        link->failed_logged = 1;
    }

    if (link->subscriber && was == NGX_HTTP_BACKEND_REDIS_READY
        && !redis->destroyed)
    {
        redis->state(redis->data, 0);
    }

    if (redis->destroyed || ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    link->backoff = link->backoff ? ngx_min(link->backoff * 2, 5000) : 100;

    link->reconnect.handler = ngx_http_backend_redis_reconnect_handler;
    link->reconnect.data = link;
    link->reconnect.log = redis->log;
    link->reconnect.cancelable = 1;

    if (!link->reconnect.timer_set) {
        ngx_add_timer(&link->reconnect, link->backoff);
    }
}


static void
ngx_http_backend_redis_reconnect_handler(ngx_event_t *ev)
{
    ngx_http_backend_redis_link_t  *link;

    link = ev->data;

    if (link->ac == NULL) {
        ngx_http_backend_redis_connect(link);
    }
}


static void
ngx_http_backend_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t               *c;
    ngx_http_backend_redis_link_t  *link;

    c = ev->data;
    link = c->data;

    /* may free the context and, through cleanup, c itself */
    redisAsyncHandleRead(link->ac);
}


static void
ngx_http_backend_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t               *c;
    ngx_http_backend_redis_link_t  *link;

    c = ev->data;
    link = c->data;

    redisAsyncHandleWrite(link->ac);
}


static void
ngx_http_backend_redis_add_read(void *privdata)
{
    ngx_http_backend_redis_link_t  *link = privdata;

    if (link->conn && !link->conn->read->active) {
        (void) ngx_add_event(link->conn->read, NGX_READ_EVENT,
                             NGX_LEVEL_EVENT);
    }
}


static void
ngx_http_backend_redis_del_read(void *privdata)
{
    ngx_http_backend_redis_link_t  *link = privdata;

    if (link->conn && link->conn->read->active) {
        (void) ngx_del_event(link->conn->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_backend_redis_add_write(void *privdata)
{
    ngx_http_backend_redis_link_t  *link = privdata;

    if (link->conn && !link->conn->write->active) {
        (void) ngx_add_event(link->conn->write, NGX_WRITE_EVENT,
                             NGX_LEVEL_EVENT);
    }
}


static void
ngx_http_backend_redis_del_write(void *privdata)
{
    ngx_http_backend_redis_link_t  *link = privdata;

    if (link->conn && link->conn->write->active) {
        (void) ngx_del_event(link->conn->write, NGX_WRITE_EVENT, 0);
    }
}


/* hiredis closes the socket after this: the events go, the fd stays */

static void
ngx_http_backend_redis_cleanup(void *privdata)
{
    ngx_connection_t               *c;
    ngx_http_backend_redis_link_t  *link = privdata;

    c = link->conn;

    if (c == NULL) {
        return;
    }

    link->conn = NULL;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }

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

    c->fd = (ngx_socket_t) -1;

    ngx_free_connection(c);
}
