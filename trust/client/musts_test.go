package client

import (
	"bytes"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/trust"
)

// Tests for MUSTs of the specification listed in MUSTS.md that no other
// test covers.

// TestSpecUnknownFieldsSigned: fields the client does not know are part
// of what is signed (section 4): changing one breaks the signature.
func TestSpecUnknownFieldsSigned(t *testing.T) {
	s := newSim(t)
	s.targets["targets"].Signed.UnrecognizedFields = map[string]any{"x-note": "genuine"}
	s.publish("targets")
	name := servedName(s, "targets")
	genuine := s.get(name)
	c, _ := s.client(t, false)
	s.set(name, bytes.Replace(genuine, []byte(`"x-note": "genuine"`), []byte(`"x-note": "altered"`), 1))
	if bytes.Equal(s.get(name), genuine) {
		t.Fatal("fixture: x-note not found")
	}
	wantErr[*SignatureError](t, c.Refresh(ctx), trust.ErrSecurity)
	s.set(name, genuine)
	mustRefresh(t, c)
}

// TestSpecDuplicateDelegatedRoleName: "The rolename MUST be unique in the
// delegations object" (section 4); a component that breaks it fails alone.
func TestSpecDuplicateDelegatedRoleName(t *testing.T) {
	s := twoComponents(t)
	k := s.key()
	r := metadata.DelegatedRole{Name: "webkit-x", KeyIDs: []string{k.id}, Threshold: 1, Paths: []string{"webkit/*"}}
	s.targets["webkit"].Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{k.id: k.key},
		Roles: []metadata.DelegatedRole{r, r}}
	s.publish("webkit")
	c, _ := s.client(t, false)
	comps, err := c.Components(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantErr[*FormatError](t, compNamed(t, comps, "webkit").Err, trust.ErrSecurity)
	if safari := compNamed(t, comps, "safari"); safari.Err != nil || len(safari.Targets) != 1 {
		t.Errorf("safari: %q, %v", names(safari.Targets), safari.Err)
	}
}
