
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <math.h>
#include <float.h>
#include <arpa/inet.h>

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
    ngx_uint_t                    format;

    unsigned                      unique_items:1;
    unsigned                      has_const:1;
};


typedef struct {
    ngx_http_backend_json_t      *node;
    ngx_http_backend_schema_t    *schema;
} ngx_http_backend_schema_memo_t;


typedef struct {
    ngx_http_backend_schema_t    *schema;
    ngx_str_t                     ref;
    ngx_str_t                     pointer;
} ngx_http_backend_schema_pending_t;


typedef struct {
    ngx_pool_t                   *pool;
    ngx_http_backend_json_t      *root;
    ngx_array_t                   memo;
    ngx_array_t                   pending;
    ngx_str_t                    *err;
} ngx_http_backend_schema_compiler_t;


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
    ngx_array_t                  *issues;     /* NULL: only the verdict */
    ngx_uint_t                    max_issues;
    ngx_uint_t                    depth;
    unsigned                      nomem:1;
    unsigned                      defaults:1;
    unsigned                      keep:1;     /* unknown keys, in allOf */
} ngx_http_backend_schema_ctx_t;


static ngx_http_backend_schema_t *ngx_http_backend_schema_node(
    ngx_http_backend_schema_compiler_t *c, ngx_http_backend_json_t *node,
    ngx_str_t *pointer);
static ngx_int_t ngx_http_backend_schema_keyword(
    ngx_http_backend_schema_compiler_t *c, ngx_http_backend_schema_t *s,
    ngx_str_t *key, ngx_http_backend_json_t *v, ngx_str_t *pointer);
static ngx_http_backend_schema_t *ngx_http_backend_schema_sub(
    ngx_http_backend_schema_compiler_t *c, ngx_http_backend_json_t *node,
    ngx_str_t *pointer, const char *key, ngx_str_t *name, ngx_int_t index);
static ngx_array_t *ngx_http_backend_schema_list(
    ngx_http_backend_schema_compiler_t *c, ngx_http_backend_json_t *v,
    ngx_str_t *pointer, const char *key);
static ngx_int_t ngx_http_backend_schema_resolve(
    ngx_http_backend_schema_compiler_t *c,
    ngx_http_backend_schema_pending_t *p);
static ngx_int_t ngx_http_backend_schema_error(
    ngx_http_backend_schema_compiler_t *c, ngx_str_t *pointer,
    const char *key, const char *reason);
static pcre2_code *ngx_http_backend_schema_regex(ngx_pool_t *pool,
    ngx_str_t *source);
static void ngx_http_backend_schema_regex_free(void *data);
static void ngx_http_backend_schema_match_free(void *data);
static u_char *ngx_http_backend_schema_regex_write(u_char *p,
    ngx_str_t *source);
static ngx_int_t ngx_http_backend_schema_match(
    ngx_http_backend_schema_ctx_t *ctx, pcre2_code *re, ngx_str_t *subject);
static ngx_int_t ngx_http_backend_schema_count(ngx_http_backend_json_t *v,
    ngx_int_t *n);

static ngx_uint_t ngx_http_backend_schema_check(
    ngx_http_backend_schema_ctx_t *ctx, ngx_http_backend_schema_t *s,
    ngx_http_backend_json_t **vp, ngx_http_backend_schema_seg_t *path);
static ngx_uint_t ngx_http_backend_schema_check_value(
    ngx_http_backend_schema_ctx_t *ctx, ngx_http_backend_schema_t *s,
    ngx_http_backend_json_t **vp, ngx_http_backend_schema_seg_t *path);
static ngx_uint_t ngx_http_backend_schema_same(
    ngx_http_backend_schema_ctx_t *ctx, ngx_http_backend_schema_t *s,
    ngx_http_backend_json_t **vp, ngx_http_backend_schema_seg_t *path);
static ngx_uint_t ngx_http_backend_schema_union(
    ngx_http_backend_schema_ctx_t *ctx, ngx_array_t *branches,
    ngx_http_backend_json_t **vp, ngx_http_backend_schema_seg_t *path);
static ngx_uint_t ngx_http_backend_schema_aborted(ngx_array_t *issues);
static ngx_int_t ngx_http_backend_schema_discriminated(
    ngx_http_backend_schema_ctx_t *ctx, ngx_array_t *branches,
    ngx_http_backend_json_t **vp, ngx_http_backend_schema_seg_t *path);
static ngx_http_backend_schema_prop_t *ngx_http_backend_schema_prop(
    ngx_http_backend_schema_t *s, ngx_str_t *name);
static ngx_uint_t ngx_http_backend_schema_known(
    ngx_http_backend_schema_ctx_t *ctx, ngx_http_backend_schema_t *s,
    ngx_str_t *key);
static ngx_uint_t ngx_http_backend_schema_tuple(
    ngx_http_backend_schema_ctx_t *ctx, ngx_http_backend_schema_t *s,
    ngx_http_backend_json_t *v, ngx_http_backend_schema_seg_t *path);
static ngx_str_t *ngx_http_backend_schema_zod_format(
    ngx_http_backend_schema_t *s);
static const char *ngx_http_backend_schema_format_noun(ngx_str_t *format);
static ngx_uint_t ngx_http_backend_schema_length(
    ngx_http_backend_schema_ctx_t *ctx, ngx_http_backend_schema_seg_t *path,
    const char *origin, size_t len, ngx_int_t min, ngx_int_t max);
static void ngx_http_backend_schema_infinity(ngx_http_backend_schema_ctx_t *ctx,
    ngx_http_backend_schema_seg_t *path, ngx_http_backend_json_t *v);
static void ngx_http_backend_schema_nul(ngx_http_backend_schema_ctx_t *ctx,
    ngx_http_backend_json_t *v, ngx_http_backend_schema_seg_t *path);
static ngx_uint_t ngx_http_backend_schema_required(
    ngx_http_backend_schema_t *s, ngx_str_t *key);
static ngx_uint_t ngx_http_backend_schema_declared(
    ngx_http_backend_schema_t *s, ngx_str_t *key);
static ngx_uint_t ngx_http_backend_schema_default(
    ngx_http_backend_schema_t *s, ngx_str_t *key);
static ngx_uint_t ngx_http_backend_schema_check_object(
    ngx_http_backend_schema_ctx_t *ctx, ngx_http_backend_schema_t *s,
    ngx_http_backend_json_t *v, ngx_http_backend_schema_seg_t *path);
static ngx_uint_t ngx_http_backend_schema_check_array(
    ngx_http_backend_schema_ctx_t *ctx, ngx_http_backend_schema_t *s,
    ngx_http_backend_json_t *v, ngx_http_backend_schema_seg_t *path);
static ngx_uint_t ngx_http_backend_schema_check_number(
    ngx_http_backend_schema_ctx_t *ctx, ngx_http_backend_schema_t *s,
    ngx_http_backend_json_t *v, ngx_http_backend_schema_seg_t *path);
static ngx_uint_t ngx_http_backend_schema_check_string(
    ngx_http_backend_schema_ctx_t *ctx, ngx_http_backend_schema_t *s,
    ngx_http_backend_json_t *v, ngx_http_backend_schema_seg_t *path);
static ngx_uint_t ngx_http_backend_schema_quiet(
    ngx_http_backend_schema_ctx_t *ctx, ngx_http_backend_schema_t *s,
    ngx_http_backend_json_t *v);
static ngx_uint_t ngx_http_backend_schema_type_of(ngx_http_backend_json_t *v);
static const char *ngx_http_backend_schema_type_name(ngx_uint_t types);
static const char *ngx_http_backend_schema_received(
    ngx_http_backend_json_t *v);
static ngx_int_t ngx_http_backend_schema_cmp(ngx_http_backend_json_t *a,
    ngx_http_backend_json_t *b);
static ngx_uint_t ngx_http_backend_schema_multiple(ngx_http_backend_json_t *v,
    ngx_http_backend_json_t *m);
static ngx_uint_t ngx_http_backend_schema_format_ok(ngx_uint_t format,
    ngx_str_t *s);
static void ngx_http_backend_schema_issue(ngx_http_backend_schema_ctx_t *ctx,
    ngx_http_backend_schema_seg_t *path, const char *head, ngx_str_t *message);
static void ngx_http_backend_schema_values(ngx_http_backend_schema_ctx_t *ctx,
    ngx_http_backend_schema_seg_t *path, ngx_http_backend_json_t **values,
    ngx_uint_t n, const char *prefix);
static ngx_int_t ngx_http_backend_schema_pretty(ngx_pool_t *pool,
    ngx_http_backend_json_t *json, ngx_str_t *out);
static size_t ngx_http_backend_schema_pretty_write(u_char *p,
    ngx_http_backend_json_t *json, ngx_uint_t indent);


static ngx_str_t  ngx_http_backend_schema_unsupported[] = {
    ngx_string("$dynamicRef"),
    ngx_string("$dynamicAnchor"),
    ngx_string("$recursiveRef"),
    ngx_string("$recursiveAnchor"),
    ngx_string("unevaluatedProperties"),
    ngx_string("unevaluatedItems"),
    ngx_string("$vocabulary"),
    ngx_null_string
};


