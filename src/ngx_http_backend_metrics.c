
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <nginx.h>

#include "ngx_http_backend_metrics.h"


/*
 * The zone: a header, an index of series by their exposed name (kept
 * across reloads, so a series keeps its cells and its counts), and the
 * cells, slot after slot.  Each worker process claims a slot of its own
 * in init_process and gives it back in exit_process; the slot of a
 * process that died is taken back by the next one to start.  Counters of
 * a slot given back still count: a new owner goes on adding to them.
 */

#define NGX_HTTP_BACKEND_METRICS_SLOTS  32


typedef struct {
    ngx_rbtree_t                    rbtree;
    ngx_rbtree_node_t               sentinel;
    ngx_uint_t                      capacity;   /* cells in a slot */
    ngx_uint_t                      used;
    ngx_atomic_t                    high;       /* slots ever claimed */
    ngx_atomic_t                    reloads;
    ngx_atomic_t                    starts;
    ngx_atomic_t                    crashes;
    ngx_atomic_t                    owner[NGX_HTTP_BACKEND_METRICS_SLOTS];
    ngx_atomic_t                   *cells;
} ngx_http_backend_metrics_shm_t;


typedef struct {
    ngx_str_node_t                  sn;
    ngx_uint_t                      cell;
    ngx_uint_t                      ncells;
} ngx_http_backend_metrics_key_t;


typedef struct {
    ngx_flag_t                      enabled;
} ngx_http_backend_metrics_loc_conf_t;


typedef struct {
    ngx_http_request_t             *request;
    ngx_chain_t                    *out;
    ngx_chain_t                   **last;
    ngx_buf_t                      *buf;
} ngx_http_backend_metrics_writer_t;


static ngx_int_t ngx_http_backend_metrics_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_backend_metrics_write(ngx_http_request_t *r,
    ngx_http_backend_metrics_t *reg, ngx_chain_t **out);
static u_char *ngx_http_backend_metrics_reserve(
    ngx_http_backend_metrics_writer_t *w, size_t n);
static ngx_int_t ngx_http_backend_metrics_write_family(
    ngx_http_backend_metrics_writer_t *w, ngx_http_backend_metrics_t *reg,
    ngx_http_backend_family_t *f, uint64_t live);
static ngx_int_t ngx_http_backend_metrics_write_builtin(
    ngx_http_backend_metrics_writer_t *w, ngx_http_backend_metrics_shm_t *sh,
    ngx_uint_t workers);
static uint64_t ngx_http_backend_metrics_live(
    ngx_http_backend_metrics_shm_t *sh);
static ngx_int_t ngx_http_backend_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_backend_metrics_bind(ngx_shm_zone_t *shm_zone,
    ngx_http_backend_metrics_t *reg, ngx_http_backend_metrics_shm_t *sh);
static void ngx_http_backend_metrics_reset_gauges(
    ngx_http_backend_metrics_t *reg);
static ngx_int_t ngx_http_backend_metrics_bounds(ngx_conf_t *cf,
    ngx_http_backend_family_t *f, ngx_str_t *bounds, ngx_uint_t n,
    ngx_uint_t scale);
static ngx_int_t ngx_http_backend_metrics_init_process(ngx_cycle_t *cycle);
static void ngx_http_backend_metrics_exit_process(ngx_cycle_t *cycle);
static void *ngx_http_backend_metrics_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_backend_metrics_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_backend_metrics_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static ngx_int_t ngx_http_backend_metrics_postconfiguration(ngx_conf_t *cf);
static char *ngx_http_backend_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_backend_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_backend_metrics_buckets(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);


/* 0.5 ms to 10 s */

static char  *ngx_http_backend_metrics_default_durations[] = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
    "0.25", "0.5", "1", "2.5", "5", "10", NULL
};


