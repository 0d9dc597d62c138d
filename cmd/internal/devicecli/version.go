package devicecli

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// VersionCommand returns "version" of the program named prog ("bsi",
// "bsi-agent"): it prints "PROG VERSION GOVERSION GOOS/GOARCH".
func VersionCommand(prog string) *Command {
	return &Command{
		Name:    "version",
		Summary: "print the version of " + prog + " and of the Go toolchain that built it",
		Help:    "Example:\n  " + prog + " version",
		Run: func(ctx context.Context, e *Env, args []string) error {
			fs := NewFlags("version")
			pos, err := ParseFlags(fs, args)
			if err != nil {
				return err
			}
			if err := WantArgs(pos, 0, 0, ""); err != nil {
				return err
			}
			v := "(devel)"
			if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
				v = bi.Main.Version
			}
			fmt.Fprintf(e.Stdout, "%s %s %s %s/%s\n", prog, v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
