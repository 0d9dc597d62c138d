// Command bsi publishes, verifies, installs and audits background security
// improvements. See "bsi help".
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/bsiframework/bsi/cmd/internal/devicecli"
)

func main() { os.Exit(runMain()) }

// runMain runs the command line of the process, cancelled by SIGINT or
// SIGTERM (bsi serve then shuts down gracefully). The test binary runs it
// too when tests start it as "bsi".
func runMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, os.Args[1:], devicecli.OSEnv())
}
