
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_backend.h"
#include "ngx_http_backend_cache.h"
#include "ngx_http_backend_jwt.h"
#include "ngx_http_backend_auth_conf.h"


/*
 * The keys of backend_auth_jwks_url: the directive, the fetch of the
 * location by a subrequest, its completion, and the polls of requests
 * waiting for a fetch of another worker.  The access phase that calls
 * ngx_http_backend_auth_jwks_update() is in ngx_http_backend_auth.c.
 */


#define NGX_HTTP_BACKEND_CLAIM_JWKS      0
#define NGX_HTTP_BACKEND_CLAIM_JWKS_KID  1

#define NGX_HTTP_BACKEND_JWKS_MAX_POLLS  50


static ngx_int_t ngx_http_backend_auth_jwks_sync(
    ngx_http_backend_auth_main_conf_t *amcf, ngx_pool_t *temp);
static void ngx_http_backend_auth_jwks_gauges(
    ngx_http_backend_auth_main_conf_t *amcf);
static ngx_int_t ngx_http_backend_auth_jwks_fetch(ngx_http_request_t *r,
    ngx_http_backend_auth_main_conf_t *amcf, ngx_http_backend_auth_ctx_t *a,
    ngx_uint_t wait);
static ngx_int_t ngx_http_backend_auth_jwks_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static void ngx_http_backend_auth_jwks_poll(ngx_event_t *ev);
static void ngx_http_backend_auth_jwks_poll_cleanup(void *data);


static ngx_str_t  ngx_http_backend_jwks_key = ngx_string("\0jwks");


/*
 * The JWKS of backend_auth_jwks_url lives in the session zone ("<time>\0"
 * and the document), fetched by one request of the node at a time as a
 * subrequest; each worker parses it again when its generation moves.
 * NGX_AGAIN: this request waits for a fetch.
 */

ngx_int_t
ngx_http_backend_auth_jwks_update(ngx_http_request_t *r,
    ngx_http_backend_auth_main_conf_t *amcf, ngx_http_backend_auth_ctx_t *a,
    ngx_uint_t unknown_kid)
{
    ngx_event_t         *ev;
    ngx_pool_cleanup_t  *cln;

    if (ngx_http_backend_auth_jwks_sync(amcf, r->pool) != NGX_OK) {
        return NGX_ERROR;
    }

    if (a->jwks == NGX_HTTP_BACKEND_JWKS_FETCHED) {
        /* one fetch per request */
        return NGX_OK;
    }

    if (amcf->url_jwks == NULL) {
        /* no keys yet: fetch, or wait for the fetch under way */

        if (ngx_http_backend_cache_claim(amcf->cache,
                                         NGX_HTTP_BACKEND_CLAIM_JWKS,
                                         amcf->jwks_min_refresh)
            == NGX_OK)
        {
            return ngx_http_backend_auth_jwks_fetch(r, amcf, a, 1);
        }

        if (a->polls++ >= NGX_HTTP_BACKEND_JWKS_MAX_POLLS) {
            return NGX_OK;
        }

        ev = ngx_pcalloc(r->pool, sizeof(ngx_event_t));
        if (ev == NULL) {
            return NGX_ERROR;
        }

        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        cln->handler = ngx_http_backend_auth_jwks_poll_cleanup;
        cln->data = ev;

        ev->handler = ngx_http_backend_auth_jwks_poll;
        ev->data = r;
        ev->log = r->connection->log;

        ngx_add_timer(ev, 100);

        a->jwks = NGX_HTTP_BACKEND_JWKS_POLLING;

        return NGX_AGAIN;
    }

    if (unknown_kid) {
        if (ngx_http_backend_cache_claim(amcf->cache,
                                         NGX_HTTP_BACKEND_CLAIM_JWKS_KID,
                                         amcf->jwks_min_refresh)
            == NGX_OK)
        {
            return ngx_http_backend_auth_jwks_fetch(r, amcf, a, 1);
        }

        return NGX_OK;
    }

    if (ngx_time() - amcf->url_fetched
        >= (time_t) (amcf->jwks_refresh / 1000)
        && ngx_http_backend_cache_claim(amcf->cache,
                                        NGX_HTTP_BACKEND_CLAIM_JWKS,
                                        amcf->jwks_min_refresh)
           == NGX_OK)
    {
        /* a periodic refresh: the request does not wait for it */
        return ngx_http_backend_auth_jwks_fetch(r, amcf, a, 0);
    }

    return NGX_OK;
}


