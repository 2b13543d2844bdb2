
/*
 * Copyright (C) ngx_backend authors
 */


/*
 * The official JSON Schema test suite (draft 2020-12) against
 * ngx_http_backend_schema.  Files for keywords this validator does not
 * support are excluded below, with the reason; every other file must pass
 * whole.  SCHEMA_SUITE_DIR names the suite's tests/draft2020-12 directory.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_backend_json.h"
#include "ngx_http_backend_schema.h"


static struct {
    const char  *file;
    const char  *reason;
} excluded[] = {
    { "dynamicRef.json", "$dynamicRef: not supported" },
    { "unevaluatedItems.json", "unevaluatedItems: not supported" },
    { "unevaluatedProperties.json", "unevaluatedProperties: not supported" },
    { "refRemote.json", "remote references: not supported" },
    { "vocabulary.json", "$vocabulary: not supported" },
    { "anchor.json", "$anchor and $id-based references: not supported" },
    { "id.json", "$id-based references: not supported" },
    { "defs.json", "validates against the metaschema (remote)" },
    { "content.json", "contentMediaType/contentEncoding: annotations" },
    { "format.json", "format as an annotation; asserted formats are in "
                     "optional/format" },
    { NULL, NULL }
};


/* single cases, by file and case description */

static struct {
    const char  *file;
    const char  *description;
    const char  *reason;
} excluded_cases[] = {
    { "not.json", "collect annotations inside a 'not', even if collection is "
                  "disabled", "uses unevaluatedProperties" },
    { "const.json", "nul characters in strings",
      "U+0000 is refused in any string (docs/input-contracts.md)" },
    { "enum.json", "nul characters in strings",
      "U+0000 is refused in any string (docs/input-contracts.md)" },
    { "pattern.json", "pattern with Unicode property escape requires unicode "
                      "mode", "PCRE2 10.42 has \\p{L}, not \\p{Letter}" },
    { "patternProperties.json", "patternProperties with Unicode property "
                                "escape", "PCRE2 10.42 has \\p{L}, not "
                                "\\p{Letter}" },
    { "ref.json",
      "$id must be resolved against nearest parent, not just immediate parent",
      "$id, URN, anchor or remote reference" },
    { "ref.json", "Recursive references between schemas",
      "$id, URN, anchor or remote reference" },
    { "ref.json", "URN base URI with URN and JSON pointer ref",
      "$id, URN, anchor or remote reference" },
    { "ref.json", "URN base URI with URN and anchor ref",
      "$id, URN, anchor or remote reference" },
    { "ref.json", "URN ref with nested pointer ref",
      "$id, URN, anchor or remote reference" },
    { "ref.json", "order of evaluation: $id and $anchor and $ref",
      "$id, URN, anchor or remote reference" },
    { "ref.json", "order of evaluation: $id and $ref",
      "$id, URN, anchor or remote reference" },
    { "ref.json", "order of evaluation: $id and $ref on nested schema",
      "$id, URN, anchor or remote reference" },
    { "ref.json", "ref creates new scope when adjacent to keywords",
      "uses unevaluatedProperties" },
    { "ref.json", "ref to else",
      "$id, URN, anchor or remote reference" },
    { "ref.json", "ref to if",
      "$id, URN, anchor or remote reference" },
    { "ref.json", "ref to then",
      "$id, URN, anchor or remote reference" },
    { "ref.json", "ref with absolute-path-reference",
      "$id, URN, anchor or remote reference" },
    { "ref.json", "refs with relative uris and defs",
      "$id, URN, anchor or remote reference" },
    { "ref.json", "relative refs with absolute uris and defs",
      "$id, URN, anchor or remote reference" },
    { "ref.json", "remote ref, containing refs itself",
      "$id, URN, anchor or remote reference" },
    { "ref.json", "simple URN base URI with $ref via the URN",
      "$id, URN, anchor or remote reference" },
    { NULL, NULL, NULL }
};


static const char  *formats[] = {
    "date-time.json", "date.json", "time.json", "email.json", "uuid.json",
    "uri.json", "ipv4.json", "ipv6.json", NULL
};


static ngx_uint_t  total_pass, total_fail, files_failed;


static u_char *
read_file(const char *path, size_t *len)
{
    FILE    *f;
    long     n;
    u_char  *buf;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);

    buf = malloc(n + 1);
    if (buf == NULL || fread(buf, 1, n, f) != (size_t) n) {
        fclose(f);
        free(buf);
        return NULL;
    }

    fclose(f);
    *len = n;

    return buf;
}