static ngx_command_t  ngx_http_backend_metrics_commands[] = {

    { ngx_string("backend_metrics_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_backend_metrics_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("backend_metrics_duration_buckets"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_backend_metrics_buckets,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("backend_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_backend_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_backend_metrics_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_backend_metrics_postconfiguration, /* postconfiguration */

    ngx_http_backend_metrics_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_backend_metrics_create_loc_conf, /* create location conf */
    ngx_http_backend_metrics_merge_loc_conf   /* merge location conf */
};


ngx_module_t  ngx_http_backend_metrics_module = {
    NGX_MODULE_V1,
    &ngx_http_backend_metrics_module_ctx,  /* module context */
    ngx_http_backend_metrics_commands,     /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_backend_metrics_init_process, /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_backend_metrics_exit_process, /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* declaration: families and series */

ngx_http_backend_family_t *
ngx_http_backend_metrics_family(ngx_conf_t *cf, char *name, char *help,
    ngx_uint_t type, char *labels)
{
    u_char                      *p, *start;
    ngx_uint_t                   i;
    ngx_http_backend_family_t   *f, **fp;
    ngx_http_backend_metrics_t  *reg;

    reg = ngx_http_conf_get_module_main_conf(cf,
                                            ngx_http_backend_metrics_module);

    fp = reg->families.elts;

    for (i = 0; i < reg->families.nelts; i++) {
        f = fp[i];

        if (ngx_strcmp(f->name.data, name) == 0) {
            if (f->type != type) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "metric \"%s\" declared twice with "
                                   "different types", name);
                return NULL;
            }

            return f;
        }
    }

    f = ngx_pcalloc(cf->pool, sizeof(ngx_http_backend_family_t));
    if (f == NULL) {
        return NULL;
    }

    f->name.data = (u_char *) name;
    f->name.len = ngx_strlen(name);
    f->help.data = (u_char *) help;
    f->help.len = ngx_strlen(help);
    f->type = type;
    f->registry = reg;

    for (p = (u_char *) labels; p && *p; /* void */) {
        start = p;

        while (*p && *p != ',') {
            p++;
        }

        if (f->nlabels == NGX_HTTP_BACKEND_METRICS_LABELS) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "metric \"%s\" has too many labels", name);
            return NULL;
        }

        f->labels[f->nlabels].data = start;
        f->labels[f->nlabels].len = p - start;
        f->nlabels++;

        if (*p == ',') {
            p++;
        }
    }

    if (ngx_array_init(&f->series, cf->pool, 4,
                       sizeof(ngx_http_backend_series_t *))
        != NGX_OK)
    {
        return NULL;
    }

    fp = ngx_array_push(&reg->families);
    if (fp == NULL) {
        return NULL;
    }

    *fp = f;

    return f;
}


ngx_http_backend_family_t *
ngx_http_backend_metrics_duration(ngx_conf_t *cf, char *name, char *help,
    char *labels)
{
    char                        **d;
    ngx_str_t                    *b;
    ngx_uint_t                    n;
    ngx_array_t                  *bounds;
    ngx_http_backend_family_t    *f;
    ngx_http_backend_metrics_t   *reg;

    f = ngx_http_backend_metrics_family(cf, name, help,
                                        NGX_HTTP_BACKEND_HISTOGRAM, labels);
    if (f == NULL || f->bounds) {
        return f;
    }

    reg = f->registry;

    if (reg->duration_bounds == NULL) {
        bounds = ngx_array_create(cf->pool, 16, sizeof(ngx_str_t));
        if (bounds == NULL) {
            return NULL;
        }

        for (d = ngx_http_backend_metrics_default_durations; *d; d++) {
            b = ngx_array_push(bounds);
            if (b == NULL) {
                return NULL;
            }

            b->data = (u_char *) *d;
            b->len = ngx_strlen(*d);
        }

        reg->duration_bounds = bounds;
    }

    n = reg->duration_bounds->nelts;

    if (ngx_http_backend_metrics_bounds(cf, f, reg->duration_bounds->elts, n,
                                        1000000)
        != NGX_OK)
    {
        return NULL;
    }

    return f;
}


ngx_http_backend_family_t *
ngx_http_backend_metrics_histogram(ngx_conf_t *cf, char *name, char *help,
    char *labels, char *bounds)
{
    u_char                     *p, *start;
    ngx_str_t                   b[32];
    ngx_uint_t                  n;
    ngx_http_backend_family_t  *f;

    f = ngx_http_backend_metrics_family(cf, name, help,
                                        NGX_HTTP_BACKEND_HISTOGRAM, labels);
    if (f == NULL || f->bounds) {
        return f;
    }

    n = 0;

    for (p = (u_char *) bounds; *p && n < 32; /* void */) {
        start = p;

        while (*p && *p != ' ') {
            p++;
        }

        b[n].data = start;
        b[n].len = p - start;
        n++;

        while (*p == ' ') {
            p++;
        }
    }

    if (ngx_http_backend_metrics_bounds(cf, f, b, n, 1) != NGX_OK) {
        return NULL;
    }

    return f;
}


