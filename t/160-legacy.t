# backend_rpc_legacy and backend_rpc_shadow: what the legacy location is
# sent (paths, renumbered inputs, method, headers, body), what its answers
# become, and the configuration errors.  The legacy server here is a
# location of nginx's own (return); t/e2e/legacy.test.mjs and
# t/e2e/shadow.test.mjs run a real tRPC server.

use Test::Nginx::Socket 'no_plan';

repeat_each(1);
no_shuffle();
no_long_string();
log_level('info');

our $http_config = <<'_EOC_';
    backend_procedure health { type query; tier public; data '{"ok":true}'; }
    backend_procedure echo { type query; tier public; data '"ours"'; }
    backend_procedure add { type mutation; tier public; data '{"added":1}'; }
_EOC_

run_tests();

__DATA__

=== TEST 1: a call alone: the legacy's status and bytes as they are
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; backend_rpc_legacy /_legacy; }
    location /_legacy/ {
        internal;
        default_type application/json;
        return 409 '{"error":{"message":"no","code":-32009,"data":{"code":"CONFLICT","httpStatus":409,"path":"x.y"}}}\n';
    }
--- request
GET /trpc/x.y?input=%7B%22a%22%3A1%7D
--- error_code: 409
--- response_body chomp
{"error":{"message":"no","code":-32009,"data":{"code":"CONFLICT","httpStatus":409,"path":"x.y"}}}
--- response_headers
Content-Type: application/json
--- no_error_log
[error]



=== TEST 2: the legacy location is sent the client's path, query string and headers, but trpc-accept and accept-encoding
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; backend_rpc_legacy /_legacy/; }
    location /_legacy/ {
        internal;
        return 200 '{"result":{"data":"$request_method $uri?$args [$http_authorization] [$http_trpc_accept] [$http_accept_encoding] [$http_x_request_id]"}}';
    }
--- request
GET /trpc/a.b?input=%7B%22a%22%3A1%7D&x=1
--- more_headers
Authorization: Bearer t
Accept-Encoding: gzip
trpc-accept: application/json
X-Request-Id: from-the-client.1
--- response_body chomp
{"result":{"data":"GET /_legacy/a.b?input=%7B%22a%22%3A1%7D&x=1 [Bearer t] [] [] [from-the-client.1]"}}
--- no_error_log
[error]



=== TEST 3: a batch split: the legacy calls in one request, inputs renumbered; the answers merged in order; 207
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; backend_rpc_legacy /_legacy/; }
    location /_legacy/ {
        internal;
        return 200 '[{"result":{"data":"$uri"}},{"error":{"message":"m","code":-32004,"data":{"code":"NOT_FOUND","httpStatus":404,"path":"$args"}}}]';
    }
--- request
GET /trpc/health,x.y,echo,z?batch=1&input=%7B%221%22%3A%7B%22a%22%3A%5B1%2C%22%C3%A9%22%5D%7D%2C%223%22%3A2%7D
--- error_code: 207
--- response_body chomp
[{"result":{"data":{"ok":true}}},{"result":{"data":"/_legacy/x.y,z"}},{"result":{"data":"ours"}},{"error":{"message":"m","code":-32004,"data":{"code":"NOT_FOUND","httpStatus":404,"path":"batch=1&input=%7B%220%22%3A%7B%22a%22%3A%5B1%2C%22%C3%A9%22%5D%7D%2C%221%22%3A2%7D"}}}]
--- no_error_log
[error]



=== TEST 4: a mutation batch split: POST, the legacy calls' inputs as the body
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; backend_rpc_legacy /_legacy/; }
    location /_legacy/ {
        internal;
        return 200 '[{"result":{"data":["$request_method $uri?$args",$request_body]}}]';
    }
--- request
POST /trpc/add,m.n?batch=1
{"0":{"x":1},"1":{"y":[true,null]}}
--- response_body chomp
[{"result":{"data":{"added":1}}},{"result":{"data":["POST /_legacy/m.n?batch=1",{"0":{"y":[true,null]}}]}}]
--- no_error_log
[error]



=== TEST 5: an answer that is not tRPC: BAD_GATEWAY for the legacy calls, the others answered
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; backend_rpc_legacy /_legacy/; }
    location /_legacy/ { internal; return 200 '[{"result":{"data":1}}]'; }
--- request
GET /trpc/x,health,y?batch=1
--- error_code: 207
--- response_body chomp
[{"error":{"message":"Legacy server gave no tRPC answer","code":-32603,"data":{"code":"BAD_GATEWAY","httpStatus":502,"path":"x"}}},{"result":{"data":{"ok":true}}},{"error":{"message":"Legacy server gave no tRPC answer","code":-32603,"data":{"code":"BAD_GATEWAY","httpStatus":502,"path":"y"}}}]
--- error_log
not an array of one envelope per call
--- no_error_log
[error]



=== TEST 6: the legacy location fails: BAD_GATEWAY
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; backend_rpc_legacy /_legacy/; }
    location /_legacy/ { internal; return 500; }
