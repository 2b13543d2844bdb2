
/*
 * Copyright (C) ngx_backend authors
 */


/*
 * CORS and CSRF for backend_rpc locations.
 *
 * CORS: nothing is allowed by default.  backend_cors_origins lists the
 * origins a browser may call the location from; their requests get
 * Access-Control-Allow-Origin (and -Credentials when allowed) on every
 * answer, errors included, and a preflight (OPTIONS with
 * Access-Control-Request-Method) is answered 204 by the location itself.
 *
 * CSRF: a browser sends the __session cookie with any request to the
 * site, even one a foreign page made with a form.  A state-changing
 * request (any method but GET, HEAD, OPTIONS) whose token came from the
 * cookie alone is refused (403 FORBIDDEN) unless it shows it was not made
 * by a form or a simple cross-site request:
 *   - Sec-Fetch-Site: same-origin or none;
 *   - Origin equal to the request's own host, or an allowed origin;
 *   - or a header a form cannot send and a cross-site page cannot send
 *     without a preflight, which only allowed origins pass:
 *     Content-Type application/json (what tRPC clients send), trpc-accept
 *     or x-trpc-source.
 * Tokens sent as Authorization: Bearer are not ambient: never refused.
 *
 * The access handler runs after the auth module's (the token's source is
 * in the auth context), so this module is listed before it in config.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_backend.h"


typedef struct {
    ngx_array_t                    *origins;    /* of ngx_str_t */
    ngx_flag_t                      credentials;
    time_t                          max_age;
    ngx_str_t                       max_age_text;
    ngx_flag_t                      csrf;

    unsigned                        any:1;      /* "*" */
} ngx_http_backend_cors_loc_conf_t;


static ngx_int_t ngx_http_backend_cors_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_backend_cors_preflight(ngx_http_request_t *r,
    ngx_http_backend_cors_loc_conf_t *cclcf, ngx_table_elt_t *origin);
static ngx_uint_t ngx_http_backend_cors_csrf_safe(ngx_http_request_t *r,
    ngx_http_backend_cors_loc_conf_t *cclcf, ngx_table_elt_t *origin);
static ngx_uint_t ngx_http_backend_cors_allowed(
    ngx_http_backend_cors_loc_conf_t *cclcf, ngx_str_t *origin);
static ngx_uint_t ngx_http_backend_cors_same_origin(ngx_http_request_t *r,
    ngx_str_t *origin);
static ngx_uint_t ngx_http_backend_cors_json(ngx_http_request_t *r);
static ngx_int_t ngx_http_backend_cors_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_backend_cors_add(ngx_http_request_t *r,
    char *key, ngx_str_t *value);
