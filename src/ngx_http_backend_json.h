
/*
 * Copyright (C) ngx_backend authors
 */


#ifndef _NGX_HTTP_BACKEND_JSON_H_INCLUDED_
#define _NGX_HTTP_BACKEND_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * A JSON document parsed (with yajl) into a tree allocated from one pool.
 * Strings are unescaped UTF-8; numbers keep the text they were written
 * with, so integers beyond 2^53 survive exactly when they are passed on.
 */


#define NGX_HTTP_BACKEND_JSON_MAX_DEPTH  64

/*
 * The memory the tree of a request's input may take: a value costs about
 * a hundred bytes however short its text ("[{},{},...]" is ~45 times its
 * length), so the tree is bounded by the input: 1 MB, plus 16 bytes for
 * each byte of input
 */
#define NGX_HTTP_BACKEND_JSON_MAX_SIZE(len)  (1048576 + 16 * (size_t) (len))


typedef enum {
    NGX_HTTP_BACKEND_JSON_NULL = 0,
    NGX_HTTP_BACKEND_JSON_FALSE,
    NGX_HTTP_BACKEND_JSON_TRUE,
    NGX_HTTP_BACKEND_JSON_NUMBER,
    NGX_HTTP_BACKEND_JSON_STRING,
    NGX_HTTP_BACKEND_JSON_ARRAY,
    NGX_HTTP_BACKEND_JSON_OBJECT
} ngx_http_backend_json_type_e;


typedef struct ngx_http_backend_json_s  ngx_http_backend_json_t;


typedef struct {
    ngx_str_t                     key;
    ngx_http_backend_json_t      *value;
} ngx_http_backend_json_member_t;


struct ngx_http_backend_json_s {
    ngx_http_backend_json_type_e  type;

    /* NUMBER: the text as written, its value, and whether it is integral */
    ngx_str_t                     raw;
    double                        number;
    unsigned                      integer:1;

    /* STRING */
    ngx_str_t                     string;

    /* ARRAY: of ngx_http_backend_json_t *; OBJECT: of ..._member_t */
    ngx_array_t                   items;

    /*
     * what superjson's meta says the value is (a Date, a bigint, NaN or
     * an infinity: a STRING of its text; undefined), or 0
     */
    unsigned                      superjson:3;
};


#define NGX_HTTP_BACKEND_JSON_SJ_DATE       1
#define NGX_HTTP_BACKEND_JSON_SJ_BIGINT     2
#define NGX_HTTP_BACKEND_JSON_SJ_NUMBER     3
#define NGX_HTTP_BACKEND_JSON_SJ_UNDEFINED  4


typedef struct {
    ngx_uint_t                    max_depth;
    size_t                        max_size;
} ngx_http_backend_json_limits_t;


/*
 * Returns NGX_OK, NGX_DECLINED for invalid input (err describes it; it is
 * safe to show to the client), or NGX_ERROR on allocation failure.
 */
ngx_int_t ngx_http_backend_json_parse(ngx_pool_t *pool, u_char *data,
    size_t len, ngx_uint_t max_depth, ngx_http_backend_json_t **json,
    ngx_str_t *err);

/*
 * The same with a limit on the memory the tree takes (max_size, 0: none),
 * past which the input is declined as too large
 */
ngx_int_t ngx_http_backend_json_parse_limited(ngx_pool_t *pool, u_char *data,
    size_t len, ngx_http_backend_json_limits_t *limits,
    ngx_http_backend_json_t **json, ngx_str_t *err);

ngx_http_backend_json_t *ngx_http_backend_json_get(
    ngx_http_backend_json_t *object, u_char *key, size_t len);
ngx_http_backend_json_t *ngx_http_backend_json_new(ngx_pool_t *pool,
    ngx_http_backend_json_type_e type);

/* serialization: exact length first, then the bytes */
size_t ngx_http_backend_json_len(ngx_http_backend_json_t *json);
u_char *ngx_http_backend_json_write(u_char *p, ngx_http_backend_json_t *json);
ngx_int_t ngx_http_backend_json_serialize(ngx_pool_t *pool,
    ngx_http_backend_json_t *json, ngx_str_t *out);

/*
 * data checked as JSON (as ngx_http_backend_json_parse() would) and
 * written to out without white space, in one pass and without a tree;
 * NGX_DECLINED: not JSON, err says why
 */
ngx_int_t ngx_http_backend_json_minify(ngx_pool_t *pool, u_char *data,
    size_t len, ngx_uint_t max_depth, ngx_str_t *out, ngx_str_t *err);

/* a JSON string literal, quotes included; ill-formed UTF-8 as U+FFFD */
size_t ngx_http_backend_json_str_len(u_char *s, size_t len);
u_char *ngx_http_backend_json_str_write(u_char *p, u_char *s, size_t len);

/* the length of the UTF-8 sequence at p; < 0: ill-formed, that long */
ngx_int_t ngx_http_backend_json_utf8_seq(u_char *p, u_char *last);

/*
 * A number's exact value in plain decimal, NUL-terminated, for a SQL
 * parameter: 5.0, 1e0, 10e-1 and 56.000 give 5, 1, 1 and 56, 1.50 gives
 * 1.5, and no digit is rounded away; beyond 1000 digits of exponent,
 * d.ddde+N.  The text as written when it is canonical already.
 */
ngx_int_t ngx_http_backend_json_number_text(ngx_pool_t *pool,
    ngx_http_backend_json_t *v, ngx_str_t *out);

/* the number of Unicode code points in valid UTF-8 */
size_t ngx_http_backend_json_utf8_length(u_char *s, size_t len);

ngx_uint_t ngx_http_backend_json_equal(ngx_http_backend_json_t *a,
    ngx_http_backend_json_t *b);


#endif /* _NGX_HTTP_BACKEND_JSON_H_INCLUDED_ */
