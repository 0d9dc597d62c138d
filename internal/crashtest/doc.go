// Package crashtest proves that bsi's state survives crashes and disk errors,
// by running a real bsi binary as a child process and killing it.
//
// The package holds only tests. They build cmd/bsi once per test run with
// the build tag bsifault (see internal/fault), so that the binary can kill
// itself with SIGKILL at its Nth fault point or fail there with a real errno,
// and drive four commands that change state:
//
//	bsi client install STATE --all           (webkit-26.3-a installed, b offered)
//	bsi client rollback STATE webkit-26.3-b  (b installed, a still offered)
//	bsi repo add WS --manifest ... --key ... (a published, b added)
//	bsi repo publish WS                      (b added, not yet published)
//
// # Method
//
// For each command a fixture is made once with the CLI itself: keys, a
// publisher workspace, a published repository served on 127.0.0.1 by the
// serve package in-process, a device state made by "bsi client init". The
// command is run once ordinarily with BSI_FAULT_TRACE to count its points,
// giving the OLD and NEW file trees. Then, for every point k, a fresh copy
// of OLD is made at the same path, the command is run with
// BSI_FAULT_KILL_AT=k, and the test requires that
//
//   - the child died of SIGKILL;
//   - the state is OLD or NEW as a file tree (paths, modes, symlink targets,
//     contents), possibly after the next ordinary read command (bsi client
//     status, bsi repo status), with no temporary file anywhere;
//   - for publish, a device that trusted the old repository and follows the
//     destination verifies it (old or new, never broken);
//   - running the command again ordinarily succeeds and gives NEW.
//
// Trees are compared after a few normalisations, each for a field that
// differs between two ordinary runs of the same command (see normalise):
// expiry times and the signatures over them (bsi has no injectable clock
// on its command line), local event times, the audit history (which rightly
// records an interrupted and recovered operation) and lock-holder notes.
//
// BSI_FAULT_ERR_AT runs the same commands with ENOSPC, EROFS and EIO at
// every point that can fail; where unshare(1) and mounts are allowed (root),
// a small tmpfs and a read-only bind mount give the kernel's own ENOSPC and
// EROFS. Corruption tests truncate and bit-flip each trusted file at
// start-up.
package crashtest
