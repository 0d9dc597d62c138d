package client

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/trust"
)

func TestMatchPath(t *testing.T) {
	for _, tc := range []struct {
		pattern, path string
		want          bool
	}{
		{"webkit/*", "webkit/a.tar.gz", true},
		{"webkit/*", "webkit/sub/a.tar.gz", false},
		{"*", "a b", true},
		{"*", "a/b", false},
		{"webkit/*.tar", "webkit/x.tar", true},
		{"webkit/?.tar", "webkit/xy.tar", false},
		{"a/[bc]/*", "a/c/d", true},
		{"a/[", "a/[", false},
	} {
		if got := matchPath(tc.pattern, tc.path); got != tc.want {
			t.Errorf("matchPath(%q, %q) = %v", tc.pattern, tc.path, got)
		}
	}
}

func names(ts []*Target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Path+"@"+strings.Join(t.Roles, ">"))
	}
	return out
}

func TestTerminatingDelegation(t *testing.T) {
	for _, terminating := range []bool{false, true} {
		s := newSim(t)
		s.delegate("targets", "a", []string{"x/*"}, terminating)
		s.delegate("targets", "b", []string{"x/*"}, false)
		s.addTarget("a", "x/in-a", []byte("1"), "")
		s.addTarget("b", "x/in-b", []byte("2"), "")
		s.addTarget("b", "x/in-a", []byte("shadowed"), "")
		s.publish("targets", "a", "b")
		c, _ := s.client(t, false)
		tg, err := c.Lookup(ctx, "x/in-a")
		if err != nil || !slices.Equal(tg.Roles, []string{"targets", "a"}) || tg.Length != 1 {
			t.Fatalf("lookup in-a: %v %v", tg, err)
		}
		tg, err = c.Lookup(ctx, "x/in-b")
		if terminating {
			wantErr[*NotFoundError](t, err, nil)
		} else if err != nil || !slices.Equal(tg.Roles, []string{"targets", "b"}) {
			t.Fatalf("lookup in-b: %v %v", tg, err)
		}
		all, err := c.Targets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"x/in-a@targets>a", "x/in-b@targets>b"}
		if terminating {
			want = want[:1]
		}
		if got := names(all); !slices.Equal(got, want) {
			t.Errorf("terminating %v: targets %q, want %q", terminating, got, want)
		}
	}
}

func TestNestedDelegationOrder(t *testing.T) {
	// Pre-order: targets > a > a1 is searched before targets > b.
	s := newSim(t)
	s.delegate("targets", "a", []string{"*"}, false)
	s.delegate("targets", "b", []string{"*"}, false)
	s.delegate("a", "a1", []string{"*"}, false)
	s.addTarget("a1", "f", []byte("deep"), "")
	s.addTarget("b", "f", []byte("shallow"), "")
	s.publish("targets", "a", "b", "a1")
	c, _ := s.client(t, false)
	tg, err := c.Lookup(ctx, "f")
	if err != nil || !slices.Equal(tg.Roles, []string{"targets", "a", "a1"}) {
		t.Fatalf("lookup: %v %v", tg, err)
	}
}

