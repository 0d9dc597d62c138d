package client

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bsiframework/bsi/trust"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// The fuzz tests of this file cover what fuzz_test.go does not: root
// rotation, delegated roles (paths, hash prefixes, succinct bins), the
// delegation matching itself, and the percent-encoding of names.

// FuzzVerifyRootRotation: with version 1 trusted, only the genuine
// version 2 root (signed by the old and the new root keys) is accepted
// as the next root; what is accepted go-tuf accepts as well.
func FuzzVerifyRootRotation(f *testing.F) {
	s := newSim(f)
	s.rotateRoot(func(r *metadata.RootType) { s.replaceKeys(r, "root", 2, 2) })
	v1, v2 := s.get("1.root.json"), s.get("2.root.json")
	f.Add(v2)
	f.Add(v1)
	trusted, err := metadata.Root().FromBytes(v1)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, err := newTrustedSet(v1, s.now)
		if err != nil {
			t.Fatal(err)
		}
		err = ts.updateRoot(data)
		mustFailSecurely(t, data, v2, err)
		if err != nil {
			if ts.root.signed.Version != 1 {
				t.Fatalf("refused root changed the trusted version to %d", ts.root.signed.Version)
			}
			return
		}
		next, err := metadata.Root().FromBytes(data)
		if err != nil {
			t.Fatalf("accepted root go-tuf cannot read: %v", err)
		}
		if err := trusted.VerifyDelegate("root", next); err != nil || next.VerifyDelegate("root", next) != nil {
			t.Fatalf("accepted root go-tuf does not verify: %v", err)
		}
		if ts.root.signed.Version != 2 {
			t.Fatalf("accepted root has version %d", ts.root.signed.Version)
		}
	})
}

// delegatedSim is a repository whose top-level targets delegates
// "webkit" by path pattern and "hashed" by path hash prefix, and whose
// "webkit" delegates to succinct hash bins, each role holding a target.
func delegatedSim(f *testing.F) (*sim, map[string][]byte) {
	s := newSim(f)
	s.delegate("targets", "webkit", []string{"webkit/*", "webkit/*/*.tar.gz"}, false)
	hashed := s.delegate("targets", "hashed", nil, true)
	hashed.Paths = nil
	sum := sha256.Sum256([]byte("other/b.tar.gz"))
	hashed.PathHashPrefixes = []string{"f00d", hex.EncodeToString(sum[:2])[:3]}
	bins := s.delegateBins("webkit", "webkit-bin", 3)
	s.addTarget("webkit", "webkit/a.tar.gz", []byte("a"), `{"bsi":{"id":"webkit-a"}}`)
	s.addTarget("hashed", "other/b.tar.gz", []byte("b"), "")
	bin := s.targets["webkit"].Signed.Delegations.SuccinctRoles.GetRolesForTarget("webkit/x/c.tar.gz")[0].Name
	s.addTarget(bin, "webkit/x/c.tar.gz", []byte("c"), "")
	s.publish(append([]string{"targets", "webkit", "hashed"}, bins...)...)
	seeds := map[string][]byte{
		"root": s.get("1.root.json"), "timestamp": s.get("timestamp.json"),
		"snapshot": s.get("snapshot.json"), "targets": s.get("targets.json"),
		"webkit": s.get("webkit.json"), "hashed": s.get("hashed.json"), "bin": s.get(escapeName(bin, true) + ".json"),
	}
	seeds["binName"] = []byte(bin)
	return s, seeds
}

// delegatedSet returns a trusted set with the genuine top-level files and
// the delegator of role loaded, and the keys the delegator gives role.
func delegatedSet(t *testing.T, s *sim, seeds map[string][]byte, role, delegator string) (*trustedSet, *roleKeys) {
	ts := fuzzSet(t, s, seeds, "")
	load := func(role, delegator string, rk *roleKeys) {
		raw := seeds[role]
		if _, err := ts.updateTargets(role, delegator, rk, raw, sha256.Sum256(raw), fromRemote, nil); err != nil {
			t.Fatal(err)
		}
	}
	keys := func(role, delegator string) *roleKeys {
		d, err := ts.roles[delegator].delegs()
		if err != nil {
			t.Fatal(err)
		}
		rk, err := d.keysFor(delegator, role)
		if err != nil {
			t.Fatal(err)
		}
		return rk
	}
	load("targets", "root", ts.root.keys["targets"])
	if delegator == "webkit" {
		load("webkit", "targets", keys("webkit", "targets"))
	}
	return ts, keys(role, delegator)
}

