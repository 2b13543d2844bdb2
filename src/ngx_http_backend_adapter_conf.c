
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_backend_adapter_int.h"


/*
 * The adapter module's configuration: backend_adapter blocks,
 * backend_adapter_zone, a procedure's "call", the state zone of the
 * breakers and rate limits, and the metrics' series
 */


static ngx_int_t ngx_http_backend_adapter_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_backend_adapter_init_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_backend_adapter_access(ngx_http_request_t *r);
static ngx_int_t ngx_http_backend_adapter_postconfiguration(ngx_conf_t *cf);
static void ngx_http_backend_adapter_refresh(ngx_event_t *ev);
static void *ngx_http_backend_adapter_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_backend_adapter_init_main_conf(ngx_conf_t *cf,
    void *conf);
static char *ngx_http_backend_adapter_block(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_backend_adapter_item(ngx_conf_t *cf,
    ngx_command_t *dummy, void *conf);
static char *ngx_http_backend_adapter_zone(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_backend_adapter_metrics(ngx_conf_t *cf,
    ngx_http_backend_adapter_t *a);
static ngx_int_t ngx_http_backend_adapter_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_backend_adapter_path(ngx_conf_t *cf, u_char *p,
    u_char *last, ngx_array_t *path);
static char *ngx_http_backend_adapter_call_parse(ngx_conf_t *cf,
    ngx_http_backend_proc_t *proc, char *root,
    ngx_http_backend_adapter_call_t **pcc);



char *ngx_http_backend_adapter_outcomes[] = {
    "ok", "timeout", "error", "5xx", "429", "4xx", "malformed",
    "breaker_open", "rate_limited", "budget", "degraded"
};


static ngx_command_t  ngx_http_backend_adapter_commands[] = {

    { ngx_string("backend_adapter"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_backend_adapter_block,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("backend_adapter_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_backend_adapter_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_backend_adapter_module_ctx = {
    ngx_http_backend_adapter_add_variables, /* preconfiguration */
    ngx_http_backend_adapter_postconfiguration, /* postconfiguration */

    ngx_http_backend_adapter_create_main_conf, /* create main configuration */
    ngx_http_backend_adapter_init_main_conf, /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_backend_adapter_module = {
    NGX_MODULE_V1,
    &ngx_http_backend_adapter_module_ctx,  /* module context */
    ngx_http_backend_adapter_commands,     /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_backend_adapter_init_process, /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_backend_adapter_vars[] = {

    { ngx_string("backend_adapter_uri"), NULL,
      ngx_http_backend_adapter_uri_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/*
 * The breakers' and rate limits' state: a slot per adapter, found again
 * by name after a reload (old workers still use it while they finish)
 */

static ngx_int_t
ngx_http_backend_adapter_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_backend_adapter_main_conf_t *oamcf = data;

    ngx_uint_t                             i, j, free;
    ngx_slab_pool_t                       *shpool;
    ngx_http_backend_adapter_t            *a;
    ngx_http_backend_adapter_sh_t         *sh;
    ngx_http_backend_adapter_state_t      *s;
    ngx_http_backend_adapter_main_conf_t  *amcf;

    amcf = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (oamcf) {
        sh = oamcf->sh;

    } else if (shm_zone->shm.exists) {
        sh = shpool->data;

    } else {
        sh = ngx_slab_calloc(shpool, sizeof(ngx_http_backend_adapter_sh_t));
        if (sh == NULL) {
            return NGX_ERROR;
        }

        shpool->data = sh;
    }

    amcf->shpool = shpool;
    amcf->sh = sh;

    a = amcf->adapters.elts;

    for (i = 0; i < amcf->adapters.nelts; i++) {
        free = NGX_HTTP_BACKEND_ADAPTER_STATES;

        for (j = 0; j < NGX_HTTP_BACKEND_ADAPTER_STATES; j++) {
            s = &sh->states[j];

            if (s->len == a[i].name.len
                && ngx_strncmp(s->name, a[i].name.data, s->len) == 0)
            {
                break;
            }

            if (s->len == 0 && free == NGX_HTTP_BACKEND_ADAPTER_STATES) {
                free = j;
            }
        }

        if (j == NGX_HTTP_BACKEND_ADAPTER_STATES) {
            if (free == NGX_HTTP_BACKEND_ADAPTER_STATES) {
                /* slots of adapters no longer declared are taken back */
                for (j = 0; j < NGX_HTTP_BACKEND_ADAPTER_STATES; j++) {
                    ngx_memzero(&sh->states[j],
                                sizeof(ngx_http_backend_adapter_state_t));
                }

                free = 0;
            }

            j = free;
            s = &sh->states[j];
            ngx_memzero(s, sizeof(ngx_http_backend_adapter_state_t));
            ngx_memcpy(s->name, a[i].name.data, a[i].name.len);
            s->len = a[i].name.len;
        }

        a[i].state = &sh->states[j];
    }

    return NGX_OK;
}


/*
 * backend_adapter_breaker_state: each worker reads the node's breakers
 * every second, so that a worker that has not called an adapter lately
 * does not show an old state (the gauge is the largest worker's)
 */

static ngx_int_t
ngx_http_backend_adapter_init_process(ngx_cycle_t *cycle)
{
    ngx_http_backend_adapter_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle,
                                              ngx_http_backend_adapter_module);

    if (amcf == NULL || amcf->sh == NULL) {
        return NGX_OK;
    }

    amcf->refresh.handler = ngx_http_backend_adapter_refresh;
    amcf->refresh.data = amcf;
    amcf->refresh.log = cycle->log;
    amcf->refresh.cancelable = 1;

    ngx_http_backend_adapter_refresh(&amcf->refresh);

    return NGX_OK;
}


static void
ngx_http_backend_adapter_refresh(ngx_event_t *ev)
{
    ngx_http_backend_adapter_main_conf_t *amcf = ev->data;

    ngx_uint_t                   i, state;
    ngx_http_backend_adapter_t  *a;

    static ngx_uint_t  values[] = { 0, 2, 1 };

    a = amcf->adapters.elts;

    for (i = 0; i < amcf->adapters.nelts; i++) {
        if (a[i].state == NULL || a[i].breaker.failures == 0) {
            continue;
        }

        ngx_shmtx_lock(&amcf->shpool->mutex);
        state = a[i].state->breaker.state;
        ngx_shmtx_unlock(&amcf->shpool->mutex);

        ngx_http_backend_metrics_set(a[i].breaker_state, values[state]);
    }

    if (!ngx_exiting) {
        ngx_add_timer(ev, 1000);
    }
}


static void *
ngx_http_backend_adapter_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_backend_adapter_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_backend_adapter_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&amcf->adapters, cf->pool, 4,
                       sizeof(ngx_http_backend_adapter_t))
        != NGX_OK)
    {
        return NULL;
    }

    return amcf;
}


/*
 * After the http block: each procedure's call finds its adapter, the
 * state zone is sized for the adapters, the metrics are declared
 */

static char *
ngx_http_backend_adapter_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_backend_adapter_main_conf_t *amcf = conf;

    ngx_str_t                      name;
    ngx_uint_t                     i, j;
    ngx_http_backend_proc_t       *proc;
    ngx_http_backend_adapter_t    *a;
    ngx_http_backend_main_conf_t  *bmcf;

    bmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_backend_module);
    a = amcf->adapters.elts;
    proc = bmcf->procs.elts;

    for (i = 0; i < bmcf->procs.nelts; i++) {
        if (proc[i].call == NULL) {
            continue;
        }

        for (j = 0; j < amcf->adapters.nelts; j++) {
            if (a[j].name.len == proc[i].call->name.len
                && ngx_strncmp(a[j].name.data, proc[i].call->name.data,
                               a[j].name.len)
                   == 0)
            {
                proc[i].call->adapter = &a[j];
                break;
            }
        }

        if (proc[i].call->adapter == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "procedure \"%V\" calls unknown adapter \"%V\" "
                          "in %s:%ui", &proc[i].name, &proc[i].call->name,
                          proc[i].file, proc[i].call->line);
            return NGX_CONF_ERROR;
        }

        if (proc[i].call->key.nelts
            && proc[i].call->adapter->idempotency.len == 0)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "procedure \"%V\": \"key=\" of its call needs "
                          "\"idempotency header=\" in adapter \"%V\" "
                          "in %s:%ui", &proc[i].name, &proc[i].call->name,
                          proc[i].file, proc[i].call->line);
            return NGX_CONF_ERROR;
        }

        /*
         * call, then sql: a client that sends the procedure again (the
         * statement failed, the answer was lost) makes the call again; a
         * POST or PATCH must then carry the client's key, so that the API
         * takes it once
         */

        if (proc[i].sql.len
            && (proc[i].call->method & (NGX_HTTP_POST|NGX_HTTP_PATCH))
            && proc[i].call->key.nelts == 0)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "procedure \"%V\": a %V call followed by \"sql\" "
                          "needs \"key=input.field\" (the client's "
                          "idempotency key) in %s:%ui", &proc[i].name,
                          &proc[i].call->method_name, proc[i].file,
                          proc[i].call->line);
            return NGX_CONF_ERROR;
        }
    }

    for (j = 0; j < amcf->adapters.nelts; j++) {
        if (a[j].stale && amcf->cache == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "adapter \"%V\" has \"degraded stale=\", which "
                          "needs \"backend_adapter_zone\", in %s:%ui",
                          &a[j].name, a[j].file, a[j].line);
            return NGX_CONF_ERROR;
        }

        if (ngx_http_backend_adapter_metrics(cf, &a[j]) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (amcf->adapters.nelts == 0) {
        return NGX_CONF_OK;
    }

    ngx_str_set(&name, "backend_adapter_state");

    amcf->state_zone = ngx_shared_memory_add(cf, &name,
                                     8 * ngx_pagesize
                                     + sizeof(ngx_http_backend_adapter_sh_t),
                                     &ngx_http_backend_adapter_module);
    if (amcf->state_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    amcf->state_zone->init = ngx_http_backend_adapter_init_zone;
    amcf->state_zone->data = amcf;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_backend_adapter_metrics(ngx_conf_t *cf, ngx_http_backend_adapter_t *a)
{
    ngx_str_t                   values[2];
    ngx_uint_t                  i;
    ngx_http_backend_family_t  *f;

    static char  *states[] = { "closed", "open", "half_open" };

    values[0] = a->name;

    f = ngx_http_backend_metrics_family(cf, "backend_adapter_calls_total",
                                        "Calls to external APIs by adapter "
                                        "and outcome.",
                                        NGX_HTTP_BACKEND_COUNTER,
                                        "adapter,outcome");
    if (f == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_BACKEND_ADAPTER_OUTCOMES; i++) {
        values[1].data = (u_char *) ngx_http_backend_adapter_outcomes[i];
        values[1].len = ngx_strlen(values[1].data);

        a->calls[i] = ngx_http_backend_metrics_series(cf, f, values);
        if (a->calls[i] == NULL) {
            return NGX_ERROR;
        }

        /* the families are the same for every adapter from the start */
        a->calls[i]->always = 1;
    }

    f = ngx_http_backend_metrics_family(cf, "backend_adapter_attempts_total",
                                        "Exchanges with external APIs by "
                                        "adapter and result.",
                                        NGX_HTTP_BACKEND_COUNTER,
                                        "adapter,result");
    if (f == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_BACKEND_ADAPTER_ATTEMPTS; i++) {
        values[1].data = (u_char *) ngx_http_backend_adapter_outcomes[i];
        values[1].len = ngx_strlen(values[1].data);

        a->attempts[i] = ngx_http_backend_metrics_series(cf, f, values);
        if (a->attempts[i] == NULL) {
            return NGX_ERROR;
        }

        a->attempts[i]->always = 1;
    }

    f = ngx_http_backend_metrics_duration(cf,
                                          "backend_adapter_duration_seconds",
                                          "Calls to external APIs, retries "
                                          "and waits included.", "adapter");
    if (f == NULL) {
        return NGX_ERROR;
    }

    a->duration = ngx_http_backend_metrics_series(cf, f, values);
    if (a->duration == NULL) {
        return NGX_ERROR;
    }

    f = ngx_http_backend_metrics_family(cf, "backend_adapter_breaker_state",
                                        "Adapters' breakers: 0 closed, "
                                        "1 half-open, 2 open.",
                                        NGX_HTTP_BACKEND_GAUGE_MAX,
                                        "adapter");
    if (f == NULL) {
        return NGX_ERROR;
    }

    a->breaker_state = ngx_http_backend_metrics_series(cf, f, values);
    if (a->breaker_state == NULL) {
        return NGX_ERROR;
    }

    a->breaker_state->always = 1;

    f = ngx_http_backend_metrics_family(cf,
                                    "backend_adapter_breaker_transitions_total",
                                    "Adapters' breakers' transitions by the "
                                    "state entered.",
                                    NGX_HTTP_BACKEND_COUNTER, "adapter,to");
    if (f == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < 3; i++) {
        values[1].data = (u_char *) states[i];
        values[1].len = ngx_strlen(values[1].data);

        a->transitions[i] = ngx_http_backend_metrics_series(cf, f, values);
        if (a->transitions[i] == NULL) {
            return NGX_ERROR;
        }

        a->transitions[i]->always = 1;
    }

    f = ngx_http_backend_metrics_family(cf, "backend_adapter_degraded_total",
                                        "Queries answered with the last good "
                                        "answer, by adapter and reason.",
                                        NGX_HTTP_BACKEND_COUNTER,
                                        "adapter,reason");
    if (f == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_BACKEND_ADAPTER_DEGRADED; i++) {
        if (!ngx_http_backend_adapter_degradable(i)) {
            continue;
        }

        values[1].data = (u_char *) ngx_http_backend_adapter_outcomes[i];
        values[1].len = ngx_strlen(values[1].data);

        a->degraded[i] = ngx_http_backend_metrics_series(cf, f, values);
        if (a->degraded[i] == NULL) {
            return NGX_ERROR;
        }

        a->degraded[i]->always = 1;
    }

    return NGX_OK;
}


static char *
ngx_http_backend_adapter_block(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_backend_adapter_main_conf_t *amcf = conf;

    char                        *rv;
    u_char                      *p;
    ngx_str_t                   *value;
    ngx_uint_t                   i;
    ngx_conf_t                   save;
    ngx_http_backend_adapter_t  *a;

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].len > NGX_HTTP_BACKEND_ADAPTER_NAME_MAX)
    {
        goto invalid;
    }

    for (p = value[1].data; p < value[1].data + value[1].len; p++) {
        if (!(ngx_http_backend_isalnum(*p) || *p == '_' || *p == '-')) {
            goto invalid;
        }
    }

    a = amcf->adapters.elts;

    for (i = 0; i < amcf->adapters.nelts; i++) {
        if (a[i].name.len == value[1].len
            && ngx_strncmp(a[i].name.data, value[1].data, value[1].len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate adapter \"%V\", first defined "
                               "in %s:%ui", &value[1], a[i].file, a[i].line);
            return NGX_CONF_ERROR;
        }
    }

    a = ngx_array_push(&amcf->adapters);
    if (a == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(a, sizeof(ngx_http_backend_adapter_t));

    a->name = value[1];
    a->timeout = NGX_CONF_UNSET_MSEC;
    a->budget = NGX_CONF_UNSET_MSEC;
    a->retries = NGX_CONF_UNSET_UINT;
    a->file = cf->conf_file->file.name.data;
    a->line = cf->conf_file->line;

    save = *cf;
    cf->handler = ngx_http_backend_adapter_item;
    cf->handler_conf = (char *) a;

    rv = ngx_conf_parse(cf, NULL);

    *cf = save;

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (a->location.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "adapter \"%V\" has no \"location\"", &a->name);
        return NGX_CONF_ERROR;
    }

    ngx_conf_init_msec_value(a->timeout, 2000);
    ngx_conf_init_msec_value(a->budget, 5000);

    if (a->retries == NGX_CONF_UNSET_UINT) {
        a->retries = 0;
    }

    if (a->retry_on == 0) {
        a->retry_on = NGX_HTTP_BACKEND_RETRY_TIMEOUT
                      |NGX_HTTP_BACKEND_RETRY_ERROR
                      |NGX_HTTP_BACKEND_RETRY_429
                      |NGX_HTTP_BACKEND_RETRY_502
                      |NGX_HTTP_BACKEND_RETRY_503
                      |NGX_HTTP_BACKEND_RETRY_504;
    }

    if (a->backoff == 0) {
        a->backoff = 100;
    }

    if (a->backoff_max == 0) {
        a->backoff_max = 1000;
    }

    if (a->timeout > a->budget) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "adapter \"%V\": \"timeout\" %Mms is longer than "
                           "\"budget\" %Mms", &a->name, a->timeout,
                           a->budget);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid adapter name \"%V\" (1 to %d of "
                       "[A-Za-z0-9_-])", &value[1],
                       NGX_HTTP_BACKEND_ADAPTER_NAME_MAX);
    return NGX_CONF_ERROR;
}