static ngx_int_t
ngx_http_backend_metrics_bounds(ngx_conf_t *cf, ngx_http_backend_family_t *f,
    ngx_str_t *bounds, ngx_uint_t n, ngx_uint_t scale)
{
    ngx_int_t   v;
    ngx_uint_t  i, points;

    points = (scale == 1000000) ? 6 : 0;

    f->bounds = ngx_palloc(cf->pool, n * sizeof(ngx_str_t));
    f->limits = ngx_palloc(cf->pool, n * sizeof(uint64_t));

    if (f->bounds == NULL || f->limits == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        v = points ? ngx_atofp(bounds[i].data, bounds[i].len, points)
                   : ngx_atoi(bounds[i].data, bounds[i].len);

        if (v <= 0 || (i && (uint64_t) v <= f->limits[i - 1])) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid bucket \"%V\" of metric \"%V\": "
                               "bounds must be positive and increasing"
                               "%s", &bounds[i], &f->name,
                               points ? ", in seconds, with at most 6 "
                                        "decimals" : "");
            return NGX_ERROR;
        }

        f->bounds[i] = bounds[i];
        f->limits[i] = v;
    }

    f->nbuckets = n;
    f->scale = scale;

    return NGX_OK;
}


ngx_http_backend_series_t *
ngx_http_backend_metrics_series(ngx_conf_t *cf, ngx_http_backend_family_t *f,
    ngx_str_t *values)
{
    u_char                      *p;
    size_t                       len;
    ngx_uint_t                   i, k;
    ngx_http_backend_series_t   *s, **sp;

    len = 0;

    for (i = 0; i < f->nlabels; i++) {
        len += f->labels[i].len + sizeof("=\"\",") - 1;

        for (k = 0; k < values[i].len; k++) {
            len += (values[i].data[k] == '\\' || values[i].data[k] == '"'
                    || values[i].data[k] == '\n') ? 2 : 1;
        }
    }

    p = ngx_pnalloc(cf->pool, len);
    if (p == NULL) {
        return NULL;
    }

    len = 0;

    for (i = 0; i < f->nlabels; i++) {
        if (i) {
            p[len++] = ',';
        }

        len = ngx_cpymem(p + len, f->labels[i].data, f->labels[i].len) - p;
        p[len++] = '=';
        p[len++] = '"';

        for (k = 0; k < values[i].len; k++) {
            switch (values[i].data[k]) {
            case '\\':
            case '"':
                p[len++] = '\\';
                p[len++] = values[i].data[k];
                break;
            case '\n':
                p[len++] = '\\';
                p[len++] = 'n';
                break;
            default:
                p[len++] = values[i].data[k];
            }
        }

        p[len++] = '"';
    }

    sp = f->series.elts;

    for (i = 0; i < f->series.nelts; i++) {
        if (sp[i]->labels.len == len
            && ngx_memcmp(sp[i]->labels.data, p, len) == 0)
        {
            return sp[i];
        }
    }

    s = ngx_pcalloc(cf->pool, sizeof(ngx_http_backend_series_t));
    if (s == NULL) {
        return NULL;
    }

    s->family = f;
    s->registry = f->registry;
    s->labels.data = p;
    s->labels.len = len;
    s->ncells = (f->type == NGX_HTTP_BACKEND_HISTOGRAM) ? f->nbuckets + 2 : 1;

    /* an index in the registry until the zone gives it its cells */
    s->cell = f->registry->ncells;
    f->registry->ncells += s->ncells;

    sp = ngx_array_push(&f->series);
    if (sp == NULL) {
        return NULL;
    }

    *sp = s;

    return s;
}


ngx_http_backend_series_t *
ngx_http_backend_metrics_series1(ngx_conf_t *cf, ngx_http_backend_family_t *f,
    char *value)
{
    ngx_str_t  v;

    if (value) {
        v.data = (u_char *) value;
        v.len = ngx_strlen(value);
    } else {
        ngx_str_null(&v);
    }

    return ngx_http_backend_metrics_series(cf, f, &v);
}


/* updates */

void
ngx_http_backend_metrics_observe(ngx_http_backend_series_t *s, uint64_t value)
{
    ngx_uint_t                  i;
    ngx_atomic_t               *c;
    ngx_http_backend_family_t  *f;

    if (s == NULL || s->registry->slot == NULL) {
        return;
    }

    f = s->family;
    c = &s->registry->slot[s->cell];

    for (i = 0; i < f->nbuckets; i++) {
        if (value <= f->limits[i]) {
            break;
        }
    }

    /* buckets are kept apart and made cumulative when scraped */

    (void) ngx_atomic_fetch_add(&c[i], 1);
    (void) ngx_atomic_fetch_add(&c[f->nbuckets + 1], value);
}