// fuzzDelegated is the property of the delegated-role fuzz tests: only
// the genuine file verifies as role, and an accepted file decodes to the
// entries and delegations go-tuf reads.
func fuzzDelegated(f *testing.F, role, delegator string, genuine func(map[string][]byte) []byte) {
	s, seeds := delegatedSim(f)
	if role == "" {
		role = string(seeds["binName"])
	}
	f.Add(genuine(seeds))
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, rk := delegatedSet(t, s, seeds, role, delegator)
		got, err := ts.updateTargets(role, delegator, rk, data, sha256.Sum256(data), fromRemote, nil)
		mustFailSecurely(t, data, genuine(seeds), err)
		if err != nil {
			if !errorsIsAny(err, trust.ErrSecurity, trust.ErrFreshness) {
				t.Fatalf("error of no class: %v", err)
			}
			return
		}
		md, err := metadata.Targets().FromBytes(data)
		if err != nil {
			t.Fatalf("accepted file go-tuf cannot read: %v", err)
		}
		for p, want := range md.Signed.Targets {
			e, _, err := got.find(p)
			if err != nil || e == nil || e.Length != want.Length {
				t.Fatalf("target %q: go-tuf reads length %d, we %+v (%v)", p, want.Length, e, err)
			}
		}
	})
}

// FuzzVerifyDelegatedPaths: a role delegated by path patterns.
func FuzzVerifyDelegatedPaths(f *testing.F) {
	fuzzDelegated(f, "webkit", "targets", func(s map[string][]byte) []byte { return s["webkit"] })
}

// FuzzVerifyDelegatedHashPrefix: a terminating role delegated by path
// hash prefixes.
func FuzzVerifyDelegatedHashPrefix(f *testing.F) {
	fuzzDelegated(f, "hashed", "targets", func(s map[string][]byte) []byte { return s["hashed"] })
}

// FuzzVerifySuccinctBin: a succinct hash bin (TAP 15), delegated by a
// delegated role.
func FuzzVerifySuccinctBin(f *testing.F) {
	fuzzDelegated(f, "", "webkit", func(s map[string][]byte) []byte { return s["bin"] })
}

// FuzzDelegationMatch compares which roles a delegation hands a target to
// with go-tuf: path patterns (in order, with a hash-prefix role between
// them, which go-tuf reads as base64 and so is left out of the
// comparison), the succinct bin of a target, and whether a name is a bin.
func FuzzDelegationMatch(f *testing.F) {
	f.Add("webkit/*", "webkit/a.tar.gz", "bins", 3, "bins-5")
	f.Add("webkit/*/*.tar.gz", "webkit/x/c.tar.gz", "webkit-bin", 8, "webkit-bin-0f")
	f.Add("*", "a/b", "p", 1, "p-1")
	f.Add("[a-", "[a-", "x", 32, "x-ffffffff")
	f.Add("a\\*", "a*", "", 16, "-0000")
	f.Add("*/", "a/", "x", 12, "x-+01")
	f.Fuzz(func(t *testing.T, pattern, target, namePrefix string, bits int, name string) {
		d := &delegations{Roles: []*delegatedRole{
			{Name: "p1", Paths: []string{pattern}},
			{Name: "h", PathHashPrefixes: []string{"zz"}}, // no hex digest starts so
			{Name: "p2", Paths: []string{"other", pattern + "/*"}},
		}}
		gd := &metadata.Delegations{Roles: []metadata.DelegatedRole{
			{Name: "p1", Paths: []string{pattern}}, {Name: "p2", Paths: []string{"other", pattern + "/*"}},
		}}
		var got, want []string
		for _, c := range d.childrenFor(target) {
			got = append(got, c.name)
		}
		for _, r := range gd.GetRolesForTarget(target) {
			want = append(want, r.Name)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("pattern %q, target %q: we delegate to %v, go-tuf to %v", pattern, target, got, want)
		}
		if bits < 1 || bits > 32 {
			return // checkDelegations refuses such bins
		}
		sr := &succinctRoles{BitLength: bits, NamePrefix: namePrefix}
		gsr := &metadata.SuccinctRoles{BitLength: bits, NamePrefix: namePrefix}
		if got, want := sr.binName(target), gsr.GetRolesForTarget(target)[0].Name; got != want {
			t.Fatalf("bin of %q: we say %q, go-tuf %q", target, got, want)
		}
		// go-tuf also takes "+1" and upper case; bins are lower-case hex.
		suffix, _ := strings.CutPrefix(name, namePrefix+"-")
		lowerHex := strings.Trim(suffix, "0123456789abcdef") == ""
		if got, want := sr.isBin(name), gsr.IsDelegatedRole(name); got && !want || want && lowerHex && !got {
			t.Fatalf("%q is a bin of %q/%d: we say %v, go-tuf %v", name, namePrefix, bits, got, want)
		}
	})
}

