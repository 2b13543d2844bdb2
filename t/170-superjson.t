# backend_rpc_transformer superjson on the wire: envelopes of results (a
# Date's meta by result kind), errors, batches, JSON lines, inputs; the
# directive's and the x-superjson keyword's configuration errors.  The
# real superjson and @trpc/client: t/e2e/superjson.test.mjs.

use Test::Nginx::Socket 'no_plan';

repeat_each(1);
no_shuffle();
no_long_string();
log_level('info');

$ENV{TEST_NGINX_PG_HOST} ||= '127.0.0.1';
$ENV{TEST_NGINX_PG_PORT} ||= 5432;
$ENV{TEST_NGINX_PG_DATABASE} ||= 'backend_test';
$ENV{TEST_NGINX_PG_USER} ||= 'postgres';

our $http_config = <<'_EOC_';
    backend_pg main "host=$TEST_NGINX_PG_HOST port=$TEST_NGINX_PG_PORT dbname=$TEST_NGINX_PG_DATABASE user=$TEST_NGINX_PG_USER";
    backend_procedure rows {
        tier    public;
        sql     "select 1 as id, '2025-06-02 14:00:00.5+00'::timestamptz as \"a.t\",
                        null::timestamp as n
                 union all
                 select 2, 'infinity', '2020-01-01 00:00:00'";
    }
    backend_procedure row {
        tier    public;
        sql     "select '2025-06-02 14:00:00+00'::timestamptz as at";
        result  one;
    }
    backend_procedure at {
        tier    public;
        sql     "select $1::timestamptz";
        params  input;
        result  value;
    }
    backend_procedure since {
        tier    public;
        input   $TEST_NGINX_SERVER_ROOT/html/s.json;
        sql     "select $1::timestamptz as since";
        params  input.since;
        result  one;
    }
    backend_procedure arrays {
        tier    public;
        sql     "select array[null, '2025-06-02 14:00:00+00'::timestamptz] as \"a.b\"
                 union all
                 select '{{\"2020-01-01 00:00:00+00\",infinity},{NULL,\"2021-01-01 00:00:00+00\"}}'";
    }
    backend_procedure secret { tier protected; data '1'; }
    backend_procedure ok { tier public; data '{"ok":true}'; }
_EOC_

our $schema = <<'_EOS_';
>>> s.json
{"type": "object",
 "properties": {"since": {"type": "string", "format": "date-time", "x-superjson": "Date"}},
 "required": ["since"]}
_EOS_

our $config = <<'_EOC_';
    location /trpc/ { backend_rpc; }
    location /sj/ { backend_rpc; backend_rpc_transformer superjson; }
_EOC_

run_tests();

__DATA__

=== TEST 1: result many: the Dates' paths row by row, escaped keys; null and infinity unmarked
--- http_config eval: $::http_config
--- user_files eval: $::schema
--- config eval: $::config
--- request
GET /sj/rows
--- response_body chomp
{"result":{"data":{"json":[{"id":1,"a.t":"2025-06-02T14:00:00.500Z","n":null},{"id":2,"a.t":null,"n":"2020-01-01T00:00:00.000Z"}],"meta":{"values":{"0.a\\.t":["Date"],"1.n":["Date"]},"v":1}}}}
--- no_error_log
[error]



=== TEST 2: result one and value; a constant has no meta; the JSON location unchanged
--- http_config eval: $::http_config
--- user_files eval: $::schema
--- config eval: $::config
--- request eval
["GET /sj/row", "GET /sj/at?input=%7B%22json%22%3A%222031-01-02T03%3A04%3A05.678Z%22%2C%22meta%22%3A%7B%22values%22%3A%5B%22Date%22%5D%2C%22v%22%3A1%7D%7D", "GET /sj/ok", "GET /trpc/row"]
--- error_code eval
[200, 200, 200, 200]
--- response_body eval
["{\"result\":{\"data\":{\"json\":{\"at\":\"2025-06-02T14:00:00.000Z\"},\"meta\":{\"values\":{\"at\":[\"Date\"]},\"v\":1}}}}",
 "{\"result\":{\"data\":{\"json\":\"2031-01-02T03:04:05.678Z\",\"meta\":{\"values\":[\"Date\"],\"v\":1}}}}",
 "{\"result\":{\"data\":{\"json\":{\"ok\":true}}}}",
 "{\"result\":{\"data\":{\"at\":\"2025-06-02T14:00:00.000Z\"}}}"]
--- no_error_log
[error]