/* the worker's copy of the zone's JWKS, parsed again if it moved */

static ngx_int_t
ngx_http_backend_auth_jwks_sync(ngx_http_backend_auth_main_conf_t *amcf,
    ngx_pool_t *temp)
{
    u_char                   *p, *last;
    uint64_t                  gen;
    ngx_int_t                 rc;
    ngx_str_t                 value, err;
    ngx_pool_t               *pool;
    ngx_http_backend_jwks_t  *jwks;

    gen = ngx_http_backend_cache_gen(amcf->cache, &ngx_http_backend_jwks_key,
                                     1);

    if (gen == amcf->url_gen) {
        return NGX_OK;
    }

    rc = ngx_http_backend_cache_get(amcf->cache, NGX_HTTP_BACKEND_CACHE_JWKS,
                                    &ngx_http_backend_jwks_key, NULL, 0,
                                    temp, &value);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_OK) {
        last = value.data + value.len;
        p = ngx_strlchr(value.data, last, '\0');

        pool = ngx_create_pool(4096, ngx_cycle->log);
        if (pool == NULL) {
            return NGX_ERROR;
        }

        jwks = ngx_http_backend_jwks_create(pool);

        if (p == NULL || jwks == NULL
            || ngx_http_backend_jwks_add_json(jwks, p + 1, last - p - 1, &err)
               != NGX_OK)
        {
            ngx_destroy_pool(pool);
            return NGX_ERROR;
        }

        if (amcf->url_pool) {
            ngx_destroy_pool(amcf->url_pool);
        }

        amcf->url_pool = pool;
        amcf->url_jwks = jwks;
        amcf->url_fetched = ngx_atotm(value.data, p - value.data);

        ngx_http_backend_auth_jwks_gauges(amcf);
    }

    amcf->url_gen = gen;

    return NGX_OK;
}


/*
 * A new worker (a restart, a reload) takes the keys the zone holds at once,
 * rather than on its first token, so that backend_jwks_keys, which is the
 * smallest worker's, does not read 0 on a node that has them
 */

void
ngx_http_backend_auth_jwks_init(ngx_cycle_t *cycle,
    ngx_http_backend_auth_main_conf_t *amcf)
{
    ngx_pool_t  *temp;

    ngx_http_backend_auth_jwks_gauges(amcf);

    if (amcf->jwks_url.len == 0) {
        return;
    }

    temp = ngx_create_pool(4096, cycle->log);
    if (temp == NULL) {
        return;
    }

    if (ngx_http_backend_auth_jwks_sync(amcf, temp) != NGX_OK) {
        /* the first request tries again, and fails the same way */
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "backend auth: the JWKS in zone \"%V\" is not usable",
                      ngx_http_backend_cache_name(amcf->cache));
    }

    ngx_destroy_pool(temp);
}


/* the keys this worker holds, and when they were last loaded */

static void
ngx_http_backend_auth_jwks_gauges(ngx_http_backend_auth_main_conf_t *amcf)
{
    ngx_uint_t  n;

    n = amcf->nkeys;

    if (amcf->url_jwks) {
        n += ngx_http_backend_jwks_count(amcf->url_jwks);
    }

    ngx_http_backend_metrics_set(amcf->metrics.jwks_keys, n);
    ngx_http_backend_metrics_set(amcf->metrics.jwks_refreshed,
                                 ngx_max(amcf->keys_loaded,
                                         amcf->url_fetched));
}


