
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_backend_jobs_int.h"


/*
 * The jobs module's configuration: backend_schedule and backend_queue
 * blocks, backend_jobs_poll, _limit and _listen, the checks, the
 * statements prepared and the metrics' series of each job and queue,
 * and the module's definition; the run time is in
 * ngx_http_backend_jobs.c.
 */


static ngx_http_backend_jobs_task_t *ngx_http_backend_jobs_task(
    ngx_conf_t *cf, ngx_http_backend_jobs_main_conf_t *jmcf,
    ngx_uint_t kind);
static char *ngx_http_backend_jobs_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_backend_jobs_item(ngx_conf_t *cf, ngx_command_t *dummy,
    void *conf);
static char *ngx_http_backend_jobs_check(ngx_conf_t *cf,
    ngx_http_backend_jobs_task_t *t);
static char *ngx_http_backend_jobs_listen(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void *ngx_http_backend_jobs_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_backend_jobs_init_main_conf(ngx_conf_t *cf, void *conf);
static ngx_int_t ngx_http_backend_jobs_prepare(ngx_conf_t *cf,
    ngx_http_backend_jobs_task_t *t);
static ngx_http_backend_pg_stmt_t *ngx_http_backend_jobs_stmt(ngx_conf_t *cf,
    ngx_http_backend_jobs_task_t *t, char *fmt, ...);
static ngx_int_t ngx_http_backend_jobs_metrics(ngx_conf_t *cf,
    ngx_http_backend_jobs_task_t *t);
static ngx_int_t ngx_http_backend_jobs_postconfiguration(ngx_conf_t *cf);



static ngx_str_t  ngx_http_backend_jobs_outcome_names[2][4] = {
    { ngx_string("done"), ngx_string("retry"), ngx_string("failed"),
      ngx_string("lost") },
    { ngx_string("done"), ngx_string("retry"), ngx_string("dead"),
      ngx_string("lost") }
};

char  *ngx_http_backend_jobs_catch_up[] = { "none", "latest", "all" };

static ngx_conf_num_bounds_t  ngx_http_backend_jobs_limit_bounds = {
    ngx_conf_check_num_bounds, 1, 10000
};


static ngx_command_t  ngx_http_backend_jobs_commands[] = {

    { ngx_string("backend_schedule"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_backend_jobs_block,
      NGX_HTTP_MAIN_CONF_OFFSET,
      NGX_HTTP_BACKEND_JOBS_JOB,
      NULL },

    { ngx_string("backend_queue"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_backend_jobs_block,
      NGX_HTTP_MAIN_CONF_OFFSET,
      NGX_HTTP_BACKEND_JOBS_QUEUE,
      NULL },

    { ngx_string("backend_jobs_poll"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_backend_jobs_main_conf_t, poll),
      NULL },

    { ngx_string("backend_jobs_limit"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_backend_jobs_main_conf_t, limit),
      &ngx_http_backend_jobs_limit_bounds },

    { ngx_string("backend_jobs_listen"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_backend_jobs_listen,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_backend_jobs_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_backend_jobs_postconfiguration, /* postconfiguration */

    ngx_http_backend_jobs_create_main_conf, /* create main configuration */
    ngx_http_backend_jobs_init_main_conf,  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_backend_jobs_module = {
    NGX_MODULE_V1,
    &ngx_http_backend_jobs_module_ctx,     /* module context */
    ngx_http_backend_jobs_commands,        /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_backend_jobs_init_process,    /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_backend_jobs_exit_process,    /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* configuration */

static void *
ngx_http_backend_jobs_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_backend_jobs_main_conf_t  *jmcf;

    jmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_backend_jobs_main_conf_t));
    if (jmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&jmcf->tasks, cf->pool, 4,
                       sizeof(ngx_http_backend_jobs_task_t))
        != NGX_OK)
    {
        return NULL;
    }

    jmcf->poll = NGX_CONF_UNSET_MSEC;
    jmcf->limit = NGX_CONF_UNSET_UINT;

    return jmcf;
}


static ngx_http_backend_jobs_task_t *
ngx_http_backend_jobs_task(ngx_conf_t *cf,
    ngx_http_backend_jobs_main_conf_t *jmcf, ngx_uint_t kind)
{
    u_char                        *p;
    ngx_str_t                     *value;
    ngx_uint_t                     i;
    ngx_http_backend_jobs_task_t  *t;

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].len > 200) {
        goto invalid;
    }

    for (p = value[1].data; p < value[1].data + value[1].len; p++) {
        if (!(ngx_http_backend_isalnum(*p)
              || *p == '.' || *p == '_' || *p == '-'))
        {
            goto invalid;
        }
    }

    t = jmcf->tasks.elts;

    for (i = 0; i < jmcf->tasks.nelts; i++) {
        if (t[i].kind == kind && t[i].name.len == value[1].len
            && ngx_strncmp(t[i].name.data, value[1].data, value[1].len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate %V \"%V\", first defined in %s:%ui",
                               &value[0], &value[1], t[i].file, t[i].line);
            return NULL;
        }
    }

    t = ngx_array_push(&jmcf->tasks);
    if (t == NULL) {
        return NULL;
    }

    ngx_memzero(t, sizeof(ngx_http_backend_jobs_task_t));

    t->kind = kind;
    t->name = value[1];         /* null-terminated by the parser */
    t->nparams = NGX_CONF_UNSET_UINT;
    t->every = NGX_CONF_UNSET_MSEC;
    t->timeout = NGX_CONF_UNSET_MSEC;
    t->catch_up = NGX_CONF_UNSET_UINT;
    t->catch_max = 1;
    t->overlap = NGX_CONF_UNSET_UINT;
    t->max_attempts = NGX_CONF_UNSET_UINT;
    t->backoff = NGX_CONF_UNSET_MSEC;
    t->lease = NGX_CONF_UNSET_MSEC;
    t->concurrency = NGX_CONF_UNSET_UINT;
    t->batch = NGX_CONF_UNSET_UINT;
    t->file = cf->conf_file->file.name.data;
    t->line = cf->conf_file->line;

    return t;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid %V name \"%V\"",
                       &value[0], &value[1]);
    return NULL;
}