=== TEST 3: errors are {"error":{"json":...}}, each call's of a batch
--- http_config eval: $::http_config
--- user_files eval: $::schema
--- config eval: $::config
--- request eval
["GET /sj/ok,secret,nope?batch=1", "POST /sj/ok,at?batch=1"]
--- error_code eval
[207, 405]
--- response_body eval
["[{\"result\":{\"data\":{\"json\":{\"ok\":true}}}},{\"error\":{\"json\":{\"message\":\"UNAUTHORIZED\",\"code\":-32001,\"data\":{\"code\":\"UNAUTHORIZED\",\"httpStatus\":401,\"path\":\"secret\"}}}},{\"error\":{\"json\":{\"message\":\"No procedure found on path \\\"nope\\\"\",\"code\":-32004,\"data\":{\"code\":\"NOT_FOUND\",\"httpStatus\":404,\"path\":\"nope\"}}}}]",
 "[{\"error\":{\"json\":{\"message\":\"Unsupported POST-request to query procedure at path \\\"ok\\\"\",\"code\":-32005,\"data\":{\"code\":\"METHOD_NOT_SUPPORTED\",\"httpStatus\":405,\"path\":\"ok\"}}}},{\"error\":{\"json\":{\"message\":\"Unsupported POST-request to query procedure at path \\\"at\\\"\",\"code\":-32005,\"data\":{\"code\":\"METHOD_NOT_SUPPORTED\",\"httpStatus\":405,\"path\":\"at\"}}}}]"]
--- no_error_log
[error]



=== TEST 4: streaming: each JSON line one envelope, the Date's path in the head
--- http_config eval: $::http_config
--- user_files eval: $::schema
--- config eval: $::config
--- more_headers
trpc-accept: application/jsonl
--- request
GET /sj/ok,row?batch=1
--- response_body_like: ^\{"json":\{"0":\[\[\{"result":\{"data":\{"ok":true\}\}\}\]\],"1":\[\[0\],\[null,0,1\]\]\}\}\n\{"json":\[1,0,\[\[\{"result":\{"data":\{"at":"2025-06-02T14:00:00.000Z"\}\}\}\]\]\],"meta":\{"values":\{"2.0.0.result.data.at":\["Date"\]\},"v":1\}\}\n$
--- no_error_log
[error]



=== TEST 5: input: a Date where the schema wants one; a string refused as Zod refuses it
--- http_config eval: $::http_config
--- user_files eval: $::schema
--- config eval: $::config
--- request eval
["GET /sj/since?input=%7B%22json%22%3A%7B%22since%22%3A%22-000001-06-01T00%3A00%3A00.000Z%22%7D%2C%22meta%22%3A%7B%22values%22%3A%7B%22since%22%3A%5B%22Date%22%5D%7D%2C%22v%22%3A1%7D%7D",
  "GET /sj/since?input=%7B%22json%22%3A%7B%22since%22%3A%222020-01-01T00%3A00%3A00.000Z%22%7D%7D",
  "GET /sj/at?input=%7B%22json%22%3A%22x%22%2C%22meta%22%3A%7B%22values%22%3A%5B%22set%22%5D%2C%22v%22%3A1%7D%7D"]
--- error_code eval
[200, 400, 400]
--- response_body eval
["{\"result\":{\"data\":{\"json\":{\"since\":\"-000001-06-01T00:00:00.000Z\"},\"meta\":{\"values\":{\"since\":[\"Date\"]},\"v\":1}}}}",
 "{\"error\":{\"json\":{\"message\":\"[\\n  {\\n    \\\"expected\\\": \\\"date\\\",\\n    \\\"code\\\": \\\"invalid_type\\\",\\n    \\\"path\\\": [\\n      \\\"since\\\"\\n    ],\\n    \\\"message\\\": \\\"Invalid input: expected date, received string\\\"\\n  }\\n]\",\"code\":-32600,\"data\":{\"code\":\"BAD_REQUEST\",\"httpStatus\":400,\"path\":\"since\",\"zodError\":{\"formErrors\":[],\"fieldErrors\":{\"since\":[\"Invalid input: expected date, received string\"]}}}}}}",
 "{\"error\":{\"json\":{\"message\":\"Invalid superjson input: unsupported type \\\"set\\\" at \\\"\\\"\",\"code\":-32600,\"data\":{\"code\":\"BAD_REQUEST\",\"httpStatus\":400,\"path\":\"at\"}}}}"]
--- no_error_log
[error]



=== TEST 6: arrays: each timestamp element's indexes after the column's path
--- http_config eval: $::http_config
--- user_files eval: $::schema
--- config eval: $::config
--- request
GET /sj/arrays
--- response_body chomp
{"result":{"data":{"json":[{"a.b":[null,"2025-06-02T14:00:00.000Z"]},{"a.b":[["2020-01-01T00:00:00.000Z",null],[null,"2021-01-01T00:00:00.000Z"]]}],"meta":{"values":{"0.a\\.b.1":["Date"],"1.a\\.b.0.0":["Date"],"1.a\\.b.1.1":["Date"]},"v":1}}}}
--- no_error_log
[error]



=== TEST 7: backend_rpc_transformer takes json or superjson
--- config
    location /trpc/ { backend_rpc; backend_rpc_transformer devalue; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid value "devalue" in .*nginx\.conf:\d+/



=== TEST 8: x-superjson names Date only
--- http_config eval: $::http_config
--- user_files
>>> s.json
{"type": "object", "properties": {"since": {"x-superjson": "Map"}}}
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid schema ".*s\.json": \/properties\/since\/x-superjson: must be "Date" in .*nginx\.conf:\d+/