/* name=value: the value, or NULL */

static ngx_str_t *
ngx_http_backend_adapter_kv(ngx_str_t *arg, char *name, ngx_str_t *out)
{
    size_t  len;

    len = ngx_strlen(name);

    if (arg->len > len + 1 && ngx_strncmp(arg->data, name, len) == 0
        && arg->data[len] == '=')
    {
        out->data = arg->data + len + 1;
        out->len = arg->len - len - 1;
        return out;
    }

    return NULL;
}


static char *
ngx_http_backend_adapter_item(ngx_conf_t *cf, ngx_command_t *dummy,
    void *conf)
{
    ngx_http_backend_adapter_t *a = conf;

    u_char      *p, *last, *start;
    ngx_int_t    n;
    ngx_str_t   *value, *name, v, tok;
    ngx_uint_t   i, nargs;
    ngx_msec_t   ms;

    value = cf->args->elts;
    name = &value[0];
    nargs = cf->args->nelts - 1;

#define ngx_http_backend_is(s)                                                \
    (name->len == sizeof(s) - 1 && ngx_strncmp(name->data, s, name->len) == 0)

    if (nargs == 0) {
        goto args;
    }

    if (ngx_http_backend_is("location")) {
        if (a->location.len) {
            goto duplicate;
        }

        if (nargs != 1 || value[1].data[0] != '/') {
            goto invalid;
        }

        a->location = value[1];
        return NGX_CONF_OK;
    }

    if (ngx_http_backend_is("timeout") || ngx_http_backend_is("budget")) {
        if (nargs != 1) {
            goto args;
        }

        ms = ngx_parse_time(&value[1], 0);
        if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
            goto invalid;
        }

        if (name->data[0] == 't') {
            if (a->timeout != NGX_CONF_UNSET_MSEC) {
                goto duplicate;
            }

            a->timeout = ms;

        } else {
            if (a->budget != NGX_CONF_UNSET_MSEC) {
                goto duplicate;
            }

            a->budget = ms;
        }

        return NGX_CONF_OK;
    }

    if (ngx_http_backend_is("retries")) {
        if (a->retries != NGX_CONF_UNSET_UINT) {
            goto duplicate;
        }

        n = ngx_atoi(value[1].data, value[1].len);
        if (n == NGX_ERROR || n > 10) {
            goto invalid;
        }

        a->retries = n;

        for (i = 2; i <= nargs; i++) {
            if (ngx_http_backend_adapter_kv(&value[i], "on", &v)) {
                last = v.data + v.len;

                for (p = v.data; p < last; p++) {
                    start = p;
                    while (p < last && *p != ',') {
                        p++;
                    }

                    tok.data = start;
                    tok.len = p - start;

#define ngx_http_backend_tok(s)                                               \
    (tok.len == sizeof(s) - 1 && ngx_strncmp(tok.data, s, tok.len) == 0)

                    if (ngx_http_backend_tok("timeout")) {
                        a->retry_on |= NGX_HTTP_BACKEND_RETRY_TIMEOUT;

                    } else if (ngx_http_backend_tok("error")) {
                        a->retry_on |= NGX_HTTP_BACKEND_RETRY_ERROR;

                    } else if (ngx_http_backend_tok("429")) {
                        a->retry_on |= NGX_HTTP_BACKEND_RETRY_429;

                    } else if (ngx_http_backend_tok("500")) {
                        a->retry_on |= NGX_HTTP_BACKEND_RETRY_500;

                    } else if (ngx_http_backend_tok("502")) {
                        a->retry_on |= NGX_HTTP_BACKEND_RETRY_502;

                    } else if (ngx_http_backend_tok("503")) {
                        a->retry_on |= NGX_HTTP_BACKEND_RETRY_503;

                    } else if (ngx_http_backend_tok("504")) {
                        a->retry_on |= NGX_HTTP_BACKEND_RETRY_504;

                    } else if (ngx_http_backend_tok("5xx")) {
                        a->retry_on |= NGX_HTTP_BACKEND_RETRY_5XX;

                    } else {
                        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                           "invalid \"on=\" value \"%V\" "
                                           "(timeout, error, 429, 500, 502, "
                                           "503, 504, 5xx)", &tok);
                        return NGX_CONF_ERROR;
                    }

#undef ngx_http_backend_tok
                }

                continue;
            }

            if (ngx_http_backend_adapter_kv(&value[i], "backoff", &v)
                || ngx_http_backend_adapter_kv(&value[i], "max", &v))
            {
                ms = ngx_parse_time(&v, 0);
                if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
                    goto invalid_arg;
                }

                if (value[i].data[0] == 'b') {
                    a->backoff = ms;

                } else {
                    a->backoff_max = ms;
                }

                continue;
            }

            if (ngx_http_backend_adapter_kv(&value[i], "jitter", &v)) {
                if (v.len == 4 && ngx_strncmp(v.data, "full", 4) == 0) {
                    a->jitter = NGX_HTTP_BACKEND_JITTER_FULL;

                } else if (v.len == 4 && ngx_strncmp(v.data, "none", 4) == 0)
                {
                    a->jitter = NGX_HTTP_BACKEND_JITTER_NONE;

                } else {
                    goto invalid_arg;
                }

                continue;
            }

            goto invalid_arg;
        }

        return NGX_CONF_OK;
    }

    if (ngx_http_backend_is("idempotency")) {
        if (a->idempotency.len) {
            goto duplicate;
        }

        if (nargs != 1
            || ngx_http_backend_adapter_kv(&value[1], "header", &v) == NULL)
        {
            goto invalid;
        }

        for (i = 0; i < v.len; i++) {
            if (!(ngx_http_backend_isalnum(v.data[i]) || v.data[i] == '-')) {
                goto invalid;
            }
        }

        /* null-terminated: a header name for the subrequest */
        a->idempotency.data = ngx_pnalloc(cf->pool, v.len + 1);
        if (a->idempotency.data == NULL) {
            return NGX_CONF_ERROR;
        }

        *ngx_cpymem(a->idempotency.data, v.data, v.len) = '\0';
        a->idempotency.len = v.len;

        return NGX_CONF_OK;
    }

    if (ngx_http_backend_is("breaker")) {
        if (a->breaker.failures) {
            goto duplicate;
        }

        a->breaker.failures = 5;
        a->breaker.window = 30000;
        a->breaker.open = 15000;
        a->breaker.probes = 1;

        for (i = 1; i <= nargs; i++) {
            if (ngx_http_backend_adapter_kv(&value[i], "failures", &v)
                || ngx_http_backend_adapter_kv(&value[i], "probes", &v))
            {
                n = ngx_atoi(v.data, v.len);
                if (n == NGX_ERROR || n == 0 || n > 1000) {
                    goto invalid_arg;
                }

                if (value[i].data[0] == 'f') {
                    a->breaker.failures = n;

                } else {
                    a->breaker.probes = n;
                }

                continue;
            }

            if (ngx_http_backend_adapter_kv(&value[i], "window", &v)
                || ngx_http_backend_adapter_kv(&value[i], "open", &v))
            {
                ms = ngx_parse_time(&v, 0);
                if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
                    goto invalid_arg;
                }

                if (value[i].data[0] == 'w') {
                    a->breaker.window = ms;

                } else {
                    a->breaker.open = ms;
                }

                continue;
            }

            goto invalid_arg;
        }

        return NGX_CONF_OK;
    }

    if (ngx_http_backend_is("rate")) {
        if (a->rate) {
            goto duplicate;
        }

        /* Nr/s, as limit_req writes it */
        v = value[1];

        if (v.len < 4 || ngx_strncmp(v.data + v.len - 3, "r/s", 3) != 0) {
            goto invalid;
        }

        n = ngx_atoi(v.data, v.len - 3);
        if (n == NGX_ERROR || n == 0 || n > 100000) {
            goto invalid;
        }

        a->rate = n;
        a->burst = 1;

        for (i = 2; i <= nargs; i++) {
            if (ngx_http_backend_adapter_kv(&value[i], "burst", &v)) {
                n = ngx_atoi(v.data, v.len);
                if (n == NGX_ERROR || n == 0 || n > 100000) {
                    goto invalid_arg;
                }

                a->burst = n;
                continue;
            }

            goto invalid_arg;
        }

        return NGX_CONF_OK;
    }

    if (ngx_http_backend_is("degraded")) {
        if (nargs != 1) {
            goto args;
        }

        if (value[1].len == 4 && ngx_strncmp(value[1].data, "fail", 4) == 0) {
            a->stale = 0;
            return NGX_CONF_OK;
        }

        if (ngx_http_backend_adapter_kv(&value[1], "stale", &v) == NULL) {
            goto invalid;
        }

        ms = ngx_parse_time(&v, 0);
        if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
            goto invalid;
        }

        a->stale = ms;
        return NGX_CONF_OK;
    }

