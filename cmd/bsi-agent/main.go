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
	"runtime/debug"
	"syscall"

	"github.com/bsiframework/bsi/cmd/internal/devicecli"
)

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		// A device trades a little CPU for memory: the heap may grow to
		// 1.5 times what is live, not twice (a cold check of 10,000
		// improvements peaks at about 38 MB instead of 49).
		debug.SetGCPercent(deviceGCPercent)
	}
	os.Exit(runMain())
}

// deviceGCPercent is the device binary's GOGC unless the environment sets
// one.
const deviceGCPercent = 50

// runMain runs the command line of the process, cancelled by SIGINT or
// SIGTERM (client run then stops between steps). The test binary runs it
// too when tests start it as "bsi-agent".
func runMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return program().Run(ctx, os.Args[1:], devicecli.OSEnv())
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
