
/*
 * Copyright (C) ngx_backend authors
 */


/*
 * Request bodies of backend_rpc and backend_webhook locations, read into
 * memory by a request body filter of ours.  The location's
 * client_max_body_size is ours to enforce, so that a too large body gets
 * the endpoint's own JSON 413, and it is enforced while the body is read:
 * a chunked body stops being read once it passes the limit (the rest is
 * drained by the lingering close and stored nowhere), and a declared
 * Content-Length over the limit is refused before "100 Continue".
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_backend.h"


typedef struct {
    off_t                           max;
    u_char                         *data;       /* null-terminated */
    size_t                          len;
    size_t                          size;       /* of data, without the 0 */

    unsigned                        too_large:1;
    unsigned                        last:1;     /* last_buf passed on */
} ngx_http_backend_body_ctx_t;


static ngx_int_t ngx_http_backend_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_backend_body_grow(ngx_http_request_t *r,
    ngx_http_backend_body_ctx_t *bctx, size_t size);
static ngx_int_t ngx_http_backend_body_init(ngx_conf_t *cf);


static ngx_http_module_t  ngx_http_backend_body_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_backend_body_init,            /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_backend_body_module = {
    NGX_MODULE_V1,
    &ngx_http_backend_body_module_ctx,     /* module context */
    NULL,                                  /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_request_body_filter_pt   ngx_http_next_request_body_filter;


off_t
ngx_http_backend_body_limit(ngx_conf_t *cf)
{
    off_t                      max;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    max = clcf->client_max_body_size;

    if (max == 0) {
        /* unlimited in nginx: the memory buffer is the limit */
        return (off_t) clcf->client_body_buffer_size;
    }

    clcf->client_max_body_size = 0;

    return max;
}


ngx_int_t
ngx_http_backend_body_read(ngx_http_request_t *r, off_t max,
    ngx_http_client_body_handler_pt handler)
{
    ngx_int_t                     rc;
    ngx_http_backend_body_ctx_t  *bctx;

    if (r->headers_in.content_length_n > max) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "backend: client intended to send too large "
                      "body: %O bytes", r->headers_in.content_length_n);

        /* as nginx does for its own 413: no "100 Continue", no keepalive */
        r->expect_tested = 1;
        r->keepalive = 0;

        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return NGX_DECLINED;
    }

    bctx = ngx_pcalloc(r->pool, sizeof(ngx_http_backend_body_ctx_t));
    if (bctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    bctx->max = max;

    ngx_http_set_ctx(r, bctx, ngx_http_backend_body_module);

    return ngx_http_read_client_request_body(r, handler);
}


ngx_int_t
ngx_http_backend_body(ngx_http_request_t *r, ngx_str_t *body)
{
    ngx_http_backend_body_ctx_t  *bctx;

    bctx = ngx_http_get_module_ctx(r, ngx_http_backend_body_module);

    if (bctx == NULL) {
        return NGX_ERROR;
    }

    if (bctx->too_large) {
        r->keepalive = 0;
        return NGX_DECLINED;
    }

    if (bctx->data == NULL) {
        /* no body: still a null-terminated string */
        if (ngx_http_backend_body_grow(r, bctx, 0) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    body->data = bctx->data;
    body->len = bctx->len;

    return NGX_OK;
}


void
ngx_http_backend_body_handler(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_str_t                body;
    ngx_http_backend_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_backend_module);

    rc = ngx_http_backend_body(r, &body);

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (rc == NGX_DECLINED) {
        ngx_http_finalize_request(r, ngx_http_backend_send_error(r,
                                      NGX_HTTP_BACKEND_PAYLOAD_TOO_LARGE,
                                      NULL));
        return;
    }

    rc = ngx_http_backend_rpc_start(r, ctx, body.data, body.len);

    if (rc == NGX_DONE) {
        return;
    }

    ngx_http_finalize_request(r, rc);
}


/*
 * The decoded body (after the chunked or length filter) is copied into one
 * buffer of ours and its buffers consumed, so nothing reaches nginx's save
 * filter and nothing is ever written to client_body_temp.
 */

static ngx_int_t
ngx_http_backend_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    size_t                        size;
    ngx_buf_t                    *b;
    ngx_uint_t                    last;
    ngx_chain_t                  *cl, out;
    ngx_http_backend_body_ctx_t  *bctx;

    bctx = ngx_http_get_module_ctx(r, ngx_http_backend_body_module);

    if (bctx == NULL || r != r->main) {
        return ngx_http_next_request_body_filter(r, in);
    }

    last = 0;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (b->last_buf) {
            last = 1;
        }

        size = b->last - b->pos;

        if (size == 0) {
            continue;
        }

        if (!bctx->too_large && (off_t) (bctx->len + size) > bctx->max) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "backend: client sent too large body: more than "
                          "%O bytes, %O read", bctx->max, r->request_length);

            bctx->too_large = 1;
            r->lingering_close = 1;
        }

        if (!bctx->too_large) {
            if (ngx_http_backend_body_grow(r, bctx, size) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            ngx_memcpy(bctx->data + bctx->len, b->pos, size);
            bctx->len += size;
            bctx->data[bctx->len] = '\0';
        }

        b->pos = b->last;
    }

#if (NGX_HTTP_V2)
    if (r->stream) {
        /* HTTP/2 has flow control: the rest is read, not kept */
        goto next;
    }
#endif

    if (bctx->too_large) {
        /* stop reading here: the handler is called at once */
        r->request_body->rest = 0;
        last = 1;
    }

#if (NGX_HTTP_V2)
next:
#endif

    if (!last || bctx->last) {
        return ngx_http_next_request_body_filter(r, NULL);
    }

    bctx->last = 1;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last_buf = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_request_body_filter(r, &out);
}


/* room for size more bytes and the terminating 0, doubling */

static ngx_int_t
ngx_http_backend_body_grow(ngx_http_request_t *r,
    ngx_http_backend_body_ctx_t *bctx, size_t size)
{
    u_char  *p;
    size_t   need, n;

    need = bctx->len + size;

    if (bctx->data && need <= bctx->size) {
        return NGX_OK;
    }

    if (r->headers_in.content_length_n >= 0 && !r->headers_in.chunked
        && (off_t) need <= r->headers_in.content_length_n)
    {
        /* the length is known: one allocation */
        n = (size_t) r->headers_in.content_length_n;

    } else {
        n = ngx_max(bctx->size * 2, 4096);

        if ((off_t) n > bctx->max) {
            n = (size_t) bctx->max;
        }

        n = ngx_max(n, need);
    }

    p = ngx_pnalloc(r->pool, n + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (bctx->len) {
        ngx_memcpy(p, bctx->data, bctx->len);
    }

    p[bctx->len] = '\0';

    bctx->data = p;
    bctx->size = n;

    return NGX_OK;
}


static ngx_int_t
ngx_http_backend_body_init(ngx_conf_t *cf)
{
    ngx_http_next_request_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_http_backend_body_filter;

    return NGX_OK;
}