static void
run_file(const char *dir, const char *name, ngx_uint_t report)
{
    char                       path[1024];
    u_char                    *text;
    size_t                     len;
    ngx_str_t                  err;
    ngx_log_t                  log;
    ngx_int_t                  rc;
    ngx_uint_t                 i, j, pass, fail, valid;
    ngx_pool_t                *pool;
    ngx_array_t                issues;
    ngx_http_backend_json_t   *doc, **cases, **tests, *data, *desc, *tdesc;
    ngx_http_backend_schema_t *schema;

    (void) snprintf(path, sizeof(path), "%s/%s", dir, name);

    text = read_file(path, &len);
    if (text == NULL) {
        printf("# %s: cannot read\n", path);
        files_failed++;
        return;
    }

    ngx_memzero(&log, sizeof(ngx_log_t));
    pool = ngx_create_pool(16384, &log);

    if (ngx_http_backend_json_parse(pool, text, len, 0, &doc, &err)
        != NGX_OK)
    {
        printf("# %s: %.*s\n", name, (int) err.len, err.data);
        files_failed++;
        free(text);
        ngx_destroy_pool(pool);
        return;
    }

    pass = 0;
    fail = 0;
    cases = doc->items.elts;

    for (i = 0; i < doc->items.nelts; i++) {
        ngx_uint_t  x, skip;

        desc = ngx_http_backend_json_get(cases[i], (u_char *) "description",
                                         11);

        for (x = 0, skip = 0; excluded_cases[x].file; x++) {
            if (strcmp(name, excluded_cases[x].file) == 0
                && strcmp((char *) desc->string.data,
                          excluded_cases[x].description) == 0)
            {
                printf("# %s: \"%s\" excluded: %s\n", name,
                       excluded_cases[x].description,
                       excluded_cases[x].reason);
                skip = 1;
            }
        }

        if (skip) {
            continue;
        }

        schema = ngx_http_backend_schema_compile(pool,
                     ngx_http_backend_json_get(cases[i],
                                               (u_char *) "schema", 6),
                     &err);

        tests = ngx_http_backend_json_get(cases[i], (u_char *) "tests", 5)
                ->items.elts;

        for (j = 0; j < ngx_http_backend_json_get(cases[i],
                                                  (u_char *) "tests", 5)
                        ->items.nelts; j++)
        {
            tdesc = ngx_http_backend_json_get(tests[j],
                                              (u_char *) "description", 11);
            data = ngx_http_backend_json_get(tests[j], (u_char *) "data", 4);
            valid = ngx_http_backend_json_get(tests[j], (u_char *) "valid", 5)
                    ->type == NGX_HTTP_BACKEND_JSON_TRUE;

            if (schema == NULL) {
                fail++;
                if (report) {
                    printf("#   %s: %s: compile: %.*s\n",
                           desc->string.data, tdesc->string.data,
                           (int) err.len, err.data);
                }

                continue;
            }

            if (ngx_array_init(&issues, pool, 4,
                               sizeof(ngx_http_backend_schema_issue_t))
                != NGX_OK)
            {
                exit(2);
            }

            rc = ngx_http_backend_schema_validate(schema, pool, &data,
                                                  &issues, 0);

            if ((rc == NGX_OK) == (valid != 0) && rc != NGX_ERROR) {
                pass++;
                continue;
            }

            fail++;

            if (report) {
                printf("#   %s: %s: expected %s\n", desc->string.data,
                       tdesc->string.data, valid ? "valid" : "invalid");
            }
        }
    }

    printf("%s %s: %u passed, %u failed\n", fail ? "not ok -" : "ok -", name,
           (unsigned) pass, (unsigned) fail);

    total_pass += pass;
    total_fail += fail;
    files_failed += fail ? 1 : 0;

    free(text);
    ngx_destroy_pool(pool);
}


int
main(int argc, char **argv)
{
    char         sub[1024];
    DIR         *d;
    const char  *dir;
    ngx_uint_t   i, skip, n;
    struct dirent  *e;
    char        *names[256];

    ngx_pagesize = getpagesize();

    dir = getenv("SCHEMA_SUITE_DIR");
    if (dir == NULL) {
        dir = "../shared/data/json-schema-test-suite/tests/draft2020-12";
    }

    /* a missing suite is an error: a skip would hide a wrong path */

    d = opendir(dir);
    if (d == NULL) {
        printf("Bail out! no JSON Schema test suite in %s "
               "(set SCHEMA_SUITE_DIR)\n", dir);
        return 1;
    }

    n = 0;

    while ((e = readdir(d)) != NULL && n < 256) {
        if (ngx_strstr(e->d_name, ".json") != NULL) {
            names[n++] = strdup(e->d_name);
        }
    }

    closedir(d);

    for (i = 0; i < n; i++) {
        ngx_uint_t  k;

        for (k = i + 1; k < n; k++) {
            if (strcmp(names[k], names[i]) < 0) {
                char *t = names[i];
                names[i] = names[k];
                names[k] = t;
            }
        }
    }

    for (i = 0; i < n; i++) {
        skip = 0;

        for (ngx_uint_t x = 0; excluded[x].file; x++) {
            /* SCHEMA_SUITE_ALL=1: run the excluded files too, to look */
            if (getenv("SCHEMA_SUITE_ALL") == NULL
                && strcmp(names[i], excluded[x].file) == 0)
            {
                printf("ok - %s # SKIP %s\n", names[i], excluded[x].reason);
                skip = 1;
            }
        }

        if (!skip) {
            run_file(dir, names[i], argc > 1);
        }

        free(names[i]);
    }

    (void) snprintf(sub, sizeof(sub), "%s/optional/format", dir);

    for (i = 0; formats[i]; i++) {
        run_file(sub, formats[i], argc > 1);
    }

    printf("# JSON Schema test suite: %u passed, %u failed\n",
           (unsigned) total_pass, (unsigned) total_fail);
    printf("1..%u\n", (unsigned) (n + 8));

    return files_failed ? 1 : 0;
}
