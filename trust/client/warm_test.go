package client

import (
	"bytes"
	"encoding/json"
	"errors"
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
	for _, role := range []string{"root", "timestamp", "snapshot", "targets", "webkit"} {
		if c.used[role] != fromRecord {
			t.Errorf("%s came from source %d, not the record", role, c.used[role])
		}
	}
	// A new timestamp that lists the same snapshot: still nothing else,
	// and the new timestamp is verified.
	s.timestamp.Signed.Version++
	s.set("timestamp.json", sign(t, s.timestamp, s.signers["timestamp"]))
	c = s.clientAt(t, dir)
	mustRefresh(t, c)
	if got, want := s.reqs(), []string{"2.root.json", "timestamp.json"}; !slices.Equal(got, want) {
		t.Errorf("requests %q, want %q", got, want)
	}
	if c.used["timestamp"] != fromRemote {
		t.Errorf("new timestamp came from source %d", c.used["timestamp"])
	}
	// Then it is the recorded one.
	c = s.clientAt(t, dir)
	mustRefresh(t, c)
	if c.used["timestamp"] != fromRecord {
		t.Errorf("stored timestamp came from source %d, not the record", c.used["timestamp"])
	}
}

// TestAttackTimestampSameVersionOtherBytes: a mirror serving a timestamp of
// the version the device holds, changed (a later expiry, so a frozen
// repository looks fresh) under signatures that do not verify, is refused:
// only bytes identical to the verified timestamp skip the signature check.
func TestAttackTimestampSameVersionOtherBytes(t *testing.T) {
	for _, how := range []string{"wrong key", "signature kept"} {
		t.Run(how, func(t *testing.T) {
			s, dir := warmSim(t)
			good := s.get("timestamp.json")
			s.timestamp.Signed.Expires = s.timestamp.Signed.Expires.AddDate(1, 0, 0)
			var bad []byte
			if how == "wrong key" {
				bad = sign(t, s.timestamp, s.signers["snapshot"])
			} else {
				bad = sign(t, s.timestamp, s.signers["timestamp"])
				bad = spliceSignatures(t, bad, good)
			}
			s.set("timestamp.json", bad)
			c := s.clientAt(t, dir)
			err := c.Refresh(ctx)
			var se *SignatureError
			if !errors.As(err, &se) || se.Role != "timestamp" {
				t.Fatalf("refresh: %v, want a timestamp *SignatureError", err)
			}
		})
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

// spliceSignatures returns the envelope bad with the signatures of good.
func spliceSignatures(t *testing.T, bad, good []byte) []byte {
	var b, g map[string]json.RawMessage
	if err := json.Unmarshal(bad, &b); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(good, &g); err != nil {
		t.Fatal(err)
	}
	b["signatures"] = g["signatures"]
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestWarmDamagedRootVerified: a stored root whose bytes are not those the
// record says verified (one signature byte changed on disk) has its
// signatures checked again, and is refused.
func TestWarmDamagedRootVerified(t *testing.T) {
	s, dir := warmSim(t)
	name := filepath.Join(dir, "root.json")
	raw, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.LastIndex(raw, []byte(`"sig"`))
	j := i + bytes.IndexByte(raw[i+6:], '"') + 7 // first hex digit of the signature
	if raw[j] == '0' {
		raw[j] = '1'
	} else {
		raw[j] = '0'
	}
	if err := os.WriteFile(name, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	c := s.clientAt(t, dir)
	var se *SignatureError
	if err := c.Refresh(ctx); !errors.As(err, &se) || se.Role != "root" {
		t.Fatalf("refresh with a damaged root: %v, want a root *SignatureError", err)
	}
}
