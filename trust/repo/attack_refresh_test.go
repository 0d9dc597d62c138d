package repo

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/trust"
)

// TestAttackRefreshTamperedSnapshot: someone with write access to the
// online machine edits the workspace's snapshot.json (not re-signed, not
// published). Refresh, and so the unattended keep-fresh, used to sign a
// timestamp over its hash, breaking every device. It must refuse, naming
// the snapshot, and leave the destination as it was.
func TestAttackRefreshTamperedSnapshot(t *testing.T) {
	f := published(t)
	p := f.ws.rolePath(metadata.SNAPSHOT)
	data, err := os.ReadFile(p)
	must(t, err)
	s, err := new(snapshotMeta).FromBytes(data)
	must(t, err)
	s.Signed.Meta["webkit.json"].Version = 7
	out, err := s.ToBytes(false)
	must(t, err)
	must(t, os.WriteFile(p, out, 0o644))
	f.reopen()
	before := tree(t, f.public())
	f.clock = f.clock.Add(6 * time.Hour)
	_, err = f.ws.Refresh(t.Context(), mustDir(t, f.public()), RefreshOptions{})
	var ve *VerifyError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "snapshot") {
		t.Fatalf("Refresh: %v, want a *VerifyError naming the snapshot", err)
	}
	if d := diffTree(before, tree(t, f.public())); d != "" {
		t.Errorf("destination changed:\n%s", d)
	}
}

// TestRefreshRefusesDestinationWithoutLastPublish: refresh to a
// destination that does not serve the workspace's last publish (an empty
// directory, a copy of an older publish) used to write a lone
// timestamp.json, or one pointing at a snapshot that is not there, and
// exit 0. It must refuse, saying what the destination serves, and write
// nothing.
func TestRefreshRefusesDestinationWithoutLastPublish(t *testing.T) {
	f := published(t)
	old := filepath.Join(t.TempDir(), "old")
	copyTree(t, f.public(), old, "")
	f.add("webkit-26.3-b", "webkit", 2, "webkit1")
	f.publish()
	tests := []struct {
		name, dir, want string
	}{
		{"empty", filepath.Join(t.TempDir(), "empty"), "serves no timestamp.json"},
		{"older publish", old, "serves timestamp v1 (snapshot v1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustDir(t, tt.dir)
			before := tree(t, tt.dir)
			_, err := f.ws.Refresh(t.Context(), d, RefreshOptions{})
			var de *DestinationError
			if !errors.As(err, &de) || errors.Is(err, trust.ErrSecurity) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Refresh: %v, want a *DestinationError (not a security failure) with %q", err, tt.want)
			}
			if diff := diffTree(before, tree(t, tt.dir)); diff != "" {
				t.Errorf("destination changed:\n%s", diff)
			}
		})
	}
	if _, err := f.ws.Refresh(t.Context(), mustDir(t, f.public()), RefreshOptions{}); err != nil {
		t.Fatalf("refresh of the real destination: %v", err)
	}
}

// TestKeepFreshLogsEachRound: each round logs what it re-signed and the
// new expiry.
func TestKeepFreshLogsEachRound(t *testing.T) {
	f := published(t)
	f.ws.Close()
	var buf bytes.Buffer
	opts := f.opts()
	opts.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	ctx, cancel := context.WithCancel(t.Context())
	opts.After = func(time.Duration) <-chan time.Time { cancel(); return make(chan time.Time) }
	if err := KeepFresh(ctx, f.dir, mustDir(t, f.public()), time.Hour, opts, RefreshOptions{}); err != nil {
		t.Fatal(err)
	}
	if s := buf.String(); !strings.Contains(s, "msg=refreshed") || !strings.Contains(s, "timestamp=2") || !strings.Contains(s, "timestamp_expires=") {
		t.Errorf("log:\n%s", s)
	}
}
