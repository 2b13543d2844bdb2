
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <hiredis/async.h>

#include "ngx_http_backend_redis.h"


/*
 * hiredis owns the socket, its buffers and the list of replies owed; we
 * own the events.  The adapter registers the socket level-triggered, as
 * hiredis reads at most 16k per call and must be woken again for the rest.
 *
 * A command's privdata is a malloc'ed token, not the command: a command
 * that was cancelled or timed out leaves its token behind, so the reply
 * that comes late finds nobody to call.  Whenever hiredis frees a context
 * it calls back every reply owed with NULL: that is where the handlers of
 * the pending commands learn of a disconnect, and where tokens are freed.
 *
 * A context we close ourselves is first detached from its link (link->ac
 * no longer points to it): its connect, disconnect and handshake callbacks
 * then leave the link alone, which may already be waiting to reconnect.
 */


#define NGX_HTTP_BACKEND_REDIS_DOWN          0
#define NGX_HTTP_BACKEND_REDIS_CONNECTING    1
#define NGX_HTTP_BACKEND_REDIS_READY         2
#define NGX_HTTP_BACKEND_REDIS_CLOSING       3   /* was ready, hiredis frees */

#define NGX_HTTP_BACKEND_REDIS_MAX_TIMEOUTS  3
#define NGX_HTTP_BACKEND_REDIS_BACKOFF_MIN   100
#define NGX_HTTP_BACKEND_REDIS_BACKOFF_MAX   5000

#define NGX_HTTP_BACKEND_REDIS_WHY_LEN       128

/* handshake steps, as privdata */
#define NGX_HTTP_BACKEND_REDIS_AUTH          ((void *) (uintptr_t) 1)
#define NGX_HTTP_BACKEND_REDIS_SELECT        ((void *) (uintptr_t) 2)
#define NGX_HTTP_BACKEND_REDIS_PING          ((void *) (uintptr_t) 3)


typedef struct {
    ngx_http_backend_redis_t           *redis;
    redisAsyncContext                  *ac;

    ngx_event_t                         reconnect;
    ngx_event_t                         connect_timer;
    ngx_event_t                         heartbeat;    /* subscriber's */
    ngx_msec_t                          backoff;

    ngx_uint_t                          state;
    ngx_uint_t                          timeouts;

    /* the failure last logged, so that backoff rounds stay quiet */
    u_char                              why[NGX_HTTP_BACKEND_REDIS_WHY_LEN];

    unsigned                            subscriber:1;
    unsigned                            up:1;         /* state(UP) told */
    unsigned                            failing:1;    /* a failure logged */
    unsigned                            connected:1;  /* ever */
    unsigned                            pinged:1;     /* not answered yet */
    unsigned                            refused:1;    /* AUTH failed */
} ngx_http_backend_redis_link_t;


typedef struct {
    ngx_http_backend_redis_cmd_t       *cmd;    /* NULL: nobody waits */
    ngx_http_backend_redis_link_t      *link;
    uint64_t                            sent;   /* us, for the metrics */
} ngx_http_backend_redis_token_t;


struct ngx_http_backend_redis_s {
    ngx_http_backend_redis_conf_t      *conf;
    ngx_pool_t                         *pool;
    ngx_log_t                          *log;
    ngx_str_t                           addr;   /* for logs */

    ngx_http_backend_redis_link_t       cmd;
    ngx_http_backend_redis_link_t       sub;

    ngx_str_t                           channel;
    ngx_http_backend_redis_message_pt   message;
    ngx_http_backend_redis_state_pt     state;
    void                               *data;

    unsigned                            destroyed:1;
};


static void ngx_http_backend_redis_link_init(ngx_http_backend_redis_t *redis,
    ngx_http_backend_redis_link_t *link);
static void ngx_http_backend_redis_connect(ngx_http_backend_redis_link_t *link);
static void ngx_http_backend_redis_close(ngx_http_backend_redis_link_t *link,
    const char *why);
static void ngx_http_backend_redis_down(ngx_http_backend_redis_link_t *link,
    const char *why);
