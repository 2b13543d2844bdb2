
/*
 * Copyright (C) ngx_backend authors
 */


#include <arpa/inet.h>

#include "ngx_http_backend_schema_int.h"


/*
 * Zod's side: string formats as Zod names and checks them, issues in the
 * shape, words and key order of Zod 4's, and ZodError's message and
 * flatten().
 */


static ngx_int_t ngx_http_backend_schema_pretty(ngx_pool_t *pool,
    ngx_http_backend_json_t *json, ngx_str_t *out);
static size_t ngx_http_backend_schema_pretty_write(u_char *p,
    ngx_http_backend_json_t *json, ngx_uint_t indent);


/* String(regex): "/source/" as a JSON string; room: str_len + 2 */

u_char *
ngx_http_backend_schema_regex_write(u_char *p, ngx_str_t *source)
{
    u_char  *start;

    start = p;
    p = ngx_http_backend_json_str_write(p, source->data, source->len);

    /* "src" -> "/src/" */
    ngx_memmove(start + 2, start + 1, p - start - 2);
    start[1] = '/';
    p[0] = '/';
    p[1] = '"';

    return p + 2;
}


/* {"origin":"string","code":"invalid_format","format":"regex",...} */

void
ngx_http_backend_schema_limit(ngx_http_backend_schema_ctx_t *ctx,
    ngx_http_backend_schema_seg_t *path, ngx_str_t *source)
{
    u_char     *p, *head;
    size_t      len;
    ngx_str_t   msg;

    len = ngx_http_backend_json_str_len(source->data, source->len);

    head = ngx_pnalloc(ctx->pool, 96 + len + 2);
    msg.data = ngx_pnalloc(ctx->pool, 96 + source->len);
    if (head == NULL || msg.data == NULL) {
        ctx->nomem = 1;
        return;
    }

    p = ngx_sprintf(head, "\"origin\":\"string\",\"code\":\"invalid_format\","
                    "\"format\":\"regex\",\"pattern\":");
    p = ngx_http_backend_schema_regex_write(p, source);
    *p = '\0';

    msg.len = ngx_sprintf(msg.data, "Invalid string: too costly to match "
                          "pattern /%V/", source)
              - msg.data;

    ngx_http_backend_schema_issue(ctx, path, (char *) head, &msg);
}


/*
 * The name Zod gives a format: JSON Schema's date-time and uri are Zod's
 * datetime and url; z.iso.time() exports its pattern alone, known by its
 * start.  Empty: a plain pattern.
 */

ngx_str_t *
ngx_http_backend_schema_zod_format(ngx_http_backend_schema_t *s)
{
    static ngx_str_t  none = ngx_null_string;
    static ngx_str_t  datetime = ngx_string("datetime");
    static ngx_str_t  url = ngx_string("url");
    static ngx_str_t  time = ngx_string("time");
    static ngx_str_t  time_start = ngx_string("^(?:[01]\\d|2[0-3]):[0-5]\\d");

    if (s->format_name.len == 0) {
        if (s->pattern_source.len >= time_start.len
            && ngx_strncmp(s->pattern_source.data, time_start.data,
                           time_start.len) == 0)
        {
            return &time;
        }

        return &none;
    }

    if (s->format_name.len == 9
        && ngx_strncmp(s->format_name.data, "date-time", 9) == 0)
    {
        return &datetime;
    }

    if (s->format_name.len == 3
        && ngx_strncmp(s->format_name.data, "uri", 3) == 0)
    {
        return &url;
    }

    return &s->format_name;
}


/* "Invalid <noun>", from Zod's English locale */

