
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/evp.h>

#include "ngx_http_backend.h"
#include "ngx_http_backend_cache.h"
#include "ngx_http_backend_redis.h"
#include "ngx_http_backend_auth_conf.h"


/*
 * The auth context of a verified token: what the backend_auth_user
 * statement returns for the user, the session and the organization,
 * found in the session zone, else in Redis, else asked of Postgres and
 * written back to both, under the user's and the session's generations.
 * The access phase that asks for it, and ngx_http_backend_auth_wake(),
 * which resumes a request that waited, are in ngx_http_backend_auth.c.
 */


typedef struct {
    ngx_http_request_t             *request;
    ngx_http_backend_auth_ctx_t    *auth;

    ngx_http_backend_pg_query_t     query;
    char                           *values[3];

    ngx_http_backend_redis_cmd_t    cmd;

    ngx_str_t                       key;        /* the context's */
    ngx_str_t                       deps[2];    /* user, session */

    uint64_t                        gen;        /* local, at fill start */
    ngx_str_t                       redis_gen;  /* Redis's; null: not read */

    unsigned                        pg:1;
    unsigned                        redis:1;
} ngx_http_backend_auth_fill_t;


static ngx_int_t ngx_http_backend_auth_context_key(ngx_http_request_t *r,
    ngx_http_backend_auth_main_conf_t *amcf, ngx_http_backend_auth_ctx_t *a,
    ngx_str_t *key);
static ngx_int_t ngx_http_backend_auth_redis_read(ngx_http_request_t *r,
    ngx_http_backend_auth_main_conf_t *amcf,
    ngx_http_backend_auth_fill_t *fill);
static void ngx_http_backend_auth_redis_handler(
    ngx_http_backend_redis_cmd_t *cmd, redisReply *reply);
static ngx_int_t ngx_http_backend_auth_pg_read(ngx_http_request_t *r,
    ngx_http_backend_auth_main_conf_t *amcf,
    ngx_http_backend_auth_fill_t *fill);
static void ngx_http_backend_auth_pg_handler(ngx_http_backend_pg_query_t *q);
static void ngx_http_backend_auth_lookup_failed(ngx_http_request_t *r,
    ngx_http_backend_auth_ctx_t *a, ngx_http_backend_pg_query_t *q,
    const char *when);
static ngx_int_t ngx_http_backend_auth_store(ngx_http_request_t *r,
    ngx_http_backend_auth_main_conf_t *amcf,
    ngx_http_backend_auth_fill_t *fill, ngx_str_t *blob);
static ngx_int_t ngx_http_backend_auth_parse(ngx_http_backend_auth_ctx_t *a,
    ngx_str_t *blob);
static void ngx_http_backend_auth_cleanup(void *data);
static ngx_msec_t ngx_http_backend_auth_ttl(
    ngx_http_backend_auth_main_conf_t *amcf, ngx_msec_t ttl);
static ngx_str_t *ngx_http_backend_auth_key(ngx_pool_t *pool,
    ngx_str_t *prefix, const char *kind, ngx_str_t *id);
static ngx_int_t ngx_http_backend_auth_sha256(
    ngx_http_backend_auth_main_conf_t *amcf, u_char *data, size_t len,
    u_char *digest, unsigned int *dlen);


/* a cache key: nothing runs between the calls, so one context serves */

