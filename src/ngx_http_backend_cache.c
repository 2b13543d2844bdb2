
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_backend_cache.h"


#define NGX_HTTP_BACKEND_CACHE_SLOTS    4

/* a pending invalidation: key <what><id>, never evicted, not in the LRU */
#define NGX_HTTP_BACKEND_CACHE_PENDING  'P'


typedef struct {
    u_char                        color;
    u_char                        kind;
    u_short                       key_len;
    uint32_t                      value_len;
    ngx_queue_t                   queue;
    ngx_msec_t                    expire;     /* 0: never */
    uint64_t                      gen;
    ngx_uint_t                    epoch;
    u_char                        data[1];    /* key, then value */
} ngx_http_backend_cache_node_t;


typedef struct {
    ngx_rbtree_t                  rbtree;
    ngx_rbtree_node_t             sentinel;
    ngx_queue_t                   queue;
    uint64_t                      gen;
    ngx_uint_t                    epoch;
    ngx_msec_t                    claims[NGX_HTTP_BACKEND_CACHE_SLOTS];

    /*
     * Invalidations Redis has not taken yet: a node's (every worker's),
     * oldest first; a node's expire is its claim (a worker sending it),
     * its gen the sequence number of its last invalidation
     */
    ngx_queue_t                   pending;
    ngx_uint_t                    npending;
    uint64_t                      seq;
    uint64_t                      overflow;   /* seq of the last dropped */
} ngx_http_backend_cache_sh_t;


struct ngx_http_backend_cache_s {
    ngx_http_backend_cache_sh_t  *sh;
    ngx_slab_pool_t              *shpool;
    ngx_shm_zone_t               *shm_zone;
};


static ngx_int_t ngx_http_backend_cache_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_backend_cache_rbtree_insert_value(
    ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel);
static ngx_http_backend_cache_node_t *ngx_http_backend_cache_lookup(
    ngx_http_backend_cache_t *cache, ngx_uint_t kind, ngx_str_t *key,
    uint32_t hash);
static uint32_t ngx_http_backend_cache_hash(ngx_uint_t kind, ngx_str_t *key);
static ngx_http_backend_cache_node_t *ngx_http_backend_cache_gen_node(
    ngx_http_backend_cache_t *cache, ngx_str_t *dep);
static uint64_t ngx_http_backend_cache_deps_gen(
    ngx_http_backend_cache_t *cache, ngx_str_t *deps, ngx_uint_t ndeps,
    ngx_uint_t create);
static ngx_http_backend_cache_node_t *ngx_http_backend_cache_alloc(
    ngx_http_backend_cache_t *cache, ngx_uint_t kind, ngx_str_t *key,
    uint32_t hash, size_t value_len);
static void ngx_http_backend_cache_free(ngx_http_backend_cache_t *cache,
    ngx_http_backend_cache_node_t *cn);
static void ngx_http_backend_cache_expire(ngx_http_backend_cache_t *cache,
    ngx_uint_t n);


ngx_http_backend_cache_t *
ngx_http_backend_cache_add(ngx_conf_t *cf, ngx_str_t *name, size_t size,
    void *tag)
{
    ngx_shm_zone_t            *shm_zone;
    ngx_http_backend_cache_t  *cache;

    shm_zone = ngx_shared_memory_add(cf, name, size, tag);
    if (shm_zone == NULL) {
        return NULL;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate zone \"%V\"", name);
        return NULL;
    }

    cache = ngx_pcalloc(cf->pool, sizeof(ngx_http_backend_cache_t));
    if (cache == NULL) {
        return NULL;
    }

    cache->shm_zone = shm_zone;

    shm_zone->init = ngx_http_backend_cache_init_zone;
    shm_zone->data = cache;

    return cache;
}


