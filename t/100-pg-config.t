# Mistakes in a procedure found at configuration time (nginx -t), each
# [emerg] pointing at the line of the directive it is about: placeholders
# with a gap, and the checks made at the block's closing brace.

use Test::Nginx::Socket 'no_plan';

repeat_each(1);
no_shuffle();
no_long_string();

run_tests();

__DATA__

=== TEST 1: placeholders with a gap are refused, at the sql line
--- http_config
    backend_pg main "host=127.0.0.1 dbname=x";
    include ../html/procs.conf;
--- user_files
>>> procs.conf
backend_procedure p {
    tier public;
    sql "select $1::int, $3::int";
    params input.a input.b input.c;
}
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*procedure "p": "sql" does not use \$2: placeholders must be \$1 to \$N without a gap in \S*procs\.conf:3$/



=== TEST 2: $0 is refused
--- http_config
    backend_pg main "host=127.0.0.1 dbname=x";
    include ../html/procs.conf;
--- user_files
>>> procs.conf
backend_procedure p {
    tier public;

    sql "select $0::int";
    params input;
}
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*procedure "p": "sql" uses \$0, placeholders start at \$1 in \S*procs\.conf:4$/



=== TEST 3: a gap in placeholders that are all listed in a different order still counts
--- http_config
    backend_pg main "host=127.0.0.1 dbname=x";
    include ../html/procs.conf;
--- user_files
>>> procs.conf
backend_procedure p {
    tier public;
    sql "select $4::int, '$2', $1::int, $3::int";
    params input.a input.b input.c input.d;
}
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"sql" does not use \$2: .* in \S*procs\.conf:3$/



=== TEST 4: params that do not match the placeholders: the params line
--- http_config
    backend_pg main "host=127.0.0.1 dbname=x";
    include ../html/procs.conf;
--- user_files
>>> procs.conf
backend_procedure p {
    sql "select $1::int, $2::int";
    tier public;
    params input.a;
    result one;
}
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*procedure "p": "sql" uses 2 parameters but "params" lists 1 in \S*procs\.conf:4$/



=== TEST 5: no tier: the line that opens the block
--- http_config
    include ../html/procs.conf;
--- user_files
>>> procs.conf

backend_procedure p {
    type query;
    data '1';
}
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*procedure "p" has no "tier" in \S*procs\.conf:2$/



=== TEST 6: sql and data: the second of them
--- http_config
    backend_pg main "host=127.0.0.1 dbname=x";
    include ../html/procs.conf;
--- user_files
>>> procs.conf
backend_procedure p {
    tier public;
    data '1';
    sql "select 1";
    type query;
}
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*procedure "p" has both "sql" and "data" in \S*procs\.conf:4$/



=== TEST 7: result without sql: the result line
--- http_config
    include ../html/procs.conf;
--- user_files
>>> procs.conf
backend_procedure p {
    tier public;
    data '1';
    result one;
    type query;
}
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*procedure "p" has "params", "database", "invalidate" or "result" but no "sql" in \S*procs\.conf:4$/



=== TEST 8: an unterminated quote: the sql line
--- http_config
    backend_pg main "host=127.0.0.1 dbname=x";
    include ../html/procs.conf;
--- user_files
>>> procs.conf
backend_procedure p {
    tier public;
    sql "select 'oops";
    type query;
}
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*procedure "p": unterminated quote or comment in "sql" in \S*procs\.conf:3$/



=== TEST 9: an unknown tier: the tier line
--- http_config
    include ../html/procs.conf;
--- user_files
>>> procs.conf
backend_procedure p {
    data '1';
    tier nosuchtier;
    type query;
}
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*procedure "p" has unknown tier "nosuchtier" .* in \S*procs\.conf:3$/



=== TEST 10: no backend_pg: the sql line
--- http_config
    include ../html/procs.conf;
--- user_files
>>> procs.conf
backend_procedure p {
    tier public;
    sql "select 1";
    type query;
}
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*procedure "p" needs a database: no backend_pg is defined in \S*procs\.conf:3$/



=== TEST 11: placeholders without a gap still load
--- http_config
    backend_pg main "host=127.0.0.1 dbname=x";
    include ../html/procs.conf;
--- user_files
>>> procs.conf
backend_procedure p {
    tier public;
    sql "select $2::int, $1::int, '$9', $1::int";
    params input.a input.b;
}
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]
