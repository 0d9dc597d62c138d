package client

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bsiframework/bsi/trust"
)

// warmSim is a repository with a delegated role, and a client that has
// refreshed and looked the target up once.
func warmSim(t *testing.T) (*sim, string) {
	s := newSim(t)
	s.metaHashes = true
	s.delegate("targets", "webkit", []string{"webkit/*"}, false)
	s.addTarget("webkit", "webkit/a", []byte("a"), "")
	s.targets["webkit"].Signed.Expires = s.now.AddDate(0, 1, 0) // before targets
	s.publish("targets", "webkit")
	c, dir := s.client(t, false)
	mustRefresh(t, c)
	if _, err := c.Lookup(ctx, "webkit/a"); err != nil {
		t.Fatal(err)
	}
	s.reqs()
	return s, dir
}

func TestWarmRefreshUsesRecord(t *testing.T) {
	s, dir := warmSim(t)
	c := s.clientAt(t, dir)
	mustRefresh(t, c)
	if _, err := c.Lookup(ctx, "webkit/a"); err != nil {
		t.Fatal(err)
	}
	if got, want := s.reqs(), []string{"2.root.json", "timestamp.json"}; !slices.Equal(got, want) {
		t.Errorf("requests %q, want %q", got, want)
	}
	for _, role := range []string{"snapshot", "targets", "webkit"} {
		if c.used[role] != fromRecord {
			t.Errorf("%s came from source %d, not the record", role, c.used[role])
		}
	}
	// A new timestamp that lists the same snapshot: still nothing else.
	s.timestamp.Signed.Version++
	s.set("timestamp.json", sign(t, s.timestamp, s.signers["timestamp"]))
	c = s.clientAt(t, dir)
	mustRefresh(t, c)
	if got, want := s.reqs(), []string{"2.root.json", "timestamp.json"}; !slices.Equal(got, want) {
		t.Errorf("requests %q, want %q", got, want)
	}
}

// TestWarmExpiry: the record shortcut still enforces the expiry of every
// role against the reference time (were it skipped, the stored file would
// be accepted from the record, which is tried first).
func TestWarmExpiry(t *testing.T) {
	for _, role := range []string{"snapshot", "targets", "webkit"} {
		t.Run(role, func(t *testing.T) {
			s, dir := warmSim(t)
			var exp = s.snapshot.Signed.Expires
			if role != "snapshot" {
				exp = s.targets[role].Signed.Expires
			}
			s.now = exp.Add(1)
			s.timestamp.Signed.Expires = s.now.AddDate(0, 0, 1)
			if role == "snapshot" {
				s.timestamp.Signed.Version++
				s.set("timestamp.json", sign(t, s.timestamp, s.signers["timestamp"]))
			} else {
				// A fresh snapshot listing the same (stored) role files.
				s.snapshot.Signed.Expires = s.now.AddDate(0, 0, 7)
				s.publish()
			}
			c := s.clientAt(t, dir)
			err := c.Refresh(ctx)
			if role == "webkit" && err == nil {
				_, err = c.Lookup(ctx, "webkit/a")
			}
			if e := wantErr[*ExpiredError](t, err, trust.ErrFreshness); e.Role != role {
				t.Errorf("error %v", e)
			}
		})
	}
}

// TestWarmTamperedCache: a stored file whose bytes no longer match the
// record is not trusted; the client fetches and verifies it again.
func TestWarmTamperedCache(t *testing.T) {
	for _, role := range []string{"snapshot", "targets", "webkit"} {
		t.Run(role, func(t *testing.T) {
			s, dir := warmSim(t)
			name := filepath.Join(dir, fileName(role))
			good, _ := os.ReadFile(name)
			bad := append([]byte(nil), good...)
			bad[len(bad)/2] ^= 1
			os.WriteFile(name, bad, 0o644)
			c := s.clientAt(t, dir)
			mustRefresh(t, c)
			if _, err := c.Lookup(ctx, "webkit/a"); err != nil {
				t.Fatal(err)
			}
			if c.used[role] != fromRemote {
				t.Errorf("%s came from source %d", role, c.used[role])
			}
			if got, _ := os.ReadFile(name); string(got) != string(good) {
				t.Error("tampered file not replaced by the verified one")
			}
		})
	}
}

// TestWarmRecordForgery: a record entry does not make a stored file
// trusted unless the chain verified now lists that version.
func TestWarmRecordNeedsChain(t *testing.T) {
	s, dir := warmSim(t)
	s.addTarget("targets", "b", []byte("b"), "")
	s.publish("targets")
	c := s.clientAt(t, dir)
	mustRefresh(t, c)
	if c.used["targets"] != fromRemote || c.used["snapshot"] != fromRemote {
		t.Errorf("sources %v", c.used)
	}
	if _, err := c.Lookup(ctx, "b"); err != nil {
		t.Fatal(err)
	}
}