static ngx_int_t
ngx_http_backend_auth_jwks_fetch(ngx_http_request_t *r,
    ngx_http_backend_auth_main_conf_t *amcf, ngx_http_backend_auth_ctx_t *a,
    ngx_uint_t wait)
{
    ngx_uint_t                    flags;
    ngx_http_request_t           *sr;
    ngx_http_post_subrequest_t   *ps;

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_backend_auth_jwks_done;
    ps->data = wait ? a : NULL;

    flags = NGX_HTTP_SUBREQUEST_IN_MEMORY
            | (wait ? NGX_HTTP_SUBREQUEST_WAITED
                    : NGX_HTTP_SUBREQUEST_BACKGROUND);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "backend auth: fetching JWKS from \"%V\"%s", &amcf->jwks_url,
                  wait ? "" : " in the background");

    if (ngx_http_subrequest(r, &amcf->jwks_url, NULL, &sr, ps, flags)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (!wait) {
        return NGX_OK;
    }

    a->jwks = NGX_HTTP_BACKEND_JWKS_FETCHING;

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_backend_auth_jwks_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc)
{
    ngx_http_backend_auth_ctx_t *a = data;

    u_char                             *p;
    size_t                              len;
    ngx_buf_t                          *b;
    ngx_str_t                           value, err;
    ngx_http_backend_jwks_t            *jwks;
    ngx_http_backend_auth_main_conf_t  *amcf;

    if (a) {
        a->jwks = NGX_HTTP_BACKEND_JWKS_FETCHED;
    }

    amcf = ngx_http_get_module_main_conf(sr, ngx_http_backend_auth_module);

    b = sr->out ? sr->out->buf : NULL;

    if (rc != NGX_OK || sr->headers_out.status != NGX_HTTP_OK || b == NULL) {
        ngx_http_backend_metrics_add(amcf->metrics.jwks_failures, 1);
        ngx_log_error(NGX_LOG_ERR, sr->connection->log, 0,
                      "backend auth: JWKS fetch from \"%V\" failed "
                      "(status %ui), the keys known stay in use",
                      &amcf->jwks_url, sr->headers_out.status);
        return rc;
    }

    len = b->last - b->pos;

    jwks = ngx_http_backend_jwks_create(sr->pool);
    if (jwks == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_backend_jwks_add_json(jwks, b->pos, len, &err) != NGX_OK
        || ngx_http_backend_jwks_count(jwks) == 0)
    {
        ngx_http_backend_metrics_add(amcf->metrics.jwks_failures, 1);
        ngx_log_error(NGX_LOG_ERR, sr->connection->log, 0,
                      "backend auth: the JWKS from \"%V\" is not usable%s%V, "
                      "the keys known stay in use", &amcf->jwks_url,
                      err.len ? ": " : "", &err);
        return rc;
    }

    value.data = ngx_pnalloc(sr->pool, NGX_TIME_T_LEN + 1 + len);
    if (value.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(value.data, "%T", ngx_time());
    *p++ = '\0';
    p = ngx_cpymem(p, b->pos, len);
    value.len = p - value.data;

    /* a week: a refresh replaces it long before, a failed one keeps it */

    if (ngx_http_backend_cache_set(amcf->cache, NGX_HTTP_BACKEND_CACHE_JWKS,
                                   &ngx_http_backend_jwks_key, NULL, 0, 0,
                                   &value, 7 * 86400 * 1000)
        != NGX_OK)
    {
        ngx_http_backend_metrics_add(amcf->metrics.jwks_failures, 1);
        ngx_log_error(NGX_LOG_ERR, sr->connection->log, 0,
                      "backend auth: no room for the JWKS in zone \"%V\"",
                      ngx_http_backend_cache_name(amcf->cache));
        return rc;
    }

    (void) ngx_http_backend_cache_gen(amcf->cache,
                                      &ngx_http_backend_jwks_key, 1);
    ngx_http_backend_cache_bump(amcf->cache, &ngx_http_backend_jwks_key);

    /* the workers' key counts follow as each takes the new JWKS */
    ngx_http_backend_metrics_set(amcf->metrics.jwks_refreshed, ngx_time());

    ngx_log_error(NGX_LOG_INFO, sr->connection->log, 0,
                  "backend auth: JWKS from \"%V\": %ui key(s)",
                  &amcf->jwks_url, ngx_http_backend_jwks_count(jwks));

    return rc;
}


static void
ngx_http_backend_auth_jwks_poll(ngx_event_t *ev)
{
    ngx_http_backend_auth_wake(ev->data);
}


static void
ngx_http_backend_auth_jwks_poll_cleanup(void *data)
{
    ngx_event_t *ev = data;

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }
}


