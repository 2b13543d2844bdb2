
/*
 * Copyright (C) ngx_backend authors
 */


/*
 * The adapters' policies (ngx_http_backend_adapter_policy.c) on an
 * injected clock and random source: backoff and full jitter, the escape
 * of values put into a target, Retry-After, the breaker's states, the
 * token bucket's bound of rate + burst in any second.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_backend_adapter.h"


static ngx_uint_t  test_n;
static ngx_uint_t  test_failed;


static void
test_ok(ngx_uint_t ok, const char *what, uint64_t got)
{
    test_n++;

    if (!ok) {
        test_failed++;
    }

    printf("%s %u - %s", ok ? "ok" : "not ok", (unsigned) test_n, what);

    if (!ok) {
        printf(": got %llu", (unsigned long long) got);
    }

    printf("\n");
}


static void
test_escape(char *in, char *want, char *label)
{
    u_char  out[256];
    size_t  len, n;
    char    what[300];

    len = ngx_http_backend_adapter_escape(NULL, (u_char *) in, strlen(in));
    n = ngx_http_backend_adapter_escape(out, (u_char *) in, strlen(in));
    out[n] = '\0';

    snprintf(what, sizeof(what), "escape \"%s\" is \"%s\"",
             label ? label : in, want);
    test_ok(n == len && strcmp((char *) out, want) == 0, what, n);
}


int
main(void)
{
    time_t                           now;
    uint32_t                         r;
    ngx_int_t                        rc;
    ngx_msec_t                       t, w, ms, hi;
    ngx_uint_t                       i, tr, taken, worst, n, k;
    ngx_uint_t                       times[4000];
    ngx_http_backend_bucket_t        bucket;
    ngx_http_backend_breaker_t       b;
    ngx_http_backend_breaker_conf_t  conf;

    /* backoff: 100 ms doubling, capped at 1 s; no jitter is the cap */

    test_ok(ngx_http_backend_adapter_backoff(1, 100, 1000, 0, 0) == 100,
            "retry 1 waits base", 0);
    test_ok(ngx_http_backend_adapter_backoff(2, 100, 1000, 0, 0) == 200,
            "retry 2 waits 2 x base", 0);
    test_ok(ngx_http_backend_adapter_backoff(4, 100, 1000, 0, 0) == 800,
            "retry 4 waits 8 x base", 0);
    test_ok(ngx_http_backend_adapter_backoff(5, 100, 1000, 0, 0) == 1000,
            "retry 5 is capped at max", 0);
    test_ok(ngx_http_backend_adapter_backoff(64, 100, 1000, 0, 0) == 1000,
            "retry 64 does not overflow", 0);

    /* full jitter: the random value's share of [0, cap] */

    test_ok(ngx_http_backend_adapter_backoff(3, 100, 1000, 1, 0) == 0,
            "full jitter, random 0: no wait", 0);
    w = ngx_http_backend_adapter_backoff(3, 100, 1000, 1, 0xffffffff);
    test_ok(w == 400, "full jitter, random max: the cap", w);
    w = ngx_http_backend_adapter_backoff(3, 100, 1000, 1, 0x80000000);
    test_ok(w == 200, "full jitter, random half: half the cap", w);

    hi = 0;
    ms = 1000;

    for (i = 0, r = 12345; i < 10000; i++) {
        r = r * 1103515245 + 12345;
        w = ngx_http_backend_adapter_backoff(2, 100, 1000, 1, r);
        hi = ngx_max(hi, w);
        ms = ngx_min(ms, w);
    }

    test_ok(hi <= 200 && hi >= 190 && ms <= 10,
            "full jitter spreads over [0, cap]", hi);

    /* values in a target */

    test_escape("user_2abcXYZ-1.~", "user_2abcXYZ-1.~", NULL);
    test_escape("../admin", "..%2Fadmin", NULL);
    test_escape("a@evil.example", "a%40evil.example", NULL);
    test_escape("https://h/", "https%3A%2F%2Fh%2F", NULL);
    test_escape("a b?c#d&e=f%", "a%20b%3Fc%23d%26e%3Df%25", NULL);
    test_escape("\xc3\xa9\r\n", "%C3%A9%0D%0A", "<e-acute CR LF>");

    /* Retry-After */

    now = 1700000000;

    rc = ngx_http_backend_adapter_retry_after((u_char *) " 3 ", 3, now, &ms);
    test_ok(rc == NGX_OK && ms == 3000, "Retry-After: 3 is 3000 ms", ms);

    rc = ngx_http_backend_adapter_retry_after(
             (u_char *) "Tue, 14 Nov 2023 22:13:30 GMT", 29, now, &ms);
    test_ok(rc == NGX_OK && ms == 10000, "Retry-After as an HTTP date", ms);

    rc = ngx_http_backend_adapter_retry_after(
             (u_char *) "Tue, 14 Nov 2023 22:13:00 GMT", 29, now, &ms);
    test_ok(rc == NGX_OK && ms == 0, "a date in the past: no wait", ms);

    rc = ngx_http_backend_adapter_retry_after((u_char *) "soon", 4, now, &ms);
    test_ok(rc == NGX_DECLINED, "Retry-After: soon is ignored", rc);

    rc = ngx_http_backend_adapter_retry_after((u_char *) "999999", 6, now,
                                              &ms);
    test_ok(rc == NGX_DECLINED, "Retry-After past a day is ignored", rc);

    /* the breaker: 3 failures in 10 s open it for 5 s, 1 probe */

    conf.failures = 3;
    conf.window = 10000;
    conf.open = 5000;
    conf.probes = 1;

    ngx_memzero(&b, sizeof(b));
    t = 1000000;

    rc = ngx_http_backend_breaker_allow(&b, &conf, t, &w, &tr);
    test_ok(rc == NGX_OK, "closed: calls go", rc);

    (void) ngx_http_backend_breaker_report(&b, &conf, t, 1, 0);
    (void) ngx_http_backend_breaker_report(&b, &conf, t + 20000, 1, 0);
    tr = ngx_http_backend_breaker_report(&b, &conf, t + 21000, 1, 0);
    test_ok(tr == NGX_HTTP_BACKEND_BREAKER_NONE
            && b.state == NGX_HTTP_BACKEND_BREAKER_CLOSED,
            "failures in different windows do not add up", b.state);

    tr = ngx_http_backend_breaker_report(&b, &conf, t + 22000, 1, 0);
    test_ok(tr == NGX_HTTP_BACKEND_BREAKER_OPENED
            && b.state == NGX_HTTP_BACKEND_BREAKER_OPEN,
            "the third failure in the window opens it", b.state);

    t += 22000;

    rc = ngx_http_backend_breaker_allow(&b, &conf, t + 1000, &w, &tr);
    test_ok(rc == NGX_DECLINED && w == 4000,
            "open: fail fast, retry after what is left of open", w);

    (void) ngx_http_backend_breaker_report(&b, &conf, t + 1000, 0, 0);
    test_ok(b.state == NGX_HTTP_BACKEND_BREAKER_OPEN,
            "a late success of an older call leaves it open", b.state);

    rc = ngx_http_backend_breaker_allow(&b, &conf, t + 5000, &w, &tr);
    test_ok(rc == NGX_AGAIN && tr == NGX_HTTP_BACKEND_BREAKER_PROBING,
            "after open: a probe", rc);

    rc = ngx_http_backend_breaker_allow(&b, &conf, t + 5001, &w, &tr);
    test_ok(rc == NGX_DECLINED, "one probe at a time", rc);

    tr = ngx_http_backend_breaker_report(&b, &conf, t + 5100, 1, 1);
    test_ok(tr == NGX_HTTP_BACKEND_BREAKER_OPENED
            && b.state == NGX_HTTP_BACKEND_BREAKER_OPEN,
            "a failed probe opens it again", b.state);

    rc = ngx_http_backend_breaker_allow(&b, &conf, t + 5200, &w, &tr);
    test_ok(rc == NGX_DECLINED && w == 4900, "for another open period", w);

    rc = ngx_http_backend_breaker_allow(&b, &conf, t + 10100, &w, &tr);
    test_ok(rc == NGX_AGAIN, "then a probe again", rc);

    tr = ngx_http_backend_breaker_report(&b, &conf, t + 10200, 2, 1);
    test_ok(tr == NGX_HTTP_BACKEND_BREAKER_NONE
            && b.state == NGX_HTTP_BACKEND_BREAKER_HALF_OPEN && b.probes == 0,
            "a probe given back frees its place", b.state);

    rc = ngx_http_backend_breaker_allow(&b, &conf, t + 10300, &w, &tr);
    test_ok(rc == NGX_AGAIN, "another probe", rc);

    rc = ngx_http_backend_breaker_allow(&b, &conf, t + 15400, &w, &tr);
    test_ok(rc == NGX_AGAIN, "a probe lost for an open period is replaced",
            rc);

    tr = ngx_http_backend_breaker_report(&b, &conf, t + 15500, 0, 1);
    test_ok(tr == NGX_HTTP_BACKEND_BREAKER_CLOSING
            && b.state == NGX_HTTP_BACKEND_BREAKER_CLOSED,
            "a successful probe closes it", b.state);

    rc = ngx_http_backend_breaker_allow(&b, &conf, t + 15600, &w, &tr);
    test_ok(rc == NGX_OK, "closed again: calls go", rc);

    (void) ngx_http_backend_breaker_report(&b, &conf, t + 15700, 1, 0);
    (void) ngx_http_backend_breaker_report(&b, &conf, t + 15800, 1, 0);
    test_ok(b.state == NGX_HTTP_BACKEND_BREAKER_CLOSED,
            "closing forgot the failures before it", b.state);

    /*
     * the bucket: 20 r/s, burst 40; taken as fast as it gives for 10 s
     * (a try every ms): no second holds more than rate + burst
     */

    ngx_memzero(&bucket, sizeof(bucket));
    n = 0;

    for (t = 5000; t < 15000 && n < 4000; t++) {
        if (ngx_http_backend_bucket_take(&bucket, 20, 40, t, &w) == NGX_OK) {
            times[n++] = t;
        }
    }

    worst = 0;

    for (i = 0; i < n; i++) {
        for (k = i; k < n && times[k] - times[i] < 1000; k++) { /* void */ }
        worst = ngx_max(worst, k - i);
    }

    test_ok(worst <= 60 && worst >= 58,
            "20r/s burst=40: at most 60 in any second, and about that", worst);
    test_ok(n >= 40 + 20 * 9 && n <= 40 + 20 * 10 + 1,
            "and the rate over 10 s", n);

    ngx_memzero(&bucket, sizeof(bucket));
    taken = 0;

    for (i = 0; i < 3; i++) {
        taken += ngx_http_backend_bucket_take(&bucket, 1, 2, 100, &w)
                 == NGX_OK;
    }

    test_ok(taken == 2 && w == 1000, "empty: the wait for the next token", w);

    rc = ngx_http_backend_bucket_take(&bucket, 1, 2, 1100, &w);
    test_ok(rc == NGX_OK, "a token after 1/rate", rc);

    rc = ngx_http_backend_bucket_take(&bucket, 1, 2, 100000, &w);
    rc += ngx_http_backend_bucket_take(&bucket, 1, 2, 100000, &w);
    rc += ngx_http_backend_bucket_take(&bucket, 1, 2, 100000, &w);
    test_ok(rc == NGX_DECLINED, "an idle bucket refills to burst only", rc);

    printf("1..%u\n", (unsigned) test_n);

    return test_failed ? 1 : 0;
}
