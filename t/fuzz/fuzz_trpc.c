
/*
 * Copyright (C) ngx_backend authors
 */


/*
 * libFuzzer target: the pure part of a tRPC request as backend_rpc reads
 * it.  rpc.c is compiled into this target (its parsing functions are
 * static and take an ngx_http_request_t), and called on a request built
 * in memory: ngx_http_backend_rpc_arg() (?batch=, ?input= as
 * URLSearchParams reads them), ngx_http_backend_rpc_utf8(), and
 * ngx_http_backend_rpc_input() (the input from the query or the body,
 * parsed within its limits), and ngx_http_backend_rpc_calls() (the path
 * after the last '/' of the URI, refused unless UTF-8, the batch flag,
 * the calls split on ','); each call's input "0", "1", ... of a batch is
 * looked up as rpc.c does.
 * Whatever of rpc.c needs the rest of the module (its configuration,
 * Postgres, responses) is never reached, and is linked unresolved.
 *
 * Input: a flags byte (bit 0: a POST, the input in the body), the URI,
 * the query string, one line each, then the body.  Checked: the calls
 * cover the path, each without a ','; rpc_utf8() leaves well-formed UTF-8
 * and never less; an input serializes to JSON that parses and serializes
 * to the same bytes; the same input as a superjson location decodes it
 * is refused with a message or leaves JSON whose strings end in NUL.
 */


#include "ngx_http_backend_rpc.c"


#define FUZZ_MAX_BATCH  64


typedef struct {
    ngx_str_t                  path;
    ngx_http_backend_json_t   *input;
} fuzz_call_t;


typedef struct {
    ngx_uint_t                 batch;
    ngx_http_backend_json_t   *input;
    ngx_str_t                  input_error;
    ngx_array_t                calls;       /* of fuzz_call_t */
} fuzz_trpc_t;


static ngx_log_t  fuzz_log;


/*
 * NGX_OK, NGX_DECLINED: a batch over FUZZ_MAX_BATCH calls (a 400 in
 * rpc.c), NGX_ERROR: no memory.
 */