static char *
ngx_http_backend_jobs_block(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_backend_jobs_main_conf_t *jmcf = conf;

    char                          *rv;
    ngx_conf_t                     save;
    ngx_http_backend_jobs_task_t  *t;

    t = ngx_http_backend_jobs_task(cf, jmcf, cmd->offset);
    if (t == NULL) {
        return NGX_CONF_ERROR;
    }

    save = *cf;
    cf->handler = ngx_http_backend_jobs_item;
    cf->handler_conf = (char *) t;

    rv = ngx_conf_parse(cf, NULL);

    *cf = save;

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    return ngx_http_backend_jobs_check(cf, t);
}


static ngx_int_t
ngx_http_backend_jobs_time(ngx_str_t *s, ngx_msec_t *t)
{
    ngx_int_t  n;

    n = ngx_parse_time(s, 0);
    if (n == NGX_ERROR || n <= 0) {
        return NGX_ERROR;
    }

    *t = (ngx_msec_t) n;

    return NGX_OK;
}


static ngx_int_t
ngx_http_backend_jobs_number(ngx_str_t *s, ngx_uint_t *n, ngx_uint_t max)
{
    ngx_int_t  v;

    v = ngx_atoi(s->data, s->len);
    if (v == NGX_ERROR || v < 1 || (ngx_uint_t) v > max) {
        return NGX_ERROR;
    }

    *n = (ngx_uint_t) v;

    return NGX_OK;
}


