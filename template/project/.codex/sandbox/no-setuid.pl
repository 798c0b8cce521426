#!/usr/bin/perl
# cxgen: no-setuid.pl CMD ARGS... : run CMD under a seccomp filter that refuses to make setuid
# or setgid files, added to Docker's own profile (filters stack; both must allow a call).
#
# Why: an agent running as uid 0 (root mode: you are root and the project is root's) writes
# files that are root's on your host. Without this it could leave a setuid-root program in the
# project for any other user of your machine to run. Refused (EPERM): chmod, fchmod, fchmodat,
# fchmodat2 and mknod(at) with S_ISUID or S_ISGID in the mode; open, openat and creat that create
# a file with them. openat2 (its mode is in memory seccomp cannot read) and io_uring (its opens
# bypass seccomp) are ENOSYS, so programs fall back to the calls above; so is every call through
# another ABI (x32, 32-bit), whose numbers this filter does not check.
# Perl because perl-base is part of every Debian and Ubuntu image; the caller (entrypoint.sh) has
# already set no-new-privs, which lets an unprivileged process install a filter.
# No module, not even strict, warnings or constant: loading them cost every root-mode start ~4 ms
# (the tests check this file with -Mstrict -Mwarnings).

# Syscall numbers per machine: [mode argument, flags argument or -1] for the checked calls.
my %MACHINES = (
    x86_64 => {
        arch => 0xc000003e, prctl => 157, x32 => 1,
        check => {
            90 => [1, -1], 91 => [1, -1], 268 => [2, -1], 452 => [2, -1],    # chmod fchmod fchmodat fchmodat2
            133 => [1, -1], 259 => [2, -1],                                  # mknod mknodat
            2 => [2, 1], 257 => [3, 2], 85 => [1, -1],                       # open openat creat
        },
        unavailable => [437, 425],                                           # openat2 io_uring_setup
    },
    aarch64 => {
        arch => 0xc00000b7, prctl => 167, x32 => 0,
        check => {
            52 => [1, -1], 53 => [2, -1], 452 => [2, -1],                    # fchmod fchmodat fchmodat2
            33 => [2, -1],                                                   # mknodat
            56 => [3, 2],                                                    # openat
        },
        unavailable => [437, 425],
    },
);

my $LD_ABS = 0x20;                  # BPF_LD | BPF_W | BPF_ABS
my $JEQ = 0x15;                     # BPF_JMP | BPF_JEQ | BPF_K
my $JGE = 0x35;                     # BPF_JMP | BPF_JGE | BPF_K
my $JSET = 0x45;                    # BPF_JMP | BPF_JSET | BPF_K
my $RET = 0x06;                     # BPF_RET | BPF_K
my $ALLOW = 0x7fff0000;             # SECCOMP_RET_ALLOW
my $ERRNO = 0x00050000;             # SECCOMP_RET_ERRNO | errno
my $EPERM = 1;
my $ENOSYS = 38;
my $SETID = 06000;                  # S_ISUID | S_ISGID
my $CREATING = 0x400040;            # O_CREAT | __O_TMPFILE (the same on x86_64 and aarch64)
my $X32_BIT = 0x40000000;
my $PR_SET_SECCOMP = 22;
my $SECCOMP_MODE_FILTER = 2;

sub insn { my ($code, $jt, $jf, $k) = @_; return pack('SCCL', $code, $jt, $jf, $k); }
# The low 32 bits of argument N in struct seccomp_data (little-endian).
sub arg_offset { return 16 + 8 * $_[0]; }

sub filter {
    my ($m) = @_;
    my @program = (insn($LD_ABS, 0, 0, 4), insn($JEQ, 1, 0, $m->{arch}), insn($RET, 0, 0, $ERRNO | $ENOSYS),
        insn($LD_ABS, 0, 0, 0));
    push @program, insn($JGE, 0, 1, $X32_BIT), insn($RET, 0, 0, $ERRNO | $ENOSYS) if $m->{x32};
    for my $nr (@{ $m->{unavailable} }) {
        push @program, insn($JEQ, 0, 1, $nr), insn($RET, 0, 0, $ERRNO | $ENOSYS);
    }
    for my $nr (sort { $a <=> $b } keys %{ $m->{check} }) {
        my ($mode, $flags) = @{ $m->{check}{$nr} };
        my @block;
        # Opens that create nothing have no mode to check.
        push @block, insn($LD_ABS, 0, 0, arg_offset($flags)), insn($JSET, 0, 3, $CREATING) if $flags >= 0;
        push @block, insn($LD_ABS, 0, 0, arg_offset($mode)), insn($JSET, 0, 1, $SETID),
            insn($RET, 0, 0, $ERRNO | $EPERM), insn($RET, 0, 0, $ALLOW);
        # Not this call: skip its block. (The accumulator holds the number again after a block
        # only through its returns, so every block ends in one.)
        push @program, insn($JEQ, 0, scalar(@block), $nr), @block;
    }
    push @program, insn($RET, 0, 0, $ALLOW);
    return join('', @program);
}

# The machine this perl runs as: its own ELF header's (64-bit, e_machine), the ABI whose calls
# the filter checks. (Not POSIX::uname: loading POSIX costs every root-mode start milliseconds.)
sub machine {
    open(my $exe, '<:raw', '/proc/self/exe') or die "no-setuid.pl: /proc/self/exe: $!\n";
    read($exe, my $header, 20) == 20 or die "no-setuid.pl: cannot read /proc/self/exe\n";
    my ($magic, $class, $data) = unpack('a4 C C', $header);
    $magic eq "\x7fELF" && $class == 2 or return 'not a 64-bit ELF program';
    my $number = unpack($data == 1 ? 'v' : 'n', substr($header, 18, 2));
    my %names = (0x3e => 'x86_64', 0xb7 => 'aarch64');
    return $names{$number} // sprintf('e_machine 0x%x', $number);
}

sub main {
    @ARGV or die "usage: no-setuid.pl CMD ARGS...\n";
    my $machine = machine();
    my $m = $MACHINES{$machine} or die "no-setuid.pl: unsupported machine $machine\n";
    my $program = filter($m);
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; }
    my $fprog = pack('S x![P] P', length($program) / 8, $program);
    syscall($m->{prctl}, $PR_SET_SECCOMP, $SECCOMP_MODE_FILTER, $fprog) == 0
        or die "no-setuid.pl: installing the seccomp filter failed: $!\n";
    exec { $ARGV[0] } @ARGV or die "no-setuid.pl: $ARGV[0]: $!\n";
}

main();
