
/*
 * Copyright (C) ngx_backend authors
 */


#ifndef _NGX_HTTP_BACKEND_REDIS_H_INCLUDED_
#define _NGX_HTTP_BACKEND_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <hiredis/hiredis.h>


/*
 * A worker's Redis client: hiredis's asynchronous API driven by nginx
 * events through an adapter of ours, one connection for commands and one
 * for a subscription, both reconnected with backoff.  Commands time out.
 */


typedef struct ngx_http_backend_redis_s      ngx_http_backend_redis_t;
typedef struct ngx_http_backend_redis_cmd_s  ngx_http_backend_redis_cmd_t;

/* reply == NULL: cmd->error says why (timeout, disconnected) */
typedef void (*ngx_http_backend_redis_handler_pt)(
    ngx_http_backend_redis_cmd_t *cmd, redisReply *reply);
typedef void (*ngx_http_backend_redis_message_pt)(void *data,
    ngx_str_t *channel, ngx_str_t *msg);
/* the subscription is (re)established (up) or lost */
typedef void (*ngx_http_backend_redis_state_pt)(void *data, ngx_uint_t up);


typedef struct {
    ngx_str_t                           host;       /* null-terminated */
    in_port_t                           port;
    ngx_str_t                           password;   /* empty: no AUTH */
    ngx_int_t                           db;
    ngx_msec_t                          connect_timeout;
    ngx_msec_t                          timeout;
} ngx_http_backend_redis_conf_t;


struct ngx_http_backend_redis_cmd_s {
    ngx_http_backend_redis_handler_pt   handler;
    void                               *data;
    const char                         *error;

    /* private */
    void                               *token;
    ngx_event_t                         timer;
};


ngx_http_backend_redis_t *ngx_http_backend_redis_create(ngx_cycle_t *cycle,
    ngx_http_backend_redis_conf_t *conf, ngx_log_t *log);
void ngx_http_backend_redis_destroy(ngx_http_backend_redis_t *redis);
ngx_uint_t ngx_http_backend_redis_ready(ngx_http_backend_redis_t *redis);

/*
 * NGX_OK: cmd->handler is called once, later, unless cancelled first;
 * NGX_DECLINED: not connected, no callback.  argv is copied.
 */
ngx_int_t ngx_http_backend_redis_send(ngx_http_backend_redis_t *redis,
    ngx_http_backend_redis_cmd_t *cmd, int argc, const char **argv,
    const size_t *argvlen);
ngx_int_t ngx_http_backend_redis_send_noreply(ngx_http_backend_redis_t *redis,
    int argc, const char **argv, const size_t *argvlen);
void ngx_http_backend_redis_cancel(ngx_http_backend_redis_cmd_t *cmd);

ngx_int_t ngx_http_backend_redis_subscribe(ngx_http_backend_redis_t *redis,
    ngx_str_t *channel, ngx_http_backend_redis_message_pt message,
    ngx_http_backend_redis_state_pt state, void *data);


#endif /* _NGX_HTTP_BACKEND_REDIS_H_INCLUDED_ */
