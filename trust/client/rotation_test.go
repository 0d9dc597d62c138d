package client

import (
	"slices"
	"strings"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/trust"
)

func TestRootRotationChain(t *testing.T) {
	s := newSim(t)
	// v2: three new root keys, threshold 2 (threshold up, keys swapped).
	s.rotateRoot(func(r *metadata.RootType) { s.replaceKeys(r, "root", 3, 2) })
	// v3: threshold back to 1 of the same keys.
	s.rotateRoot(func(r *metadata.RootType) { r.Roles["root"].Threshold = 1 })
	// v4: a new key for timestamp too.
	s.rotateRoot(func(r *metadata.RootType) { s.replaceKeys(r, "timestamp", 1, 1) })
	s.publish()
	c, dir := s.client(t, false)
	mustRefresh(t, c)
	if got := stored(t, dir, "root"); string(got) != string(s.get("4.root.json")) {
		t.Error("trusted root is not version 4")
	}
	if got := s.reqs(); !slices.Equal(got[:4], []string{"2.root.json", "3.root.json", "4.root.json", "5.root.json"}) {
		t.Errorf("requests %q", got)
	}
}

func TestRootRotationRejected(t *testing.T) {
	for name, tc := range map[string]struct {
		edit  func(s *sim)
		check func(t *testing.T, err error)
	}{
		"not signed by old keys": {
			func(s *sim) {
				s.rotateRoot(func(r *metadata.RootType) { s.replaceKeys(r, "root", 1, 1) })
				s.rootSigners = s.signers["root"]
				s.publishRoot()
			},
			func(t *testing.T, err error) {
				if e := wantErr[*SignatureError](t, err, trust.ErrSecurity); e.Signer != "root v1" {
					t.Errorf("error %v", e)
				}
			},
		},
		"not signed by new threshold": {
			func(s *sim) {
				old := s.signers["root"]
				s.rotateRoot(func(r *metadata.RootType) { s.replaceKeys(r, "root", 2, 2) })
				s.rootSigners = append(slices.Clone(old), s.signers["root"][0])
				s.publishRoot()
			},
			func(t *testing.T, err error) {
				if e := wantErr[*SignatureError](t, err, trust.ErrSecurity); e.Signer != "root v2" || e.Have != 1 || e.Threshold != 2 {
					t.Errorf("error %v", e)
				}
			},
		},
		"version skipped": {
			func(s *sim) {
				s.root.Signed.Version = 2
				s.rotateRoot(func(*metadata.RootType) {})
				s.set("2.root.json", s.get("3.root.json"))
			},
			func(t *testing.T, err error) {
				wantErr[*VersionError](t, err, trust.ErrSecurity)
			},
		},
		"version replayed": {
			func(s *sim) { s.set("2.root.json", s.get("1.root.json")) },
			func(t *testing.T, err error) {
				wantErr[*RollbackError](t, err, trust.ErrSecurity)
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := newSim(t)
			c, dir := s.client(t, false)
			tc.edit(s)
			tc.check(t, c.Refresh(ctx))
			unchanged(t, dir, "root", s.get("1.root.json"))
		})
	}
}

func TestTooManyRootRotations(t *testing.T) {
	s := newSim(t)
	for range 5 {
		s.rotateRoot(func(*metadata.RootType) {})
	}
	s.publish()
	c, dir := s.client(t, false)
	c.limits.MaxRootRotations = 3
	mustRefresh(t, c)
	var roots []string
	for _, r := range s.reqs() {
		if strings.HasSuffix(r, ".root.json") {
			roots = append(roots, r)
		}
	}
	if want := []string{"2.root.json", "3.root.json", "4.root.json"}; !slices.Equal(roots, want) {
		t.Errorf("root requests %q, want %q", roots, want)
	}
	unchanged(t, dir, "root", s.get("4.root.json"))
}

// TestFastForwardRecovery: an attacker holding the timestamp (or snapshot)
// key pushes versions far up; the repository recovers by rotating that key
// in a new root and going back to normal versions (5.3.11).
func TestFastForwardRecovery(t *testing.T) {
	for _, role := range []string{"timestamp", "snapshot"} {
		t.Run(role, func(t *testing.T) {
			s := newSim(t)
			c, dir := s.client(t, false)
			mustRefresh(t, c)
			normal := *s.snapshot
			if role == "timestamp" {
				s.timestamp.Signed.Version = 1000
			} else {
				s.snapshot.Signed.Version = 999
				s.targets["targets"].Signed.Version = 500
			}
			s.publish()
			mustRefresh(t, c) // the attack succeeds: the signatures are valid
			// Recovery: new key, versions back to normal.
			s.rotateRoot(func(r *metadata.RootType) { s.replaceKeys(r, role, 1, 1) })
			s.timestamp.Signed.Version, s.snapshot.Signed.Version = 3, normal.Signed.Version+1
			s.targets["targets"].Signed.Version = 2
			s.publish()
			mustRefresh(t, c)
			if got := c.Freshness().TimestampVersion; got != 4 {
				t.Errorf("timestamp version %d after recovery", got)
			}
			_ = dir
		})
	}
}

func TestEndlessData(t *testing.T) {
	for _, name := range []string{"2.root.json", "timestamp.json", "2.snapshot.json", "2.targets.json", "2.webkit.json", "payload"} {
		t.Run(name, func(t *testing.T) {
			s := newSim(t)
			s.delegate("targets", "webkit", []string{"webkit/*"}, false)
			s.addTarget("webkit", "webkit/a", []byte("a"), "")
			s.publish("targets", "webkit")
			if name == "2.root.json" {
				s.rotateRoot(func(*metadata.RootType) {})
			}
			c, _ := s.client(t, false)
			c.limits.SnapshotMax, c.limits.TargetsMax = 64<<10, 64<<10
			if name == "payload" {
				name = "targets/webkit/" + s.targets["webkit"].Signed.Targets["webkit/a"].Hashes["sha256"].String() + ".a"
			}
			s.endless(name)
			err := c.Refresh(ctx)
			if err == nil {
				var tg *Target
				tg, err = c.Lookup(ctx, "webkit/a")
				if err == nil {
					err = c.Download(ctx, tg, t.TempDir()+"/a")
				}
			}
			if e := wantErr[*LengthError](t, err, trust.ErrSecurity); !e.Exceeded {
				t.Errorf("error %v", e)
			}
		})
	}
}
