
/*
 * Copyright (C) ngx_backend authors
 */


#ifndef _NGX_HTTP_BACKEND_SCHEMA_INT_H_INCLUDED_
#define _NGX_HTTP_BACKEND_SCHEMA_INT_H_INCLUDED_


/*
 * What the schema compiler (ngx_http_backend_schema.c), the validator
 * (ngx_http_backend_schema_check.c) and Zod's formats and issues
 * (ngx_http_backend_schema_zod.c) share; not for other modules.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <math.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "ngx_http_backend_schema.h"


/*
 * Issues follow Zod 4's (codes, paths, messages, key order) for what a Zod
 * schema exports to; keywords Zod has no counterpart for get "custom"
 * issues with a plain message.
 */


#define NGX_SCHEMA_NULL      0x01
#define NGX_SCHEMA_BOOLEAN   0x02
#define NGX_SCHEMA_OBJECT    0x04
#define NGX_SCHEMA_ARRAY     0x08
#define NGX_SCHEMA_NUMBER    0x10
#define NGX_SCHEMA_STRING    0x20
#define NGX_SCHEMA_INTEGER   0x40
/* superjson's: a Date ("x-superjson": "Date"), a bigint */
#define NGX_SCHEMA_DATE      0x80
#define NGX_SCHEMA_BIGINT    0x100

#define NGX_SCHEMA_MAX_DEPTH  64

/*
 * PCRE2's own limits are 10,000,000 steps per match and the same depth;
 * a pattern that backtracks catastrophically (^(a+)+$ given "aaa...!")
 * would hold the worker for seconds per string.  These end it at a few
 * milliseconds, and validation stops at NGX_HTTP_BACKEND_SCHEMA_MAX_ISSUES
 * such strings.
 */
#define NGX_SCHEMA_MATCH_LIMIT  100000
#define NGX_SCHEMA_DEPTH_LIMIT  10000

/* Number.MAX_SAFE_INTEGER, the bound of Zod's .int() */
#define NGX_SCHEMA_MAX_SAFE     9007199254740991.0

#define ngx_schema_alnum(c)                                                   \
    (((c) >= '0' && (c) <= '9') || ((c) >= 'a' && (c) <= 'z')                 \
     || ((c) >= 'A' && (c) <= 'Z'))

#define NGX_SCHEMA_FORMAT_NONE       0
#define NGX_SCHEMA_FORMAT_DATE_TIME  1
#define NGX_SCHEMA_FORMAT_DATE       2
#define NGX_SCHEMA_FORMAT_TIME       3
#define NGX_SCHEMA_FORMAT_EMAIL      4
#define NGX_SCHEMA_FORMAT_UUID       5
#define NGX_SCHEMA_FORMAT_URI        6
#define NGX_SCHEMA_FORMAT_IPV4       7
#define NGX_SCHEMA_FORMAT_IPV6       8


typedef struct {
    ngx_str_t                     name;
    ngx_http_backend_schema_t    *schema;
    pcre2_code                   *re;         /* patternProperties */
    ngx_array_t                  *names;      /* dependentRequired */
} ngx_http_backend_schema_prop_t;


struct ngx_http_backend_schema_s {
    ngx_int_t                     always;     /* -1, or a boolean schema */
    ngx_uint_t                    types;

    ngx_array_t                  *properties;
    ngx_array_t                  *pattern_properties;
    ngx_array_t                  *dependent_required;
    ngx_array_t                  *dependent_schemas;
    ngx_array_t                  *required;   /* of ngx_str_t */
    ngx_array_t                  *prefix_items;
    ngx_array_t                  *all_of;
    ngx_array_t                  *any_of;
    ngx_array_t                  *one_of;
    ngx_array_t                  *enum_values;

    ngx_http_backend_schema_t    *additional;
    ngx_http_backend_schema_t    *property_names;
    ngx_http_backend_schema_t    *items;
    ngx_http_backend_schema_t    *contains;
    ngx_http_backend_schema_t    *not;
    ngx_http_backend_schema_t    *if_;
    ngx_http_backend_schema_t    *then_;
    ngx_http_backend_schema_t    *else_;
    ngx_http_backend_schema_t    *ref;

