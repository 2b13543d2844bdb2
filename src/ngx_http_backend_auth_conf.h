
/*
 * Copyright (C) ngx_backend authors
 */


#ifndef _NGX_HTTP_BACKEND_AUTH_CONF_H_INCLUDED_
#define _NGX_HTTP_BACKEND_AUTH_CONF_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/evp.h>

#include "ngx_http_backend.h"
#include "ngx_http_backend_cache.h"
#include "ngx_http_backend_jwt.h"
#include "ngx_http_backend_metrics.h"
#include "ngx_http_backend_redis.h"


/*
 * The auth module's main configuration, shared by its five units:
 * ngx_http_backend_auth.c (directives, the access phase, tiers),
 * ngx_http_backend_auth_context.c (the context of a verified token: the
 * session zone, Redis, the user statement),
 * ngx_http_backend_auth_jwks.c (the keys of backend_auth_jwks_url, fetched
 * by a subrequest), ngx_http_backend_invalidate.c (invalidations on their
 * way to Redis, Redis's channel and the states of its links) and
 * ngx_http_backend_auth_metrics.c (the module's metric families).  Not for
 * other modules.
 */


/* ngx_http_backend_auth_ctx_t's jwks: the request's JWKS fetch state */

#define NGX_HTTP_BACKEND_JWKS_NONE      0
#define NGX_HTTP_BACKEND_JWKS_FETCHING  1
#define NGX_HTTP_BACKEND_JWKS_FETCHED   2
#define NGX_HTTP_BACKEND_JWKS_POLLING   3


/* backend_auth_tokens_total's outcomes, in docs/metrics.md's order */

#define NGX_HTTP_BACKEND_TOKEN_VALID          0
#define NGX_HTTP_BACKEND_TOKEN_EXPIRED        1
#define NGX_HTTP_BACKEND_TOKEN_NOT_YET_VALID  2
#define NGX_HTTP_BACKEND_TOKEN_BAD_SIGNATURE  3
#define NGX_HTTP_BACKEND_TOKEN_UNKNOWN_KID    4
#define NGX_HTTP_BACKEND_TOKEN_WRONG_ISSUER   5
#define NGX_HTTP_BACKEND_TOKEN_WRONG_AZP      6
#define NGX_HTTP_BACKEND_TOKEN_MALFORMED      7
#define NGX_HTTP_BACKEND_TOKEN_OUTCOMES       8


/* the auth families' series (ngx_http_backend_auth_metrics.c) */

typedef struct {
    ngx_http_backend_series_t      *tokens[NGX_HTTP_BACKEND_TOKEN_OUTCOMES];
    ngx_http_backend_series_t      *token_hit;
    ngx_http_backend_series_t      *token_miss;
    ngx_http_backend_series_t      *context_zone;
    ngx_http_backend_series_t      *context_redis;
    ngx_http_backend_series_t      *context_database;
    ngx_http_backend_series_t      *failed_redis;
    ngx_http_backend_series_t      *failed_database;
    ngx_http_backend_series_t      *inv_sent;
    ngx_http_backend_series_t      *inv_received;
    ngx_http_backend_series_t      *inv_pending;
    ngx_http_backend_series_t      *jwks_keys;
    ngx_http_backend_series_t      *jwks_refreshed;
    ngx_http_backend_series_t      *jwks_failures;
} ngx_http_backend_auth_metrics_t;


