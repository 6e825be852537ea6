#!/usr/bin/perl -w
# Differential-test helper: reads messages from stdin framed as
# "<length>\n<bytes>" and prints, for each, what public-inbox computes:
#   C <sha1 of chunk> <length>   one line per Digest::SHA->add() call
#   P <depth>\t<idx>\t<type/subtype>\t<filename utf8 hex or ->\t<len(body)>
#   T <msg_datestamp with fallback 0>
#   D <digest2mid>
#   H <hex content_hash>
#   E
use strict;
use v5.10.1;
use PublicInbox::Eml;
use PublicInbox::MsgIter;
use PublicInbox::ContentHash qw(content_digest);
use PublicInbox::MsgTime qw(msg_datestamp);
use PublicInbox::Import;
use Digest::SHA qw(sha1_hex);
$SIG{__WARN__} = sub {};
binmode STDIN; binmode STDOUT;

package Recorder {
	sub new { bless { d => Digest::SHA->new(256), c => [] }, shift }
	sub add {
		my $self = shift;
		for (@_) {
			push @{$self->{c}}, $_;
			$self->{d}->add($_);
		}
	}
	sub clone { $_[0]->{d}->clone }
}

while (defined(my $len = <STDIN>)) {
	chomp $len;
	my $raw = '';
	while (length($raw) < $len) {
		my $n = read(STDIN, $raw, $len - length($raw), length($raw));
		die "short read" unless $n;
	}
	my $out = '';
	my $rec = Recorder->new;
	eval {
		content_digest(PublicInbox::Eml->new(\(my $c = $raw)), $rec);
		for my $c (@{$rec->{c}}) {
			$out .= 'C '.sha1_hex($c).' '.length($c)."\n";
		}
		my $eml = PublicInbox::Eml->new(\(my $c2 = $raw));
		msg_iter($eml, sub {
			my ($part, $depth, @idx) = @{$_[0]};
			my $ct = $part->ct;
			my $fn = $part->filename;
			if (defined $fn) {
				utf8::encode($fn);
				$fn = unpack('H*', $fn);
				$fn = '' if $fn eq '';
			}
			my $b = $part->body;
			$out .= "P $depth\t".join('.', @idx)."\t".
				lc("$ct->{type}/$ct->{subtype}")."\t".
				($fn // '-')."\t".length($b)."\n";
		});
		my $e3 = PublicInbox::Eml->new(\(my $c3 = $raw));
		my $ts = msg_datestamp($e3, 0);
		$out .= "T $ts\n";
		$out .= 'D '.PublicInbox::Import::digest2mid($rec, $e3, 0)."\n";
		$out .= 'H '.unpack('H*', $rec->{d}->clone->digest)."\n";
		1;
	} or do {
		my $err = $@;
		$err =~ tr/\n/ /;
		$out .= "X $err\n";
	};
	print $out, "E\n";
	STDOUT->flush;
}
