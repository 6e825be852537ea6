#!/usr/bin/perl -w
# Differential-test helper: for each hex-encoded line on stdin, print
# emails, names and format(parse_email_groups) from Email::Address::XS
# through PublicInbox::Address (hex, lists joined by NUL).
use strict;
use PublicInbox::Address;
use Email::Address::XS qw(parse_email_groups format_email_groups);
$SIG{__WARN__} = sub {};
while (my $l = <STDIN>) {
	chomp $l;
	my $s = pack('H*', $l);
	my @e = PublicInbox::Address::emails($s);
	my @n = PublicInbox::Address::names($s);
	my $f = format_email_groups(parse_email_groups($s));
	print join("\t", map { unpack('H*', $_) } join("\0", @e),
		join("\0", @n), $f), "\n";
}
