package client

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/trust"
)

// wantErr checks that err is a *E wrapping class (nil: neither class) and
// returns it.
func wantErr[E error](t *testing.T, err error, class error) E {
	t.Helper()
	var e E
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want %T", err, err, e)
	}
	for _, c := range []error{trust.ErrSecurity, trust.ErrFreshness} {
		if errors.Is(err, c) != (c == class) {
			t.Fatalf("error %v: errors.Is(%v) = %v", err, c, !(c == class))
		}
	}
	return e
}

// unchanged checks that the stored copy of role still has the bytes want.
func unchanged(t *testing.T, dir, role string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(dir, fileName(role)))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s was replaced by rejected metadata", role)
	}
}

func stored(t *testing.T, dir, role string) []byte {
	b, err := os.ReadFile(filepath.Join(dir, fileName(role)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAttackTimestampRollback(t *testing.T) {
	s := newSim(t)
	old := s.get("timestamp.json")
	s.publish("targets")
	c, dir := s.client(t, false)
	mustRefresh(t, c)
	trusted := stored(t, dir, "timestamp")
	s.set("timestamp.json", old)
	e := wantErr[*RollbackError](t, c.Refresh(ctx), trust.ErrSecurity)
	if d := cmp.Diff(&RollbackError{Role: "timestamp", Trusted: 2, Got: 1}, e); d != "" {
		t.Error(d)
	}
	if e.Error() != "timestamp: version 1 is lower than trusted 2" {
		t.Errorf("message %q", e)
	}
	unchanged(t, dir, "timestamp", trusted)
}

func TestAttackSnapshotRollback(t *testing.T) {
	s := newSim(t)
	s.publish("targets")
	c, dir := s.client(t, false)
	mustRefresh(t, c)
	trusted := stored(t, dir, "timestamp")
	// A newer timestamp, validly signed, listing an older snapshot.
	s.timestamp.Signed.Version++
	s.timestamp.Signed.Meta["snapshot.json"].Version = 1
	s.set("timestamp.json", sign(t, s.timestamp, s.signers["timestamp"]))
	e := wantErr[*RollbackError](t, c.Refresh(ctx), trust.ErrSecurity)
	if d := cmp.Diff(&RollbackError{Role: "snapshot", In: "timestamp", Trusted: 2, Got: 1}, e); d != "" {
		t.Error(d)
	}
	unchanged(t, dir, "timestamp", trusted)

	// The right timestamp, but the server hands out the old snapshot.
	s.publish()
	s.set(strconv.FormatInt(s.snapshot.Signed.Version, 10)+".snapshot.json", s.get("1.snapshot.json"))
	wantErr[*RollbackError](t, c.Refresh(ctx), trust.ErrSecurity)
}

func TestAttackTargetsRollback(t *testing.T) {
	for _, role := range []string{"targets", "webkit"} {
		t.Run(role, func(t *testing.T) {
			s := newSim(t)
			s.delegate("targets", "webkit", []string{"webkit/*"}, false)
			s.addTarget("webkit", "webkit/a", []byte("a"), "")
			s.publish("targets", "webkit")
			s.publish(role)
			c, dir := s.client(t, false)
			mustRefresh(t, c)
			if _, err := c.Lookup(ctx, "webkit/a"); err != nil {
				t.Fatal(err)
			}
			snap := stored(t, dir, "snapshot")
			// A newer snapshot listing an older version of role.
			s.snapshot.Signed.Meta[role+".json"].Version = 2
			s.snapshot.Signed.Version++
			b := sign(t, s.snapshot, s.signers["snapshot"])
			s.set("4.snapshot.json", b)
			s.timestamp.Signed.Version++
			s.timestamp.Signed.Meta["snapshot.json"] = metadata.MetaFile(4)
			s.set("timestamp.json", sign(t, s.timestamp, s.signers["timestamp"]))
			e := wantErr[*RollbackError](t, c.Refresh(ctx), trust.ErrSecurity)
			if d := cmp.Diff(&RollbackError{Role: role, In: "snapshot", Trusted: 3, Got: 2}, e); d != "" {
				t.Error(d)
			}
			unchanged(t, dir, "snapshot", snap)
		})
	}
}

func TestAttackDelegatedRollback(t *testing.T) {
	// The snapshot is honest but the server hands out an older file of
	// the delegated role under the new name.
	s := newSim(t)
	s.delegate("targets", "webkit", []string{"webkit/*"}, false)
	s.addTarget("webkit", "webkit/a", []byte("a"), "")
	s.publish("targets", "webkit")
	s.publish("webkit")
	s.set("3.webkit.json", s.get("2.webkit.json"))
	c, _ := s.client(t, false)
	mustRefresh(t, c)
	_, err := c.Lookup(ctx, "webkit/a")
	e := wantErr[*RollbackError](t, err, trust.ErrSecurity)
	if d := cmp.Diff(&RollbackError{Role: "webkit", Trusted: 3, Got: 2}, e); d != "" {
		t.Error(d)
	}
}

func TestFreeze(t *testing.T) {
	for _, role := range []string{"root", "timestamp", "snapshot", "targets", "webkit"} {
		t.Run(role, func(t *testing.T) {
			s := newSim(t)
			s.delegate("targets", "webkit", []string{"webkit/*"}, false)
			s.addTarget("webkit", "webkit/a", []byte("a"), "")
			s.publish("targets", "webkit")
			c, _ := s.client(t, false)
			mustRefresh(t, c)
			// Everything else is re-signed fresh; role keeps its expiry.
			later := s.now.AddDate(2, 0, 0)
			var expires time.Time
			s.root.Signed.Expires, s.timestamp.Signed.Expires, s.snapshot.Signed.Expires = later.AddDate(1, 0, 0), later.AddDate(0, 0, 1), later.AddDate(0, 0, 7)
			for _, r := range s.order {
				s.targets[r].Signed.Expires = later.AddDate(0, 1, 0)
			}
			switch role {
			case "root":
				expires = s.now.AddDate(1, 0, 0)
				s.root.Signed.Expires = expires
			case "timestamp":
				expires = s.now.AddDate(0, 0, 1)
				s.timestamp.Signed.Expires = expires
			case "snapshot":
				expires = s.now.AddDate(0, 0, 7)
				s.snapshot.Signed.Expires = expires
			default:
				expires = s.now.AddDate(0, 3, 0)
				s.targets[role].Signed.Expires = expires
			}
			s.rotateRoot(func(*metadata.RootType) {})
			s.publish("targets", "webkit")
			s.now = later
			err := c.Refresh(ctx)
			if role == "webkit" {
				if err != nil {
					t.Fatal(err)
				}
				_, err = c.Lookup(ctx, "webkit/a")
			}
			e := wantErr[*ExpiredError](t, err, trust.ErrFreshness)
			if e.Role != role || !e.Expires.Equal(expires) || !e.Now.Equal(later) {
				t.Errorf("error %v", e)
			}
		})
	}
}

func TestMixAndMatch(t *testing.T) {
	for _, hashes := range []bool{false, true} {
		s := newSim(t)
		s.metaHashes = hashes
		s.addTarget("targets", "a", []byte("a"), "")
		s.publish("targets")
		old := s.get("2.targets.json")
		s.addTarget("targets", "b", []byte("b"), "")
		s.publish("targets")
		// The current snapshot with an old targets file in its place.
		s.set("3.targets.json", old)
		c, _ := s.client(t, false)
		err := c.Refresh(ctx)
		if hashes {
			// The listed length catches it before the hash.
			wantErr[*LengthError](t, err, trust.ErrSecurity)
		} else {
			wantErr[*RollbackError](t, err, trust.ErrSecurity)
		}
	}
}

func TestForgedPayload(t *testing.T) {
	s := newSim(t)
	tf := s.addTarget("targets", "dir/p.tar", []byte("genuine payload"), "")
	s.publish("targets")
	c, _ := s.client(t, false)
	mustRefresh(t, c)
	tg, err := c.Lookup(ctx, "dir/p.tar")
	if err != nil {
		t.Fatal(err)
	}
	name := "dir/" + tg.Hashes["sha256"] + ".p.tar"
	for _, tc := range []struct {
		body  string
		check func(error)
	}{
		{"forged payload!", func(err error) { wantErr[*HashError](t, err, trust.ErrSecurity) }},
		{"short", func(err error) { wantErr[*LengthError](t, err, trust.ErrSecurity) }},
		{"genuine payload and more", func(err error) {
			if e := wantErr[*LengthError](t, err, trust.ErrSecurity); !e.Exceeded {
				t.Error("not reported as exceeding")
			}
		}},
	} {
		s.mu.Lock()
		s.payloads[name] = []byte(tc.body)
		s.mu.Unlock()
		dir := t.TempDir()
		tc.check(c.Download(ctx, tg, filepath.Join(dir, "p")))
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("left %v behind", ents[0].Name())
		}
	}
	_ = tf
}

func TestWrongDelegationPath(t *testing.T) {
	s := newSim(t)
	s.delegate("targets", "webkit", []string{"webkit/*"}, false)
	s.addTarget("webkit", "webkit/ok", []byte("ok"), "")
	s.addTarget("webkit", "libc/evil", []byte("evil"), "") // outside its paths
	s.publish("targets", "webkit")
	c, _ := s.client(t, false)
	mustRefresh(t, c)
	_, err := c.Lookup(ctx, "libc/evil")
	wantErr[*NotFoundError](t, err, nil)
	all, err := c.Targets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].Path != "webkit/ok" {
		t.Errorf("targets %v", all)
	}
}

func TestThresholdDuplicateKeys(t *testing.T) {
	t.Run("same keyid twice", func(t *testing.T) {
		s := newSim(t)
		k := s.signers["timestamp"][0]
		s.rotateRoot(func(r *metadata.RootType) { r.Roles["timestamp"].Threshold = 2 })
		s.timestamp.Signed.Version++
		b := sign(t, s.timestamp, []*simKey{k})
		s.timestamp.Signatures = append(s.timestamp.Signatures, s.timestamp.Signatures[0])
		b, _ = s.timestamp.ToBytes(false)
		s.set("timestamp.json", b)
		c, _ := s.client(t, false)
		// Refused outright (spec 4.2: the keyid MUST be unique), not
		// merely counted once.
		e := wantErr[*DuplicateSignatureError](t, c.Refresh(ctx), trust.ErrSecurity)
		if e.Role != "timestamp" || e.KeyID != k.id {
			t.Errorf("error %v", e)
		}
	})
	t.Run("one key under two ids", func(t *testing.T) {
		s := newSim(t)
		k := s.signers["timestamp"][0]
		alias := metadata.Key{Type: k.key.Type, Scheme: k.key.Scheme, Value: k.key.Value}
		alias.UnrecognizedFields = map[string]any{"x-alias": true}
		id2, err := alias.ID()
		if err != nil || id2 == k.id {
			t.Fatal("no alias id", err)
		}
		s.rotateRoot(func(r *metadata.RootType) {
			r.Keys[id2] = &alias
			r.Roles["timestamp"].KeyIDs = append(r.Roles["timestamp"].KeyIDs, id2)
			r.Roles["timestamp"].Threshold = 2
		})
		s.timestamp.Signed.Version++
		sign(t, s.timestamp, []*simKey{k})
		sig := s.timestamp.Signatures[0]
		sig.KeyID = id2
		s.timestamp.Signatures = append(s.timestamp.Signatures, sig)
		b, _ := s.timestamp.ToBytes(false)
		s.set("timestamp.json", b)
		c, _ := s.client(t, false)
		e := wantErr[*SignatureError](t, c.Refresh(ctx), trust.ErrSecurity)
		if e.Have != 1 || e.Threshold != 2 {
			t.Errorf("error %v", e)
		}
	})
}

func TestForgedSignatures(t *testing.T) {
	s := newSim(t)
	c, dir := s.client(t, false)
	mustRefresh(t, c)
	trusted := stored(t, dir, "timestamp")
	// Signed by a key the root does not list.
	s.timestamp.Signed.Version++
	s.set("timestamp.json", sign(t, s.timestamp, []*simKey{newKey(t)}))
	e := wantErr[*SignatureError](t, c.Refresh(ctx), trust.ErrSecurity)
	if e.Have != 0 || e.Threshold != 1 || e.Signer != "root v1" {
		t.Errorf("error %v", e)
	}
	// Genuine signature, altered content.
	b := sign(t, s.timestamp, s.signers["timestamp"])
	b = bytes.Replace(b, []byte(`"version": 2`), []byte(`"version": 9`), 1)
	s.set("timestamp.json", b)
	wantErr[*SignatureError](t, c.Refresh(ctx), trust.ErrSecurity)
	unchanged(t, dir, "timestamp", trusted)
}

// TestAttackSignatureOverNonCanonicalBytes: a holder of a valid signature
// by the timestamp key over bytes that are not canonical JSON (whitespace,
// keys out of order: what a key reused by another tool might sign)
// cannot pass them off as metadata. The signature must cover the
// canonical form, which the client rebuilds; verifying the bytes as
// received (the fast path for canonical input) must never apply to
// them. The control signs the canonical form of the same bytes and is
// accepted.
func TestAttackSignatureOverNonCanonicalBytes(t *testing.T) {
	forge := func(t *testing.T, s *sim, variant func([]byte) []byte, signCanonical bool) []byte {
		t.Helper()
		s.timestamp.Signed.Version++
		canonical := sign(t, s.timestamp, s.signers["timestamp"])
		var env struct{ Signed json.RawMessage }
		if err := json.Unmarshal(canonical, &env); err != nil {
			t.Fatal(err)
		}
		raw := variant(env.Signed)
		msg := raw
		if signCanonical {
			var err error
			if msg, err = canonicalize(nil, raw); err != nil {
				t.Fatal(err)
			}
		}
		k := s.signers["timestamp"][0]
		sig, err := k.signer.SignMessage(bytes.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		return []byte(`{"signatures":[{"keyid":"` + k.id + `","sig":"` + hex.EncodeToString(sig) + `"}],"signed":` + string(raw) + `}`)
	}
	variants := map[string]func([]byte) []byte{
		"indented": func(b []byte) []byte {
			var out bytes.Buffer
			if err := json.Indent(&out, b, "", "  "); err != nil {
				t.Fatal(err)
			}
			return out.Bytes()
		},
		"keys-reversed": func(b []byte) []byte {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			keys := slices.Sorted(maps.Keys(m))
			slices.Reverse(keys)
			out := []byte("{")
			for i, k := range keys {
				if i > 0 {
					out = append(out, ',')
				}
				out = append(append(strconv.AppendQuote(out, k), ':'), m[k]...)
			}
			return append(out, '}')
		},
	}
	for name, variant := range variants {
		t.Run(name, func(t *testing.T) {
			s := newSim(t)
			c, dir := s.client(t, false)
			mustRefresh(t, c)
			trusted := stored(t, dir, "timestamp")
			if isCanonical(variant([]byte(`{"b":1,"a":{"d":2,"c":3}}`))) {
				t.Fatal("the variant is canonical: the test proves nothing")
			}
			s.set("timestamp.json", forge(t, s, variant, false))
			e := wantErr[*SignatureError](t, c.Refresh(ctx), trust.ErrSecurity)
			if e.Role != "timestamp" || e.Have != 0 {
				t.Errorf("error %v", e)
			}
			unchanged(t, dir, "timestamp", trusted)
			// Control: the same bytes, signed over their canonical form.
			s.set("timestamp.json", forge(t, s, variant, true))
			mustRefresh(t, c)
		})
	}
}
