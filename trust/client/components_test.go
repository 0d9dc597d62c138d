package client

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/trust"
)

// twoComponents is a repository where targets delegates webkit, then
// safari, each with one target of its own.
func twoComponents(t *testing.T) *sim {
	s := newSim(t)
	s.delegate("targets", "webkit", []string{"webkit/*"}, true)
	s.delegate("targets", "safari", []string{"safari/*"}, true)
	s.addTarget("webkit", "webkit/a", []byte("webkit a"), "")
	s.addTarget("safari", "safari/fix", []byte("safari fix"), "")
	s.publish("targets", "webkit", "safari")
	return s
}

// compNamed returns the component named role, failing when absent.
func compNamed(t *testing.T, comps []Component, role string) Component {
	t.Helper()
	for _, c := range comps {
		if c.Role == role {
			return c
		}
	}
	t.Fatalf("no component %s in %v", role, comps)
	return Component{}
}

// servedName is the name a role's listed version is served under.
func servedName(s *sim, role string) string {
	return strconv.FormatInt(s.targets[role].Signed.Version, 10) + "." + escapeName(role, true) + ".json"
}

// checkClass checks that err wraps class (nil: neither class).
func checkClass(t *testing.T, what string, err, class error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %v", what, class)
	}
	for _, c := range []error{trust.ErrSecurity, trust.ErrFreshness} {
		if errors.Is(err, c) != (c == class) {
			t.Fatalf("%s: error %v: errors.Is(%v) = %v", what, err, c, !(c == class))
		}
	}
}

func TestComponents(t *testing.T) {
	s := twoComponents(t)
	s.addTarget("targets", "top", []byte("top"), "")
	s.publish("targets")
	c, _ := s.client(t, false)
	comps, err := c.Components(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, comp := range comps {
		if comp.Err != nil {
			t.Errorf("%s: %v", comp.Role, comp.Err)
		}
		got = append(got, comp.Role+":"+strings.Join(names(comp.Targets), ","))
	}
	want := []string{"targets:top@targets", "webkit:webkit/a@targets>webkit", "safari:safari/fix@targets>safari"}
	if !slices.Equal(got, want) {
		t.Errorf("components %q, want %q", got, want)
	}
	all, err := c.Targets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(all), []string{"safari/fix@targets>safari", "top@targets", "webkit/a@targets>webkit"}; !slices.Equal(got, want) {
		t.Errorf("targets %q, want %q", got, want)
	}
}

// TestAttackNestedRoleShadowsComponent: the holder of webkit's key, with a
// mirror, makes webkit delegate a role named "safari" to the webkit key
// and serves a safari.json of the listed version signed by that key. The
// real safari's targets must be seen, or safari's component must fail with
// a security error: never a silent disappearance. The old client loaded
// the fake safari through webkit first (pre-order, one visited set by role
// name), skipped targets -> safari, and returned no error.
func TestAttackNestedRoleShadowsComponent(t *testing.T) {
	for _, forgeSafari := range []bool{true, false} {
		t.Run("forged safari served "+strconv.FormatBool(forgeSafari), func(t *testing.T) {
			s := twoComponents(t)
			c, dir := s.client(t, false)
			if _, err := c.Components(ctx); err != nil {
				t.Fatal(err)
			}
			// The publisher ships a new safari fix and a new webkit.
			s.addTarget("safari", "safari/fix2", []byte("new fix"), "")
			s.publish("safari", "webkit")
			realSafari := s.get(servedName(s, "safari"))
			// The attacker: a webkit of the listed version delegating
			// "safari" (all paths) to the webkit key ...
			wk := s.signers["webkit"][0]
			w := &s.targets["webkit"].Signed
			w.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{wk.id: wk.key},
				Roles: []metadata.DelegatedRole{{Name: "safari", KeyIDs: []string{wk.id}, Threshold: 1, Paths: []string{"*", "*/*"}}}}
			s.set(servedName(s, "webkit"), sign(t, s.targets["webkit"], []*simKey{wk}))
			// ... and a safari of the listed version, signed by the webkit
			// key, that lists nothing: safari's fixes would vanish.
			fake := metadata.Targets(s.now.AddDate(0, 3, 0))
			fake.Signed.Version = s.targets["safari"].Signed.Version
			fakeRaw := sign(t, fake, []*simKey{wk})
			if forgeSafari {
				s.set(servedName(s, "safari"), fakeRaw)
			}
			c = s.clientAt(t, dir)
			comps, err := c.Components(ctx)
			if err != nil {
				t.Fatal(err)
			}
			safari, webkit := compNamed(t, comps, "safari"), compNamed(t, comps, "webkit")
			if forgeSafari {
				// The real edge targets -> safari cannot verify: safari's
				// component says so.
				checkClass(t, "safari", safari.Err, trust.ErrSecurity)
				if len(safari.Targets) != 0 {
					t.Errorf("safari targets %q from a forged file", names(safari.Targets))
				}
				if got := stored(t, dir, "safari"); bytes.Equal(got, fakeRaw) {
					t.Error("the forged safari was stored as safari.json")
				}
				// The nested claim is webkit's failure, never a success.
				checkClass(t, "webkit", webkit.Err, trust.ErrSecurity)
			} else {
				if safari.Err != nil {
					t.Fatalf("safari: %v", safari.Err)
				}
				if got, want := names(safari.Targets), []string{"safari/fix@targets>safari", "safari/fix2@targets>safari"}; !slices.Equal(got, want) {
					t.Errorf("safari targets %q, want %q", got, want)
				}
				if got := stored(t, dir, "safari"); !bytes.Equal(got, realSafari) {
					t.Error("safari.json is not the real safari")
				}
				// webkit -> safari: the real safari is not signed by the
				// webkit key.
				e := wantErr[*SignatureError](t, webkit.Err, trust.ErrSecurity)
				if e.Role != "safari" {
					t.Errorf("webkit error %v", e)
				}
			}
			// Targets is never silent about it either.
			all, err := c.Targets(ctx)
			checkClass(t, "Targets", err, trust.ErrSecurity)
			if !forgeSafari && !slices.Contains(names(all), "safari/fix2@targets>safari") {
				t.Errorf("targets %q lack safari's new fix", names(all))
			}
		})
	}
}

