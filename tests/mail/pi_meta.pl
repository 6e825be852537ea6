#!/usr/bin/perl -w
# Differential-test helper: print what public-inbox 1.9 derives from each
# message file named on stdin (one path per line).  Output: one line per
# file, TAB-separated hex fields (lists are joined with NUL before hex).
# Uses the installed PublicInbox modules; written for pubinbox's tests.
use strict;
use v5.10.1;
use PublicInbox::Eml;
use PublicInbox::Import;
use PublicInbox::Smsg;
use PublicInbox::MID qw(mids mids_for_index);
use PublicInbox::MDA;
use PublicInbox::OverIdx;
use PublicInbox::MsgTime;
use Digest::SHA qw(sha1_hex);

my $NOW = shift // 1700000000;
$SIG{__WARN__} = sub {};
binmode STDOUT;
# hb: octets as they are; hx: characters as UTF-8 (what over.sqlite3 gets)
sub hb { my ($s) = @_; $s //= ''; unpack('H*', $s) }
sub hx { my ($s) = @_; $s //= ''; utf8::encode($s); unpack('H*', $s) }
sub hl { hb(join("\0", @_)) }

while (my $path = <STDIN>) {
	chomp $path;
	open my $fh, '<:raw', $path or die "open $path: $!";
	my $str = do { local $/; <$fh> };
	close $fh;
	$str =~ s/\A[\r\n]*From [^\r\n]*\r?\n//s;
	my $eml = PublicInbox::Eml->new($str);
	my $mids = mids($eml);
	my $smsg = bless { mid => $mids->[0], ds => $NOW, ts => $NOW }, 'PublicInbox::Smsg';
	my @ds = PublicInbox::MsgTime::msg_datestamp($eml, $NOW);
	my @ts = PublicInbox::MsgTime::msg_timestamp($eml, $NOW);
	my ($author, $at, $ct, $subject) = PublicInbox::Import::extract_cmt_info($eml, $smsg);
	my $refs = $smsg->parse_references($eml, mids_for_index($eml));
	my $subj = $smsg->{subject};
	my $xpath = '';
	if ($subj ne '') {
		$xpath = PublicInbox::MID::id_compress(
				PublicInbox::OverIdx::subject_path($subj));
	}
	# stored blob: drop_unwanted_headers as Import->add does
	my $e2 = PublicInbox::Eml->new($str);
	PublicInbox::Import::drop_unwanted_headers($e2);
	my $dropped = sha1_hex($e2->as_string);
	# -mda List-Id + an appended Message-ID + drop
	my $e3 = PublicInbox::Eml->new($str);
	PublicInbox::MDA->set_list_headers($e3,
			{ -primary_address => 'test@example.com' });
	PublicInbox::Import::append_mid($e3, 'gen.x@z');
	PublicInbox::Import::drop_unwanted_headers($e3);
	my $mda = sha1_hex($e3->as_string);
	print join("\t", hb($path), hb($author), hb($at), hb($ct),
		hb($subject), hl(@$mids), hl(@$refs), hx($xpath),
		hx($smsg->{subject}), hx($smsg->{from}), hx($smsg->{to}),
		hx($smsg->{cc}), hx("@ds"), hx("@ts"), $dropped, $mda), "\n";
}
