package devicecli

import "testing"

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