func TestExpiredComponentIsConfined(t *testing.T) {
	s := twoComponents(t)
	s.targets["webkit"].Signed.Expires = s.now.Add(time.Hour)
	s.publish("webkit")
	c, _ := s.client(t, false)
	s.now = s.now.Add(2 * time.Hour)
	comps, err := c.Components(ctx)
	if err != nil {
		t.Fatal(err)
	}
	webkit, safari := compNamed(t, comps, "webkit"), compNamed(t, comps, "safari")
	e := wantErr[*ExpiredError](t, webkit.Err, trust.ErrFreshness)
	if e.Role != "webkit" {
		t.Errorf("webkit error %v", e)
	}
	if len(webkit.Targets) != 0 {
		t.Errorf("webkit targets %q from an expired role", names(webkit.Targets))
	}
	if safari.Err != nil || !slices.Equal(names(safari.Targets), []string{"safari/fix@targets>safari"}) {
		t.Errorf("safari: %q, %v", names(safari.Targets), safari.Err)
	}
	all, err := c.Targets(ctx)
	checkClass(t, "Targets", err, trust.ErrFreshness)
	if !slices.Equal(names(all), []string{"safari/fix@targets>safari"}) {
		t.Errorf("targets %q", names(all))
	}
}

func TestUnlistedDelegationIsConfined(t *testing.T) {
	s := twoComponents(t)
	// webkit delegates a role the snapshot does not list.
	k := s.key()
	w := &s.targets["webkit"].Signed
	w.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{k.id: k.key},
		Roles: []metadata.DelegatedRole{{Name: "webkit-extra", KeyIDs: []string{k.id}, Threshold: 1, Paths: []string{"webkit/*"}}}}
	s.addTarget("webkit", "webkit/b", []byte("b"), "")
	s.publish("webkit")
	c, _ := s.client(t, false)
	comps, err := c.Components(ctx)
	if err != nil {
		t.Fatal(err)
	}
	webkit, safari := compNamed(t, comps, "webkit"), compNamed(t, comps, "safari")
	e := wantErr[*DelegationError](t, webkit.Err, trust.ErrSecurity)
	if e.Role != "webkit-extra" || e.Delegator != "webkit" {
		t.Errorf("webkit error %v", e)
	}
	// webkit's own targets verified: every role on their chain did.
	if got, want := names(webkit.Targets), []string{"webkit/a@targets>webkit", "webkit/b@targets>webkit"}; !slices.Equal(got, want) {
		t.Errorf("webkit targets %q, want %q", got, want)
	}
	if safari.Err != nil || len(safari.Targets) != 1 {
		t.Errorf("safari: %q, %v", names(safari.Targets), safari.Err)
	}
}

