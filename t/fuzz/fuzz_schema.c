
/*
 * Copyright (C) ngx_backend authors
 */


/*
 * libFuzzer target: the JSON parser, the schema compiler and the
 * validator.  Each input is parsed as JSON; it is validated against fixed
 * schemas (defaults applied, issues formatted), and compiled as a schema
 * itself, against which fixed instances are validated.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_backend_json.h"
#include "ngx_http_backend_schema.h"


static const char  *schemas[] = {
    "{\"type\":\"object\",\"properties\":{\"limit\":{\"type\":\"integer\","
    "\"minimum\":1,\"maximum\":100,\"default\":20},\"before\":{\"type\":"
    "\"string\",\"format\":\"date-time\",\"pattern\":\"^\\\\d{4}-\"}},"
    "\"required\":[\"limit\"],\"additionalProperties\":false}",

    "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":"
    "{\"type\":[\"number\",\"null\"],\"multipleOf\":0.5},\"next\":{\"$ref\":"
    "\"#/$defs/node\"}}}},\"anyOf\":[{\"$ref\":\"#/$defs/node\"},{\"type\":"
    "\"array\",\"prefixItems\":[{\"const\":1}],\"items\":{\"enum\":[\"a\","
    "2,null]},\"uniqueItems\":true,\"contains\":{\"type\":\"string\"},"
    "\"maxContains\":2}]}",

    "{\"type\":\"object\",\"patternProperties\":{\"^x\":{\"type\":"
    "\"string\",\"format\":\"email\"}},\"propertyNames\":{\"maxLength\":8},"
    "\"dependentRequired\":{\"a\":[\"b\"]},\"if\":{\"required\":[\"u\"]},"
    "\"then\":{\"properties\":{\"u\":{\"format\":\"uri\"}}},\"else\":"
    "{\"not\":{\"required\":[\"ip\"]}},\"oneOf\":[{\"minProperties\":1},"
    "{\"maxProperties\":0}]}",

    NULL
};


static const char  *instances[] = {
    "{\"a\":1,\"b\":[1,2,{\"c\":\"d\"}]}", "[1,\"a\",null,true]", "\"x\"",
    "12345678901234567890", "null", NULL
};


static ngx_log_t                   fuzz_log;
static ngx_pool_t                 *fuzz_pool;
static ngx_http_backend_schema_t  *fuzz_schemas[8];


static void
fuzz_check(ngx_pool_t *pool, ngx_http_backend_schema_t *schema,
    ngx_http_backend_json_t *instance)
{
    ngx_str_t     message, flat;
    ngx_array_t   issues;

    if (ngx_array_init(&issues, pool, 4,
                       sizeof(ngx_http_backend_schema_issue_t))
        != NGX_OK)
    {
        return;
    }

    if (ngx_http_backend_schema_validate(schema, pool, &instance, &issues, 0)
        == NGX_DECLINED)
    {
        (void) ngx_http_backend_schema_format(pool, &issues, &message, &flat);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_int_t                   mrc;
    ngx_str_t                   err, s, m;
    ngx_uint_t                  i;
    ngx_pool_t                 *pool;
    ngx_http_backend_json_t    *json, *inst, *again;
    ngx_http_backend_schema_t  *schema;

    if (fuzz_pool == NULL) {
        ngx_pagesize = getpagesize();
        fuzz_pool = ngx_create_pool(4096, &fuzz_log);

        for (i = 0; schemas[i]; i++) {
            if (ngx_http_backend_json_parse(fuzz_pool, (u_char *) schemas[i],
                                            strlen(schemas[i]), 0, &json,
                                            &err)
                != NGX_OK
                || (fuzz_schemas[i] = ngx_http_backend_schema_compile(
                                          fuzz_pool, json, &err))
                   == NULL)
            {
                fprintf(stderr, "schema %u: %.*s\n", (unsigned) i,
                        (int) err.len, err.data);
                abort();
            }
        }
    }

    pool = ngx_create_pool(4096, &fuzz_log);

    /*
     * minify (an answer passed on without a tree) takes what parse takes,
     * and what it writes is the same JSON
     */

    mrc = ngx_http_backend_json_minify(pool, (u_char *) data, size, 0, &m,
                                       &err);

    if (ngx_http_backend_json_parse(pool, (u_char *) data, size, 0, &json,
                                    &err)
        != NGX_OK)
    {
        if (mrc == NGX_OK) {
            fprintf(stderr, "minify took what parse declined\n");
            abort();
        }

        ngx_destroy_pool(pool);
        return 0;
    }

    (void) ngx_http_backend_json_serialize(pool, json, &s);

    if (mrc != NGX_OK
        || ngx_http_backend_json_parse(pool, m.data, m.len, 0, &again, &err)
           != NGX_OK
        || ngx_http_backend_json_serialize(pool, again, &m) != NGX_OK
        || m.len != s.len || ngx_memcmp(m.data, s.data, s.len) != 0)
    {
        fprintf(stderr, "minify: not the JSON parse read\n");
        abort();
    }

    for (i = 0; fuzz_schemas[i]; i++) {
        fuzz_check(pool, fuzz_schemas[i], json);
    }

    fuzz_check(pool, fuzz_schemas[0], NULL);

    /* the input as a schema */

    schema = ngx_http_backend_schema_compile(pool, json, &err);

    if (schema) {
        for (i = 0; instances[i]; i++) {
            if (ngx_http_backend_json_parse(pool, (u_char *) instances[i],
                                            strlen(instances[i]), 0, &inst,
                                            &err)
                == NGX_OK)
            {
                fuzz_check(pool, schema, inst);
            }
        }

        fuzz_check(pool, schema, NULL);
    }

    ngx_destroy_pool(pool);

    return 0;
}