static char *
ngx_http_backend_jobs_item(ngx_conf_t *cf, ngx_command_t *dummy, void *conf)
{
    ngx_http_backend_jobs_task_t *t = conf;

    ngx_str_t   *value, *name, s;
    ngx_uint_t   i, n, job, k;

    static char  *sources[] = { "slot.time", "slot.job", "slot.attempt",
                                "item.payload", "item.id", "item.attempt",
                                "item.key", "item.queue", "call.result",
                                "call.status", NULL };

    value = cf->args->elts;
    name = &value[0];
    n = cf->args->nelts - 1;
    job = (t->kind == NGX_HTTP_BACKEND_JOBS_JOB);

#define ngx_http_backend_jobs_is(s)                                          \
    (name->len == sizeof(s) - 1 && ngx_strncmp(name->data, s, name->len) == 0)

    if (ngx_http_backend_jobs_is("call")) {
        return ngx_http_backend_adapter_bg_conf(cf, job ? "slot" : "item",
                                                &t->call);
    }

    if (ngx_http_backend_jobs_is("params")) {
        if (t->nparams != NGX_CONF_UNSET_UINT) {
            goto duplicate;
        }

        if (n > NGX_HTTP_BACKEND_JOBS_MAX_PARAMS) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "too many params (at most %d)",
                               NGX_HTTP_BACKEND_JOBS_MAX_PARAMS);
            return NGX_CONF_ERROR;
        }

        for (i = 1; i <= n; i++) {
            for (k = job ? 0 : 3; k < (ngx_uint_t) (job ? 3 : 8); k++) {
                if (value[i].len == ngx_strlen(sources[k])
                    && ngx_strncmp(value[i].data, sources[k], value[i].len)
                       == 0)
                {
                    break;
                }
            }

            if (k == (ngx_uint_t) (job ? 3 : 8)) {
                /* the answer of the block's call, either kind */

                for (k = NGX_HTTP_BACKEND_JOBS_CALL_RESULT; sources[k]; k++) {
                    if (value[i].len == ngx_strlen(sources[k])
                        && ngx_strncmp(value[i].data, sources[k],
                                       value[i].len)
                           == 0)
                    {
                        break;
                    }
                }
            }

            if (sources[k] == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "unknown param \"%V\" (%s, call.result "
                                   "or call.status)", &value[i],
                                   job ? "slot.time, slot.job, slot.attempt"
                                       : "item.payload, item.id, "
                                         "item.attempt, item.key, "
                                         "item.queue");
                return NGX_CONF_ERROR;
            }

            t->params[i - 1] = k;
        }

        t->nparams = n;

        return NGX_CONF_OK;
    }

    if (ngx_http_backend_jobs_is("retries")) {
        /* retries N [backoff=time] */

        if (t->max_attempts != NGX_CONF_UNSET_UINT) {
            goto duplicate;
        }

        if (n < 1 || n > 2) {
            goto args;
        }

        if (value[1].len == 1 && value[1].data[0] == '0') {
            t->max_attempts = 1;

        } else if (ngx_http_backend_jobs_number(&value[1], &k, 100)
                   != NGX_OK)
        {
            goto invalid;

        } else {
            t->max_attempts = k + 1;
        }

        if (n == 2) {
            if (value[2].len <= 8
                || ngx_strncmp(value[2].data, "backoff=", 8) != 0)
            {
                i = 2;
                goto invalid_at;
            }

            s.data = value[2].data + 8;
            s.len = value[2].len - 8;

            if (ngx_http_backend_jobs_time(&s, &t->backoff) != NGX_OK) {
                i = 2;
                goto invalid_at;
            }
        }

        return NGX_CONF_OK;
    }

    if (ngx_http_backend_jobs_is("catch_up")) {
        /* none | latest | all [max=N] */

        if (t->catch_up != NGX_CONF_UNSET_UINT) {
            goto duplicate;
        }

        if (!job) {
            goto unknown;
        }

        if (n < 1 || n > 2) {
            goto args;
        }

        for (k = 0; k < 3; k++) {
            if (value[1].len == ngx_strlen(ngx_http_backend_jobs_catch_up[k])
                && ngx_strncmp(value[1].data, ngx_http_backend_jobs_catch_up[k],
                               value[1].len) == 0)
            {
                break;
            }
        }

        if (k == 3) {
            goto invalid;
        }

        t->catch_up = k;
        t->catch_max = (k == NGX_HTTP_BACKEND_JOBS_ALL) ? 100 : 1;

        if (n == 2) {
            if (k != NGX_HTTP_BACKEND_JOBS_ALL || value[2].len <= 4
                || ngx_strncmp(value[2].data, "max=", 4) != 0)
            {
                i = 2;
                goto invalid_at;
            }

            s.data = value[2].data + 4;
            s.len = value[2].len - 4;

            if (ngx_http_backend_jobs_number(&s, &t->catch_max, 1000000)
                != NGX_OK)
            {
                i = 2;
                goto invalid_at;
            }
        }

        return NGX_CONF_OK;
    }

    if (n != 1) {
        goto args;
    }

    if (ngx_http_backend_jobs_is("sql")) {
        if (t->sql.len) {
            goto duplicate;
        }

        /* it goes into a CTE: no trailing semicolon */
        s = value[1];

        while (s.len && (s.data[s.len - 1] == ';'
                         || s.data[s.len - 1] == ' '
                         || s.data[s.len - 1] == '\n'
                         || s.data[s.len - 1] == '\t'))
        {
            s.len--;
        }

        if (s.len == 0) {
            goto invalid;
        }

        t->sql = s;

        return NGX_CONF_OK;
    }

    if (ngx_http_backend_jobs_is("overlap")) {
        /* wait | skip: the slots due while a run of the job is going */

        if (!job) {
            goto unknown;
        }

        if (t->overlap != NGX_CONF_UNSET_UINT) {
            goto duplicate;
        }

        if (value[1].len == 4 && ngx_strncmp(value[1].data, "wait", 4) == 0) {
            t->overlap = 0;

        } else if (value[1].len == 4
                   && ngx_strncmp(value[1].data, "skip", 4) == 0)
        {
            t->overlap = 1;

        } else {
            goto invalid;
        }

        return NGX_CONF_OK;
    }

    if (ngx_http_backend_jobs_is("database")) {
        if (t->database.len) {
            goto duplicate;
        }

        t->database = value[1];

        return NGX_CONF_OK;
    }

    if (ngx_http_backend_jobs_is("every")) {
        if (!job) {
            goto unknown;
        }

        if (t->every != NGX_CONF_UNSET_MSEC) {
            goto duplicate;
        }

        if (ngx_http_backend_jobs_time(&value[1], &t->every) != NGX_OK) {
            goto invalid;
        }

        return NGX_CONF_OK;
    }

    if (ngx_http_backend_jobs_is("timeout")
        || ngx_http_backend_jobs_is("lease")
        || ngx_http_backend_jobs_is("backoff"))
    {
        ngx_msec_t  *ms;

        ms = (name->data[0] == 't') ? &t->timeout
             : (name->data[0] == 'l') ? &t->lease : &t->backoff;

        if (*ms != NGX_CONF_UNSET_MSEC) {
            goto duplicate;
        }

        if (ngx_http_backend_jobs_time(&value[1], ms) != NGX_OK) {
            goto invalid;
        }

        return NGX_CONF_OK;
    }

    if (ngx_http_backend_jobs_is("max_attempts")) {
        if (t->max_attempts != NGX_CONF_UNSET_UINT) {
            goto duplicate;
        }

        if (ngx_http_backend_jobs_number(&value[1], &t->max_attempts, 101)
            != NGX_OK)
        {
            goto invalid;
        }

        return NGX_CONF_OK;
    }

    if (ngx_http_backend_jobs_is("concurrency")
        || ngx_http_backend_jobs_is("batch"))
    {
        ngx_uint_t  *u;

        if (job) {
            goto unknown;
        }

        u = (name->data[0] == 'c') ? &t->concurrency : &t->batch;

        if (*u != NGX_CONF_UNSET_UINT) {
            goto duplicate;
        }

        if (ngx_http_backend_jobs_number(&value[1], u, 1000) != NGX_OK) {
            goto invalid;
        }

        return NGX_CONF_OK;
    }

