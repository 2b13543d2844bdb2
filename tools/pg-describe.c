/*
 * Copyright (C) ngx_backend authors
 *
 * pg-describe: what Postgres says of statements, for tools/client-types.mjs
 * (make client-types).  A build-time tool, never in nginx: it uses libpq's
 * blocking API.
 *
 *   pg-describe CONNINFO < statements
 *
 * Reads statements separated by NUL bytes; writes one JSON line each:
 *   {"params":[P...],"columns":[{"name":"id",...C}]}  or  {"error":"..."}
 * P and C describe a type: "type" (pg_type.typname), "category"
 * (typcategory), "element" (of an array: the element's description),
 * "enum" (its labels), "base" (a domain's); a column adds "name" and
 * "notnull" (true only for a table's column with NOT NULL: PQftable,
 * PQftablecol and pg_attribute; an expression may be null).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>


static void describe(PGconn *conn, Oid type, int depth);


static void
json_string(const char *s)
{
    const unsigned char  *p;

    putchar('"');

    for (p = (const unsigned char *) s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            printf("\\%c", *p);

        } else if (*p < 0x20) {
            printf("\\u%04x", *p);

        } else {
            putchar(*p);
        }
    }

    putchar('"');
}


static PGresult *
query(PGconn *conn, const char *sql, int n, const char **values)
{
    PGresult  *res;

    res = PQexecParams(conn, sql, n, NULL, values, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "pg-describe: %s", PQerrorMessage(conn));
        exit(1);
    }

    return res;
}


static void
describe(PGconn *conn, Oid type, int depth)
{
    int          i;
    char         oid[16];
    const char  *v[1];
    PGresult    *res, *e;

    snprintf(oid, sizeof(oid), "%u", type);
    v[0] = oid;

    res = query(conn, "select typname, typcategory, typelem, typtype, "
                      "typbasetype from pg_type where oid = $1", 1, v);

    if (PQntuples(res) == 0) {
        printf("{\"type\":\"unknown\",\"category\":\"X\"}");
        PQclear(res);
        return;
    }

    printf("{\"type\":");
    json_string(PQgetvalue(res, 0, 0));
    printf(",\"category\":");
    json_string(PQgetvalue(res, 0, 1));

    if (depth < 4 && PQgetvalue(res, 0, 1)[0] == 'A'
        && strcmp(PQgetvalue(res, 0, 2), "0") != 0)
    {
        printf(",\"element\":");
        describe(conn, (Oid) strtoul(PQgetvalue(res, 0, 2), NULL, 10),
                 depth + 1);
    }

    if (PQgetvalue(res, 0, 3)[0] == 'e') {
        e = query(conn, "select enumlabel from pg_enum where enumtypid = $1 "
                        "order by enumsortorder", 1, v);

        printf(",\"enum\":[");

        for (i = 0; i < PQntuples(e); i++) {
            if (i) {
                putchar(',');
            }

            json_string(PQgetvalue(e, i, 0));
        }

        putchar(']');
        PQclear(e);
    }

    if (depth < 4 && PQgetvalue(res, 0, 3)[0] == 'd') {
        printf(",\"base\":");
        describe(conn, (Oid) strtoul(PQgetvalue(res, 0, 4), NULL, 10),
                 depth + 1);
    }

    putchar('}');
    PQclear(res);
}


static int
notnull(PGconn *conn, Oid table, int column)
{
    int          r;
    char         t[16], c[16];
    const char  *v[2];
    PGresult    *res;

    if (table == InvalidOid || column <= 0) {
        return 0;
    }

    snprintf(t, sizeof(t), "%u", table);
    snprintf(c, sizeof(c), "%d", column);
    v[0] = t;
    v[1] = c;

    res = query(conn, "select attnotnull from pg_attribute "
                      "where attrelid = $1 and attnum = $2", 2, v);

    r = PQntuples(res) && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);

    return r;
}


static void
statement(PGconn *conn, const char *sql)
{
    int        i;
    PGresult  *res, *d;

    res = PQprepare(conn, "", sql, 0, NULL);

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        printf("{\"error\":");
        json_string(PQresultErrorMessage(res));
        printf("}\n");
        PQclear(res);
        return;
    }

    PQclear(res);

    d = PQdescribePrepared(conn, "");

    if (PQresultStatus(d) != PGRES_COMMAND_OK) {
        printf("{\"error\":");
        json_string(PQresultErrorMessage(d));
        printf("}\n");
        PQclear(d);
        return;
    }

    printf("{\"params\":[");

    for (i = 0; i < PQnparams(d); i++) {
        if (i) {
            putchar(',');
        }

        describe(conn, PQparamtype(d, i), 0);
    }

    printf("],\"columns\":[");

    for (i = 0; i < PQnfields(d); i++) {
        if (i) {
            putchar(',');
        }

        printf("{\"name\":");
        json_string(PQfname(d, i));
        printf(",\"notnull\":%s,\"of\":",
               notnull(conn, PQftable(d, i), PQftablecol(d, i))
               ? "true" : "false");
        describe(conn, PQftype(d, i), 0);
        putchar('}');
    }

    printf("]}\n");
    PQclear(d);
}


int
main(int argc, char **argv)
{
    int      c;
    char    *buf;
    size_t   len, size;
    PGconn  *conn;

    if (argc != 2) {
        fprintf(stderr, "usage: pg-describe CONNINFO < statements\n");
        return 2;
    }

    conn = PQconnectdb(argv[1]);

    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "pg-describe: %s", PQerrorMessage(conn));
        return 1;
    }

    size = 4096;
    len = 0;
    buf = malloc(size);

    if (buf == NULL) {
        return 1;
    }

    for ( ;; ) {
        c = getchar();

        if (len + 1 >= size) {
            size *= 2;
            buf = realloc(buf, size);
            if (buf == NULL) {
                return 1;
            }
        }

        if (c == '\0' || c == EOF) {
            buf[len] = '\0';

            if (len) {
                statement(conn, buf);
            }

            len = 0;

            if (c == EOF) {
                break;
            }

            continue;
        }

        buf[len++] = (char) c;
    }

    free(buf);
    PQfinish(conn);

    return 0;
}
