
/*
 * Copyright (C) ngx_backend authors
 */


#ifndef _NGX_HTTP_BACKEND_JOBS_INT_H_INCLUDED_
#define _NGX_HTTP_BACKEND_JOBS_INT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_backend.h"
#include "ngx_http_backend_jobs.h"
#include "ngx_http_backend_metrics.h"


/*
 * What the jobs module's configuration (ngx_http_backend_jobs_conf.c)
 * and its run time (ngx_http_backend_jobs.c) share; the module's types,
 * which its listener uses too, are in ngx_http_backend_jobs.h
 */


extern char  *ngx_http_backend_jobs_catch_up[];

ngx_int_t ngx_http_backend_jobs_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
ngx_int_t ngx_http_backend_jobs_init_process(ngx_cycle_t *cycle);
void ngx_http_backend_jobs_exit_process(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_BACKEND_JOBS_INT_H_INCLUDED_ */
