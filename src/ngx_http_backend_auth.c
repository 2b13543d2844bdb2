
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/evp.h>

#include "ngx_http_backend.h"
#include "ngx_http_backend_cache.h"
#include "ngx_http_backend_jwt.h"
#include "ngx_http_backend_redis.h"
#include "ngx_http_backend_auth_conf.h"


/*
 * The access phase of locations with backend_rpc (or backend_auth on):
 *
 *   token (Bearer, else the __session cookie)
 *     -> claims: the token cache in the session zone, else RSA verification
 *     -> context by session id and the user statement's parameters: the
 *        session zone, else Redis, else the backend_auth_user statement on
 *        Postgres, written back to both (ngx_http_backend_auth_context.c)
 *
 * A request without a valid token is anonymous; tiers are checked per call
 * by the content handler.  Nothing here fails a request for the client's
 * token: the reason goes to the log at info level.
 */


#define NGX_HTTP_BACKEND_TIER_PUBLIC     0
#define NGX_HTTP_BACKEND_TIER_PROTECTED  1
#define NGX_HTTP_BACKEND_TIER_ROLES      2

#define NGX_HTTP_BACKEND_NO_USER_UNAUTHORIZED  0
#define NGX_HTTP_BACKEND_NO_USER_FORBIDDEN     1

/* the longest token kept in the session zone (Clerk's are about 1 KB) */
#define NGX_HTTP_BACKEND_AUTH_TOKEN_KEY_MAX    4096


struct ngx_http_backend_tier_s {
    ngx_str_t                       name;
    ngx_uint_t                      kind;
    ngx_array_t                     roles;      /* of ngx_str_t */
    ngx_str_t                       message;    /* FORBIDDEN's */
    ngx_http_backend_series_t      *denials;
};


typedef struct {
    ngx_flag_t                      auth;
} ngx_http_backend_auth_loc_conf_t;


static ngx_int_t ngx_http_backend_auth_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_backend_auth_token(ngx_http_request_t *r,
    ngx_http_backend_auth_ctx_t *a,
    ngx_str_t *token);
static ngx_int_t ngx_http_backend_auth_claims(ngx_http_request_t *r,
    ngx_http_backend_auth_main_conf_t *amcf, ngx_http_backend_auth_ctx_t *a,
    ngx_str_t *token, ngx_http_backend_series_t **cache);
static ngx_int_t ngx_http_backend_auth_verify(ngx_http_request_t *r,
    ngx_http_backend_auth_main_conf_t *amcf, ngx_http_backend_auth_ctx_t *a,
    ngx_str_t *token, ngx_http_backend_jwt_rules_t *rules,
    ngx_http_backend_jwt_t *jwt);

static ngx_int_t ngx_http_backend_auth_unavailable(ngx_http_request_t *r,
    ngx_http_backend_auth_ctx_t *a, ngx_uint_t *code, ngx_str_t *message);

static ngx_int_t ngx_http_backend_auth_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_backend_auth_add_variables(ngx_conf_t *cf);
static void *ngx_http_backend_auth_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_backend_auth_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_backend_auth_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_backend_auth_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static ngx_int_t ngx_http_backend_auth_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_backend_auth_init_process(ngx_cycle_t *cycle);
static void ngx_http_backend_auth_exit_process(ngx_cycle_t *cycle);

