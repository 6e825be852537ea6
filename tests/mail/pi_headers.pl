#!/usr/bin/perl -w
# Differential-test helper: how public-inbox decodes the headers of a
# message on each of its paths.  Reads messages framed "<length>\n<bytes>"
# on stdin and prints, for each one (strings as hex of their UTF-8 bytes):
#   H <part> <flag> <name> <hex>   display: Eml header_str of every field of
#                                  the message (part "top") and of every
#                                  attached message (part = its index path),
#                                  one line per value, with the utf8 flag
#   S <part> <field> <hex>         search: what Smsg->populate gives
#                                  SearchIdx for from, to, cc and subject
#   F <part> <hex>|-               a part's file name (search XFN, page, hash)
#   D <part> <hex>                 a part's Content-Description (page, hash)
#   C <hex>|=<sha1>                content hash: each chunk fed to the digest
#                                  (=sha1 for chunks over 4 KiB)
#   E                              end of this message
# The field names are the message's own, except that a name public-inbox
# decodes (From, Subject...) is asked for with its canonical spelling, as
# public-inbox's callers do (Eml's decode tables are case-sensitive).
use strict;
use v5.10.1;
use PublicInbox::Eml;
use PublicInbox::Smsg;
use PublicInbox::MsgIter;
use PublicInbox::ContentHash qw(content_digest);
use Digest::SHA qw(sha1_hex);
$SIG{__WARN__} = sub {};
binmode STDIN; binmode STDOUT;

my @CANON = (qw(From To Cc Sender Reply-To Bcc Subject Content-Description
	Content-Type), map { "Resent-$_" } qw(From To Cc Sender Reply-To Bcc));
my %CANON = map { lc($_) => $_ } @CANON;

sub hx { my ($s) = @_; utf8::encode($s); unpack('H*', $s) }

sub names {
	my ($eml) = @_;
	my (@n, %seen);
	for my $line (split(/\n/, ${$eml->{hdr}})) {
		next if $line eq '' || $line =~ /\A[ \t]/;
		my ($k) = ($line =~ /\A([^:]*):/) or next;
		$k =~ s/[ \t]+\z//;
		next if $k eq '' || $k =~ /[ \t]/;
		next if $seen{lc $k}++;
		push @n, $CANON{lc $k} // $k;
	}
	@n;
}

sub display {
	my ($part, $eml) = @_;
	my $out = '';
	for my $name (names($eml)) {
		for my $v ($eml->header_str($name)) {
			$out .= "H $part ".(utf8::is_utf8($v) ? 1 : 0).
				" $name ".hx($v)."\n";
		}
	}
	$out;
}

sub search {
	my ($part, $eml) = @_;
	my $smsg = bless {}, 'PublicInbox::Smsg';
	$smsg->populate($eml);
	join('', map { "S $part $_ ".hx($smsg->{$_})."\n" } qw(from to cc subject));
}

package Recorder {
	sub new { bless { c => [] }, shift }
	sub add { my $self = shift; push @{$self->{c}}, @_ }
}

while (defined(my $len = <STDIN>)) {
	chomp $len;
	my $raw = '';
	while (length($raw) < $len) {
		my $n = read(STDIN, $raw, $len - length($raw), length($raw));
		die "short read" unless $n;
	}
	my $out = '';
	eval {
		my $eml = PublicInbox::Eml->new(\(my $c = $raw));
		$out .= display('top', $eml);
		$out .= search('top', $eml);
		my $e2 = PublicInbox::Eml->new(\(my $c2 = $raw));
		msg_iter($e2, sub {
			my ($part, $depth, @idx) = @{$_[0]};
			my $idx = join('.', @idx);
			my $fn = $part->filename;
			$out .= "F $idx ".(defined($fn) ? hx($fn) : '-')."\n";
			for my $d ($part->header('Content-Description')) {
				$out .= "D $idx ".hx($d)."\n";
			}
			if ($part->{is_submsg}) {
				$out .= display($idx, $part);
				$out .= search($idx, $part);
			}
		});
		my $rec = Recorder->new;
		content_digest(PublicInbox::Eml->new(\(my $c3 = $raw)), $rec);
		for my $chunk (@{$rec->{c}}) {
			$out .= length($chunk) > 4096 ? 'C ='.sha1_hex($chunk)."\n"
					: 'C '.unpack('H*', $chunk)."\n";
		}
		1;
	} or do {
		my $err = $@;
		$err =~ tr/\n/ /;
		$out .= "X $err\n";
	};
	print $out, "E\n";
	STDOUT->flush;
}
