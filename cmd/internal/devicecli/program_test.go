package devicecli

import (
	"context"
	"strings"
	"testing"
)

func TestRenameProg(t *testing.T) {
	for _, tt := range []struct{ prog, in, want string }{
		{"bsi-agent", "  bsi client check /var/lib/bsi", "  bsi-agent client check /var/lib/bsi"},
		{"bsi-agent", "see bsi help client set-report-url", "see bsi-agent help client set-report-url"},
		{"bsi-agent", "see bsi help client\nset-report-url", "see bsi-agent help client\nset-report-url"},
		{"bsi-agent", "  bsi tuf-client --metadata-dir md init root.json", "  bsi-agent tuf-client --metadata-dir md init root.json"},
		{"bsi-agent", "Example:\n  bsi version", "Example:\n  bsi-agent version"},
		{"bsi-agent", "a fleet collector (bsi fleet serve) at URL", "a fleet collector (bsi fleet serve) at URL"},
		{"bsi-agent", "the verifying core of bsi can be tested", "the verifying core of bsi can be tested"},
		{"bsi", "  bsi client check /var/lib/bsi", "  bsi client check /var/lib/bsi"},
	} {
		if got := renameProg(tt.in, tt.prog); got != tt.want {
			t.Errorf("renameProg(%q, %q) = %q, want %q", tt.in, tt.prog, got, tt.want)
		}
	}
}

// A program prints the device commands' help naming itself, whether the
// help is asked for with -h or through "help".
func TestProgramHelpNamesItself(t *testing.T) {
	for _, prog := range []string{"bsi-agent", "bsi"} {
		p := &Program{Name: prog, Commands: Commands(prog)}
		for _, args := range [][]string{{"client", "check", "-h"}, {"help", "client", "check"}} {
			var out, errOut strings.Builder
			if code := p.Run(context.Background(), args, &Env{Stdout: &out, Stderr: &errOut}); code != ExitOK {
				t.Fatalf("%s %v: exit %d: %s", prog, args, code, errOut.String())
			}
			if want := "  " + prog + " client check /var/lib/bsi\n"; !strings.Contains(out.String(), want) {
				t.Errorf("%s %v: the help has no %q:\n%s", prog, args, want, out.String())
			}
			if prog != "bsi" && strings.Contains(out.String(), "bsi client check") {
				t.Errorf("%s %v: the help names bsi's commands:\n%s", prog, args, out.String())
			}
		}
	}
}
