// Package devicecli is the command line of a device: the "client ..."
// commands (init, set-release, set-report-url, set-ring, check, install,
// rollback, status, run), "tuf-client" (the TUF conformance client
// protocol) and "version", with the conventions every bsi command follows.
// Both binaries run this code: the full bsi (cmd/bsi, a Program of these
// commands and its publisher and auditor commands, all taking an Env) and
// the device binary bsi-agent (cmd/bsi-agent, a Program of these commands
// only), so that their flags, output, help and exit codes are the same.
//
// # What it links
//
// Only the client side: agent, trust/client, install, manifest, rollout,
// fleet/report, internal/progress and the standard library (plus
// golang.org/x/term). Never the publisher side (trust/repo), keys, KMS or
// cloud SDKs, storage drivers, the collector, or cgo: cmd/bsi-agent's
// tests assert it with "go list -deps".
//
// # Conventions
//
// A command returns an error; Program.Run prints it on stderr as
// "PROG: error: ..." (escaped by Printable), with "PROG: hint: ..." for a
// *HintError and the synopsis for a *UsageError, and maps it to the exit
// code (ExitCode): 0 success, 1 failure, 2 usage, 3 security
// (trust.ErrSecurity), 4 freshness (trust.ErrFreshness). Data goes to
// stdout, --json for machines (WriteJSON). Everything a command reads or
// writes outside its arguments is in Env, so tests run commands
// in-process. Names and reasons that come from a repository, an archive or
// a URL are printed through escaping writers (see clientEnv): they cannot
// drive the terminal.
package devicecli