uint64_t
ngx_http_backend_metrics_now(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


/* the scrape */

static ngx_int_t
ngx_http_backend_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_chain_t                 *out, *cl;
    ngx_http_backend_metrics_t  *reg;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    reg = ngx_http_get_module_main_conf(r, ngx_http_backend_metrics_module);

    out = NULL;

    if (r->method == NGX_HTTP_GET) {
        if (ngx_http_backend_metrics_write(r, reg, &out) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    r->headers_out.status = NGX_HTTP_OK;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = sizeof("text/plain") - 1;
    r->headers_out.content_length_n = 0;

    for (cl = out; cl; cl = cl->next) {
        r->headers_out.content_length_n += ngx_buf_size(cl->buf);
    }

    if (r->method == NGX_HTTP_HEAD || out == NULL) {
        r->header_only = 1;
        return ngx_http_send_header(r);
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, out);
}


static ngx_int_t
ngx_http_backend_metrics_write(ngx_http_request_t *r,
    ngx_http_backend_metrics_t *reg, ngx_chain_t **out)
{
    uint64_t                           live;
    ngx_uint_t                         i, workers;
    ngx_http_backend_family_t        **fp;
    ngx_http_backend_metrics_shm_t    *sh;
    ngx_http_backend_metrics_writer_t  w;

    w.request = r;
    w.out = NULL;
    w.last = &w.out;
    w.buf = NULL;

    sh = reg->zone->data;

    live = ngx_http_backend_metrics_live(sh);

    for (workers = 0, i = 0; i < NGX_HTTP_BACKEND_METRICS_SLOTS; i++) {
        workers += (live >> i) & 1;
    }

    if (ngx_http_backend_metrics_write_builtin(&w, sh, workers) != NGX_OK) {
        return NGX_ERROR;
    }

    fp = reg->families.elts;

    for (i = 0; i < reg->families.nelts; i++) {
        if (ngx_http_backend_metrics_write_family(&w, reg, fp[i], live)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (w.buf) {
        w.buf->last_buf = (r == r->main) ? 1 : 0;
        w.buf->last_in_chain = 1;
    }

    *out = w.out;

    return NGX_OK;
}


/* the slots whose owner is alive: theirs are the gauges that count */

static uint64_t
ngx_http_backend_metrics_live(ngx_http_backend_metrics_shm_t *sh)
{
    uint64_t    live;
    ngx_pid_t   pid;
    ngx_uint_t  i;

    live = 0;

    for (i = 0; i < sh->high && i < NGX_HTTP_BACKEND_METRICS_SLOTS; i++) {
        pid = (ngx_pid_t) sh->owner[i];

        if (pid == 0) {
            continue;
        }

        if (pid == ngx_pid || kill(pid, 0) == 0 || ngx_errno == NGX_EPERM) {
            live |= (uint64_t) 1 << i;
        }
    }

    return live;
}


static u_char *
ngx_http_backend_metrics_reserve(ngx_http_backend_metrics_writer_t *w,
    size_t n)
{
    size_t        size;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (w->buf && (size_t) (w->buf->end - w->buf->last) >= n) {
        return w->buf->last;
    }

    size = ngx_max(n, 32768);

    b = ngx_create_temp_buf(w->request->pool, size);
    if (b == NULL) {
        return NULL;
    }

    cl = ngx_alloc_chain_link(w->request->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;
    *w->last = cl;
    w->last = &cl->next;
    w->buf = b;

    return b->last;
}


static ngx_int_t
ngx_http_backend_metrics_write_builtin(ngx_http_backend_metrics_writer_t *w,
    ngx_http_backend_metrics_shm_t *sh, ngx_uint_t workers)
{
    u_char  *p;

    p = ngx_http_backend_metrics_reserve(w, 1024);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(p,
        "# HELP backend_build_info The module's version and the nginx it "
        "runs in.\n"
        "# TYPE backend_build_info gauge\n"
        "backend_build_info{version=\"" NGX_HTTP_BACKEND_VERSION "\","
        "nginx_version=\"" NGINX_VERSION "\"} 1\n"
        "# HELP backend_workers Worker processes alive (during a reload, "
        "old and new).\n"
        "# TYPE backend_workers gauge\n"
        "backend_workers %ui\n"
        "# HELP backend_worker_starts_total Worker processes started.\n"
        "# TYPE backend_worker_starts_total counter\n"
        "backend_worker_starts_total %uA\n"
        "# HELP backend_worker_crashes_total Worker processes found to have "
        "died without exiting.\n"
        "# TYPE backend_worker_crashes_total counter\n"
        "backend_worker_crashes_total %uA\n"
        "# HELP backend_config_reloads_total Configuration reloads that "
        "kept the metrics zone.\n"
        "# TYPE backend_config_reloads_total counter\n"
        "backend_config_reloads_total %uA\n",
        workers, sh->starts, sh->crashes, sh->reloads);

    w->buf->last = p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_backend_metrics_write_family(ngx_http_backend_metrics_writer_t *w,
    ngx_http_backend_metrics_t *reg, ngx_http_backend_family_t *f,
    uint64_t live)
{
    u_char                            *p;
    int64_t                            g, v;
    uint64_t                           sum, cum, total, high;
    ngx_uint_t                         i, j, k, nslots, first;
    ngx_atomic_t                      *cells;
    ngx_http_backend_series_t        **sp, *s;
    ngx_http_backend_metrics_shm_t    *sh;

    static char  *types[] = { "counter", "gauge", "gauge", "gauge",
                              "histogram" };

    sh = reg->zone->data;
    cells = sh->cells;
    high = sh->high;
    nslots = ngx_min(high, NGX_HTTP_BACKEND_METRICS_SLOTS);

    p = ngx_http_backend_metrics_reserve(w, 2 * f->name.len + f->help.len
                                            + 64);
    if (p == NULL) {
        return NGX_ERROR;
    }

    w->buf->last = ngx_sprintf(p, "# HELP %V %V\n# TYPE %V %s\n",
                               &f->name, &f->help, &f->name,
                               types[f->type]);

    sp = f->series.elts;

    for (i = 0; i < f->series.nelts; i++) {
        s = sp[i];

        if (f->type != NGX_HTTP_BACKEND_HISTOGRAM) {

            g = 0;
            first = 1;

            for (k = 0; k < nslots; k++) {
                if (f->type != NGX_HTTP_BACKEND_COUNTER
                    && !((live >> k) & 1))
                {
                    continue;
                }

                v = (int64_t) cells[k * sh->capacity + s->cell];

                switch (f->type) {

                case NGX_HTTP_BACKEND_GAUGE_MAX:
                    g = (first || v > g) ? v : g;
                    break;

                case NGX_HTTP_BACKEND_GAUGE_MIN:
                    g = (first || v < g) ? v : g;
                    break;

                default:
                    g += v;
                }

                first = 0;
            }

            if (g == 0 && !s->always) {
                continue;
            }

            p = ngx_http_backend_metrics_reserve(w, f->name.len
                                                    + s->labels.len + 32);
            if (p == NULL) {
                return NGX_ERROR;
            }

            if (s->labels.len) {
                p = ngx_sprintf(p, "%V{%V} ", &f->name, &s->labels);
            } else {
                p = ngx_sprintf(p, "%V ", &f->name);
            }

            if (f->type == NGX_HTTP_BACKEND_COUNTER) {
                p = ngx_sprintf(p, "%uL\n", (uint64_t) g);
            } else {
                p = ngx_sprintf(p, "%L\n", g);
            }

            w->buf->last = p;

            continue;
        }

        /* a histogram: its buckets summed over the slots, cumulated */

        total = 0;
        sum = 0;

        for (k = 0; k < nslots; k++) {
            for (j = 0; j <= f->nbuckets; j++) {
                total += cells[k * sh->capacity + s->cell + j];
            }

            sum += cells[k * sh->capacity + s->cell + f->nbuckets + 1];
        }

        if (total == 0 && !s->always) {
            continue;
        }

        p = ngx_http_backend_metrics_reserve(w, (f->nbuckets + 3)
                                                * (f->name.len
                                                   + s->labels.len + 64));
        if (p == NULL) {
            return NGX_ERROR;
        }

        cum = 0;

        for (j = 0; j <= f->nbuckets; j++) {
            for (k = 0; k < nslots; k++) {
                cum += cells[k * sh->capacity + s->cell + j];
            }

            /* a bucket read after the total may count more: never more
             * than +Inf says */
            if (cum > total) {
                cum = total;
            }

            p = ngx_sprintf(p, "%V_bucket{%V%s", &f->name, &s->labels,
                            s->labels.len ? "," : "");

            if (j < f->nbuckets) {
                p = ngx_sprintf(p, "le=\"%V\"} %uL\n", &f->bounds[j], cum);
            } else {
                p = ngx_sprintf(p, "le=\"+Inf\"} %uL\n", total);
            }

        }

        if (s->labels.len) {
            p = ngx_sprintf(p, "%V_sum{%V} ", &f->name, &s->labels);
        } else {
            p = ngx_sprintf(p, "%V_sum ", &f->name);
        }

        if (f->scale == 1000000) {
            p = ngx_sprintf(p, "%uL.%06uL\n", sum / 1000000, sum % 1000000);
        } else {
            p = ngx_sprintf(p, "%uL\n", sum);
        }

        if (s->labels.len) {
            p = ngx_sprintf(p, "%V_count{%V} %uL\n", &f->name, &s->labels,
                            total);
        } else {
            p = ngx_sprintf(p, "%V_count %uL\n", &f->name, total);
        }

        w->buf->last = p;
    }

    return NGX_OK;
}


/* the zone */

static ngx_int_t
ngx_http_backend_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    size_t                           size;
    ngx_slab_pool_t                 *shpool;
    ngx_http_backend_metrics_t      *reg;
    ngx_http_backend_metrics_shm_t  *sh;

    /* the registry until now; the zone's header from here on */
    reg = shm_zone->data;
    reg->zone = shm_zone;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (data) {
        /* a reload: the old configuration's zone, its series kept */

        sh = data;
        shm_zone->data = sh;

        (void) ngx_atomic_fetch_add(&sh->reloads, 1);

        return ngx_http_backend_metrics_bind(shm_zone, reg, sh);
    }

    if (shm_zone->shm.exists) {
        /* Windows only */
        return NGX_ERROR;
    }

    sh = ngx_slab_calloc(shpool, sizeof(ngx_http_backend_metrics_shm_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    shpool->data = sh;
    shm_zone->data = sh;

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel, ngx_str_rbtree_insert_value);

    /* half of the zone for the cells, the rest for the index */

    size = shm_zone->shm.size / 2;
    sh->capacity = size / (NGX_HTTP_BACKEND_METRICS_SLOTS
                           * sizeof(ngx_atomic_t));

    sh->cells = ngx_slab_calloc(shpool, sh->capacity
                                        * NGX_HTTP_BACKEND_METRICS_SLOTS
                                        * sizeof(ngx_atomic_t));
    if (sh->cells == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shpool->log_ctx, " in backend_metrics_zone \"%V\"%Z",
                &shm_zone->shm.name);

    return ngx_http_backend_metrics_bind(shm_zone, reg, sh);
}


/* each series of this configuration to its cells, found by its name */

static ngx_int_t
ngx_http_backend_metrics_bind(ngx_shm_zone_t *shm_zone,
    ngx_http_backend_metrics_t *reg, ngx_http_backend_metrics_shm_t *sh)
{
    u_char                          *p, *buf;
    size_t                           len, max;
    uint32_t                         hash;
    ngx_int_t                        rc;
    ngx_str_t                        key;
    ngx_uint_t                       i, j;
    ngx_slab_pool_t                 *shpool;
    ngx_http_backend_family_t      **fp, *f;
    ngx_http_backend_series_t      **sp, *s;
    ngx_http_backend_metrics_key_t  *k;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    max = 0;
    fp = reg->families.elts;

    for (i = 0; i < reg->families.nelts; i++) {
        sp = fp[i]->series.elts;

        for (j = 0; j < fp[i]->series.nelts; j++) {
            max = ngx_max(max, fp[i]->name.len + sp[j]->labels.len + 2);
        }
    }

    buf = ngx_alloc(max + 1, shm_zone->shm.log);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_OK;

    for (i = 0; i < reg->families.nelts; i++) {
        f = fp[i];
        sp = f->series.elts;

        for (j = 0; j < f->series.nelts; j++) {
            s = sp[j];

            p = ngx_cpymem(buf, f->name.data, f->name.len);
            *p++ = '{';
            p = ngx_cpymem(p, s->labels.data, s->labels.len);
            *p++ = '}';

            key.data = buf;
            key.len = p - buf;
            hash = ngx_crc32_short(key.data, key.len);

            k = (ngx_http_backend_metrics_key_t *)
                    ngx_str_rbtree_lookup(&sh->rbtree, &key, hash);

            if (k && k->ncells == s->ncells) {
                s->cell = k->cell;
                continue;
            }

            if (sh->used + s->ncells > sh->capacity) {
                ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                              "backend_metrics_zone \"%V\" is too small: "
                              "%ui cells of series fit in it, more are "
                              "needed", &shm_zone->shm.name, sh->capacity);
                rc = NGX_ERROR;
                goto done;
            }

            if (k == NULL) {
                len = sizeof(ngx_http_backend_metrics_key_t) + key.len;

                k = ngx_slab_alloc(shpool, len);
                if (k == NULL) {
                    ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                                  "backend_metrics_zone \"%V\" is too "
                                  "small for the names of its series",
                                  &shm_zone->shm.name);
                    rc = NGX_ERROR;
                    goto done;
                }

                k->sn.str.data = (u_char *) k
                                 + sizeof(ngx_http_backend_metrics_key_t);
                k->sn.str.len = key.len;
                ngx_memcpy(k->sn.str.data, key.data, key.len);
                k->sn.node.key = hash;

                ngx_rbtree_insert(&sh->rbtree, &k->sn.node);
            }

            /* new, or a histogram whose buckets changed: new cells */

            k->cell = sh->used;
            k->ncells = s->ncells;
            sh->used += s->ncells;

            s->cell = k->cell;
        }
    }

done:

    ngx_free(buf);

    return rc;
}


/* a slot of its own for each worker process */

static ngx_int_t
ngx_http_backend_metrics_init_process(ngx_cycle_t *cycle)
{
    ngx_pid_t                        pid;
    ngx_uint_t                       i;
    ngx_http_backend_metrics_t      *reg;
    ngx_http_backend_metrics_shm_t  *sh;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    reg = ngx_http_cycle_get_module_main_conf(cycle,
                                            ngx_http_backend_metrics_module);

    if (reg == NULL || reg->zone == NULL) {
        return NGX_OK;
    }

    sh = reg->zone->data;

    /* slots of processes that died without exit_process: taken back */

    for (i = 0; i < sh->high && i < NGX_HTTP_BACKEND_METRICS_SLOTS; i++) {
        pid = (ngx_pid_t) sh->owner[i];

        if (pid && pid != ngx_pid && kill(pid, 0) == -1
            && ngx_errno == NGX_ESRCH
            && ngx_atomic_cmp_set(&sh->owner[i], pid, 0))
        {
            (void) ngx_atomic_fetch_add(&sh->crashes, 1);
        }
    }

    for (i = 0; i < NGX_HTTP_BACKEND_METRICS_SLOTS; i++) {
        if (ngx_atomic_cmp_set(&sh->owner[i], 0, ngx_pid)) {
            break;
        }
    }

    if (i == NGX_HTTP_BACKEND_METRICS_SLOTS) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "backend_metrics_zone \"%V\": more than %d worker "
                      "processes at once, this one is not counted",
                      &reg->zone->shm.name, NGX_HTTP_BACKEND_METRICS_SLOTS);
        return NGX_OK;
    }

    while (sh->high < i + 1) {
        (void) ngx_atomic_cmp_set(&sh->high, sh->high, i + 1);
    }

    reg->slot_index = i;
    reg->slot = sh->cells + i * sh->capacity;

    /* a dead owner's gauges are not ours */
    ngx_http_backend_metrics_reset_gauges(reg);

    (void) ngx_atomic_fetch_add(&sh->starts, 1);

    return NGX_OK;
}


static void
ngx_http_backend_metrics_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_backend_metrics_t      *reg;
    ngx_http_backend_metrics_shm_t  *sh;

    reg = ngx_http_cycle_get_module_main_conf(cycle,
                                            ngx_http_backend_metrics_module);

    if (reg == NULL || reg->slot == NULL) {
        return;
    }

    sh = reg->zone->data;

    ngx_http_backend_metrics_reset_gauges(reg);
    reg->slot = NULL;

    (void) ngx_atomic_cmp_set(&sh->owner[reg->slot_index], ngx_pid, 0);
}


static void
ngx_http_backend_metrics_reset_gauges(ngx_http_backend_metrics_t *reg)
{
    ngx_uint_t                   i, j;
    ngx_http_backend_family_t  **fp;
    ngx_http_backend_series_t  **sp;

    fp = reg->families.elts;

    for (i = 0; i < reg->families.nelts; i++) {
        if (fp[i]->type == NGX_HTTP_BACKEND_COUNTER
            || fp[i]->type == NGX_HTTP_BACKEND_HISTOGRAM)
        {
            continue;
        }

        sp = fp[i]->series.elts;

        for (j = 0; j < fp[i]->series.nelts; j++) {
            reg->slot[sp[j]->cell] = 0;
        }
    }
}


/* configuration */

static void *
ngx_http_backend_metrics_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_backend_metrics_t  *reg;

    reg = ngx_pcalloc(cf->pool, sizeof(ngx_http_backend_metrics_t));
    if (reg == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     reg->ncells = 0;
     *     reg->zone = NULL;
     *     reg->duration_bounds = NULL;
     *     reg->slot = NULL;
     */

    if (ngx_array_init(&reg->families, cf->pool, 32,
                       sizeof(ngx_http_backend_family_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return reg;
}


static void *
ngx_http_backend_metrics_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_backend_metrics_loc_conf_t  *mlcf;

    mlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_backend_metrics_loc_conf_t));
    if (mlcf == NULL) {
        return NULL;
    }

    mlcf->enabled = NGX_CONF_UNSET;

    return mlcf;
}


static char *
ngx_http_backend_metrics_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_backend_metrics_loc_conf_t  *prev = parent;
    ngx_http_backend_metrics_loc_conf_t  *conf = child;

    ngx_conf_merge_value(conf->enabled, prev->enabled, 0);

    return NGX_CONF_OK;
}