static ngx_int_t
ngx_http_backend_auth_sha256(ngx_http_backend_auth_main_conf_t *amcf,
    u_char *data, size_t len, u_char *digest, unsigned int *dlen)
{
    if (EVP_DigestInit_ex2(amcf->sha256_ctx, amcf->sha256, NULL) != 1
        || EVP_DigestUpdate(amcf->sha256_ctx, data, len) != 1
        || EVP_DigestFinal_ex(amcf->sha256_ctx, digest, dlen) != 1)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* NGX_OK: resolved now; NGX_AGAIN: the request is woken when it is */

ngx_int_t
ngx_http_backend_auth_context(ngx_http_request_t *r,
    ngx_http_backend_auth_main_conf_t *amcf, ngx_http_backend_auth_ctx_t *a)
{
    ngx_int_t                      rc;
    ngx_str_t                      blob, key, deps[2];
    ngx_pool_cleanup_t            *cln;
    ngx_http_backend_auth_fill_t  *fill;

    if (amcf->user_stmt == NULL) {
        /* no user statement: the Clerk identity is the whole context */
        return NGX_OK;
    }

    ngx_str_null(&key);

    if (amcf->cache || amcf->redis) {
        if (ngx_http_backend_auth_context_key(r, amcf, a, &key) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    /*
     * Valid while neither the user nor the session was invalidated: both
     * are generation counters (a user id and a session id that happened to
     * be equal would share one, which invalidates more, never less)
     */

    deps[0] = a->clerk_user_id;
    deps[1] = a->session_id;

    if (amcf->cache) {
        rc = ngx_http_backend_cache_get(amcf->cache,
                                        NGX_HTTP_BACKEND_CACHE_SESSION,
                                        &key, deps, 2, r->pool, &blob);
        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_OK && ngx_http_backend_auth_parse(a, &blob) == NGX_OK) {
            a->source = "zone";
            ngx_http_backend_metrics_add(amcf->metrics.context_zone, 1);
            return NGX_OK;
        }
    }

    fill = ngx_pcalloc(r->pool, sizeof(ngx_http_backend_auth_fill_t));
    if (fill == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_backend_auth_cleanup;
    cln->data = fill;

    fill->request = r;
    fill->auth = a;
    fill->key = key;
    fill->deps[0] = deps[0];
    fill->deps[1] = deps[1];
    a->fill = fill;

    if (amcf->cache) {
        /* before any read: an invalidation from now on makes the fill stale */
        fill->gen = ngx_http_backend_cache_gen(amcf->cache, fill->deps, 2);
    }

    if (ngx_http_backend_auth_redis_usable(amcf)) {
        rc = ngx_http_backend_auth_redis_read(r, amcf, fill);

        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    return ngx_http_backend_auth_pg_read(r, amcf, fill);
}


/*
 * A context is what the user statement returns for its parameters ($1 the
 * user, $2 the session, $3 the organization), so it is keyed by all of
 * them: "<sid>:<base64url of the SHA-256 of the values used>".  A session
 * that switches its active organization keeps its sid and gets another
 * entry; the sid stays readable in the key for the operator.
 */

static ngx_int_t
ngx_http_backend_auth_context_key(ngx_http_request_t *r,
    ngx_http_backend_auth_main_conf_t *amcf, ngx_http_backend_auth_ctx_t *a,
    ngx_str_t *key)
{
    u_char        *p, *buf, digest[EVP_MAX_MD_SIZE];
    size_t         len;
    ngx_str_t     *f[3], d, b64;
    ngx_uint_t     i;
    unsigned int   dlen;

    f[0] = &a->clerk_user_id;
    f[1] = &a->session_id;
    f[2] = &a->org_id;

    len = 0;

    for (i = 0; i < amcf->user_nparams; i++) {
        len += NGX_SIZE_T_LEN + 1 + f[i]->len;
    }

    buf = ngx_pnalloc(r->pool, len);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    /* each value after its length: two lists of values never run together */

    p = buf;

    for (i = 0; i < amcf->user_nparams; i++) {
        p = ngx_sprintf(p, "%uz:", f[i]->len);
        p = ngx_cpymem(p, f[i]->data, f[i]->len);
    }

    if (ngx_http_backend_auth_sha256(amcf, buf, p - buf, digest, &dlen)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    d.data = digest;
    d.len = dlen;

    key->data = ngx_pnalloc(r->pool, a->session_id.len + 1
                                     + ngx_base64_encoded_length(dlen));
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(key->data, a->session_id.data, a->session_id.len);
    *p++ = ':';

    b64.data = p;
    ngx_encode_base64url(&b64, &d);

    key->len = p + b64.len - key->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_backend_auth_redis_read(ngx_http_request_t *r,
    ngx_http_backend_auth_main_conf_t *amcf,
    ngx_http_backend_auth_fill_t *fill)
{
    size_t        len[5];
    ngx_str_t    *ctx_key, *user_gen, *session_gen;
    const char   *argv[5];

    ctx_key = ngx_http_backend_auth_key(r->pool, &amcf->redis_prefix, "ctx:",
                                        &fill->key);
    user_gen = ngx_http_backend_auth_key(r->pool, &amcf->redis_prefix,
                                         "gen:", &fill->deps[0]);
    session_gen = ngx_http_backend_auth_key(r->pool, &amcf->redis_prefix,
                                            "gen:", &fill->deps[1]);

    if (ctx_key == NULL || user_gen == NULL || session_gen == NULL) {
        return NGX_ERROR;
    }

    argv[0] = "MGET";
    len[0] = 4;
    argv[1] = (const char *) ctx_key->data;
    len[1] = ctx_key->len;
    argv[2] = (const char *) user_gen->data;
    len[2] = user_gen->len;
    argv[3] = (const char *) session_gen->data;
    len[3] = session_gen->len;
    argv[4] = (const char *) amcf->redis_epoch.data;
    len[4] = amcf->redis_epoch.len;

    fill->cmd.handler = ngx_http_backend_auth_redis_handler;
    fill->cmd.data = fill;

    if (ngx_http_backend_redis_send(amcf->redis, &fill->cmd, 5, argv, len)
        != NGX_OK)
    {
        ngx_http_backend_metrics_add(amcf->metrics.failed_redis, 1);
        return NGX_DECLINED;
    }

    fill->redis = 1;

    return NGX_AGAIN;
}


/*
 * MGET ctx:<key> gen:<user> gen:<session> epoch: the context is Redis's if
 * it was written under the current generations of both and the current
 * epoch ("<epoch>.<user gen>:<session gen>\0<blob>", a missing counter is
 * 0), and no invalidation of the user or session is pending on this node
 */

static void
ngx_http_backend_auth_redis_handler(ngx_http_backend_redis_cmd_t *cmd,
    redisReply *reply)
{
    u_char                             *p, *last;
    size_t                              len;
    ngx_int_t                           rc;
    ngx_str_t                           gen, blob;
    ngx_uint_t                          i;
    redisReply                         *v, *g;
    ngx_http_request_t                 *r;
    ngx_http_backend_auth_fill_t       *fill;
    ngx_http_backend_auth_main_conf_t  *amcf;

    fill = cmd->data;
    fill->redis = 0;

    r = fill->request;
    amcf = ngx_http_get_module_main_conf(r, ngx_http_backend_auth_module);

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 4)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "backend auth: redis read failed: %s, using postgres",
                      reply ? "unexpected reply" : cmd->error);
        ngx_http_backend_metrics_add(amcf->metrics.failed_redis, 1);
        goto pg;
    }

    /* Redis has not taken an invalidation of this node: nothing to trust */

    if (ngx_http_backend_cache_pending_has(amcf->cache,
                                           NGX_HTTP_BACKEND_INVALIDATE_USER,
                                           &fill->deps[0])
        || ngx_http_backend_cache_pending_has(amcf->cache,
                                           NGX_HTTP_BACKEND_INVALIDATE_SESSION,
                                           &fill->deps[1]))
    {
        goto pg;
    }

    v = reply->element[0];

    len = 2;

    for (i = 1; i < 4; i++) {
        g = reply->element[i];
        len += (g->type == REDIS_REPLY_STRING) ? g->len : 1;
    }

    gen.data = ngx_pnalloc(r->pool, len);
    if (gen.data == NULL) {
        goto failed;
    }

    p = gen.data;

    /* "<epoch>.<user gen>:<session gen>" */

    for (i = 0; i < 3; i++) {
        g = reply->element[(i == 0) ? 3 : i];

        if (i) {
            *p++ = (i == 1) ? '.' : ':';
        }

        if (g->type == REDIS_REPLY_STRING) {
            p = ngx_cpymem(p, g->str, g->len);

        } else {
            *p++ = '0';
        }
    }

    gen.len = p - gen.data;

    fill->redis_gen = gen;

    if (v->type != REDIS_REPLY_STRING) {
        goto pg;
    }

    p = (u_char *) v->str;
    last = p + v->len;

    p = ngx_strlchr(p, last, '\0');

    if (p == NULL || (size_t) (p - (u_char *) v->str) != gen.len
        || ngx_strncmp(v->str, gen.data, gen.len) != 0)
    {
        /* written before the user's or the session's last invalidation */
        goto pg;
    }

    p++;

    blob.len = last - p;
    blob.data = ngx_pnalloc(r->pool, blob.len + 1);
    if (blob.data == NULL) {
        goto failed;
    }

    ngx_memcpy(blob.data, p, blob.len);
    blob.data[blob.len] = '\0';

    if (ngx_http_backend_auth_parse(fill->auth, &blob) != NGX_OK) {
        goto pg;
    }

    if (amcf->cache) {
        (void) ngx_http_backend_cache_set(amcf->cache,
                                      NGX_HTTP_BACKEND_CACHE_SESSION,
                                      &fill->key, fill->deps, 2, fill->gen,
                                      &blob,
                                      ngx_http_backend_auth_ttl(amcf,
                                          fill->auth->user_id.len
                                          ? amcf->ttl : amcf->no_user_ttl));
    }

    fill->auth->source = "redis";
    ngx_http_backend_metrics_add(amcf->metrics.context_redis, 1);

    fill->auth->done = 1;
    ngx_http_backend_auth_wake(r);
    return;

pg:

    rc = ngx_http_backend_auth_pg_read(r, amcf, fill);

    if (rc == NGX_AGAIN) {
        return;
    }

    if (rc == NGX_OK) {
        fill->auth->done = 1;
        ngx_http_backend_auth_wake(r);
        return;
    }

failed:

    fill->auth->waiting = 0;
    ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
}


static ngx_int_t
ngx_http_backend_auth_pg_read(ngx_http_request_t *r,
    ngx_http_backend_auth_main_conf_t *amcf,
    ngx_http_backend_auth_fill_t *fill)
{
    ngx_str_t                     *f[3];
    ngx_uint_t                     i;
    ngx_http_backend_auth_ctx_t   *a;

    a = fill->auth;

    f[0] = &a->clerk_user_id;
    f[1] = &a->session_id;
    f[2] = &a->org_id;

    for (i = 0; i < amcf->user_nparams; i++) {
        if (f[i]->len == 0) {
            fill->values[i] = NULL;
            continue;
        }

        fill->values[i] = ngx_pnalloc(r->pool, f[i]->len + 1);
        if (fill->values[i] == NULL) {
            return NGX_ERROR;
        }

        *ngx_cpymem(fill->values[i], f[i]->data, f[i]->len) = '\0';
    }

    fill->query.server = amcf->user_server;
    fill->query.stmt = amcf->user_stmt;
    fill->query.values = fill->values;
    fill->query.handler = ngx_http_backend_auth_pg_handler;
    fill->query.data = fill;
    fill->query.log = r->connection->log;

    if (ngx_http_backend_pg_run(&fill->query) == NGX_OK) {
        fill->pg = 1;
        return NGX_AGAIN;
    }

    ngx_http_backend_auth_lookup_failed(r, a, &fill->query, " at once");

    return NGX_OK;
}


/*
 * The user is unknown for the server's reason, not the token's: calls that
 * need a user answer 503 when the reason passes (no connection, the queue
 * full, a timeout, the server shutting down or out of resources), 500 when
 * it does not (a broken statement), so that a client never takes a
 * database outage for a sign-out; nothing is cached
 */

static void
ngx_http_backend_auth_lookup_failed(ngx_http_request_t *r,
    ngx_http_backend_auth_ctx_t *a, ngx_http_backend_pg_query_t *q,
    const char *when)
{
    u_char                             *s;
    ngx_http_backend_auth_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_backend_auth_module);
    ngx_http_backend_metrics_add(amcf->metrics.failed_database, 1);

    s = q->sqlstate;

    a->lookup_failed = 1;
    a->transient = q->status != NGX_HTTP_BACKEND_PG_SQL_ERROR
                   || ngx_strncmp(s, "08", 2) == 0    /* connection */
                   || ngx_strncmp(s, "40", 2) == 0    /* rolled back */
                   || ngx_strncmp(s, "53", 2) == 0    /* resources */
                   || ngx_strncmp(s, "57", 2) == 0    /* canceled, shutdown */
                   || ngx_strncmp(s, "58", 2) == 0    /* system error */
                   || ngx_strcmp(s, "55P03") == 0;    /* lock not available */

    a->reason = "user lookup failed";

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "backend auth: user lookup failed%s (%s%s), calls that "
                  "need a user answer %s", when,
                  q->status == NGX_HTTP_BACKEND_PG_TIMEOUT ? "timeout"
                  : q->status == NGX_HTTP_BACKEND_PG_UNAVAILABLE
                    ? "database unavailable" : "sqlstate ",
                  q->status == NGX_HTTP_BACKEND_PG_SQL_ERROR
                  ? (char *) s : "",
                  a->transient ? "503" : "500");
}


static void
ngx_http_backend_auth_pg_handler(ngx_http_backend_pg_query_t *q)
{
    int                                 col;
    u_char                             *p;
    PGresult                           *res;
    ngx_str_t                           blob, json, id, role;
    ngx_http_request_t                 *r;
    ngx_http_backend_auth_ctx_t        *a;
    ngx_http_backend_auth_fill_t       *fill;
    ngx_http_backend_auth_main_conf_t  *amcf;

    fill = q->data;
    fill->pg = 0;

    r = fill->request;
    a = fill->auth;
    amcf = ngx_http_get_module_main_conf(r, ngx_http_backend_auth_module);

    res = q->result;
    q->result = NULL;

    if (q->status != NGX_HTTP_BACKEND_PG_OK) {
        ngx_http_backend_auth_lookup_failed(r, a, q, "");
        goto done;
    }

    ngx_str_null(&id);
    ngx_str_null(&role);
    ngx_str_null(&json);

    if (PQntuples(res) > 0) {
        if (ngx_http_backend_pg_result_json(r->pool, res,
                                            NGX_HTTP_BACKEND_PG_ROW, &json)
            != NGX_OK)
        {
            goto failed;
        }

        col = PQfnumber(res, "id");
        col = (col < 0) ? 0 : col;

        id.data = (u_char *) PQgetvalue(res, 0, col);
        id.len = PQgetlength(res, 0, col);

        col = PQfnumber(res, "role");

        if (col >= 0) {
            role.data = (u_char *) PQgetvalue(res, 0, col);
            role.len = PQgetlength(res, 0, col);
        }
    }

    blob.len = a->clerk_user_id.len + id.len + role.len + json.len + 3;
    blob.data = ngx_pnalloc(r->pool, blob.len + 1);
    if (blob.data == NULL) {
        goto failed;
    }

    p = ngx_cpymem(blob.data, a->clerk_user_id.data, a->clerk_user_id.len);
    *p++ = '\0';
    p = ngx_cpymem(p, id.data, id.len);
    *p++ = '\0';
    p = ngx_cpymem(p, role.data, role.len);
    *p++ = '\0';
    p = ngx_cpymem(p, json.data, json.len);
    *p = '\0';

    if (ngx_http_backend_auth_parse(a, &blob) != NGX_OK) {
        goto failed;
    }

    if (ngx_http_backend_auth_store(r, amcf, fill, &blob) != NGX_OK) {
        goto failed;
    }

    a->source = "database";
    ngx_http_backend_metrics_add(amcf->metrics.context_database, 1);

done:

    if (res) {
        PQclear(res);
    }

    a->done = 1;
    ngx_http_backend_auth_wake(r);
    return;

failed:

    if (res) {
        PQclear(res);
    }

    a->waiting = 0;
    ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
}


/* a fresh context, to the session zone and to Redis */

static ngx_int_t
ngx_http_backend_auth_store(ngx_http_request_t *r,
    ngx_http_backend_auth_main_conf_t *amcf,
    ngx_http_backend_auth_fill_t *fill, ngx_str_t *blob)
{
    u_char                       *p;
    size_t                        len[6];
    ngx_str_t                    *key, ttl_str;
    ngx_msec_t                    ttl;
    const char                   *argv[6];
    ngx_http_backend_auth_ctx_t  *a;

    a = fill->auth;

    ttl = a->user_id.len ? amcf->ttl : amcf->no_user_ttl;

    if (amcf->cache) {
        (void) ngx_http_backend_cache_set(amcf->cache,
                                      NGX_HTTP_BACKEND_CACHE_SESSION,
                                      &fill->key, fill->deps, 2, fill->gen,
                                      blob,
                                      ngx_http_backend_auth_ttl(amcf, ttl));
    }

    if (fill->redis_gen.data == NULL || amcf->redis == NULL) {
        /* Redis was not read, so its generation is unknown: do not write */
        return NGX_OK;
    }

    /* under the generations read before the database was */

    key = ngx_http_backend_auth_key(r->pool, &amcf->redis_prefix, "ctx:",
                                    &fill->key);
    if (key == NULL) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(r->pool, fill->redis_gen.len + 1 + blob->len
                             + NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    argv[0] = "SET";
    len[0] = 3;
    argv[1] = (const char *) key->data;
    len[1] = key->len;

    argv[2] = (const char *) p;
    p = ngx_cpymem(p, fill->redis_gen.data, fill->redis_gen.len);
    *p++ = '\0';
    p = ngx_cpymem(p, blob->data, blob->len);
    len[2] = p - (u_char *) argv[2];

    ttl_str.data = p;
    ttl_str.len = ngx_sprintf(p, "%M", ttl) - p;

    argv[3] = "PX";
    len[3] = 2;
    argv[4] = (const char *) ttl_str.data;
    len[4] = ttl_str.len;

    (void) ngx_http_backend_redis_send_noreply(amcf->redis, 5, argv, len);

    return NGX_OK;
}


/* clerk_id \0 user_id \0 role \0 user JSON */

static ngx_int_t
ngx_http_backend_auth_parse(ngx_http_backend_auth_ctx_t *a, ngx_str_t *blob)
{
    u_char     *p, *q, *last;
    ngx_str_t   f[4];
    ngx_uint_t  i;

    p = blob->data;
    last = blob->data + blob->len;

    for (i = 0; i < 4; i++) {
        if (p > last) {
            return NGX_DECLINED;
        }

        f[i].data = p;

        if (p < last) {
            q = memchr(p, '\0', last - p);
            p = q ? q : last;
        }

        f[i].len = p - f[i].data;
        p++;
    }

    /* a session is one user's: anything else is not ours to trust */

    if (f[0].len != a->clerk_user_id.len
        || ngx_strncmp(f[0].data, a->clerk_user_id.data, f[0].len) != 0)
    {
        return NGX_DECLINED;
    }

    a->user_id = f[1];
    a->role = f[2];
    a->user = f[3];

    if (a->user_id.len == 0) {
        a->reason = "no app user";
    }

    return NGX_OK;
}


static void
ngx_http_backend_auth_cleanup(void *data)
{
    ngx_http_backend_auth_fill_t *fill = data;

    if (fill->pg) {
        ngx_http_backend_pg_abort(&fill->query);
        fill->pg = 0;
    }

    if (fill->query.result) {
        PQclear(fill->query.result);
        fill->query.result = NULL;
    }

    if (fill->redis) {
        ngx_http_backend_redis_cancel(&fill->cmd);
        fill->redis = 0;
    }
}


/* while Redis or its channel is down, invalidations may be missed */

static ngx_msec_t
ngx_http_backend_auth_ttl(ngx_http_backend_auth_main_conf_t *amcf,
    ngx_msec_t ttl)
{
    if (amcf->redis
        && (!ngx_http_backend_auth_redis_usable(amcf) || !amcf->subscribed))
    {
        return ngx_min(ttl, amcf->outage_ttl);
    }

    return ttl;
}


static ngx_str_t *
ngx_http_backend_auth_key(ngx_pool_t *pool, ngx_str_t *prefix,
    const char *kind, ngx_str_t *id)
{
    u_char     *p;
    size_t      len;
    ngx_str_t  *key;

    len = ngx_strlen(kind);

    key = ngx_palloc(pool, sizeof(ngx_str_t));
    if (key == NULL) {
        return NULL;
    }

    key->len = prefix->len + len + id->len;
    key->data = ngx_pnalloc(pool, key->len);
    if (key->data == NULL) {
        return NULL;
    }

    p = ngx_cpymem(key->data, prefix->data, prefix->len);
    p = ngx_cpymem(p, kind, len);
    ngx_memcpy(p, id->data, id->len);

    return key;
}
