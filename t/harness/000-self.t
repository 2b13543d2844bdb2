# The harness itself: right expectations pass, wrong ones fail.
#
# Each case is a small .t file run by perl in a child process; the case
# says whether that run must pass (exit 0) or fail.

use strict;
use warnings;

use Test::More;
use File::Temp qw(tempdir);
use Cwd qw(abs_path);

my $lib = abs_path('t/lib');
my $dir = tempdir(CLEANUP => 1);

# stock nginx only: these cases do not need the module
delete $ENV{TEST_NGINX_LOAD_MODULES};
$ENV{TEST_NGINX_RANDOMIZE} = 1;
$ENV{TEST_NGINX_HARNESS_WORD} = 'expanded';

my @cases = (
    [pass => 'status and body', <<'_T_'],
--- config
    location = /t { return 200 "hello\n"; }
--- request
GET /t
--- response_body
hello
_T_
    [fail => 'wrong status', <<'_T_'],
--- config
    location = /t { return 201 "hello\n"; }
--- request
GET /t
--- response_body
hello
_T_
    [fail => 'wrong body', <<'_T_'],
--- config
    location = /t { return 200 "hello\n"; }
--- request
GET /t
--- response_body
goodbye
_T_
    [pass => 'body like, one-line error_code, chomp', <<'_T_'],
--- config
    location = /t { return 404 "not here"; }
--- request
GET /t
--- error_code: 404
--- response_body chomp
not here
_T_
    [fail => 'wrong body like', <<'_T_'],
--- config
    location = /t { return 200 "hello\n"; }
--- request
GET /t
--- response_body_like: ^bye
_T_
    [pass => 'headers present, absent, empty', <<'_T_'],
--- config
    location = /t { add_header X-Foo bar; return 200; }
--- request
GET /t
--- response_headers
X-Foo: bar
!X-Missing
X-Empty:
_T_
    [fail => 'header expected absent is present', <<'_T_'],
--- config
    location = /t { add_header X-Foo bar; return 200; }
--- request
GET /t
--- response_headers
!X-Foo
_T_
    [fail => 'header with a wrong value', <<'_T_'],
--- config
    location = /t { add_header X-Foo bar; return 200; }
--- request
GET /t
--- response_headers
X-Foo: baz
_T_
    [pass => 'error_log finds this request\'s line', <<'_T_'],
--- config
--- request
GET /no-such-file
--- error_code: 404
--- error_log
No such file or directory
_T_
    [fail => 'error_log pattern that is not there', <<'_T_'],
--- config
    location = /t { return 200; }
--- request
GET /t
--- error_log
this text is not in the log
_T_
    [fail => 'no_error_log pattern that is there', <<'_T_'],
--- config
--- request
GET /no-such-file
--- error_code: 404
--- no_error_log
[error]
_T_
    [pass => 'must_die with an invalid configuration', <<'_T_'],
--- config
    no_such_directive on;
--- must_die
--- error_log
unknown directive "no_such_directive"
_T_
    [fail => 'must_die with a valid configuration', <<'_T_'],
--- config
    location = /t { return 200; }
--- must_die
_T_
    [pass => 'request eval arrays, $TEST_NGINX_ expansion, more_headers', <<'_T_'],
--- config
    location = /a { return 200 "a $http_x_word\n"; }
    location = /b { return 201 "$TEST_NGINX_HARNESS_WORD\n"; }
--- more_headers
X-Word: w
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[200, 201]
--- response_body eval
["a w\n", "expanded\n"]
_T_
    [fail => 'request eval arrays: one wrong body', <<'_T_'],
--- config
    location = /a { return 200 "a\n"; }
    location = /b { return 200 "b\n"; }
--- request eval
["GET /a", "GET /b"]
--- response_body eval
["a\n", "a\n"]
_T_
    [pass => 'user_files and a POST body', <<'_T_'],
--- config
    location = /p { return 200 "$request_method $content_length\n"; }
--- user_files
>>> f.txt
file content
--- request eval
["GET /f.txt", "POST /p\nabc"]
--- response_body eval
["file content\n", "POST 3\n"]
_T_
);

my $n = 0;

for my $case (@cases) {
    my ($want, $name, $block) = @$case;

    $n++;
    my $file = "$dir/case$n.t";

    open my $fh, '>', $file or die "$file: $!";
    print $fh "use Test::Nginx::Socket 'no_plan';\nno_long_string();\n"
              . "run_tests();\n__DATA__\n\n=== TEST 1: $name\n$block";
    close $fh;

    my $out = `$^X -I$lib $file 2>&1`;
    my $rc = $? >> 8;

    if ($want eq 'pass') {
        ok($rc == 0 && $out =~ /^ok /m && $out !~ /^not ok/m,
           "passes: $name") or diag($out);

    } else {
        ok($rc != 0 && $out =~ /^not ok/m, "fails: $name") or diag($out);
    }
}

done_testing();