static void ngx_http_backend_redis_up(ngx_http_backend_redis_link_t *link);
static void ngx_http_backend_redis_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_backend_redis_disconnected(const redisAsyncContext *ac,
    int status);
static void ngx_http_backend_redis_handshake(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_backend_redis_sub_handler(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_backend_redis_reply(redisAsyncContext *ac, void *reply,
    void *privdata);
static void ngx_http_backend_redis_timeout(ngx_event_t *ev);
static void ngx_http_backend_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_backend_redis_reconnect(ngx_event_t *ev);
static void ngx_http_backend_redis_exiting(redisAsyncContext *ac);
static void ngx_http_backend_redis_heartbeat(ngx_event_t *ev);

static void ngx_http_backend_redis_read_handler(ngx_event_t *ev);
static void ngx_http_backend_redis_write_handler(ngx_event_t *ev);
static void ngx_http_backend_redis_add_read(void *privdata);
static void ngx_http_backend_redis_del_read(void *privdata);
static void ngx_http_backend_redis_add_write(void *privdata);
static void ngx_http_backend_redis_del_write(void *privdata);
static void ngx_http_backend_redis_cleanup(void *privdata);


ngx_int_t
ngx_http_backend_redis_metrics(ngx_conf_t *cf,
    ngx_http_backend_redis_conf_t *conf)
{
    ngx_uint_t                  i;
    ngx_http_backend_family_t  *up, *duration, *timeouts, *reconnects,
                               *messages;

    static char  *roles[] = { "commands", "subscription" };

    up = ngx_http_backend_metrics_family(cf, "backend_redis_up",
             "1 when every worker's connection of the role is up.",
             NGX_HTTP_BACKEND_GAUGE_MIN, "role");
    duration = ngx_http_backend_metrics_duration(cf,
             "backend_redis_command_duration_seconds",
             "From sending a command to its reply.", NULL);
    timeouts = ngx_http_backend_metrics_family(cf,
             "backend_redis_timeouts_total",
             "Commands that got no reply in time.",
             NGX_HTTP_BACKEND_COUNTER, NULL);
    reconnects = ngx_http_backend_metrics_family(cf,
             "backend_redis_reconnects_total",
             "Connections made again after one was lost.",
             NGX_HTTP_BACKEND_COUNTER, "role");
    messages = ngx_http_backend_metrics_family(cf,
             "backend_redis_messages_total",
             "Invalidation messages received on the subscription.",
             NGX_HTTP_BACKEND_COUNTER, NULL);

    if (up == NULL || duration == NULL || timeouts == NULL
        || reconnects == NULL || messages == NULL)
    {
        return NGX_ERROR;
    }

    if (conf == NULL) {
        return NGX_OK;
    }

    for (i = 0; i < 2; i++) {
        conf->up[i] = ngx_http_backend_metrics_series1(cf, up, roles[i]);
        conf->reconnects[i] = ngx_http_backend_metrics_series1(cf, reconnects,
                                                               roles[i]);
        if (conf->up[i] == NULL || conf->reconnects[i] == NULL) {
            return NGX_ERROR;
        }

        /* its 0 is the news */
        conf->up[i]->always = 1;
    }

    conf->command_duration = ngx_http_backend_metrics_series1(cf, duration,
                                                              NULL);
    conf->timeouts = ngx_http_backend_metrics_series1(cf, timeouts, NULL);
    conf->messages = ngx_http_backend_metrics_series1(cf, messages, NULL);

    if (conf->command_duration == NULL || conf->timeouts == NULL
        || conf->messages == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_http_backend_redis_t *
ngx_http_backend_redis_create(ngx_cycle_t *cycle,
    ngx_http_backend_redis_conf_t *conf, ngx_log_t *log)
{
    u_char                    *p;
    size_t                     len;
    ngx_http_backend_redis_t  *redis;

    redis = ngx_pcalloc(cycle->pool, sizeof(ngx_http_backend_redis_t));
    if (redis == NULL) {
        return NULL;
    }

    redis->conf = conf;
    redis->pool = cycle->pool;
    redis->log = log;

    /* "127.0.0.1:6379" or "[::1]:6379" */

    len = conf->host.len + sizeof("[]:65535") - 1;

    redis->addr.data = ngx_pnalloc(cycle->pool, len);
    if (redis->addr.data == NULL) {
        return NULL;
    }

    if (ngx_strlchr(conf->host.data, conf->host.data + conf->host.len, ':')) {
        p = ngx_sprintf(redis->addr.data, "[%V]:%d", &conf->host,
                        (int) conf->port);

    } else {
        p = ngx_sprintf(redis->addr.data, "%V:%d", &conf->host,
                        (int) conf->port);
    }

    redis->addr.len = p - redis->addr.data;

    ngx_http_backend_redis_link_init(redis, &redis->cmd);
    ngx_http_backend_redis_link_init(redis, &redis->sub);

    redis->sub.subscriber = 1;

    ngx_http_backend_redis_connect(&redis->cmd);

    return redis;
}


static void
ngx_http_backend_redis_link_init(ngx_http_backend_redis_t *redis,
    ngx_http_backend_redis_link_t *link)
{
    link->redis = redis;

    /* neither timer may keep an exiting worker alive */

    link->reconnect.handler = ngx_http_backend_redis_reconnect;
    link->reconnect.data = link;
    link->reconnect.log = redis->log;
    link->reconnect.cancelable = 1;

    link->connect_timer.handler = ngx_http_backend_redis_connect_timeout;
    link->connect_timer.data = link;
    link->connect_timer.log = redis->log;
    link->connect_timer.cancelable = 1;

    link->heartbeat.handler = ngx_http_backend_redis_heartbeat;
    link->heartbeat.data = link;
    link->heartbeat.log = redis->log;
    link->heartbeat.cancelable = 1;
}


void
ngx_http_backend_redis_destroy(ngx_http_backend_redis_t *redis)
{
    ngx_uint_t                      i;
    redisAsyncContext              *ac;
    ngx_http_backend_redis_link_t  *link;

    /* the commands pending belong to requests that are going away */

    redis->destroyed = 1;

    for (i = 0; i < 2; i++) {
        link = (i == 0) ? &redis->cmd : &redis->sub;

        if (link->reconnect.timer_set) {
            ngx_del_timer(&link->reconnect);
        }

        if (link->connect_timer.timer_set) {
            ngx_del_timer(&link->connect_timer);
        }

        if (link->heartbeat.timer_set) {
            ngx_del_timer(&link->heartbeat);
        }

        link->state = NGX_HTTP_BACKEND_REDIS_DOWN;

        ac = link->ac;

        if (ac) {
            link->ac = NULL;

            /* frees the tokens and the nginx connection, closes the fd */
            redisAsyncFree(ac);
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
        return NGX_ERROR;
    }

    token->cmd = cmd;
    token->link = &redis->cmd;
    token->sent = ngx_http_backend_metrics_now();

    /* refused only while the context is going away */

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

    /* hiredis reads the reply and drops it */

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
        /* hiredis still holds the token: the reply is dropped there */
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
    if (redis->channel.data || channel->len == 0) {
        return NGX_ERROR;
    }

    /* the caller's string may not live as long as the worker */

    redis->channel.data = ngx_pnalloc(redis->pool, channel->len);
    if (redis->channel.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(redis->channel.data, channel->data, channel->len);
    redis->channel.len = channel->len;

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

    if (link->ac || redis->destroyed
        || ngx_exiting || ngx_terminate || ngx_quit)
    {
        return;
    }

    /* an IP literal: getaddrinfo() parses it, connect() does not wait */

    ac = redisAsyncConnect((const char *) conf->host.data, (int) conf->port);

    if (ac == NULL) {
        ngx_http_backend_redis_down(link, "no memory");
        return;
    }

    if (ac->err) {
        ngx_http_backend_redis_down(link, ac->c.errstr);
        redisAsyncFree(ac);
        return;
    }

    /* a peer that vanishes without a word is noticed within a minute */

    if (redisEnableKeepAlive(&ac->c) != REDIS_OK) {
        ngx_http_backend_redis_down(link, ac->c.errstr);
        redisAsyncFree(ac);
        return;
    }

    c = ngx_get_connection(ac->c.fd, redis->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_http_backend_redis_down(link, "no free connection");
        return;
    }

    c->data = ac;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

    /*
     * Idle for nginx: a graceful shutdown closes it (see read_handler), else
     * a Redis reached through a stream server of this nginx (the TLS hop)
     * would keep that server's session, and so the worker, alive
     */

    c->idle = 1;

    c->read->handler = ngx_http_backend_redis_read_handler;
    c->write->handler = ngx_http_backend_redis_write_handler;
    c->read->log = redis->log;
    c->write->log = redis->log;

    link->ac = ac;
    link->state = NGX_HTTP_BACKEND_REDIS_CONNECTING;
    link->timeouts = 0;

    ac->data = link;

    /* the hooks get the connection: it goes with this context alone */

    ac->ev.data = c;
    ac->ev.addRead = ngx_http_backend_redis_add_read;
    ac->ev.delRead = ngx_http_backend_redis_del_read;
    ac->ev.addWrite = ngx_http_backend_redis_add_write;
    ac->ev.delWrite = ngx_http_backend_redis_del_write;
    ac->ev.cleanup = ngx_http_backend_redis_cleanup;

    /* waits for writability through the hooks: they must be set first */

    redisAsyncSetConnectCallback(ac, ngx_http_backend_redis_connected);
    redisAsyncSetDisconnectCallback(ac, ngx_http_backend_redis_disconnected);

    /* covers the handshake as well */

    ngx_add_timer(&link->connect_timer, conf->connect_timeout);
}


/*
 * Closes a context from outside hiredis (a timer) or from one of its
 * reply callbacks, where redisAsyncFree() only marks it and hiredis frees
 * it once the callback returns.  Never from the connect or disconnect
 * callbacks: those run outside hiredis's guard.
 */

static void
ngx_http_backend_redis_close(ngx_http_backend_redis_link_t *link,
    const char *why)
{
    redisAsyncContext  *ac;

    ac = link->ac;
    link->ac = NULL;

    /* down first: handlers called from the free see the link is not ready */

    ngx_http_backend_redis_down(link, why);

    redisAsyncFree(ac);
}


/* the link has no context (any more): tell, and try again after a while */

static void
ngx_http_backend_redis_down(ngx_http_backend_redis_link_t *link,
    const char *why)
{
    size_t                     len;
    ngx_uint_t                 was, level;
    ngx_http_backend_redis_t  *redis;

    redis = link->redis;

    was = link->state;
    link->state = NGX_HTTP_BACKEND_REDIS_DOWN;
    link->pinged = 0;

    level = link->refused ? NGX_LOG_ERR : NGX_LOG_WARN;
    link->refused = 0;

    if (link->connect_timer.timer_set) {
        ngx_del_timer(&link->connect_timer);
    }

    if (link->heartbeat.timer_set) {
        ngx_del_timer(&link->heartbeat);
    }

    len = ngx_min(ngx_strlen(why), NGX_HTTP_BACKEND_REDIS_WHY_LEN - 1);

    /* the first failure, a lost connection, or a new reason */

    if (was == NGX_HTTP_BACKEND_REDIS_CLOSING) {
        was = NGX_HTTP_BACKEND_REDIS_READY;
    }

    if (!link->failing
        || was == NGX_HTTP_BACKEND_REDIS_READY
        || ngx_strncmp(link->why, why, len) != 0
        || link->why[len] != '\0')
    {
        ngx_log_error(level, redis->log, 0,
                      "redis %V: %s%s: %s, retrying in the background",
                      &redis->addr, link->subscriber ? "subscription: " : "",
                      was == NGX_HTTP_BACKEND_REDIS_READY ? "connection lost"
                                                          : "cannot connect",
                      why);

        ngx_memcpy(link->why, why, len);
        link->why[len] = '\0';
        link->failing = 1;

    } else {
        ngx_log_debug3(NGX_LOG_DEBUG_EVENT, redis->log, 0,
                       "redis %V: %s%s", &redis->addr,
                       link->subscriber ? "subscription: " : "", why);
    }

    ngx_http_backend_metrics_set(redis->conf->up[link->subscriber], 0);

    if (link->up) {
        link->up = 0;

        if (!redis->destroyed && redis->state) {
            redis->state(redis->data, link->subscriber
                                      ? NGX_HTTP_BACKEND_REDIS_SUB
                                      : NGX_HTTP_BACKEND_REDIS_CMD,
                         NGX_HTTP_BACKEND_REDIS_LOST);
        }
    }

    if (redis->destroyed || ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    link->backoff = link->backoff
                    ? ngx_min(link->backoff * 2,
                              NGX_HTTP_BACKEND_REDIS_BACKOFF_MAX)
                    : NGX_HTTP_BACKEND_REDIS_BACKOFF_MIN;

    if (!link->reconnect.timer_set) {
        ngx_add_timer(&link->reconnect, link->backoff);
    }
}


/* the handshake is done (commands) or the subscription confirmed */

static void
ngx_http_backend_redis_up(ngx_http_backend_redis_link_t *link)
{
    ngx_uint_t                 level, state;
    ngx_http_backend_redis_t  *redis;

    redis = link->redis;

    if (link->connect_timer.timer_set) {
        ngx_del_timer(&link->connect_timer);
    }

    link->state = NGX_HTTP_BACKEND_REDIS_READY;
    link->backoff = 0;
    link->timeouts = 0;

    /* a recovery is told as loudly as the failure was */

    level = link->failing ? NGX_LOG_WARN : NGX_LOG_INFO;
    state = link->failing ? NGX_HTTP_BACKEND_REDIS_RECOVERED
                          : NGX_HTTP_BACKEND_REDIS_UP;

    if (link->subscriber) {
        ngx_log_error(level, redis->log, 0,
                      "redis %V: subscribed to \"%V\"%s", &redis->addr,
                      &redis->channel, link->connected ? " again" : "");

    } else {
        ngx_log_error(level, redis->log, 0, "redis %V: %s", &redis->addr,
                      link->connected ? "connected again" : "connected");
    }

    if (link->connected) {
        ngx_http_backend_metrics_add(redis->conf->reconnects[link->subscriber],
                                     1);
    }

    ngx_http_backend_metrics_set(redis->conf->up[link->subscriber], 1);

    link->failing = 0;
    link->why[0] = '\0';
    link->connected = 1;
    link->up = 1;

    if (link->subscriber) {
        link->pinged = 0;
        ngx_add_timer(&link->heartbeat, redis->conf->heartbeat);
    }

    if (redis->state) {
        redis->state(redis->data, link->subscriber
                                  ? NGX_HTTP_BACKEND_REDIS_SUB
                                  : NGX_HTTP_BACKEND_REDIS_CMD,
                     state);
    }
}


static void
ngx_http_backend_redis_connected(const redisAsyncContext *cac, int status)
{
    int                             argc;
    size_t                          len[3];
    u_char                         *p;
    const char                     *argv[3];
    redisAsyncContext              *ac;
    ngx_http_backend_redis_t       *redis;
    ngx_http_backend_redis_link_t  *link;
    u_char                          db[NGX_INT_T_LEN];

    ac = (redisAsyncContext *) cac;
    link = ac->data;

    if (link->ac != ac) {
        return;
    }

    if (status != REDIS_OK) {
        /* hiredis frees the context once this returns */
        link->ac = NULL;
        ngx_http_backend_redis_down(link, ac->c.errstr);
        return;
    }

    redis = link->redis;

    /*
     * Pipelined: AUTH, SELECT, then PING, whose answer says all went well.
     * No free or disconnect here: hiredis goes on with the context after.
     */

    if (redis->conf->password.len) {
        argc = 0;

        argv[argc] = "AUTH";
        len[argc++] = sizeof("AUTH") - 1;

        /* Redis 6's ACL form, what managed services give */

        if (redis->conf->user.len) {
            argv[argc] = (const char *) redis->conf->user.data;
            len[argc++] = redis->conf->user.len;
        }

        argv[argc] = (const char *) redis->conf->password.data;
        len[argc++] = redis->conf->password.len;

        (void) redisAsyncCommandArgv(ac, ngx_http_backend_redis_handshake,
                                     NGX_HTTP_BACKEND_REDIS_AUTH,
                                     argc, argv, len);
    }

    /* a subscription is not bound to a database */

    if (redis->conf->db > 0 && !link->subscriber) {
        p = ngx_sprintf(db, "%i", redis->conf->db);

        argv[0] = "SELECT";
        len[0] = sizeof("SELECT") - 1;
        argv[1] = (const char *) db;
        len[1] = p - db;

        (void) redisAsyncCommandArgv(ac, ngx_http_backend_redis_handshake,
                                     NGX_HTTP_BACKEND_REDIS_SELECT,
                                     2, argv, len);
    }

    argv[0] = "PING";
    len[0] = sizeof("PING") - 1;

    (void) redisAsyncCommandArgv(ac, ngx_http_backend_redis_handshake,
                                 NGX_HTTP_BACKEND_REDIS_PING,
                                 1, argv, len);
}


static void
ngx_http_backend_redis_handshake(redisAsyncContext *ac, void *r,
    void *privdata)
{
    size_t                          len[2];
    u_char                         *p;
    redisReply                     *reply;
    const char                     *argv[2], *what;
    ngx_http_backend_redis_t       *redis;
    ngx_http_backend_redis_link_t  *link;
    u_char                          why[NGX_HTTP_BACKEND_REDIS_WHY_LEN];

    static ngx_str_t  default_user = ngx_string("default");

    reply = r;
    link = ac->data;

    /* NULL: the context is going away, whoever freed it tells */

    if (reply == NULL || link->ac != ac) {
        return;
    }

    redis = link->redis;

    if (reply->type == REDIS_REPLY_ERROR) {
        if (privdata == NGX_HTTP_BACKEND_REDIS_AUTH) {
            /* a wrong user or password does not heal by itself */
            link->refused = 1;

            p = ngx_snprintf(why, NGX_HTTP_BACKEND_REDIS_WHY_LEN - 1,
                             "AUTH as \"%V\" refused: %*s",
                             redis->conf->user.len ? &redis->conf->user
                                                   : &default_user,
                             reply->len, reply->str);

        } else {
            what = (privdata == NGX_HTTP_BACKEND_REDIS_SELECT) ? "SELECT"
                                                              : "PING";

            p = ngx_snprintf(why, NGX_HTTP_BACKEND_REDIS_WHY_LEN - 1,
                             "%s: %*s", what, reply->len, reply->str);
        }

        *p = '\0';

        /* a reply callback: hiredis frees the context after it returns */

        ngx_http_backend_redis_close(link, (const char *) why);
        return;
    }

    if (privdata != NGX_HTTP_BACKEND_REDIS_PING) {
        return;
    }

    if (!link->subscriber) {
        ngx_http_backend_redis_up(link);
        return;
    }

    argv[0] = "SUBSCRIBE";
    len[0] = sizeof("SUBSCRIBE") - 1;
    argv[1] = (const char *) redis->channel.data;
    len[1] = redis->channel.len;

    /* the connect timer runs on until the subscription is confirmed */

    if (redisAsyncCommandArgv(ac, ngx_http_backend_redis_sub_handler, link,
                              2, argv, len)
        != REDIS_OK)
    {
        ngx_http_backend_redis_close(link, "SUBSCRIBE not sent");
    }
}


/* ["subscribe", channel, n] once, then ["message", channel, payload] */

static void
ngx_http_backend_redis_sub_handler(redisAsyncContext *ac, void *r,
    void *privdata)
{
    ngx_str_t                       channel, msg;
    redisReply                     *reply, **e;
    ngx_http_backend_redis_t       *redis;
    ngx_http_backend_redis_link_t  *link;

    reply = r;
    link = privdata;
    redis = link->redis;

    if (reply == NULL || link->ac != ac || redis->destroyed
        || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
    {
        return;
    }

    e = reply->element;

    if (e[0]->type != REDIS_REPLY_STRING) {
        return;
    }

    if (e[0]->len == sizeof("message") - 1
        && ngx_strncmp(e[0]->str, "message", e[0]->len) == 0)
    {
        if (e[1]->type != REDIS_REPLY_STRING
            || e[2]->type != REDIS_REPLY_STRING)
        {
            return;
        }

        channel.data = (u_char *) e[1]->str;
        channel.len = e[1]->len;
        msg.data = (u_char *) e[2]->str;
        msg.len = e[2]->len;

        ngx_http_backend_metrics_add(redis->conf->messages, 1);

        if (redis->message) {
            redis->message(redis->data, &channel, &msg);
        }

        return;
    }

    if (e[0]->len == sizeof("subscribe") - 1
        && ngx_strncmp(e[0]->str, "subscribe", e[0]->len) == 0)
    {
        if (link->state == NGX_HTTP_BACKEND_REDIS_READY) {
            /* a heartbeat's answer */
            link->pinged = 0;
            return;
        }

        ngx_http_backend_redis_up(link);
    }
}


static void
ngx_http_backend_redis_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply                      *reply;
    ngx_http_backend_redis_cmd_t    *cmd;
    ngx_http_backend_redis_link_t   *link;
    ngx_http_backend_redis_token_t  *token;

    reply = r;
    token = privdata;
    cmd = token->cmd;
    link = token->link;

    if (reply) {
        /* late or not, what the server took to answer */
        ngx_http_backend_metrics_observe(link->redis->conf->command_duration,
                                         ngx_http_backend_metrics_now()
                                         - token->sent);
    }

    ngx_free(token);

    if (reply) {
        /* the server answers, if late */
        link->timeouts = 0;

    } else if (link->ac == ac
               && link->state == NGX_HTTP_BACKEND_REDIS_READY)
    {
        /* hiredis is freeing the context: refuse new commands already */
        link->state = NGX_HTTP_BACKEND_REDIS_CLOSING;
    }

    if (cmd == NULL) {
        /* cancelled or timed out: the reply is nobody's */
        return;
    }

    cmd->token = NULL;

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    if (link->redis->destroyed) {
        return;
    }

    if (reply == NULL) {
        cmd->error = "disconnected";
    }

    /* last: the handler may free cmd */

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

    link->timeouts++;

    ngx_http_backend_metrics_add(link->redis->conf->timeouts, 1);

    /*
     * The handler first: closing calls the other pending handlers, and one
     * of them may end the request that owns cmd (a streaming batch whose
     * client is gone), after which cmd is freed memory
     */

    cmd->handler(cmd, NULL);

    /* a server that keeps not answering is as good as gone */

    if (link->timeouts >= NGX_HTTP_BACKEND_REDIS_MAX_TIMEOUTS
        && link->ac && link->state == NGX_HTTP_BACKEND_REDIS_READY
        && !link->redis->destroyed)
    {
        /*
         * redisAsyncDisconnect() would wait for the replies owed: free the
         * context now, the other pending handlers are called meanwhile
         */

        ngx_http_backend_redis_close(link, "commands time out");
    }
}


static void
ngx_http_backend_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_http_backend_redis_link_t  *link;

    link = ev->data;

    if (link->ac == NULL) {
        return;
    }

    ngx_http_backend_redis_close(link, "timed out");
}


static void
ngx_http_backend_redis_disconnected(const redisAsyncContext *ac, int status)
{
    ngx_http_backend_redis_link_t  *link;

    link = ac->data;

    /* closed by us: the link was told then */

    if (link->ac != ac) {
        return;
    }

    /* hiredis frees the context once this returns */

    link->ac = NULL;

    ngx_http_backend_redis_down(link, (status == REDIS_OK || ac->c.err == 0)
                                      ? "connection closed" : ac->c.errstr);
}


/*
 * A graceful shutdown (a reload, nginx -s quit): the commands pending are
 * told "disconnected" and their requests go on without Redis, as in an
 * outage; invalidations not taken stay pending in the zone for the other
 * workers.  Not a loss of the subscription: the zone is not flushed, the
 * node's other workers still listen.
 */

static void
ngx_http_backend_redis_exiting(redisAsyncContext *ac)
{
    ngx_http_backend_redis_t       *redis;
    ngx_http_backend_redis_link_t  *link;

    link = ac->data;
    redis = link->redis;

    /* a context detached already is being freed by hiredis */

    if (link->ac != ac || redis->destroyed) {
        return;
    }

    link->ac = NULL;
    link->state = NGX_HTTP_BACKEND_REDIS_DOWN;
    link->up = 0;

    if (link->connect_timer.timer_set) {
        ngx_del_timer(&link->connect_timer);
    }

    if (link->heartbeat.timer_set) {
        ngx_del_timer(&link->heartbeat);
    }

    if (link->reconnect.timer_set) {
        ngx_del_timer(&link->reconnect);
    }

    ngx_log_error(NGX_LOG_INFO, redis->log, 0,
                  "redis %V: %sclosed, the worker is shutting down",
                  &redis->addr, link->subscriber ? "subscription " : "");

    /* outside hiredis's callbacks: frees the context and the connection */

    redisAsyncFree(ac);
}


static void
ngx_http_backend_redis_reconnect(ngx_event_t *ev)
{
    ngx_http_backend_redis_connect(ev->data);
}


/*
 * hiredis 0.14 routes a subscribed context's replies by channel, so a PING
 * would reach no callback: SUBSCRIBE to the same channel again is the ping
 * (no effect on the server), its confirmation comes to sub_handler
 */

static void
ngx_http_backend_redis_heartbeat(ngx_event_t *ev)
{
    size_t                          len[2];
    const char                     *argv[2];
    ngx_http_backend_redis_t       *redis;
    ngx_http_backend_redis_link_t  *link;

    link = ev->data;
    redis = link->redis;

    if (link->ac == NULL || link->state != NGX_HTTP_BACKEND_REDIS_READY
        || redis->destroyed)
    {
        return;
    }

    if (link->pinged) {
        ngx_http_backend_redis_close(link, "heartbeat not answered");
        return;
    }

    argv[0] = "SUBSCRIBE";
    len[0] = sizeof("SUBSCRIBE") - 1;
    argv[1] = (const char *) redis->channel.data;
    len[1] = redis->channel.len;

    if (redisAsyncCommandArgv(link->ac, ngx_http_backend_redis_sub_handler,
                              link, 2, argv, len)
        != REDIS_OK)
    {
        ngx_http_backend_redis_close(link, "heartbeat not sent");
        return;
    }

    link->pinged = 1;

    ngx_add_timer(&link->heartbeat, redis->conf->heartbeat);
}


/* the adapter: the hooks' privdata is the nginx connection */

static void
ngx_http_backend_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c;

    c = ev->data;

    if (c->close) {
        /* ngx_close_idle_connections(): the worker is shutting down */
        ngx_http_backend_redis_exiting(c->data);
        return;
    }

    /* may free the context and, through the cleanup hook, c itself */

    redisAsyncHandleRead(c->data);
}


static void
ngx_http_backend_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c;

    c = ev->data;

    redisAsyncHandleWrite(c->data);
}


/*
 * Level-triggered (NGX_LEVEL_EVENT is 0 for epoll, no EPOLLET): hiredis
 * does one read() per call, so what it leaves in the socket must wake it
 * again.  The hooks are called again and again: they must be idempotent.
 */

static void
ngx_http_backend_redis_add_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->read->active) {
        (void) ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_http_backend_redis_del_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_backend_redis_add_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->write->active) {
        (void) ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_http_backend_redis_del_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


/* hiredis closes the socket after this: the events go, the fd stays */

static void
ngx_http_backend_redis_cleanup(void *privdata)
{
    ngx_connection_t  *c = privdata;

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

    ngx_free_connection(c);

    /* events of this connection already reported are now seen as stale */

    c->fd = (ngx_socket_t) -1;
}