--- request
GET /trpc/x
--- error_code: 502
--- response_body chomp
{"error":{"message":"Legacy server unavailable","code":-32603,"data":{"code":"BAD_GATEWAY","httpStatus":502,"path":"x"}}}
--- no_error_log
[error]



=== TEST 7: a batch's input that is not JSON: the legacy calls of a split batch are BAD_REQUEST
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; backend_rpc_legacy /_legacy/; }
    location /_legacy/ { internal; return 200 '[{"result":{"data":1}}]'; }
--- request
GET /trpc/echo,x?batch=1&input=%7Bnope
--- error_code: 207
--- response_body_like: ^\[\{"result":\{"data":"ours"\}\},\{"error":\{"message":"[^"]+","code":-32600,"data":\{"code":"BAD_REQUEST","httpStatus":400,"path":"x"\}\}\}\]$
--- no_error_log
[error]



=== TEST 8: backend_rpc_legacy takes a location
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; backend_rpc_legacy http://old; }
--- must_die
--- error_log eval
qr/\[emerg\] .*backend_rpc_legacy takes a location \("http:\/\/old"\): proxy_pass it to the legacy tRPC endpoint there in .*nginx\.conf:\d+/



=== TEST 9: backend_rpc_shadow needs backend_rpc_legacy
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; backend_rpc_shadow rate=0.1; }
--- must_die
--- error_log eval
qr/\[emerg\] .*backend_rpc_shadow needs backend_rpc_legacy: the shadow calls go to its location, in .*nginx\.conf:\d+/



=== TEST 10: backend_rpc_shadow names a declared procedure
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; backend_rpc_legacy /l/; backend_rpc_shadow nope rate=1; }
--- must_die
--- error_log eval
qr/\[emerg\] .*backend_rpc_shadow: no procedure "nope" is declared in .*nginx\.conf:\d+/



=== TEST 11: a mutation is shadowed only with "mutations"
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; backend_rpc_legacy /l/; backend_rpc_shadow add rate=1; }
--- must_die
--- error_log eval
qr/\[emerg\] .*backend_rpc_shadow: "add" is a mutation, sent to the legacy server only with "mutations" in .*nginx\.conf:\d+/



=== TEST 12: backend_rpc_shadow needs rate=, and known parameters
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; backend_rpc_legacy /l/; backend_rpc_shadow echo max=3; }
--- must_die
--- error_log eval
qr/\[emerg\] .*backend_rpc_shadow needs rate=, e\.g\. rate=0\.1 in .*nginx\.conf:\d+/



