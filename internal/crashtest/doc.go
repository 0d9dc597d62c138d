// Package crashtest proves that bsi's state survives crashes and disk errors,
// by running a real bsi binary as a child process and killing it.
//
// The package holds only tests. They build cmd/bsi once per test run with
// the build tag bsifault (see internal/fault), so that the binary can kill
// itself with SIGKILL at its Nth fault point or fail there with a real errno,
// and drive commands that change state:
//
//	bsi client install STATE --all           (webkit-26.3-a installed, b offered)
//	bsi client install STATE --all           (nothing installed yet)
//	bsi client rollback STATE webkit-26.3-b  (b installed, a still offered)
//	bsi repo add WS --manifest ... --key ... (a published, b added)
//	bsi repo publish WS                      (b added, not yet published)
//
// # Method
//
// For each command a fixture is made once with the CLI itself: keys, a
// publisher workspace, a published repository served on 127.0.0.1 by the
// serve package in-process, a device state made by "bsi client init". A
// bed (bed_test.go) prepares the command's OLD state in its own directory
// and runs the command once ordinarily with BSI_FAULT_TRACE to list its
// points, giving the NEW tree. Then, for every point k, the state is reset
// to OLD at the same path, the command is run with BSI_FAULT_KILL_AT=k (or
// BSI_FAULT_ERR_AT=k), and the test requires that
//
//   - the child died of SIGKILL (or, for an injected error, exited 1 with
//     the kernel's message naming a file, having removed its own
//     temporary version directory);
//   - the state is OLD or NEW as a file tree (paths, modes, symlink targets,
//     contents), possibly after the next ordinary read command (bsi client
//     check, bsi repo status), which recovers an interrupted operation,
//     with no temporary file anywhere; the one exception is a publish
//     destination's .bsi-tmp, invisible to readers, which only the next
//     publish opens and clears (then that run is required);
//   - for publish, a device that trusted the old repository and follows the
//     destination verifies it (old or new, never broken);
//   - running the command again ordinarily succeeds and gives NEW. That
//     run is skipped for a state that is exactly OLD (the bed's ordinary
//     run from the same tree at the same path gave NEW), exactly NEW (the
//     bed ran an idempotent command on NEW once more), or a tree an
//     earlier rerun of the same bed already took to NEW: the same tree at
//     the same path gives the same run.
//
// Nothing is exempt: a command whose points fail because of an open bug in
// a package this harness does not own is skipped as a whole, naming the
// bug (spec.bug), until the fix; BSI_CRASHTEST_BUGS=1 runs it anyway.
//
// Trees are compared after a few normalisations, each for a field that
// differs between two ordinary runs of the same command (see normalise):
// expiry times and the signatures over them (bsi has no injectable clock
// on its command line), local event times, the audit history (which rightly
// records an interrupted and recovered operation) and lock-holder notes.
//
// Corruption tests truncate, empty and bit-flip each trusted file at
// start-up. TestKernelFaults gives the kernel's own ENOSPC (a full tmpfs
// over the install root) and EROFS (read-only bind mounts) in a private
// mount namespace, where unshare(1) and mounts are allowed (root).
package crashtest