ngx_http_backend_schema_t *
ngx_http_backend_schema_compile(ngx_pool_t *pool,
    ngx_http_backend_json_t *doc, ngx_str_t *err)
{
    ngx_str_t                            pointer;
    ngx_uint_t                           i;
    ngx_pool_cleanup_t                  *cln;
    pcre2_match_context                 *match;
    ngx_http_backend_schema_t           *s;
    ngx_http_backend_schema_pending_t   *p;
    ngx_http_backend_schema_compiler_t   c;

    ngx_memzero(&c, sizeof(ngx_http_backend_schema_compiler_t));

    c.pool = pool;
    c.root = doc;
    c.err = err;

    if (ngx_array_init(&c.memo, pool, 16,
                       sizeof(ngx_http_backend_schema_memo_t))
        != NGX_OK
        || ngx_array_init(&c.pending, pool, 4,
                          sizeof(ngx_http_backend_schema_pending_t))
           != NGX_OK)
    {
        return NULL;
    }

    /* the root's JSON pointer is "" (not a NULL string: it is copied) */
    ngx_str_set(&pointer, "");

    s = ngx_http_backend_schema_node(&c, doc, &pointer);
    if (s == NULL) {
        return NULL;
    }

    /* $ref may point anywhere, so refs resolve after the whole walk */

    for (i = 0; i < c.pending.nelts; i++) {
        p = (ngx_http_backend_schema_pending_t *) c.pending.elts + i;

        if (ngx_http_backend_schema_resolve(&c, p) != NGX_OK) {
            return NULL;
        }
    }

    /* the limits of every pattern of this schema, set once */

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    match = pcre2_match_context_create(NULL);
    if (match == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_backend_schema_match_free;
    cln->data = match;

    if (pcre2_set_match_limit(match, NGX_SCHEMA_MATCH_LIMIT) != 0
        || pcre2_set_depth_limit(match, NGX_SCHEMA_DEPTH_LIMIT) != 0)
    {
        return NULL;
    }

    s->match = match;

    return s;
}


static ngx_http_backend_schema_t *
ngx_http_backend_schema_node(ngx_http_backend_schema_compiler_t *c,
    ngx_http_backend_json_t *node, ngx_str_t *pointer)
{
    ngx_uint_t                        i;
    ngx_http_backend_schema_t        *s;
    ngx_http_backend_schema_memo_t   *memo;
    ngx_http_backend_json_member_t   *m;

    memo = c->memo.elts;

    for (i = 0; i < c->memo.nelts; i++) {
        if (memo[i].node == node) {
            return memo[i].schema;
        }
    }

    s = ngx_pcalloc(c->pool, sizeof(ngx_http_backend_schema_t));
    if (s == NULL) {
        return NULL;
    }

    s->always = -1;
    s->min_properties = -1;
    s->max_properties = -1;
    s->min_items = -1;
    s->max_items = -1;
    s->min_contains = -1;
    s->max_contains = -1;
    s->min_length = -1;
    s->max_length = -1;

    memo = ngx_array_push(&c->memo);
    if (memo == NULL) {
        return NULL;
    }

    memo->node = node;
    memo->schema = s;

    if (node->type == NGX_HTTP_BACKEND_JSON_TRUE) {
        s->always = 1;
        return s;
    }

    if (node->type == NGX_HTTP_BACKEND_JSON_FALSE) {
        s->always = 0;
        return s;
    }

    if (node->type != NGX_HTTP_BACKEND_JSON_OBJECT) {
        (void) ngx_http_backend_schema_error(c, pointer, NULL,
                                             "a schema must be an object "
                                             "or a boolean");
        return NULL;
    }

    m = node->items.elts;

    for (i = 0; i < node->items.nelts; i++) {
        if (ngx_http_backend_schema_keyword(c, s, &m[i].key, m[i].value,
                                            pointer)
            != NGX_OK)
        {
            return NULL;
        }
    }

    if (s->min_contains == -1 && s->contains) {
        s->min_contains = 1;
    }

    return s;
}


#define ngx_schema_is(k)                                                      \
    (key->len == sizeof(k) - 1 && ngx_strncmp(key->data, k, key->len) == 0)


static ngx_int_t
ngx_http_backend_schema_keyword(ngx_http_backend_schema_compiler_t *c,
    ngx_http_backend_schema_t *s, ngx_str_t *key, ngx_http_backend_json_t *v,
    ngx_str_t *pointer)
{
    char                             *k;
    ngx_int_t                        *count;
    ngx_str_t                        *u;
    ngx_uint_t                        i, j, t;
    ngx_http_backend_json_t         **item;
    ngx_http_backend_json_member_t   *m;
    ngx_http_backend_schema_prop_t   *prop;
    ngx_http_backend_schema_pending_t *pend;

    static struct {
        const char  *name;
        ngx_uint_t   type;
    } types[] = {
        { "null", NGX_SCHEMA_NULL },
        { "boolean", NGX_SCHEMA_BOOLEAN },
        { "object", NGX_SCHEMA_OBJECT },
        { "array", NGX_SCHEMA_ARRAY },
        { "number", NGX_SCHEMA_NUMBER },
        { "string", NGX_SCHEMA_STRING },
        { "integer", NGX_SCHEMA_INTEGER },
        { NULL, 0 }
    };

    static struct {
        const char  *name;
        ngx_uint_t   format;
    } formats[] = {
        { "date-time", NGX_SCHEMA_FORMAT_DATE_TIME },
        { "date", NGX_SCHEMA_FORMAT_DATE },
        { "time", NGX_SCHEMA_FORMAT_TIME },
        { "email", NGX_SCHEMA_FORMAT_EMAIL },
        { "uuid", NGX_SCHEMA_FORMAT_UUID },
        { "uri", NGX_SCHEMA_FORMAT_URI },
        { "ipv4", NGX_SCHEMA_FORMAT_IPV4 },
        { "ipv6", NGX_SCHEMA_FORMAT_IPV6 },
        { NULL, 0 }
    };

    k = (char *) key->data;

    for (u = ngx_http_backend_schema_unsupported; u->len; u++) {
        if (u->len == key->len && ngx_strncmp(u->data, key->data, key->len)
                                  == 0)
        {
            return ngx_http_backend_schema_error(c, pointer, k,
                                                 "unsupported keyword");
        }
    }

    if (ngx_schema_is("type")) {
        item = &v;
        j = 1;

        if (v->type == NGX_HTTP_BACKEND_JSON_ARRAY) {
            item = v->items.elts;
            j = v->items.nelts;
        }

        for (i = 0; i < j; i++) {
            if (item[i]->type != NGX_HTTP_BACKEND_JSON_STRING) {
                return ngx_http_backend_schema_error(c, pointer, k,
                                                     "must name types");
            }

            for (t = 0; types[t].name; t++) {
                if (ngx_strcmp(item[i]->string.data, types[t].name) == 0) {
                    s->types |= types[t].type;
                    break;
                }
            }

            if (types[t].name == NULL) {
                return ngx_http_backend_schema_error(c, pointer, k,
                                                     "unknown type");
            }
        }

        return NGX_OK;
    }

    if (ngx_schema_is("properties") || ngx_schema_is("patternProperties")
        || ngx_schema_is("dependentSchemas")
        || ngx_schema_is("dependentRequired")
        || ngx_schema_is("$defs") || ngx_schema_is("definitions"))
    {
        if (v->type != NGX_HTTP_BACKEND_JSON_OBJECT) {
            return ngx_http_backend_schema_error(c, pointer, k,
                                                 "must be an object");
        }

        m = v->items.elts;

        for (i = 0; i < v->items.nelts; i++) {

            if (ngx_schema_is("dependentRequired")) {
                if (s->dependent_required == NULL) {
                    s->dependent_required = ngx_array_create(c->pool, 2,
                                       sizeof(ngx_http_backend_schema_prop_t));
                    if (s->dependent_required == NULL) {
                        return NGX_ERROR;
                    }
                }

                prop = ngx_array_push(s->dependent_required);
                if (prop == NULL) {
                    return NGX_ERROR;
                }

                ngx_memzero(prop, sizeof(ngx_http_backend_schema_prop_t));
                prop->name = m[i].key;

                prop->names = ngx_http_backend_schema_list(c, m[i].value,
                                                           pointer, k);
                if (prop->names == NULL) {
                    return NGX_ERROR;
                }

                continue;
            }

            if (ngx_schema_is("$defs") || ngx_schema_is("definitions")) {
                /* compiled for their errors; used through $ref */
                if (ngx_http_backend_schema_sub(c, m[i].value, pointer, k,
                                                &m[i].key, -1)
                    == NULL)
                {
                    return NGX_ERROR;
                }

                continue;
            }

            if (ngx_schema_is("properties")) {
                if (s->properties == NULL) {
                    s->properties = ngx_array_create(c->pool, 4,
                                       sizeof(ngx_http_backend_schema_prop_t));
                    if (s->properties == NULL) {
                        return NGX_ERROR;
                    }
                }

                prop = ngx_array_push(s->properties);

            } else if (ngx_schema_is("patternProperties")) {
                if (s->pattern_properties == NULL) {
                    s->pattern_properties = ngx_array_create(c->pool, 2,
                                       sizeof(ngx_http_backend_schema_prop_t));
                    if (s->pattern_properties == NULL) {
                        return NGX_ERROR;
                    }
                }

                prop = ngx_array_push(s->pattern_properties);

            } else {
                if (s->dependent_schemas == NULL) {
                    s->dependent_schemas = ngx_array_create(c->pool, 2,
                                       sizeof(ngx_http_backend_schema_prop_t));
                    if (s->dependent_schemas == NULL) {
                        return NGX_ERROR;
                    }
                }

                prop = ngx_array_push(s->dependent_schemas);
            }

            if (prop == NULL) {
                return NGX_ERROR;
            }

            ngx_memzero(prop, sizeof(ngx_http_backend_schema_prop_t));
            prop->name = m[i].key;

            prop->schema = ngx_http_backend_schema_sub(c, m[i].value, pointer,
                                                       k, &m[i].key, -1);
            if (prop->schema == NULL) {
                return NGX_ERROR;
            }

            if (ngx_schema_is("patternProperties")) {
                prop->re = ngx_http_backend_schema_regex(c->pool, &m[i].key);
                if (prop->re == NULL) {
                    return ngx_http_backend_schema_error(c, pointer, k,
                                                 "invalid regular expression");
                }
            }
        }

        return NGX_OK;
    }

    if (ngx_schema_is("additionalProperties") || ngx_schema_is("propertyNames")
        || ngx_schema_is("items") || ngx_schema_is("contains")
        || ngx_schema_is("not") || ngx_schema_is("if")
        || ngx_schema_is("then") || ngx_schema_is("else"))
    {
        ngx_http_backend_schema_t  *sub;

        sub = ngx_http_backend_schema_sub(c, v, pointer, k, NULL, -1);
        if (sub == NULL) {
            return NGX_ERROR;
        }

        switch (k[0]) {
        case 'a': s->additional = sub; break;
        case 'p': s->property_names = sub; break;
        case 'i': if (k[1] == 't') { s->items = sub; } else { s->if_ = sub; }
                  break;
        case 'c': s->contains = sub; break;
        case 'n': s->not = sub; break;
        case 't': s->then_ = sub; break;
        default:  s->else_ = sub; break;
        }

        return NGX_OK;
    }

    if (ngx_schema_is("prefixItems") || ngx_schema_is("allOf")
        || ngx_schema_is("anyOf") || ngx_schema_is("oneOf"))
    {
        ngx_array_t                 *a;
        ngx_http_backend_schema_t  **sp;

        if (v->type != NGX_HTTP_BACKEND_JSON_ARRAY || v->items.nelts == 0) {
            return ngx_http_backend_schema_error(c, pointer, k,
                                                 "must be a non-empty array");
        }

        a = ngx_array_create(c->pool, v->items.nelts,
                             sizeof(ngx_http_backend_schema_t *));
        if (a == NULL) {
            return NGX_ERROR;
        }

        item = v->items.elts;

        for (i = 0; i < v->items.nelts; i++) {
            sp = ngx_array_push(a);
            if (sp == NULL) {
                return NGX_ERROR;
            }

            *sp = ngx_http_backend_schema_sub(c, item[i], pointer, k, NULL, i);
            if (*sp == NULL) {
                return NGX_ERROR;
            }
        }

        if (k[0] == 'p') {
            s->prefix_items = a;

        } else if (k[0] == 'o') {
            s->one_of = a;

        } else if (k[1] == 'l') {
            s->all_of = a;

        } else {
            s->any_of = a;
        }

        return NGX_OK;
    }

    if (ngx_schema_is("required")) {
        s->required = ngx_http_backend_schema_list(c, v, pointer, k);
        return s->required ? NGX_OK : NGX_ERROR;
    }

    if (ngx_schema_is("enum")) {
        if (v->type != NGX_HTTP_BACKEND_JSON_ARRAY) {
            return ngx_http_backend_schema_error(c, pointer, k,
                                                 "must be an array");
        }

        s->enum_values = &v->items;
        return NGX_OK;
    }

    if (ngx_schema_is("const")) {
        s->constant = v;
        s->has_const = 1;
        return NGX_OK;
    }

    if (ngx_schema_is("default")) {
        s->default_value = v;
        return NGX_OK;
    }

    if (ngx_schema_is("minimum") || ngx_schema_is("maximum")
        || ngx_schema_is("exclusiveMinimum")
        || ngx_schema_is("exclusiveMaximum")
        || ngx_schema_is("multipleOf"))
    {
        if (v->type != NGX_HTTP_BACKEND_JSON_NUMBER || !isfinite(v->number)
            || (k[0] == 'm' && k[1] == 'u' && v->number <= 0))
        {
            return ngx_http_backend_schema_error(c, pointer, k,
                                                 "must be a finite number");
        }

        if (ngx_schema_is("minimum")) {
            s->minimum = v;

        } else if (ngx_schema_is("maximum")) {
            s->maximum = v;

        } else if (ngx_schema_is("exclusiveMinimum")) {
            s->exclusive_minimum = v;

        } else if (ngx_schema_is("exclusiveMaximum")) {
            s->exclusive_maximum = v;

        } else {
            s->multiple_of = v;
        }

        return NGX_OK;
    }

    count = NULL;

    if (ngx_schema_is("minProperties")) {
        count = &s->min_properties;

    } else if (ngx_schema_is("maxProperties")) {
        count = &s->max_properties;

    } else if (ngx_schema_is("minItems")) {
        count = &s->min_items;

    } else if (ngx_schema_is("maxItems")) {
        count = &s->max_items;

    } else if (ngx_schema_is("minContains")) {
        count = &s->min_contains;

    } else if (ngx_schema_is("maxContains")) {
        count = &s->max_contains;

    } else if (ngx_schema_is("minLength")) {
        count = &s->min_length;

    } else if (ngx_schema_is("maxLength")) {
        count = &s->max_length;
    }

    if (count) {
        if (ngx_http_backend_schema_count(v, count) != NGX_OK) {
            return ngx_http_backend_schema_error(c, pointer, k,
                                          "must be a non-negative integer");
        }

        return NGX_OK;
    }

    if (ngx_schema_is("uniqueItems")) {
        if (v->type != NGX_HTTP_BACKEND_JSON_TRUE
            && v->type != NGX_HTTP_BACKEND_JSON_FALSE)
        {
            return ngx_http_backend_schema_error(c, pointer, k,
                                                 "must be a boolean");
        }

        s->unique_items = (v->type == NGX_HTTP_BACKEND_JSON_TRUE);
        return NGX_OK;
    }

    if (ngx_schema_is("pattern")) {
        if (v->type != NGX_HTTP_BACKEND_JSON_STRING) {
            return ngx_http_backend_schema_error(c, pointer, k,
                                                 "must be a string");
        }

        s->pattern_source = v->string;
        s->pattern = ngx_http_backend_schema_regex(c->pool, &v->string);
        if (s->pattern == NULL) {
            return ngx_http_backend_schema_error(c, pointer, k,
                                                 "invalid regular expression");
        }

        return NGX_OK;
    }

    if (ngx_schema_is("format")) {
        if (v->type != NGX_HTTP_BACKEND_JSON_STRING) {
            return ngx_http_backend_schema_error(c, pointer, k,
                                                 "must be a string");
        }

        s->format_name = v->string;

        /* other formats are annotations, as the specification says */
        for (t = 0; formats[t].name; t++) {
            if (ngx_strcmp(v->string.data, formats[t].name) == 0) {
                s->format = formats[t].format;
            }
        }

        return NGX_OK;
    }

    if (ngx_schema_is("$ref")) {
        if (v->type != NGX_HTTP_BACKEND_JSON_STRING) {
            return ngx_http_backend_schema_error(c, pointer, k,
                                                 "must be a string");
        }

        pend = ngx_array_push(&c->pending);
        if (pend == NULL) {
            return NGX_ERROR;
        }

        pend->schema = s;
        pend->ref = v->string;
        pend->pointer = *pointer;

        return NGX_OK;
    }

    /* annotations and unknown keywords are ignored */

    return NGX_OK;
}


static ngx_http_backend_schema_t *
ngx_http_backend_schema_sub(ngx_http_backend_schema_compiler_t *c,
    ngx_http_backend_json_t *node, ngx_str_t *pointer, const char *key,
    ngx_str_t *name, ngx_int_t index)
{
    u_char     *p;
    size_t      len;
    ngx_str_t   sub;

    len = pointer->len + 1 + ngx_strlen(key) + 1 + NGX_INT_T_LEN
          + (name ? name->len * 2 : 0);

    sub.data = ngx_pnalloc(c->pool, len);
    if (sub.data == NULL) {
        return NULL;
    }

    p = ngx_sprintf(sub.data, "%V/%s", pointer, key);

    if (name) {
        *p++ = '/';

        /* a JSON pointer escapes ~ and / */
        for (len = 0; len < name->len; len++) {
            if (name->data[len] == '~') {
                *p++ = '~'; *p++ = '0';

            } else if (name->data[len] == '/') {
                *p++ = '~'; *p++ = '1';

            } else {
                *p++ = name->data[len];
            }
        }

    } else if (index >= 0) {
        p = ngx_sprintf(p, "/%i", index);
    }

    sub.len = p - sub.data;

    return ngx_http_backend_schema_node(c, node, &sub);
}


static ngx_array_t *
ngx_http_backend_schema_list(ngx_http_backend_schema_compiler_t *c,
    ngx_http_backend_json_t *v, ngx_str_t *pointer, const char *key)
{
    ngx_str_t                 *name;
    ngx_uint_t                 i;
    ngx_array_t               *a;
    ngx_http_backend_json_t  **item;

    if (v->type != NGX_HTTP_BACKEND_JSON_ARRAY) {
        (void) ngx_http_backend_schema_error(c, pointer, key,
                                             "must be an array of strings");
        return NULL;
    }

    a = ngx_array_create(c->pool, v->items.nelts + 1, sizeof(ngx_str_t));
    if (a == NULL) {
        return NULL;
    }

    item = v->items.elts;

    for (i = 0; i < v->items.nelts; i++) {
        if (item[i]->type != NGX_HTTP_BACKEND_JSON_STRING) {
            (void) ngx_http_backend_schema_error(c, pointer, key,
                                                "must be an array of strings");
            return NULL;
        }

        name = ngx_array_push(a);
        if (name == NULL) {
            return NULL;
        }

        *name = item[i]->string;
    }

    return a;
}


/* local references only: "#" and "#/a/b~1c" JSON pointers */

static ngx_int_t
ngx_http_backend_schema_resolve(ngx_http_backend_schema_compiler_t *c,
    ngx_http_backend_schema_pending_t *p)
{
    u_char                   *s, *last, *d, seg[256];
    size_t                    n;
    ngx_int_t                 idx;
    ngx_str_t                 at;
    ngx_http_backend_json_t  *node;

    s = p->ref.data;
    last = s + p->ref.len;

    if (s == last || *s != '#') {
        return ngx_http_backend_schema_error(c, &p->pointer, "$ref",
                                             "only local references (#...) "
                                             "are supported");
    }

    s++;
    node = c->root;

    while (s < last) {
        if (*s != '/') {
            return ngx_http_backend_schema_error(c, &p->pointer, "$ref",
                                                 "anchors are not supported");
        }

        s++;
        d = seg;

        while (s < last && *s != '/') {
            if (d == seg + sizeof(seg)) {
                return ngx_http_backend_schema_error(c, &p->pointer, "$ref",
                                                     "too long");
            }

            if (*s == '~' && s + 1 < last && (s[1] == '0' || s[1] == '1')) {
                *d++ = (s[1] == '0') ? '~' : '/';
                s += 2;

            } else if (*s == '%' && s + 2 < last && ngx_hextoi(s + 1, 2) >= 0)
            {
                *d++ = (u_char) ngx_hextoi(s + 1, 2);
                s += 3;

            } else {
                *d++ = *s++;
            }
        }

        n = d - seg;

        if (node->type == NGX_HTTP_BACKEND_JSON_OBJECT) {
            node = ngx_http_backend_json_get(node, seg, n);

        } else if (node->type == NGX_HTTP_BACKEND_JSON_ARRAY) {
            idx = ngx_atoi(seg, n);
            node = (idx >= 0 && (ngx_uint_t) idx < node->items.nelts)
                   ? ((ngx_http_backend_json_t **) node->items.elts)[idx]
                   : NULL;

        } else {
            node = NULL;
        }

        if (node == NULL) {
            return ngx_http_backend_schema_error(c, &p->pointer, "$ref",
                                                 "points nowhere");
        }
    }

    at = p->ref;
    at.data++;
    at.len--;

    p->schema->ref = ngx_http_backend_schema_node(c, node, &at);

    return p->schema->ref ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_http_backend_schema_error(ngx_http_backend_schema_compiler_t *c,
    ngx_str_t *pointer, const char *key, const char *reason)
{
    size_t  len;

    len = pointer->len + 1 + (key ? ngx_strlen(key) + 1 : 0)
          + ngx_strlen(reason) + 4;

    c->err->data = ngx_pnalloc(c->pool, len);
    if (c->err->data == NULL) {
        return NGX_ERROR;
    }

    c->err->len = ngx_sprintf(c->err->data, "%s%V%s%s: %s",
                              pointer->len ? "" : "/", pointer,
                              key ? (pointer->len ? "/" : "") : "",
                              key ? key : "", reason)
                  - c->err->data;

    return NGX_ERROR;
}


/*
 * ECMAScript patterns as far as PCRE2 goes: unanchored, UTF-8, ASCII \d
 * \w \s (no UCP).  The compiled code lives as long as nginx's cycle.
 */

static pcre2_code *
ngx_http_backend_schema_regex(ngx_pool_t *pool, ngx_str_t *source)
{
    int                  errcode;
    PCRE2_SIZE           erroff;
    pcre2_code          *re;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    re = pcre2_compile(source->data, source->len,
                       PCRE2_UTF | PCRE2_ALLOW_EMPTY_CLASS
                       | PCRE2_MATCH_UNSET_BACKREF,
                       &errcode, &erroff, NULL);

    cln->handler = ngx_http_backend_schema_regex_free;
    cln->data = re;

    return re;
}


static void
ngx_http_backend_schema_regex_free(void *data)
{
    if (data) {
        pcre2_code_free(data);
    }
}


/* String(regex): "/source/" as a JSON string; room: str_len + 2 */

static u_char *
ngx_http_backend_schema_regex_write(u_char *p, ngx_str_t *source)
{
    u_char  *start;

    start = p;
    p = ngx_http_backend_json_str_write(p, source->data, source->len);

    /* "src" -> "/src/" */
    ngx_memmove(start + 2, start + 1, p - start - 2);
    start[1] = '/';
    p[0] = '/';
    p[1] = '"';

    return p + 2;
}


static void
ngx_http_backend_schema_match_free(void *data)
{
    pcre2_match_context_free(data);
}


/*
 * 1: matches, 0: does not, NGX_DECLINED: a limit was reached (the string
 * is refused, not let through), NGX_ERROR: no memory
 */

static ngx_int_t
ngx_http_backend_schema_match(ngx_http_backend_schema_ctx_t *ctx,
    pcre2_code *re, ngx_str_t *subject)
{
    int                rc;
    pcre2_match_data  *md;

    md = pcre2_match_data_create_from_pattern(re, NULL);
    if (md == NULL) {
        ctx->nomem = 1;
        return NGX_ERROR;
    }

    rc = pcre2_match(re, subject->data, subject->len, 0, 0, md, ctx->match);
    pcre2_match_data_free(md);

    if (rc >= 0) {
        return 1;
    }

    if (rc == PCRE2_ERROR_NOMATCH) {
        return 0;
    }

    if (rc == PCRE2_ERROR_NOMEMORY) {
        ctx->nomem = 1;
        return NGX_ERROR;
    }

    /* MATCHLIMIT, DEPTHLIMIT, HEAPLIMIT, and anything else */
    return NGX_DECLINED;
}


/* {"origin":"string","code":"invalid_format","format":"regex",...} */

static void
ngx_http_backend_schema_limit(ngx_http_backend_schema_ctx_t *ctx,
    ngx_http_backend_schema_seg_t *path, ngx_str_t *source)
{
    u_char     *p, *head;
    size_t      len;
    ngx_str_t   msg;

    len = ngx_http_backend_json_str_len(source->data, source->len);

    head = ngx_pnalloc(ctx->pool, 96 + len + 2);
    msg.data = ngx_pnalloc(ctx->pool, 96 + source->len);
    if (head == NULL || msg.data == NULL) {
        ctx->nomem = 1;
        return;
    }

    p = ngx_sprintf(head, "\"origin\":\"string\",\"code\":\"invalid_format\","
                    "\"format\":\"regex\",\"pattern\":");
    p = ngx_http_backend_schema_regex_write(p, source);
    *p = '\0';

    msg.len = ngx_sprintf(msg.data, "Invalid string: too costly to match "
                          "pattern /%V/", source)
              - msg.data;

    ngx_http_backend_schema_issue(ctx, path, (char *) head, &msg);
}


static ngx_int_t
ngx_http_backend_schema_count(ngx_http_backend_json_t *v, ngx_int_t *n)
{
    if (v->type != NGX_HTTP_BACKEND_JSON_NUMBER || !v->integer
        || v->number < 0 || v->number > 1e9)
    {
        return NGX_ERROR;
    }

    *n = (ngx_int_t) v->number;

    return NGX_OK;
}


ngx_int_t
ngx_http_backend_schema_validate(ngx_http_backend_schema_t *schema,
    ngx_pool_t *pool, ngx_http_backend_json_t **instance, ngx_array_t *issues,
    ngx_uint_t max_issues)
{
    ngx_uint_t                        n, ok;
    ngx_array_t                       nuls;
    ngx_http_backend_schema_ctx_t     ctx, nul;
    ngx_http_backend_schema_issue_t  *issue, *last;

    ngx_memzero(&ctx, sizeof(ngx_http_backend_schema_ctx_t));

    ctx.pool = pool;
    ctx.issues = issues;
    ctx.max_issues = max_issues ? max_issues
                                : NGX_HTTP_BACKEND_SCHEMA_MAX_ISSUES;
    ctx.defaults = 1;

    /*
     * Postgres text and jsonb cannot hold U+0000, and a C string would end
     * there: refused wherever it is in the input (looked for before
     * validation strips unknown keys), reported after the schema's issues
     */

    nul = ctx;

    if (ngx_array_init(&nuls, pool, 1, sizeof(ngx_http_backend_schema_issue_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    nul.issues = &nuls;

    if (*instance) {
        ngx_http_backend_schema_nul(&nul, *instance, NULL);
    }

    ok = 1;

    if (schema) {
        ctx.match = schema->match;
        ok = ngx_http_backend_schema_check(&ctx, schema, instance, NULL);
    }

    issue = nuls.elts;

    for (n = 0; n < nuls.nelts && ctx.issues->nelts < ctx.max_issues; n++) {
        last = ngx_array_push(ctx.issues);
        if (last == NULL) {
            return NGX_ERROR;
        }

        *last = issue[n];
    }

    ok = ok && nuls.nelts == 0;

    if (nul.nomem) {
        return NGX_ERROR;
    }

    if (ok) {
        return ctx.nomem ? NGX_ERROR : NGX_OK;
    }

    return ctx.nomem ? NGX_ERROR : NGX_DECLINED;
}


static void
ngx_http_backend_schema_nul(ngx_http_backend_schema_ctx_t *ctx,
    ngx_http_backend_json_t *v, ngx_http_backend_schema_seg_t *path)
{
    ngx_str_t                        msg;
    ngx_uint_t                       i;
    ngx_http_backend_json_t        **item;
    ngx_http_backend_json_member_t  *m;
    ngx_http_backend_schema_seg_t    seg;

    seg.parent = path;

    switch (v->type) {

    case NGX_HTTP_BACKEND_JSON_STRING:
        if (ngx_strlchr(v->string.data, v->string.data + v->string.len, '\0'))
        {
            ngx_str_set(&msg, "Invalid string: must not contain U+0000");
            ngx_http_backend_schema_issue(ctx, path, "\"code\":\"custom\"",
                                          &msg);
        }

        break;

    case NGX_HTTP_BACKEND_JSON_ARRAY:
        item = v->items.elts;
        ngx_str_null(&seg.key);

        for (i = 0; i < v->items.nelts; i++) {
            seg.index = i;
            ngx_http_backend_schema_nul(ctx, item[i], &seg);
        }

        break;

    case NGX_HTTP_BACKEND_JSON_OBJECT:
        m = v->items.elts;
        seg.index = -1;

        for (i = 0; i < v->items.nelts; i++) {
            seg.key = m[i].key;

            if (ngx_strlchr(m[i].key.data, m[i].key.data + m[i].key.len, '\0'))
            {
                ngx_str_set(&msg, "Invalid key: must not contain U+0000");
                ngx_http_backend_schema_issue(ctx, &seg,
                                              "\"code\":\"custom\"", &msg);
            }

            ngx_http_backend_schema_nul(ctx, m[i].value, &seg);
        }

        break;

    default:
        break;
    }
}


/* a verdict only: no issues, no defaults (anyOf, oneOf, not, if) */

static ngx_uint_t
ngx_http_backend_schema_quiet(ngx_http_backend_schema_ctx_t *ctx,
    ngx_http_backend_schema_t *s, ngx_http_backend_json_t *v)
{
    ngx_uint_t                     ok;
    ngx_http_backend_schema_ctx_t  quiet;

    quiet = *ctx;
    quiet.issues = NULL;
    quiet.defaults = 0;

    ok = ngx_http_backend_schema_check(&quiet, s, &v, NULL);

    ctx->nomem |= quiet.nomem;

    return ok;
}


/*
 * No branch of anyOf matched: what Zod says.  .nullable() (exported as
 * anyOf [X, {"type":"null"}]) gives X's issues; z.union() gives the issues
 * of its one branch that failed only checks (too_big, ...), if there is
 * exactly one such, else invalid_union with every branch's issues in
 * "errors".
 */

static ngx_uint_t
ngx_http_backend_schema_union(ngx_http_backend_schema_ctx_t *ctx,
    ngx_array_t *branches, ngx_http_backend_json_t **vp,
    ngx_http_backend_schema_seg_t *path)
{
    u_char                           *p, *head;
    size_t                            len;
    ngx_str_t                         msg;
    ngx_uint_t                        i, j, n, last;
    ngx_array_t                      *lists;
    ngx_http_backend_schema_t       **sub;
    ngx_http_backend_schema_ctx_t     branch;
    ngx_http_backend_schema_issue_t  *issue;

    sub = branches->elts;

    if (ctx->issues == NULL) {
        return 0;
    }

    if (branches->nelts == 2
        && (sub[1]->types == NGX_SCHEMA_NULL || sub[0]->types == NGX_SCHEMA_NULL))
    {
        (void) ngx_http_backend_schema_check(ctx,
                                        sub[sub[1]->types == NGX_SCHEMA_NULL
                                            ? 0 : 1],
                                        vp, path);
        return 0;
    }

    lists = ngx_pnalloc(ctx->pool, branches->nelts * sizeof(ngx_array_t));
    if (lists == NULL) {
        ctx->nomem = 1;
        return 0;
    }

    n = 0;
    last = 0;

    for (i = 0; i < branches->nelts; i++) {
        if (ngx_array_init(&lists[i], ctx->pool, 2,
                           sizeof(ngx_http_backend_schema_issue_t))
            != NGX_OK)
        {
            ctx->nomem = 1;
            return 0;
        }

        branch = *ctx;
        branch.issues = &lists[i];
        branch.max_issues = NGX_HTTP_BACKEND_SCHEMA_MAX_ISSUES;
        branch.defaults = 0;

        (void) ngx_http_backend_schema_check(&branch, sub[i], vp, NULL);
        ctx->nomem |= branch.nomem;

        if (!ngx_http_backend_schema_aborted(&lists[i])) {
            n++;
            last = i;
        }
    }

    if (n == 1) {
        (void) ngx_http_backend_schema_check(ctx, sub[last], vp, path);
        return 0;
    }

    /* "code":"invalid_union","errors":[[{...},...],...] */

    len = sizeof("\"code\":\"invalid_union\",\"errors\":[]");

    for (i = 0; i < branches->nelts; i++) {
        issue = lists[i].elts;
        len += 3;

        for (j = 0; j < lists[i].nelts; j++) {
            len += issue[j].head.len + issue[j].path.len
                   + ngx_http_backend_json_str_len(issue[j].message.data,
                                                   issue[j].message.len)
                   + sizeof("{,\"path\":,\"message\":},") - 1;
        }
    }

    head = ngx_pnalloc(ctx->pool, len);
    if (head == NULL) {
        ctx->nomem = 1;
        return 0;
    }

    p = ngx_cpymem(head, "\"code\":\"invalid_union\",\"errors\":[",
                   sizeof("\"code\":\"invalid_union\",\"errors\":[") - 1);

    for (i = 0; i < branches->nelts; i++) {
        issue = lists[i].elts;

        if (i) {
            *p++ = ',';
        }

        *p++ = '[';

        for (j = 0; j < lists[i].nelts; j++) {
            if (j) {
                *p++ = ',';
            }

            p = ngx_sprintf(p, "{%V,\"path\":%V,\"message\":",
                            &issue[j].head, &issue[j].path);
            p = ngx_http_backend_json_str_write(p, issue[j].message.data,
                                                issue[j].message.len);
            *p++ = '}';
        }

        *p++ = ']';
    }

    *p++ = ']';
    *p = '\0';

    ngx_str_set(&msg, "Invalid input");
    ngx_http_backend_schema_issue(ctx, path, (char *) head, &msg);

    return 0;
}


/*
 * z.discriminatedUnion() exports oneOf of objects that each have a const
 * property of the same name: Zod picks the branch by it.  NGX_DECLINED:
 * not that shape; else the issues are given.
 */

static ngx_int_t
ngx_http_backend_schema_discriminated(ngx_http_backend_schema_ctx_t *ctx,
    ngx_array_t *branches, ngx_http_backend_json_t **vp,
    ngx_http_backend_schema_seg_t *path)
{
    u_char                          *p, *head, *mp;
    size_t                           len;
    ngx_str_t                        msg, *key;
    ngx_uint_t                       i, k;
    ngx_http_backend_json_t         *tag, *c;
    ngx_http_backend_schema_t      **sub;
    ngx_http_backend_schema_seg_t    seg;
    ngx_http_backend_schema_prop_t  *prop, *first;

    sub = branches->elts;

    if (sub[0]->properties == NULL) {
        return NGX_DECLINED;
    }

    first = sub[0]->properties->elts;
    key = NULL;

    for (k = 0; key == NULL && k < sub[0]->properties->nelts; k++) {
        if (!first[k].schema->has_const) {
            continue;
        }

        for (i = 1; i < branches->nelts; i++) {
            if (sub[i]->types != NGX_SCHEMA_OBJECT
                || ngx_http_backend_schema_prop(sub[i], &first[k].name) == NULL
                || !ngx_http_backend_schema_prop(sub[i], &first[k].name)
                    ->schema->has_const)
            {
                break;
            }
        }

        if (i == branches->nelts && sub[0]->types == NGX_SCHEMA_OBJECT) {
            key = &first[k].name;
        }
    }

    if (key == NULL) {
        return NGX_DECLINED;
    }

    if ((*vp)->type != NGX_HTTP_BACKEND_JSON_OBJECT) {
        msg.data = ngx_pnalloc(ctx->pool, 80);
        if (msg.data == NULL) {
            ctx->nomem = 1;
            return NGX_ERROR;
        }

        msg.len = ngx_sprintf(msg.data, "Invalid input: expected object, "
                              "received %s",
                              ngx_http_backend_schema_received(*vp))
                  - msg.data;

        ngx_http_backend_schema_issue(ctx, path, "\"code\":\"invalid_type\","
                                      "\"expected\":\"object\"", &msg);
        return NGX_OK;
    }

    tag = ngx_http_backend_json_get(*vp, key->data, key->len);

    for (i = 0; tag && i < branches->nelts; i++) {
        prop = ngx_http_backend_schema_prop(sub[i], key);

        if (ngx_http_backend_json_equal(tag, prop->schema->constant)) {
            (void) ngx_http_backend_schema_check(ctx, sub[i], vp, path);
            return NGX_OK;
        }
    }

    /* "options":["a","b"], "Expected 'a' | 'b'" */

    len = key->len * 2;

    for (i = 0; i < branches->nelts; i++) {
        c = ngx_http_backend_schema_prop(sub[i], key)->schema->constant;
        len += 2 * ngx_http_backend_json_len(c) + 8;
    }

    head = ngx_pnalloc(ctx->pool, len + 160);
    msg.data = ngx_pnalloc(ctx->pool, len + 64);
    if (head == NULL || msg.data == NULL) {
        ctx->nomem = 1;
        return NGX_ERROR;
    }

    p = ngx_sprintf(head, "\"code\":\"invalid_union\",\"errors\":[],"
                    "\"note\":\"No matching discriminator\","
                    "\"discriminator\":");
    p = ngx_http_backend_json_str_write(p, key->data, key->len);
    p = ngx_cpymem(p, ",\"options\":[", sizeof(",\"options\":[") - 1);
    mp = ngx_cpymem(msg.data, "Invalid discriminator value. Expected ",
                    sizeof("Invalid discriminator value. Expected ") - 1);

    for (i = 0; i < branches->nelts; i++) {
        c = ngx_http_backend_schema_prop(sub[i], key)->schema->constant;

        if (i) {
            *p++ = ',';
            mp = ngx_cpymem(mp, " | ", 3);
        }

        p = ngx_http_backend_json_write(p, c);

        if (c->type == NGX_HTTP_BACKEND_JSON_STRING) {
            mp = ngx_sprintf(mp, "'%V'", &c->string);

        } else {
            mp = ngx_http_backend_json_write(mp, c);
        }
    }

    *p++ = ']';
    *p = '\0';
    msg.len = mp - msg.data;

    seg.parent = path;
    seg.key = *key;
    seg.index = -1;

    ngx_http_backend_schema_issue(ctx, &seg, (char *) head, &msg);

    return NGX_OK;
}


static ngx_http_backend_schema_prop_t *
ngx_http_backend_schema_prop(ngx_http_backend_schema_t *s, ngx_str_t *name)
{
    ngx_uint_t                       j;
    ngx_http_backend_schema_prop_t  *prop;

    if (s->properties == NULL) {
        return NULL;
    }

    prop = s->properties->elts;

    for (j = 0; j < s->properties->nelts; j++) {
        if (prop[j].name.len == name->len
            && ngx_strncmp(prop[j].name.data, name->data, name->len) == 0)
        {
            return &prop[j];
        }
    }

    return NULL;
}


/*
 * Zod goes on after a failed check (too_small, too_big, invalid_format,
 * not_multiple_of), and stops at anything else, a wrong type first;
 * heads are NUL-terminated
 */

static ngx_uint_t
ngx_http_backend_schema_aborted(ngx_array_t *issues)
{
    ngx_uint_t                        i;
    ngx_http_backend_schema_issue_t  *issue;

    issue = issues->elts;

    for (i = 0; i < issues->nelts; i++) {
        if (ngx_strncmp(issue[i].head.data, "\"origin\":\"array\",\"code\":"
                        "\"too_big\"",
                        sizeof("\"origin\":\"array\",\"code\":\"too_big\"") - 1)
            == 0)
        {
            /* an array past its maximum stops there (Zod's capSize) */
            return 1;
        }

        if (ngx_strlcasestrn(issue[i].head.data,
                             issue[i].head.data + issue[i].head.len,
                             (u_char *) "\"code\":\"too_",
                             sizeof("\"code\":\"too_") - 2)
            == NULL
            && ngx_strlcasestrn(issue[i].head.data,
                                issue[i].head.data + issue[i].head.len,
                                (u_char *) "\"code\":\"invalid_format\"",
                                sizeof("\"code\":\"invalid_format\"") - 2)
               == NULL
            && ngx_strlcasestrn(issue[i].head.data,
                                issue[i].head.data + issue[i].head.len,
                                (u_char *) "\"code\":\"not_multiple_of\"",
                                sizeof("\"code\":\"not_multiple_of\"") - 2)
               == NULL)
        {
            return 1;
        }
    }

    return 0;
}


/* another schema for the same instance: it must not strip its keys */

static ngx_uint_t
ngx_http_backend_schema_same(ngx_http_backend_schema_ctx_t *ctx,
    ngx_http_backend_schema_t *s, ngx_http_backend_json_t **vp,
    ngx_http_backend_schema_seg_t *path)
{
    ngx_uint_t  ok, keep;

    keep = ctx->keep;
    ctx->keep = 1;

    ok = ngx_http_backend_schema_check(ctx, s, vp, path);

    ctx->keep = keep;

    return ok;
}


/* a verdict is enough unless issues are collected, and while room is left */

#define ngx_schema_fail(ctx)                                                  \
    if ((ctx)->issues == NULL                                                 \
        || (ctx)->issues->nelts >= (ctx)->max_issues)                         \
    {                                                                         \
        return 0;                                                             \
    }                                                                         \
    ok = 0


static ngx_uint_t
ngx_http_backend_schema_check(ngx_http_backend_schema_ctx_t *ctx,
    ngx_http_backend_schema_t *s, ngx_http_backend_json_t **vp,
    ngx_http_backend_schema_seg_t *path)
{
    ngx_str_t   msg;
    ngx_uint_t  ok;

    if (s->always == 1) {
        return 1;
    }

    /* $ref cycles and deep input end here, not in a stack overflow */

    if (ctx->depth >= NGX_SCHEMA_MAX_DEPTH) {
        ngx_str_set(&msg, "Input nested too deep");
        ngx_http_backend_schema_issue(ctx, path, "\"code\":\"custom\"", &msg);
        return 0;
    }

    ctx->depth++;
    ok = ngx_http_backend_schema_check_value(ctx, s, vp, path);
    ctx->depth--;

    return ok;
}


static ngx_uint_t
ngx_http_backend_schema_check_value(ngx_http_backend_schema_ctx_t *ctx,
    ngx_http_backend_schema_t *s, ngx_http_backend_json_t **vp,
    ngx_http_backend_schema_seg_t *path)
{
    u_char                      *p;
    ngx_str_t                    msg;
    ngx_uint_t                   ok, i, k, n, type;
    ngx_http_backend_json_t     *v, **item;
    ngx_http_backend_schema_t  **sub;

    ok = 1;
    v = *vp;

    if (v == NULL) {
        /* no input at all: a default, else what Zod says of undefined */

        if (s->default_value && ctx->defaults) {
            /* as Zod's .default(): the default itself is not checked */
            *vp = s->default_value;
            return 1;

        } else if (s->has_const) {
            /* z.literal() and z.enum() say what they expected */
            ngx_http_backend_schema_values(ctx, path, &s->constant, 1,
                                           "Invalid input: expected ");
            return 0;

        } else if (s->enum_values) {
            ngx_http_backend_schema_values(ctx, path, s->enum_values->elts,
                                           s->enum_values->nelts,
                                           s->enum_values->nelts == 1
                                           ? "Invalid input: expected "
                                           : "Invalid option: expected one "
                                             "of ");
            return 0;

        } else if (s->types || s->always == 0) {
            p = ngx_pnalloc(ctx->pool, 128);
            if (p == NULL) {
                ctx->nomem = 1;
                return 0;
            }

            msg.data = p;
            msg.len = ngx_sprintf(p, "Invalid input: expected %s, received "
                                  "undefined",
                                  ngx_http_backend_schema_type_name(s->types))
                      - p;

            p = ngx_pnalloc(ctx->pool, 64);
            if (p == NULL) {
                ctx->nomem = 1;
                return 0;
            }

            *ngx_sprintf(p, "\"expected\":\"%s\",\"code\":\"invalid_type\"%Z",
                         ngx_http_backend_schema_type_name(s->types)) = '\0';

            ngx_http_backend_schema_issue(ctx, path, (char *) p, &msg);
            return 0;

        } else {
            return 1;
        }
    }

    if (s->always == 0) {
        ngx_str_set(&msg, "Invalid input");
        ngx_http_backend_schema_issue(ctx, path, "\"code\":\"custom\"", &msg);
        return 0;
    }

    if (s->ref) {
        /* a reference with object keywords next to it keeps its keys */
        if (!((s->properties || s->additional || s->pattern_properties)
              ? ngx_http_backend_schema_same(ctx, s->ref, vp, path)
              : ngx_http_backend_schema_check(ctx, s->ref, vp, path)))
        {
            ngx_schema_fail(ctx);
        }

        v = *vp;
    }

    type = ngx_http_backend_schema_type_of(v);

    if (type == NGX_SCHEMA_NUMBER && !isfinite(v->number)
        && (s->types & (NGX_SCHEMA_NUMBER|NGX_SCHEMA_INTEGER))
        && !s->has_const && s->enum_values == NULL)
    {
        /* 1e400 is Infinity to JavaScript, which Zod's z.number() refuses */
        ngx_http_backend_schema_infinity(ctx, path, v);
        return 0;
    }

    if (s->types
        && !(s->types & type)
        && !((s->types & NGX_SCHEMA_NUMBER) && type == NGX_SCHEMA_INTEGER)
        && (s->has_const || s->enum_values))
    {
        /* z.enum() and z.literal() check the value, not its type */
        ngx_http_backend_schema_values(ctx, path,
                                       s->has_const ? &s->constant
                                                    : s->enum_values->elts,
                                       s->has_const ? 1
                                                    : s->enum_values->nelts,
                                       s->has_const
                                       || s->enum_values->nelts == 1
                                       ? "Invalid input: expected "
                                       : "Invalid option: expected one of ");
        return 0;
    }

    if (s->types
        && !(s->types & type)
        && !((s->types & NGX_SCHEMA_NUMBER) && type == NGX_SCHEMA_INTEGER))
    {
        const char  *expected;

        expected = ngx_http_backend_schema_type_name(s->types);

        if ((s->types & NGX_SCHEMA_INTEGER) && type == NGX_SCHEMA_NUMBER
            && isfinite(v->number))
        {
            /* z.number().int() given 1.5 */
            expected = "int";

        } else if (s->types == NGX_SCHEMA_OBJECT && s->property_names) {
            /* z.record() exports propertyNames */
            expected = "record";

        } else if (s->types == NGX_SCHEMA_ARRAY && s->prefix_items) {
            expected = "tuple";
        }

        p = ngx_pnalloc(ctx->pool, 128);
        if (p == NULL) {
            ctx->nomem = 1;
            return 0;
        }

        msg.data = p;
        msg.len = ngx_sprintf(p, "Invalid input: expected %s, received %s",
                              expected, ngx_http_backend_schema_received(v))
                  - p;

        p = ngx_pnalloc(ctx->pool, 64);
        if (p == NULL) {
            ctx->nomem = 1;
            return 0;
        }

        *ngx_sprintf(p, "\"expected\":\"%s\",%s\"code\":\"invalid_type\"%Z",
                     expected,
                     expected[0] == 'i' ? "\"format\":\"safeint\"," : "")
            = '\0';

        ngx_http_backend_schema_issue(ctx, path, (char *) p, &msg);

        /*
         * Zod's length checks run on whatever has a length: z.string()
         * .min(1) given [] says so of the array too, z.array().max(1)
         * given "abc" of the string
         */

        if (s->prefix_items) {
            /* z.tuple() given anything else says only that */

        } else if (type == NGX_SCHEMA_ARRAY
                   && (s->min_length >= 0 || s->max_length >= 0))
        {
            (void) ngx_http_backend_schema_length(ctx, path, "array",
                                                  v->items.nelts,
                                                  s->min_length,
                                                  s->max_length);

        } else if (type == NGX_SCHEMA_STRING
                   && (s->min_items >= 0 || s->max_items >= 0))
        {
            (void) ngx_http_backend_schema_length(ctx, path, "string",
                       ngx_http_backend_json_utf8_length(v->string.data,
                                                         v->string.len),
                       s->min_items, s->max_items);
        }

        return 0;
    }

    if (s->has_const && !ngx_http_backend_json_equal(v, s->constant)) {
        ngx_http_backend_schema_values(ctx, path, &s->constant, 1,
                                       "Invalid input: expected ");
        ngx_schema_fail(ctx);
    }

    if (s->enum_values) {
        item = s->enum_values->elts;

        for (i = 0; i < s->enum_values->nelts; i++) {
            if (ngx_http_backend_json_equal(v, item[i])) {
                break;
            }
        }

        if (i == s->enum_values->nelts) {
            ngx_http_backend_schema_values(ctx, path, item,
                                           s->enum_values->nelts,
                                           s->enum_values->nelts == 1
                                           ? "Invalid input: expected "
                                           : "Invalid option: expected one "
                                             "of ");
            ngx_schema_fail(ctx);
        }
    }

    switch (type) {

    case NGX_SCHEMA_OBJECT:
        if (!ngx_http_backend_schema_check_object(ctx, s, v, path)) {
            ngx_schema_fail(ctx);
        }
        break;

    case NGX_SCHEMA_ARRAY:
        if (!ngx_http_backend_schema_check_array(ctx, s, v, path)) {
            ngx_schema_fail(ctx);
        }
        break;

    case NGX_SCHEMA_NUMBER:
    case NGX_SCHEMA_INTEGER:
        if (!ngx_http_backend_schema_check_number(ctx, s, v, path)) {
            ngx_schema_fail(ctx);
        }
        break;

    case NGX_SCHEMA_STRING:
        if (!ngx_http_backend_schema_check_string(ctx, s, v, path)) {
            ngx_schema_fail(ctx);
        }
        break;

    default:
        break;
    }

    if (s->all_of) {
        sub = s->all_of->elts;

        for (i = 0; i < s->all_of->nelts; i++) {
            if (!ngx_http_backend_schema_same(ctx, sub[i], vp, path)) {
                ngx_schema_fail(ctx);
            }
        }
    }

    if (s->any_of) {
        sub = s->any_of->elts;

        for (i = 0; i < s->any_of->nelts; i++) {
            if (ngx_http_backend_schema_quiet(ctx, sub[i], v)) {
                /* again, for its defaults and stripped keys, as Zod's */
                if (ctx->defaults) {
                    (void) ngx_http_backend_schema_check(ctx, sub[i], vp,
                                                         path);
                }

                break;
            }
        }

        if (i == s->any_of->nelts
            && !ngx_http_backend_schema_union(ctx, s->any_of, vp, path))
        {
            ngx_schema_fail(ctx);
        }
    }

    if (s->one_of) {
        sub = s->one_of->elts;
        n = 0;

        for (i = 0, k = 0; i < s->one_of->nelts; i++) {
            if (ngx_http_backend_schema_quiet(ctx, sub[i], v)) {
                n++;
                k = i;
            }
        }

        if (n == 1 && ctx->defaults) {
            /* again, for its defaults and stripped keys, as Zod's */
            (void) ngx_http_backend_schema_check(ctx, sub[k], vp, path);
        }

        if (n != 1 && ctx->issues
            && ngx_http_backend_schema_discriminated(ctx, s->one_of, vp, path)
               != NGX_DECLINED)
        {
            ngx_schema_fail(ctx);

        } else if (n != 1) {
            ngx_str_set(&msg, "Invalid input");
            ngx_http_backend_schema_issue(ctx, path,
                                          "\"code\":\"invalid_union\"", &msg);
            ngx_schema_fail(ctx);
        }
    }

    if (s->not && ngx_http_backend_schema_quiet(ctx, s->not, v)) {
        ngx_str_set(&msg, "Invalid input");
        ngx_http_backend_schema_issue(ctx, path, "\"code\":\"custom\"", &msg);
        ngx_schema_fail(ctx);
    }

    if (s->if_) {
        if (ngx_http_backend_schema_quiet(ctx, s->if_, v)) {
            sub = &s->then_;

        } else {
            sub = &s->else_;
        }

        if (*sub && !ngx_http_backend_schema_same(ctx, *sub, vp, path)) {
            ngx_schema_fail(ctx);
        }
    }

    return ok;
}


static ngx_uint_t
ngx_http_backend_schema_check_object(ngx_http_backend_schema_ctx_t *ctx,
    ngx_http_backend_schema_t *s, ngx_http_backend_json_t *v,
    ngx_http_backend_schema_seg_t *path)
{
    u_char                            *p, *mp, *head;
    size_t                             len;
    ngx_str_t                          msg, *name;
    ngx_uint_t                         ok, i, j, matched, unknown;
    ngx_http_backend_json_t           *val, *dv, key;
    ngx_http_backend_json_member_t    *m;
    ngx_http_backend_schema_ctx_t      nodef;
    ngx_http_backend_schema_seg_t      seg;
    ngx_http_backend_schema_prop_t    *prop;

    ok = 1;
    seg.parent = path;
    seg.index = -1;

    /*
     * declared properties first, present or missing, in the schema's
     * order, as Zod does
     */

    if (s->properties) {
        prop = s->properties->elts;

        for (j = 0; j < s->properties->nelts; j++) {
            m = v->items.elts;

            for (i = v->items.nelts; i > 0; i--) {
                if (prop[j].name.len == m[i - 1].key.len
                    && ngx_strncmp(prop[j].name.data, m[i - 1].key.data,
                                   m[i - 1].key.len) == 0)
                {
                    break;
                }
            }

            seg.key = prop[j].name;

            if (i == 0) {
                if (!ngx_http_backend_schema_required(s, &prop[j].name)
                    || ngx_http_backend_schema_default(s, &prop[j].name))
                {
                    continue;
                }

                /* Zod: the property's own schema, given undefined */

                nodef = *ctx;
                nodef.defaults = 0;
                val = NULL;
                (void) ngx_http_backend_schema_check(&nodef, prop[j].schema,
                                                     &val, &seg);
                ctx->nomem |= nodef.nomem;

                ngx_schema_fail(ctx);
                continue;
            }

            if (!ngx_http_backend_schema_check(ctx, prop[j].schema,
                                               &m[i - 1].value, &seg))
            {
                ngx_schema_fail(ctx);
            }
        }
    }

    /* required, and not a property: z.object's catchall, nonoptional */

    if (s->required) {
        name = s->required->elts;

        for (i = 0; i < s->required->nelts; i++) {
            if (ngx_http_backend_schema_declared(s, &name[i])
                || ngx_http_backend_json_get(v, name[i].data, name[i].len)
                || ngx_http_backend_schema_default(s, &name[i]))
            {
                continue;
            }

            seg.key = name[i];

            ngx_str_set(&msg, "Invalid input: expected nonoptional, "
                              "received undefined");
            ngx_http_backend_schema_issue(ctx, &seg,
                                          "\"expected\":\"nonoptional\","
                                          "\"code\":\"invalid_type\"",
                                          &msg);
            ngx_schema_fail(ctx);
        }
    }

    m = v->items.elts;
    unknown = 0;

    for (i = 0; i < v->items.nelts; i++) {
        seg.key = m[i].key;
        matched = 0;

        if (s->properties) {
            prop = s->properties->elts;

            for (j = 0; j < s->properties->nelts; j++) {
                if (prop[j].name.len == m[i].key.len
                    && ngx_strncmp(prop[j].name.data, m[i].key.data,
                                   m[i].key.len) == 0)
                {
                    matched = 1;
                }
            }
        }

        if (s->pattern_properties) {
            prop = s->pattern_properties->elts;

            for (j = 0; j < s->pattern_properties->nelts; j++) {
                ngx_int_t  rc;

                rc = ngx_http_backend_schema_match(ctx, prop[j].re,
                                                   &m[i].key);

                if (rc == NGX_ERROR) {
                    return 0;
                }

                if (rc == NGX_DECLINED) {
                    /* the key is neither let through nor ignored */
                    matched = 1;
                    ngx_http_backend_schema_limit(ctx, &seg, &prop[j].name);
                    ngx_schema_fail(ctx);
                    continue;
                }

                if (rc == 0) {
                    continue;
                }

                matched = 1;

                if (!ngx_http_backend_schema_check(ctx, prop[j].schema,
                                                   &m[i].value, &seg))
                {
                    ngx_schema_fail(ctx);
                }
            }
        }

        if (!matched && s->additional) {
            if (s->additional->always == 0) {
                unknown++;

            } else if (!ngx_http_backend_schema_check(ctx, s->additional,
                                                      &m[i].value, &seg))
            {
                ngx_schema_fail(ctx);
            }
        }

        if (s->property_names) {
            ngx_memzero(&key, sizeof(ngx_http_backend_json_t));
            key.type = NGX_HTTP_BACKEND_JSON_STRING;
            key.string = m[i].key;

            if (!ngx_http_backend_schema_quiet(ctx, s->property_names, &key)) {
                ngx_str_set(&msg, "Invalid key");
                ngx_http_backend_schema_issue(ctx, &seg,
                                              "\"code\":\"invalid_key\"",
                                              &msg);
                ngx_schema_fail(ctx);
            }
        }

        if (s->dependent_required) {
            prop = s->dependent_required->elts;

            for (j = 0; j < s->dependent_required->nelts; j++) {
                ngx_uint_t  d;

                if (prop[j].name.len != m[i].key.len
                    || ngx_strncmp(prop[j].name.data, m[i].key.data,
                                   m[i].key.len) != 0)
                {
                    continue;
                }

                name = prop[j].names->elts;

                for (d = 0; d < prop[j].names->nelts; d++) {
                    if (ngx_http_backend_json_get(v, name[d].data,
                                                  name[d].len)
                        == NULL)
                    {
                        ngx_str_set(&msg, "Invalid input: a dependent "
                                          "property is missing");
                        ngx_http_backend_schema_issue(ctx, path,
                                                      "\"code\":\"custom\"",
                                                      &msg);
                        ngx_schema_fail(ctx);
                    }
                }
            }
        }

        if (s->dependent_schemas) {
            prop = s->dependent_schemas->elts;

            for (j = 0; j < s->dependent_schemas->nelts; j++) {
                if (prop[j].name.len == m[i].key.len
                    && ngx_strncmp(prop[j].name.data, m[i].key.data,
                                   m[i].key.len) == 0
                    && !ngx_http_backend_schema_same(ctx, prop[j].schema,
                                                     &v, path))
                {
                    ngx_schema_fail(ctx);
                }
            }
        }
    }

    if (unknown) {
        /* {"code":"unrecognized_keys","keys":["a","b"],...} */

        len = sizeof("\"code\":\"unrecognized_keys\",\"keys\":[]")
              + sizeof("Unrecognized keys: ");
        for (i = 0; i < v->items.nelts; i++) {
            len += ngx_http_backend_json_str_len(m[i].key.data, m[i].key.len)
                   + 2;
        }

        head = ngx_pnalloc(ctx->pool, len);
        msg.data = ngx_pnalloc(ctx->pool, len);
        if (head == NULL || msg.data == NULL) {
            ctx->nomem = 1;
            return 0;
        }

        p = ngx_cpymem(head, "\"code\":\"unrecognized_keys\",\"keys\":[",
                       sizeof("\"code\":\"unrecognized_keys\",\"keys\":[")
                       - 1);
        mp = ngx_sprintf(msg.data, "Unrecognized key%s: ",
                         unknown > 1 ? "s" : "");
        j = 0;

        for (i = 0; i < v->items.nelts; i++) {
            if (ngx_http_backend_schema_known(ctx, s, &m[i].key)) {
                continue;
            }

            if (j++) {
                *p++ = ',';
                *mp++ = ',';
                *mp++ = ' ';
            }

            p = ngx_http_backend_json_str_write(p, m[i].key.data,
                                                m[i].key.len);
            /* Zod quotes keys in the message, escaping nothing */
            *mp++ = '"';
            mp = ngx_cpymem(mp, m[i].key.data, m[i].key.len);
            *mp++ = '"';
        }

        *p++ = ']';
        *p = '\0';
        msg.len = mp - msg.data;

        ngx_http_backend_schema_issue(ctx, path, (char *) head, &msg);
        ngx_schema_fail(ctx);
    }

    /*
     * Missing properties with a default get it, as Zod's parse does, and
     * as with Zod the default itself is not checked
     */

    if (ok && s->properties && ctx->defaults) {
        prop = s->properties->elts;

        for (i = 0; i < s->properties->nelts; i++) {
            dv = prop[i].schema->default_value;

            if (dv == NULL
                || ngx_http_backend_json_get(v, prop[i].name.data,
                                             prop[i].name.len))
            {
                continue;
            }

            m = ngx_array_push(&v->items);
            if (m == NULL) {
                ctx->nomem = 1;
                return 0;
            }

            m->key = prop[i].name;
            m->value = dv;
        }
    }

    if (s->min_properties >= 0
        && v->items.nelts < (ngx_uint_t) s->min_properties)
    {
        ngx_str_set(&msg, "Too small: expected object to have more "
                          "properties");
        ngx_http_backend_schema_issue(ctx, path, "\"code\":\"too_small\"",
                                      &msg);
        ngx_schema_fail(ctx);
    }

    if (s->max_properties >= 0
        && v->items.nelts > (ngx_uint_t) s->max_properties)
    {
        ngx_str_set(&msg, "Too big: expected object to have fewer "
                          "properties");
        ngx_http_backend_schema_issue(ctx, path, "\"code\":\"too_big\"",
                                      &msg);
        ngx_schema_fail(ctx);
    }

    /*
     * z.object() strips unknown keys, and its export says nothing of them
     * (no additionalProperties): what reaches SQL is what Zod's parse
     * returns.  Not where other keywords of this node or of an allOf
     * around it may still need them.
     */

    if (ok && ctx->defaults && !ctx->keep && s->properties
        && s->additional == NULL && s->pattern_properties == NULL
        && s->all_of == NULL && s->any_of == NULL && s->one_of == NULL
        && s->if_ == NULL)
    {
        m = v->items.elts;

        for (i = 0, j = 0; i < v->items.nelts; i++) {
            if (ngx_http_backend_schema_declared(s, &m[i].key)) {
                m[j++] = m[i];
            }
        }

        v->items.nelts = j;
    }

    return ok;
}


/* a property Zod would fill in: it has a default */

static ngx_uint_t
ngx_http_backend_schema_default(ngx_http_backend_schema_t *s, ngx_str_t *key)
{
    ngx_uint_t                       j;
    ngx_http_backend_schema_prop_t  *prop;

    if (s->properties == NULL) {
        return 0;
    }

    prop = s->properties->elts;

    for (j = 0; j < s->properties->nelts; j++) {
        if (prop[j].name.len == key->len
            && ngx_strncmp(prop[j].name.data, key->data, key->len) == 0)
        {
            return prop[j].schema->default_value != NULL;
        }
    }

    return 0;
}


static ngx_uint_t
ngx_http_backend_schema_required(ngx_http_backend_schema_t *s, ngx_str_t *key)
{
    ngx_str_t   *name;
    ngx_uint_t   i;

    if (s->required == NULL) {
        return 0;
    }

    name = s->required->elts;

    for (i = 0; i < s->required->nelts; i++) {
        if (name[i].len == key->len
            && ngx_strncmp(name[i].data, key->data, key->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static ngx_uint_t
ngx_http_backend_schema_declared(ngx_http_backend_schema_t *s, ngx_str_t *key)
{
    ngx_uint_t                       j;
    ngx_http_backend_schema_prop_t  *prop;

    if (s->properties == NULL) {
        return 0;
    }

    prop = s->properties->elts;

    for (j = 0; j < s->properties->nelts; j++) {
        if (prop[j].name.len == key->len
            && ngx_strncmp(prop[j].name.data, key->data, key->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static ngx_uint_t
ngx_http_backend_schema_known(ngx_http_backend_schema_ctx_t *ctx,
    ngx_http_backend_schema_t *s, ngx_str_t *key)
{
    ngx_uint_t                       j;
    ngx_http_backend_schema_prop_t  *prop;

    if (s->properties) {
        prop = s->properties->elts;

        for (j = 0; j < s->properties->nelts; j++) {
            if (prop[j].name.len == key->len
                && ngx_strncmp(prop[j].name.data, key->data, key->len) == 0)
            {
                return 1;
            }
        }
    }

    if (s->pattern_properties) {
        prop = s->pattern_properties->elts;

        for (j = 0; j < s->pattern_properties->nelts; j++) {
            /* a limit reached was an issue already: not "unrecognized" */
            if (ngx_http_backend_schema_match(ctx, prop[j].re, key) != 0) {
                return 1;
            }
        }
    }

    return 0;
}


static ngx_uint_t
ngx_http_backend_schema_check_array(ngx_http_backend_schema_ctx_t *ctx,
    ngx_http_backend_schema_t *s, ngx_http_backend_json_t *v,
    ngx_http_backend_schema_seg_t *path)
{
    ngx_str_t                       msg;
    ngx_uint_t                      ok, i, j, n, from;
    ngx_http_backend_json_t       **item;
    ngx_http_backend_schema_t     **prefix;
    ngx_http_backend_schema_seg_t   seg;

    ok = 1;
    item = v->items.elts;
    seg.parent = path;
    ngx_str_null(&seg.key);

    if (s->prefix_items && s->items && s->items->always == 0) {
        if (!ngx_http_backend_schema_tuple(ctx, s, v, path)) {
            ngx_schema_fail(ctx);
        }

        goto unique;
    }

    /* Zod says only this of an array past its maximum, items unparsed */

    if (s->max_items >= 0 && v->items.nelts > (ngx_uint_t) s->max_items) {
        (void) ngx_http_backend_schema_length(ctx, path, "array",
                                              v->items.nelts, s->min_items,
                                              s->max_items);
        return 0;
    }

    from = 0;

    if (s->prefix_items) {
        prefix = s->prefix_items->elts;

        for (i = 0; i < v->items.nelts && i < s->prefix_items->nelts; i++) {
            seg.index = i;

            if (!ngx_http_backend_schema_check(ctx, prefix[i], &item[i], &seg))
            {
                ngx_schema_fail(ctx);
            }
        }

        from = s->prefix_items->nelts;
    }

    if (s->items) {
        for (i = from; i < v->items.nelts; i++) {
            seg.index = i;

            if (!ngx_http_backend_schema_check(ctx, s->items, &item[i], &seg)) {
                ngx_schema_fail(ctx);
            }
        }
    }

    if ((s->min_items >= 0 || s->max_items >= 0)
        && !ngx_http_backend_schema_length(ctx, path, "array", v->items.nelts,
                                           s->min_items, s->max_items))
    {
        ngx_schema_fail(ctx);
    }

unique:

    if (s->unique_items) {
        for (i = 0; i < v->items.nelts; i++) {
            for (j = i + 1; j < v->items.nelts; j++) {
                if (ngx_http_backend_json_equal(item[i], item[j])) {
                    ngx_str_set(&msg, "Invalid input: items must be unique");
                    ngx_http_backend_schema_issue(ctx, path,
                                                  "\"code\":\"custom\"",
                                                  &msg);
                    ngx_schema_fail(ctx);
                    goto unique_done;
                }
            }
        }
    }

unique_done:

    if (s->contains) {
        n = 0;

        for (i = 0; i < v->items.nelts; i++) {
            n += ngx_http_backend_schema_quiet(ctx, s->contains, item[i]);
        }

        if ((s->min_contains >= 0 && n < (ngx_uint_t) s->min_contains)
            || (s->max_contains >= 0 && n > (ngx_uint_t) s->max_contains))
        {
            ngx_str_set(&msg, "Invalid input: the array does not contain "
                              "the expected items");
            ngx_http_backend_schema_issue(ctx, path, "\"code\":\"custom\"",
                                          &msg);
            ngx_schema_fail(ctx);
        }
    }

    return ok;
}


static ngx_uint_t
ngx_http_backend_schema_check_number(ngx_http_backend_schema_ctx_t *ctx,
    ngx_http_backend_schema_t *s, ngx_http_backend_json_t *v,
    ngx_http_backend_schema_seg_t *path)
{
    u_char                   *p;
    ngx_str_t                 msg;
    ngx_uint_t                ok, i, small, unsafe;
    ngx_http_backend_json_t  *bound;

    struct {
        ngx_http_backend_json_t  *bound;
        ngx_uint_t                small;
        ngx_uint_t                inclusive;
    } bounds[4];

    ok = 1;

    if (!isfinite(v->number) && !v->integer) {
        /* refused where a number is expected (check_value); else as z.any() */
        return 1;
    }

    /*
     * z.number().int() is within Number.MAX_SAFE_INTEGER, an issue of its
     * own; its JSON Schema shows that bound as maximum (or minimum), which
     * is then not said twice.  Compared as JavaScript does, as doubles.
     */

    unsafe = 0;

    if ((s->types & NGX_SCHEMA_INTEGER)
        && (v->number > NGX_SCHEMA_MAX_SAFE
            || v->number < -NGX_SCHEMA_MAX_SAFE))
    {
        unsafe = 1;

        if (v->number > 0) {
            ngx_str_set(&msg, "Too big: expected int to be "
                              "<=9007199254740991");
            ngx_http_backend_schema_issue(ctx, path,
                "\"code\":\"too_big\",\"maximum\":9007199254740991,"
                "\"note\":\"Integers must be within the safe integer range.\","
                "\"origin\":\"int\",\"inclusive\":true", &msg);

        } else {
            ngx_str_set(&msg, "Too small: expected int to be "
                              ">=-9007199254740991");
            ngx_http_backend_schema_issue(ctx, path,
                "\"code\":\"too_small\",\"minimum\":-9007199254740991,"
                "\"note\":\"Integers must be within the safe integer range.\","
                "\"origin\":\"int\",\"inclusive\":true", &msg);
        }

        ngx_schema_fail(ctx);
    }

    bounds[0].bound = s->minimum;
    bounds[0].small = 1;
    bounds[0].inclusive = 1;
    bounds[1].bound = s->exclusive_minimum;
    bounds[1].small = 1;
    bounds[1].inclusive = 0;
    bounds[2].bound = s->maximum;
    bounds[2].small = 0;
    bounds[2].inclusive = 1;
    bounds[3].bound = s->exclusive_maximum;
    bounds[3].small = 0;
    bounds[3].inclusive = 0;

    for (i = 0; i < 4; i++) {
        bound = bounds[i].bound;
        if (bound == NULL) {
            continue;
        }

        small = bounds[i].small;

        if (unsafe && bounds[i].inclusive
            && bound->number == (small ? -NGX_SCHEMA_MAX_SAFE
                                       : NGX_SCHEMA_MAX_SAFE))
        {
            continue;
        }

        if (small ? (bounds[i].inclusive
                     ? ngx_http_backend_schema_cmp(v, bound) >= 0
                     : ngx_http_backend_schema_cmp(v, bound) > 0)
                  : (bounds[i].inclusive
                     ? ngx_http_backend_schema_cmp(v, bound) <= 0
                     : ngx_http_backend_schema_cmp(v, bound) < 0))
        {
            continue;
        }

        /* "Too small: expected number to be >=1" */

        p = ngx_pnalloc(ctx->pool, 96 + bound->raw.len);
        msg.data = ngx_pnalloc(ctx->pool, 64 + bound->raw.len);
        if (p == NULL || msg.data == NULL) {
            ctx->nomem = 1;
            return 0;
        }

        *ngx_sprintf(p, "\"origin\":\"number\",\"code\":\"%s\",\"%s\":%V,"
                     "\"inclusive\":%s",
                     small ? "too_small" : "too_big",
                     small ? "minimum" : "maximum", &bound->raw,
                     bounds[i].inclusive ? "true" : "false")
            = '\0';

        msg.len = ngx_sprintf(msg.data, "Too %s: expected number to be %s%s%V",
                              small ? "small" : "big", small ? ">" : "<",
                              bounds[i].inclusive ? "=" : "", &bound->raw)
                  - msg.data;

        ngx_http_backend_schema_issue(ctx, path, (char *) p, &msg);
        ngx_schema_fail(ctx);
    }

    if (s->multiple_of && !ngx_http_backend_schema_multiple(v, s->multiple_of))
    {
        p = ngx_pnalloc(ctx->pool, 96 + s->multiple_of->raw.len);
        msg.data = ngx_pnalloc(ctx->pool, 64 + s->multiple_of->raw.len);
        if (p == NULL || msg.data == NULL) {
            ctx->nomem = 1;
            return 0;
        }

        *ngx_sprintf(p, "\"origin\":\"number\",\"code\":\"not_multiple_of\","
                     "\"divisor\":%V", &s->multiple_of->raw)
            = '\0';

        msg.len = ngx_sprintf(msg.data, "Invalid number: must be a multiple "
                              "of %V", &s->multiple_of->raw)
                  - msg.data;

        ngx_http_backend_schema_issue(ctx, path, (char *) p, &msg);
        ngx_schema_fail(ctx);
    }

    return ok;
}


static ngx_uint_t
ngx_http_backend_schema_check_string(ngx_http_backend_schema_ctx_t *ctx,
    ngx_http_backend_schema_t *s, ngx_http_backend_json_t *v,
    ngx_http_backend_schema_seg_t *path)
{
    u_char             *p, *head;
    size_t              len;
    ngx_int_t           rc;
    ngx_str_t           msg, *zod;
    ngx_uint_t          ok;

    static ngx_str_t    regex = ngx_string("regex");

    ok = 1;

    if (s->min_length >= 0 || s->max_length >= 0) {
        /* code points, as Zod 4 counts (a lone surrogate is U+FFFD) */
        len = ngx_http_backend_json_utf8_length(v->string.data,
                                                v->string.len);

        if (!ngx_http_backend_schema_length(ctx, path, "string", len,
                                            s->min_length, s->max_length))
        {
            ngx_schema_fail(ctx);
        }
    }

    /*
     * As Zod decides: a pattern exported next to a format is what Zod runs
     * for it (so it decides alone), except for ipv6, which Zod checks as a
     * URL's host would be; a format without a pattern is checked here
     */

    zod = ngx_http_backend_schema_zod_format(s);

    if (s->format == NGX_SCHEMA_FORMAT_IPV6
        || (s->format && s->pattern == NULL))
    {
        if (ngx_http_backend_schema_format_ok(s->format, &v->string)) {
            return ok;
        }

        head = ngx_pnalloc(ctx->pool, 96 + zod->len);
        msg.data = ngx_pnalloc(ctx->pool, 96 + zod->len);
        if (head == NULL || msg.data == NULL) {
            ctx->nomem = 1;
            return 0;
        }

        /* Zod's own checks of ipv6 and url give no origin */
        *ngx_sprintf(head, "%s\"code\":\"invalid_format\",\"format\":\"%V\"",
                     (s->format == NGX_SCHEMA_FORMAT_IPV6
                      || s->format == NGX_SCHEMA_FORMAT_URI)
                     ? "" : "\"origin\":\"string\",", zod)
            = '\0';

        msg.len = ngx_sprintf(msg.data, "Invalid %s",
                              ngx_http_backend_schema_format_noun(zod))
                  - msg.data;

        ngx_http_backend_schema_issue(ctx, path, (char *) head, &msg);
        ngx_schema_fail(ctx);

        return ok;
    }

    if (s->pattern == NULL) {
        return ok;
    }

    rc = ngx_http_backend_schema_match(ctx, s->pattern, &v->string);

    if (rc == NGX_ERROR) {
        return 0;
    }

    if (rc == NGX_DECLINED) {
        ngx_http_backend_schema_limit(ctx, path, &s->pattern_source);
        ngx_schema_fail(ctx);
        return ok;
    }

    if (rc == 1) {
        return ok;
    }

    len = ngx_http_backend_json_str_len(s->pattern_source.data,
                                        s->pattern_source.len);

    head = ngx_pnalloc(ctx->pool, 96 + zod->len + len + 2);
    msg.data = ngx_pnalloc(ctx->pool, 96 + s->pattern_source.len);
    if (head == NULL || msg.data == NULL) {
        ctx->nomem = 1;
        return 0;
    }

    p = ngx_sprintf(head, "\"origin\":\"string\",\"code\":\"invalid_format\","
                    "\"format\":\"%V\",\"pattern\":",
                    zod->len ? zod : &regex);
    p = ngx_http_backend_schema_regex_write(p, &s->pattern_source);
    *p = '\0';

    if (zod->len) {
        msg.len = ngx_sprintf(msg.data, "Invalid %s",
                              ngx_http_backend_schema_format_noun(zod))
                  - msg.data;

    } else {
        msg.len = ngx_sprintf(msg.data, "Invalid string: must match "
                              "pattern /%V/", &s->pattern_source)
                  - msg.data;
    }

    ngx_http_backend_schema_issue(ctx, path, (char *) head, &msg);
    ngx_schema_fail(ctx);

    return ok;
}


/*
 * The name Zod gives a format: JSON Schema's date-time and uri are Zod's
 * datetime and url; z.iso.time() exports its pattern alone, known by its
 * start.  Empty: a plain pattern.
 */

static ngx_str_t *
ngx_http_backend_schema_zod_format(ngx_http_backend_schema_t *s)
{
    static ngx_str_t  none = ngx_null_string;
    static ngx_str_t  datetime = ngx_string("datetime");
    static ngx_str_t  url = ngx_string("url");
    static ngx_str_t  time = ngx_string("time");
    static ngx_str_t  time_start = ngx_string("^(?:[01]\\d|2[0-3]):[0-5]\\d");

    if (s->format_name.len == 0) {
        if (s->pattern_source.len >= time_start.len
            && ngx_strncmp(s->pattern_source.data, time_start.data,
                           time_start.len) == 0)
        {
            return &time;
        }

        return &none;
    }

    if (s->format_name.len == 9
        && ngx_strncmp(s->format_name.data, "date-time", 9) == 0)
    {
        return &datetime;
    }

    if (s->format_name.len == 3
        && ngx_strncmp(s->format_name.data, "uri", 3) == 0)
    {
        return &url;
    }

    return &s->format_name;
}


/* "Invalid <noun>", from Zod's English locale */

static const char *
ngx_http_backend_schema_format_noun(ngx_str_t *format)
{
    ngx_uint_t  i;

    static const char  *nouns[][2] = {
        { "email", "email address" }, { "url", "URL" }, { "uuid", "UUID" },
        { "uuidv4", "UUIDv4" }, { "uuidv6", "UUIDv6" }, { "guid", "GUID" },
        { "ulid", "ULID" }, { "xid", "XID" }, { "ksuid", "KSUID" },
        { "datetime", "ISO datetime" }, { "date", "ISO date" },
        { "time", "ISO time" }, { "duration", "ISO duration" },
        { "ipv4", "IPv4 address" }, { "ipv6", "IPv6 address" },
        { "mac", "MAC address" }, { "cidrv4", "IPv4 range" },
        { "cidrv6", "IPv6 range" }, { "base64", "base64-encoded string" },
        { "base64url", "base64url-encoded string" },
        { "json_string", "JSON string" }, { "e164", "E.164 number" },
        { "jwt", "JWT" }, { NULL, NULL }
    };

    for (i = 0; nouns[i][0]; i++) {
        if (ngx_strlen(nouns[i][0]) == format->len
            && ngx_strncmp(nouns[i][0], format->data, format->len) == 0)
        {
            return nouns[i][1];
        }
    }

    /* the name itself, as Zod says it: NUL-terminated in the schema */
    return (const char *) format->data;
}


/*
 * z.tuple() (prefixItems, items false): too short is that issue alone;
 * too long is said first, then the items are checked
 */

static ngx_uint_t
ngx_http_backend_schema_tuple(ngx_http_backend_schema_ctx_t *ctx,
    ngx_http_backend_schema_t *s, ngx_http_backend_json_t *v,
    ngx_http_backend_schema_seg_t *path)
{
    u_char                          *p;
    ngx_str_t                        msg;
    ngx_uint_t                       ok, i, n, small;
    ngx_http_backend_json_t        **item;
    ngx_http_backend_schema_t      **prefix;
    ngx_http_backend_schema_seg_t    seg;

    ok = 1;
    n = s->prefix_items->nelts;
    item = v->items.elts;
    prefix = s->prefix_items->elts;

    /* optional items at the end may be missing: minItems says how many */

    if ((s->min_items >= 0 && v->items.nelts < (ngx_uint_t) s->min_items)
        || v->items.nelts > n)
    {
        small = (v->items.nelts <= n);

        p = ngx_pnalloc(ctx->pool, 128);
        msg.data = ngx_pnalloc(ctx->pool, 96);
        if (p == NULL || msg.data == NULL) {
            ctx->nomem = 1;
            return 0;
        }

        *ngx_sprintf(p, "\"code\":\"%s\",\"%s\":%ui,\"inclusive\":true,"
                     "\"origin\":\"array\"",
                     small ? "too_small" : "too_big",
                     small ? "minimum" : "maximum",
                     small ? (ngx_uint_t) s->min_items : n)
            = '\0';

        msg.len = ngx_sprintf(msg.data, "Too %s: expected array to have "
                              "%s%ui items", small ? "small" : "big",
                              small ? ">=" : "<=",
                              small ? (ngx_uint_t) s->min_items : n)
                  - msg.data;

        ngx_http_backend_schema_issue(ctx, path, (char *) p, &msg);

        if (small) {
            return 0;
        }

        ngx_schema_fail(ctx);
    }

    seg.parent = path;
    ngx_str_null(&seg.key);

    for (i = 0; i < v->items.nelts && i < n; i++) {
        seg.index = i;

        if (!ngx_http_backend_schema_check(ctx, prefix[i], &item[i], &seg)) {
            ngx_schema_fail(ctx);
        }
    }

    return ok;
}


/* "Too small: expected string to have >=2 characters", for arrays "items" */

static ngx_uint_t
ngx_http_backend_schema_length(ngx_http_backend_schema_ctx_t *ctx,
    ngx_http_backend_schema_seg_t *path, const char *origin, size_t len,
    ngx_int_t min, ngx_int_t max)
{
    u_char      *p;
    ngx_str_t    msg;
    ngx_uint_t   small, exact;
    const char  *unit;

    if (min >= 0 && len < (size_t) min) {
        small = 1;

    } else if (max >= 0 && len > (size_t) max) {
        small = 0;

    } else {
        return 1;
    }

    p = ngx_pnalloc(ctx->pool, 128);
    msg.data = ngx_pnalloc(ctx->pool, 96);
    if (p == NULL || msg.data == NULL) {
        ctx->nomem = 1;
        return 0;
    }

    unit = (origin[0] == 's') ? "characters" : "items";

    /* minLength = maxLength: what z.string().length() exports */
    exact = (min >= 0 && min == max);

    *ngx_sprintf(p, "\"origin\":\"%s\",\"code\":\"%s\",\"%s\":%i,"
                 "\"inclusive\":true%s", origin,
                 small ? "too_small" : "too_big",
                 small ? "minimum" : "maximum", small ? min : max,
                 exact ? ",\"exact\":true" : "")
        = '\0';

    msg.len = ngx_sprintf(msg.data, "Too %s: expected %s to have %s%i %s",
                          small ? "small" : "big", origin,
                          exact ? "exactly " : (small ? ">=" : "<="),
                          small ? min : max, unit)
              - msg.data;

    ngx_http_backend_schema_issue(ctx, path, (char *) p, &msg);

    return 0;
}


/* what Zod says of JSON.parse("1e400") */

static void
ngx_http_backend_schema_infinity(ngx_http_backend_schema_ctx_t *ctx,
    ngx_http_backend_schema_seg_t *path, ngx_http_backend_json_t *v)
{
    ngx_str_t  msg;

    if (v->number < 0) {
        ngx_str_set(&msg, "Invalid input: expected number, received "
                          "-Infinity");
        ngx_http_backend_schema_issue(ctx, path,
                                      "\"expected\":\"number\","
                                      "\"code\":\"invalid_type\","
                                      "\"received\":\"-Infinity\"", &msg);
        return;
    }

    ngx_str_set(&msg, "Invalid input: expected number, received Infinity");
    ngx_http_backend_schema_issue(ctx, path,
                                  "\"expected\":\"number\","
                                  "\"code\":\"invalid_type\","
                                  "\"received\":\"Infinity\"", &msg);
}


static ngx_uint_t
ngx_http_backend_schema_type_of(ngx_http_backend_json_t *v)
{
    switch (v->type) {

    case NGX_HTTP_BACKEND_JSON_NULL:
        return NGX_SCHEMA_NULL;

    case NGX_HTTP_BACKEND_JSON_TRUE:
    case NGX_HTTP_BACKEND_JSON_FALSE:
        return NGX_SCHEMA_BOOLEAN;

    case NGX_HTTP_BACKEND_JSON_NUMBER:
        return v->integer ? NGX_SCHEMA_INTEGER : NGX_SCHEMA_NUMBER;

    case NGX_HTTP_BACKEND_JSON_STRING:
        return NGX_SCHEMA_STRING;

    case NGX_HTTP_BACKEND_JSON_ARRAY:
        return NGX_SCHEMA_ARRAY;

    default:
        return NGX_SCHEMA_OBJECT;
    }
}


/* Zod's names: an integer is a number */

/* what Zod says it received: 1e400 is Infinity */

static const char *
ngx_http_backend_schema_received(ngx_http_backend_json_t *v)
{
    ngx_uint_t  type;

    type = ngx_http_backend_schema_type_of(v);

    if (type == NGX_SCHEMA_NUMBER && !isfinite(v->number)) {
        return v->number < 0 ? "-Infinity" : "Infinity";
    }

    return ngx_http_backend_schema_type_name(type == NGX_SCHEMA_INTEGER
                                             ? NGX_SCHEMA_NUMBER : type);
}


static const char *
ngx_http_backend_schema_type_name(ngx_uint_t types)
{
    if (types & NGX_SCHEMA_OBJECT) {
        return "object";
    }

    if (types & NGX_SCHEMA_ARRAY) {
        return "array";
    }

    if (types & NGX_SCHEMA_STRING) {
        return "string";
    }

    if (types & (NGX_SCHEMA_NUMBER|NGX_SCHEMA_INTEGER)) {
        return "number";
    }

    if (types & NGX_SCHEMA_BOOLEAN) {
        return "boolean";
    }

    if (types & NGX_SCHEMA_NULL) {
        return "null";
    }

    return "unknown";
}


/*
 * Numbers compare exactly when both are written as integers (2^53 + 1 is
 * more than 2^53), else as doubles
 */

static ngx_int_t
ngx_http_backend_schema_cmp(ngx_http_backend_json_t *a,
    ngx_http_backend_json_t *b)
{
    u_char      *p;
    ngx_int_t    sa, sb, r;
    ngx_str_t    da, db;
    ngx_uint_t   plain;

    plain = 1;

    for (p = a->raw.data; p < a->raw.data + a->raw.len; p++) {
        if (!(*p == '-' || (*p >= '0' && *p <= '9'))) {
            plain = 0;
        }
    }

    for (p = b->raw.data; p < b->raw.data + b->raw.len; p++) {
        if (!(*p == '-' || (*p >= '0' && *p <= '9'))) {
            plain = 0;
        }
    }

    if (!plain || a->raw.len == 0 || b->raw.len == 0) {
        return (a->number > b->number) - (a->number < b->number);
    }

    sa = (a->raw.data[0] == '-') ? -1 : 1;
    sb = (b->raw.data[0] == '-') ? -1 : 1;

    da = a->raw;
    db = b->raw;

    if (sa < 0) {
        da.data++;
        da.len--;
    }

    if (sb < 0) {
        db.data++;
        db.len--;
    }

    if (da.len == 1 && da.data[0] == '0') {
        sa = 0;
    }

    if (db.len == 1 && db.data[0] == '0') {
        sb = 0;
    }

    if (sa != sb) {
        return sa > sb ? 1 : -1;
    }

    if (sa == 0) {
        return 0;
    }

    /* same sign: the longer magnitude is larger (JSON has no leading 0) */

    if (da.len != db.len) {
        r = da.len > db.len ? 1 : -1;

    } else {
        r = ngx_memcmp(da.data, db.data, da.len);
        r = (r > 0) - (r < 0);
    }

    return sa * r;
}


static ngx_uint_t
ngx_http_backend_schema_multiple(ngx_http_backend_json_t *v,
    ngx_http_backend_json_t *m)
{
    double  q, r;

    /*
     * Zod's floatSafeRemainder: within 4 epsilons of the quotient's
     * magnitude of a whole quotient (round() is JavaScript's Math.round,
     * but which whole number does not matter here, only the distance)
     */

    q = v->number / m->number;

    if (!isfinite(q)) {
        return 0;
    }

    r = floor(q + 0.5);

    return fabs(q - r) < 4 * DBL_EPSILON * ngx_max(fabs(q), 1.0);
}


static ngx_int_t
ngx_http_backend_schema_digits(u_char **pp, u_char *last, ngx_uint_t n)
{
    u_char     *p;
    ngx_int_t   v;

    p = *pp;
    v = 0;

    if ((size_t) (last - p) < n) {
        return -1;
    }

    while (n--) {
        if (*p < '0' || *p > '9') {
            return -1;
        }

        v = v * 10 + (*p++ - '0');
    }

    *pp = p;

    return v;
}


static ngx_uint_t
ngx_http_backend_schema_date(u_char **pp, u_char *last)
{
    ngx_int_t  y, m, d, days;

    static ngx_int_t  mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
                                  30, 31 };

    y = ngx_http_backend_schema_digits(pp, last, 4);
    if (y < 0 || *pp == last || *(*pp)++ != '-') {
        return 0;
    }

    m = ngx_http_backend_schema_digits(pp, last, 2);
    if (m < 1 || m > 12 || *pp == last || *(*pp)++ != '-') {
        return 0;
    }

    d = ngx_http_backend_schema_digits(pp, last, 2);

    days = mdays[m - 1];
    if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) {
        days = 29;
    }

    return d >= 1 && d <= days;
}


/* HH:MM:SS[.frac](Z|+HH:MM); a leap second only at 23:59 UTC */

static ngx_uint_t
ngx_http_backend_schema_time(u_char **pp, u_char *last)
{
    u_char     *p;
    ngx_int_t   h, m, sec, oh, om, sign, utc;

    h = ngx_http_backend_schema_digits(pp, last, 2);
    if (h < 0 || h > 23 || *pp == last || *(*pp)++ != ':') {
        return 0;
    }

    m = ngx_http_backend_schema_digits(pp, last, 2);
    if (m < 0 || m > 59 || *pp == last || *(*pp)++ != ':') {
        return 0;
    }

    sec = ngx_http_backend_schema_digits(pp, last, 2);
    if (sec < 0 || sec > 60) {
        return 0;
    }

    p = *pp;

    if (p < last && *p == '.') {
        p++;

        if (p == last || *p < '0' || *p > '9') {
            return 0;
        }

        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p == last) {
        return 0;
    }

    oh = 0;
    om = 0;
    sign = 0;

    if (*p == 'Z' || *p == 'z') {
        p++;

    } else if (*p == '+' || *p == '-') {
        sign = (*p++ == '-') ? -1 : 1;

        oh = ngx_http_backend_schema_digits(&p, last, 2);
        if (oh < 0 || oh > 23 || p == last || *p++ != ':') {
            return 0;
        }

        om = ngx_http_backend_schema_digits(&p, last, 2);
        if (om < 0 || om > 59) {
            return 0;
        }

    } else {
        return 0;
    }

    if (sec == 60) {
        utc = ((h * 60 + m - sign * (oh * 60 + om)) % 1440 + 1440) % 1440;
        if (utc != 23 * 60 + 59) {
            return 0;
        }
    }

    *pp = p;

    return 1;
}


static ngx_uint_t
ngx_http_backend_schema_hostname(u_char *p, u_char *last)
{
    u_char  *label;

    if (p == last || last - p > 253) {
        return 0;
    }

    while (p < last) {
        label = p;

        while (p < last && *p != '.') {
            if (!(ngx_schema_alnum(*p) || *p == '-')) {
                return 0;
            }

            p++;
        }

        if (p == label || p - label > 63 || *label == '-' || p[-1] == '-') {
            return 0;
        }

        if (p < last) {
            p++;

            if (p == last) {
                return 0;
            }
        }
    }

    return 1;
}


static ngx_uint_t
ngx_http_backend_schema_ip(int af, u_char *p, size_t len)
{
    u_char  buf[64], addr[16];

    if (len == 0 || len >= sizeof(buf) || ngx_strlchr(p, p + len, '\0')) {
        return 0;
    }

    ngx_memcpy(buf, p, len);
    buf[len] = '\0';

    return inet_pton(af, (char *) buf, addr) == 1;
}


static ngx_uint_t
ngx_http_backend_schema_email(u_char *p, u_char *last)
{
    u_char  *at, *q;

    static u_char  atext[] = "!#$%&'*+-/=?^_`{|}~";

    at = NULL;

    for (q = last; q > p; q--) {
        if (q[-1] == '@') {
            at = q - 1;
            break;
        }
    }

    if (at == NULL || at == p || at + 1 == last) {
        return 0;
    }

    /* local part: a quoted string, or dot-separated atoms */

    if (*p == '"') {
        if (at - p < 2 || at[-1] != '"') {
            return 0;
        }

        for (q = p + 1; q < at - 1; q++) {
            if (*q == '\\') {
                q++;

            } else if (*q == '"') {
                return 0;
            }
        }

    } else {
        if (*p == '.' || at[-1] == '.') {
            return 0;
        }

        for (q = p; q < at; q++) {
            if (*q == '.') {
                if (q[1] == '.') {
                    return 0;
                }

                continue;
            }

            if (!(ngx_schema_alnum(*q) || ngx_strlchr(atext,
                                                       atext + sizeof(atext)
                                                       - 1, *q)))
            {
                return 0;
            }
        }
    }

    q = at + 1;

    if (*q == '[') {
        if (last[-1] != ']') {
            return 0;
        }

        if (last - q > 6 && ngx_strncmp(q + 1, "IPv6:", 5) == 0) {
            return ngx_http_backend_schema_ip(AF_INET6, q + 6, last - q - 7);
        }

        return ngx_http_backend_schema_ip(AF_INET, q + 1, last - q - 2);
    }

    return ngx_http_backend_schema_hostname(q, last);
}


/* RFC 3986 URI: scheme ":" hier-part [ "?" query ] [ "#" fragment ] */

static ngx_uint_t
ngx_http_backend_schema_uri(u_char *p, u_char *last)
{
    u_char  *q, *host, *end, *at;

    static u_char  allowed[] = "-._~!$&'()*+,;=:@/?";

    if (p == last || !((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')) {
        return 0;
    }

    for (q = p; q < last && *q != ':'; q++) {
        if (!(ngx_schema_alnum(*q) || *q == '+' || *q == '-' || *q == '.')) {
            return 0;
        }
    }

    if (q == last) {
        return 0;
    }

    q++;

    /* every character: unreserved, sub-delims, ":@/?", "#" once, %XX */

    for (end = q; end < last; end++) {
        if (*end == '%') {
            if (last - end < 3 || ngx_hextoi(end + 1, 2) < 0) {
                return 0;
            }

            end += 2;
            continue;
        }

        if (*end == '#' || *end == '[' || *end == ']') {
            continue;
        }

        if (!(ngx_schema_alnum(*end)
              || ngx_strlchr(allowed, allowed + sizeof(allowed) - 1, *end)))
        {
            return 0;
        }
    }

    if (ngx_strlchr(ngx_strlchr(q, last, '#') ? ngx_strlchr(q, last, '#') + 1
                                               : last, last, '#'))
    {
        return 0;
    }

    if (last - q < 2 || q[0] != '/' || q[1] != '/') {
        /* no authority: brackets are not allowed */
        return ngx_strlchr(q, last, '[') == NULL
               && ngx_strlchr(q, last, ']') == NULL;
    }

    /* authority: [userinfo@]host[:port] */

    host = q + 2;

    for (end = host; end < last && *end != '/' && *end != '?' && *end != '#';
         end++)
    {
        /* void */
    }

    at = NULL;

    for (q = host; q < end; q++) {
        if (*q == '@') {
            at = q;
        }
    }

    if (at) {
        if (ngx_strlchr(host, at, '[') || ngx_strlchr(host, at, ']')) {
            return 0;
        }

        host = at + 1;
    }

    if (host < end && *host == '[') {
        q = ngx_strlchr(host, end, ']');
        if (q == NULL) {
            return 0;
        }

        if (!ngx_http_backend_schema_ip(AF_INET6, host + 1, q - host - 1)) {
            return 0;
        }

        q++;

    } else {
        for (q = host; q < end && *q != ':'; q++) {
            if (*q == '[' || *q == ']') {
                return 0;
            }
        }
    }

    if (q < end) {
        if (*q != ':') {
            return 0;
        }

        for (q++; q < end; q++) {
            if (*q < '0' || *q > '9') {
                return 0;
            }
        }
    }

    return ngx_strlchr(end, last, '[') == NULL
           && ngx_strlchr(end, last, ']') == NULL;
}


static ngx_uint_t
ngx_http_backend_schema_format_ok(ngx_uint_t format, ngx_str_t *s)
{
    u_char      *p, *last;
    ngx_uint_t   i;

    p = s->data;
    last = p + s->len;

    switch (format) {

    case NGX_SCHEMA_FORMAT_DATE_TIME:
        if (!ngx_http_backend_schema_date(&p, last)
            || p == last || (*p != 'T' && *p != 't'))
        {
            return 0;
        }

        p++;

        return ngx_http_backend_schema_time(&p, last) && p == last;

    case NGX_SCHEMA_FORMAT_DATE:
        return ngx_http_backend_schema_date(&p, last) && p == last;

    case NGX_SCHEMA_FORMAT_TIME:
        return ngx_http_backend_schema_time(&p, last) && p == last;

    case NGX_SCHEMA_FORMAT_EMAIL:
        return ngx_http_backend_schema_email(p, last);

    case NGX_SCHEMA_FORMAT_UUID:
        if (s->len != 36) {
            return 0;
        }

        for (i = 0; i < 36; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23) {
                if (p[i] != '-') {
                    return 0;
                }

            } else if (!((p[i] >= '0' && p[i] <= '9')
                         || ((p[i] | 0x20) >= 'a' && (p[i] | 0x20) <= 'f')))
            {
                return 0;
            }
        }

        return 1;

    case NGX_SCHEMA_FORMAT_URI:
        return ngx_http_backend_schema_uri(p, last);

    case NGX_SCHEMA_FORMAT_IPV4:
        return ngx_http_backend_schema_ip(AF_INET, p, s->len);

    default: /* NGX_SCHEMA_FORMAT_IPV6 */
        return ngx_http_backend_schema_ip(AF_INET6, p, s->len);
    }
}


/* an issue: {<head>,"path":[...],"message":"..."} */

static void
ngx_http_backend_schema_issue(ngx_http_backend_schema_ctx_t *ctx,
    ngx_http_backend_schema_seg_t *path, const char *head, ngx_str_t *message)
{
    u_char                           *p;
    size_t                            len;
    ngx_uint_t                        n, i;
    ngx_http_backend_schema_seg_t    *seg, *segs[NGX_SCHEMA_MAX_DEPTH + 2];
    ngx_http_backend_schema_issue_t  *issue;

    if (ctx->issues == NULL || ctx->issues->nelts >= ctx->max_issues) {
        return;
    }

    issue = ngx_array_push(ctx->issues);
    if (issue == NULL) {
        ctx->nomem = 1;
        return;
    }

    n = 0;
    len = 2;

    for (seg = path; seg && n < NGX_SCHEMA_MAX_DEPTH + 2; seg = seg->parent) {
        segs[n++] = seg;
        len += 1 + (seg->index >= 0
                    ? NGX_INT_T_LEN
                    : ngx_http_backend_json_str_len(seg->key.data,
                                                    seg->key.len));
    }

    issue->path.data = ngx_pnalloc(ctx->pool, len);
    issue->head.data = ngx_pnalloc(ctx->pool, ngx_strlen(head));
    if (issue->path.data == NULL || issue->head.data == NULL) {
        ctx->nomem = 1;
        return;
    }

    p = issue->path.data;
    *p++ = '[';
    ngx_str_null(&issue->first);

    for (i = n; i > 0; i--) {
        seg = segs[i - 1];

        if (i != n) {
            *p++ = ',';
        }

        if (seg->index >= 0) {
            u_char  *start = p;

            p = ngx_sprintf(p, "%i", seg->index);

            if (i == n) {
                issue->first.data = start;
                issue->first.len = p - start;
            }

        } else {
            if (i == n) {
                issue->first = seg->key;
            }

            p = ngx_http_backend_json_str_write(p, seg->key.data,
                                                seg->key.len);
        }
    }

    *p++ = ']';
    issue->path.len = p - issue->path.data;

    issue->head.len = ngx_strlen(head);
    ngx_memcpy(issue->head.data, head, issue->head.len);

    issue->message = *message;
}


/*
 * {"code":"invalid_value","values":[...],...,"message":"Invalid option:
 * expected one of \"a\"|\"b\""}, as Zod says of enums and literals
 */

static void
ngx_http_backend_schema_values(ngx_http_backend_schema_ctx_t *ctx,
    ngx_http_backend_schema_seg_t *path, ngx_http_backend_json_t **values,
    ngx_uint_t n, const char *prefix)
{
    u_char      *head, *p;
    size_t       len;
    ngx_str_t    msg;
    ngx_uint_t   i;

    if (ctx->issues == NULL || ctx->issues->nelts >= ctx->max_issues) {
        return;
    }

    len = ngx_strlen(prefix) + sizeof("\"code\":\"invalid_value\","
                                      "\"values\":[]");

    for (i = 0; i < n; i++) {
        len += ngx_http_backend_json_len(values[i]) + 1;
    }

    head = ngx_pnalloc(ctx->pool, len);
    msg.data = ngx_pnalloc(ctx->pool, len);
    if (head == NULL || msg.data == NULL) {
        ctx->nomem = 1;
        return;
    }

    p = ngx_cpymem(head, "\"code\":\"invalid_value\",\"values\":[",
                   sizeof("\"code\":\"invalid_value\",\"values\":[") - 1);
    msg.len = ngx_sprintf(msg.data, "%s", prefix) - msg.data;

    for (i = 0; i < n; i++) {
        if (i) {
            *p++ = ',';
            msg.data[msg.len++] = '|';
        }

        p = ngx_http_backend_json_write(p, values[i]);
        msg.len = ngx_http_backend_json_write(msg.data + msg.len, values[i])
                  - msg.data;
    }

    *p++ = ']';
    *p = '\0';

    ngx_http_backend_schema_issue(ctx, path, (char *) head, &msg);
}


/*
 * message: JSON.stringify(issues, null, 2), as ZodError.message;
 * flat: {"formErrors":[...],"fieldErrors":{"field":[...]}}, as flatten()
 */

ngx_int_t
ngx_http_backend_schema_format(ngx_pool_t *pool, ngx_array_t *issues,
    ngx_str_t *message, ngx_str_t *flat)
{
    u_char                           *p;
    size_t                            len;
    ngx_str_t                         err, compact;
    ngx_uint_t                        i, j, n;
    ngx_http_backend_json_t          *json;
    ngx_http_backend_schema_issue_t  *issue;

    issue = issues->elts;

    len = 2;

    for (i = 0; i < issues->nelts; i++) {
        len += issue[i].head.len + issue[i].path.len
               + ngx_http_backend_json_str_len(issue[i].message.data,
                                               issue[i].message.len)
               + sizeof("{,\"path\":,\"message\":},") - 1;
    }

    compact.data = ngx_pnalloc(pool, len);
    if (compact.data == NULL) {
        return NGX_ERROR;
    }

    p = compact.data;
    *p++ = '[';

    for (i = 0; i < issues->nelts; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_sprintf(p, "{%V,\"path\":%V,\"message\":", &issue[i].head,
                        &issue[i].path);
        p = ngx_http_backend_json_str_write(p, issue[i].message.data,
                                            issue[i].message.len);
        *p++ = '}';
    }

    *p++ = ']';
    compact.len = p - compact.data;

    if (ngx_http_backend_json_parse(pool, compact.data, compact.len, 0, &json,
                                    &err)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_backend_schema_pretty(pool, json, message) != NGX_OK) {
        return NGX_ERROR;
    }

    /* flatten: messages by the first path segment, in order of appearance */

    len = sizeof("{\"formErrors\":[],\"fieldErrors\":{}}");

    for (i = 0; i < issues->nelts; i++) {
        len += 2 * ngx_http_backend_json_str_len(issue[i].message.data,
                                                 issue[i].message.len)
               + 2 * ngx_http_backend_json_str_len(issue[i].first.data,
                                                   issue[i].first.len)
               + 8;
    }

    flat->data = ngx_pnalloc(pool, len);
    if (flat->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(flat->data, "{\"formErrors\":[",
                   sizeof("{\"formErrors\":[") - 1);

    for (i = 0, n = 0; i < issues->nelts; i++) {
        if (issue[i].first.len == 0 && issue[i].path.len == 2) {
            if (n++) {
                *p++ = ',';
            }

            p = ngx_http_backend_json_str_write(p, issue[i].message.data,
                                                issue[i].message.len);
        }
    }

    p = ngx_cpymem(p, "],\"fieldErrors\":{", sizeof("],\"fieldErrors\":{") - 1);

    for (i = 0, n = 0; i < issues->nelts; i++) {
        if (issue[i].path.len == 2) {
            continue;
        }

        for (j = 0; j < i; j++) {
            if (issue[j].path.len != 2
                && issue[j].first.len == issue[i].first.len
                && ngx_strncmp(issue[j].first.data, issue[i].first.data,
                               issue[i].first.len) == 0)
            {
                break;
            }
        }

        if (j < i) {
            continue;
        }

        if (n++) {
            *p++ = ',';
        }

        p = ngx_http_backend_json_str_write(p, issue[i].first.data,
                                            issue[i].first.len);
        *p++ = ':';
        *p++ = '[';

        for (j = i; j < issues->nelts; j++) {
            if (issue[j].path.len != 2
                && issue[j].first.len == issue[i].first.len
                && ngx_strncmp(issue[j].first.data, issue[i].first.data,
                               issue[i].first.len) == 0)
            {
                if (j != i) {
                    *p++ = ',';
                }

                p = ngx_http_backend_json_str_write(p, issue[j].message.data,
                                                    issue[j].message.len);
            }
        }

        *p++ = ']';
    }

    *p++ = '}';
    *p++ = '}';

    flat->len = p - flat->data;

    return NGX_OK;
}


/* JSON.stringify(value, null, 2) */

static ngx_int_t
ngx_http_backend_schema_pretty(ngx_pool_t *pool,
    ngx_http_backend_json_t *json, ngx_str_t *out)
{
    size_t  len;

    len = ngx_http_backend_schema_pretty_write(NULL, json, 0);

    out->data = ngx_pnalloc(pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    out->len = ngx_http_backend_schema_pretty_write(out->data, json, 0);

    return NGX_OK;
}


static size_t
ngx_http_backend_schema_pretty_write(u_char *p, ngx_http_backend_json_t *json,
    ngx_uint_t indent)
{
    size_t                           n, k;
    ngx_uint_t                       i, j;
    ngx_http_backend_json_t        **item;
    ngx_http_backend_json_member_t  *m;

    if ((json->type != NGX_HTTP_BACKEND_JSON_ARRAY
         && json->type != NGX_HTTP_BACKEND_JSON_OBJECT)
        || json->items.nelts == 0)
    {
        n = ngx_http_backend_json_len(json);
        if (p) {
            (void) ngx_http_backend_json_write(p, json);
        }

        return n;
    }

    n = 0;

#define ngx_pretty_put(s, l)                                                  \
    if (p) { ngx_memcpy(p + n, s, l); }                                       \
    n += l

    ngx_pretty_put(json->type == NGX_HTTP_BACKEND_JSON_ARRAY ? "[" : "{", 1);

    item = json->items.elts;
    m = json->items.elts;

    for (i = 0; i < json->items.nelts; i++) {
        ngx_pretty_put(i ? ",\n" : "\n", i ? 2 : 1);

        for (j = 0; j < indent + 2; j++) {
            ngx_pretty_put(" ", 1);
        }

        if (json->type == NGX_HTTP_BACKEND_JSON_OBJECT) {
            k = ngx_http_backend_json_str_len(m[i].key.data, m[i].key.len);
            if (p) {
                (void) ngx_http_backend_json_str_write(p + n, m[i].key.data,
                                                       m[i].key.len);
            }

            n += k;
            ngx_pretty_put(": ", 2);
            n += ngx_http_backend_schema_pretty_write(p ? p + n : NULL,
                                                      m[i].value, indent + 2);

        } else {
            n += ngx_http_backend_schema_pretty_write(p ? p + n : NULL,
                                                      item[i], indent + 2);
        }
    }

    ngx_pretty_put("\n", 1);

    for (j = 0; j < indent; j++) {
        ngx_pretty_put(" ", 1);
    }

    ngx_pretty_put(json->type == NGX_HTTP_BACKEND_JSON_ARRAY ? "]" : "}", 1);

#undef ngx_pretty_put

    return n;
}