typedef struct {
    ngx_http_backend_jwks_t        *jwks;       /* keys from files */
    ngx_uint_t                      nkeys;

    ngx_str_t                       jwks_url;   /* a location */
    ngx_msec_t                      jwks_refresh;
    ngx_msec_t                      jwks_min_refresh;

    /* the worker's copy of the fetched JWKS, and its generation */
    ngx_pool_t                     *url_pool;
    ngx_http_backend_jwks_t        *url_jwks;
    uint64_t                        url_gen;
    time_t                          url_fetched;

    ngx_str_t                       issuer;
    ngx_array_t                    *azp;
    time_t                          leeway;
    size_t                          max_size;

    ngx_array_t                     tiers;      /* of tier_t */

    ngx_str_t                       user_database;
    ngx_str_t                       user_sql;
    ngx_http_backend_pg_server_t   *user_server;
    ngx_http_backend_pg_stmt_t     *user_stmt;
    ngx_uint_t                      user_nparams;

    ngx_uint_t                      no_user;
    ngx_msec_t                      no_user_ttl;

    ngx_http_backend_cache_t       *cache;
    ngx_msec_t                      ttl;
    EVP_MD                         *sha256;     /* the caches' keys */
    EVP_MD_CTX                     *sha256_ctx; /* reused by a process */

    ngx_http_backend_redis_conf_t  *redis_conf;
    ngx_str_t                       redis_prefix;
    ngx_str_t                       redis_channel;
    ngx_str_t                       redis_epoch;    /* <prefix>epoch */
    ngx_msec_t                      outage_ttl;
    ngx_uint_t                      pending_max;

    /* the worker's, from init_process */
    ngx_http_backend_redis_t       *redis;
    ngx_uint_t                      subscribed;
    ngx_queue_t                     jobs;       /* invalidations in flight */
    ngx_uint_t                      njobs;
    ngx_event_t                     replay;
    unsigned                        epoch_owed:1;
    unsigned                        bumping:1;

    ngx_uint_t                      enabled;
    time_t                          keys_loaded;    /* keys of files */

    ngx_http_backend_auth_metrics_t  metrics;

    u_char                         *user_file;
    ngx_uint_t                      user_line;
} ngx_http_backend_auth_main_conf_t;


/*
 * ngx_http_backend_invalidate.c: the worker's Redis client, from
 * init_process, and its end, from exit_process (no handler called)
 */
ngx_int_t ngx_http_backend_auth_redis_init(ngx_cycle_t *cycle,
    ngx_http_backend_auth_main_conf_t *amcf);
void ngx_http_backend_auth_redis_exit(
    ngx_http_backend_auth_main_conf_t *amcf);
/* what Redis holds may be read: connected, and no epoch move owed */
ngx_uint_t ngx_http_backend_auth_redis_usable(
    ngx_http_backend_auth_main_conf_t *amcf);
/* backend_invalidations_pending: the node's count, from the zone */
void ngx_http_backend_auth_pending_gauge(
    ngx_http_backend_auth_main_conf_t *amcf);


/*
 * ngx_http_backend_auth_jwks.c: the backend_auth_jwks_url directive, and
 * the worker's copy of the fetched keys brought up to date; NGX_AGAIN: the
 * request waits for a fetch, and is woken by ngx_http_backend_auth_wake()
 */
char *ngx_http_backend_auth_jwks_url(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_backend_auth_jwks_update(ngx_http_request_t *r,
    ngx_http_backend_auth_main_conf_t *amcf, ngx_http_backend_auth_ctx_t *a,
    ngx_uint_t unknown_kid);
/* init_process: the keys the zone holds already, and the JWKS gauges */
void ngx_http_backend_auth_jwks_init(ngx_cycle_t *cycle,
    ngx_http_backend_auth_main_conf_t *amcf);

/* ngx_http_backend_auth.c: runs the phases of a request that waited */
void ngx_http_backend_auth_wake(ngx_http_request_t *r);
/*
 * ngx_http_backend_auth_context.c: the context of a verified token; NGX_OK:
 * resolved now, NGX_AGAIN: the request is woken when it is
 */
ngx_int_t ngx_http_backend_auth_context(ngx_http_request_t *r,
    ngx_http_backend_auth_main_conf_t *amcf, ngx_http_backend_auth_ctx_t *a);
/* ngx_http_backend_auth.c: backend_auth_denials_total, a series per tier */
ngx_int_t ngx_http_backend_auth_tier_metrics(ngx_conf_t *cf,
    ngx_http_backend_auth_main_conf_t *amcf);


/*
 * ngx_http_backend_auth_metrics.c: the families, from init_main_conf; a
 * token check's outcome (valid or a->reason), and the token cache's
 * (NULL: not asked)
 */
ngx_int_t ngx_http_backend_auth_metrics(ngx_conf_t *cf,
    ngx_http_backend_auth_main_conf_t *amcf);
void ngx_http_backend_auth_count(ngx_http_backend_auth_main_conf_t *amcf,
    ngx_http_backend_auth_ctx_t *a, ngx_http_backend_series_t *cache,
    ngx_uint_t valid);


#endif /* _NGX_HTTP_BACKEND_AUTH_CONF_H_INCLUDED_ */