/* every family is declared by now: the zone must hold their series */

static ngx_int_t
ngx_http_backend_metrics_postconfiguration(ngx_conf_t *cf)
{
    size_t                       need;
    ngx_http_backend_metrics_t  *reg;

    reg = ngx_http_conf_get_module_main_conf(cf,
                                            ngx_http_backend_metrics_module);

    if (reg->zone == NULL) {
        if (reg->zone_line) {
            /* backend_metrics without a zone: see the directive */
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"backend_metrics\" in %s:%ui needs "
                          "\"backend_metrics_zone\" at the http level",
                          reg->zone_file, reg->zone_line);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    need = reg->ncells * NGX_HTTP_BACKEND_METRICS_SLOTS
           * sizeof(ngx_atomic_t) * 2;

    if (need > reg->zone->shm.size) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"backend_metrics_zone\" in %s:%ui is too small for "
                      "the %ui series cells of this configuration: give it "
                      "at least %uzk", reg->zone_file, reg->zone_line,
                      reg->ncells, need / 1024 + 64);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* backend_metrics_zone name size */

static char *
ngx_http_backend_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_backend_metrics_t *reg = conf;

    ssize_t     size;
    ngx_str_t  *value;

    if (reg->zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = ngx_parse_size(&value[2]);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", &value[2]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (64 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small: at least %uzk",
                           &value[1], 64 * ngx_pagesize / 1024);
        return NGX_CONF_ERROR;
    }

    reg->zone = ngx_shared_memory_add(cf, &value[1], size,
                                      &ngx_http_backend_metrics_module);
    if (reg->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (reg->zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used", &value[1]);
        return NGX_CONF_ERROR;
    }

    reg->zone->init = ngx_http_backend_metrics_init_zone;
    reg->zone->data = reg;

    reg->zone_file = cf->conf_file->file.name.data;
    reg->zone_line = cf->conf_file->line;

    return NGX_CONF_OK;
}