const char *
ngx_http_backend_schema_format_noun(ngx_str_t *format)
{
    ngx_uint_t  i;

    static const char  *nouns[][2] = {
        { "email", "email address" }, { "url", "URL" }, { "uuid", "UUID" },
        { "uuidv4", "UUIDv4" }, { "uuidv6", "UUIDv6" }, { "guid", "GUID" },
        { "ulid", "ULID" }, { "xid", "XID" }, { "ksuid", "KSUID" },
        { "datetime", "ISO datetime" }, { "date", "ISO date" },
        { "time", "ISO time" }, { "duration", "ISO duration" },
        { "ipv4", "IPv4 address" }, { "ipv6", "IPv6 address" },
        { "mac", "MAC address" }, { "cidrv4", "IPv4 range" },
        { "cidrv6", "IPv6 range" }, { "base64", "base64-encoded string" },
        { "base64url", "base64url-encoded string" },
        { "json_string", "JSON string" }, { "e164", "E.164 number" },
        { "jwt", "JWT" }, { NULL, NULL }
    };

    for (i = 0; nouns[i][0]; i++) {
        if (ngx_strlen(nouns[i][0]) == format->len
            && ngx_strncmp(nouns[i][0], format->data, format->len) == 0)
        {
            return nouns[i][1];
        }
    }

    /* the name itself, as Zod says it: NUL-terminated in the schema */
    return (const char *) format->data;
}


/* "Too small: expected string to have >=2 characters", for arrays "items" */

ngx_uint_t
ngx_http_backend_schema_length(ngx_http_backend_schema_ctx_t *ctx,
    ngx_http_backend_schema_seg_t *path, const char *origin, size_t len,
    ngx_int_t min, ngx_int_t max)
{
    u_char      *p;
    ngx_str_t    msg;
    ngx_uint_t   small, exact;
    const char  *unit;

    if (min >= 0 && len < (size_t) min) {
        small = 1;

    } else if (max >= 0 && len > (size_t) max) {
        small = 0;

    } else {
        return 1;
    }

    p = ngx_pnalloc(ctx->pool, 128);
    msg.data = ngx_pnalloc(ctx->pool, 96);
    if (p == NULL || msg.data == NULL) {
        ctx->nomem = 1;
        return 0;
    }

    unit = (origin[0] == 's') ? "characters" : "items";

    /* minLength = maxLength: what z.string().length() exports */
    exact = (min >= 0 && min == max);

    *ngx_sprintf(p, "\"origin\":\"%s\",\"code\":\"%s\",\"%s\":%i,"
                 "\"inclusive\":true%s", origin,
                 small ? "too_small" : "too_big",
                 small ? "minimum" : "maximum", small ? min : max,
                 exact ? ",\"exact\":true" : "")
        = '\0';

    msg.len = ngx_sprintf(msg.data, "Too %s: expected %s to have %s%i %s",
                          small ? "small" : "big", origin,
                          exact ? "exactly " : (small ? ">=" : "<="),
                          small ? min : max, unit)
              - msg.data;

    ngx_http_backend_schema_issue(ctx, path, (char *) p, &msg);

    return 0;
}


/* what Zod says of JSON.parse("1e400") */

void
ngx_http_backend_schema_infinity(ngx_http_backend_schema_ctx_t *ctx,
    ngx_http_backend_schema_seg_t *path, ngx_http_backend_json_t *v)
{
    ngx_str_t  msg;

    if (isnan(v->number)) {
        /* superjson's NaN */
        ngx_str_set(&msg, "Invalid input: expected number, received NaN");
        ngx_http_backend_schema_issue(ctx, path,
                                      "\"expected\":\"number\","
                                      "\"code\":\"invalid_type\","
                                      "\"received\":\"NaN\"", &msg);
        return;
    }

    if (v->number < 0) {
        ngx_str_set(&msg, "Invalid input: expected number, received "
                          "-Infinity");
        ngx_http_backend_schema_issue(ctx, path,
                                      "\"expected\":\"number\","
                                      "\"code\":\"invalid_type\","
                                      "\"received\":\"-Infinity\"", &msg);
        return;
    }

    ngx_str_set(&msg, "Invalid input: expected number, received Infinity");
    ngx_http_backend_schema_issue(ctx, path,
                                  "\"expected\":\"number\","
                                  "\"code\":\"invalid_type\","
                                  "\"received\":\"Infinity\"", &msg);
}


