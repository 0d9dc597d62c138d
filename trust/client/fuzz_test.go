package client

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"testing"

	"github.com/bsiframework/bsi/trust"
)

// fuzzSeeds returns a small repository and the genuine bytes of its
// top-level files, the seeds of the fuzz tests.
func fuzzSeeds(f *testing.F) (*sim, map[string][]byte) {
	s := newSim(f)
	s.metaHashes = true
	s.delegate("targets", "webkit", []string{"webkit/*"}, false)
	s.addTarget("webkit", "webkit/a", []byte("a"), `{"bsi":{"x":[1,"\u00e9\\"]}}`)
	s.publish("targets", "webkit")
	return s, map[string][]byte{
		"root": s.get("1.root.json"), "timestamp": s.get("timestamp.json"),
		"snapshot": s.get("2.snapshot.json"), "targets": s.get("2.targets.json"),
	}
}

// fuzzSet returns a trusted set loaded with the genuine files up to (not
// including) stage upTo.
func fuzzSet(t *testing.T, s *sim, seeds map[string][]byte, upTo string) *trustedSet {
	ts, err := newTrustedSet(seeds["root"], s.now)
	if err != nil {
		t.Fatal(err)
	}
	for _, stage := range []string{"timestamp", "snapshot"} {
		if stage == upTo {
			return ts
		}
		switch stage {
		case "timestamp":
			_, err = ts.updateTimestamp(seeds["timestamp"], sha256.Sum256(seeds["timestamp"]), fromRemote)
		case "snapshot":
			err = ts.updateSnapshot(seeds["snapshot"], sha256.Sum256(seeds["snapshot"]), fromRemote)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return ts
}

// mustFailSecurely: anything but the genuine bytes must be rejected with
// a security or freshness error, never accepted, never a panic.
func mustFailSecurely(t *testing.T, data, genuine []byte, err error) {
	if bytes.Equal(data, genuine) {
		return
	}
	if err == nil {
		// Whitespace outside strings does not change the signed content.
		var a, b bytes.Buffer
		if json.Compact(&a, data) == nil && json.Compact(&b, genuine) == nil && bytes.Equal(a.Bytes(), b.Bytes()) {
			return
		}
		t.Fatalf("altered metadata accepted: %q", data)
	}
}

func FuzzVerifyRoot(f *testing.F) {
	_, seeds := fuzzSeeds(f)
	f.Add(seeds["root"])
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := newTrustedSet(data, simEpoch)
		mustFailSecurely(t, data, seeds["root"], err)
	})
}

func FuzzVerifyTimestamp(f *testing.F) {
	s, seeds := fuzzSeeds(f)
	f.Add(seeds["timestamp"])
	f.Fuzz(func(t *testing.T, data []byte) {
		ts := fuzzSet(t, s, seeds, "timestamp")
		_, err := ts.updateTimestamp(data, sha256.Sum256(data), fromRemote)
		mustFailSecurely(t, data, seeds["timestamp"], err)
	})
}

func FuzzVerifySnapshot(f *testing.F) {
	s, seeds := fuzzSeeds(f)
	f.Add(seeds["snapshot"])
	f.Fuzz(func(t *testing.T, data []byte) {
		ts := fuzzSet(t, s, seeds, "snapshot")
		err := ts.updateSnapshot(data, sha256.Sum256(data), fromCache)
		mustFailSecurely(t, data, seeds["snapshot"], err)
	})
}

func FuzzVerifyTargets(f *testing.F) {
	s, seeds := fuzzSeeds(f)
	f.Add(seeds["targets"])
	f.Fuzz(func(t *testing.T, data []byte) {
		ts := fuzzSet(t, s, seeds, "")
		// Without listed hashes, so that the signature check is reached.
		ts.snapshot.signed.Meta["targets.json"].Hashes = nil
		ts.snapshot.signed.Meta["targets.json"].Length = 0
		_, err := ts.updateTargets("targets", "root", ts.root.keys["targets"], data, sha256.Sum256(data), fromRemote, nil)
		mustFailSecurely(t, data, seeds["targets"], err)
		if err == nil {
			return
		}
		if !errorsIsAny(err, trust.ErrSecurity, trust.ErrFreshness) {
			t.Fatalf("error of no class: %v", err)
		}
	})
}

// FuzzCanonicalize: the canonical form is stable (canonicalizing it again
// gives the same bytes) and is valid JSON equal in value to the input.
func FuzzCanonicalize(f *testing.F) {
	_, seeds := fuzzSeeds(f)
	for _, b := range seeds {
		f.Add(b)
	}
	f.Add([]byte(`{"b":1,"a":[true,false,null,"x\"\\y\u0001"],"":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := canonicalize(nil, data)
		if err != nil {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		if bytes.ContainsFunc(out, func(r rune) bool { return r < 0x20 }) {
			return // canonical JSON keeps control characters raw: not JSON
		}
		again, err := canonicalize(nil, out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not stable: %q -> %q (%v)", out, again, err)
		}
	})
}

// FuzzIsCanonical: isCanonical never vouches for bytes that are not
// exactly what canonicalize makes of them (a signature is then checked
// over the bytes as received), and it recognises every canonical input
// without a backslash, so that verification copies nothing.
func FuzzIsCanonical(f *testing.F) {
	_, seeds := fuzzSeeds(f)
	for _, b := range seeds {
		f.Add(b)
		if out, err := canonicalize(nil, b); err == nil {
			f.Add(out)
		}
	}
	for _, s := range []string{`{"a":"x\"\\y","b":[1,-2,0,true,false,null],"c":{}}`, `{"b":1,"a":2}`, `{"a":1,"a":2}`,
		`{"a\"":1}`, `"\u0041"`, `-0`, `01`, `1.5`, `{"a" :1}`, `[1,]`, `"\/"`, "\"\x80\"", `{"":[[[]]]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := canonicalize(nil, data)
		same := err == nil && bytes.Equal(out, data)
		switch ok := isCanonical(data); {
		case ok && !same:
			t.Fatalf("isCanonical(%q) but canonicalize gives %q, %v", data, out, err)
		case !ok && same && !bytes.Contains(data, []byte(`\`)):
			t.Fatalf("canonical input %q not recognised", data)
		}
	})
}

func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// TestMangledMetadataRejected changes bytes of genuine metadata in turn; each change must be rejected unless it only touches whitespace
// outside strings (which the signature, over the canonical form, does
// not cover).
func TestMangledMetadataRejected(t *testing.T) {
	s := newSim(t)
	s.metaHashes = true
	s.publish("targets")
	seeds := map[string][]byte{"root": s.get("1.root.json"), "timestamp": s.get("timestamp.json"), "snapshot": s.get("2.snapshot.json")}
	check := map[string]func(ts *trustedSet, b []byte) error{
		"root": func(_ *trustedSet, b []byte) error { _, err := newTrustedSet(b, s.now); return err },
		"timestamp": func(ts *trustedSet, b []byte) error {
			_, err := ts.updateTimestamp(b, sha256.Sum256(b), fromRemote)
			return err
		},
		"snapshot": func(ts *trustedSet, b []byte) error { return ts.updateSnapshot(b, sha256.Sum256(b), fromCache) },
	}
	for role, genuine := range seeds {
		step := 1 // every byte of the timestamp, every 5th of the others
		if role != "timestamp" {
			step = 5
		}
		for i := 0; i < len(genuine); i += step {
			b := bytes.Clone(genuine)
			b[i] ^= 0x01
			ts := fuzzSet(t, s, seeds, role)
			mustFailSecurely(t, b, genuine, check[role](ts, b))
		}
	}
}
