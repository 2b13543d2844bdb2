
/*
 * Copyright (C) ngx_backend authors
 */


#ifndef _NGX_HTTP_BACKEND_REDIS_H_INCLUDED_
#define _NGX_HTTP_BACKEND_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>
#include <hiredis/hiredis.h>

#include "ngx_http_backend_metrics.h"


/*
 * A worker's Redis client: hiredis's asynchronous API driven by nginx
 * events through an adapter of ours, one connection for commands and one
 * for a subscription, both reconnected with backoff (100 ms doubling to
 * 5 s).  Nothing blocks: the address is an IP literal, commands time out.
 */


typedef struct ngx_http_backend_redis_s      ngx_http_backend_redis_t;
typedef struct ngx_http_backend_redis_cmd_s  ngx_http_backend_redis_cmd_t;

/* reply == NULL: cmd->error says why ("timeout", "disconnected") */
typedef void (*ngx_http_backend_redis_handler_pt)(
    ngx_http_backend_redis_cmd_t *cmd, redisReply *reply);
/* a message on the subscribed channel */
typedef void (*ngx_http_backend_redis_message_pt)(void *data,
    ngx_str_t *channel, ngx_str_t *msg);
/*
 * A link (NGX_HTTP_BACKEND_REDIS_CMD: commands, ..._SUB: the subscription)
 * is lost (NGX_HTTP_BACKEND_REDIS_LOST), up (..._UP), or up again after a
 * failure (..._RECOVERED: it could not reach Redis for a while, whatever
 * was published or sent meanwhile may be missed)
 */
typedef void (*ngx_http_backend_redis_state_pt)(void *data, ngx_uint_t link,
    ngx_uint_t state);

#define NGX_HTTP_BACKEND_REDIS_CMD        0
#define NGX_HTTP_BACKEND_REDIS_SUB        1

#define NGX_HTTP_BACKEND_REDIS_LOST       0
#define NGX_HTTP_BACKEND_REDIS_UP         1
#define NGX_HTTP_BACKEND_REDIS_RECOVERED  2


typedef struct {
    ngx_str_t                           host;       /* IP literal, null-
                                                       terminated */
    in_port_t                           port;
    ngx_str_t                           user;       /* ACL user, or
                                                       empty: "default" */
    ngx_str_t                           password;   /* empty: no AUTH */
    ngx_int_t                           db;         /* SELECT when > 0 */
    ngx_msec_t                          connect_timeout;
    ngx_msec_t                          timeout;    /* per command, > 0 */
    ngx_msec_t                          heartbeat;  /* subscription, > 0 */

    /* metrics, from ngx_http_backend_redis_metrics() */
    ngx_http_backend_series_t          *up[2];      /* by link */
    ngx_http_backend_series_t          *reconnects[2];
    ngx_http_backend_series_t          *command_duration;
    ngx_http_backend_series_t          *timeouts;
    ngx_http_backend_series_t          *messages;
} ngx_http_backend_redis_conf_t;


struct ngx_http_backend_redis_cmd_s {
    ngx_http_backend_redis_handler_pt   handler;
    void                               *data;
    const char                         *error;      /* static */

    /* private */
    void                               *token;
    ngx_event_t                         timer;
};


/*
 * At configuration time (init_main_conf, after every directive): declares
 * the Redis families, and conf's series if conf is not NULL
 */
ngx_int_t ngx_http_backend_redis_metrics(ngx_conf_t *cf,
    ngx_http_backend_redis_conf_t *conf);
/* in init_process: starts connecting at once */
ngx_http_backend_redis_t *ngx_http_backend_redis_create(ngx_cycle_t *cycle,
    ngx_http_backend_redis_conf_t *conf, ngx_log_t *log);
/* in exit_process: closes both connections, calls no handler */
void ngx_http_backend_redis_destroy(ngx_http_backend_redis_t *redis);
/* connected, AUTH and SELECT done */
ngx_uint_t ngx_http_backend_redis_ready(ngx_http_backend_redis_t *redis);

/*
 * argv is copied.  NGX_OK: cmd->handler is called exactly once, later,
 * from an event (reply, error reply, timeout or disconnect), unless
 * ngx_http_backend_redis_cancel() comes first; the cmd must stay in memory
 * until then and must not be sent again meanwhile.  NGX_DECLINED: not
 * connected now; NGX_ERROR: no memory; no callback in either case.
 */
ngx_int_t ngx_http_backend_redis_send(ngx_http_backend_redis_t *redis,
    ngx_http_backend_redis_cmd_t *cmd, int argc, const char **argv,
    const size_t *argvlen);
/* for a cmd that send() took; harmless once its handler ran */
void ngx_http_backend_redis_cancel(ngx_http_backend_redis_cmd_t *cmd);
/* fire and forget */
ngx_int_t ngx_http_backend_redis_send_noreply(ngx_http_backend_redis_t *redis,
    int argc, const char **argv, const size_t *argvlen);

/*
 * Once, after create: a second connection in SUBSCRIBE mode on channel.
 * state is called for both links.  The subscription is pinged every
 * heartbeat (SUBSCRIBE to the same channel again, whose confirmation comes
 * back on it): a ping still unanswered at the next one drops it, so a
 * Redis that hangs without closing the socket is noticed within two
 * heartbeats.
 */
ngx_int_t ngx_http_backend_redis_subscribe(ngx_http_backend_redis_t *redis,
    ngx_str_t *channel, ngx_http_backend_redis_message_pt message,
    ngx_http_backend_redis_state_pt state, void *data);


#endif /* _NGX_HTTP_BACKEND_REDIS_H_INCLUDED_ */