/* backend_metrics_duration_buckets 0.001 0.01 ... */

static char *
ngx_http_backend_metrics_buckets(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_backend_metrics_t *reg = conf;

    ngx_str_t   *value, *b;
    ngx_int_t    v, prev;
    ngx_uint_t   i;

    if (reg->duration_bounds) {
        return "is duplicate";
    }

    reg->duration_bounds = ngx_array_create(cf->pool, cf->args->nelts,
                                            sizeof(ngx_str_t));
    if (reg->duration_bounds == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;
    prev = 0;

    for (i = 1; i < cf->args->nelts; i++) {
        v = ngx_atofp(value[i].data, value[i].len, 6);

        if (v <= 0 || v <= prev) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid bucket \"%V\": bounds are seconds "
                               "(at most 6 decimals), positive and "
                               "increasing", &value[i]);
            return NGX_CONF_ERROR;
        }

        prev = v;

        b = ngx_array_push(reg->duration_bounds);
        if (b == NULL) {
            return NGX_CONF_ERROR;
        }

        *b = value[i];
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_backend_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_backend_metrics_loc_conf_t *mlcf = conf;

    ngx_http_core_loc_conf_t    *clcf;
    ngx_http_backend_metrics_t  *reg;

    if (mlcf->enabled != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    mlcf->enabled = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_backend_metrics_handler;

    reg = ngx_http_conf_get_module_main_conf(cf,
                                            ngx_http_backend_metrics_module);

    if (reg->zone == NULL && reg->zone_line == 0) {
        /* remembered for the error if no zone comes */
        reg->zone_file = cf->conf_file->file.name.data;
        reg->zone_line = cf->conf_file->line;
    }

    return NGX_CONF_OK;
}
