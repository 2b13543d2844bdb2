
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_backend_adapter.h"


ngx_msec_t
ngx_http_backend_adapter_backoff(ngx_uint_t n, ngx_msec_t base,
    ngx_msec_t max, ngx_uint_t jitter, uint32_t rnd)
{
    ngx_msec_t  cap;

    cap = base;

    /* doubling stops at max, before it could overflow */
    while (n-- > 1 && cap < max) {
        cap *= 2;
    }

    if (cap > max) {
        cap = max;
    }

    if (jitter == NGX_HTTP_BACKEND_JITTER_FULL) {
        return (ngx_msec_t) ((uint64_t) rnd * (cap + 1) >> 32);
    }

    return cap;
}


size_t
ngx_http_backend_adapter_escape(u_char *dst, u_char *src, size_t len)
{
    u_char   c;
    size_t   n;

    static u_char  hex[] = "0123456789ABCDEF";

    n = 0;

    while (len--) {
        c = *src++;

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9')
            || c == '-' || c == '.' || c == '_' || c == '~')
        {
            if (dst) {
                *dst++ = c;
            }

            n++;
            continue;
        }

        if (dst) {
            *dst++ = '%';
            *dst++ = hex[c >> 4];
            *dst++ = hex[c & 0xf];
        }

        n += 3;
    }

    return n;
}


ngx_int_t
ngx_http_backend_adapter_retry_after(u_char *p, size_t len, time_t now,
    ngx_msec_t *ms)
{
    time_t     t;
    ngx_int_t  n;

    while (len && (*p == ' ' || *p == '\t')) {
        p++;
        len--;
    }

    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) {
        len--;
    }

    if (len == 0) {
        return NGX_DECLINED;
    }

    if (*p >= '0' && *p <= '9') {
        n = ngx_atoi(p, len);

        /* a day at most: anything longer is not a wait, it is an outage */
        if (n == NGX_ERROR || n > 86400) {
            return NGX_DECLINED;
        }

        *ms = (ngx_msec_t) n * 1000;
        return NGX_OK;
    }

    t = ngx_parse_http_time(p, len);

    if (t == NGX_ERROR) {
        return NGX_DECLINED;
    }

    if (t <= now) {
        *ms = 0;
        return NGX_OK;
    }

    if (t - now > 86400) {
        return NGX_DECLINED;
    }

    *ms = (ngx_msec_t) (t - now) * 1000;

    return NGX_OK;
}


ngx_int_t
ngx_http_backend_breaker_allow(ngx_http_backend_breaker_t *b,
    ngx_http_backend_breaker_conf_t *conf, ngx_msec_t now,
    ngx_msec_t *retry_after, ngx_uint_t *transition)
{
    ngx_msec_int_t  left;

    *transition = NGX_HTTP_BACKEND_BREAKER_NONE;

    switch (b->state) {

    case NGX_HTTP_BACKEND_BREAKER_CLOSED:
        return NGX_OK;

    case NGX_HTTP_BACKEND_BREAKER_OPEN:
        left = (ngx_msec_int_t) (b->since + conf->open - now);

        if (left > 0) {
            *retry_after = left;
            return NGX_DECLINED;
        }

        b->state = NGX_HTTP_BACKEND_BREAKER_HALF_OPEN;
        b->since = now;
        b->probes = 0;
        *transition = NGX_HTTP_BACKEND_BREAKER_PROBING;

        /* fall through */

    default: /* NGX_HTTP_BACKEND_BREAKER_HALF_OPEN */

        /*
         * probes that never reported (a worker that died with one) are
         * taken as lost after another open period
         */
        if (b->probes >= conf->probes
            && (ngx_msec_int_t) (now - b->since) >= (ngx_msec_int_t) conf->open)
        {
            b->probes = 0;
            b->since = now;
        }

        if (b->probes < conf->probes) {
            b->probes++;
            return NGX_AGAIN;
        }

        left = (ngx_msec_int_t) (b->since + conf->open - now);
        *retry_after = left > 0 ? (ngx_msec_t) left : 0;

        return NGX_DECLINED;
    }
}


ngx_uint_t
ngx_http_backend_breaker_report(ngx_http_backend_breaker_t *b,
    ngx_http_backend_breaker_conf_t *conf, ngx_msec_t now, ngx_uint_t what,
    ngx_uint_t probe)
{
    if (probe && b->state == NGX_HTTP_BACKEND_BREAKER_HALF_OPEN) {
        if (b->probes) {
            b->probes--;
        }

        if (what == NGX_HTTP_BACKEND_BREAKER_SUCCESS) {
            b->state = NGX_HTTP_BACKEND_BREAKER_CLOSED;
            b->failures = 0;
            b->window_start = now;
            return NGX_HTTP_BACKEND_BREAKER_CLOSING;
        }

        if (what == NGX_HTTP_BACKEND_BREAKER_FAILURE) {
            b->state = NGX_HTTP_BACKEND_BREAKER_OPEN;
            b->since = now;
            b->probes = 0;
            return NGX_HTTP_BACKEND_BREAKER_OPENED;
        }

        return NGX_HTTP_BACKEND_BREAKER_NONE;
    }

    /* calls that began before it opened do not move an open breaker */

    if (b->state != NGX_HTTP_BACKEND_BREAKER_CLOSED
        || what != NGX_HTTP_BACKEND_BREAKER_FAILURE)
    {
        return NGX_HTTP_BACKEND_BREAKER_NONE;
    }

    if (b->failures == 0
        || (ngx_msec_int_t) (now - b->window_start)
           >= (ngx_msec_int_t) conf->window)
    {
        b->failures = 0;
        b->window_start = now;
    }

    if (++b->failures < conf->failures) {
        return NGX_HTTP_BACKEND_BREAKER_NONE;
    }

    b->state = NGX_HTTP_BACKEND_BREAKER_OPEN;
    b->since = now;
    b->failures = 0;
    b->probes = 0;

    return NGX_HTTP_BACKEND_BREAKER_OPENED;
}


ngx_int_t
ngx_http_backend_bucket_take(ngx_http_backend_bucket_t *b, ngx_uint_t rate,
    ngx_uint_t burst, ngx_msec_t now, ngx_msec_t *wait)
{
    ngx_uint_t      cap;
    ngx_msec_int_t  elapsed;

    cap = burst * 1000;

    if (!b->started) {
        b->started = 1;
        b->tokens = cap;
        b->last = now;
    }

    elapsed = (ngx_msec_int_t) (now - b->last);

    if (elapsed > 0) {
        /* rate per second: rate thousandths of a token per ms */
        if ((ngx_uint_t) elapsed >= cap / rate + 1) {
            b->tokens = cap;

        } else {
            b->tokens += (ngx_uint_t) elapsed * rate;

            if (b->tokens > cap) {
                b->tokens = cap;
            }
        }

        b->last = now;
    }

    if (b->tokens >= 1000) {
        b->tokens -= 1000;
        return NGX_OK;
    }

    *wait = (1000 - b->tokens + rate - 1) / rate;

    return NGX_DECLINED;
}
