
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/rand.h>

#include "ngx_http_backend.h"


static ngx_int_t ngx_http_backend_handler(ngx_http_request_t *r);
static u_char *ngx_http_backend_log_error(ngx_http_request_t *r,
    ngx_http_request_t *sr, u_char *buf, size_t len);
static uint64_t ngx_http_backend_mix(uint64_t z);
static void ngx_http_backend_request_id_hex(u_char *p, uint64_t x);
static ngx_int_t ngx_http_backend_init_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_backend_request_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_backend_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_backend_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_backend_log_phase(ngx_http_request_t *r);
static void ngx_http_backend_trace(ngx_http_request_t *r,
    ngx_http_backend_ctx_t *ctx);
static void *ngx_http_backend_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_backend_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_backend_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_backend_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_backend_rpc(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_backend_procedure(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_backend_procedure_item(ngx_conf_t *cf,
    ngx_command_t *dummy, void *conf);
static char *ngx_http_backend_procedure_param(ngx_conf_t *cf,
    ngx_http_backend_proc_t *proc, ngx_str_t *value);
static char *ngx_http_backend_procedure_check(ngx_conf_t *cf,
    ngx_http_backend_proc_t *proc);
static ngx_int_t ngx_http_backend_relative_path(ngx_conf_t *cf,
    ngx_str_t *name, ngx_str_t *path);
static ngx_http_backend_schema_t *ngx_http_backend_schema_load(
    ngx_conf_t *cf, ngx_str_t *path);


static ngx_conf_num_bounds_t  ngx_http_backend_max_batch_bounds = {
    ngx_conf_check_num_bounds, 1, 10000
};


static ngx_conf_enum_t  ngx_http_backend_transformers[] = {
    { ngx_string("json"), NGX_HTTP_BACKEND_TRANSFORMER_JSON },
    { ngx_string("superjson"), NGX_HTTP_BACKEND_TRANSFORMER_SUPERJSON },
    { ngx_null_string, 0 }
};


/* ctx.<field>: where each lives in the request's context */

typedef struct {
    ngx_str_t                       name;
    size_t                          offset;     /* of an ngx_str_t */
} ngx_http_backend_ctx_field_t;


#define ngx_http_backend_ctx_field(name, field)                               \
    { ngx_string(name), offsetof(ngx_http_backend_ctx_t, field) }

static ngx_http_backend_ctx_field_t  ngx_http_backend_ctx_fields[] = {
    ngx_http_backend_ctx_field("request_id", request_id),
    ngx_http_backend_ctx_field("user_id", auth.user_id),
    ngx_http_backend_ctx_field("clerk_user_id", auth.clerk_user_id),
    ngx_http_backend_ctx_field("session_id", auth.session_id),
    ngx_http_backend_ctx_field("role", auth.role),
    ngx_http_backend_ctx_field("org_id", auth.org_id),
    ngx_http_backend_ctx_field("org_slug", auth.org_slug),
    ngx_http_backend_ctx_field("org_role", auth.org_role),
    ngx_http_backend_ctx_field("user", auth.user),
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_backend_commands[] = {

    { ngx_string("backend_rpc"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_backend_rpc,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("backend_rpc_max_batch"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_backend_loc_conf_t, max_batch),
      &ngx_http_backend_max_batch_bounds },

    { ngx_string("backend_rpc_transformer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_backend_loc_conf_t, transformer),
      &ngx_http_backend_transformers },

    { ngx_string("backend_procedure"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_backend_procedure,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_backend_module_ctx = {
    ngx_http_backend_add_variables,        /* preconfiguration */
    ngx_http_backend_postconfiguration,    /* postconfiguration */

    ngx_http_backend_create_main_conf,     /* create main configuration */
    ngx_http_backend_init_main_conf,       /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_backend_create_loc_conf,      /* create location configuration */
    ngx_http_backend_merge_loc_conf        /* merge location configuration */
};


ngx_module_t  ngx_http_backend_module = {
    NGX_MODULE_V1,
    &ngx_http_backend_module_ctx,          /* module context */
    ngx_http_backend_commands,             /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_backend_init_process,         /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_backend_vars[] = {

    { ngx_string("backend_request_id"), NULL,
      ngx_http_backend_request_id_variable, 0, 0, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_backend_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_http_backend_ctx_t        *ctx;
    ngx_http_backend_loc_conf_t   *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_backend_module);

    ctx = ngx_http_backend_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method == NGX_HTTP_HEAD) {
        /* tRPC answers HEAD with 204 and no body, whatever the path */

        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        r->headers_out.status = NGX_HTTP_NO_CONTENT;
        r->header_only = 1;
        ngx_http_clear_content_length(r);

        return ngx_http_send_header(r);
    }

    if (r->method == NGX_HTTP_POST) {

        rc = ngx_http_backend_body_read(r, blcf->max_body,
                                        ngx_http_backend_body_handler);

        if (rc == NGX_DECLINED) {
            return ngx_http_backend_send_error(r,
                                           NGX_HTTP_BACKEND_PAYLOAD_TOO_LARGE,
                                           NULL);
        }

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_backend_rpc_start(r, ctx, NULL, 0);

    if (rc == NGX_DONE) {
        /* the calls finish later, from the database's events */
        r->main->count++;
    }

    return rc;
}


/*
 * The request's context, made by the first phase that needs it (the auth
 * access phase, else the content handler): the request id, the response
 * header that returns it, and the log handler that names it
 */

ngx_http_backend_ctx_t *
ngx_http_backend_get_ctx(ngx_http_request_t *r)
{
    ngx_table_elt_t               *h;
    ngx_http_backend_ctx_t        *ctx;
    ngx_http_backend_main_conf_t  *bmcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_backend_module);
    if (ctx) {
        return ctx;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_backend_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    if (ngx_http_backend_request_id(r, &ctx->request_id) != NGX_OK) {
        return NULL;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_backend_module);

    ngx_http_backend_trace(r, ctx);

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_backend_module);

    if (r->log_handler != ngx_http_backend_log_error) {
        bmcf->log_handler = r->log_handler;
        r->log_handler = ngx_http_backend_log_error;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-Request-Id");
    h->value = ctx->request_id;

    return ctx;
}


/*
 * The client's X-Request-Id when it is well-formed (1 to 128 of
 * [A-Za-z0-9._:-]), else $request_id (32 hex digits)
 */

ngx_int_t
ngx_http_backend_request_id(ngx_http_request_t *r, ngx_str_t *id)
{
    u_char                        *p, *last;
    ngx_table_elt_t               *h;
    ngx_http_backend_ctx_t        *ctx;
    ngx_http_variable_value_t     *v;
    ngx_http_backend_main_conf_t  *bmcf;

    /* a subrequest (an adapter's exchange) carries its request's id */
    r = r->main;

    ctx = ngx_http_get_module_ctx(r, ngx_http_backend_module);

    if (ctx && ctx->request_id.len) {
        *id = ctx->request_id;
        return NGX_OK;
    }

    h = ngx_http_backend_header(r, (u_char *) "X-Request-Id",
                                sizeof("X-Request-Id") - 1);

    if (h && h->value.len && h->value.len <= 128) {
        last = h->value.data + h->value.len;

        for (p = h->value.data; p < last; p++) {
            if (!(ngx_http_backend_isalnum(*p) || *p == '.' || *p == '_'
                  || *p == ':' || *p == '-'))
            {
                break;
            }
        }

        if (p == last) {
            *id = h->value;
            return NGX_OK;
        }
    }

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_backend_module);

    v = &r->variables[bmcf->request_id_index];

    if (!v->valid && !v->not_found) {

        /*
         * nginx would call RAND_bytes(), and so getpid(), for every
         * request: a syscall as costly as the response's writev() here.
         * The worker's stream gives the same form, 32 hex digits, unique
         * by its counter and random by its seed, and becomes $request_id
         * too, so access logs and X-Request-Id agree.
         */

        p = ngx_pnalloc(r->pool, 32);
        if (p == NULL) {
            return NGX_ERROR;
        }

        bmcf->rid_count++;

        ngx_http_backend_request_id_hex(p,
                          ngx_http_backend_mix(bmcf->rid_seed[0]
                                               + bmcf->rid_count));
        ngx_http_backend_request_id_hex(p + 16,
                          ngx_http_backend_mix(bmcf->rid_seed[1]
                                               ^ bmcf->rid_count));

        v->data = p;
        v->len = 32;
        v->valid = 1;
        v->no_cacheable = 0;
        v->not_found = 0;
    }

    if (v->not_found) {
        return NGX_ERROR;
    }

    id->data = v->data;
    id->len = v->len;

    return NGX_OK;
}


/*
 * W3C trace context: the client's traceparent when it is well-formed
 * ("00-" 32 hex "-" 16 hex "-" 2 hex, ids not all zeros; a later version
 * may append "-..."), else a trace started here.  Either way the request
 * gets a span id of its own, the parent of every call it makes out.
 */

static void
ngx_http_backend_trace(ngx_http_request_t *r, ngx_http_backend_ctx_t *ctx)
{
    u_char                        *p;
    ngx_uint_t                     i, zero;
    ngx_table_elt_t               *h;
    ngx_http_backend_main_conf_t  *bmcf;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_backend_module);

    /* the worker's stream again, in a part of it request ids never use */

    bmcf->rid_count++;

    ngx_http_backend_request_id_hex(ctx->span_id,
                   ngx_http_backend_mix(bmcf->rid_seed[0]
                                        ^ (bmcf->rid_count << 1 | 1)));

    h = ngx_http_backend_header(r, (u_char *) "traceparent",
                                sizeof("traceparent") - 1);

    if (h == NULL || h->value.len < 55
        || (h->value.len > 55 && h->value.data[55] != '-'))
    {
        goto start;
    }

    p = h->value.data;

    if (p[2] != '-' || p[35] != '-' || p[52] != '-'
        || (p[0] == 'f' && p[1] == 'f')
        || (p[0] == '0' && p[1] == '0' && h->value.len != 55))
    {
        goto start;
    }

    for (i = 0; i < 55; i++) {
        if (i == 2 || i == 35 || i == 52) {
            continue;
        }

        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'))) {
            goto start;
        }
    }

    for (zero = 1, i = 3; i < 35; i++) {
        zero &= (p[i] == '0');
    }

    if (zero) {
        goto start;
    }

    for (zero = 1, i = 36; i < 52; i++) {
        zero &= (p[i] == '0');
    }

    if (zero) {
        goto start;
    }

    ngx_memcpy(ctx->trace_id, p + 3, 32);
    ngx_memcpy(ctx->parent_id, p + 36, 16);
    ngx_memcpy(ctx->trace_flags, p + 53, 2);

    return;

start:

    ngx_http_backend_request_id_hex(ctx->trace_id,
                   ngx_http_backend_mix(bmcf->rid_seed[1]
                                        + (bmcf->rid_count << 1)));
    ngx_http_backend_request_id_hex(ctx->trace_id + 16,
                   ngx_http_backend_mix(bmcf->rid_seed[0]
                                        - (bmcf->rid_count << 1)));

    ngx_memzero(ctx->parent_id, 16);
    ctx->trace_flags[0] = '0';
    ctx->trace_flags[1] = '0';
}


/* splitmix64's finalizer: a bijection, so distinct counts never collide */

static uint64_t
ngx_http_backend_mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;

    return z ^ (z >> 31);
}


static void
ngx_http_backend_request_id_hex(u_char *p, uint64_t x)
{
    ngx_uint_t  i;

    /* two digits a byte: five numbers a request are written */
    static u_char  hex[] =
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
        "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
        "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
        "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
        "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
        "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
        "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
        "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

    for (i = 16; i > 0; i -= 2) {
        ngx_memcpy(&p[i - 2], &hex[(x & 0xff) * 2], 2);
        x >>= 8;
    }
}


static ngx_int_t
ngx_http_backend_init_process(ngx_cycle_t *cycle)
{
    ngx_http_backend_main_conf_t  *bmcf;

    bmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_backend_module);

    if (bmcf == NULL) {
        return NGX_OK;
    }

    if (RAND_bytes((u_char *) bmcf->rid_seed, sizeof(bmcf->rid_seed)) != 1) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0, "RAND_bytes() failed");
        return NGX_ERROR;
    }

    bmcf->rid_count = 0;

    return NGX_OK;
}


static u_char *
ngx_http_backend_log_error(ngx_http_request_t *r, ngx_http_request_t *sr,
    u_char *buf, size_t len)
{
    u_char                        *p, *last;
    ngx_http_backend_ctx_t        *ctx;
    ngx_http_backend_main_conf_t  *bmcf;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_backend_module);

    last = buf + len;

    p = bmcf->log_handler(r, sr, buf, len);

    /* an internal redirect clears module contexts */

    ctx = ngx_http_get_module_ctx(r, ngx_http_backend_module);
    if (ctx == NULL) {
        return p;
    }

    p = ngx_slprintf(p, last, ", request_id: \"%V\", trace_id: \"%*s\"",
                     &ctx->request_id, (size_t) 32, ctx->trace_id);

    if (ctx->event_id.len) {
        p = ngx_slprintf(p, last, ", svix_id: \"%V\"", &ctx->event_id);
    }

    p = ngx_slprintf(p, last, ", actor: ");

    if (ctx->auth.user_id.len) {
        return ngx_slprintf(p, last, "user:%V", &ctx->auth.user_id);
    }

    if (ctx->auth.clerk_user_id.len) {
        return ngx_slprintf(p, last, "clerk:%V", &ctx->auth.clerk_user_id);
    }

    return ngx_slprintf(p, last, "-");
}


static ngx_int_t
ngx_http_backend_request_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t  id;

    if (ngx_http_backend_request_id(r, &id) != NGX_OK) {
        return NGX_ERROR;
    }

    v->len = id.len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = id.data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_backend_add_variables(ngx_conf_t *cf)
{
    ngx_str_t                      name;
    ngx_http_variable_t           *var, *v;
    ngx_http_backend_main_conf_t  *bmcf;

    for (v = ngx_http_backend_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    bmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_backend_module);

    ngx_str_set(&name, "request_id");

    bmcf->request_id_index = ngx_http_get_variable_index(cf, &name);
    if (bmcf->request_id_index == NGX_ERROR) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_backend_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_backend_log_phase;

    return NGX_OK;
}


/* a backend_rpc request ends: its calls counted in the metrics */

static ngx_int_t
ngx_http_backend_log_phase(ngx_http_request_t *r)
{
    ngx_http_backend_ctx_t       *ctx;
    ngx_http_backend_loc_conf_t  *blcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_backend_module);

    if (ctx == NULL || ctx->counted) {
        return NGX_OK;
    }

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_backend_module);

    if (blcf->rpc != 1) {
        return NGX_OK;
    }

    ctx->counted = 1;

    ngx_http_backend_rpc_count(r, ctx);

    return NGX_OK;
}


