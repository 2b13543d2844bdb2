
/*
 * Copyright (C) ngx_backend authors
 */


#ifndef _NGX_HTTP_BACKEND_CACHE_H_INCLUDED_
#define _NGX_HTTP_BACKEND_CACHE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * A shared memory dictionary: entries with an expiry, kept in an rbtree
 * and an LRU queue, the oldest evicted when the zone is full.
 *
 * An entry may depend on generation counters (a user, a session): it is
 * valid only while each counter has the value it had when the entry's fill
 * started, so an invalidation that happens during a fill is never
 * overwritten by it.  Counters take their values from one zone-wide
 * sequence that only grows, so an entry keeps the largest value of its
 * counters: any bump (or a counter evicted and made again) makes that
 * largest value grow, and the entry stale.  An epoch invalidates every
 * dependent entry at once.
 */


#define NGX_HTTP_BACKEND_CACHE_TOKEN    'T'
#define NGX_HTTP_BACKEND_CACHE_SESSION  'S'
#define NGX_HTTP_BACKEND_CACHE_GEN      'G'
#define NGX_HTTP_BACKEND_CACHE_JWKS     'J'


typedef struct ngx_http_backend_cache_s  ngx_http_backend_cache_t;


ngx_http_backend_cache_t *ngx_http_backend_cache_add(ngx_conf_t *cf,
    ngx_str_t *name, size_t size, void *tag);

/*
 * deps: the ndeps counters an entry depends on (NULL, 0: none).
 * NGX_OK: *value copied to pool; NGX_DECLINED: none or stale.
 */
ngx_int_t ngx_http_backend_cache_get(ngx_http_backend_cache_t *cache,
    ngx_uint_t kind, ngx_str_t *key, ngx_str_t *deps, ngx_uint_t ndeps,
    ngx_pool_t *pool, ngx_str_t *value);

/*
 * gen: ngx_http_backend_cache_gen(deps) taken before the fill began.
 * NGX_DECLINED: a dep was invalidated meanwhile, nothing stored.
 */
ngx_int_t ngx_http_backend_cache_set(ngx_http_backend_cache_t *cache,
    ngx_uint_t kind, ngx_str_t *key, ngx_str_t *deps, ngx_uint_t ndeps,
    uint64_t gen, ngx_str_t *value, ngx_msec_t ttl);

/*
 * NGX_OK: no entry, or one stored with ttl more than age ago (time to
 * store it again); NGX_DECLINED: a younger one is there
 */
ngx_int_t ngx_http_backend_cache_older(ngx_http_backend_cache_t *cache,
    ngx_uint_t kind, ngx_str_t *key, ngx_msec_t ttl, ngx_msec_t age);
void ngx_http_backend_cache_delete(ngx_http_backend_cache_t *cache,
    ngx_uint_t kind, ngx_str_t *key);
/* the largest value of the deps' counters, made if they do not exist */
uint64_t ngx_http_backend_cache_gen(ngx_http_backend_cache_t *cache,
    ngx_str_t *deps, ngx_uint_t ndeps);
void ngx_http_backend_cache_bump(ngx_http_backend_cache_t *cache,
    ngx_str_t *dep);
void ngx_http_backend_cache_flush(ngx_http_backend_cache_t *cache);

/*
 * Invalidations this node could not hand to Redis yet (pending_add), kept
 * in the zone for every worker until one sends them (pending_claim, then
 * pending_done).  A full list (max) records an overflow instead, which
 * only moving Redis's epoch covers (pending_covered).
 */
#define NGX_HTTP_BACKEND_CACHE_ID_MAX   512

ngx_int_t ngx_http_backend_cache_pending_add(ngx_http_backend_cache_t *cache,
    ngx_uint_t what, ngx_str_t *id, ngx_uint_t max, ngx_msec_t hold,
    uint64_t *seq);
ngx_uint_t ngx_http_backend_cache_pending_has(ngx_http_backend_cache_t *cache,
    ngx_uint_t what, ngx_str_t *id);
ngx_int_t ngx_http_backend_cache_pending_claim(
    ngx_http_backend_cache_t *cache, ngx_msec_t hold, ngx_uint_t *what,
    ngx_str_t *id, uint64_t *seq);
void ngx_http_backend_cache_pending_done(ngx_http_backend_cache_t *cache,
    ngx_uint_t what, ngx_str_t *id, uint64_t seq, ngx_uint_t taken);
uint64_t ngx_http_backend_cache_pending_seq(ngx_http_backend_cache_t *cache,
    uint64_t *overflow, ngx_uint_t *n);
void ngx_http_backend_cache_pending_covered(ngx_http_backend_cache_t *cache,
    uint64_t seq);

/* NGX_OK at most once per interval per node, for rate limits */
ngx_int_t ngx_http_backend_cache_claim(ngx_http_backend_cache_t *cache,
    ngx_uint_t slot, ngx_msec_t interval);

ngx_str_t *ngx_http_backend_cache_name(ngx_http_backend_cache_t *cache);


#endif /* _NGX_HTTP_BACKEND_CACHE_H_INCLUDED_ */