static char *ngx_http_backend_cors_origins(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static void *ngx_http_backend_cors_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_backend_cors_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static ngx_int_t ngx_http_backend_cors_init(ngx_conf_t *cf);


static ngx_command_t  ngx_http_backend_cors_commands[] = {

    { ngx_string("backend_cors_origins"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_backend_cors_origins,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("backend_cors_credentials"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_backend_cors_loc_conf_t, credentials),
      NULL },

    { ngx_string("backend_cors_max_age"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_backend_cors_loc_conf_t, max_age),
      NULL },

    { ngx_string("backend_csrf"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_backend_cors_loc_conf_t, csrf),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_backend_cors_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_backend_cors_init,            /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_backend_cors_create_loc_conf, /* create location configuration */
    ngx_http_backend_cors_merge_loc_conf   /* merge location configuration */
};


ngx_module_t  ngx_http_backend_cors_module = {
    NGX_MODULE_V1,
    &ngx_http_backend_cors_module_ctx,     /* module context */
    ngx_http_backend_cors_commands,        /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


static ngx_str_t  ngx_http_backend_cors_methods = ngx_string("GET, POST");
static ngx_str_t  ngx_http_backend_cors_headers = ngx_string(
    "authorization, content-type, trpc-accept, trpc-batch-mode, "
    "x-trpc-source, x-request-id");
static ngx_str_t  ngx_http_backend_cors_expose = ngx_string("X-Request-Id");
static ngx_str_t  ngx_http_backend_cors_none = ngx_string("-");


static ngx_int_t
ngx_http_backend_cors_handler(ngx_http_request_t *r)
{
    ngx_int_t                          rc;
    ngx_str_t                          msg;
    ngx_table_elt_t                   *origin;
    ngx_http_backend_ctx_t            *ctx;
    ngx_http_backend_loc_conf_t       *blcf;
    ngx_http_backend_cors_loc_conf_t  *cclcf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_backend_module);

    if (!blcf->rpc) {
        return NGX_DECLINED;
    }

    cclcf = ngx_http_get_module_loc_conf(r, ngx_http_backend_cors_module);

    origin = ngx_http_backend_header(r, (u_char *) "Origin", 6);

    if (r->method == NGX_HTTP_OPTIONS && origin != NULL
        && ngx_http_backend_header(r, (u_char *)
                                   "Access-Control-Request-Method", 29)
           != NULL)
    {
        return ngx_http_backend_cors_preflight(r, cclcf, origin);
    }

    if (!cclcf->csrf
        || (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_OPTIONS)))
    {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_backend_module);

    if (ctx == NULL || !ctx->auth.verified || !ctx->auth.cookie
        || ngx_http_backend_cors_csrf_safe(r, cclcf, origin))
    {
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "backend cors: cross-site request with the session cookie "
                  "refused, origin: \"%V\"",
                  origin ? &origin->value : &ngx_http_backend_cors_none);

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_str_set(&msg, "Cross-site request refused: a call authenticated by "
                "the session cookie must come from the same origin or an "
                "allowed one, or be sent as application/json");

    ngx_http_finalize_request(r, ngx_http_backend_send_error(r,
                                        NGX_HTTP_BACKEND_FORBIDDEN, &msg));

    return NGX_DONE;
}


/* a preflight is answered here, for an allowed origin or not */

static ngx_int_t
ngx_http_backend_cors_preflight(ngx_http_request_t *r,
    ngx_http_backend_cors_loc_conf_t *cclcf, ngx_table_elt_t *origin)
{
    ngx_int_t  rc;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_backend_get_ctx(r) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_backend_cors_allowed(cclcf, &origin->value)) {

        if (ngx_http_backend_cors_add(r, "Access-Control-Allow-Methods",
                                      &ngx_http_backend_cors_methods)
            != NGX_OK
            || ngx_http_backend_cors_add(r, "Access-Control-Allow-Headers",
                                         &ngx_http_backend_cors_headers)
               != NGX_OK
            || ngx_http_backend_cors_add(r, "Access-Control-Max-Age",
                                         &cclcf->max_age_text)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "backend cors: preflight from an origin not allowed: "
                      "\"%V\"", &origin->value);
    }

    r->headers_out.status = NGX_HTTP_NO_CONTENT;
    r->header_only = 1;
    ngx_http_clear_content_length(r);

    ngx_http_finalize_request(r, ngx_http_send_header(r));

    return NGX_DONE;
}


static ngx_uint_t
ngx_http_backend_cors_csrf_safe(ngx_http_request_t *r,
    ngx_http_backend_cors_loc_conf_t *cclcf, ngx_table_elt_t *origin)
{
    ngx_table_elt_t  *h;

    h = ngx_http_backend_header(r, (u_char *) "Sec-Fetch-Site", 14);

    if (h != NULL
        && ((h->value.len == 11
             && ngx_strncasecmp(h->value.data, (u_char *) "same-origin", 11)
                == 0)
            || (h->value.len == 4
                && ngx_strncasecmp(h->value.data, (u_char *) "none", 4)
                   == 0)))
    {
        return 1;
    }

    if (origin != NULL
        && (ngx_http_backend_cors_same_origin(r, &origin->value)
            || (!cclcf->any
                && ngx_http_backend_cors_allowed(cclcf, &origin->value))))
    {
        return 1;
    }

    if (ngx_http_backend_cors_json(r)
        || ngx_http_backend_header(r, (u_char *) "trpc-accept", 11) != NULL
        || ngx_http_backend_header(r, (u_char *) "x-trpc-source", 13)
           != NULL)
    {
        return 1;
    }

    return 0;
}


static ngx_uint_t
ngx_http_backend_cors_allowed(ngx_http_backend_cors_loc_conf_t *cclcf,
    ngx_str_t *origin)
{
    ngx_str_t   *o;
    ngx_uint_t   i;

    if (cclcf->any) {
        return 1;
    }

    if (cclcf->origins == NULL) {
        return 0;
    }

    o = cclcf->origins->elts;

    for (i = 0; i < cclcf->origins->nelts; i++) {
        if (o[i].len == origin->len
            && ngx_strncasecmp(o[i].data, origin->data, origin->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * Origin's host[:port] equal to Host: the scheme is not compared, as
 * behind a TLS-terminating proxy the request arrives as http
 */

static ngx_uint_t
ngx_http_backend_cors_same_origin(ngx_http_request_t *r, ngx_str_t *origin)
{
    u_char     *p, *last;
    ngx_str_t  *host;

    if (r->headers_in.host == NULL) {
        return 0;
    }

    host = &r->headers_in.host->value;

    p = ngx_strlcasestrn(origin->data, origin->data + origin->len,
                         (u_char *) "://", 3 - 1);
    if (p == NULL) {
        return 0;
    }

    p += 3;
    last = origin->data + origin->len;

    return ((size_t) (last - p) == host->len
            && ngx_strncasecmp(p, host->data, host->len) == 0);
}


/* Content-Type: application/json, with parameters or not */

static ngx_uint_t
ngx_http_backend_cors_json(ngx_http_request_t *r)
{
    u_char     *p, *last;
    ngx_str_t  *ct;

    if (r->headers_in.content_type == NULL) {
        return 0;
    }

    ct = &r->headers_in.content_type->value;
    p = ct->data;
    last = p + ct->len;

    while (p < last && *p == ' ') {
        p++;
    }

    if (last - p < 16
        || ngx_strncasecmp(p, (u_char *) "application/json", 16) != 0)
    {
        return 0;
    }

    p += 16;

    while (p < last && *p == ' ') {
        p++;
    }

    return (p == last || *p == ';');
}


static ngx_int_t
ngx_http_backend_cors_header_filter(ngx_http_request_t *r)
{
    ngx_str_t                          value;
    ngx_table_elt_t                   *origin;
    ngx_http_backend_loc_conf_t       *blcf;
    ngx_http_backend_cors_loc_conf_t  *cclcf;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_backend_module);
    cclcf = ngx_http_get_module_loc_conf(r, ngx_http_backend_cors_module);

    /* nginx's own errors in JSON (backend_error_page) are for them too */

    if ((cclcf->origins == NULL && !cclcf->any)
        || !(blcf->rpc || ngx_http_backend_error_page_location(r)))
    {
        return ngx_http_next_header_filter(r);
    }

    /* the answer depends on Origin: caches must know it */

    ngx_str_set(&value, "Origin");

    if (ngx_http_backend_cors_add(r, "Vary", &value) != NGX_OK) {
        return NGX_ERROR;
    }

    origin = ngx_http_backend_header(r, (u_char *) "Origin", 6);

    if (origin == NULL
        || !ngx_http_backend_cors_allowed(cclcf, &origin->value))
    {
        return ngx_http_next_header_filter(r);
    }

    if (cclcf->any) {
        ngx_str_set(&value, "*");

    } else {
        value = origin->value;
    }

    if (ngx_http_backend_cors_add(r, "Access-Control-Allow-Origin", &value)
        != NGX_OK
        || ngx_http_backend_cors_add(r, "Access-Control-Expose-Headers",
                                     &ngx_http_backend_cors_expose)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (cclcf->credentials) {
        ngx_str_set(&value, "true");

        if (ngx_http_backend_cors_add(r, "Access-Control-Allow-Credentials",
                                      &value)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_backend_cors_add(ngx_http_request_t *r, char *key,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value = *value;

    return NGX_OK;
}


/* backend_cors_origins * | origin ...; an origin is scheme://host[:port] */

static char *
ngx_http_backend_cors_origins(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_backend_cors_loc_conf_t *cclcf = conf;

    u_char      *p, *last;
    ngx_str_t   *value, *o;
    ngx_uint_t   i;

    if (cclcf->origins != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "*") == 0) {
        cclcf->any = 1;
        cclcf->origins = NULL;
        return NGX_CONF_OK;
    }

    cclcf->origins = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                      sizeof(ngx_str_t));
    if (cclcf->origins == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {
        p = value[i].data;
        last = p + value[i].len;

        if (value[i].len > 7
            && ngx_strncasecmp(p, (u_char *) "http://", 7) == 0)
        {
            p += 7;

        } else if (value[i].len > 8
                   && ngx_strncasecmp(p, (u_char *) "https://", 8) == 0)
        {
            p += 8;

        } else {
            p = NULL;
        }

        if (p == NULL || p == last || ngx_strlchr(p, last, '/') != NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid origin \"%V\": an origin is "
                               "http(s)://host[:port], or \"*\" alone",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        o = ngx_array_push(cclcf->origins);
        if (o == NULL) {
            return NGX_CONF_ERROR;
        }

        *o = value[i];
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_backend_cors_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_backend_cors_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_backend_cors_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->any = 0;
     *     conf->max_age_text = { 0, NULL };
     */

    conf->origins = NGX_CONF_UNSET_PTR;
    conf->credentials = NGX_CONF_UNSET;
    conf->max_age = NGX_CONF_UNSET;
    conf->csrf = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_backend_cors_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_backend_cors_loc_conf_t *prev = parent;
    ngx_http_backend_cors_loc_conf_t *conf = child;

    if (conf->origins == NGX_CONF_UNSET_PTR) {
        conf->origins = prev->origins;
        conf->any = prev->any;
    }

    if (conf->origins == NGX_CONF_UNSET_PTR) {
        conf->origins = NULL;
    }

    ngx_conf_merge_value(conf->credentials, prev->credentials, 0);
    ngx_conf_merge_sec_value(conf->max_age, prev->max_age, 600);
    ngx_conf_merge_value(conf->csrf, prev->csrf, 1);

    /* the preflight's Access-Control-Max-Age, written once here */

    if (conf->origins || conf->any) {
        conf->max_age_text.data = ngx_pnalloc(cf->pool, NGX_TIME_T_LEN);
        if (conf->max_age_text.data == NULL) {
            return NGX_CONF_ERROR;
        }

        conf->max_age_text.len = ngx_sprintf(conf->max_age_text.data, "%T",
                                             conf->max_age)
                                 - conf->max_age_text.data;
    }

    if (conf->any && conf->credentials) {
        /* browsers refuse "*" with credentials: say so at start */
        return "\"backend_cors_credentials on\" cannot be used with "
               "\"backend_cors_origins *\": list the origins";
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_backend_cors_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_backend_cors_handler;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_backend_cors_header_filter;

    return NGX_OK;
}