#undef ngx_http_backend_jobs_is

unknown:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "unknown directive \"%V\" in %s", name,
                       job ? "backend_schedule" : "backend_queue");
    return NGX_CONF_ERROR;

args:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid number of arguments in \"%V\"", name);
    return NGX_CONF_ERROR;

duplicate:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" is duplicate%s", name,
                       (name->data[0] == 'r' || name->data[0] == 'm')
                       ? " (retries and max_attempts both set the attempts)"
                       : "");
    return NGX_CONF_ERROR;

invalid:

    i = 1;

invalid_at:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid value \"%V\" in \"%V\"",
                       &value[i], name);
    return NGX_CONF_ERROR;
}


static char *
ngx_http_backend_jobs_check(ngx_conf_t *cf, ngx_http_backend_jobs_task_t *t)
{
    char        *what;
    ngx_uint_t   n;

    what = (t->kind == NGX_HTTP_BACKEND_JOBS_JOB) ? "backend_schedule"
                                                  : "backend_queue";

    if (t->sql.len == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "%s \"%V\" in %s:%ui has no sql", what, &t->name,
                      t->file, t->line);
        return NGX_CONF_ERROR;
    }

    if (t->kind == NGX_HTTP_BACKEND_JOBS_JOB
        && t->every == NGX_CONF_UNSET_MSEC)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "%s \"%V\" in %s:%ui has no \"every\"", what, &t->name,
                      t->file, t->line);
        return NGX_CONF_ERROR;
    }

    if (t->nparams == NGX_CONF_UNSET_UINT) {
        t->nparams = 0;
    }

    for (n = 0; n < t->nparams && t->call == NULL; n++) {
        if (t->params[n] >= NGX_HTTP_BACKEND_JOBS_CALL_RESULT) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "%s \"%V\" in %s:%ui: params names the answer of "
                          "a call, and the block has no \"call\"", what,
                          &t->name, t->file, t->line);
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_http_backend_pg_sql_params(&t->sql, &n) != NGX_OK
        || n != t->nparams)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "%s \"%V\" in %s:%ui: its sql uses %ui parameter(s), "
                      "params names %ui (or the sql has an unterminated "
                      "quote)", what, &t->name, t->file, t->line, n,
                      t->nparams);
        return NGX_CONF_ERROR;
    }

    ngx_conf_init_msec_value(t->timeout, 30000);
    ngx_conf_init_msec_value(t->lease, 30000);
    ngx_conf_init_uint_value(t->catch_up, NGX_HTTP_BACKEND_JOBS_LATEST);
    ngx_conf_init_uint_value(t->overlap, 0);

    if (t->kind == NGX_HTTP_BACKEND_JOBS_JOB) {
        ngx_conf_init_uint_value(t->max_attempts, 4);
        ngx_conf_init_msec_value(t->backoff, 10000);
        t->concurrency = 1;
        t->batch = 1;

    } else {
        ngx_conf_init_uint_value(t->max_attempts, 5);
        ngx_conf_init_msec_value(t->backoff, 1000);
        ngx_conf_init_uint_value(t->concurrency, 4);
        ngx_conf_init_uint_value(t->batch, t->concurrency);
    }

    if (t->lease < 300) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "%s \"%V\" in %s:%ui: lease must be at least 300ms",
                      what, &t->name, t->file, t->line);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * backend_jobs_listen name | "conninfo" | off: where LISTEN backend_queue
 * is held (a backend_pg's connection parameters, or a conninfo string of
 * its own: a direct endpoint, never a transaction pooler)
 */