#undef ngx_http_backend_is

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "unknown directive \"%V\" in backend_adapter", name);
    return NGX_CONF_ERROR;

args:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid number of arguments in \"%V\"", name);
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

invalid_arg:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive",
                       &value[i], name);
    return NGX_CONF_ERROR;
}


/* backend_adapter_zone name:size: the last good answers */

static char *
ngx_http_backend_adapter_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_backend_adapter_main_conf_t *amcf = conf;

    u_char     *p;
    ssize_t     size;
    ngx_str_t  *value, name, s;

    if (amcf->cache) {
        return "is duplicate";
    }

    value = cf->args->elts;

    p = (u_char *) ngx_strchr(value[1].data, ':');

    if (p == NULL || p == value[1].data) {
        goto invalid;
    }

    name.data = value[1].data;
    name.len = p - value[1].data;

    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
        goto invalid;
    }

    amcf->cache = ngx_http_backend_cache_add(cf, &name, size,
                                             &ngx_http_backend_adapter_module);
    if (amcf->cache == NULL) {
        return NGX_CONF_ERROR;
    }

    amcf->zone_file = cf->conf_file->file.name.data;
    amcf->zone_line = cf->conf_file->line;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid zone \"%V\" (name:size, at least 8 pages)",
                       &value[1]);
    return NGX_CONF_ERROR;
}


