
/*
 * Copyright (C) ngx_backend authors
 */


/*
 * What nginx's pool, string and array code needs from the rest of nginx,
 * for unit tests that link those files alone.  Log lines go to stderr
 * when UNIT_LOG is set.
 */


#include <ngx_config.h>
#include <ngx_core.h>


volatile ngx_cycle_t  *ngx_cycle;


void
ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...)
{
    u_char   buf[NGX_MAX_ERROR_STR], *p;
    va_list  args;

    if (getenv("UNIT_LOG") == NULL) {
        return;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf) - 1, fmt, args);
    va_end(args);

    *p = '\0';
    fprintf(stderr, "# log %u: %s\n", (unsigned) level, buf);
}


u_char *
ngx_strerror(ngx_err_t err, u_char *errstr, size_t size)
{
    return ngx_snprintf(errstr, size, "error %d", err);
}