static char *
ngx_http_backend_jobs_listen(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_backend_jobs_main_conf_t *jmcf = conf;

    ngx_str_t  *value;

    if (jmcf->listen.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    jmcf->listen = value[1];
    jmcf->listen_file = cf->conf_file->file.name.data;
    jmcf->listen_line = cf->conf_file->line;

    return NGX_CONF_OK;
}


static char *
ngx_http_backend_jobs_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_backend_jobs_main_conf_t *jmcf = conf;

    ngx_str_t                      name;
    ngx_uint_t                     i, queues;
    ngx_http_backend_jobs_task_t  *t;

    ngx_conf_init_msec_value(jmcf->poll, 1000);
    ngx_conf_init_uint_value(jmcf->limit, 16);

    if (jmcf->poll < 10) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "backend_jobs_poll must be at least 10ms");
        return NGX_CONF_ERROR;
    }

    t = jmcf->tasks.elts;
    queues = 0;

    for (i = 0; i < jmcf->tasks.nelts; i++) {
        if (ngx_http_backend_jobs_prepare(cf, &t[i]) != NGX_OK
            || ngx_http_backend_jobs_metrics(cf, &t[i]) != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        if (t[i].call
            && ngx_http_backend_adapter_bg_init(cf, t[i].call,
                                        t[i].kind == NGX_HTTP_BACKEND_JOBS_JOB
                                        ? "backend_schedule" : "backend_queue",
                                        &t[i].name, t[i].file)
               != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        if (t[i].kind == NGX_HTTP_BACKEND_JOBS_QUEUE) {
            queues++;
        }
    }

    if (jmcf->tasks.nelts) {
        ngx_str_set(&name, "backend_jobs");

        jmcf->zone = ngx_shared_memory_add(cf, &name,
                          ngx_max(8 * ngx_pagesize,
                                  ngx_align(sizeof(ngx_http_backend_jobs_shm_t)
                                            + 4 * ngx_pagesize,
                                            ngx_pagesize)),
                          &ngx_http_backend_jobs_module);
        if (jmcf->zone == NULL) {
            return NGX_CONF_ERROR;
        }

        jmcf->zone->init = ngx_http_backend_jobs_init_zone;
        jmcf->zone->data = jmcf;
    }

    if (jmcf->listen.len == 3
        && ngx_strncmp(jmcf->listen.data, "off", 3) == 0)
    {
        ngx_str_null(&jmcf->listen);
    }

    if (jmcf->listen.len) {
        jmcf->listen_server = ngx_http_backend_pg_server(cf, &jmcf->listen);

        if (jmcf->listen_server == NULL
            && ngx_strlchr(jmcf->listen.data,
                           jmcf->listen.data + jmcf->listen.len, '=')
               == NULL)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "backend_jobs_listen in %s:%ui names no "
                          "backend_pg \"%V\" (nor is it a conninfo string)",
                          jmcf->listen_file, jmcf->listen_line,
                          &jmcf->listen);
            return NGX_CONF_ERROR;
        }

        if (queues == 0) {
            ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                          "backend_jobs_listen in %s:%ui: no backend_queue "
                          "to wake, no connection made",
                          jmcf->listen_file, jmcf->listen_line);
            ngx_str_null(&jmcf->listen);
        }
    }

    return NGX_CONF_OK;
}