// FuzzVerifiedStateRecord: whatever the verified-state record holds, a
// client whose metadata directory is otherwise genuine refreshes and
// finds every target as the repository lists it: a damaged record costs
// verification work, never a wrong answer.
func FuzzVerifiedStateRecord(f *testing.F) {
	s, _ := delegatedSim(f)
	c, dir := s.client(f, false)
	mustRefresh(f, c)
	want := map[string]*Target{}
	for _, p := range []string{"webkit/a.tar.gz", "other/b.tar.gz", "webkit/x/c.tar.gz"} {
		tg, err := c.Lookup(f.Context(), p)
		if err != nil {
			f.Fatal(err)
		}
		want[p] = tg
	}
	files := readDir(f, dir)
	f.Add(files[recordFile])
	f.Add([]byte(`{"files":{}}`))
	f.Add([]byte(`{"files":null}`))
	f.Fuzz(func(t *testing.T, rec []byte) {
		d := t.TempDir()
		writeDir(t, d, files)
		writeDir(t, d, map[string][]byte{recordFile: rec})
		c := s.clientAt(t, d)
		mustRefresh(t, c)
		for p, w := range want {
			got, err := c.Lookup(t.Context(), p)
			if err != nil {
				t.Fatalf("record %q: look-up of %s: %v", rec, p, err)
			}
			if got.Length != w.Length || !equalHashes(got.Hashes, w.Hashes) {
				t.Fatalf("record %q: %s is %+v, the repository lists %+v", rec, p, got, w)
			}
		}
	})
}

func equalHashes(a, b map[string]string) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// FuzzEscapeName: role names and target paths become one safe file name
// (no "/", NUL, "." or ".." and no leading "."); file names, URL names and
// URL paths decode back to the name; and joinURL never lets a name change
// the scheme, host or query of the prefix.
func FuzzEscapeName(f *testing.F) {
	for _, s := range []string{"webkit", "webkit-bin-0f", "..", ".", "a/b", "../../x", "~", ".~", "root", "é",
		"a%2Fb", "nul\x00", "", "@evil.example/x", "?q=1#f", "//h/p"} {
		f.Add(s, "http://127.0.0.1:8080/metadata/")
	}
	f.Add("targets", "https://h/p%2Fq")
	f.Fuzz(func(t *testing.T, name, prefix string) {
		if name == "" {
			return // checkDelegations refuses empty role names
		}
		file := fileName(name)
		base := strings.TrimSuffix(file, ".json")
		if strings.ContainsAny(file, "/\\\x00") || strings.HasPrefix(file, ".") {
			t.Fatalf("role %q gives the file name %q", name, file)
		}
		if back, err := url.PathUnescape(base); err != nil || back != name {
			t.Fatalf("role %q -> %q decodes to %q (%v)", name, file, back, err)
		}
		u := escapeName(name, true)
		if !plainURLName(u) {
			t.Fatalf("URL name %q -> %q", name, u)
		}
		if back, err := url.PathUnescape(u); err != nil || back != name {
			t.Fatalf("URL name %q -> %q decodes to %q (%v)", name, u, back, err)
		}
		p := escapePath(name)
		if back, err := url.PathUnescape(p); err != nil || back != name {
			t.Fatalf("target path %q -> %q decodes to %q (%v)", name, p, back, err)
		}
		if strings.Count(p, "/") != strings.Count(name, "/") {
			t.Fatalf("target path %q -> %q changes the segments", name, p)
		}
		j := joinURL(prefix, u)
		if !strings.HasSuffix(j, "/"+u) || !strings.HasPrefix(j, strings.TrimSuffix(prefix, "/")) {
			t.Fatalf("joinURL(%q, %q) = %q", prefix, u, j)
		}
		pu, err := url.Parse(prefix)
		if err != nil || pu.Host == "" || strings.ContainsAny(prefix, "?#") {
			return
		}
		ju, err := url.Parse(j)
		if err != nil {
			t.Fatalf("joinURL(%q, %q) = %q does not parse: %v", prefix, u, j, err)
		}
		if ju.Scheme != pu.Scheme || ju.Host != pu.Host || ju.User.String() != pu.User.String() || ju.RawQuery != "" || ju.Fragment != "" {
			t.Fatalf("name %q moves %q to %q", name, prefix, j)
		}
	})
}

