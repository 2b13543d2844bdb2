
/*
 * Copyright (C) ngx_backend authors
 */


/*
 * nginx's own errors as tRPC envelopes.  Some errors happen before a
 * location is chosen (a request line or a header larger than
 * large_client_header_buffers, a malformed request), so no backend_rpc
 * location can answer them; nginx answers with its HTML pages unless the
 * server has an error_page.  backend_error_page makes a location the
 * target of such an error_page:
 *
 *     error_page 400 408 413 414 494 500 502 503 504 @backend_error;
 *     location @backend_error { backend_error_page; }
 *
 * and answers the original status with
 * {"error":{"message":"<reason>","code":<tRPC code>,"data":{"code":"...",
 * "httpStatus":<status>}}}.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_backend.h"


typedef struct {
    ngx_uint_t                      status;
    ngx_int_t                       code;
    ngx_str_t                       key;
    ngx_str_t                       reason;
} ngx_http_backend_error_page_t;


static ngx_int_t ngx_http_backend_error_page_handler(ngx_http_request_t *r);
static char *ngx_http_backend_error_page(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_command_t  ngx_http_backend_error_commands[] = {

    { ngx_string("backend_error_page"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_backend_error_page,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_backend_error_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_backend_error_module = {
    NGX_MODULE_V1,
    &ngx_http_backend_error_module_ctx,    /* module context */
    ngx_http_backend_error_commands,       /* module directives */
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


#define ngx_http_backend_error_page_entry(status, code, key, reason)          \
    { status, code, ngx_string(key), ngx_string(reason) }

/* tRPC's codes where tRPC has one; other 4xx are BAD_REQUEST, 5xx
 * INTERNAL_SERVER_ERROR, with the status itself in httpStatus */

static ngx_http_backend_error_page_t  ngx_http_backend_error_pages[] = {
    ngx_http_backend_error_page_entry(400, -32600, "BAD_REQUEST",
                                      "Bad Request"),
    ngx_http_backend_error_page_entry(401, -32001, "UNAUTHORIZED",
                                      "Unauthorized"),
    ngx_http_backend_error_page_entry(402, -32600, "BAD_REQUEST",
                                      "Payment Required"),
    ngx_http_backend_error_page_entry(403, -32003, "FORBIDDEN",
                                      "Forbidden"),
    ngx_http_backend_error_page_entry(404, -32004, "NOT_FOUND",
                                      "Not Found"),
    ngx_http_backend_error_page_entry(405, -32005, "METHOD_NOT_SUPPORTED",
                                      "Method Not Allowed"),
    ngx_http_backend_error_page_entry(406, -32600, "BAD_REQUEST",
                                      "Not Acceptable"),
    ngx_http_backend_error_page_entry(408, -32008, "TIMEOUT",
                                      "Request Time-out"),
    ngx_http_backend_error_page_entry(409, -32009, "CONFLICT",
                                      "Conflict"),
    ngx_http_backend_error_page_entry(410, -32600, "BAD_REQUEST",
                                      "Gone"),
    ngx_http_backend_error_page_entry(411, -32600, "BAD_REQUEST",
                                      "Length Required"),
    ngx_http_backend_error_page_entry(412, -32012, "PRECONDITION_FAILED",
                                      "Precondition Failed"),
    ngx_http_backend_error_page_entry(413, -32013, "PAYLOAD_TOO_LARGE",
                                      "Request Entity Too Large"),
    ngx_http_backend_error_page_entry(414, -32600, "BAD_REQUEST",
                                      "Request-URI Too Large"),
    ngx_http_backend_error_page_entry(415, -32015, "UNSUPPORTED_MEDIA_TYPE",
                                      "Unsupported Media Type"),
    ngx_http_backend_error_page_entry(416, -32600, "BAD_REQUEST",
                                      "Requested Range Not Satisfiable"),
    ngx_http_backend_error_page_entry(421, -32600, "BAD_REQUEST",
                                      "Misdirected Request"),
    ngx_http_backend_error_page_entry(429, -32029, "TOO_MANY_REQUESTS",
                                      "Too Many Requests"),

    /* nginx's own codes: sent as 400, as nginx's pages do */
    ngx_http_backend_error_page_entry(494, -32600, "BAD_REQUEST",
                                      "Request Header Or Cookie Too Large"),
    ngx_http_backend_error_page_entry(495, -32600, "BAD_REQUEST",
                                      "The SSL certificate error"),
    ngx_http_backend_error_page_entry(496, -32600, "BAD_REQUEST",
                                      "No required SSL certificate was sent"),
    ngx_http_backend_error_page_entry(497, -32600, "BAD_REQUEST",
                                      "The plain HTTP request was sent to "
                                      "HTTPS port"),

    ngx_http_backend_error_page_entry(500, -32603, "INTERNAL_SERVER_ERROR",
                                      "Internal Server Error"),
    ngx_http_backend_error_page_entry(501, -32603, "NOT_IMPLEMENTED",
                                      "Not Implemented"),
    ngx_http_backend_error_page_entry(502, -32603, "BAD_GATEWAY",
                                      "Bad Gateway"),
    ngx_http_backend_error_page_entry(503, -32603, "SERVICE_UNAVAILABLE",
                                      "Service Temporarily Unavailable"),
    ngx_http_backend_error_page_entry(504, -32603, "GATEWAY_TIMEOUT",
                                      "Gateway Time-out"),
    ngx_http_backend_error_page_entry(505, -32603, "INTERNAL_SERVER_ERROR",
                                      "HTTP Version Not Supported"),
    ngx_http_backend_error_page_entry(507, -32603, "INTERNAL_SERVER_ERROR",
                                      "Insufficient Storage"),
    { 0, 0, ngx_null_string, ngx_null_string }
};