/* a call's request needs the server whose location is the adapter's */

static ngx_int_t
ngx_http_backend_jobs_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                          i;
    ngx_http_backend_jobs_task_t       *t;
    ngx_http_backend_jobs_main_conf_t  *jmcf;

    jmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_backend_jobs_module);
    t = jmcf->tasks.elts;

    for (i = 0; i < jmcf->tasks.nelts; i++) {
        if (t[i].call
            && ngx_http_backend_adapter_bg_server(cf, t[i].call,
                                        t[i].kind == NGX_HTTP_BACKEND_JOBS_JOB
                                        ? "backend_schedule" : "backend_queue",
                                        &t[i].name, t[i].file)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* the task's statements on its database */

static ngx_int_t
ngx_http_backend_jobs_prepare(ngx_conf_t *cf, ngx_http_backend_jobs_task_t *t)
{
    ngx_uint_t  n;

    t->server = ngx_http_backend_pg_server(cf, &t->database);
    if (t->server == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "%s \"%V\" in %s:%ui needs a database: no backend_pg "
                      "\"%V\"",
                      t->kind == NGX_HTTP_BACKEND_JOBS_JOB
                      ? "backend_schedule" : "backend_queue",
                      &t->name, t->file, t->line, &t->database);
        return NGX_ERROR;
    }

    if (t->timeout > t->server->query_timeout) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "%s \"%V\" in %s:%ui: timeout %M ms is longer than "
                      "backend_pg \"%V\" query_timeout=%M, which ends its "
                      "runs first",
                      t->kind == NGX_HTTP_BACKEND_JOBS_JOB
                      ? "backend_schedule" : "backend_queue",
                      &t->name, t->file, t->line, t->timeout,
                      &t->server->name, t->server->query_timeout);
    }

    n = t->nparams;

    if (t->kind == NGX_HTTP_BACKEND_JOBS_JOB) {
        t->claim_stmt = ngx_http_backend_jobs_stmt(cf, t,
            "select slot, attempt, reason, lag_ms, missed, skipped"
            "  from app.tick_job($1, $2::bigint, $3, $4::integer, $5,"
            "                    $6::bigint, $7::integer, $8)");

        t->run_stmt = ngx_http_backend_jobs_stmt(cf, t,
            "with work as materialized (%V)"
            " select app.finish_slot_within($%ui, $%ui::timestamptz, $%ui,"
            "                               $%ui::integer, $%ui::bigint,"
            "                               (select count(*) from work))",
            &t->sql, n + 1, n + 2, n + 3, n + 4, n + 5);

        t->fail_stmt = ngx_http_backend_jobs_stmt(cf, t,
            "select app.fail_slot($1, $2::timestamptz, $3, $4::integer, $5,"
            "         case when $4::integer < $6::integer"
            "              then app.background_backoff($4::integer,"
            "                                  $7::bigint * interval '1 ms')"
            "         end)");

        t->renew_stmt = ngx_http_backend_jobs_stmt(cf, t,
            "select app.renew_slot($1, $2::timestamptz, $3, $4::integer,"
            "                      $5::bigint * interval '1 ms')");

    } else {
        t->claim_stmt = ngx_http_backend_jobs_stmt(cf, t,
            "select id, payload, attempt, dedupe_key,"
            "       (extract(epoch from clock_timestamp() - created_at)"
            "        * 1000)::bigint"
            "  from app.claim_items($1, $2, $3::integer,"
            "                       $4::bigint * interval '1 ms',"
            "                       $5::integer)");

        t->run_stmt = ngx_http_backend_jobs_stmt(cf, t,
            "with work as materialized (%V)"
            " select app.finish_item_within($%ui::bigint, $%ui,"
            "                               $%ui::integer, $%ui::bigint,"
            "                               (select count(*) from work))",
            &t->sql, n + 1, n + 2, n + 3, n + 4);

        t->fail_stmt = ngx_http_backend_jobs_stmt(cf, t,
            "select app.fail_item($1::bigint, $2, $3::integer, $4,"
            "                     $5::integer, $6::bigint * interval '1 ms')");

        t->renew_stmt = ngx_http_backend_jobs_stmt(cf, t,
            "select app.renew_item($1::bigint, $2, $3::integer,"
            "                      $4::bigint * interval '1 ms')");

        t->stats_stmt = ngx_http_backend_jobs_stmt(cf, t,
            "select count(*),"
            "       coalesce(extract(epoch from now() - min(run_after)"
            "                filter (where status = 'pending'"
            "                          and run_after <= now()))::bigint, 0)"
            "  from app.queue_items"
            " where queue = $1 and status in ('pending', 'running')");
    }

    if (t->claim_stmt == NULL || t->run_stmt == NULL || t->fail_stmt == NULL
        || t->renew_stmt == NULL
        || (t->kind == NGX_HTTP_BACKEND_JOBS_QUEUE && t->stats_stmt == NULL))
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_http_backend_pg_stmt_t *
ngx_http_backend_jobs_stmt(ngx_conf_t *cf, ngx_http_backend_jobs_task_t *t,
    char *fmt, ...)
{
    u_char                      *p;
    size_t                       len;
    va_list                      args;
    ngx_str_t                    sql;
    ngx_uint_t                   n;
    ngx_http_backend_pg_stmt_t  *stmt;

    len = ngx_strlen(fmt) + t->sql.len + 5 * NGX_INT_T_LEN + 1;

    sql.data = ngx_pnalloc(cf->pool, len);
    if (sql.data == NULL) {
        return NULL;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(sql.data, sql.data + len - 1, fmt, args);
    va_end(args);

    *p = '\0';
    sql.len = p - sql.data;

    if (ngx_http_backend_pg_sql_params(&sql, &n) != NGX_OK) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "backend \"%V\" in %s:%ui: invalid sql",
                      &t->name, t->file, t->line);
        return NULL;
    }

    stmt = ngx_http_backend_pg_stmt_add(cf, t->server, &sql, n);
    if (stmt == NULL) {
        return NULL;
    }

    /* the log names the task and where it is configured */
    stmt->owner = t->name;
    stmt->file = t->file;
    stmt->line = t->line;

    return stmt;
}