static ngx_int_t
fuzz_trpc_parse(ngx_http_request_t *r, u_char *body, size_t len,
    fuzz_trpc_t *t)
{
    u_char                    buf[NGX_INT_T_LEN];
    ngx_int_t                 rc;
    ngx_str_t                 path, msg;
    ngx_uint_t                i;
    fuzz_call_t              *call;
    ngx_http_backend_ctx_t   *ctx;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_backend_ctx_t));
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->request = r;

    /* the path, the batch flag and the calls, as rpc_start() has them */

    rc = ngx_http_backend_rpc_calls(r, ctx, FUZZ_MAX_BATCH, &path, &msg);
    if (rc != NGX_OK) {
        return rc;
    }

    t->batch = ctx->batch;

    if (ngx_http_backend_rpc_input(r, ctx, body, len) != NGX_OK) {
        return NGX_ERROR;
    }

    t->input = ctx->input;

    if (ngx_array_init(&t->calls, r->pool, ctx->ncalls, sizeof(fuzz_call_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < ctx->ncalls; i++) {
        call = ngx_array_push(&t->calls);
        if (call == NULL) {
            return NGX_ERROR;
        }

        call->path = ctx->calls[i].path;

        /* each call's input of a batch: "0", "1", ... as rpc.c reads it */

        if (t->batch) {
            call->input = t->input
                          ? ngx_http_backend_json_get(t->input, buf,
                                              ngx_sprintf(buf, "%ui", i) - buf)
                          : NULL;

        } else {
            call->input = t->input;
        }
    }

    return NGX_OK;
}


/* a string of the input: NUL-terminated, as binding reads it */

static void
fuzz_strings(ngx_http_backend_json_t *v, ngx_uint_t depth)
{
    ngx_uint_t                        i;
    ngx_http_backend_json_t         **item;
    ngx_http_backend_json_member_t   *m;

    if (depth > NGX_HTTP_BACKEND_JSON_MAX_DEPTH + 1) {
        abort();
    }

    switch (v->type) {

    case NGX_HTTP_BACKEND_JSON_STRING:
        if (v->string.data[v->string.len] != '\0') {
            fprintf(stderr, "a string not NUL-terminated\n");
            abort();
        }

        break;

    case NGX_HTTP_BACKEND_JSON_ARRAY:
        item = v->items.elts;

        for (i = 0; i < v->items.nelts; i++) {
            fuzz_strings(item[i], depth + 1);
        }

        break;

    case NGX_HTTP_BACKEND_JSON_OBJECT:
        m = v->items.elts;

        for (i = 0; i < v->items.nelts; i++) {
            fuzz_strings(m[i].value, depth + 1);
        }

        break;

    default:
        break;
    }
}


/* ngx_http_backend_rpc_utf8(): well-formed UTF-8 out, nothing dropped */

static void
fuzz_utf8(ngx_pool_t *pool, ngx_str_t *in)
{
    u_char     *p, *last;
    ngx_int_t   k;
    ngx_str_t   s;

    s = *in;

    if (ngx_http_backend_rpc_utf8(pool, &s) != NGX_OK) {
        abort();
    }

    if (s.len < in->len) {
        fprintf(stderr, "rpc_utf8: %zu bytes from %zu\n", s.len, in->len);
        abort();
    }

    last = s.data + s.len;

    for (p = s.data; p < last; p += k) {
        k = ngx_http_backend_json_utf8_seq(p, last);

        if (k <= 0) {
            fprintf(stderr, "rpc_utf8: ill-formed at %zu\n",
                    (size_t) (p - s.data));
            abort();
        }
    }
}


static ngx_str_t
fuzz_line(u_char **p, u_char *last, ngx_uint_t line)
{
    u_char     *end;
    ngx_str_t   s;

    end = line ? memchr(*p, '\n', last - *p) : NULL;
    if (end == NULL) {
        end = last;
    }

    s.data = *p;
    s.len = end - *p;
    *p = (end < last) ? end + 1 : last;

    return s;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char               *p, *last, *copy, *dst, *src;
    ngx_str_t             raw_uri, body, out, out2;
    ngx_str_t             err = ngx_null_string;
    ngx_uint_t            i;
    fuzz_trpc_t           t;
    fuzz_call_t          *call;
    ngx_http_request_t    r;
    ngx_connection_t      c;
    ngx_http_backend_json_t  *again;

    if (size == 0) {
        return 0;
    }

    if (ngx_pagesize == 0) {
        ngx_pagesize = getpagesize();
    }

    /* exactly the bytes, so that reads past them are seen */

    copy = ngx_alloc(size, &fuzz_log);
    if (copy == NULL) {
        abort();
    }

    ngx_memcpy(copy, data, size);

    ngx_memzero(&r, sizeof(ngx_http_request_t));
    ngx_memzero(&c, sizeof(ngx_connection_t));
    c.log = &fuzz_log;
    r.connection = &c;
    r.method = (copy[0] & 1) ? NGX_HTTP_POST : NGX_HTTP_GET;
    r.pool = ngx_create_pool(4096, &fuzz_log);
    if (r.pool == NULL) {
        abort();
    }

    p = copy + 1;
    last = copy + size;

    raw_uri = fuzz_line(&p, last, 1);
    r.args = fuzz_line(&p, last, 1);
    body = fuzz_line(&p, last, 0);

    /* the URI decoded, as nginx gives it in r->uri */

    r.uri.data = ngx_pnalloc(r.pool, raw_uri.len + 1);
    if (r.uri.data == NULL) {
        abort();
    }

    src = raw_uri.data;
    dst = r.uri.data;
    ngx_unescape_uri(&dst, &src, raw_uri.len, NGX_UNESCAPE_URI);
    r.uri.len = dst - r.uri.data;

    if (r.uri.len > raw_uri.len) {
        fprintf(stderr, "URI decoded longer than its text\n");
        abort();
    }

    fuzz_utf8(r.pool, &body);
    fuzz_utf8(r.pool, &r.args);

    if (fuzz_trpc_parse(&r, body.len ? body.data : NULL, body.len, &t)
        == NGX_OK)
    {
        call = t.calls.elts;

        for (i = 0; i < t.calls.nelts; i++) {
            if (call[i].path.data < r.uri.data
                || call[i].path.data + call[i].path.len
                   > r.uri.data + r.uri.len
                || (t.batch
                    && ngx_strlchr(call[i].path.data,
                                   call[i].path.data + call[i].path.len, ',')))
            {
                fprintf(stderr, "call %u: path out of the URI\n",
                        (unsigned) i);
                abort();
            }
        }

        /* the input as JSON, and back: the same JSON, an equal value */

        if (t.input) {
            if (ngx_http_backend_json_serialize(r.pool, t.input, &out)
                != NGX_OK)
            {
                abort();
            }

            if (ngx_http_backend_json_parse(r.pool, out.data, out.len,
                                            NGX_HTTP_BACKEND_JSON_MAX_DEPTH,
                                            &again, &err)
                != NGX_OK
                || ngx_http_backend_json_serialize(r.pool, again, &out2)
                   != NGX_OK
                || out2.len != out.len
                || ngx_memcmp(out2.data, out.data, out.len) != 0
                || !ngx_http_backend_json_equal(t.input, again)
                || !ngx_http_backend_json_equal(again, t.input))
            {
                fprintf(stderr, "input serialized as %.*s: %.*s\n",
                        (int) out.len, out.data, (int) err.len, err.data);
                abort();
            }

            /*
             * the same input read by a superjson location: refused or
             * decoded, never an error; what it leaves is JSON, and each
             * string NUL-terminated for binding
             */

            err.len = 0;

            switch (ngx_http_backend_superjson_input(r.pool, &t.input,
                                                     t.batch, &err))
            {
            case NGX_OK:
                if (t.input == NULL) {
                    break;
                }

                fuzz_strings(t.input, 0);

                if (ngx_http_backend_json_serialize(r.pool, t.input, &out)
                    != NGX_OK
                    || ngx_http_backend_json_parse(r.pool, out.data, out.len,
                                                NGX_HTTP_BACKEND_JSON_MAX_DEPTH,
                                                   &again, &err)
                       != NGX_OK)
                {
                    fprintf(stderr, "superjson left %.*s\n",
                            (int) out.len, out.data);
                    abort();
                }

                break;

            case NGX_DECLINED:
                if (err.len == 0) {
                    fprintf(stderr, "superjson refused without a message\n");
                    abort();
                }

                break;

            default:
                abort();
            }
        }
    }

    ngx_destroy_pool(r.pool);
    ngx_free(copy);

    return 0;
}