static ngx_http_backend_error_page_t  ngx_http_backend_error_client =
    ngx_http_backend_error_page_entry(0, -32600, "BAD_REQUEST", "Error");
static ngx_http_backend_error_page_t  ngx_http_backend_error_server =
    ngx_http_backend_error_page_entry(0, -32603, "INTERNAL_SERVER_ERROR",
                                      "Error");


static ngx_int_t
ngx_http_backend_error_page_handler(ngx_http_request_t *r)
{
    u_char                         *p;
    size_t                          len;
    ngx_int_t                       rc;
    ngx_buf_t                      *b;
    ngx_uint_t                      status, i;
    ngx_chain_t                     out;
    ngx_http_backend_error_page_t  *e;

    /* the status of the error that led here; none: reached directly */
    status = r->err_status ? r->err_status : NGX_HTTP_NOT_FOUND;

    if (status < NGX_HTTP_BAD_REQUEST || status > 599) {
        status = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    e = NULL;

    for (i = 0; ngx_http_backend_error_pages[i].status; i++) {
        if (ngx_http_backend_error_pages[i].status == status) {
            e = &ngx_http_backend_error_pages[i];
            break;
        }
    }

    if (e == NULL) {
        e = (status < NGX_HTTP_INTERNAL_SERVER_ERROR)
            ? &ngx_http_backend_error_client : &ngx_http_backend_error_server;
    }

    if (status >= NGX_HTTP_REQUEST_HEADER_TOO_LARGE && status <= 497) {
        status = NGX_HTTP_BAD_REQUEST;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        r->keepalive = 0;
    }

    /* the request id, its response header and its log lines */
    (void) ngx_http_backend_get_ctx(r);

    len = sizeof("{\"error\":{\"message\":\"\",\"code\":-32768,\"data\":{"
                 "\"code\":\"\",\"httpStatus\":599}}}") - 1
          + e->reason.len + e->key.len;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    /* the reasons and keys are plain ASCII: no escaping needed */
    p = ngx_sprintf(b->pos, "{\"error\":{\"message\":\"%V\",\"code\":%i,"
                    "\"data\":{\"code\":\"%V\",\"httpStatus\":%ui}}}",
                    &e->reason, e->code, &e->key, status);

    b->last = p;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->err_status = 0;
    r->headers_out.status = status;
    r->headers_out.status_line.len = 0;
    r->headers_out.content_length_n = b->last - b->pos;

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* the CORS header filter answers listed origins here too */

ngx_uint_t
ngx_http_backend_error_page_location(ngx_http_request_t *r)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    return (clcf->handler == ngx_http_backend_error_page_handler);
}


static char *
ngx_http_backend_error_page(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "is duplicate, or the location has another handler";
    }

    clcf->handler = ngx_http_backend_error_page_handler;

    return NGX_CONF_OK;
}