    ngx_http_backend_json_t      *constant;
    ngx_http_backend_json_t      *minimum;
    ngx_http_backend_json_t      *maximum;
    ngx_http_backend_json_t      *exclusive_minimum;
    ngx_http_backend_json_t      *exclusive_maximum;
    ngx_http_backend_json_t      *multiple_of;
    ngx_http_backend_json_t      *default_value;

    ngx_int_t                     min_properties;
    ngx_int_t                     max_properties;
    ngx_int_t                     min_items;
    ngx_int_t                     max_items;
    ngx_int_t                     min_contains;
    ngx_int_t                     max_contains;
    ngx_int_t                     min_length;
    ngx_int_t                     max_length;

    pcre2_code                   *pattern;
    ngx_str_t                     pattern_source;
    ngx_str_t                     format_name;  /* any, known or not */
    pcre2_match_context          *match;      /* the root's, for all */
    pcre2_match_data             *match_data; /* the root's, for all */
    ngx_uint_t                    format;

    unsigned                      unique_items:1;
    unsigned                      has_const:1;
    unsigned                      date:1;     /* "x-superjson": "Date" */
};




/* a path segment, on the C stack while validation descends */

typedef struct ngx_http_backend_schema_seg_s  ngx_http_backend_schema_seg_t;

struct ngx_http_backend_schema_seg_s {
    ngx_http_backend_schema_seg_t  *parent;
    ngx_str_t                       key;
    ngx_int_t                       index;      /* -1: key */
};


typedef struct {
    ngx_pool_t                   *pool;
    pcre2_match_context          *match;
    pcre2_match_data             *match_data;
    ngx_array_t                  *issues;     /* NULL: only the verdict */
    ngx_uint_t                    max_issues;
    ngx_uint_t                    depth;
    unsigned                      nomem:1;
    unsigned                      defaults:1;
    unsigned                      keep:1;     /* unknown keys, in allOf */
} ngx_http_backend_schema_ctx_t;


u_char *ngx_http_backend_schema_regex_write(u_char *p,
    ngx_str_t *source);
void ngx_http_backend_schema_limit(ngx_http_backend_schema_ctx_t *ctx,
    ngx_http_backend_schema_seg_t *path, ngx_str_t *source);
ngx_str_t *ngx_http_backend_schema_zod_format(
    ngx_http_backend_schema_t *s);
const char *ngx_http_backend_schema_format_noun(ngx_str_t *format);
ngx_uint_t ngx_http_backend_schema_length(
    ngx_http_backend_schema_ctx_t *ctx, ngx_http_backend_schema_seg_t *path,
    const char *origin, size_t len, ngx_int_t min, ngx_int_t max);
void ngx_http_backend_schema_infinity(ngx_http_backend_schema_ctx_t *ctx,
    ngx_http_backend_schema_seg_t *path, ngx_http_backend_json_t *v);
ngx_uint_t ngx_http_backend_schema_type_of(ngx_http_backend_json_t *v);
const char *ngx_http_backend_schema_received(
    ngx_http_backend_json_t *v);
const char *ngx_http_backend_schema_type_name(ngx_uint_t types);
ngx_uint_t ngx_http_backend_schema_format_ok(ngx_uint_t format,
    ngx_str_t *s);
void ngx_http_backend_schema_issue(ngx_http_backend_schema_ctx_t *ctx,
    ngx_http_backend_schema_seg_t *path, const char *head, ngx_str_t *message);
void ngx_http_backend_schema_values(ngx_http_backend_schema_ctx_t *ctx,
    ngx_http_backend_schema_seg_t *path, ngx_http_backend_json_t **values,
    ngx_uint_t n, const char *prefix);


#endif /* _NGX_HTTP_BACKEND_SCHEMA_INT_H_INCLUDED_ */
