#!/usr/bin/perl
# nginx's code style, the mechanical part: for each line of the C files
# given, reports lines longer than 80 columns, tabs, trailing blanks and
# C++ ("//") comments as FILE:LINE: message.  Exit 1 if any.
#   usage: tools/lint-style.pl FILE...
use strict;
use warnings;

my $bad = 0;

for my $file (@ARGV) {
    open my $fh, '<', $file or die "$file: $!\n";
    my $in_comment = 0;

    while (my $line = <$fh>) {
        chomp $line;
        my $n = $.;
        my @what;

        push @what, 'tab' if $line =~ /\t/;
        push @what, 'trailing blank' if $line =~ /[ \t\r]$/;

        my $len = length $line;
        push @what, "$len columns (max 80)" if $len > 80;

        # "//" outside string and character literals and /* */ comments
        my $code = '';
        my $rest = $line;
        while (length $rest) {
            if ($in_comment) {
                if ($rest =~ s{^.*?\*/}{}s) { $in_comment = 0; next; }
                last;
            }
            if ($rest =~ s{^/\*}{}) { $in_comment = 1; next; }
            if ($rest =~ s{^"(?:[^"\\]|\\.)*"?}{}) { $code .= '""'; next; }
            if ($rest =~ s{^'(?:[^'\\]|\\.)*'?}{}) { $code .= "''"; next; }
            $rest =~ s{^(.)}{}s;
            $code .= $1;
        }
        push @what, '"//" comment' if $code =~ m{//};

        for (@what) {
            print "$file:$n: $_\n";
            $bad = 1;
        }
    }
    close $fh;
}

exit $bad;