/*
 * "call ADAPTER METHOD TARGET [body=input]" in a backend_procedure block
 * (ngx_http_backend_module.c hands it here): TARGET is a path with an
 * optional query, its {input.a.b} and {ctx.field} values filled per call
 */

char *
ngx_http_backend_adapter_call(ngx_conf_t *cf, ngx_http_backend_proc_t *proc)
{
    char                             *rv;
    ngx_http_backend_adapter_call_t  *cc;

    if (proc->call) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"call\" directive is duplicate");
        return NGX_CONF_ERROR;
    }

    rv = ngx_http_backend_adapter_call_parse(cf, proc, "input", &cc);

    if (rv == NGX_CONF_OK) {
        proc->call = cc;
    }

    return rv;
}


/*
 * "call ADAPTER METHOD TARGET [body=ROOT[.a.b]]" in a backend_queue
 * (ROOT item) or backend_schedule (ROOT slot) block: the values come from
 * the item or the slot, the idempotency key is the work's own
 */

char *
ngx_http_backend_adapter_call_conf(ngx_conf_t *cf, char *root,
    ngx_http_backend_adapter_call_t **pcc)
{
    if (*pcc) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"call\" directive is duplicate");
        return NGX_CONF_ERROR;
    }

    return ngx_http_backend_adapter_call_parse(cf, NULL, root, pcc);
}


