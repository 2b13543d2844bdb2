
/*
 * Copyright (C) ngx_backend authors
 */


#ifndef _NGX_HTTP_BACKEND_SCHEMA_H_INCLUDED_
#define _NGX_HTTP_BACKEND_SCHEMA_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_backend_json.h"


/*
 * JSON Schema (draft 2020-12) compiled once, when the configuration loads,
 * into a tree that validation walks without parsing anything.  Issues come
 * out in the shape of Zod's, so tRPC clients read them as they would read
 * a Zod-validated server's.
 */


#define NGX_HTTP_BACKEND_SCHEMA_MAX_ISSUES  20


typedef struct ngx_http_backend_schema_s  ngx_http_backend_schema_t;


typedef struct {
    ngx_str_t                     path;       /* ["a",0] */
    ngx_str_t                     first;      /* "a", or empty */
    ngx_str_t                     head;       /* "code":...,... before path */
    ngx_str_t                     message;
} ngx_http_backend_schema_issue_t;


/* NULL on error, with *err = "<JSON pointer>: <reason>" */
ngx_http_backend_schema_t *ngx_http_backend_schema_compile(ngx_pool_t *pool,
    ngx_http_backend_json_t *doc, ngx_str_t *err);

/*
 * *instance may be NULL (no input); defaults are applied to it in place,
 * as Zod's parse does.  NGX_OK: valid; NGX_DECLINED: issues (of
 * ngx_http_backend_schema_issue_t) say why; NGX_ERROR: no memory.  A
 * string or key holding U+0000 is refused anywhere in the input; with a
 * NULL schema, that is all that is checked.
 */
ngx_int_t ngx_http_backend_schema_validate(ngx_http_backend_schema_t *schema,
    ngx_pool_t *pool, ngx_http_backend_json_t **instance, ngx_array_t *issues,
    ngx_uint_t max_issues);

/* ZodError.message (the issues, pretty-printed) and ZodError.flatten() */
ngx_int_t ngx_http_backend_schema_format(ngx_pool_t *pool,
    ngx_array_t *issues, ngx_str_t *message, ngx_str_t *flat);


#endif /* _NGX_HTTP_BACKEND_SCHEMA_H_INCLUDED_ */
