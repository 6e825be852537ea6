#!/usr/bin/perl -w
# Differential-test helper: decode bytes with Perl's Encode as public-inbox
# does.  Each stdin line is "<encoding>\t<hex bytes>\t<mode>"; mode "default"
# is FB_DEFAULT (MIME words, RFC 2231), "warn" is FB_WARN turned into a
# failure as Eml::body_str does.  Prints the result's characters as UTF-8
# hex, "ERR" when the decoder warned or died, "NOENC" for an unknown name.
use strict;
use Encode;
binmode STDOUT;
while (my $l = <STDIN>) {
	chomp $l;
	my ($name, $hx, $mode) = split /\t/, $l;
	my $enc = Encode::find_encoding($name) or do { print "NOENC\n"; next };
	my $b = pack('H*', $hx);
	my @w;
	local $SIG{__WARN__} = sub { push @w, @_ };
	my $s = eval {
		$enc->decode($b, $mode eq 'warn' ? Encode::FB_WARN : Encode::FB_DEFAULT)
	};
	if (!defined($s) || ($mode eq 'warn' && @w)) {
		print "ERR\n";
		next;
	}
	utf8::encode($s);
	print unpack('H*', $s), "\n";
}
