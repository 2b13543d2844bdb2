
/*
 * Copyright (C) ngx_backend authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ngx_http_backend_svix.h"


/*
 * The timestamp within the tolerance of now; signed content
 * "id.timestamp.body", HMAC-SHA256 with each secret, its base64 compared
 * in constant time with each "v1,<base64>" of the space-separated
 * signature list.  The text is compared, as Svix's libraries do, not what
 * it decodes to: ngx_decode_base64() stops at the padding and would take
 * "v1,<signature>=anything" for the signature.
 */

ngx_int_t
ngx_http_backend_svix_verify(ngx_array_t *secrets, time_t tolerance,
    time_t now, ngx_str_t *id, ngx_str_t *timestamp, ngx_str_t *signature,
    u_char *body, size_t len, const char **error)
{
    u_char        *p, *last, *start, mac[EVP_MAX_MD_SIZE];
    u_char         b64[ngx_base64_encoded_length(EVP_MAX_MD_SIZE)];
    time_t         ts;
    ngx_str_t     *secret, raw, enc;
    ngx_uint_t     i;
    unsigned int   mac_len;
    HMAC_CTX      *hmac;

    if (id == NULL || timestamp == NULL || signature == NULL) {
        *error = "missing required headers";
        return NGX_DECLINED;
    }

    ts = ngx_atotm(timestamp->data, timestamp->len);

    if (ts == NGX_ERROR) {
        *error = "invalid timestamp";
        return NGX_DECLINED;
    }

    if (ts < now - tolerance) {
        *error = "message timestamp too old";
        return NGX_DECLINED;
    }

    if (ts > now + tolerance) {
        *error = "message timestamp too new";
        return NGX_DECLINED;
    }

    *error = "invalid signature";

    secret = secrets->elts;

    for (i = 0; i < secrets->nelts; i++) {

        hmac = HMAC_CTX_new();
        if (hmac == NULL) {
            return NGX_ERROR;
        }

        if (HMAC_Init_ex(hmac, secret[i].data, (int) secret[i].len,
                         EVP_sha256(), NULL) != 1
            || HMAC_Update(hmac, id->data, id->len) != 1
            || HMAC_Update(hmac, (u_char *) ".", 1) != 1
            || HMAC_Update(hmac, timestamp->data, timestamp->len) != 1
            || HMAC_Update(hmac, (u_char *) ".", 1) != 1
            || HMAC_Update(hmac, body, len) != 1
            || HMAC_Final(hmac, mac, &mac_len) != 1)
        {
            HMAC_CTX_free(hmac);
            return NGX_ERROR;
        }

        HMAC_CTX_free(hmac);

        raw.data = mac;
        raw.len = mac_len;
        enc.data = b64;
        ngx_encode_base64(&enc, &raw);

        p = signature->data;
        last = signature->data + signature->len;

        while (p < last) {
            while (p < last && *p == ' ') {
                p++;
            }

            start = p;

            while (p < last && *p != ' ') {
                p++;
            }

            if ((size_t) (p - start) != 3 + enc.len
                || ngx_strncmp(start, "v1,", 3) != 0)
            {
                continue;
            }

            if (CRYPTO_memcmp(start + 3, enc.data, enc.len) == 0) {
                return NGX_OK;
            }
        }
    }

    return NGX_DECLINED;
}