// plainURLName reports whether s holds only unreserved bytes and
// well-formed percent escapes: one path segment ("." and ".." stay, as
// in Python's quote: role names get ".json" appended).
func plainURLName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == '~':
		case c == '%' && i+2 < len(s) && isUpperHex(s[i+1]) && isUpperHex(s[i+2]):
			i += 2
		default:
			return false
		}
	}
	return true
}

func isUpperHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' }

// readDir returns the regular files of dir by name.
func readDir(tb testing.TB, dir string) map[string][]byte {
	tb.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range ents {
		if e.Type().IsRegular() {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				tb.Fatal(err)
			}
			files[e.Name()] = b
		}
	}
	return files
}

func writeDir(tb testing.TB, dir string, files map[string][]byte) {
	tb.Helper()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestDamagedRecordExpiry: one flipped bit in the expiry a verified-state
// record keeps for a delegated role ("2030" to "2031") must not make the
// client accept that role after it expired. It does: a file trusted
// through the record takes its version and expiry from the record
// (loadRole in lookup.go, updateTargets with fromRecord in trusted.go,
// and the index path in index.go), and nothing ties them to the bytes.
func TestDamagedRecordExpiry(t *testing.T) {
	s := newSim(t)
	s.delegate("targets", "webkit", []string{"webkit/*"}, false)
	s.targets["webkit"].Signed.Expires = s.now.Add(time.Hour)
	s.addTarget("webkit", "webkit/a", []byte("a"), "")
	s.publish("targets", "webkit")
	c, dir := s.client(t, false)
	mustRefresh(t, c)
	if _, err := c.Lookup(t.Context(), "webkit/a"); err != nil {
		t.Fatal(err)
	}
	files := readDir(t, dir)
	var rec record
	if err := json.Unmarshal(files[recordFile], &rec); err != nil {
		t.Fatal(err)
	}
	exp, _ := rec.Files["webkit"].Expires.MarshalJSON()
	damaged := bytes.Replace(files[recordFile], exp, bytes.Replace(exp, []byte("2030"), []byte("2031"), 1), 1)
	if bytes.Equal(damaged, files[recordFile]) {
		t.Fatalf("expiry %s not found in the record", exp)
	}
	d := t.TempDir()
	writeDir(t, d, files)
	writeDir(t, d, map[string][]byte{recordFile: damaged})
	s.now = s.now.Add(2 * time.Hour) // webkit expired; timestamp, snapshot, targets fresh
	c2 := s.clientAt(t, d)
	mustRefresh(t, c2)
	if _, err := c2.Lookup(t.Context(), "webkit/a"); !errors.Is(err, trust.ErrFreshness) {
		t.Fatalf("expired webkit, damaged record: look-up error %v, want a freshness error", err)
	}
}
