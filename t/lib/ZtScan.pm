# The raw-byte scan of t/011, t/012 and t/013: every file of a data
# directory (heap, indexes, pg_wal) and any extra files (dumps), read whole
# and matched against a pattern.  It reads bytes, not rows: what it finds is
# what anyone holding the files could read.
package ZtScan;
use strict;
use warnings;
use File::Find;
use Exporter 'import';
our @EXPORT = qw(raw_scan);

# raw_scan($data_dir, $pattern, @extra_files): returns a hash reference with
# bytes (read in all), files (how many), wal (how many pg_wal segments among
# them) and hits (the files whose bytes match $pattern).
sub raw_scan
{
	my ($data_dir, $pattern, @extra) = @_;
	my @files;
	find({ wanted => sub { push @files, $File::Find::name if -f $_ }, no_chdir => 1 }, $data_dir);
	push @files, @extra;
	my %scan = (bytes => 0, files => scalar @files, wal => 0, hits => []);
	for my $file (@files)
	{
		open my $fh, '<:raw', $file or next;
		local $/;
		my $content = <$fh>;
		close $fh;
		$scan{bytes} += length($content);
		$scan{wal}++ if $file =~ m{/pg_wal/[0-9A-F]{24}$};
		push @{ $scan{hits} }, $file if $content =~ /$pattern/;
	}
	return \%scan;
}

1;