func TestDelegationCycle(t *testing.T) {
	s := newSim(t)
	s.delegate("targets", "a", []string{"*"}, false)
	s.delegate("a", "b", []string{"*"}, false)
	// b delegates back to a, with a's key.
	bs := &s.targets["b"].Signed
	bs.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{s.signers["a"][0].id: s.signers["a"][0].key},
		Roles: []metadata.DelegatedRole{{Name: "a", KeyIDs: []string{s.signers["a"][0].id}, Threshold: 1, Paths: []string{"*"}}}}
	s.publish("targets", "a", "b")
	c, _ := s.client(t, false)
	_, err := c.Lookup(ctx, "missing")
	wantErr[*NotFoundError](t, err, nil)
	if _, err := c.Targets(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestMaxDelegations(t *testing.T) {
	s := newSim(t)
	parent := "targets"
	for i := range 5 {
		name := "r" + string(rune('0'+i))
		s.delegate(parent, name, []string{"*"}, false)
		parent = name
	}
	s.addTarget(parent, "deep", []byte("x"), "")
	s.publish(s.order...)
	c, _ := s.client(t, false)
	c.limits.MaxDelegations = 3
	_, err := c.Lookup(ctx, "deep")
	wantErr[*DelegationError](t, err, trust.ErrSecurity)
	c.limits.MaxDelegations = 6
	if _, err := c.Lookup(ctx, "deep"); err != nil {
		t.Fatal(err)
	}
}

func TestSuccinctBins(t *testing.T) {
	s := newSim(t)
	s.delegate("targets", "webkit", []string{"webkit/*"}, true)
	bins := s.delegateBins("webkit", "webkit", 4)
	if len(bins) != 16 || bins[15] != "webkit-f" {
		t.Fatalf("bins %q", bins)
	}
	sr := &succinctRoles{BitLength: 4, NamePrefix: "webkit"}
	var want []string
	for i := range 20 {
		p := "webkit/" + strings.Repeat("x", i) + ".tar"
		bin := sr.binName(p)
		s.addTarget(bin, p, []byte(p), "")
		want = append(want, p+"@targets>webkit>"+bin)
	}
	// Listed in the wrong bin: never returned.
	wrong := "webkit/misplaced.tar"
	other := bins[0]
	if sr.binName(wrong) == other {
		other = bins[1]
	}
	s.addTarget(other, wrong, []byte("m"), "")
	s.publish(s.order...)
	c, _ := s.client(t, false)
	tg, err := c.Lookup(ctx, "webkit/xxx.tar")
	if err != nil || len(tg.Roles) != 3 {
		t.Fatalf("lookup: %v %v", tg, err)
	}
	_, err = c.Lookup(ctx, wrong)
	wantErr[*NotFoundError](t, err, nil)
	all, err := c.Targets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	if got := names(all); !slices.Equal(got, want) {
		t.Errorf("targets %q\nwant %q", got, want)
	}
}

func TestPathHashPrefixes(t *testing.T) {
	s := newSim(t)
	sum := sha256.Sum256([]byte("f/one"))
	prefix := hex.EncodeToString(sum[:])[:2]
	r := s.delegate("targets", "hashed", nil, false)
	r.PathHashPrefixes = []string{prefix}
	s.addTarget("hashed", "f/one", []byte("1"), "")
	s.addTarget("hashed", "f/two", []byte("2"), "") // not its prefix (almost surely)
	s.publish("targets", "hashed")
	c, _ := s.client(t, false)
	if _, err := c.Lookup(ctx, "f/one"); err != nil {
		t.Fatal(err)
	}
	sum2 := sha256.Sum256([]byte("f/two"))
	if hex.EncodeToString(sum2[:])[:2] != prefix {
		_, err := c.Lookup(ctx, "f/two")
		wantErr[*NotFoundError](t, err, nil)
	}
}

func TestUnusualRoleNames(t *testing.T) {
	for _, role := range []string{"?", "#", "/delegatedrole", "../delegatedrole", "..", ".hidden", "a%2Fb", "sp ace"} {
		t.Run(role, func(t *testing.T) {
			s := newSim(t)
			s.delegate("targets", role, []string{"*"}, false)
			s.publish("targets", role)
			c, dir := s.client(t, false)
			mustRefresh(t, c)
			s.reqs()
			_, err := c.Lookup(ctx, "nonexistent target")
			wantErr[*NotFoundError](t, err, nil)
			esc := escapeName(role, true)
			if got := s.reqs(); !slices.Equal(got, []string{"2." + esc + ".json"}) {
				t.Errorf("requests %q", got)
			}
			ents, _ := os.ReadDir(dir)
			var jsons []string
			for _, e := range ents {
				if strings.HasSuffix(e.Name(), ".json") {
					jsons = append(jsons, e.Name())
				}
				if strings.ContainsAny(e.Name(), "/") || strings.HasPrefix(e.Name(), ".") && e.Name() != recordFile {
					t.Errorf("unsafe file name %q", e.Name())
				}
			}
			if len(jsons) != 5 {
				t.Errorf("metadata files %q", jsons)
			}
			// The stored file is found again, without a request.
			c2 := s.clientAt(t, dir)
			mustRefresh(t, c2)
			s.reqs()
			c2.Lookup(ctx, "nonexistent target")
			if got := s.reqs(); len(got) != 0 {
				t.Errorf("requests %q", got)
			}
		})
	}
}