static char *ngx_http_backend_auth_jwks(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_backend_auth_key_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_backend_auth_azp(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_backend_auth_user(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_backend_auth_no_user(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_backend_tier(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_http_backend_auth_md_free(void *data);
static char *ngx_http_backend_session_zone(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_backend_session_redis(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);


static ngx_command_t  ngx_http_backend_auth_commands[] = {

    { ngx_string("backend_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_backend_auth_loc_conf_t, auth),
      NULL },

    { ngx_string("backend_auth_jwks"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_backend_auth_jwks,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("backend_auth_jwks_url"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
      ngx_http_backend_auth_jwks_url,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("backend_auth_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_backend_auth_key_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("backend_auth_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_backend_auth_main_conf_t, issuer),
      NULL },

    { ngx_string("backend_auth_authorized_parties"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_backend_auth_azp,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("backend_auth_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_backend_auth_main_conf_t, leeway),
      NULL },

    { ngx_string("backend_auth_max_token_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_backend_auth_main_conf_t, max_size),
      NULL },

    { ngx_string("backend_auth_user"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_backend_auth_user,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("backend_auth_no_user"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_backend_auth_no_user,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("backend_tier"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_backend_tier,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("backend_session_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_backend_session_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("backend_session_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_backend_session_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_backend_auth_module_ctx = {
    ngx_http_backend_auth_add_variables,   /* preconfiguration */
    ngx_http_backend_auth_init,            /* postconfiguration */

    ngx_http_backend_auth_create_main_conf, /* create main configuration */
    ngx_http_backend_auth_init_main_conf,  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_backend_auth_create_loc_conf, /* create location configuration */
    ngx_http_backend_auth_merge_loc_conf   /* merge location configuration */
};


ngx_module_t  ngx_http_backend_auth_module = {
    NGX_MODULE_V1,
    &ngx_http_backend_auth_module_ctx,     /* module context */
    ngx_http_backend_auth_commands,        /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_backend_auth_init_process,    /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_backend_auth_exit_process,    /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


#define ngx_http_backend_auth_field(f)                                        \
    offsetof(ngx_http_backend_auth_ctx_t, f)

static ngx_http_variable_t  ngx_http_backend_auth_vars[] = {

    { ngx_string("backend_user_id"), NULL, ngx_http_backend_auth_variable,
      ngx_http_backend_auth_field(user_id), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("backend_role"), NULL, ngx_http_backend_auth_variable,
      ngx_http_backend_auth_field(role), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("backend_clerk_user_id"), NULL,
      ngx_http_backend_auth_variable,
      ngx_http_backend_auth_field(clerk_user_id), NGX_HTTP_VAR_NOCACHEABLE,
      0 },

    { ngx_string("backend_session_id"), NULL, ngx_http_backend_auth_variable,
      ngx_http_backend_auth_field(session_id), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("backend_org_id"), NULL, ngx_http_backend_auth_variable,
      ngx_http_backend_auth_field(org_id), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("backend_org_role"), NULL, ngx_http_backend_auth_variable,
      ngx_http_backend_auth_field(org_role), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("backend_auth_reason"), NULL,
      ngx_http_backend_auth_variable, (uintptr_t) -1,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_backend_auth_handler(ngx_http_request_t *r)
{
    ngx_int_t                           rc;
    ngx_str_t                           token;
    ngx_http_backend_ctx_t             *ctx;
    ngx_http_backend_series_t          *cache;
    ngx_http_backend_auth_ctx_t        *a;
    ngx_http_backend_auth_loc_conf_t   *alcf;
    ngx_http_backend_auth_main_conf_t  *amcf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_backend_auth_module);

    if (!alcf->auth) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_backend_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    a = &ctx->auth;

    if (a->done) {
        return NGX_DECLINED;
    }

    if (a->waiting || a->jwks == NGX_HTTP_BACKEND_JWKS_FETCHING
        || a->jwks == NGX_HTTP_BACKEND_JWKS_POLLING)
    {
        return NGX_AGAIN;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_backend_auth_module);

    if (!amcf->enabled) {
        a->reason = "no keys configured";
        a->done = 1;
        return NGX_DECLINED;
    }

    rc = ngx_http_backend_auth_token(r, a, &token);

    if (rc == NGX_DECLINED) {
        a->reason = "no token";
        a->done = 1;
        return NGX_DECLINED;
    }

    if (amcf->jwks_url.len) {
        rc = ngx_http_backend_auth_jwks_update(r, amcf, a, 0);

        if (rc == NGX_AGAIN) {
            return NGX_AGAIN;
        }

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    rc = ngx_http_backend_auth_claims(r, amcf, a, &token, &cache);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED && amcf->jwks_url.len
        && ngx_strcmp(a->reason, "unknown-kid") == 0)
    {
        /* keys may have rotated at the issuer: fetch them, rate-limited */

        rc = ngx_http_backend_auth_jwks_update(r, amcf, a, 1);

        if (rc == NGX_AGAIN) {
            return NGX_AGAIN;
        }

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rc = NGX_DECLINED;
    }

    /* counted once the outcome is final, not before a JWKS fetch */

    ngx_http_backend_auth_count(amcf, a, cache, rc == NGX_OK);

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "backend auth: token rejected: %s", a->reason);
        ngx_str_null(&a->clerk_user_id);
        ngx_str_null(&a->session_id);
        ngx_str_null(&a->org_id);
        ngx_str_null(&a->org_slug);
        ngx_str_null(&a->org_role);
        a->done = 1;
        return NGX_DECLINED;
    }

    a->verified = 1;

    rc = ngx_http_backend_auth_context(r, amcf, a);

    if (rc == NGX_AGAIN) {
        a->waiting = 1;
        return NGX_AGAIN;
    }

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    a->done = 1;

    return NGX_DECLINED;
}


/* Authorization: Bearer, else the __session cookie, as Clerk reads them */

static ngx_int_t
ngx_http_backend_auth_token(ngx_http_request_t *r,
    ngx_http_backend_auth_ctx_t *a, ngx_str_t *token)
{
    u_char            *p, *last;
    ngx_str_t          name;
    ngx_table_elt_t   *h;

    h = r->headers_in.authorization;

    if (h) {
        p = h->value.data;
        last = p + h->value.len;

        if (h->value.len > 7 && ngx_strncasecmp(p, (u_char *) "Bearer ", 7)
                                == 0)
        {
            p += 7;

            while (p < last && *p == ' ') {
                p++;
            }

            if (p < last) {
                token->data = p;
                token->len = last - p;
                return NGX_OK;
            }
        }
    }

    ngx_str_set(&name, "__session");

#if (nginx_version >= 1023000)
    if (ngx_http_parse_multi_header_lines(r, r->headers_in.cookie, &name,
                                          token)
        != NULL)
#else
    if (ngx_http_parse_multi_header_lines(&r->headers_in.cookies, &name,
                                          token)
        != NGX_DECLINED)
#endif
    {
        if (token->len) {
            /* ambient: the CSRF check needs to know (backend_csrf) */
            a->cookie = 1;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/*
 * Claims of a token seen before come from the session zone, keyed by the
 * token, until it expires; others pay for an RSA verification once
 */

static ngx_int_t
ngx_http_backend_auth_claims(ngx_http_request_t *r,
    ngx_http_backend_auth_main_conf_t *amcf, ngx_http_backend_auth_ctx_t *a,
    ngx_str_t *token, ngx_http_backend_series_t **cache)
{
    u_char                        *p, *q, *last;
    time_t                         left;
    ngx_int_t                      rc;
    ngx_str_t                      key, blob, kid, *f[6];
    ngx_uint_t                     i;
    ngx_http_backend_jwt_t         jwt;
    ngx_http_backend_jwt_rules_t   rules;

    *cache = NULL;

    if (amcf->max_size && token->len > amcf->max_size) {
        a->reason = "oversized";
        return NGX_DECLINED;
    }

    /* the claims a cached entry keeps: sub sid org_id org_slug org_role kid */

    f[0] = &a->clerk_user_id;
    f[1] = &a->session_id;
    f[2] = &a->org_id;
    f[3] = &a->org_slug;
    f[4] = &a->org_role;
    f[5] = &kid;

    key.len = 0;

    /*
     * the token itself is the key: the zone compares keys byte for byte,
     * so no digest (SHA-256 of a 1 KB token was the largest cost of a
     * cached request); a token longer than any Clerk issues is verified
     * every time instead of taking that much of the zone
     */

    if (amcf->cache && token->len <= NGX_HTTP_BACKEND_AUTH_TOKEN_KEY_MAX) {
        key = *token;

        rc = ngx_http_backend_cache_get(amcf->cache,
                                        NGX_HTTP_BACKEND_CACHE_TOKEN, &key,
                                        NULL, 0, r->pool, &blob);
        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_OK) {
            p = blob.data;
            last = blob.data + blob.len;

            for (i = 0; i < 6; i++) {
                f[i]->data = p;

                /* memchr(): these are read for every request with a token */

                if (p < last) {
                    q = memchr(p, '\0', last - p);
                    p = q ? q : last;
                }

                f[i]->len = p - f[i]->data;
                p++;
            }

            /* verified with a key this configuration may no longer have */

            if (ngx_http_backend_jwks_has(amcf->jwks, &kid) == NGX_OK
                || (amcf->url_jwks
                    && ngx_http_backend_jwks_has(amcf->url_jwks, &kid)
                       == NGX_OK))
            {
                a->reason = "ok (cached)";
                *cache = amcf->metrics.token_hit;
                return NGX_OK;
            }
        }

        *cache = amcf->metrics.token_miss;
    }

    rules.now = ngx_time();
    rules.leeway = amcf->leeway;
    rules.issuer = amcf->issuer;
    rules.azp = amcf->azp;
    rules.max_size = amcf->max_size;

    rc = ngx_http_backend_auth_verify(r, amcf, a, token, &rules, &jwt);
    if (rc != NGX_OK) {
        return rc;
    }

    if (jwt.sid.len == 0) {
        /* a Clerk session token always names its session */
        a->reason = "no-sid";
        return NGX_DECLINED;
    }

    a->clerk_user_id = jwt.sub;
    a->session_id = jwt.sid;
    a->org_id = jwt.org_id;
    a->org_slug = jwt.org_slug;
    a->org_role = jwt.org_role;
    kid = jwt.kid;

    left = jwt.exp + amcf->leeway - rules.now;

    if (key.len == 0 || left <= 0) {
        return NGX_OK;
    }

    blob.len = 0;

    for (i = 0; i < 6; i++) {
        blob.len += f[i]->len + 1;
    }

    blob.data = ngx_pnalloc(r->pool, blob.len);
    if (blob.data == NULL) {
        return NGX_ERROR;
    }

    p = blob.data;

    for (i = 0; i < 6; i++) {
        p = ngx_cpymem(p, f[i]->data, f[i]->len);
        *p++ = '\0';
    }

    (void) ngx_http_backend_cache_set(amcf->cache,
                                      NGX_HTTP_BACKEND_CACHE_TOKEN, &key,
                                      NULL, 0, 0, &blob,
                                      (ngx_msec_t) left * 1000);

    return NGX_OK;
}


/* the fetched keys first, then those of files */

static ngx_int_t
ngx_http_backend_auth_verify(ngx_http_request_t *r,
    ngx_http_backend_auth_main_conf_t *amcf, ngx_http_backend_auth_ctx_t *a,
    ngx_str_t *token, ngx_http_backend_jwt_rules_t *rules,
    ngx_http_backend_jwt_t *jwt)
{
    ngx_int_t  rc;

    if (amcf->url_jwks) {
        rc = ngx_http_backend_jwt_verify(r->pool, amcf->url_jwks, rules,
                                         token->data, token->len, jwt,
                                         &a->reason);

        if (rc != NGX_DECLINED || amcf->nkeys == 0
            || ngx_strcmp(a->reason, "unknown-kid") != 0)
        {
            return rc;
        }
    }

    return ngx_http_backend_jwt_verify(r->pool, amcf->jwks, rules,
                                       token->data, token->len, jwt,
                                       &a->reason);
}


void
ngx_http_backend_auth_wake(ngx_http_request_t *r)
{
    ngx_connection_t             *c;
    ngx_http_backend_ctx_t       *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_backend_module);
    ctx->auth.waiting = 0;

    if (ctx->auth.jwks == NGX_HTTP_BACKEND_JWKS_POLLING) {
        ctx->auth.jwks = NGX_HTTP_BACKEND_JWKS_NONE;
    }

    /* the phases may finish the request and free it: c is kept */

    c = r->connection;

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);

    ngx_http_run_posted_requests(c);
}


ngx_http_backend_tier_t *
ngx_http_backend_auth_tier(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_uint_t                          i;
    ngx_http_backend_tier_t            *tier;
    ngx_http_backend_auth_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_backend_auth_module);

    tier = amcf->tiers.elts;

    for (i = 0; i < amcf->tiers.nelts; i++) {
        if (tier[i].name.len == name->len
            && ngx_strncmp(tier[i].name.data, name->data, name->len) == 0)
        {
            return &tier[i];
        }
    }

    return NULL;
}


ngx_uint_t
ngx_http_backend_auth_is_public(ngx_http_backend_tier_t *tier)
{
    return tier->kind == NGX_HTTP_BACKEND_TIER_PUBLIC;
}


ngx_int_t
ngx_http_backend_auth_check(ngx_http_request_t *r,
    ngx_http_backend_tier_t *tier, ngx_uint_t *code, ngx_str_t *message)
{
    ngx_str_t                          *role;
    ngx_uint_t                          i;
    ngx_http_backend_ctx_t             *ctx;
    ngx_http_backend_auth_ctx_t        *a;
    ngx_http_backend_auth_main_conf_t  *amcf;

    if (tier->kind == NGX_HTTP_BACKEND_TIER_PUBLIC) {
        return NGX_OK;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_backend_module);
    a = &ctx->auth;

    ngx_str_null(message);

    if (a->user_id.len == 0) {
        if (a->lookup_failed) {
            return ngx_http_backend_auth_unavailable(r, a, code, message);
        }

        amcf = ngx_http_get_module_main_conf(r, ngx_http_backend_auth_module);

        ngx_http_backend_metrics_add(tier->denials, 1);

        if (a->verified && a->user.data
            && amcf->no_user == NGX_HTTP_BACKEND_NO_USER_FORBIDDEN)
        {
            *code = NGX_HTTP_BACKEND_FORBIDDEN;
            ngx_str_set(message, "no application user for this account");
            return NGX_DECLINED;
        }

        *code = NGX_HTTP_BACKEND_UNAUTHORIZED;
        return NGX_DECLINED;
    }

    if (tier->kind == NGX_HTTP_BACKEND_TIER_PROTECTED) {
        return NGX_OK;
    }

    role = tier->roles.elts;

    for (i = 0; i < tier->roles.nelts; i++) {
        if (role[i].len == a->role.len
            && ngx_strncmp(role[i].data, a->role.data, a->role.len) == 0)
        {
            return NGX_OK;
        }
    }

    ngx_http_backend_metrics_add(tier->denials, 1);

    *code = NGX_HTTP_BACKEND_FORBIDDEN;
    *message = tier->message;

    return NGX_DECLINED;
}


/* the user lookup failed: a retryable 503 (with Retry-After), or a 500 */

static ngx_int_t
ngx_http_backend_auth_unavailable(ngx_http_request_t *r,
    ngx_http_backend_auth_ctx_t *a, ngx_uint_t *code, ngx_str_t *message)
{
    ngx_table_elt_t  *h;

    if (!a->transient) {
        *code = NGX_HTTP_BACKEND_INTERNAL_SERVER_ERROR;
        ngx_str_set(message, "Could not resolve the user");
        return NGX_DECLINED;
    }

    *code = NGX_HTTP_BACKEND_SERVICE_UNAVAILABLE;
    ngx_str_set(message, "Could not resolve the user: database unavailable, "
                         "retry");

    if (!a->retry_after) {
        a->retry_after = 1;

        /* a hint only: without memory for it the answer is the same */

        h = ngx_list_push(&r->headers_out.headers);

        if (h) {
            h->hash = 1;
#if (nginx_version >= 1023000)
            h->next = NULL;
#endif
            ngx_str_set(&h->key, "Retry-After");
            ngx_str_set(&h->value, "1");
        }
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_backend_auth_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                    *s;
    ngx_http_backend_ctx_t       *ctx;
    ngx_http_backend_auth_ctx_t  *a;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_backend_module);

    if (ctx == NULL || !ctx->auth.done) {
        v->not_found = 1;
        return NGX_OK;
    }

    a = &ctx->auth;

    if (data == (uintptr_t) -1) {
        v->data = (u_char *) (a->reason ? a->reason : "");
        v->len = ngx_strlen(v->data);

    } else {
        s = (ngx_str_t *) ((u_char *) a + data);

        if (s->len == 0) {
            v->not_found = 1;
            return NGX_OK;
        }

        v->data = s->data;
        v->len = s->len;
    }

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_backend_auth_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_backend_auth_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static void *
ngx_http_backend_auth_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_backend_tier_t            *tier;
    ngx_http_backend_auth_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_backend_auth_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     amcf->issuer = { 0, NULL };
     *     amcf->azp = NULL;
     *     amcf->user_sql = { 0, NULL };
     *     amcf->cache = NULL;
     *     amcf->redis_conf = NULL;
     */

    amcf->jwks = ngx_http_backend_jwks_create(cf->pool);
    if (amcf->jwks == NULL) {
        return NULL;
    }

    if (ngx_array_init(&amcf->tiers, cf->pool, 4,
                       sizeof(ngx_http_backend_tier_t))
        != NGX_OK)
    {
        return NULL;
    }

    /* the two tiers every application has */

    tier = ngx_array_push_n(&amcf->tiers, 2);
    if (tier == NULL) {
        return NULL;
    }

    ngx_memzero(tier, 2 * sizeof(ngx_http_backend_tier_t));

    ngx_str_set(&tier[0].name, "public");
    tier[0].kind = NGX_HTTP_BACKEND_TIER_PUBLIC;
    ngx_str_set(&tier[1].name, "protected");
    tier[1].kind = NGX_HTTP_BACKEND_TIER_PROTECTED;

    amcf->leeway = NGX_CONF_UNSET;
    amcf->max_size = NGX_CONF_UNSET_SIZE;
    amcf->no_user = NGX_CONF_UNSET_UINT;
    amcf->no_user_ttl = NGX_CONF_UNSET_MSEC;

    return amcf;
}


static char *
ngx_http_backend_auth_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_backend_auth_main_conf_t *amcf = conf;

    ngx_pool_cleanup_t  *cln;

    ngx_conf_init_value(amcf->leeway, 5);
    ngx_conf_init_size_value(amcf->max_size, 8192);
    ngx_conf_init_uint_value(amcf->no_user,
                             NGX_HTTP_BACKEND_NO_USER_UNAUTHORIZED);
    ngx_conf_init_msec_value(amcf->no_user_ttl, 5000);

    if (amcf->ttl == 0) {
        amcf->ttl = 60000;
    }

    amcf->nkeys = ngx_http_backend_jwks_count(amcf->jwks);
    amcf->enabled = (amcf->nkeys > 0 || amcf->jwks_url.len);
    amcf->keys_loaded = amcf->nkeys ? ngx_time() : 0;

    if (ngx_http_backend_auth_metrics(cf, amcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (amcf->redis_conf && amcf->cache == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "backend_session_redis needs a backend_session_zone, "
                      "where invalidations Redis has not taken are kept");
        return NGX_CONF_ERROR;
    }

    /* the Redis families, and the series of backend_session_redis's link */

    if (ngx_http_backend_redis_metrics(cf, amcf->redis_conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (amcf->jwks_url.len && amcf->cache == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "backend_auth_jwks_url needs a backend_session_zone, "
                      "where the fetched keys are shared");
        return NGX_CONF_ERROR;
    }

    if (amcf->cache || amcf->redis_conf) {
        /*
         * Tokens and contexts are keyed by SHA-256 digests: fetched once
         * here, as EVP_sha256() would be fetched again (locks, getpid())
         * on every request.
         */

        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            return NGX_CONF_ERROR;
        }

        cln->handler = ngx_http_backend_auth_md_free;
        cln->data = amcf;

        amcf->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
        if (amcf->sha256 == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "EVP_MD_fetch(\"SHA256\") failed");
            return NGX_CONF_ERROR;
        }

        /* and one context, reused: EVP_Digest() allocates and wipes one */

        amcf->sha256_ctx = EVP_MD_CTX_new();
        if (amcf->sha256_ctx == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "EVP_MD_CTX_new() failed");
            return NGX_CONF_ERROR;
        }
    }

    if (amcf->user_sql.len == 0) {
        return NGX_CONF_OK;
    }

    amcf->user_server = ngx_http_backend_pg_server(cf, &amcf->user_database);

    if (amcf->user_server == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "backend_auth_user needs a database: %s%V%s in %s:%ui",
                      amcf->user_database.len ? "no backend_pg \"" : "",
                      &amcf->user_database,
                      amcf->user_database.len ? "\" is defined"
                                              : "no backend_pg is defined",
                      amcf->user_file, amcf->user_line);
        return NGX_CONF_ERROR;
    }

    amcf->user_stmt = ngx_http_backend_pg_stmt_add(cf, amcf->user_server,
                                                   &amcf->user_sql,
                                                   amcf->user_nparams);
    if (amcf->user_stmt == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* backend_auth_denials_total: every tier is configured by now */

ngx_int_t
ngx_http_backend_auth_tier_metrics(ngx_conf_t *cf,
    ngx_http_backend_auth_main_conf_t *amcf)
{
    ngx_uint_t                  i;
    ngx_http_backend_tier_t    *tier;
    ngx_http_backend_family_t  *f;

    f = ngx_http_backend_metrics_family(cf, "backend_auth_denials_total",
                                        "Calls refused by a trust tier, by "
                                        "tier.",
                                        NGX_HTTP_BACKEND_COUNTER, "tier");
    if (f == NULL) {
        return NGX_ERROR;
    }

    /* "public" refuses nobody */

    tier = amcf->tiers.elts;

    for (i = 0; i < amcf->tiers.nelts; i++) {
        if (tier[i].kind == NGX_HTTP_BACKEND_TIER_PUBLIC) {
            continue;
        }

        tier[i].denials = ngx_http_backend_metrics_series(cf, f,
                                                          &tier[i].name);
        if (tier[i].denials == NULL) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void *
ngx_http_backend_auth_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_backend_auth_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_backend_auth_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->auth = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_backend_auth_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_backend_auth_loc_conf_t *prev = parent;
    ngx_http_backend_auth_loc_conf_t *conf = child;

    ngx_http_backend_loc_conf_t  *blcf;

    if (conf->auth != NGX_CONF_UNSET) {
        return NGX_CONF_OK;
    }

    /* tRPC locations always have a context; others when asked to */

    blcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_backend_module);

    if (blcf->rpc == 1) {
        conf->auth = 1;
        return NGX_CONF_OK;
    }

    ngx_conf_merge_value(conf->auth, prev->auth, 0);

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_backend_auth_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_backend_auth_handler;

    return NGX_OK;
}


static ngx_int_t
ngx_http_backend_auth_init_process(ngx_cycle_t *cycle)
{
    ngx_http_backend_auth_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_backend_auth_module);

    if (amcf == NULL) {
        return NGX_OK;
    }

    if (amcf->enabled) {
        ngx_http_backend_auth_jwks_init(cycle, amcf);
    }

    if (amcf->redis_conf == NULL) {
        return NGX_OK;
    }

    return ngx_http_backend_auth_redis_init(cycle, amcf);
}


static void
ngx_http_backend_auth_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_backend_auth_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_backend_auth_module);

    if (amcf == NULL) {
        return;
    }

    if (amcf->redis) {
        ngx_http_backend_auth_redis_exit(amcf);
    }

    if (amcf->url_pool) {
        ngx_destroy_pool(amcf->url_pool);
        amcf->url_pool = NULL;
        amcf->url_jwks = NULL;
    }
}


static char *
ngx_http_backend_auth_jwks(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_backend_auth_main_conf_t *amcf = conf;

    ngx_str_t  *value, content, err;

    value = cf->args->elts;

    if (ngx_http_backend_read_file(cf, &value[1], &content) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_backend_jwks_add_json(amcf->jwks, content.data, content.len,
                                       &err)
        != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid JWKS in \"%V\": %V", &value[1], &err);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_backend_auth_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_backend_auth_main_conf_t *amcf = conf;

    ngx_str_t  *value, content, err, kid;

    value = cf->args->elts;

    ngx_str_null(&kid);

    if (cf->args->nelts == 3) {
        if (value[2].len <= 4 || ngx_strncmp(value[2].data, "kid=", 4) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        kid.data = value[2].data + 4;
        kid.len = value[2].len - 4;
    }

    if (ngx_http_backend_read_file(cf, &value[1], &content) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_backend_jwks_add_pem(amcf->jwks, content.data, content.len,
                                      &kid, &err)
        != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid key in \"%V\": %V", &value[1], &err);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_backend_auth_azp(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_backend_auth_main_conf_t *amcf = conf;

    ngx_str_t   *value, *s;
    ngx_uint_t   i;

    if (amcf->azp) {
        return "is duplicate";
    }

    amcf->azp = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                 sizeof(ngx_str_t));
    if (amcf->azp == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        s = ngx_array_push(amcf->azp);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }

        *s = value[i];
    }

    return NGX_CONF_OK;
}


/* backend_auth_user [database] sql: $1 Clerk user, $2 session, $3 org */

static char *
ngx_http_backend_auth_user(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_backend_auth_main_conf_t *amcf = conf;

    ngx_str_t  *value;

    if (amcf->user_sql.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 3) {
        amcf->user_database = value[1];
        amcf->user_sql = value[2];

    } else {
        amcf->user_sql = value[1];
    }

    if (ngx_http_backend_pg_sql_params(&amcf->user_sql, &amcf->user_nparams)
        != NGX_OK
        || amcf->user_nparams == 0 || amcf->user_nparams > 3)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "backend_auth_user statement must use $1 (the "
                           "Clerk user id) and may use $2 (session id) and "
                           "$3 (organization id), nothing else");
        return NGX_CONF_ERROR;
    }

    amcf->user_file = cf->conf_file->file.name.data;
    amcf->user_line = cf->conf_file->line;

    return NGX_CONF_OK;
}


/* backend_auth_no_user unauthorized|forbidden [ttl] */

static char *
ngx_http_backend_auth_no_user(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_backend_auth_main_conf_t *amcf = conf;

    ngx_str_t  *value;

    if (amcf->no_user != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "unauthorized") == 0) {
        amcf->no_user = NGX_HTTP_BACKEND_NO_USER_UNAUTHORIZED;

    } else if (ngx_strcmp(value[1].data, "forbidden") == 0) {
        amcf->no_user = NGX_HTTP_BACKEND_NO_USER_FORBIDDEN;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\": expected \"unauthorized\" "
                           "or \"forbidden\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 3) {
        amcf->no_user_ttl = ngx_parse_time(&value[2], 0);

        if (amcf->no_user_ttl == (ngx_msec_t) NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid time \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* backend_tier name role ...: a user with one of the roles passes */

static char *
ngx_http_backend_tier(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_backend_auth_main_conf_t *amcf = conf;

    u_char                   *p;
    ngx_str_t                *value, *role;
    ngx_uint_t                i;
    ngx_http_backend_tier_t  *tier;

    value = cf->args->elts;

    if (ngx_http_backend_auth_tier(cf, &value[1]) != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate tier \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < value[1].len; i++) {
        if (!ngx_http_backend_isalnum(value[1].data[i])
            && value[1].data[i] != '_' && value[1].data[i] != '-')
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid tier name \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    tier = ngx_array_push(&amcf->tiers);
    if (tier == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(tier, sizeof(ngx_http_backend_tier_t));

    tier->name = value[1];
    tier->kind = NGX_HTTP_BACKEND_TIER_ROLES;

    if (ngx_array_init(&tier->roles, cf->pool, cf->args->nelts - 2,
                       sizeof(ngx_str_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {
        role = ngx_array_push(&tier->roles);
        if (role == NULL) {
            return NGX_CONF_ERROR;
        }

        *role = value[i];
    }

    /* what the tRPC middleware of a Node backend usually throws */

    tier->message.len = value[1].len + sizeof(" tier required") - 1;
    tier->message.data = ngx_pnalloc(cf->pool, tier->message.len);
    if (tier->message.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(tier->message.data, value[1].data, value[1].len);
    ngx_memcpy(p, " tier required", sizeof(" tier required") - 1);

    return NGX_CONF_OK;
}


/* backend_session_zone name:size [ttl=60s] */

static char *
ngx_http_backend_session_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_backend_auth_main_conf_t *amcf = conf;

    u_char     *p;
    ssize_t     size;
    ngx_str_t  *value, name, s;

    if (amcf->cache) {
        return "is duplicate";
    }

    value = cf->args->elts;

    p = (u_char *) ngx_strchr(value[1].data, ':');

    if (p == NULL || p == value[1].data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone \"%V\": expected name:size",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data;
    name.len = p - value[1].data;

    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "ttl=", 4) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        s.data = value[2].data + 4;
        s.len = value[2].len - 4;

        amcf->ttl = ngx_parse_time(&s, 0);

        if (amcf->ttl == (ngx_msec_t) NGX_ERROR || amcf->ttl == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid ttl \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }
    }

    amcf->cache = ngx_http_backend_cache_add(cf, &name, size,
                                             &ngx_http_backend_auth_module);
    if (amcf->cache == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void
ngx_http_backend_auth_md_free(void *data)
{
    ngx_http_backend_auth_main_conf_t  *amcf = data;

    EVP_MD_CTX_free(amcf->sha256_ctx);
    EVP_MD_free(amcf->sha256);
}


/*
 * backend_session_redis address [timeout=100ms] [connect_timeout=1s]
 *     [user=name] [password=file] [db=n] [prefix=ngx_backend:]
 *     [outage_ttl=5s] [heartbeat=1s] [pending=1000]
 */

static char *
ngx_http_backend_session_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_backend_auth_main_conf_t *amcf = conf;

    u_char                         *p;
    ngx_int_t                       n;
    ngx_str_t                      *value, s, content;
    ngx_url_t                       u;
    ngx_uint_t                      i;
    ngx_http_backend_redis_conf_t  *rc;

    if (amcf->redis_conf) {
        return "is duplicate";
    }

    value = cf->args->elts;

    rc = ngx_pcalloc(cf->pool, sizeof(ngx_http_backend_redis_conf_t));
    if (rc == NULL) {
        return NGX_CONF_ERROR;
    }

    /*
     * A URL's credentials would sit in nginx.conf and its logs (only the
     * scheme is echoed), and hiredis 0.14 has no TLS: say what to do instead
     */

    p = ngx_strlcasestrn(value[1].data, value[1].data + value[1].len,
                         (u_char *) "://", 3 - 1);

    if (p) {
        s.data = value[1].data;
        s.len = p - value[1].data;

        if (s.len == sizeof("rediss") - 1
            && ngx_strncasecmp(s.data, (u_char *) "rediss", s.len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"rediss://\" is not supported: TLS goes "
                               "through a local stream server with "
                               "proxy_ssl on, whose address is given here "
                               "(see \"Managed services\" in "
                               "docs/deployment.md)");
            return NGX_CONF_ERROR;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V://\" URLs are not supported: give the "
                           "address as host:port, the credentials as user= "
                           "and password=file, the database as db=", &s);
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = value[1];
    u.default_port = 6379;
    u.no_resolve = 0;

    /* resolved here, once: nothing resolves names in a worker */

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid redis address \"%V\"%s%s", &value[1],
                           u.err ? ": " : "", u.err ? u.err : "");
        return NGX_CONF_ERROR;
    }

    rc->host.data = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
    if (rc->host.data == NULL) {
        return NGX_CONF_ERROR;
    }

    rc->host.len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen,
                                 rc->host.data, NGX_SOCKADDR_STRLEN, 0);
    rc->host.data[rc->host.len] = '\0';
    rc->port = ngx_inet_get_port(u.addrs[0].sockaddr);

    rc->timeout = 100;
    rc->connect_timeout = 1000;
    rc->heartbeat = 1000;
    amcf->outage_ttl = 5000;
    amcf->pending_max = 1000;
    ngx_str_set(&amcf->redis_prefix, "ngx_backend:");

    for (i = 2; i < cf->args->nelts; i++) {

        p = (u_char *) ngx_strchr(value[i].data, '=');
        if (p == NULL) {
            goto invalid;
        }

        s.data = p + 1;
        s.len = value[i].data + value[i].len - s.data;

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            rc->timeout = ngx_parse_time(&s, 0);
            if (rc->timeout == (ngx_msec_t) NGX_ERROR || rc->timeout == 0) {
                goto invalid;
            }

        } else if (ngx_strncmp(value[i].data, "connect_timeout=", 16) == 0) {
            rc->connect_timeout = ngx_parse_time(&s, 0);
            if (rc->connect_timeout == (ngx_msec_t) NGX_ERROR
                || rc->connect_timeout == 0)
            {
                goto invalid;
            }

        } else if (ngx_strncmp(value[i].data, "heartbeat=", 10) == 0) {
            rc->heartbeat = ngx_parse_time(&s, 0);
            if (rc->heartbeat == (ngx_msec_t) NGX_ERROR
                || rc->heartbeat == 0)
            {
                goto invalid;
            }

        } else if (ngx_strncmp(value[i].data, "pending=", 8) == 0) {
            n = ngx_atoi(s.data, s.len);
            if (n == NGX_ERROR || n == 0) {
                goto invalid;
            }

            amcf->pending_max = n;

        } else if (ngx_strncmp(value[i].data, "outage_ttl=", 11) == 0) {
            amcf->outage_ttl = ngx_parse_time(&s, 0);
            if (amcf->outage_ttl == (ngx_msec_t) NGX_ERROR) {
                goto invalid;
            }

        } else if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            rc->db = ngx_atoi(s.data, s.len);
            if (rc->db == NGX_ERROR) {
                goto invalid;
            }

        } else if (ngx_strncmp(value[i].data, "prefix=", 7) == 0) {
            amcf->redis_prefix = s;

        } else if (ngx_strncmp(value[i].data, "user=", 5) == 0) {
            if (s.len == 0) {
                goto invalid;
            }

            rc->user = s;

        } else if (ngx_strncmp(value[i].data, "password=", 9) == 0) {
            /* a file, so that the secret stays out of nginx.conf */

            if (ngx_http_backend_read_file(cf, &s, &content) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            while (content.len && (content.data[content.len - 1] == '\n'
                                   || content.data[content.len - 1] == '\r'))
            {
                content.len--;
            }

            /* else no AUTH at all, and a NOAUTH far from its cause */

            if (content.len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "the redis password file \"%V\" is empty",
                                   &s);
                return NGX_CONF_ERROR;
            }

            rc->password = content;

        } else {
            goto invalid;
        }
    }

    if (rc->user.len && rc->password.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "redis user=\"%V\" needs password=file "
                           "(AUTH user password)", &rc->user);
        return NGX_CONF_ERROR;
    }

    amcf->redis_channel.len = amcf->redis_prefix.len + sizeof("invalidate");
    amcf->redis_channel.data = ngx_pnalloc(cf->pool, amcf->redis_channel.len);
    if (amcf->redis_channel.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(amcf->redis_channel.data, amcf->redis_prefix.data,
                   amcf->redis_prefix.len);
    ngx_memcpy(p, "invalidate", sizeof("invalidate"));
    amcf->redis_channel.len--;

    amcf->redis_epoch.len = amcf->redis_prefix.len + sizeof("epoch") - 1;
    amcf->redis_epoch.data = ngx_pnalloc(cf->pool, amcf->redis_epoch.len);
    if (amcf->redis_epoch.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(amcf->redis_epoch.data, amcf->redis_prefix.data,
                   amcf->redis_prefix.len);
    ngx_memcpy(p, "epoch", sizeof("epoch") - 1);

    amcf->redis_conf = rc;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}
