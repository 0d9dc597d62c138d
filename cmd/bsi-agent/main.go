// Command bsi-agent is the device side of bsi: it checks a repository of
// background security improvements, verifies and installs them, and rolls
// back withdrawn ones ("bsi-agent client ..."), and speaks the TUF
// conformance client protocol ("bsi-agent tuf-client"). Its commands,
// flags, output and exit codes are those of "bsi client" and "bsi
// tuf-client": both binaries run the same code, cmd/internal/devicecli.
//
// It links no publisher code, key management, KMS or cloud SDK, object
// storage driver or cgo: install it on devices, and the full bsi where
// improvements are published. See "bsi-agent help".
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/bsiframework/bsi/cmd/internal/devicecli"
)

func main() {
	args := os.Args[1:]
	deviceRuntime(os.LookupEnv, args)
	os.Exit(runMain(args))
}

// talksToRepository reports whether the command line args runs a command
// that talks to a repository ("client ...", "tuf-client ..."): those get
// the device's processors and are cancelled by signals; "version" and
// "help" start faster without either.
func talksToRepository(args []string) bool {
	return len(args) > 0 && (args[0] == "client" || args[0] == "tuf-client")
}

// Device defaults of the Go runtime, each unless the environment sets it.
const (
	// deviceGCPercent is GOGC: a device trades a little CPU for memory;
	// the heap may grow to 1.5 times what is live, not twice (a cold
	// check of 10,000 improvements peaks at about 38 MB instead of 49).
	deviceGCPercent = 50
	// deviceProcs is GOMAXPROCS. A device check is sequential: the client
	// verifies one file after another and starts no goroutines of its
	// own. With one processor the HTTP client's goroutines hand over to
	// each other without waking a second CPU and the collector does not
	// coordinate two (a cold look-up of 10,000 flat, whole process, took
	// 217-222 ms instead of 231-249 on a 2-core VM), and the agent leaves
	// the other cores to the device's own work.
	deviceProcs = 1
)

// deviceRuntime sets the runtime's device defaults for what lookup (the
// environment) does not set. The processors are set for the commands
// that talk to a repository only: changing them stops the world, which
// costs "version" and "help" 0.6 ms of their start.
func deviceRuntime(lookup func(string) (string, bool), args []string) {
	if _, set := lookup("GOGC"); !set {
		debug.SetGCPercent(deviceGCPercent)
	}
	if _, set := lookup("GOMAXPROCS"); !set && talksToRepository(args) {
		runtime.GOMAXPROCS(deviceProcs)
	}
}

// runMain runs the command line args. A command that talks to a
// repository is cancelled by SIGINT or SIGTERM ("client run" then stops
// between steps); the others ("version", "help") install no signal
// handler, which would start a thread for them to wait on.
func runMain(args []string) int {
	ctx := context.Background()
	if talksToRepository(args) {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
	}
	return program().Run(ctx, args, devicecli.OSEnv())
}

const helpIntro = `bsi-agent is the device side of bsi: it checks a repository of background
security improvements (urgent patches for one component of a platform,
signed and checked for freshness through a TUF role hierarchy), installs
them and rolls back withdrawn ones. Publishers use the full bsi.

Usage: bsi-agent COMMAND [ARGS] [FLAGS]     (bsi-agent COMMAND -h for details and examples)
`

const helpExit = `Exit codes:
  0  success
  1  failure (bad input, network, disk)
  2  usage error (unknown command, bad flag)
  3  security verification failure (signature, threshold, rollback, hash,
     delegation, manifest/role mismatch): nothing was installed
  4  freshness failure (expired metadata: a possible freeze attack)

Diagnostics go to stderr as "bsi-agent: error: ..." and "bsi-agent: hint:
..."; data goes to stdout; commands that report take --json.

Environment: client and tuf-client run on one processor (GOMAXPROCS=1) and
every command with GOGC=50, unless GOMAXPROCS or GOGC is set.
`

func program() *devicecli.Program {
	return &devicecli.Program{
		Name:  "bsi-agent",
		Intro: helpIntro,
		Groups: []devicecli.Group{
			{Name: "client", Title: "Devices: check, install, roll back"},
			{Name: "tuf-client", Title: "Auditors: TUF conformance client protocol"},
			{Name: "", Title: "Other"},
		},
		Commands: devicecli.Commands("bsi-agent"),
		Epilogue: helpExit,
	}
}
