
/*
 * Copyright (C) ngx_backend authors
 */


/*
 * Clerk session token verification against fixtures minted with the real
 * jose package (t/unit/fixtures/jwt/mint.mjs), with the clock frozen at
 * the time they were minted.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_backend_jwt.h"


#define FIXTURES  "t/unit/fixtures/jwt/"


static ngx_uint_t  test_n;
static ngx_uint_t  test_failed;


static void
test_ok(ngx_uint_t ok, const char *what, const char *got)
{
    test_n++;

    if (!ok) {
        test_failed++;
    }

    printf("%s %u - %s%s%s\n", ok ? "ok" : "not ok", (unsigned) test_n, what,
           ok ? "" : ": got ", ok ? "" : got);
}


static u_char *
test_read(const char *name, size_t *len)
{
    FILE    *f;
    long     n;
    u_char  *buf;

    f = fopen(name, "rb");
    if (f == NULL) {
        printf("Bail out! %s: %s\n", name, strerror(errno));
        exit(1);
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);

    buf = malloc(n + 1);
    if (buf == NULL || fread(buf, 1, n, f) != (size_t) n) {
        exit(1);
    }

    buf[n] = '\0';
    fclose(f);
    *len = n;

    return buf;
}


static const char *
test_verify(ngx_pool_t *pool, ngx_http_backend_jwks_t *jwks,
    ngx_http_backend_jwt_rules_t *rules, char *token,
    ngx_http_backend_jwt_t *jwt)
{
    ngx_int_t    rc;
    const char  *reason;

    reason = "?";

    rc = ngx_http_backend_jwt_verify(pool, jwks, rules, (u_char *) token,
                                     strlen(token), jwt, &reason);

    if (rc == NGX_ERROR) {
        return "NGX_ERROR";
    }

    if ((rc == NGX_OK) != (strcmp(reason, "ok") == 0)) {
        return "inconsistent";
    }

    return reason;
}


int
main(void)
{
    char                          *line, *name, *want, *token, *save;
    char                           issuer[256], azp[256];
    u_char                        *text, *tokens, *meta;
    size_t                         len;
    long                           now;
    ngx_log_t                      log;
    ngx_str_t                      err, kid, *a;
    ngx_pool_t                    *pool;
    const char                    *got;
    ngx_array_t                    azps;
    ngx_http_backend_jwt_t         jwt;
    ngx_http_backend_jwks_t       *jwks, *rotated, *pem;
    ngx_http_backend_jwt_rules_t   rules;

    ngx_memzero(&log, sizeof(ngx_log_t));
    ngx_pagesize = getpagesize();

    pool = ngx_create_pool(16384, &log);

    meta = test_read(FIXTURES "meta.txt", &len);
    if (sscanf((char *) meta, "%ld %255s %255s", &now, issuer, azp) != 3) {
        printf("Bail out! meta.txt\n");
        return 1;
    }

    jwks = ngx_http_backend_jwks_create(pool);
    text = test_read(FIXTURES "jwks.json", &len);
    test_ok(ngx_http_backend_jwks_add_json(jwks, text, len, &err) == NGX_OK
            && ngx_http_backend_jwks_count(jwks) == 2,
            "JWKS: the two RSA signing keys, not the EC or enc ones", "");
    free(text);

    ngx_array_init(&azps, pool, 1, sizeof(ngx_str_t));
    a = ngx_array_push(&azps);
    a->data = (u_char *) azp;
    a->len = strlen(azp);

    ngx_memzero(&rules, sizeof(rules));
    rules.now = now;
    rules.leeway = 5;
    rules.issuer.data = (u_char *) issuer;
    rules.issuer.len = strlen(issuer);
    rules.azp = &azps;
    rules.max_size = 8192;

    tokens = test_read(FIXTURES "tokens.txt", &len);

    for (line = strtok_r((char *) tokens, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save))
    {
        name = line;
        want = strchr(name, ' ');
        *want++ = '\0';
        token = strchr(want, ' ');
        *token++ = '\0';

        got = test_verify(pool, jwks, &rules, token, &jwt);
        test_ok(strcmp(got, want) == 0, name, got);

        if (strcmp(name, "valid") == 0) {
            test_ok(jwt.sub.len == 6 && ngx_strncmp(jwt.sub.data, "user_1", 6)
                    == 0 && jwt.sid.len == 6, "valid: sub and sid", "");
        }

        if (strcmp(name, "org-v2") == 0 || strcmp(name, "org-v1") == 0) {
            test_ok(jwt.org_id.len == 5 && jwt.org_slug.len == 4
                    && jwt.org_role.len == 9
                    && ngx_strncmp(jwt.org_role.data, "org:admin", 9) == 0,
                    name, "org fields");
        }

        if (strcmp(name, "valid-kid-2") == 0) {
            /* rotation: the old key gone, its tokens are unknown */
            rotated = ngx_http_backend_jwks_create(pool);
            text = test_read(FIXTURES "jwks-rotated.json", &len);
            (void) ngx_http_backend_jwks_add_json(rotated, text, len, &err);
            free(text);

            got = test_verify(pool, rotated, &rules, token, &jwt);
            test_ok(strcmp(got, "ok") == 0, "rotated: the new kid", got);
        }

        if (strcmp(name, "valid-rs384") == 0) {
            rotated = ngx_http_backend_jwks_create(pool);
            text = test_read(FIXTURES "jwks-rotated.json", &len);
            (void) ngx_http_backend_jwks_add_json(rotated, text, len, &err);
            free(text);

            got = test_verify(pool, rotated, &rules, token, &jwt);
            test_ok(strcmp(got, "unknown-kid") == 0,
                    "rotated: a token of the removed kid", got);

            /* networkless: the PEM key, for any kid */
            pem = ngx_http_backend_jwks_create(pool);
            text = test_read(FIXTURES "public.pem", &len);
            ngx_str_null(&kid);
            test_ok(ngx_http_backend_jwks_add_pem(pem, text, len, &kid, &err)
                    == NGX_OK, "PEM key", "");
            free(text);

            got = test_verify(pool, pem, &rules, token, &jwt);
            test_ok(strcmp(got, "ok") == 0, "PEM key verifies", got);
        }
    }

    /* rules not configured: no issuer or azp check */

    rules.issuer.len = 0;
    rules.azp = NULL;

    test_ok(ngx_http_backend_jwks_add_json(jwks, (u_char *) "{\"keys\":1}", 10,
                                           &err)
            == NGX_DECLINED, "malformed JWKS", "");
    test_ok(ngx_http_backend_jwks_add_json(jwks, (u_char *) "{\"keys\":[",
                                           9, &err)
            == NGX_DECLINED, "JWKS not JSON", "");
    test_ok(ngx_http_backend_jwks_add_pem(jwks, (u_char *) "nope", 4, NULL,
                                          &err)
            == NGX_DECLINED, "not a PEM key", "");

    printf("1..%u\n", (unsigned) test_n);

    free(meta);
    free(tokens);
    ngx_destroy_pool(pool);

    return test_failed ? 1 : 0;
}
