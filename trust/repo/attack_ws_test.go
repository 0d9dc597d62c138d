package repo

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bsiframework/bsi/trust"
)

// TestAttackLockSymlinkTruncates: someone with write access to the
// workspace replaces DIR/.lock by a symbolic link (or a hard link) to the
// operator's private key. Opening the workspace, for any command, must
// refuse and leave the key as it was (it used to empty it).
func TestAttackLockSymlinkTruncates(t *testing.T) {
	for _, kind := range []string{"symlink", "hardlink"} {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t)
			f.init(1, "root1")
			f.ws.Close()
			key := filepath.Join(t.TempDir(), "id_ed25519")
			const secret = "-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n"
			if err := os.WriteFile(key, []byte(secret), 0o600); err != nil {
				t.Fatal(err)
			}
			lock := filepath.Join(f.dir, ".lock")
			os.Remove(lock)
			var err error
			if kind == "symlink" {
				err = os.Symlink(key, lock)
			} else {
				err = os.Link(key, lock)
			}
			if err != nil {
				t.Fatal(err)
			}
			ws, err := Open(context.Background(), f.dir, f.opts())
			if err == nil {
				ws.Close()
				t.Fatal("Open succeeded with a planted .lock")
			}
			var ue *UnsafeFileError
			if !errors.As(err, &ue) || !errors.Is(err, trust.ErrSecurity) || !strings.Contains(err.Error(), ".lock") {
				t.Errorf("Open: %v, want an *UnsafeFileError naming .lock", err)
			}
			if got, _ := os.ReadFile(key); string(got) != secret {
				t.Errorf("the key behind .lock changed: %q", got)
			}
		})
	}
}

// TestLockNeverTruncates: the lock's holder record is written over the
// file's first bytes, never by truncating it, and a second Open still
// reads who holds it.
func TestLockNeverTruncates(t *testing.T) {
	f := newFixture(t)
	f.init(1, "root1")
	_, err := Open(context.Background(), f.dir, f.opts())
	var le *LockedError
	if !errors.As(err, &le) || le.PID != os.Getpid() {
		t.Fatalf("second Open: %v, want a *LockedError with pid %d", err, os.Getpid())
	}
	f.ws.Close()
	fi, err := os.Stat(filepath.Join(f.dir, ".lock"))
	if err != nil || fi.Size() != lockRecord {
		t.Fatalf("lock after Close: %v, size %d, want %d", err, fi.Size(), lockRecord)
	}
}

// TestAttackJournalReplayEscapesWorkspace: a planted DIR/.commit/journal.json
// together with a symbolic link inside the workspace made the next bsi
// command write an attacker's file outside the workspace (a line in
// ~/.ssh/authorized_keys) and remove another (id_ed25519). Replay must
// refuse the journal, naming the entry, and touch nothing outside.
func TestAttackJournalReplayEscapesWorkspace(t *testing.T) {
	tests := []struct {
		name    string
		plant   func(t *testing.T, ws, home string)
		journal string
		want    string
	}{
		{name: "move through a symlinked metadata/roots",
			plant: func(t *testing.T, ws, home string) {
				must(t, os.RemoveAll(filepath.Join(ws, "metadata", "roots")))
				must(t, os.Symlink(filepath.Join(home, ".ssh"), filepath.Join(ws, "metadata", "roots")))
			},
			journal: `{"moves":[{"staged":"0","to":"metadata/roots/1.root.json"}]}`,
			want:    "metadata/roots"},
		{name: "move to a name bsi never writes",
			plant: func(t *testing.T, ws, home string) {
				must(t, os.Symlink(filepath.Join(home, ".ssh"), filepath.Join(ws, "ssh")))
			},
			journal: `{"moves":[{"staged":"0","to":"ssh/authorized_keys"}]}`,
			want:    "ssh/authorized_keys"},
		{name: "remove through a symlinked metadata",
			plant: func(t *testing.T, ws, home string) {
				must(t, os.Rename(filepath.Join(ws, "metadata"), filepath.Join(ws, "meta-real")))
				must(t, os.Symlink(filepath.Join(home, ".ssh"), filepath.Join(ws, "metadata")))
			},
			journal: `{"moves":[],"remove":["metadata/id_ed25519.json"]}`,
			want:    "metadata/id_ed25519.json"},
		{name: "remove a file bsi never removes",
			journal: `{"moves":[],"remove":["workspace.json"]}`,
			want:    "workspace.json"},
		{name: "staged name escaping .commit",
			journal: `{"moves":[{"staged":"../../home/.ssh/id_ed25519","to":"content/` + strings.Repeat("a", 64) + `"}]}`,
			want:    "id_ed25519"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.init(1, "root1")
			f.ws.Close()
			home := filepath.Join(filepath.Dir(f.dir), "home")
			must(t, os.MkdirAll(filepath.Join(home, ".ssh"), 0o700))
			for name, data := range map[string]string{"authorized_keys": "ssh-ed25519 AAAA operator\n", "id_ed25519": "secret",
				"1.root.json": "mine", "id_ed25519.json": "mine too"} {
				must(t, os.WriteFile(filepath.Join(home, ".ssh", name), []byte(data), 0o600))
			}
			before := tree(t, home)
			if tt.plant != nil {
				tt.plant(t, f.dir, home)
			}
			must(t, os.MkdirAll(filepath.Join(f.dir, commitDir), 0o755))
			must(t, os.WriteFile(filepath.Join(f.dir, commitDir, "0"), []byte("ssh-ed25519 AAAA attacker\n"), 0o644))
			must(t, os.WriteFile(filepath.Join(f.dir, commitDir, journalName), []byte(tt.journal), 0o644))
			ws, err := Open(context.Background(), f.dir, f.opts())
			if err == nil {
				ws.Close()
			}
			var ue *UnsafeFileError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open: %v, want an *UnsafeFileError naming %q", err, tt.want)
			}
			if diff := diffTree(before, tree(t, home)); diff != "" {
				t.Errorf("files outside the workspace changed (-before +after):\n%s", diff)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