/* the families of docs/metrics.md's Background work table */

static ngx_int_t
ngx_http_backend_jobs_metrics(ngx_conf_t *cf, ngx_http_backend_jobs_task_t *t)
{
    ngx_str_t                   values[2];
    ngx_uint_t                  i, job;
    ngx_http_backend_family_t  *f;

    job = (t->kind == NGX_HTTP_BACKEND_JOBS_JOB);

    f = job ? ngx_http_backend_metrics_family(cf, "backend_jobs_runs_total",
                                      "Runs of scheduled jobs, by outcome.",
                                      NGX_HTTP_BACKEND_COUNTER,
                                      "schedule,outcome")
            : ngx_http_backend_metrics_family(cf, "backend_queue_items_total",
                                      "Attempts at queue items, by outcome.",
                                      NGX_HTTP_BACKEND_COUNTER,
                                      "queue,outcome");
    if (f == NULL) {
        return NGX_ERROR;
    }

    values[0] = t->name;

    for (i = 0; i < NGX_HTTP_BACKEND_JOBS_OUTCOMES; i++) {
        values[1] = ngx_http_backend_jobs_outcome_names[job ? 0 : 1][i];

        t->outcomes[i] = ngx_http_backend_metrics_series(cf, f, values);
        if (t->outcomes[i] == NULL) {
            return NGX_ERROR;
        }
    }

    f = job ? ngx_http_backend_metrics_duration(cf,
                                      "backend_jobs_run_duration_seconds",
                                      "Duration of successful job runs.",
                                      "schedule")
            : ngx_http_backend_metrics_duration(cf,
                                      "backend_queue_item_duration_seconds",
                                      "Duration of successful queue items.",
                                      "queue");
    if (f == NULL) {
        return NGX_ERROR;
    }

    t->duration = ngx_http_backend_metrics_series(cf, f, values);

    f = job ? ngx_http_backend_metrics_duration(cf,
                                      "backend_jobs_lag_seconds",
                                      "From a slot's time to its claim.",
                                      "schedule")
            : ngx_http_backend_metrics_duration(cf,
                                      "backend_queue_lag_seconds",
                                      "From an item's enqueueing to its "
                                      "first claim.", "queue");
    if (f == NULL) {
        return NGX_ERROR;
    }

    t->lag = ngx_http_backend_metrics_series(cf, f, values);

    if (job) {
        f = ngx_http_backend_metrics_family(cf,
                              "backend_jobs_last_success_timestamp_seconds",
                              "When a run of the job last succeeded "
                              "(Unix time).", NGX_HTTP_BACKEND_GAUGE_MAX,
                              "schedule");
        if (f == NULL) {
            return NGX_ERROR;
        }

        t->last_success = ngx_http_backend_metrics_series(cf, f, values);

        f = ngx_http_backend_metrics_family(cf,
                                            "backend_jobs_missed_slots_total",
                                            "Slots recorded as missed by "
                                            "catch-up.",
                                            NGX_HTTP_BACKEND_COUNTER,
                                            "schedule");
        if (f == NULL) {
            return NGX_ERROR;
        }

        t->missed = ngx_http_backend_metrics_series(cf, f, values);

        f = ngx_http_backend_metrics_family(cf,
                                            "backend_jobs_skipped_slots_total",
                                            "Slots recorded as skipped: a run "
                                            "of the job was still going.",
                                            NGX_HTTP_BACKEND_COUNTER,
                                            "schedule");
        if (f == NULL) {
            return NGX_ERROR;
        }

        t->skipped = ngx_http_backend_metrics_series(cf, f, values);

        if (t->last_success == NULL || t->missed == NULL
            || t->skipped == NULL)
        {
            return NGX_ERROR;
        }

    } else {
        f = ngx_http_backend_metrics_family(cf, "backend_queue_depth",
                                            "Pending and running items.",
                                            NGX_HTTP_BACKEND_GAUGE_MAX,
                                            "queue");
        if (f == NULL) {
            return NGX_ERROR;
        }

        t->depth = ngx_http_backend_metrics_series(cf, f, values);

        f = ngx_http_backend_metrics_family(cf,
                                            "backend_queue_oldest_seconds",
                                            "How long the oldest due item "
                                            "has waited.",
                                            NGX_HTTP_BACKEND_GAUGE_MAX,
                                            "queue");
        if (f == NULL) {
            return NGX_ERROR;
        }

        t->oldest = ngx_http_backend_metrics_series(cf, f, values);

        if (t->depth == NULL || t->oldest == NULL) {
            return NGX_ERROR;
        }

        t->depth->always = 1;
        t->oldest->always = 1;
    }

    if (t->duration == NULL || t->lag == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}
