
/*
 * Copyright (C) ngx_backend authors
 */


/*
 * libFuzzer target: the pure part of a tRPC request as backend_rpc reads
 * it (src/ngx_http_backend_rpc.c, ngx_http_backend_rpc_start() and
 * ngx_http_backend_rpc_input()): the procedure path after the last '/'
 * of the URI, percent-decoded as nginx decodes it; ?batch=1 and the
 * path split on ','; the input, from ?input= ('+' a space, then
 * ngx_unescape_uri()) or from the body, parsed as JSON; each call's input
 * "0", "1", ... of a batch.
 *
 * rpc.c does this on an ngx_http_request_t, so fuzz_trpc_parse() below
 * repeats its steps with the same functions (nginx's ngx_http_arg() and
 * ngx_unescape_uri(), the project's JSON parser) until rpc.c has a pure
 * function of its own for them; then it calls that instead.
 *
 * Input: a flags byte (bit 0: a POST, the input in the body), the URI,
 * the query string, one line each, then the body.  Checked: the calls
 * cover the path, each without a ','; decoding never grows a string; an
 * input serializes to JSON that parses back equal to it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_backend_json.h"


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
    u_char       *p, *last, *start, *dst, *src;
    u_char        buf[NGX_INT_T_LEN];
    ngx_int_t     rc;
    ngx_str_t     path, batch, arg;
    ngx_uint_t    i, n;
    fuzz_call_t  *call;

    /* the procedure path: what follows the last slash of the URI */

    last = r->uri.data + r->uri.len;
    p = last;

    while (p > r->uri.data && p[-1] != '/') {
        p--;
    }

    path.data = p;
    path.len = last - p;

    t->batch = ngx_http_arg(r, (u_char *) "batch", 5, &batch) == NGX_OK
               && batch.len == 1 && batch.data[0] == '1';

    n = 1;

    if (t->batch) {
        for (p = path.data; p < last; p++) {
            if (*p == ',') {
                n++;
            }
        }

        if (n > FUZZ_MAX_BATCH) {
            return NGX_DECLINED;
        }
    }

    /* a query's input is in the URL, a mutation's in the body */

    if (r->method != NGX_HTTP_POST
        && ngx_http_arg(r, (u_char *) "input", 5, &arg) == NGX_OK)
    {
        body = ngx_pnalloc(r->pool, arg.len);
        if (body == NULL) {
            return NGX_ERROR;
        }

        for (p = arg.data; p < arg.data + arg.len; p++) {
            body[p - arg.data] = (*p == '+') ? ' ' : *p;
        }

        src = body;
        dst = body;
        ngx_unescape_uri(&dst, &src, arg.len, 0);
        len = dst - body;

        if (len > arg.len) {
            fprintf(stderr, "input decoded longer than its text\n");
            abort();
        }
    }

    t->input = NULL;

    if (body && len) {
        rc = ngx_http_backend_json_parse(r->pool, body, len,
                                         NGX_HTTP_BACKEND_JSON_MAX_DEPTH,
                                         &t->input, &t->input_error);
        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_DECLINED) {
            t->input = NULL;
        }
    }

    if (ngx_array_init(&t->calls, r->pool, n, sizeof(fuzz_call_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    start = path.data;

    for (i = 0; i < n; i++) {
        call = ngx_array_push(&t->calls);
        if (call == NULL) {
            return NGX_ERROR;
        }

        if (t->batch) {
            for (p = start; p < last && *p != ','; p++) { /* void */ }

            call->path.data = start;
            call->path.len = p - start;
            start = p + 1;

            call->input = t->input
                          ? ngx_http_backend_json_get(t->input, buf,
                                              ngx_sprintf(buf, "%ui", i) - buf)
                          : NULL;

        } else {
            call->path = path;
            call->input = t->input;
        }
    }

    return NGX_OK;
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

        /*
         * the input as JSON, and back: the same JSON again (not compared
         * with ngx_http_backend_json_equal(), which finds an object with
         * a duplicate key unequal to itself: t/fuzz/crashes/
         * json-equal-duplicate-keys)
         */

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
                || ngx_memcmp(out2.data, out.data, out.len) != 0)
            {
                fprintf(stderr, "input serialized as %.*s: %.*s\n",
                        (int) out.len, out.data, (int) err.len, err.data);
                abort();
            }
        }
    }

    ngx_destroy_pool(r.pool);
    ngx_free(copy);

    return 0;
}
