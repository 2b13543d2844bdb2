
/*
 * Copyright (C) ngx_backend authors
 */


#include <float.h>

#include "ngx_http_backend_schema_int.h"


/*
 * The validator: an input against a compiled schema, as Zod's parse
 * decides it (defaults applied, unknown keys stripped); the issues are
 * made in ngx_http_backend_schema_zod.c.
 */


static ngx_int_t ngx_http_backend_schema_match(
    ngx_http_backend_schema_ctx_t *ctx, pcre2_code *re, ngx_str_t *subject);
static void ngx_http_backend_schema_nul(ngx_http_backend_schema_ctx_t *ctx,
    ngx_http_backend_json_t *v, ngx_http_backend_schema_seg_t *path);
static ngx_uint_t ngx_http_backend_schema_quiet(
    ngx_http_backend_schema_ctx_t *ctx, ngx_http_backend_schema_t *s,
    ngx_http_backend_json_t *v);
static ngx_uint_t ngx_http_backend_schema_union(
    ngx_http_backend_schema_ctx_t *ctx, ngx_array_t *branches,
    ngx_http_backend_json_t **vp, ngx_http_backend_schema_seg_t *path);
static ngx_int_t ngx_http_backend_schema_discriminated(
    ngx_http_backend_schema_ctx_t *ctx, ngx_array_t *branches,
    ngx_http_backend_json_t **vp, ngx_http_backend_schema_seg_t *path);
static ngx_http_backend_schema_prop_t *ngx_http_backend_schema_prop(
    ngx_http_backend_schema_t *s, ngx_str_t *name);
static ngx_uint_t ngx_http_backend_schema_aborted(ngx_array_t *issues);
static ngx_uint_t ngx_http_backend_schema_same(
    ngx_http_backend_schema_ctx_t *ctx, ngx_http_backend_schema_t *s,
    ngx_http_backend_json_t **vp, ngx_http_backend_schema_seg_t *path);
static ngx_uint_t ngx_http_backend_schema_check(
    ngx_http_backend_schema_ctx_t *ctx, ngx_http_backend_schema_t *s,
    ngx_http_backend_json_t **vp, ngx_http_backend_schema_seg_t *path);
static ngx_uint_t ngx_http_backend_schema_check_value(
    ngx_http_backend_schema_ctx_t *ctx, ngx_http_backend_schema_t *s,
    ngx_http_backend_json_t **vp, ngx_http_backend_schema_seg_t *path);
static ngx_uint_t ngx_http_backend_schema_check_object(
    ngx_http_backend_schema_ctx_t *ctx, ngx_http_backend_schema_t *s,
    ngx_http_backend_json_t *v, ngx_http_backend_schema_seg_t *path);
static ngx_uint_t ngx_http_backend_schema_default(
    ngx_http_backend_schema_t *s, ngx_str_t *key);
static ngx_uint_t ngx_http_backend_schema_required(
    ngx_http_backend_schema_t *s, ngx_str_t *key);
static ngx_uint_t ngx_http_backend_schema_declared(
    ngx_http_backend_schema_t *s, ngx_str_t *key);
static ngx_uint_t ngx_http_backend_schema_known(
    ngx_http_backend_schema_ctx_t *ctx, ngx_http_backend_schema_t *s,
    ngx_str_t *key);
static ngx_uint_t ngx_http_backend_schema_check_array(
    ngx_http_backend_schema_ctx_t *ctx, ngx_http_backend_schema_t *s,
    ngx_http_backend_json_t *v, ngx_http_backend_schema_seg_t *path);
static ngx_uint_t ngx_http_backend_schema_check_number(
    ngx_http_backend_schema_ctx_t *ctx, ngx_http_backend_schema_t *s,
    ngx_http_backend_json_t *v, ngx_http_backend_schema_seg_t *path);
static ngx_uint_t ngx_http_backend_schema_check_string(
    ngx_http_backend_schema_ctx_t *ctx, ngx_http_backend_schema_t *s,
    ngx_http_backend_json_t *v, ngx_http_backend_schema_seg_t *path);
static ngx_uint_t ngx_http_backend_schema_tuple(
    ngx_http_backend_schema_ctx_t *ctx, ngx_http_backend_schema_t *s,
    ngx_http_backend_json_t *v, ngx_http_backend_schema_seg_t *path);
static ngx_int_t ngx_http_backend_schema_cmp(ngx_http_backend_json_t *a,
    ngx_http_backend_json_t *b);
static ngx_uint_t ngx_http_backend_schema_multiple(ngx_http_backend_json_t *v,
    ngx_http_backend_json_t *m);


/*
 * 1: matches, 0: does not, NGX_DECLINED: a limit was reached (the string
 * is refused, not let through), NGX_ERROR: no memory
 */

static ngx_int_t
ngx_http_backend_schema_match(ngx_http_backend_schema_ctx_t *ctx,
    pcre2_code *re, ngx_str_t *subject)
{
    int  rc;

    /* the schema's match data: one match at a time in a process */

    rc = pcre2_match(re, subject->data, subject->len, 0, 0, ctx->match_data,
                     ctx->match);

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
        ctx.match_data = schema->match_data;
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
        && (sub[1]->types == NGX_SCHEMA_NULL
            || sub[0]->types == NGX_SCHEMA_NULL))
    {
        (void) ngx_http_backend_schema_check(ctx,
                                        sub[sub[1]->types == NGX_SCHEMA_NULL
                                            ? 0 : 1],
                                        vp, path);
        return 0;
    }

    lists = ngx_palloc(ctx->pool, branches->nelts * sizeof(ngx_array_t));
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

    if (type == NGX_SCHEMA_DATE && (s->types & NGX_SCHEMA_OBJECT)) {
        /*
         * superjson's Date: Zod's z.object() takes any object, a Date
         * one without keys of its own, and returns a new one
         */

        v = ngx_http_backend_json_new(ctx->pool, NGX_HTTP_BACKEND_JSON_OBJECT);
        if (v == NULL
            || ngx_array_init(&v->items, ctx->pool, 1,
                              sizeof(ngx_http_backend_json_member_t))
               != NGX_OK)
        {
            ctx->nomem = 1;
            return 0;
        }

        if (ctx->defaults) {
            *vp = v;
        }

        type = NGX_SCHEMA_OBJECT;
    }

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