static ngx_int_t
ngx_http_backend_cache_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_backend_cache_t *ocache = data;

    size_t                     len;
    ngx_http_backend_cache_t  *cache;

    cache = shm_zone->data;

    if (ocache) {
        /* a reload: the entries and counters live on */
        cache->sh = ocache->sh;
        cache->shpool = ocache->shpool;
        return NGX_OK;
    }

    cache->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        cache->sh = cache->shpool->data;
        return NGX_OK;
    }

    cache->sh = ngx_slab_calloc(cache->shpool,
                                sizeof(ngx_http_backend_cache_sh_t));
    if (cache->sh == NULL) {
        return NGX_ERROR;
    }

    cache->shpool->data = cache->sh;

    ngx_rbtree_init(&cache->sh->rbtree, &cache->sh->sentinel,
                    ngx_http_backend_cache_rbtree_insert_value);

    ngx_queue_init(&cache->sh->queue);
    ngx_queue_init(&cache->sh->pending);

    len = sizeof(" in backend session zone \"\"") + shm_zone->shm.name.len;

    cache->shpool->log_ctx = ngx_slab_alloc(cache->shpool, len);
    if (cache->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(cache->shpool->log_ctx, " in backend session zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone evicts entries, that is not worth an error line */
    cache->shpool->log_nomem = 0;

    return NGX_OK;
}


ngx_str_t *
ngx_http_backend_cache_name(ngx_http_backend_cache_t *cache)
{
    return &cache->shm_zone->shm.name;
}


ngx_int_t
ngx_http_backend_cache_get(ngx_http_backend_cache_t *cache, ngx_uint_t kind,
    ngx_str_t *key, ngx_str_t *deps, ngx_uint_t ndeps, ngx_pool_t *pool,
    ngx_str_t *value)
{
    u_char                         *p;
    uint32_t                        hash;
    ngx_int_t                       rc;
    ngx_http_backend_cache_node_t  *cn;

    hash = ngx_http_backend_cache_hash(kind, key);

    rc = NGX_DECLINED;

    ngx_shmtx_lock(&cache->shpool->mutex);

    cn = ngx_http_backend_cache_lookup(cache, kind, key, hash);

    if (cn == NULL) {
        goto done;
    }

    if (cn->expire && (ngx_msec_int_t) (cn->expire - ngx_current_msec) <= 0) {
        ngx_http_backend_cache_free(cache, cn);
        goto done;
    }

    if (ndeps
        && (ngx_http_backend_cache_deps_gen(cache, deps, ndeps, 0) != cn->gen
            || cn->epoch != cache->sh->epoch))
    {
        ngx_http_backend_cache_free(cache, cn);
        goto done;
    }

    p = ngx_pnalloc(pool, cn->value_len + 1);
    if (p == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

    ngx_memcpy(p, cn->data + cn->key_len, cn->value_len);
    p[cn->value_len] = '\0';

    value->data = p;
    value->len = cn->value_len;

    ngx_queue_remove(&cn->queue);
    ngx_queue_insert_head(&cache->sh->queue, &cn->queue);

    rc = NGX_OK;

done:

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return rc;
}


/*
 * NGX_OK when an entry stored with ttl was stored more than "age" ago, or
 * is not there: what keeps a value that changes rarely from being
 * written again on every request
 */

ngx_int_t
ngx_http_backend_cache_older(ngx_http_backend_cache_t *cache,
    ngx_uint_t kind, ngx_str_t *key, ngx_msec_t ttl, ngx_msec_t age)
{
    uint32_t                        hash;
    ngx_int_t                       rc;
    ngx_http_backend_cache_node_t  *cn;

    hash = ngx_http_backend_cache_hash(kind, key);

    rc = NGX_OK;

    ngx_shmtx_lock(&cache->shpool->mutex);

    cn = ngx_http_backend_cache_lookup(cache, kind, key, hash);

    if (cn && cn->expire && ttl > age
        && (ngx_msec_int_t) (cn->expire - ngx_current_msec)
           > (ngx_msec_int_t) (ttl - age))
    {
        rc = NGX_DECLINED;
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return rc;
}


ngx_int_t
ngx_http_backend_cache_set(ngx_http_backend_cache_t *cache, ngx_uint_t kind,
    ngx_str_t *key, ngx_str_t *deps, ngx_uint_t ndeps, uint64_t gen,
    ngx_str_t *value, ngx_msec_t ttl)
{
    uint32_t                        hash;
    ngx_int_t                       rc;
    ngx_http_backend_cache_node_t  *cn;

    hash = ngx_http_backend_cache_hash(kind, key);

    rc = NGX_DECLINED;

    ngx_shmtx_lock(&cache->shpool->mutex);

    ngx_http_backend_cache_expire(cache, 2);

    if (ndeps
        && ngx_http_backend_cache_deps_gen(cache, deps, ndeps, 1) != gen)
    {
        goto done;
    }

    cn = ngx_http_backend_cache_lookup(cache, kind, key, hash);

    if (cn) {
        ngx_http_backend_cache_free(cache, cn);
    }

    cn = ngx_http_backend_cache_alloc(cache, kind, key, hash, value->len);
    if (cn == NULL) {
        goto done;
    }

    ngx_memcpy(cn->data + cn->key_len, value->data, value->len);

    cn->expire = ngx_current_msec + (ttl ? ttl : 1);
    cn->gen = gen;
    cn->epoch = cache->sh->epoch;

    rc = NGX_OK;

done:

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return rc;
}


void
ngx_http_backend_cache_delete(ngx_http_backend_cache_t *cache,
    ngx_uint_t kind, ngx_str_t *key)
{
    ngx_http_backend_cache_node_t  *cn;

    ngx_shmtx_lock(&cache->shpool->mutex);

    cn = ngx_http_backend_cache_lookup(cache, kind, key,
                                       ngx_http_backend_cache_hash(kind, key));
    if (cn) {
        ngx_http_backend_cache_free(cache, cn);
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);
}


uint64_t
ngx_http_backend_cache_gen(ngx_http_backend_cache_t *cache, ngx_str_t *deps,
    ngx_uint_t ndeps)
{
    uint64_t  gen;

    ngx_shmtx_lock(&cache->shpool->mutex);

    gen = ngx_http_backend_cache_deps_gen(cache, deps, ndeps, 1);

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return gen;
}


void
ngx_http_backend_cache_bump(ngx_http_backend_cache_t *cache, ngx_str_t *dep)
{
    ngx_http_backend_cache_node_t  *gn;

    ngx_shmtx_lock(&cache->shpool->mutex);

    gn = ngx_http_backend_cache_lookup(cache, NGX_HTTP_BACKEND_CACHE_GEN, dep,
                                       ngx_http_backend_cache_hash(
                                           NGX_HTTP_BACKEND_CACHE_GEN, dep));

    /*
     * No counter: no valid entry depends on it, and a new counter starts
     * past every value given out before
     */

    if (gn) {
        gn->gen = ++cache->sh->gen;
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);
}


void
ngx_http_backend_cache_flush(ngx_http_backend_cache_t *cache)
{
    ngx_shmtx_lock(&cache->shpool->mutex);
    cache->sh->epoch++;
    ngx_shmtx_unlock(&cache->shpool->mutex);
}


ngx_int_t
ngx_http_backend_cache_claim(ngx_http_backend_cache_t *cache, ngx_uint_t slot,
    ngx_msec_t interval)
{
    ngx_int_t    rc;
    ngx_msec_t  *last;

    rc = NGX_DECLINED;

    ngx_shmtx_lock(&cache->shpool->mutex);

    last = &cache->sh->claims[slot % NGX_HTTP_BACKEND_CACHE_SLOTS];

    if (*last == 0 || ngx_current_msec - *last >= interval) {
        *last = ngx_current_msec ? ngx_current_msec : 1;
        rc = NGX_OK;
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return rc;
}


/*
 * An invalidation Redis has not taken: recorded (or, if it is pending
 * already, given a new sequence number, so that a send that began before
 * it does not remove it), claimed for hold ms if hold.  NGX_DECLINED: the
 * list is full (or the zone, or the id is too long): only the overflow is
 * recorded.
 */

ngx_int_t
ngx_http_backend_cache_pending_add(ngx_http_backend_cache_t *cache,
    ngx_uint_t what, ngx_str_t *id, ngx_uint_t max, ngx_msec_t hold,
    uint64_t *seq)
{
    u_char                          buf[NGX_HTTP_BACKEND_CACHE_ID_MAX + 1];
    uint32_t                        hash;
    ngx_int_t                       rc;
    ngx_str_t                       key;
    ngx_http_backend_cache_node_t  *cn;

    ngx_shmtx_lock(&cache->shpool->mutex);

    cache->sh->seq++;
    rc = NGX_DECLINED;

    if (id->len > NGX_HTTP_BACKEND_CACHE_ID_MAX) {
        goto overflow;
    }

    buf[0] = (u_char) what;
    ngx_memcpy(buf + 1, id->data, id->len);

    key.data = buf;
    key.len = id->len + 1;

    hash = ngx_http_backend_cache_hash(NGX_HTTP_BACKEND_CACHE_PENDING, &key);

    cn = ngx_http_backend_cache_lookup(cache, NGX_HTTP_BACKEND_CACHE_PENDING,
                                       &key, hash);
    if (cn) {
        goto claim;
    }

    if (cache->sh->npending >= max) {
        goto overflow;
    }

    /* evicts cached entries if it must, never another pending one */

    cn = ngx_http_backend_cache_alloc(cache, NGX_HTTP_BACKEND_CACHE_PENDING,
                                      &key, hash, 0);
    if (cn == NULL) {
        goto overflow;
    }

    ngx_queue_remove(&cn->queue);
    ngx_queue_insert_tail(&cache->sh->pending, &cn->queue);

    cache->sh->npending++;

claim:

    /* hold: the caller sends it now */

    cn->gen = cache->sh->seq;
    cn->expire = hold ? ngx_current_msec + hold : 0;
    cn->expire += (hold && cn->expire == 0);
    *seq = cn->gen;

    rc = NGX_OK;
    goto done;

overflow:

    cache->sh->overflow = cache->sh->seq;

done:

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return rc;
}


/* 1: the overflow, or an invalidation of the user or session is pending */

ngx_uint_t
ngx_http_backend_cache_pending_has(ngx_http_backend_cache_t *cache,
    ngx_uint_t what, ngx_str_t *id)
{
    u_char                          buf[NGX_HTTP_BACKEND_CACHE_ID_MAX + 1];
    ngx_str_t                       key;
    ngx_uint_t                      has;

    ngx_shmtx_lock(&cache->shpool->mutex);

    has = 1;

    if (cache->sh->overflow || id->len > NGX_HTTP_BACKEND_CACHE_ID_MAX) {
        goto done;
    }

    has = 0;

    if (cache->sh->npending == 0) {
        goto done;
    }

    buf[0] = (u_char) what;
    ngx_memcpy(buf + 1, id->data, id->len);

    key.data = buf;
    key.len = id->len + 1;

    has = ngx_http_backend_cache_lookup(cache, NGX_HTTP_BACKEND_CACHE_PENDING,
                                        &key,
                                        ngx_http_backend_cache_hash(
                                            NGX_HTTP_BACKEND_CACHE_PENDING,
                                            &key))
          != NULL;

done:

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return has;
}


/*
 * The oldest pending invalidation no worker is sending: claimed for hold
 * ms (a worker that dies leaves it to the others after that).  id->data
 * has room for NGX_HTTP_BACKEND_CACHE_ID_MAX bytes.
 */

ngx_int_t
ngx_http_backend_cache_pending_claim(ngx_http_backend_cache_t *cache,
    ngx_msec_t hold, ngx_uint_t *what, ngx_str_t *id, uint64_t *seq)
{
    ngx_int_t                       rc;
    ngx_queue_t                    *q;
    ngx_http_backend_cache_node_t  *cn;

    rc = NGX_DECLINED;

    ngx_shmtx_lock(&cache->shpool->mutex);

    for (q = ngx_queue_head(&cache->sh->pending);
         q != ngx_queue_sentinel(&cache->sh->pending);
         q = ngx_queue_next(q))
    {
        cn = ngx_queue_data(q, ngx_http_backend_cache_node_t, queue);

        if (cn->expire
            && (ngx_msec_int_t) (cn->expire - ngx_current_msec) > 0)
        {
            continue;
        }

        cn->expire = ngx_current_msec + hold;
        cn->expire += (cn->expire == 0);

        *what = cn->data[0];
        id->len = cn->key_len - 1;
        ngx_memcpy(id->data, cn->data + 1, id->len);
        *seq = cn->gen;

        rc = NGX_OK;
        break;
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return rc;
}


/*
 * A send of a claimed invalidation ended: taken by Redis, it is removed
 * unless invalidated again since the claim; otherwise it waits for the
 * next round
 */

void
ngx_http_backend_cache_pending_done(ngx_http_backend_cache_t *cache,
    ngx_uint_t what, ngx_str_t *id, uint64_t seq, ngx_uint_t taken)
{
    u_char                          buf[NGX_HTTP_BACKEND_CACHE_ID_MAX + 1];
    ngx_str_t                       key;
    ngx_http_backend_cache_node_t  *cn;

    if (id->len > NGX_HTTP_BACKEND_CACHE_ID_MAX) {
        return;
    }

    buf[0] = (u_char) what;
    ngx_memcpy(buf + 1, id->data, id->len);

    key.data = buf;
    key.len = id->len + 1;

    ngx_shmtx_lock(&cache->shpool->mutex);

    cn = ngx_http_backend_cache_lookup(cache, NGX_HTTP_BACKEND_CACHE_PENDING,
                                       &key,
                                       ngx_http_backend_cache_hash(
                                           NGX_HTTP_BACKEND_CACHE_PENDING,
                                           &key));
    if (cn) {
        if (taken && cn->gen == seq) {
            ngx_http_backend_cache_free(cache, cn);
            cache->sh->npending--;

        } else {
            cn->expire = 0;
        }
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);
}


/* the sequence number now, and the last overflow's (0: none) */

uint64_t
ngx_http_backend_cache_pending_seq(ngx_http_backend_cache_t *cache,
    uint64_t *overflow, ngx_uint_t *n)
{
    uint64_t  seq;

    ngx_shmtx_lock(&cache->shpool->mutex);

    seq = cache->sh->seq;
    *overflow = cache->sh->overflow;
    *n = cache->sh->npending;

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return seq;
}


/*
 * Redis's epoch moved and every zone was told to flush after seq was
 * taken: what was pending or dropped up to seq is covered
 */

void
ngx_http_backend_cache_pending_covered(ngx_http_backend_cache_t *cache,
    uint64_t seq)
{
    ngx_queue_t                    *q, *next;
    ngx_http_backend_cache_node_t  *cn;

    ngx_shmtx_lock(&cache->shpool->mutex);

    if (cache->sh->overflow <= seq) {
        cache->sh->overflow = 0;
    }

    for (q = ngx_queue_head(&cache->sh->pending);
         q != ngx_queue_sentinel(&cache->sh->pending);
         q = next)
    {
        next = ngx_queue_next(q);
        cn = ngx_queue_data(q, ngx_http_backend_cache_node_t, queue);

        if (cn->gen <= seq) {
            ngx_http_backend_cache_free(cache, cn);
            cache->sh->npending--;
        }
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);
}


static ngx_http_backend_cache_node_t *
ngx_http_backend_cache_gen_node(ngx_http_backend_cache_t *cache,
    ngx_str_t *dep)
{
    uint32_t                        hash;
    ngx_http_backend_cache_node_t  *gn;

    hash = ngx_http_backend_cache_hash(NGX_HTTP_BACKEND_CACHE_GEN, dep);

    gn = ngx_http_backend_cache_lookup(cache, NGX_HTTP_BACKEND_CACHE_GEN, dep,
                                       hash);
    if (gn) {
        return gn;
    }

    gn = ngx_http_backend_cache_alloc(cache, NGX_HTTP_BACKEND_CACHE_GEN, dep,
                                      hash, 0);
    if (gn == NULL) {
        return NULL;
    }

    gn->expire = 0;
    gn->gen = ++cache->sh->gen;

    return gn;
}


/*
 * Called with the mutex held: the largest value of the counters, each
 * made if create is set and touched in the LRU queue (they live as long as
 * the entries that use them).  (uint64_t) -1, a value no counter has: one
 * is missing, or there is no memory for it, so nothing stored under it is
 * ever valid.
 */

static uint64_t
ngx_http_backend_cache_deps_gen(ngx_http_backend_cache_t *cache,
    ngx_str_t *deps, ngx_uint_t ndeps, ngx_uint_t create)
{
    uint64_t                        gen;
    ngx_uint_t                      i;
    ngx_http_backend_cache_node_t  *gn;

    gen = 0;

    for (i = 0; i < ndeps; i++) {

        if (create) {
            gn = ngx_http_backend_cache_gen_node(cache, &deps[i]);

        } else {
            gn = ngx_http_backend_cache_lookup(cache,
                                               NGX_HTTP_BACKEND_CACHE_GEN,
                                               &deps[i],
                                               ngx_http_backend_cache_hash(
                                                   NGX_HTTP_BACKEND_CACHE_GEN,
                                                   &deps[i]));
        }

        if (gn == NULL) {
            return (uint64_t) -1;
        }

        ngx_queue_remove(&gn->queue);
        ngx_queue_insert_head(&cache->sh->queue, &gn->queue);

        gen = ngx_max(gen, gn->gen);
    }

    return gen;
}


/*
 * MurmurHash2 reads a key 4 bytes at a time where crc32 took a table
 * look-up a byte; every request hashes 4 keys.  Only a key's last 64
 * bytes: a token's are its signature, a context's its digest, and the
 * tree orders keys of one hash by their bytes and compares them whole,
 * so a shared hash costs a comparison, never a wrong entry.  The kind is
 * told apart in the tree's order too, so it is only mixed in.
 */

#define NGX_HTTP_BACKEND_CACHE_HASHED  64

static uint32_t
ngx_http_backend_cache_hash(ngx_uint_t kind, ngx_str_t *key)
{
    size_t  n;

    n = ngx_min(key->len, NGX_HTTP_BACKEND_CACHE_HASHED);

    return ngx_murmur_hash2(key->data + key->len - n, n) ^ (uint32_t) kind;
}


static ngx_http_backend_cache_node_t *
ngx_http_backend_cache_lookup(ngx_http_backend_cache_t *cache,
    ngx_uint_t kind, ngx_str_t *key, uint32_t hash)
{
    ngx_int_t                       rc;
    ngx_rbtree_node_t              *node, *sentinel;
    ngx_http_backend_cache_node_t  *cn;

    node = cache->sh->rbtree.root;
    sentinel = cache->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        /* hash == node->key */

        cn = (ngx_http_backend_cache_node_t *) &node->color;

        rc = (ngx_int_t) kind - cn->kind;

        if (rc == 0) {
            rc = ngx_memn2cmp(key->data, cn->data, key->len,
                              (size_t) cn->key_len);
        }

        if (rc == 0) {
            return cn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_http_backend_cache_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_int_t                       rc;
    ngx_rbtree_node_t             **p;
    ngx_http_backend_cache_node_t  *cn, *cnt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            cn = (ngx_http_backend_cache_node_t *) &node->color;
            cnt = (ngx_http_backend_cache_node_t *) &temp->color;

            rc = (ngx_int_t) cn->kind - cnt->kind;

            if (rc == 0) {
                rc = ngx_memn2cmp(cn->data, cnt->data, cn->key_len,
                                  cnt->key_len);
            }

            p = (rc < 0) ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/* called with the mutex held; evicts the oldest entries until it fits */

static ngx_http_backend_cache_node_t *
ngx_http_backend_cache_alloc(ngx_http_backend_cache_t *cache, ngx_uint_t kind,
    ngx_str_t *key, uint32_t hash, size_t value_len)
{
    size_t                          size;
    ngx_queue_t                    *q;
    ngx_rbtree_node_t              *node;
    ngx_http_backend_cache_node_t  *cn, *old;

    if (key->len > 0xffff || value_len > 0xffffffff) {
        return NULL;
    }

    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_http_backend_cache_node_t, data)
           + key->len + value_len;

    for ( ;; ) {
        node = ngx_slab_alloc_locked(cache->shpool, size);
        if (node) {
            break;
        }

        if (ngx_queue_empty(&cache->sh->queue)) {
            return NULL;
        }

        q = ngx_queue_last(&cache->sh->queue);
        old = ngx_queue_data(q, ngx_http_backend_cache_node_t, queue);

        ngx_http_backend_cache_free(cache, old);
    }

    node->key = hash;

    cn = (ngx_http_backend_cache_node_t *) &node->color;

    cn->kind = (u_char) kind;
    cn->key_len = (u_short) key->len;
    cn->value_len = (uint32_t) value_len;
    cn->expire = 0;
    cn->gen = 0;
    cn->epoch = 0;

    ngx_memcpy(cn->data, key->data, key->len);

    ngx_rbtree_insert(&cache->sh->rbtree, node);
    ngx_queue_insert_head(&cache->sh->queue, &cn->queue);

    return cn;
}


static void
ngx_http_backend_cache_free(ngx_http_backend_cache_t *cache,
    ngx_http_backend_cache_node_t *cn)
{
    ngx_rbtree_node_t  *node;

    node = (ngx_rbtree_node_t *)
               ((u_char *) cn - offsetof(ngx_rbtree_node_t, color));

    ngx_queue_remove(&cn->queue);
    ngx_rbtree_delete(&cache->sh->rbtree, node);
    ngx_slab_free_locked(cache->shpool, node);
}


/* removes up to n expired entries from the old end */

static void
ngx_http_backend_cache_expire(ngx_http_backend_cache_t *cache, ngx_uint_t n)
{
    ngx_queue_t                    *q;
    ngx_http_backend_cache_node_t  *cn;

    while (n-- && !ngx_queue_empty(&cache->sh->queue)) {

        q = ngx_queue_last(&cache->sh->queue);
        cn = ngx_queue_data(q, ngx_http_backend_cache_node_t, queue);

        if (cn->expire == 0
            || (ngx_msec_int_t) (cn->expire - ngx_current_msec) > 0)
        {
            return;
        }

        ngx_http_backend_cache_free(cache, cn);
    }
}