/* an adapter by name, once the http block is read */

ngx_http_backend_adapter_t *
ngx_http_backend_adapter_find(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_uint_t                             i;
    ngx_http_backend_adapter_t            *a;
    ngx_http_backend_adapter_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_backend_adapter_module);
    a = amcf->adapters.elts;

    for (i = 0; i < amcf->adapters.nelts; i++) {
        if (a[i].name.len == name->len
            && ngx_strncmp(a[i].name.data, name->data, name->len) == 0)
        {
            return &a[i];
        }
    }

    return NULL;
}


/* {ROOT.a.b} and body=ROOT.a.b: the segments after ROOT */

static ngx_int_t
ngx_http_backend_adapter_path(ngx_conf_t *cf, u_char *p, u_char *last,
    ngx_array_t *path)
{
    u_char     *start;
    ngx_str_t  *seg;

    if (ngx_array_init(path, cf->pool, 2, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    /* p is at the '.' after the root */

    while (p < last) {
        start = ++p;

        while (p < last && *p != '.') {
            p++;
        }

        if (p == start) {
            return NGX_DECLINED;
        }

        seg = ngx_array_push(path);
        if (seg == NULL) {
            return NGX_ERROR;
        }

        seg->data = start;
        seg->len = p - start;
    }

    return NGX_OK;
}


static char *
ngx_http_backend_adapter_call_parse(ngx_conf_t *cf,
    ngx_http_backend_proc_t *proc, char *root,
    ngx_http_backend_adapter_call_t **pcc)
{
    u_char                           *p, *last, *start;
    size_t                            offset, rlen;
    ngx_str_t                        *value, *seg, text;
    ngx_uint_t                        i, nargs, query;
    ngx_http_backend_adapter_part_t  *part;
    ngx_http_backend_adapter_call_t  *cc;

    static ngx_str_t  methods[] = {
        ngx_string("GET"), ngx_string("POST"), ngx_string("PUT"),
        ngx_string("PATCH"), ngx_string("DELETE"), ngx_null_string
    };
    static ngx_uint_t  method_bits[] = {
        NGX_HTTP_GET, NGX_HTTP_POST, NGX_HTTP_PUT, NGX_HTTP_PATCH,
        NGX_HTTP_DELETE
    };

    value = cf->args->elts;
    nargs = cf->args->nelts - 1;
    rlen = ngx_strlen(root);

    if (nargs < 3 || nargs > (ngx_uint_t) (proc ? 5 : 4)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid number of arguments in \"call\" "
                           "(call ADAPTER METHOD TARGET [body=%s]%s)", root,
                           proc ? " [key=input.field]" : "");
        return NGX_CONF_ERROR;
    }

    cc = ngx_pcalloc(cf->pool, sizeof(ngx_http_backend_adapter_call_t));
    if (cc == NULL) {
        return NGX_CONF_ERROR;
    }

    cc->name = value[1];
    cc->line = cf->conf_file->line;
    cc->target = value[3];

    for (offset = 0; methods[offset].len; offset++) {
        if (methods[offset].len == value[2].len
            && ngx_strncmp(methods[offset].data, value[2].data,
                           value[2].len)
               == 0)
        {
            cc->method = method_bits[offset];
            cc->method_name = methods[offset];
            break;
        }
    }

    if (cc->method == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid method \"%V\" in \"call\" (GET, POST, "
                           "PUT, PATCH, DELETE)", &value[2]);
        return NGX_CONF_ERROR;
    }

    for (i = 4; i <= nargs; i++) {

        /* body=ROOT, or a value in it: body=item.payload */

        if (value[i].len >= 5 + rlen
            && ngx_strncmp(value[i].data, "body=", 5) == 0
            && ngx_strncmp(value[i].data + 5, root, rlen) == 0
            && (value[i].len == 5 + rlen || value[i].data[5 + rlen] == '.')
            && !cc->body)
        {
            switch (ngx_http_backend_adapter_path(cf,
                                                  value[i].data + 5 + rlen,
                                                  value[i].data
                                                  + value[i].len,
                                                  &cc->body_path))
            {
            case NGX_OK:
                break;
            case NGX_DECLINED:
                goto bad_option;
            default:
                return NGX_CONF_ERROR;
            }

            cc->body = 1;

            if (proc) {
                proc->uses_input = 1;
            }

            continue;
        }

        /* key=input.a.b: the client's idempotency key, not a random one */

        if (proc && value[i].len > 10
            && ngx_strncmp(value[i].data, "key=input.", 10) == 0
            && cc->key.nelts == 0)
        {
            if (ngx_array_init(&cc->key, cf->pool, 2, sizeof(ngx_str_t))
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            last = value[i].data + value[i].len;

            for (p = value[i].data + 9; p < last; /* void */) {
                start = ++p;

                while (p < last && *p != '.') {
                    p++;
                }

                if (p == start) {
                    goto bad_option;
                }

                seg = ngx_array_push(&cc->key);
                if (seg == NULL) {
                    return NGX_CONF_ERROR;
                }

                seg->data = start;
                seg->len = p - start;
            }

            proc->uses_input = 1;
            continue;
        }

    bad_option:

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"call\" (body=%s%s)",
                           &value[i], root,
                           proc ? ", key=input.field" : ", body=item.payload");
        return NGX_CONF_ERROR;
    }

    if (ngx_array_init(&cc->parts, cf->pool, 4,
                       sizeof(ngx_http_backend_adapter_part_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    p = value[3].data;
    last = p + value[3].len;

    if (p == last || *p != '/') {
        goto bad_target;
    }

    query = 0;

    while (p < last) {
        start = p;

        /* text as written: no space, no fragment, nothing for a shell */
        while (p < last && *p != '{') {
            if (*p <= ' ' || *p >= 0x7f || *p == '#' || *p == '}'
                || *p == '\\')
            {
                goto bad_target;
            }

            if (*p == '?') {
                query = 1;
            }

            p++;
        }

        if (p > start) {
            part = ngx_array_push(&cc->parts);
            if (part == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_memzero(part, sizeof(ngx_http_backend_adapter_part_t));
            part->type = NGX_HTTP_BACKEND_ADAPTER_PART_TEXT;
            part->text.data = start;
            part->text.len = p - start;
        }

        if (p == last) {
            break;
        }

        start = ++p;

        while (p < last && *p != '}') {
            p++;
        }

        if (p == last) {
            goto bad_target;
        }

        text.data = start;
        text.len = p - start;
        p++;

        part = ngx_array_push(&cc->parts);
        if (part == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(part, sizeof(ngx_http_backend_adapter_part_t));
        part->text = text;
        part->query = query;

        if (proc && text.len > 4 && ngx_strncmp(text.data, "ctx.", 4) == 0) {
            text.data += 4;
            text.len -= 4;

            if (ngx_http_backend_ctx_field_offset(&text, &offset) != NGX_OK) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "unknown context field \"%V\" in "
                                   "\"call\"", &part->text);
                return NGX_CONF_ERROR;
            }

            part->type = NGX_HTTP_BACKEND_ADAPTER_PART_CTX;
            part->field = offset;
            cc->uses_ctx = 1;
            continue;
        }

        if (text.len > rlen + 1
            && ngx_strncmp(text.data, root, rlen) == 0
            && text.data[rlen] == '.')
        {
            part->type = NGX_HTTP_BACKEND_ADAPTER_PART_INPUT;

            if (proc) {
                proc->uses_input = 1;
            }

            switch (ngx_http_backend_adapter_path(cf, text.data + rlen,
                                                  text.data + text.len,
                                                  &part->path))
            {
            case NGX_OK:
                continue;
            case NGX_DECLINED:
                break;
            default:
                return NGX_CONF_ERROR;
            }
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"{%V}\" in \"call\": expected "
                           "{%s.field}%s", &part->text, root,
                           proc ? " or {ctx.field}" : "");
        return NGX_CONF_ERROR;
    }

    *pcc = cc;

    return NGX_CONF_OK;

bad_target:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid target \"%V\" in \"call\": a path starting "
                       "with \"/\", printable ASCII without spaces or \"#\", "
                       "values in {}", &value[3]);
    return NGX_CONF_ERROR;
}


/*
 * An adapter's location carries the API's credentials: a client's own
 * request for it (the location not "internal", or a prefix one) is 404,
 * never proxied
 */

static ngx_int_t
ngx_http_backend_adapter_access(ngx_http_request_t *r)
{
    ngx_uint_t                             i;
    ngx_http_backend_adapter_t            *a;
    ngx_http_backend_adapter_main_conf_t  *amcf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_backend_adapter_module);
    a = amcf->adapters.elts;

    for (i = 0; i < amcf->adapters.nelts; i++) {
        if (r->uri.len >= a[i].location.len
            && ngx_strncmp(r->uri.data, a[i].location.data,
                           a[i].location.len)
               == 0
            && (r->uri.len == a[i].location.len
                || r->uri.data[a[i].location.len] == '/'
                || a[i].location.data[a[i].location.len - 1] == '/'))
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "backend adapter \"%V\": a client's request for "
                          "its location \"%V\" refused (make the location "
                          "\"internal\")", &a[i].name, &a[i].location);
            return NGX_HTTP_NOT_FOUND;
        }
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_backend_adapter_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt                   *h;
    ngx_http_core_main_conf_t             *cmcf;
    ngx_http_backend_adapter_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_backend_adapter_module);

    if (amcf->adapters.nelts == 0) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_backend_adapter_access;

    return NGX_OK;
}


static ngx_int_t
ngx_http_backend_adapter_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_backend_adapter_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}