ngx_uint_t
ngx_http_backend_schema_type_of(ngx_http_backend_json_t *v)
{
    switch (v->type) {

    case NGX_HTTP_BACKEND_JSON_NULL:
        return NGX_SCHEMA_NULL;

    case NGX_HTTP_BACKEND_JSON_TRUE:
    case NGX_HTTP_BACKEND_JSON_FALSE:
        return NGX_SCHEMA_BOOLEAN;

    case NGX_HTTP_BACKEND_JSON_NUMBER:
        return v->integer ? NGX_SCHEMA_INTEGER : NGX_SCHEMA_NUMBER;

    case NGX_HTTP_BACKEND_JSON_STRING:
        switch (v->superjson) {

        case NGX_HTTP_BACKEND_JSON_SJ_DATE:
            return NGX_SCHEMA_DATE;

        case NGX_HTTP_BACKEND_JSON_SJ_BIGINT:
            return NGX_SCHEMA_BIGINT;

        case NGX_HTTP_BACKEND_JSON_SJ_NUMBER:
            /* NaN or an infinity, in v->number */
            return NGX_SCHEMA_NUMBER;

        default:
            return NGX_SCHEMA_STRING;
        }

    case NGX_HTTP_BACKEND_JSON_ARRAY:
        return NGX_SCHEMA_ARRAY;

    default:
        return NGX_SCHEMA_OBJECT;
    }
}


/* Zod's names: an integer is a number */

/* what Zod says it received: 1e400 is Infinity */

const char *
ngx_http_backend_schema_received(ngx_http_backend_json_t *v)
{
    ngx_uint_t  type;

    type = ngx_http_backend_schema_type_of(v);

    if (type == NGX_SCHEMA_NUMBER && !isfinite(v->number)) {
        return isnan(v->number) ? "NaN"
                                : v->number < 0 ? "-Infinity" : "Infinity";
    }

    if (type == NGX_SCHEMA_DATE) {
        return "Date";
    }

    return ngx_http_backend_schema_type_name(type == NGX_SCHEMA_INTEGER
                                             ? NGX_SCHEMA_NUMBER : type);
}


const char *
ngx_http_backend_schema_type_name(ngx_uint_t types)
{
    if (types & NGX_SCHEMA_OBJECT) {
        return "object";
    }

    if (types & NGX_SCHEMA_ARRAY) {
        return "array";
    }

    if (types & NGX_SCHEMA_STRING) {
        return "string";
    }

    if (types & (NGX_SCHEMA_NUMBER|NGX_SCHEMA_INTEGER)) {
        return "number";
    }

    if (types & NGX_SCHEMA_BOOLEAN) {
        return "boolean";
    }

    if (types & NGX_SCHEMA_NULL) {
        return "null";
    }

    if (types & NGX_SCHEMA_DATE) {
        return "date";
    }

    if (types & NGX_SCHEMA_BIGINT) {
        return "bigint";
    }

    return "unknown";
}


static ngx_int_t
ngx_http_backend_schema_digits(u_char **pp, u_char *last, ngx_uint_t n)
{
    u_char     *p;
    ngx_int_t   v;

    p = *pp;
    v = 0;

    if ((size_t) (last - p) < n) {
        return -1;
    }

    while (n--) {
        if (*p < '0' || *p > '9') {
            return -1;
        }

        v = v * 10 + (*p++ - '0');
    }

    *pp = p;

    return v;
}


static ngx_uint_t
ngx_http_backend_schema_date(u_char **pp, u_char *last)
{
    ngx_int_t  y, m, d, days;

    static ngx_int_t  mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
                                  30, 31 };

    y = ngx_http_backend_schema_digits(pp, last, 4);
    if (y < 0 || *pp == last || *(*pp)++ != '-') {
        return 0;
    }

    m = ngx_http_backend_schema_digits(pp, last, 2);
    if (m < 1 || m > 12 || *pp == last || *(*pp)++ != '-') {
        return 0;
    }

    d = ngx_http_backend_schema_digits(pp, last, 2);

    days = mdays[m - 1];
    if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) {
        days = 29;
    }

    return d >= 1 && d <= days;
}


