
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_backend.h"
#include "ngx_http_backend_auth_conf.h"


/*
 * The auth module's metrics (docs/metrics.md, the Auth and JWKS tables):
 * the families, declared from init_main_conf, and the outcome of a token
 * check.  The tiers' series are declared by ngx_http_backend_auth.c,
 * which owns the tiers; the JWKS and invalidation gauges are set where
 * their values change (ngx_http_backend_auth_jwks.c,
 * ngx_http_backend_invalidate.c).
 */


typedef struct {
    const char                     *reason;
    ngx_uint_t                      outcome;
} ngx_http_backend_auth_reason_t;


/* the reasons of a rejected token that are not "malformed" */

static ngx_http_backend_auth_reason_t  ngx_http_backend_auth_reasons[] = {
    { "expired", NGX_HTTP_BACKEND_TOKEN_EXPIRED },
    { "not-yet-valid", NGX_HTTP_BACKEND_TOKEN_NOT_YET_VALID },
    { "issued-in-the-future", NGX_HTTP_BACKEND_TOKEN_NOT_YET_VALID },
    /* sts "pending": a session that is not active yet */
    { "pending-session", NGX_HTTP_BACKEND_TOKEN_NOT_YET_VALID },
    { "bad-signature", NGX_HTTP_BACKEND_TOKEN_BAD_SIGNATURE },
    /* "none", HS256: a signature none of the keys can have made */
    { "alg-not-allowed", NGX_HTTP_BACKEND_TOKEN_BAD_SIGNATURE },
    { "unknown-kid", NGX_HTTP_BACKEND_TOKEN_UNKNOWN_KID },
    { "wrong-issuer", NGX_HTTP_BACKEND_TOKEN_WRONG_ISSUER },
    { "azp-missing", NGX_HTTP_BACKEND_TOKEN_WRONG_AZP },
    { "azp-not-allowed", NGX_HTTP_BACKEND_TOKEN_WRONG_AZP },
    { NULL, 0 }
};


/*
 * backend_auth_tokens_total: every reason of ngx_http_backend_jwt_verify()
 * and of ngx_http_backend_auth_claims(), mapped to one of the outcomes of
 * docs/metrics.md; a token the checks did not get to read (oversized, not
 * three parts, not JSON, no sub, no exp, no sid, not a session token) is
 * malformed
 */

void
ngx_http_backend_auth_count(ngx_http_backend_auth_main_conf_t *amcf,
    ngx_http_backend_auth_ctx_t *a, ngx_http_backend_series_t *cache,
    ngx_uint_t valid)
{
    ngx_uint_t                       i, outcome;
    ngx_http_backend_auth_reason_t  *reasons;

    ngx_http_backend_metrics_add(cache, 1);

    reasons = ngx_http_backend_auth_reasons;

    outcome = NGX_HTTP_BACKEND_TOKEN_VALID;

    if (!valid) {
        outcome = NGX_HTTP_BACKEND_TOKEN_MALFORMED;

        for (i = 0; a->reason && reasons[i].reason; i++) {
            if (ngx_strcmp(a->reason, reasons[i].reason) == 0) {
                outcome = reasons[i].outcome;
                break;
            }
        }
    }

    ngx_http_backend_metrics_add(amcf->metrics.tokens[outcome], 1);
}


/* the families of docs/metrics.md's Auth and JWKS tables */