/*
 * For readiness: the keys this worker verifies with (NGX_DECLINED: none
 * configured); r == NULL: its copy as it is, else brought up to date from
 * the zone first.  The keys of backend_auth_jwks_url are fetched by the first
 * request with a token; a node that waits for readiness before it gets
 * requests would never be asked, so with none yet this request starts the
 * fetch, in the background, as a refresh would (one per node, at most
 * every min_refresh).
 */

ngx_int_t
ngx_http_backend_auth_jwks_keys(ngx_cycle_t *cycle, ngx_http_request_t *r)
{
    ngx_http_backend_auth_ctx_t         a;
    ngx_http_backend_auth_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_backend_auth_module);

    if (amcf == NULL || !amcf->enabled) {
        return NGX_DECLINED;
    }

    if (amcf->jwks_url.len == 0) {
        return amcf->nkeys;
    }

    if (r == NULL) {
        /* the worker's copy as it is */
        return amcf->nkeys + (amcf->url_jwks
                              ? ngx_http_backend_jwks_count(amcf->url_jwks)
                              : 0);
    }

    /* "fetched": only the worker's copy brought up to date from the zone */

    ngx_memzero(&a, sizeof(ngx_http_backend_auth_ctx_t));
    a.jwks = NGX_HTTP_BACKEND_JWKS_FETCHED;

    if (ngx_http_backend_auth_jwks_update(r, amcf, &a, 0) == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (amcf->url_jwks) {
        return amcf->nkeys + ngx_http_backend_jwks_count(amcf->url_jwks);
    }

    if (r == r->main
        && ngx_http_backend_cache_claim(amcf->cache,
                                        NGX_HTTP_BACKEND_CLAIM_JWKS,
                                        amcf->jwks_min_refresh)
           == NGX_OK
        && ngx_http_backend_auth_jwks_fetch(r, amcf, &a, 0) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return amcf->nkeys;
}


/* backend_auth_jwks_url /location [refresh=1h] [min_refresh=30s] */

char *
ngx_http_backend_auth_jwks_url(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_backend_auth_main_conf_t *amcf = conf;

    ngx_str_t   *value, s;
    ngx_msec_t  *t;
    ngx_uint_t   i;

    if (amcf->jwks_url.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "backend_auth_jwks_url takes a location (\"%V\"): "
                           "proxy_pass it to the issuer's JWKS there",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    amcf->jwks_url = value[1];
    amcf->jwks_refresh = 3600 * 1000;
    amcf->jwks_min_refresh = 30 * 1000;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "refresh=", 8) == 0) {
            t = &amcf->jwks_refresh;
            s.data = value[i].data + 8;

        } else if (ngx_strncmp(value[i].data, "min_refresh=", 12) == 0) {
            t = &amcf->jwks_min_refresh;
            s.data = value[i].data + 12;

        } else {
            goto invalid;
        }

        s.len = value[i].data + value[i].len - s.data;

        *t = ngx_parse_time(&s, 0);

        if (*t == (ngx_msec_t) NGX_ERROR || *t == 0) {
            goto invalid;
        }
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}
