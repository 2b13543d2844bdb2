
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_backend.h"


/*
 * Helpers that several modules of the project share (a request's header by
 * name, a configuration's file read whole): a unit of their own, so that
 * modules depend on it and not on one another.
 */


ngx_table_elt_t *
ngx_http_backend_header(ngx_http_request_t *r, u_char *name, size_t len)
{
    return ngx_http_backend_list_header(&r->headers_in.headers, name, len);
}


/* the first header of a list by name; one with hash 0 is deleted */

ngx_table_elt_t *
ngx_http_backend_list_header(ngx_list_t *headers, u_char *name, size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    for (part = &headers->part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (h[i].hash && h[i].key.len == len
                && ngx_strncasecmp(h[i].key.data, name, len) == 0)
            {
                return &h[i];
            }
        }
    }

    return NULL;
}


/* a file named relative to the prefix, whole, with a clear error */

ngx_int_t
ngx_http_backend_read_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *content)
{
    ssize_t          n;
    ngx_str_t        path;
    ngx_file_t       file;
    ngx_file_info_t  fi;

    path = *name;

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));

    file.name = path;
    file.log = cf->log;

    file.fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%s\" failed", path.data);
        return NGX_ERROR;
    }

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%s\" failed", path.data);
        goto failed;
    }

    if (ngx_file_size(&fi) > 1024 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" is too large", path.data);
        goto failed;
    }

    content->len = (size_t) ngx_file_size(&fi);
    content->data = ngx_pnalloc(cf->pool, content->len + 1);
    if (content->data == NULL) {
        goto failed;
    }

    n = ngx_read_file(&file, content->data, content->len, 0);

    if (n != (ssize_t) content->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_read_file_n " \"%s\" failed", path.data);
        goto failed;
    }

    content->data[content->len] = '\0';

    (void) ngx_close_file(file.fd);

    return NGX_OK;

failed:

    (void) ngx_close_file(file.fd);

    return NGX_ERROR;
}
