# Configuration errors: nginx refuses to start, naming the file and line.

use Test::Nginx::Socket 'no_plan';

repeat_each(1);
no_shuffle();
no_long_string();

run_tests();

__DATA__

=== TEST 1: tier is required
--- http_config
    backend_procedure p { type query; data '1'; }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*procedure "p" has no "tier" in .*nginx\.conf:\d+/



=== TEST 2: sql placeholders and params must agree
--- http_config
    backend_pg main "host=127.0.0.1 dbname=x";
    backend_procedure p { tier public; sql "select $1, $2"; params input.a; }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*procedure "p": "sql" uses 2 parameters but "params" lists 1 in .*nginx\.conf:\d+/



=== TEST 3: duplicate procedures, regardless of case
--- http_config
    backend_procedure a.b { tier public; data '1'; }
    backend_procedure A.b { tier public; data '2'; }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*duplicate procedure "A\.b", first defined in .*nginx\.conf:\d+/



=== TEST 4: unknown directive inside a procedure
--- http_config
    backend_procedure p { tier public; sqll "select 1"; }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown directive "sqll" in backend_procedure in .*nginx\.conf:\d+/



=== TEST 5: invalid JSON in data
--- http_config
    backend_procedure p { tier public; data '{"a":'; }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid JSON in "data": .* in .*nginx\.conf:\d+/



=== TEST 6: a malformed connection string
--- http_config
    backend_pg main "host=127.0.0.1 nosuchkeyword=1";
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid connection string .*nosuchkeyword.* in .*nginx\.conf:\d+/



=== TEST 7: sslmode prefer may reconnect under us: refused
--- http_config
    backend_pg main "host=127.0.0.1 sslmode=prefer";
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*sslmode "prefer" is not supported in "main"/



=== TEST 8: a procedure with sql needs a database
--- http_config
    backend_procedure p { tier public; sql "select 1"; }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*procedure "p" needs a database: no backend_pg is defined in .*nginx\.conf:\d+/



=== TEST 9: unknown context fields and malformed params
--- http_config
    backend_pg main "host=127.0.0.1";
    backend_procedure p { tier public; sql "select $1"; params ctx.nope; }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown context field "ctx\.nope" in .*nginx\.conf:\d+/



=== TEST 10: invalid backend_pg parameters
--- http_config
    backend_pg main "host=127.0.0.1" max=0;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "max=0" in .*nginx\.conf:\d+/



=== TEST 11: unknown host at configuration time
--- http_config
    backend_pg main "host=no-such-host.invalid dbname=x";
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*host "no-such-host\.invalid" of "main" not found/



=== TEST 12: a valid configuration starts
--- http_config
    backend_pg main "postgresql://u@127.0.0.1:5432/db?sslmode=disable" max=2 queue=10 queue_timeout=2s connect_timeout=1s query_timeout=3s max_lifetime=10m max_requests=100;
    backend_tier admin admin;
    backend_procedure p {
        type     mutation;
        tier     admin;
        sql      "select $1, $2, '$3 in a string', $$ $4 in a dollar quote $$ -- $5
                  /* $6 */";
        params   input.a ctx.user_id;
        result   one;
        database main;
    }
--- config
    location /trpc/ { backend_rpc; }
--- request
GET /trpc/p
--- error_code: 405
--- no_error_log
[error]



=== TEST 13: a tier must be public, protected, or defined
--- http_config
    backend_procedure p { tier staff; data '1'; }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*procedure "p" has unknown tier "staff" \(public, protected, or one of backend_tier\) in \S+nginx\.conf:\d+/



=== TEST 14: built-in tiers cannot be redefined
--- http_config
    backend_tier protected admin;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*duplicate tier "protected" in \S+nginx\.conf:\d+/



=== TEST 15: a missing key file names the file
--- http_config
    backend_auth_jwks /nonexistent/jwks.json;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*open\(\) "\/nonexistent\/jwks\.json" failed .* in \S+nginx\.conf:\d+/



=== TEST 16: a PEM file that is no key
--- http_config
    backend_auth_key nginx.conf kid=x;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid key in "nginx\.conf"/



=== TEST 17: the user statement may use $1..$3 only
--- http_config
    backend_pg main "host=127.0.0.1 dbname=x";
    backend_auth_user "select * from users where clerk_id = $1 and x = $4";
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*backend_auth_user statement must use \$1/



=== TEST 18: the user statement needs a database
--- http_config
    backend_auth_user "select id, role from users where clerk_id = $1";
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*backend_auth_user needs a database: no backend_pg is defined in \S+nginx\.conf:\d+/



