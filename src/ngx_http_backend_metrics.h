
/*
 * Copyright (C) ngx_backend authors
 */


#ifndef _NGX_HTTP_BACKEND_METRICS_H_INCLUDED_
#define _NGX_HTTP_BACKEND_METRICS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * The metrics registry (ngx_http_backend_metrics.c): families and their
 * series are declared at configuration time by the modules that own them;
 * backend_metrics_zone gives each series a cell in shared memory, one per
 * worker slot.  A worker updates only its own slot (an atomic add, no
 * lock); backend_metrics sums the slots when it is scraped.  Without a
 * zone every update is a no-op.
 *
 * A module adds a family in a few lines, in its init_main_conf or
 * postconfiguration:
 *
 *     f = ngx_http_backend_metrics_family(cf, "backend_jobs_total",
 *                                         "Job runs by outcome.",
 *                                         NGX_HTTP_BACKEND_COUNTER,
 *                                         "job,outcome");
 *     values[0] = job->name; ngx_str_set(&values[1], "ok");
 *     job->ok = ngx_http_backend_metrics_series(cf, f, values);
 *
 * and counts on the request path with ngx_http_backend_metrics_add().
 */


#define NGX_HTTP_BACKEND_VERSION           "0.13.0"

#define NGX_HTTP_BACKEND_COUNTER           0
#define NGX_HTTP_BACKEND_GAUGE             1   /* workers' values, summed */
#define NGX_HTTP_BACKEND_GAUGE_MAX         2   /* the largest worker's */
#define NGX_HTTP_BACKEND_GAUGE_MIN         3   /* the smallest worker's */
#define NGX_HTTP_BACKEND_HISTOGRAM         4

#define NGX_HTTP_BACKEND_METRICS_LABELS    4


typedef struct ngx_http_backend_metrics_s  ngx_http_backend_metrics_t;
typedef struct ngx_http_backend_family_s   ngx_http_backend_family_t;
typedef struct ngx_http_backend_series_s   ngx_http_backend_series_t;


struct ngx_http_backend_family_s {
    ngx_str_t                       name;
    ngx_str_t                       help;
    ngx_uint_t                      type;
    ngx_uint_t                      nlabels;
    ngx_str_t                       labels[NGX_HTTP_BACKEND_METRICS_LABELS];

    /* histograms: upper bounds, as written and in the observed unit */
    ngx_uint_t                      nbuckets;   /* without +Inf */
    ngx_str_t                      *bounds;
    uint64_t                       *limits;
    ngx_uint_t                      scale;      /* observed units per 1 */

    ngx_array_t                     series;     /* of series_t * */
    ngx_http_backend_metrics_t     *registry;
};


struct ngx_http_backend_series_s {
    ngx_http_backend_family_t      *family;
    ngx_http_backend_metrics_t     *registry;
    ngx_str_t                       labels;     /* a="x",b="y" */
    ngx_uint_t                      cell;       /* the first, in a slot */
    ngx_uint_t                      ncells;
    unsigned                        always:1;   /* exposed while zero */
};


struct ngx_http_backend_metrics_s {
    ngx_array_t                     families;   /* of family_t * */
    ngx_uint_t                      ncells;

    ngx_shm_zone_t                 *zone;
    u_char                         *zone_file;
    ngx_uint_t                      zone_line;

    ngx_array_t                    *duration_bounds;  /* of ngx_str_t */

    /* the worker's own cells, set in init_process; NULL: no metrics */
    ngx_atomic_t                   *slot;
    ngx_uint_t                      slot_index;
};


ngx_http_backend_family_t *ngx_http_backend_metrics_family(ngx_conf_t *cf,
    char *name, char *help, ngx_uint_t type, char *labels);
/* a histogram of durations in seconds, observed in microseconds, with the
 * buckets of backend_metrics_duration_buckets */
ngx_http_backend_family_t *ngx_http_backend_metrics_duration(ngx_conf_t *cf,
    char *name, char *help, char *labels);
/* a histogram of counts or sizes with bounds as written ("1 2 4 8") */
ngx_http_backend_family_t *ngx_http_backend_metrics_histogram(
    ngx_conf_t *cf, char *name, char *help, char *labels, char *bounds);
/* values: one per label of the family; the same values give the same
 * series */
ngx_http_backend_series_t *ngx_http_backend_metrics_series(ngx_conf_t *cf,
    ngx_http_backend_family_t *f, ngx_str_t *values);
/* a series of a family without labels, or with its one label set to a
 * C string */
ngx_http_backend_series_t *ngx_http_backend_metrics_series1(ngx_conf_t *cf,
    ngx_http_backend_family_t *f, char *value);

void ngx_http_backend_metrics_observe(ngx_http_backend_series_t *s,
    uint64_t value);
/* monotonic microseconds, for durations */
uint64_t ngx_http_backend_metrics_now(void);


/* counters and summed gauges: add n (a gauge may add a negative n) */

static ngx_inline void
ngx_http_backend_metrics_add(ngx_http_backend_series_t *s,
    ngx_atomic_int_t n)
{
    if (s && s->registry->slot) {
        (void) ngx_atomic_fetch_add(&s->registry->slot[s->cell], n);
    }
}


/* gauges: the worker's value */

static ngx_inline void
ngx_http_backend_metrics_set(ngx_http_backend_series_t *s,
    ngx_atomic_int_t v)
{
    if (s && s->registry->slot) {
        s->registry->slot[s->cell] = (ngx_atomic_uint_t) v;
    }
}


extern ngx_module_t  ngx_http_backend_metrics_module;


#endif /* _NGX_HTTP_BACKEND_METRICS_H_INCLUDED_ */