/* HH:MM:SS[.frac](Z|+HH:MM); a leap second only at 23:59 UTC */

static ngx_uint_t
ngx_http_backend_schema_time(u_char **pp, u_char *last)
{
    u_char     *p;
    ngx_int_t   h, m, sec, oh, om, sign, utc;

    h = ngx_http_backend_schema_digits(pp, last, 2);
    if (h < 0 || h > 23 || *pp == last || *(*pp)++ != ':') {
        return 0;
    }

    m = ngx_http_backend_schema_digits(pp, last, 2);
    if (m < 0 || m > 59 || *pp == last || *(*pp)++ != ':') {
        return 0;
    }

    sec = ngx_http_backend_schema_digits(pp, last, 2);
    if (sec < 0 || sec > 60) {
        return 0;
    }

    p = *pp;

    if (p < last && *p == '.') {
        p++;

        if (p == last || *p < '0' || *p > '9') {
            return 0;
        }

        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p == last) {
        return 0;
    }

    oh = 0;
    om = 0;
    sign = 0;

    if (*p == 'Z' || *p == 'z') {
        p++;

    } else if (*p == '+' || *p == '-') {
        sign = (*p++ == '-') ? -1 : 1;

        oh = ngx_http_backend_schema_digits(&p, last, 2);
        if (oh < 0 || oh > 23 || p == last || *p++ != ':') {
            return 0;
        }

        om = ngx_http_backend_schema_digits(&p, last, 2);
        if (om < 0 || om > 59) {
            return 0;
        }

    } else {
        return 0;
    }

    if (sec == 60) {
        utc = ((h * 60 + m - sign * (oh * 60 + om)) % 1440 + 1440) % 1440;
        if (utc != 23 * 60 + 59) {
            return 0;
        }
    }

    *pp = p;

    return 1;
}


static ngx_uint_t
ngx_http_backend_schema_hostname(u_char *p, u_char *last)
{
    u_char  *label;

    if (p == last || last - p > 253) {
        return 0;
    }

    while (p < last) {
        label = p;

        while (p < last && *p != '.') {
            if (!(ngx_schema_alnum(*p) || *p == '-')) {
                return 0;
            }

            p++;
        }

        if (p == label || p - label > 63 || *label == '-' || p[-1] == '-') {
            return 0;
        }

        if (p < last) {
            p++;

            if (p == last) {
                return 0;
            }
        }
    }

    return 1;
}


static ngx_uint_t
ngx_http_backend_schema_ip(int af, u_char *p, size_t len)
{
    u_char  buf[64], addr[16];

    if (len == 0 || len >= sizeof(buf) || ngx_strlchr(p, p + len, '\0')) {
        return 0;
    }

    ngx_memcpy(buf, p, len);
    buf[len] = '\0';

    return inet_pton(af, (char *) buf, addr) == 1;
}


static ngx_uint_t
ngx_http_backend_schema_email(u_char *p, u_char *last)
{
    u_char  *at, *q;

    static u_char  atext[] = "!#$%&'*+-/=?^_`{|}~";

    at = NULL;

    for (q = last; q > p; q--) {
        if (q[-1] == '@') {
            at = q - 1;
            break;
        }
    }

    if (at == NULL || at == p || at + 1 == last) {
        return 0;
    }

    /* local part: a quoted string, or dot-separated atoms */

    if (*p == '"') {
        if (at - p < 2 || at[-1] != '"') {
            return 0;
        }

        for (q = p + 1; q < at - 1; q++) {
            if (*q == '\\') {
                q++;

            } else if (*q == '"') {
                return 0;
            }
        }

    } else {
        if (*p == '.' || at[-1] == '.') {
            return 0;
        }

        for (q = p; q < at; q++) {
            if (*q == '.') {
                if (q[1] == '.') {
                    return 0;
                }

                continue;
            }

            if (!(ngx_schema_alnum(*q) || ngx_strlchr(atext,
                                                       atext + sizeof(atext)
                                                       - 1, *q)))
            {
                return 0;
            }
        }
    }

    q = at + 1;

    if (*q == '[') {
        if (last[-1] != ']') {
            return 0;
        }

        if (last - q > 6 && ngx_strncmp(q + 1, "IPv6:", 5) == 0) {
            return ngx_http_backend_schema_ip(AF_INET6, q + 6, last - q - 7);
        }

        return ngx_http_backend_schema_ip(AF_INET, q + 1, last - q - 2);
    }

    return ngx_http_backend_schema_hostname(q, last);
}