=== TEST 13: rate= over 1 is refused
--- http_config eval: $::http_config
--- config
    location /x/ { backend_rpc; backend_rpc_legacy /l/; backend_rpc_shadow echo rate=2; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "rate=2" in .*nginx\.conf:\d+/



=== TEST 14: empty ignore= path
--- http_config eval: $::http_config
--- config
    location /x/ { backend_rpc; backend_rpc_legacy /l/; backend_rpc_shadow echo rate=1 ignore=a,,b; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "ignore=a,,b" in .*nginx\.conf:\d+/



=== TEST 15: superjson: the legacy calls of a split batch get their inputs as written, even when another call's envelope is refused
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; backend_rpc_transformer superjson; backend_rpc_legacy /_legacy/; }
    location /_legacy/ { internal; return 200 '[{"result":{"data":{"json":"$args"}}}]'; }
--- request
GET /trpc/echo,x?batch=1&input=%7B%220%22%3A%7B%22json%22%3A%5B%5D%2C%22meta%22%3A%7B%22values%22%3A%5B%22map%22%5D%7D%7D%2C%221%22%3A%7B%22json%22%3A%7B%22a%22%3A1%7D%7D%7D
--- response_body chomp
[{"result":{"data":{"json":"ours"}}},{"result":{"data":{"json":"batch=1&input=%7B%220%22%3A%7B%22json%22%3A%7B%22a%22%3A1%7D%7D%7D"}}}]
--- no_error_log
[error]



=== TEST 16: shadow: the same data in another order and spelling matches; the client has ours
--- http_config
    backend_metrics_zone metrics 1m;
    backend_procedure p { tier public; data '{"a":1,"b":[1,2.5,"x"],"c":{"x":null,"y":true},"at":"now"}'; }
--- config
    location /trpc/ { backend_rpc; backend_rpc_legacy /_legacy/; backend_rpc_shadow rate=1 ignore=$.at; }
    location /_legacy/ { internal; return 200 '{"result":{"data":{"c":{"y":true,"x":null},"b":[1.0,25e-1,"x"],"a":1,"at":"then"}}}'; }
    location = /metrics { backend_metrics; }
--- request eval
["GET /trpc/p", "GET /metrics"]
--- response_body_like eval
['^\{"result":\{"data":\{"a":1,"b":\[1,2\.5,"x"\],"c":\{"x":null,"y":true\},"at":"now"\}\}\}$',
 'backend_shadow_calls_total\{procedure="p",outcome="match"\} 1\n(?s:.*)backend_shadow_calls_total\{procedure="p",outcome="mismatch"\} 0\n']
--- no_error_log
[warn]
[error]



=== TEST 17: shadow: the first difference, a missing member, an extra one, a status, a code
--- http_config
    backend_metrics_zone metrics 1m;
    backend_procedure p1 { tier public; data '{"a":[{"t":"one"},{"t":"two"}]}'; }
    backend_procedure p2 { tier public; data '{"a":1}'; }
    backend_procedure p3 { tier public; data '{"a":1}'; }
    backend_procedure p4 { tier public; data '{"a":1}'; }
    backend_procedure p5 { tier protected; data '{"a":1}'; }
--- config
    location /trpc/ { backend_rpc; backend_rpc_legacy /_legacy/; backend_rpc_shadow rate=1; }
    location = /_legacy/p1 { internal; return 200 '{"result":{"data":{"a":[{"t":"one"},{"t":"deux"}]}}}'; }
    location = /_legacy/p2 { internal; return 200 '{"result":{"data":{}}}'; }
    location = /_legacy/p3 { internal; return 200 '{"result":{"data":{"a":1,"b":2}}}'; }
    location = /_legacy/p4 { internal; return 404 '{"error":{"message":"x","code":-32004,"data":{"code":"NOT_FOUND","httpStatus":404}}}'; }
    location = /_legacy/p5 { internal; return 401 '{"error":{"message":"no","code":-32001,"data":{"code":"UNAUTHORIZED","httpStatus":401}}}'; }
    location = /metrics { backend_metrics; }
--- request eval
["GET /trpc/p1", "GET /trpc/p2", "GET /trpc/p3", "GET /trpc/p4", "GET /trpc/p5", "GET /metrics"]
--- error_code eval
[200, 200, 200, 200, 401, 200]
--- response_body_like eval
['"two"', '^\{"result":\{"data":\{"a":1\}\}\}$', '^\{"result":\{"data":\{"a":1\}\}\}$', '^\{"result":\{"data":\{"a":1\}\}\}$', 'UNAUTHORIZED',
 'outcome="mismatch"\} 1\n(?s:.*)outcome="mismatch"\} 1\n(?s:.*)outcome="mismatch"\} 1\n(?s:.*)outcome="mismatch"\} 1\n(?s:.*)procedure="p5",outcome="match"\} 1\n']
--- error_log eval
[qr/\[warn\] .*backend shadow: procedure "p1" request [0-9a-f]+: mismatch at \$\.a\.1\.t/,
 qr/\[warn\] .*backend shadow: procedure "p2" request [0-9a-f]+: mismatch at \$\.a/,
 qr/\[warn\] .*backend shadow: procedure "p3" request [0-9a-f]+: mismatch at \$\.b/,
 qr/\[warn\] .*backend shadow: procedure "p4" request [0-9a-f]+: mismatch at status 200 != 404/]
--- no_error_log
[error]



=== TEST 18: shadow: not JSON is legacy_error; mutations are not sent
--- http_config
    backend_metrics_zone metrics 1m;
    backend_procedure q { tier public; data '1'; }
    backend_procedure m { type mutation; tier public; data '1'; }
--- config
    location /trpc/ { backend_rpc; backend_rpc_legacy /_legacy/; backend_rpc_shadow rate=1; }
    location /_legacy/ { internal; return 200 'maintenance'; }
    location = /metrics { backend_metrics; }
--- request eval
["GET /trpc/q", "POST /trpc/m", "GET /metrics"]
--- response_body_like eval
['^\{"result":\{"data":1\}\}$', '^\{"result":\{"data":1\}\}$',
 'procedure="q",outcome="legacy_error"\} 1\n(?s:.*)procedure="m",outcome="match"\} 0\n(?s:.*)procedure="m",outcome="mismatch"\} 0\n(?s:.*)procedure="m",outcome="legacy_error"\} 0\n']
--- error_log
legacy error: not JSON
--- no_error_log
[error]



=== TEST 19: a legacy location that is a backend_rpc one answers NOT_FOUND, no loop; its shadow calls make no more
--- http_config
    backend_metrics_zone metrics 1m;
    backend_procedure p { tier public; data '1'; }
--- config
    location /trpc/ { backend_rpc; backend_rpc_legacy /trpc/; backend_rpc_shadow rate=1; }
    location = /metrics { backend_metrics; }
--- request eval
["GET /trpc/nope", "GET /trpc/p", "GET /metrics"]
--- error_code eval
[404, 200, 200]
--- response_body_like eval
['^\{"error":\{"message":"No procedure found on path [^,]+,"code":-32004,"data":\{"code":"NOT_FOUND","httpStatus":404,"path":"nope"\}\}\}$',
 '^\{"result":\{"data":1\}\}$',
 'procedure="p",outcome="match"\} 1\n']
--- no_error_log
[error]
