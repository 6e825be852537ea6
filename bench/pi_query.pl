#!/usr/bin/perl
# Query worker for bench/search.py: one long-lived public-inbox process.
#
#   PI_CONFIG=... perl bench/pi_query.pl NAME
#
# Loads inbox NAME from $PI_CONFIG once, then for each line on stdin
# (a query, UTF-8, one per line) does what public-inbox-httpd's search page
# does for ?q=: query_approxidate (runs git for d:/dt:/rt: terms), mset
# (Xapian QueryParser + Enquire, newest first, limit 200), then mset_to_smsg
# (the overview rows of the hits, from over.sqlite3) and collects their
# Message-IDs.  The time is taken with Time::HiRes around those steps only.
# Replies one line per query: "OK\t<matches_estimated>\t<hits>\t<seconds>"
# or "ERR\t<message>".
use strict;
use v5.10.1;
use Time::HiRes qw(clock_gettime CLOCK_MONOTONIC);
use PublicInbox::Config;

my $name = shift // die "usage: $0 NAME\n";
my $limit = shift // 200;
my $cfg = PublicInbox::Config->new;
my $ibx = $cfg->lookup_name($name) // die "no inbox $name in $ENV{PI_CONFIG}\n";
my $srch = $ibx->isrch // die "$name has no Xapian index\n";
$srch->xdb; # open the shards now, not inside the first timed query
$ibx->over;
binmode STDIN, ':encoding(UTF-8)';
binmode STDOUT, ':encoding(UTF-8)';
$| = 1;
say "READY";
while (defined(my $q = <STDIN>)) {
	chomp $q;
	my ($total, $n);
	my $t0 = clock_gettime(CLOCK_MONOTONIC);
	my $ok = eval {
		my $s = $q;
		$srch->query_approxidate($ibx->git, $s);
		my $mset = $srch->mset($s, { limit => $limit });
		my $msgs = $srch->mset_to_smsg($ibx, $mset);
		my @mids = map { $_->{mid} } @$msgs;
		$total = $mset->get_matches_estimated;
		$n = scalar(@mids);
		1;
	};
	my $dt = clock_gettime(CLOCK_MONOTONIC) - $t0;
	if ($ok) {
		say "OK\t$total\t$n\t$dt";
	} else {
		my $err = "$@";
		$err =~ s/\s+/ /g;
		say "ERR\t$err";
	}
}