// TestAttackSuccinctBitLength32: a component role delegates to succinct
// hash bins with bit_length 32. The old client built all 2^32 bin names
// before any limit (out of memory, every round); the bound must apply
// before a name is made, and only to that component.
func TestAttackSuccinctBitLength32(t *testing.T) {
	s := twoComponents(t)
	k := s.signers["webkit"][0]
	s.targets["webkit"].Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{k.id: k.key},
		SuccinctRoles: &metadata.SuccinctRoles{KeyIDs: []string{k.id}, Threshold: 1, BitLength: 32, NamePrefix: "webkit-bin"}}
	s.publish("webkit")
	c, _ := s.client(t, false)
	mustRefresh(t, c)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	comps, err := c.Components(ctx)
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	webkit, safari := compNamed(t, comps, "webkit"), compNamed(t, comps, "safari")
	e := wantErr[*DelegationError](t, webkit.Err, trust.ErrSecurity)
	if !strings.Contains(e.Reason, "bit_length 32") {
		t.Errorf("webkit error %v", e)
	}
	if safari.Err != nil || len(safari.Targets) != 1 {
		t.Errorf("safari: %q, %v", names(safari.Targets), safari.Err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 || took > 5*time.Second {
		t.Errorf("Components allocated %d bytes in %v", alloc, took)
	}
}

// TestComponentBounds: a component with more roles than the snapshot
// lists, or deeper than MaxDelegations, fails alone.
func TestComponentBounds(t *testing.T) {
	s := twoComponents(t)
	parent := "webkit"
	for i := range 5 {
		name := "w" + strconv.Itoa(i)
		s.delegate(parent, name, []string{"webkit/*"}, false)
		parent = name
	}
	s.addTarget(parent, "webkit/deep", []byte("deep"), "")
	s.publish(s.order...)
	c, _ := s.client(t, false)
	c.limits.MaxDelegations = 4
	comps, err := c.Components(ctx)
	if err != nil {
		t.Fatal(err)
	}
	webkit, safari := compNamed(t, comps, "webkit"), compNamed(t, comps, "safari")
	e := wantErr[*DelegationError](t, webkit.Err, trust.ErrSecurity)
	if !strings.Contains(e.Reason, "maximum of 4") {
		t.Errorf("webkit error %v", e)
	}
	if got := names(webkit.Targets); !slices.Equal(got, []string{"webkit/a@targets>webkit"}) {
		t.Errorf("webkit targets %q", got)
	}
	if safari.Err != nil || len(safari.Targets) != 1 {
		t.Errorf("safari: %q, %v", names(safari.Targets), safari.Err)
	}
}

func TestAttackDuplicateKeyIDInSignatures(t *testing.T) {
	s := twoComponents(t)
	// webkit's signature listed twice: with threshold 1 the old client
	// took the file; the specification says the key id MUST be unique.
	sign(t, s.targets["webkit"], s.signers["webkit"])
	md := s.targets["webkit"]
	md.Signatures = append(md.Signatures, md.Signatures[0])
	b, err := md.ToBytes(false)
	if err != nil {
		t.Fatal(err)
	}
	s.set(servedName(s, "webkit"), b)
	c, _ := s.client(t, false)
	comps, err := c.Components(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e := wantErr[*DuplicateSignatureError](t, compNamed(t, comps, "webkit").Err, trust.ErrSecurity)
	if e.Role != "webkit" || e.KeyID != s.signers["webkit"][0].id {
		t.Errorf("error %v", e)
	}
	if !strings.Contains(e.Error(), "webkit") || !strings.Contains(e.Error(), e.KeyID) {
		t.Errorf("message %q names neither role nor key id", e.Error())
	}
	if safari := compNamed(t, comps, "safari"); safari.Err != nil {
		t.Errorf("safari: %v", safari.Err)
	}
}

func TestDownloadRefusesOversizedTarget(t *testing.T) {
	s := newSim(t)
	data := bytes.Repeat([]byte("x"), 100)
	s.addTarget("targets", "big", data, "")
	s.publish("targets")
	for _, tc := range []struct {
		name  string
		max   int64
		free  int64
		check func(*testing.T, *TargetSizeError)
	}{
		{"over TargetMax", 99, -1, func(t *testing.T, e *TargetSizeError) {
			if e.Max != 99 || e.Length != 100 || !strings.Contains(e.Error(), `"big"`) {
				t.Errorf("error %v", e)
			}
		}},
		{"over free space", 0, 50, func(t *testing.T, e *TargetSizeError) {
			if e.Available != 50 || e.Length != 100 || e.Dir == "" || !strings.Contains(e.Error(), "50 bytes are available") {
				t.Errorf("error %v", e)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := s.client(t, false)
			c.limits.TargetMax = cmpOr(tc.max, DefaultLimits.TargetMax)
			c.freeSpace = func(string) (int64, error) { return tc.free, nil }
			tg, err := c.Lookup(ctx, "big")
			if err != nil {
				t.Fatal(err)
			}
			s.reqs()
			out := filepath.Join(t.TempDir(), "big")
			e := wantErr[*TargetSizeError](t, c.Download(ctx, tg, out), nil)
			tc.check(t, e)
			if r := s.reqs(); len(r) != 0 {
				t.Errorf("requests %q before refusing", r)
			}
			if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 0 {
				t.Errorf("files left: %v", ents)
			}
			// Within both bounds, the same target downloads.
			c.limits.TargetMax, c.freeSpace = 100, func(string) (int64, error) { return 100, nil }
			if err := c.Download(ctx, tg, out); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func cmpOr(v, d int64) int64 {
	if v != 0 {
		return v
	}
	return d
}

func TestFreeSpace(t *testing.T) {
	n, err := freeSpace(t.TempDir())
	if err != nil || n == 0 {
		t.Fatalf("freeSpace: %d, %v", n, err)
	}
}

// TestAttackUnicodeFoldedEnvelopeKey: encoding/json matches field names
// by Unicode simple folding, so "\u017figned" (long s) is "signed" to it
// and "\u212a" (Kelvin sign) is "k". An envelope spelled so must be
// refused by the envelope check itself, whatever the decoder would pick.
// The old check folded with strings.ToLower and let them through.
func TestAttackUnicodeFoldedEnvelopeKey(t *testing.T) {
	s := newSim(t)
	genuine := s.get("timestamp.json")
	body := genuine[1:] // `"signatures": ..., "signed": ...}` and the closing brace
	for _, tc := range []struct{ name, prefix string }{
		{"long s, raw", `{"ſigned": {"_type": "timestamp"}, `},
		{"long s, escaped", `{"\u017figned": {"_type": "timestamp"}, `},
		{"long s in signatures", `{"ſignatures": [], `},
		{"upper case", `{"SIGNED": {}, `},
		{"kelvin sign twice after folding", `{"\u212a": 1, "k": 2, `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := append([]byte(tc.prefix), body...)
			var ts timestampSigned
			_, err := decode(roleTimestamp, roleTimestamp, data, &ts)
			wantErr[*FormatError](t, err, trust.ErrSecurity)
		})
	}
	var ts timestampSigned
	if _, err := decode(roleTimestamp, roleTimestamp, genuine, &ts); err != nil {
		t.Fatalf("genuine: %v", err)
	}
}

// TestJSONFoldMatchesEncodingJSON: jsonFold equates exactly the keys
// encoding/json takes for the same field.
func TestJSONFoldMatchesEncodingJSON(t *testing.T) {
	for _, key := range []string{"signed", "SIGNED", "ſigned", "ſIGNED", "Signed", "signe", "signedd", "ſignatures",
		"signatureſ", "keyid", "\u212aeyid", "KEYID", "keyıd", "keyİd", "sıgned", "ﬀ"} {
		for _, field := range []string{"signed", "signatures", "keyid"} {
			raw := []byte(`{` + strconv.Quote(key) + `: 1}`)
			var dst struct {
				Signed     *int `json:"signed"`
				Signatures *int `json:"signatures"`
				KeyID      *int `json:"keyid"`
			}
			if err := json.Unmarshal(raw, &dst); err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{"signed": dst.Signed != nil, "signatures": dst.Signatures != nil, "keyid": dst.KeyID != nil}[field]
			if want := jsonFold(key) == jsonFold(field); got != want {
				t.Errorf("key %q, field %q: encoding/json matches %v, jsonFold equal %v", key, field, got, want)
			}
		}
	}
}

// TestSpecMusts covers two format rules of section 4 that need no
// repository: spec_version must be of major version 1, RSA keys at least
// 2048 bits.
func TestSpecMusts(t *testing.T) {
	s := newSim(t)
	genuine := s.get("timestamp.json")
	for _, tc := range []struct {
		from, to string
		ok       bool
	}{
		{`"spec_version": "1.0.31"`, `"spec_version": "1.0.31"`, true},
		{`"spec_version": "1.0.31"`, `"spec_version": "2.0.0"`, false},
		{`"spec_version": "1.0.31"`, `"spec_version": ""`, false},
		{`"spec_version": "1.0.31"`, `"spec_version": "10.0.0"`, false},
		{`"spec_version": "1.0.31",`, ``, true}, // absent: claims no version
	} {
		data := bytes.Replace(genuine, []byte(tc.from), []byte(tc.to), 1)
		if tc.from != tc.to && bytes.Equal(data, genuine) {
			t.Fatalf("fixture: %s not found", tc.from)
		}
		var ts timestampSigned
		_, err := decode(roleTimestamp, roleTimestamp, data, &ts)
		if tc.ok && err != nil {
			t.Errorf("%s: %v", tc.to, err)
		}
		if !tc.ok {
			wantErr[*FormatError](t, err, trust.ErrSecurity)
		}
	}
	for _, bits := range []int{1024, 2048} {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		wk := &wireKey{KeyType: "rsa", Scheme: "rsassa-pss-sha256"}
		wk.KeyVal.Public = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		_, err = parseKey("k", wk)
		if (err == nil) != (bits >= 2048) {
			t.Errorf("rsa %d bits: %v", bits, err)
		}
	}
}

// FuzzComponents builds a delegation graph from the input: roles webkit,
// safari, n1, n2 delegate to each other, each edge with the child's own
// key or (a key holder's attempt) the delegator's. Every file is signed
// by its role's own key. Whatever the graph, Components succeeds, webkit
// and safari list their own targets, a component's error is a security
// error, every component's targets come through it, and Lookup agrees.
func FuzzComponents(f *testing.F) {
	f.Add([]byte{0, 1, 1})          // webkit -> safari with webkit's key
	f.Add([]byte{0, 1, 0, 1, 0, 0}) // webkit -> safari, safari -> webkit
	f.Add([]byte{0, 2, 0, 2, 1, 1}) // webkit -> n1 -> safari (n1's key)
	f.Add([]byte{1, 3, 0, 3, 3, 0}) // safari -> n2 -> n2
	f.Add([]byte{0, 2, 0, 1, 2, 0, 2, 0, 1})
	pool := []string{"webkit", "safari", "n1", "n2"}
	f.Fuzz(func(t *testing.T, graph []byte) {
		if len(graph) > 24 {
			graph = graph[:24]
		}
		s := newSim(t)
		for _, r := range pool[:2] {
			s.delegate("targets", r, []string{r + "/*"}, true)
		}
		for i := 0; i+2 < len(graph); i += 3 {
			parent, child, theirs := pool[int(graph[i])%len(pool)], pool[int(graph[i+1])%len(pool)], graph[i+2]%2 == 1
			if s.targets[parent] == nil {
				continue
			}
			if s.targets[child] == nil {
				s.delegate(parent, child, []string{"*/*"}, false)
				continue
			}
			k := s.signers[child][0]
			if theirs {
				k = s.signers[parent][0]
			}
			p := &s.targets[parent].Signed
			if p.Delegations == nil {
				p.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{}}
			}
			if slices.ContainsFunc(p.Delegations.Roles, func(r metadata.DelegatedRole) bool { return r.Name == child }) {
				continue
			}
			p.Delegations.Keys[k.id] = k.key
			p.Delegations.Roles = append(p.Delegations.Roles, metadata.DelegatedRole{
				Name: child, KeyIDs: []string{k.id}, Threshold: 1, Paths: []string{"*/*"}})
		}
		for r := range s.targets {
			if r != "targets" {
				s.addTarget(r, r+"/t", []byte(r), "")
			}
		}
		s.publish(s.order...)
		c, _ := s.client(t, false)
		comps, err := c.Components(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, comp := range comps {
			for _, tg := range comp.Targets {
				if len(tg.Roles) < 2 || tg.Roles[1] != comp.Role {
					t.Errorf("component %s lists %s", comp.Role, names([]*Target{tg}))
				}
				got, err := c.Lookup(ctx, tg.Path)
				if err != nil || !slices.Equal(got.Roles, tg.Roles) {
					t.Errorf("Lookup(%s) = %v, %v; component %s has %v", tg.Path, got, err, comp.Role, tg.Roles)
				}
			}
		}
		// A hostile edge anywhere (a role claiming a name with the wrong
		// key) is a security error of the component it is under, and
		// never hides what the component's own role lists.
		for _, r := range pool[:2] {
			comp := compNamed(t, comps, r)
			if comp.Err != nil && !errors.Is(comp.Err, trust.ErrSecurity) {
				t.Errorf("%s: %v, not a security error", r, comp.Err)
			}
			if want := r + "/t@targets>" + r; !slices.Contains(names(comp.Targets), want) {
				t.Errorf("%s: %q lacks %s (err %v)", r, names(comp.Targets), want, comp.Err)
			}
		}
	})
}