=== TEST 19: session zone syntax
--- http_config
    backend_session_zone sessions ttl=1m;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid zone "sessions": expected name:size/



=== TEST 20: Redis parameters
--- http_config
    backend_session_zone sessions:1m;
    backend_session_redis 127.0.0.1:6379 timeout=fast;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "timeout=fast"/



=== TEST 21: "invalidate" needs an SQL statement
--- http_config
    backend_procedure p { tier public; data '1'; invalidate user id; }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*procedure "p" has "params", "database", "invalidate" or "result" but no "sql"/



=== TEST 22: the auth configuration of the reference app starts
--- http_config
    backend_pg main "host=127.0.0.1 dbname=x";
    backend_tier mentorado mentorado admin;
    backend_tier admin admin;
    backend_auth_user "select id, email, role from users where clerk_id = $1";
    backend_auth_issuer https://clerk.example;
    backend_auth_authorized_parties https://app.example http://localhost:3000;
    backend_auth_leeway 10s;
    backend_auth_no_user forbidden 2s;
    backend_session_zone sessions:1m ttl=30s;
    backend_procedure me { tier protected; data ctx.user; }
    backend_procedure m { tier mentorado; data '"m"'; }
--- config
    location /trpc/ { backend_rpc; }
--- request
GET /trpc/m
--- error_code: 401
--- response_body_like: "code":"UNAUTHORIZED"
--- no_error_log
[error]



=== TEST 23: a webhook endpoint needs its secret
--- http_config
    backend_pg main "host=127.0.0.1 dbname=x";
--- config
    location = /wh {
        backend_webhook svix;
        backend_webhook_sql "select status from app.receive_clerk_webhook($1, $2, $3::jsonb)";
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*backend_webhook needs backend_webhook_secret/



=== TEST 24: only Svix webhooks
--- config
    location = /wh { backend_webhook stripe; }
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown webhook scheme "stripe": only "svix" \(Clerk's\) is supported in \S+nginx\.conf:\d+/



=== TEST 25: the webhook statement takes id, type and payload
--- http_config
    backend_pg main "host=127.0.0.1 dbname=x";
--- config
    location = /wh { backend_webhook svix; backend_webhook_sql "select $1"; }
--- must_die
--- error_log eval
qr/\[emerg\] .*backend_webhook_sql must use \$1 \(the message id\), \$2 \(the event type\) and \$3 \(the payload\)/



=== TEST 26: a secret file with no whsec_ secret
--- user_files
>>> secret
   
--- config
    location = /wh { backend_webhook svix; backend_webhook_secret ../html/secret; }
--- must_die
--- error_log eval
qr/\[emerg\] .*no webhook secret in ..\/html\/secret/



=== TEST 27: an unsigned delivery is 400, a GET 405, in JSON
--- user_files
>>> secret
whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
--- http_config
    backend_pg main "host=127.0.0.1 dbname=x";
--- config
    location = /wh {
        backend_webhook svix;
        backend_webhook_secret ../html/secret;
        backend_webhook_sql "select status, clerk_user from app.receive_clerk_webhook($1, $2, $3::jsonb)";
    }
--- request eval
["POST /wh\n{\"type\":\"user.created\"}", "GET /wh"]
--- error_code eval
[400, 405]
--- response_body eval
['{"error":"missing required headers"}', '{"error":"method not allowed"}']
--- no_error_log
[error]



=== TEST 28: a webhook body over client_max_body_size is a 413 in JSON, chunked too
--- user_files
>>> secret
whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
--- http_config
    backend_pg main "host=127.0.0.1 dbname=x";
--- config
    location = /wh {
        client_max_body_size 16;
        backend_webhook svix;
        backend_webhook_secret ../html/secret;
        backend_webhook_sql "select status, clerk_user from app.receive_clerk_webhook($1, $2, $3::jsonb)";
    }
--- raw_request eval
["POST /wh HTTP/1.1\r
Host: localhost\r
Connection: close\r
Content-Length: 20\r
\r
{\"a\":\"0123456789ab\"}",
"POST /wh HTTP/1.1\r
Host: localhost\r
Connection: close\r
Transfer-Encoding: chunked\r
\r
14\r
{\"a\":\"0123456789ab\"}\r
0\r
\r
"]
--- error_code eval
[413, 413]
--- response_body eval
['{"error":"payload too large"}', '{"error":"payload too large"}']
--- no_error_log
[error]
