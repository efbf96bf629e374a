#!/usr/bin/perl
# usage: bin.pl hive FILE     write an empty registry hive (regf) to FILE
#        bin.pl pe64 FILE     write a minimal PE32+ x86-64 console
#                             executable header (what inspection reads of
#                             System32\cmd.exe) to FILE
#        bin.pl pe32 FILE     the same for i386 (PE32)
#
# The project's phony Windows guests are generated, not copied: an empty
# hive is filled with hivexregedit --merge (Debian's libwin-hivex-perl),
# which cannot create a hive from nothing.
use strict;
use warnings;

my ($what, $file) = @ARGV;
die "usage: bin.pl hive|pe64|pe32 FILE\n" unless $what && $file;

sub put { my ($buf, $off, $bytes) = @_; substr($$buf, $off, length $bytes) = $bytes; }

my $out;
if ($what eq 'hive') {
    # Base block: 4096 bytes.
    my $base = "\0" x 4096;
    put(\$base, 0, "regf");
    put(\$base, 4, pack("V V Q< V V V V V V V", 1, 1, 0, 1, 3, 0, 1, 0x20, 0x1000, 1));
    my $x = 0;
    $x ^= $_ for unpack("V127", substr($base, 0, 508));
    put(\$base, 0x1fc, pack("V", $x));
    # One hive bin (4096 bytes): header, the root key (nk), its security
    # descriptor (sk), and the rest a free cell.
    my $bin = "\0" x 4096;
    put(\$bin, 0, "hbin" . pack("V V", 0, 4096));
    my $name = "ROOT";
    my $nk_off = 0x20;
    my $nk_size = 0x50 + length($name);
    $nk_size += 8 - $nk_size % 8 if $nk_size % 8;
    my $sk_off = $nk_off + $nk_size;
    # Self-relative security descriptor, DACL present and NULL.
    my $sd = pack("C C v V V V V", 1, 0, 0x8004, 0, 0, 0, 0);
    my $sk_size = 0x18 + length($sd);
    $sk_size += 8 - $sk_size % 8 if $sk_size % 8;
    put(\$bin, $nk_off, pack("l<", -$nk_size) . "nk" . pack("v", 0x2c) . pack("Q<", 0)
        . pack("V11", 0, 0xffffffff, 0, 0, 0xffffffff, 0xffffffff, 0, 0xffffffff,
               $sk_off, 0xffffffff, 0)
        . pack("V4", 0, 0, 0, 0) . pack("v v", length($name), 0) . $name);
    put(\$bin, $sk_off, pack("l<", -$sk_size) . "sk" . pack("v", 0)
        . pack("V V V V", $sk_off, $sk_off, 1, length($sd)) . $sd);
    my $free_off = $sk_off + $sk_size;
    put(\$bin, $free_off, pack("l<", 4096 - $free_off));
    $out = $base . $bin;
} elsif ($what eq 'pe64' || $what eq 'pe32') {
    my $pe64 = $what eq 'pe64';
    my $buf = "\0" x 1024;
    put(\$buf, 0, "MZ");
    put(\$buf, 0x3c, pack("V", 0x80));
    my $opt_size = $pe64 ? 240 : 224;
    # COFF header: machine, sections, time, symtab, nsyms, optsize, flags.
    put(\$buf, 0x80, "PE\0\0" . pack("v v V V V v v", $pe64 ? 0x8664 : 0x14c, 0, 0, 0, 0,
                                     $opt_size, $pe64 ? 0x22 : 0x102));
    # Optional header: magic, linker version, ..., subsystem = console (3).
    my $opt = 0x98;
    put(\$buf, $opt, pack("v", $pe64 ? 0x20b : 0x10b));
    put(\$buf, $opt + 68, pack("v", 3));
    $out = $buf;
} else {
    die "bin.pl: unknown kind $what\n";
}
open(my $fh, '>:raw', $file) or die "bin.pl: $file: $!\n";
print $fh $out;
close($fh) or die "bin.pl: $file: $!\n";