static void *
ngx_http_backend_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_backend_main_conf_t  *bmcf;

    bmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_backend_main_conf_t));
    if (bmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     bmcf->hash = { NULL };
     */

    if (ngx_array_init(&bmcf->procs, cf->pool, 16,
                       sizeof(ngx_http_backend_proc_t))
        != NGX_OK)
    {
        return NULL;
    }

    return bmcf;
}


/* every backend_pg is known now: prepare statements, build the lookup */

static char *
ngx_http_backend_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_backend_main_conf_t *bmcf = conf;

    ngx_uint_t                nparams, i;
    ngx_array_t               keys;
    ngx_hash_key_t           *key;
    ngx_hash_init_t           hash;
    ngx_http_backend_proc_t  *proc;

    if (ngx_array_init(&keys, cf->temp_pool, bmcf->procs.nelts + 1,
                       sizeof(ngx_hash_key_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    proc = bmcf->procs.elts;

    for (i = 0; i < bmcf->procs.nelts; i++) {

        proc[i].tier_ref = ngx_http_backend_auth_tier(cf, &proc[i].tier);

        if (proc[i].tier_ref == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "procedure \"%V\" has unknown tier \"%V\" "
                          "(public, protected, or one of backend_tier) "
                          "in %s:%ui",
                          &proc[i].name, &proc[i].tier, proc[i].file,
                          proc[i].tier_line);
            return NGX_CONF_ERROR;
        }

        proc[i].public = ngx_http_backend_auth_is_public(proc[i].tier_ref);

        if (proc[i].sql.len) {
            proc[i].server = ngx_http_backend_pg_server(cf, &proc[i].database);

            if (proc[i].server == NULL) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "procedure \"%V\" needs a database: %s%V%s "
                              "in %s:%ui",
                              &proc[i].name,
                              proc[i].database.len ? "no backend_pg \"" : "",
                              &proc[i].database,
                              proc[i].database.len ? "\" is defined"
                                                   : "no backend_pg is defined",
                              proc[i].file, proc[i].database_line
                                            ? proc[i].database_line
                                            : proc[i].sql_line);
                return NGX_CONF_ERROR;
            }

            (void) ngx_http_backend_pg_sql_params(&proc[i].sql, &nparams);

            proc[i].stmt = ngx_http_backend_pg_stmt_add(cf, proc[i].server,
                                                        &proc[i].sql,
                                                        nparams);
            if (proc[i].stmt == NULL) {
                return NGX_CONF_ERROR;
            }

            /* named in the engine's check of statements at start */
            proc[i].stmt->owner = proc[i].name;
            proc[i].stmt->file = proc[i].file;
            proc[i].stmt->line = proc[i].sql_line;
        }

        key = ngx_array_push(&keys);
        if (key == NULL) {
            return NGX_CONF_ERROR;
        }

        key->key = proc[i].name;
        key->key_hash = ngx_hash_key_lc(proc[i].name.data, proc[i].name.len);
        key->value = &proc[i];
    }

    hash.hash = &bmcf->hash;
    hash.key = ngx_hash_key;
    hash.max_size = 4096;
    hash.bucket_size = ngx_align(128, ngx_cacheline_size);
    hash.name = "backend_procedure_hash";
    hash.pool = cf->pool;
    hash.temp_pool = NULL;

    if (ngx_hash_init(&hash, keys.elts, keys.nelts) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_backend_rpc_metrics(cf, bmcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_backend_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_backend_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_backend_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->max_body = 0;
     */

    conf->rpc = NGX_CONF_UNSET;
    conf->max_batch = NGX_CONF_UNSET_UINT;
    conf->transformer = NGX_CONF_UNSET_UINT;

    return conf;
}


static char *
ngx_http_backend_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_backend_loc_conf_t *prev = parent;
    ngx_http_backend_loc_conf_t *conf = child;

    /* like proxy_pass, backend_rpc is not inherited by nested locations */
    if (conf->rpc == NGX_CONF_UNSET) {
        conf->rpc = 0;
    }

    ngx_conf_merge_uint_value(conf->max_batch, prev->max_batch, 100);
    ngx_conf_merge_uint_value(conf->transformer, prev->transformer,
                              NGX_HTTP_BACKEND_TRANSFORMER_JSON);

    if (!conf->rpc) {
        return NGX_CONF_OK;
    }

    /* a too large body gets a tRPC envelope */
    conf->max_body = ngx_http_backend_body_limit(cf);

    return NGX_CONF_OK;
}


