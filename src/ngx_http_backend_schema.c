
/*
 * Copyright (C) ngx_backend authors
 */


#include "ngx_http_backend_schema_int.h"


/*
 * The schema compiler: JSON Schema to the tree the validator
 * (ngx_http_backend_schema_check.c) walks, once, at configuration time.
 */


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
static void ngx_http_backend_schema_match_data_free(void *data);
static ngx_int_t ngx_http_backend_schema_count(ngx_http_backend_json_t *v,
    ngx_int_t *n);

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
    pcre2_match_data                    *md;
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

    /*
     * and one match data for them all, kept: a match only says whether it
     * matched (one pair of offsets is enough), and PCRE2 keeps its frames
     * in the match data, which would be allocated and freed every match
     */

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    md = pcre2_match_data_create(1, NULL);
    if (md == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_backend_schema_match_data_free;
    cln->data = md;

    s->match_data = md;

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

    if (s->date) {
        /*
         * z.date() of a superjson location: a string only as its wire
         * form, which the input's meta must mark a Date
         */
        s->types = NGX_SCHEMA_DATE;
        s->format = NGX_SCHEMA_FORMAT_NONE;
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

    if (ngx_schema_is("x-superjson")) {
        if (v->type != NGX_HTTP_BACKEND_JSON_STRING
            || v->string.len != 4
            || ngx_strncmp(v->string.data, "Date", 4) != 0)
        {
            return ngx_http_backend_schema_error(c, pointer, k,
                                                 "must be \"Date\"");
        }

        s->date = 1;

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


static void
ngx_http_backend_schema_match_free(void *data)
{
    pcre2_match_context_free(data);
}


static void
ngx_http_backend_schema_match_data_free(void *data)
{
    pcre2_match_data_free(data);
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