ngx_int_t
ngx_http_backend_auth_metrics(ngx_conf_t *cf,
    ngx_http_backend_auth_main_conf_t *amcf)
{
    ngx_uint_t                        i;
    ngx_http_backend_family_t        *f;
    ngx_http_backend_series_t       **s;
    ngx_http_backend_auth_metrics_t  *m;

    static char  *outcomes[] = {
        "valid", "expired", "not_yet_valid", "bad_signature", "unknown_kid",
        "wrong_issuer", "wrong_azp", "malformed"
    };

    m = &amcf->metrics;

    f = ngx_http_backend_metrics_family(cf, "backend_auth_tokens_total",
                                        "Session tokens checked, by outcome.",
                                        NGX_HTTP_BACKEND_COUNTER, "outcome");
    if (f == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_BACKEND_TOKEN_OUTCOMES; i++) {
        m->tokens[i] = ngx_http_backend_metrics_series1(cf, f, outcomes[i]);
        if (m->tokens[i] == NULL) {
            return NGX_ERROR;
        }
    }

    f = ngx_http_backend_metrics_family(cf, "backend_auth_token_cache_total",
                                        "The verified-token cache: hits and "
                                        "misses.",
                                        NGX_HTTP_BACKEND_COUNTER, "outcome");
    if (f == NULL) {
        return NGX_ERROR;
    }

    m->token_hit = ngx_http_backend_metrics_series1(cf, f, "hit");
    m->token_miss = ngx_http_backend_metrics_series1(cf, f, "miss");

    f = ngx_http_backend_metrics_family(cf, "backend_auth_context_total",
                                        "Auth contexts found, by source.",
                                        NGX_HTTP_BACKEND_COUNTER, "source");
    if (f == NULL) {
        return NGX_ERROR;
    }

    m->context_zone = ngx_http_backend_metrics_series1(cf, f, "zone");
    m->context_redis = ngx_http_backend_metrics_series1(cf, f, "redis");
    m->context_database = ngx_http_backend_metrics_series1(cf, f,
                                                            "database");

    f = ngx_http_backend_metrics_family(cf,
                                        "backend_auth_context_failures_total",
                                        "Auth context lookups that failed, "
                                        "by source.",
                                        NGX_HTTP_BACKEND_COUNTER, "source");
    if (f == NULL) {
        return NGX_ERROR;
    }

    m->failed_redis = ngx_http_backend_metrics_series1(cf, f, "redis");
    m->failed_database = ngx_http_backend_metrics_series1(cf, f, "database");

    if (ngx_http_backend_auth_tier_metrics(cf, amcf) != NGX_OK) {
        return NGX_ERROR;
    }

    f = ngx_http_backend_metrics_family(cf, "backend_invalidations_sent_total",
                                        "Invalidations published to Redis by "
                                        "this node.",
                                        NGX_HTTP_BACKEND_COUNTER, NULL);
    if (f == NULL) {
        return NGX_ERROR;
    }

    m->inv_sent = ngx_http_backend_metrics_series1(cf, f, NULL);

    f = ngx_http_backend_metrics_family(cf,
                                        "backend_invalidations_received_total",
                                        "Invalidations heard from Redis, by "
                                        "each worker process.",
                                        NGX_HTTP_BACKEND_COUNTER, NULL);
    if (f == NULL) {
        return NGX_ERROR;
    }

    m->inv_received = ngx_http_backend_metrics_series1(cf, f, NULL);

    f = ngx_http_backend_metrics_family(cf, "backend_invalidations_pending",
                                        "Invalidations Redis has not taken "
                                        "yet.",
                                        NGX_HTTP_BACKEND_GAUGE_MAX, NULL);
    if (f == NULL) {
        return NGX_ERROR;
    }

    m->inv_pending = ngx_http_backend_metrics_series1(cf, f, NULL);

    f = ngx_http_backend_metrics_family(cf, "backend_jwks_keys",
                                        "Keys loaded (the worker with the "
                                        "fewest).",
                                        NGX_HTTP_BACKEND_GAUGE_MIN, NULL);
    if (f == NULL) {
        return NGX_ERROR;
    }

    m->jwks_keys = ngx_http_backend_metrics_series1(cf, f, NULL);

    f = ngx_http_backend_metrics_family(cf,
                            "backend_jwks_last_refresh_timestamp_seconds",
                            "Unix time of the last successful load or "
                            "refresh of the keys.",
                            NGX_HTTP_BACKEND_GAUGE_MAX, NULL);
    if (f == NULL) {
        return NGX_ERROR;
    }

    m->jwks_refreshed = ngx_http_backend_metrics_series1(cf, f, NULL);

    f = ngx_http_backend_metrics_family(cf,
                                        "backend_jwks_refresh_failures_total",
                                        "JWKS fetches that failed (the keys "
                                        "known stay).",
                                        NGX_HTTP_BACKEND_COUNTER, NULL);
    if (f == NULL) {
        return NGX_ERROR;
    }

    m->jwks_failures = ngx_http_backend_metrics_series1(cf, f, NULL);

    for (s = &m->token_hit; s <= &m->jwks_failures; s++) {
        if (*s == NULL) {
            return NGX_ERROR;
        }
    }

    /* a 0 that means something: no keys, nothing pending */

    if (amcf->enabled) {
        m->jwks_keys->always = 1;
        m->jwks_refreshed->always = 1;
    }

    if (amcf->redis_conf) {
        m->inv_pending->always = 1;
    }

    return NGX_OK;
}
