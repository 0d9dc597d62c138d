package repo

import (
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// TestVerifyThresholdMatchesGoTUF: the check over the canonical bytes made
// for signing accepts and refuses exactly what go-tuf's VerifyDelegate
// (which encodes them again) does, for a component delegated by targets.
func TestVerifyThresholdMatchesGoTUF(t *testing.T) {
	f := newFixture(t)
	signedBy := func(m *targetsMeta, names ...string) *targetsMeta {
		c := *m
		c.Signatures = nil
		for _, n := range names {
			if _, err := c.Sign(f.key(n)); err != nil {
				t.Fatal(err)
			}
		}
		return &c
	}
	role := metadata.Targets(f.clock.Add(24 * 3600e9))
	role.Signed.Targets["webkit/a.tar"] = &metadata.TargetFiles{Length: 1, Hashes: metadata.Hashes{"sha256": make([]byte, 32)}, Path: "webkit/a.tar"}
	canon, err := canonicalOf(role.Signed)
	if err != nil {
		t.Fatal(err)
	}
	delegator := func(threshold int, keys ...string) *targetsMeta {
		d := metadata.Targets(f.clock)
		d.Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{},
			Roles: []metadata.DelegatedRole{{Name: "webkit", Threshold: threshold, Paths: []string{"webkit/*"}}}}
		for _, k := range keys {
			if err := d.Signed.AddKey(f.tufKey(k), "webkit"); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	forged := signedBy(role, "webkit1")
	forged.Signatures[0].Signature[0] ^= 1
	noKey := delegator(1, "webkit1")
	delete(noKey.Signed.Delegations.Keys, f.keyID("webkit1"))
	zero := delegator(1, "webkit1")
	zero.Signed.Delegations.Roles[0].Threshold = 0
	for _, tc := range []struct {
		name string
		d    *targetsMeta
		m    *targetsMeta
		ok   bool
	}{
		{"signed", delegator(1, "webkit1"), signedBy(role, "webkit1"), true},
		{"two of two", delegator(2, "webkit1", "webkit2"), signedBy(role, "webkit1", "webkit2"), true},
		{"one of two needed two", delegator(2, "webkit1", "webkit2"), signedBy(role, "webkit1"), false},
		{"unsigned", delegator(1, "webkit1"), signedBy(role), false},
		{"other key", delegator(1, "webkit1"), signedBy(role, "webkit2"), false},
		{"forged signature", delegator(1, "webkit1"), forged, false},
		{"key missing from keys", noKey, signedBy(role, "webkit1"), false},
		{"threshold zero", zero, signedBy(role, "webkit1"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.d.VerifyDelegate("webkit", tc.m)
			got := verifyThreshold(tc.d.Signed.Delegations.Keys, delegatedRoleKeys(tc.d, "webkit"), tc.m.Signatures, canon)
			if (got == nil) != (want == nil) || (got == nil) != tc.ok {
				t.Fatalf("verifyThreshold: %v; go-tuf VerifyDelegate: %v; want ok=%v", got, want, tc.ok)
			}
		})
	}
}