static char *
ngx_http_backend_rpc(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_backend_loc_conf_t *blcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (blcf->rpc != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    blcf->rpc = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_backend_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_backend_procedure(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_backend_main_conf_t *bmcf = conf;

    char                     *rv;
    u_char                   *p;
    ngx_str_t                *value;
    ngx_uint_t                i;
    ngx_conf_t                save;
    ngx_http_backend_proc_t  *proc;

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].len > 255) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid procedure name \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    for (p = value[1].data; p < value[1].data + value[1].len; p++) {
        if (!(ngx_http_backend_isalnum(*p)
              || *p == '.' || *p == '_' || *p == '-'))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid procedure name \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    proc = bmcf->procs.elts;

    for (i = 0; i < bmcf->procs.nelts; i++) {
        /* case-insensitively: the lookup hash folds case */
        if (proc[i].name.len == value[1].len
            && ngx_strncasecmp(proc[i].name.data, value[1].data,
                               value[1].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate procedure \"%V\", first defined "
                               "in %s:%ui", &value[1], proc[i].file,
                               proc[i].line);
            return NGX_CONF_ERROR;
        }
    }

    proc = ngx_array_push(&bmcf->procs);
    if (proc == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(proc, sizeof(ngx_http_backend_proc_t));

    proc->name = value[1];
    proc->type = NGX_CONF_UNSET_UINT;
    proc->result = NGX_CONF_UNSET_UINT;
    proc->file = cf->conf_file->file.name.data;
    proc->line = cf->conf_file->line;

    if (ngx_array_init(&proc->params, cf->pool, 4,
                       sizeof(ngx_http_backend_param_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    save = *cf;
    cf->handler = ngx_http_backend_procedure_item;
    cf->handler_conf = (char *) proc;

    rv = ngx_conf_parse(cf, NULL);

    *cf = save;

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    return ngx_http_backend_procedure_check(cf, proc);
}


static char *
ngx_http_backend_procedure_item(ngx_conf_t *cf, ngx_command_t *dummy,
    void *conf)
{
    ngx_http_backend_proc_t *proc = conf;

    ngx_str_t                *value, *name, err;
    ngx_uint_t                i, n;
    ngx_http_backend_json_t  *json;

    value = cf->args->elts;
    name = &value[0];
    n = cf->args->nelts - 1;

#define ngx_http_backend_is(s)                                                \
    (name->len == sizeof(s) - 1 && ngx_strncmp(name->data, s, name->len) == 0)

    if (ngx_http_backend_is("params")) {
        if (proc->params_line == 0) {
            proc->params_line = cf->conf_file->line;
        }

        for (i = 1; i <= n; i++) {
            if (ngx_http_backend_procedure_param(cf, proc, &value[i])
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }
        }

        return NGX_CONF_OK;
    }

    if (ngx_http_backend_is("call")) {
        return ngx_http_backend_adapter_call(cf, proc);
    }

    if (ngx_http_backend_is("invalidate")) {
        /* invalidate user|session column: the cached contexts it names */

        if (proc->invalidate) {
            goto duplicate;
        }

        if (n != 2) {
            goto invalid;
        }

        if (value[1].len == 4 && ngx_strncmp(value[1].data, "user", 4) == 0) {
            proc->invalidate = NGX_HTTP_BACKEND_INVALIDATE_USER;

        } else if (value[1].len == 7
                   && ngx_strncmp(value[1].data, "session", 7) == 0)
        {
            proc->invalidate = NGX_HTTP_BACKEND_INVALIDATE_SESSION;

        } else {
            goto invalid;
        }

        proc->invalidate_column.len = value[2].len;
        proc->invalidate_column.data = ngx_pnalloc(cf->pool, value[2].len + 1);
        if (proc->invalidate_column.data == NULL) {
            return NGX_CONF_ERROR;
        }

        *ngx_cpymem(proc->invalidate_column.data, value[2].data,
                    value[2].len) = '\0';

        if (proc->needs_sql_line == 0) {
            proc->needs_sql_line = cf->conf_file->line;
        }

        return NGX_CONF_OK;
    }

    if (n != 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid number of arguments in \"%V\"", name);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_backend_is("type")) {
        if (proc->type != NGX_CONF_UNSET_UINT) {
            goto duplicate;
        }

        if (value[1].len == 5 && ngx_strncmp(value[1].data, "query", 5) == 0) {
            proc->type = NGX_HTTP_BACKEND_QUERY;

        } else if (value[1].len == 8
                   && ngx_strncmp(value[1].data, "mutation", 8) == 0)
        {
            proc->type = NGX_HTTP_BACKEND_MUTATION;

        } else {
            goto invalid;
        }

        return NGX_CONF_OK;
    }

    if (ngx_http_backend_is("result")) {
        if (proc->result != NGX_CONF_UNSET_UINT) {
            goto duplicate;
        }

        if (value[1].len == 4 && ngx_strncmp(value[1].data, "many", 4) == 0) {
            proc->result = NGX_HTTP_BACKEND_RESULT_MANY;

        } else if (value[1].len == 3
                   && ngx_strncmp(value[1].data, "one", 3) == 0)
        {
            proc->result = NGX_HTTP_BACKEND_RESULT_ONE;

        } else if (value[1].len == 5
                   && ngx_strncmp(value[1].data, "value", 5) == 0)
        {
            proc->result = NGX_HTTP_BACKEND_RESULT_VALUE;

        } else if (value[1].len == 4
                   && ngx_strncmp(value[1].data, "none", 4) == 0)
        {
            proc->result = NGX_HTTP_BACKEND_RESULT_NONE;

        } else if (value[1].len == 4
                   && ngx_strncmp(value[1].data, "json", 4) == 0)
        {
            /* a call's answer: checked against "call" at the brace */
            proc->result = NGX_HTTP_BACKEND_RESULT_JSON;
            return NGX_CONF_OK;

        } else {
            goto invalid;
        }

        if (proc->needs_sql_line == 0) {
            proc->needs_sql_line = cf->conf_file->line;
        }

        return NGX_CONF_OK;
    }

    if (ngx_http_backend_is("tier")) {
        if (proc->tier.data) {
            goto duplicate;
        }

        for (i = 0; i < value[1].len; i++) {
            if (!(ngx_http_backend_isalnum(value[1].data[i])
                  || value[1].data[i] == '_' || value[1].data[i] == '-'))
            {
                goto invalid;
            }
        }

        proc->tier = value[1];
        proc->tier_line = cf->conf_file->line;
        return NGX_CONF_OK;
    }

    if (ngx_http_backend_is("sql")) {
        if (proc->sql.data) {
            goto duplicate;
        }

        if (value[1].len == 0) {
            goto invalid;
        }

        proc->sql = value[1];
        proc->sql_line = cf->conf_file->line;
        return NGX_CONF_OK;
    }

    if (ngx_http_backend_is("data")) {
        if (proc->data.data) {
            goto duplicate;
        }

        if (value[1].len == 8 && ngx_strncmp(value[1].data, "ctx.user", 8)
                                 == 0)
        {
            /* the auth context's user row, no query */
            proc->data_user = 1;
            proc->data_line = cf->conf_file->line;
            ngx_str_set(&proc->data, "null");
            return NGX_CONF_OK;
        }

        if (ngx_http_backend_json_parse(cf->pool, value[1].data, value[1].len,
                                        0, &json, &err)
            != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid JSON in \"data\": %V", &err);
            return NGX_CONF_ERROR;
        }

        if (ngx_http_backend_json_serialize(cf->pool, json, &proc->data)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        proc->data_line = cf->conf_file->line;
        return NGX_CONF_OK;
    }

    if (ngx_http_backend_is("input")) {
        if (proc->input.data) {
            goto duplicate;
        }

        if (ngx_http_backend_relative_path(cf, &value[1], &proc->input)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        proc->schema = ngx_http_backend_schema_load(cf, &proc->input);
        if (proc->schema == NULL) {
            return NGX_CONF_ERROR;
        }

        proc->uses_input = 1;
        return NGX_CONF_OK;
    }

    if (ngx_http_backend_is("database")) {
        if (proc->database.data) {
            goto duplicate;
        }

        proc->database = value[1];
        proc->database_line = cf->conf_file->line;

        if (proc->needs_sql_line == 0) {
            proc->needs_sql_line = cf->conf_file->line;
        }

        return NGX_CONF_OK;
    }

    if (ngx_http_backend_is("not_found")) {
        if (proc->not_found.data) {
            goto duplicate;
        }

        proc->not_found = value[1];
        return NGX_CONF_OK;
    }

#undef ngx_http_backend_is

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "unknown directive \"%V\" in backend_procedure", name);
    return NGX_CONF_ERROR;

duplicate:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" directive is duplicate",
                       name);
    return NGX_CONF_ERROR;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive",
                       &value[1], name);
    return NGX_CONF_ERROR;
}


/* input, input.a.b, ctx.user_id or $variable: always a bound parameter */

static char *
ngx_http_backend_procedure_param(ngx_conf_t *cf,
    ngx_http_backend_proc_t *proc, ngx_str_t *value)
{
    u_char                            *p, *start, *last;
    size_t                             n;
    ngx_str_t                         *seg;
    ngx_http_backend_param_t          *param;
    ngx_http_backend_ctx_field_t      *f;
    ngx_http_compile_complex_value_t   ccv;

    param = ngx_array_push(&proc->params);
    if (param == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(param, sizeof(ngx_http_backend_param_t));
    param->name = *value;

    last = value->data + value->len;

    if (value->len && value->data[0] == '$') {
        param->source = NGX_HTTP_BACKEND_PARAM_VAR;

        param->value = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
        if (param->value == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

        ccv.cf = cf;
        ccv.value = value;
        ccv.complex_value = param->value;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (value->len > 4 && ngx_strncmp(value->data, "ctx.", 4) == 0) {
        param->source = NGX_HTTP_BACKEND_PARAM_CTX;
        param->path.elts = NULL;

        for (f = ngx_http_backend_ctx_fields; f->name.len; f++) {
            if (f->name.len == value->len - 4
                && ngx_strncmp(f->name.data, value->data + 4, f->name.len)
                   == 0)
            {
                param->field = f->offset;
                return NGX_CONF_OK;
            }
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown context field \"%V\"", value);
        return NGX_CONF_ERROR;
    }

    n = 0;

    if (value->len >= 5 && ngx_strncmp(value->data, "input", 5) == 0
        && (value->len == 5 || value->data[5] == '.'))
    {
        param->source = NGX_HTTP_BACKEND_PARAM_INPUT;
        proc->uses_input = 1;
        n = 5;

    } else if (value->len >= 6 && ngx_strncmp(value->data, "answer", 6) == 0
               && (value->len == 6 || value->data[6] == '.'))
    {
        /* a field of the answer of the procedure's "call" */
        param->source = NGX_HTTP_BACKEND_PARAM_ANSWER;
        n = 6;
    }

    if (n) {
        if (ngx_array_init(&param->path, cf->pool, 2, sizeof(ngx_str_t))
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        for (p = value->data + n; p < last; /* void */) {
            start = ++p;

            while (p < last && *p != '.') {
                p++;
            }

            if (p == start) {
                goto invalid;
            }

            seg = ngx_array_push(&param->path);
            if (seg == NULL) {
                return NGX_CONF_ERROR;
            }

            seg->data = start;
            seg->len = p - start;
        }

        return NGX_CONF_OK;
    }

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\": expected input, input.field, "
                       "answer.field, ctx.field or $variable", value);
    return NGX_CONF_ERROR;
}


/*
 * Checks of the whole block, made at its closing brace: each error points
 * at the line of the directive it is about, not at the brace.
 */

static char *
ngx_http_backend_procedure_check(ngx_conf_t *cf, ngx_http_backend_proc_t *proc)
{
    ngx_int_t                  rc;
    ngx_uint_t                 n, i;
    ngx_http_backend_param_t  *param;

    if (proc->tier.data == NULL) {
        cf->conf_file->line = proc->line;
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "procedure \"%V\" has no \"tier\"", &proc->name);
        return NGX_CONF_ERROR;
    }

    if (proc->type == NGX_CONF_UNSET_UINT) {
        proc->type = NGX_HTTP_BACKEND_QUERY;
    }

    if (proc->result == NGX_HTTP_BACKEND_RESULT_JSON
        && (proc->call == NULL || proc->sql.data))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "procedure \"%V\": \"result json\" is the answer "
                           "of a \"call\" without \"sql\"", &proc->name);
        return NGX_CONF_ERROR;
    }

    param = proc->params.elts;

    for (i = 0; i < proc->params.nelts; i++) {
        if (param[i].source == NGX_HTTP_BACKEND_PARAM_ANSWER
            && (proc->call == NULL || proc->sql.data == NULL))
        {
            cf->conf_file->line = proc->params_line;
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "procedure \"%V\": \"%V\" needs a \"call\" "
                               "and \"sql\"", &proc->name, &param[i].name);
            return NGX_CONF_ERROR;
        }
    }

    if (proc->call) {
        if (proc->data.data) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "procedure \"%V\" has both \"call\" and "
                               "\"data\"", &proc->name);
            return NGX_CONF_ERROR;
        }

        if (proc->sql.data == NULL) {
            if (proc->params.nelts || proc->needs_sql_line) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "procedure \"%V\": a \"call\" without "
                                   "\"sql\" goes with \"result json\" only "
                                   "(no \"params\", \"database\", "
                                   "\"invalidate\" or another \"result\")",
                                   &proc->name);
                return NGX_CONF_ERROR;
            }

            proc->result = NGX_HTTP_BACKEND_RESULT_JSON;
            return NGX_CONF_OK;
        }

        /*
         * call, then sql: the statement runs once, after the call's
         * answer; an input it reads must have been checked before the
         * call is made, by a schema (docs/directives.md, Calls)
         */
        if (proc->uses_input && proc->schema == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "procedure \"%V\" has \"call\" and \"sql\" "
                               "and reads its input: it needs \"input\" (a "
                               "schema)", &proc->name);
            return NGX_CONF_ERROR;
        }
    }

    if (proc->sql.data && proc->data.data) {
        cf->conf_file->line = ngx_max(proc->sql_line, proc->data_line);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "procedure \"%V\" has both \"sql\" and \"data\"",
                           &proc->name);
        return NGX_CONF_ERROR;
    }

    if (proc->sql.data == NULL) {
        if (proc->params.nelts || proc->database.data || proc->invalidate
            || proc->result != NGX_CONF_UNSET_UINT)
        {
            /* the first of them */
            n = proc->params_line;

            if (proc->needs_sql_line && (n == 0 || proc->needs_sql_line < n))
            {
                n = proc->needs_sql_line;
            }

            cf->conf_file->line = n;
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "procedure \"%V\" has \"params\", \"database\", "
                               "\"invalidate\" or \"result\" but no \"sql\"",
                               &proc->name);
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (proc->result == NGX_CONF_UNSET_UINT) {
        proc->result = NGX_HTTP_BACKEND_RESULT_MANY;
    }

    rc = ngx_http_backend_pg_sql_params(&proc->sql, &n);

    if (rc == NGX_ERROR) {
        cf->conf_file->line = proc->sql_line;
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "procedure \"%V\": unterminated quote or comment "
                           "in \"sql\"", &proc->name);
        return NGX_CONF_ERROR;
    }

    if (rc == NGX_DECLINED) {
        /* Postgres could not type the missing one: every call would fail */
        cf->conf_file->line = proc->sql_line;

        if (n == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "procedure \"%V\": \"sql\" uses $0, "
                               "placeholders start at $1", &proc->name);

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "procedure \"%V\": \"sql\" does not use $%ui: "
                               "placeholders must be $1 to $N without a gap",
                               &proc->name, n);
        }

        return NGX_CONF_ERROR;
    }

    if (n != proc->params.nelts) {
        cf->conf_file->line = proc->params_line ? proc->params_line
                                                : proc->sql_line;
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "procedure \"%V\": \"sql\" uses %ui parameter%s "
                           "but \"params\" lists %ui", &proc->name, n,
                           n == 1 ? "" : "s", proc->params.nelts);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_backend_ctx_field_offset(ngx_str_t *name, size_t *offset)
{
    ngx_http_backend_ctx_field_t  *f;

    for (f = ngx_http_backend_ctx_fields; f->name.len; f++) {
        if (f->name.len == name->len
            && ngx_strncmp(f->name.data, name->data, name->len) == 0)
        {
            *offset = f->offset;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/*
 * A relative path is taken from the directory of the file that names it,
 * so that a file of procedures can be included from any nginx.conf
 */

static ngx_int_t
ngx_http_backend_relative_path(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *path)
{
    u_char     *p, *file;
    size_t      len;

    if (name->len && name->data[0] == '/') {
        *path = *name;
        return NGX_OK;
    }

    file = cf->conf_file->file.name.data;
    len = cf->conf_file->file.name.len;

    while (len && file[len - 1] != '/') {
        len--;
    }

    path->len = len + name->len;
    path->data = ngx_pnalloc(cf->pool, path->len + 1);
    if (path->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(path->data, file, len);
    p = ngx_cpymem(p, name->data, name->len);
    *p = '\0';

    return NGX_OK;
}


/* an input schema: read, parsed and compiled now, never per request */

static ngx_http_backend_schema_t *
ngx_http_backend_schema_load(ngx_conf_t *cf, ngx_str_t *path)
{
    ssize_t                     n;
    ngx_fd_t                    fd;
    ngx_str_t                   err;
    ngx_file_t                  file;
    ngx_file_info_t             fi;
    ngx_http_backend_json_t    *doc;
    ngx_http_backend_schema_t  *schema;

    fd = ngx_open_file(path->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", path);
        return NULL;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));

    file.fd = fd;
    file.name = *path;
    file.log = cf->log;

    schema = NULL;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", path);
        goto done;
    }

    err.len = ngx_file_size(&fi);
    err.data = ngx_pnalloc(cf->temp_pool, err.len + 1);
    if (err.data == NULL) {
        goto done;
    }

    n = ngx_read_file(&file, err.data, err.len, 0);
    if (n == NGX_ERROR || (size_t) n != err.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "could not read \"%V\"", path);
        goto done;
    }

    if (ngx_http_backend_json_parse(cf->pool, err.data, err.len, 0, &doc,
                                    &err)
        != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid schema \"%V\": %V",
                           path, &err);
        goto done;
    }

    schema = ngx_http_backend_schema_compile(cf->pool, doc, &err);

    if (schema == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid schema \"%V\": %V",
                           path, &err);
    }

done:

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, cf->log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", path);
    }

    return schema;
}