/* RFC 3986 URI: scheme ":" hier-part [ "?" query ] [ "#" fragment ] */

static ngx_uint_t
ngx_http_backend_schema_uri(u_char *p, u_char *last)
{
    u_char  *q, *host, *end, *at;

    static u_char  allowed[] = "-._~!$&'()*+,;=:@/?";

    if (p == last || !((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')) {
        return 0;
    }

    for (q = p; q < last && *q != ':'; q++) {
        if (!(ngx_schema_alnum(*q) || *q == '+' || *q == '-' || *q == '.')) {
            return 0;
        }
    }

    if (q == last) {
        return 0;
    }

    q++;

    /* every character: unreserved, sub-delims, ":@/?", "#" once, %XX */

    for (end = q; end < last; end++) {
        if (*end == '%') {
            if (last - end < 3 || ngx_hextoi(end + 1, 2) < 0) {
                return 0;
            }

            end += 2;
            continue;
        }

        if (*end == '#' || *end == '[' || *end == ']') {
            continue;
        }

        if (!(ngx_schema_alnum(*end)
              || ngx_strlchr(allowed, allowed + sizeof(allowed) - 1, *end)))
        {
            return 0;
        }
    }

    if (ngx_strlchr(ngx_strlchr(q, last, '#') ? ngx_strlchr(q, last, '#') + 1
                                               : last, last, '#'))
    {
        return 0;
    }

    if (last - q < 2 || q[0] != '/' || q[1] != '/') {
        /* no authority: brackets are not allowed */
        return ngx_strlchr(q, last, '[') == NULL
               && ngx_strlchr(q, last, ']') == NULL;
    }

    /* authority: [userinfo@]host[:port] */

    host = q + 2;

    for (end = host; end < last && *end != '/' && *end != '?' && *end != '#';
         end++)
    {
        /* void */
    }

    at = NULL;

    for (q = host; q < end; q++) {
        if (*q == '@') {
            at = q;
        }
    }

    if (at) {
        if (ngx_strlchr(host, at, '[') || ngx_strlchr(host, at, ']')) {
            return 0;
        }

        host = at + 1;
    }

    if (host < end && *host == '[') {
        q = ngx_strlchr(host, end, ']');
        if (q == NULL) {
            return 0;
        }

        if (!ngx_http_backend_schema_ip(AF_INET6, host + 1, q - host - 1)) {
            return 0;
        }

        q++;

    } else {
        for (q = host; q < end && *q != ':'; q++) {
            if (*q == '[' || *q == ']') {
                return 0;
            }
        }
    }

    if (q < end) {
        if (*q != ':') {
            return 0;
        }

        for (q++; q < end; q++) {
            if (*q < '0' || *q > '9') {
                return 0;
            }
        }
    }

    return ngx_strlchr(end, last, '[') == NULL
           && ngx_strlchr(end, last, ']') == NULL;
}


ngx_uint_t
ngx_http_backend_schema_format_ok(ngx_uint_t format, ngx_str_t *s)
{
    u_char      *p, *last;
    ngx_uint_t   i;

    p = s->data;
    last = p + s->len;

    switch (format) {

    case NGX_SCHEMA_FORMAT_DATE_TIME:
        if (!ngx_http_backend_schema_date(&p, last)
            || p == last || (*p != 'T' && *p != 't'))
        {
            return 0;
        }

        p++;

        return ngx_http_backend_schema_time(&p, last) && p == last;

    case NGX_SCHEMA_FORMAT_DATE:
        return ngx_http_backend_schema_date(&p, last) && p == last;

    case NGX_SCHEMA_FORMAT_TIME:
        return ngx_http_backend_schema_time(&p, last) && p == last;

    case NGX_SCHEMA_FORMAT_EMAIL:
        return ngx_http_backend_schema_email(p, last);

    case NGX_SCHEMA_FORMAT_UUID:
        if (s->len != 36) {
            return 0;
        }

        for (i = 0; i < 36; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23) {
                if (p[i] != '-') {
                    return 0;
                }

            } else if (!((p[i] >= '0' && p[i] <= '9')
                         || ((p[i] | 0x20) >= 'a' && (p[i] | 0x20) <= 'f')))
            {
                return 0;
            }
        }

        return 1;

    case NGX_SCHEMA_FORMAT_URI:
        return ngx_http_backend_schema_uri(p, last);

    case NGX_SCHEMA_FORMAT_IPV4:
        return ngx_http_backend_schema_ip(AF_INET, p, s->len);

    default: /* NGX_SCHEMA_FORMAT_IPV6 */
        return ngx_http_backend_schema_ip(AF_INET6, p, s->len);
    }
}


/* an issue: {<head>,"path":[...],"message":"..."} */

void
ngx_http_backend_schema_issue(ngx_http_backend_schema_ctx_t *ctx,
    ngx_http_backend_schema_seg_t *path, const char *head, ngx_str_t *message)
{
    u_char                           *p;
    size_t                            len;
    ngx_uint_t                        n, i;
    ngx_http_backend_schema_seg_t    *seg, *segs[NGX_SCHEMA_MAX_DEPTH + 2];
    ngx_http_backend_schema_issue_t  *issue;

    if (ctx->issues == NULL || ctx->issues->nelts >= ctx->max_issues) {
        return;
    }

    issue = ngx_array_push(ctx->issues);
    if (issue == NULL) {
        ctx->nomem = 1;
        return;
    }

    n = 0;
    len = 2;

    for (seg = path; seg && n < NGX_SCHEMA_MAX_DEPTH + 2; seg = seg->parent) {
        segs[n++] = seg;
        len += 1 + (seg->index >= 0
                    ? NGX_INT_T_LEN
                    : ngx_http_backend_json_str_len(seg->key.data,
                                                    seg->key.len));
    }

    issue->path.data = ngx_pnalloc(ctx->pool, len);
    issue->head.data = ngx_pnalloc(ctx->pool, ngx_strlen(head));
    if (issue->path.data == NULL || issue->head.data == NULL) {
        ctx->nomem = 1;
        return;
    }

    p = issue->path.data;
    *p++ = '[';
    ngx_str_null(&issue->first);

    for (i = n; i > 0; i--) {
        seg = segs[i - 1];

        if (i != n) {
            *p++ = ',';
        }

        if (seg->index >= 0) {
            u_char  *start = p;

            p = ngx_sprintf(p, "%i", seg->index);

            if (i == n) {
                issue->first.data = start;
                issue->first.len = p - start;
            }

        } else {
            if (i == n) {
                issue->first = seg->key;
            }

            p = ngx_http_backend_json_str_write(p, seg->key.data,
                                                seg->key.len);
        }
    }

    *p++ = ']';
    issue->path.len = p - issue->path.data;

    issue->head.len = ngx_strlen(head);
    ngx_memcpy(issue->head.data, head, issue->head.len);

    issue->message = *message;
}


/*
 * {"code":"invalid_value","values":[...],...,"message":"Invalid option:
 * expected one of \"a\"|\"b\""}, as Zod says of enums and literals
 */

void
ngx_http_backend_schema_values(ngx_http_backend_schema_ctx_t *ctx,
    ngx_http_backend_schema_seg_t *path, ngx_http_backend_json_t **values,
    ngx_uint_t n, const char *prefix)
{
    u_char      *head, *p;
    size_t       len;
    ngx_str_t    msg;
    ngx_uint_t   i;

    if (ctx->issues == NULL || ctx->issues->nelts >= ctx->max_issues) {
        return;
    }

    len = ngx_strlen(prefix) + sizeof("\"code\":\"invalid_value\","
                                      "\"values\":[]");

    for (i = 0; i < n; i++) {
        len += ngx_http_backend_json_len(values[i]) + 1;
    }

    head = ngx_pnalloc(ctx->pool, len);
    msg.data = ngx_pnalloc(ctx->pool, len);
    if (head == NULL || msg.data == NULL) {
        ctx->nomem = 1;
        return;
    }

    p = ngx_cpymem(head, "\"code\":\"invalid_value\",\"values\":[",
                   sizeof("\"code\":\"invalid_value\",\"values\":[") - 1);
    msg.len = ngx_sprintf(msg.data, "%s", prefix) - msg.data;

    for (i = 0; i < n; i++) {
        if (i) {
            *p++ = ',';
            msg.data[msg.len++] = '|';
        }

        p = ngx_http_backend_json_write(p, values[i]);
        msg.len = ngx_http_backend_json_write(msg.data + msg.len, values[i])
                  - msg.data;
    }

    *p++ = ']';
    *p = '\0';

    ngx_http_backend_schema_issue(ctx, path, (char *) head, &msg);
}


/*
 * message: JSON.stringify(issues, null, 2), as ZodError.message;
 * flat: {"formErrors":[...],"fieldErrors":{"field":[...]}}, as flatten()
 */

ngx_int_t
ngx_http_backend_schema_format(ngx_pool_t *pool, ngx_array_t *issues,
    ngx_str_t *message, ngx_str_t *flat)
{
    u_char                           *p;
    size_t                            len;
    ngx_str_t                         err, compact;
    ngx_uint_t                        i, j, n;
    ngx_http_backend_json_t          *json;
    ngx_http_backend_schema_issue_t  *issue;

    issue = issues->elts;

    len = 2;

    for (i = 0; i < issues->nelts; i++) {
        len += issue[i].head.len + issue[i].path.len
               + ngx_http_backend_json_str_len(issue[i].message.data,
                                               issue[i].message.len)
               + sizeof("{,\"path\":,\"message\":},") - 1;
    }

    compact.data = ngx_pnalloc(pool, len);
    if (compact.data == NULL) {
        return NGX_ERROR;
    }

    p = compact.data;
    *p++ = '[';

    for (i = 0; i < issues->nelts; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_sprintf(p, "{%V,\"path\":%V,\"message\":", &issue[i].head,
                        &issue[i].path);
        p = ngx_http_backend_json_str_write(p, issue[i].message.data,
                                            issue[i].message.len);
        *p++ = '}';
    }

    *p++ = ']';
    compact.len = p - compact.data;

    if (ngx_http_backend_json_parse(pool, compact.data, compact.len, 0, &json,
                                    &err)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_backend_schema_pretty(pool, json, message) != NGX_OK) {
        return NGX_ERROR;
    }

    /* flatten: messages by the first path segment, in order of appearance */

    len = sizeof("{\"formErrors\":[],\"fieldErrors\":{}}");

    for (i = 0; i < issues->nelts; i++) {
        len += 2 * ngx_http_backend_json_str_len(issue[i].message.data,
                                                 issue[i].message.len)
               + 2 * ngx_http_backend_json_str_len(issue[i].first.data,
                                                   issue[i].first.len)
               + 8;
    }

    flat->data = ngx_pnalloc(pool, len);
    if (flat->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(flat->data, "{\"formErrors\":[",
                   sizeof("{\"formErrors\":[") - 1);

    for (i = 0, n = 0; i < issues->nelts; i++) {
        if (issue[i].first.len == 0 && issue[i].path.len == 2) {
            if (n++) {
                *p++ = ',';
            }

            p = ngx_http_backend_json_str_write(p, issue[i].message.data,
                                                issue[i].message.len);
        }
    }

    p = ngx_cpymem(p, "],\"fieldErrors\":{", sizeof("],\"fieldErrors\":{") - 1);

    for (i = 0, n = 0; i < issues->nelts; i++) {
        if (issue[i].path.len == 2) {
            continue;
        }

        for (j = 0; j < i; j++) {
            if (issue[j].path.len != 2
                && issue[j].first.len == issue[i].first.len
                && ngx_strncmp(issue[j].first.data, issue[i].first.data,
                               issue[i].first.len) == 0)
            {
                break;
            }
        }

        if (j < i) {
            continue;
        }

        if (n++) {
            *p++ = ',';
        }

        p = ngx_http_backend_json_str_write(p, issue[i].first.data,
                                            issue[i].first.len);
        *p++ = ':';
        *p++ = '[';

        for (j = i; j < issues->nelts; j++) {
            if (issue[j].path.len != 2
                && issue[j].first.len == issue[i].first.len
                && ngx_strncmp(issue[j].first.data, issue[i].first.data,
                               issue[i].first.len) == 0)
            {
                if (j != i) {
                    *p++ = ',';
                }

                p = ngx_http_backend_json_str_write(p, issue[j].message.data,
                                                    issue[j].message.len);
            }
        }

        *p++ = ']';
    }

    *p++ = '}';
    *p++ = '}';

    flat->len = p - flat->data;

    return NGX_OK;
}


/* JSON.stringify(value, null, 2) */

static ngx_int_t
ngx_http_backend_schema_pretty(ngx_pool_t *pool,
    ngx_http_backend_json_t *json, ngx_str_t *out)
{
    size_t  len;

    len = ngx_http_backend_schema_pretty_write(NULL, json, 0);

    out->data = ngx_pnalloc(pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    out->len = ngx_http_backend_schema_pretty_write(out->data, json, 0);

    return NGX_OK;
}


static size_t
ngx_http_backend_schema_pretty_write(u_char *p, ngx_http_backend_json_t *json,
    ngx_uint_t indent)
{
    size_t                           n, k;
    ngx_uint_t                       i, j;
    ngx_http_backend_json_t        **item;
    ngx_http_backend_json_member_t  *m;

    if ((json->type != NGX_HTTP_BACKEND_JSON_ARRAY
         && json->type != NGX_HTTP_BACKEND_JSON_OBJECT)
        || json->items.nelts == 0)
    {
        n = ngx_http_backend_json_len(json);
        if (p) {
            (void) ngx_http_backend_json_write(p, json);
        }

        return n;
    }

    n = 0;

#define ngx_pretty_put(s, l)                                                  \
    if (p) { ngx_memcpy(p + n, s, l); }                                       \
    n += l

    ngx_pretty_put(json->type == NGX_HTTP_BACKEND_JSON_ARRAY ? "[" : "{", 1);

    item = json->items.elts;
    m = json->items.elts;

    for (i = 0; i < json->items.nelts; i++) {
        ngx_pretty_put(i ? ",\n" : "\n", i ? 2 : 1);

        for (j = 0; j < indent + 2; j++) {
            ngx_pretty_put(" ", 1);
        }

        if (json->type == NGX_HTTP_BACKEND_JSON_OBJECT) {
            k = ngx_http_backend_json_str_len(m[i].key.data, m[i].key.len);
            if (p) {
                (void) ngx_http_backend_json_str_write(p + n, m[i].key.data,
                                                       m[i].key.len);
            }

            n += k;
            ngx_pretty_put(": ", 2);
            n += ngx_http_backend_schema_pretty_write(p ? p + n : NULL,
                                                      m[i].value, indent + 2);

        } else {
            n += ngx_http_backend_schema_pretty_write(p ? p + n : NULL,
                                                      item[i], indent + 2);
        }
    }

    ngx_pretty_put("\n", 1);

    for (j = 0; j < indent; j++) {
        ngx_pretty_put(" ", 1);
    }

    ngx_pretty_put(json->type == NGX_HTTP_BACKEND_JSON_ARRAY ? "]" : "}", 1);

#undef ngx_pretty_put

    return n;
}
