package repo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/trust"
)

// published returns a fixture whose root (r1, r2, threshold 2), targets
// and webkit (webkit-a, webkit-b, threshold 2) are published.
func publishedFixture(t testing.TB) *fixture {
	f := newFixture(t)
	f.init(2, "r1", "r2")
	if err := f.ws.Delegate(context.Background(), "webkit", DelegateOptions{Keys: f.tufKeys("webkit-a", "webkit-b"), Threshold: 2}); err != nil {
		t.Fatal(err)
	}
	f.add("webkit-26.3-a", "webkit", 1, "webkit-a", "webkit-b")
	f.sign("r1", "r2", "targets")
	f.publish()
	return f
}

// capture records every summary shown and answers with answer.
func capture(f *fixture, answer error) *[]*Summary {
	var got []*Summary
	f.ws.opts.Confirm = func(_ context.Context, s *Summary) error {
		got = append(got, s)
		return answer
	}
	return &got
}

func sha256File(t *testing.T, path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func findImprovement(s *Summary, role, target string) *ImprovementChange {
	for _, c := range s.Roles {
		if c.Role != role {
			continue
		}
		for i := range c.Improvements {
			if c.Improvements[i].Target == target {
				return &c.Improvements[i]
			}
		}
	}
	return nil
}

// Someone with no key queues an improvement; the team members who sign
// the role for their own improvement are shown it, with its hash.
func TestAttackBlindComponentSigningExtraImprovementLibrary(t *testing.T) {
	f := publishedFixture(t)
	evil := f.add("webkit-26.3-evil", "webkit", 2) // no key: queued only
	got := capture(f, nil)
	f.add("webkit-26.3-b", "webkit", 3, "webkit-a")
	if _, err := f.ws.Sign(context.Background(), f.key("webkit-b"), "webkit"); err != nil {
		t.Fatal(err)
	}
	if len(*got) != 2 {
		t.Fatalf("summaries shown: %d, want one for each signer", len(*got))
	}
	for i, s := range *got {
		ic := findImprovement(s, "webkit", "webkit/webkit-26.3-evil.tar.gz")
		if ic == nil || ic.Change != ChangeAdded || ic.SHA256 != sha256File(t, evil) || ic.Sequence != 2 || ic.ID != "webkit-26.3-evil" {
			t.Errorf("summary %d does not show the queued improvement with its hash: %s", i, mustJSON(s))
		}
		if c := s.Roles[0]; c.New || c.PreviousVersion != 1 || c.Version != 2 || c.Unverified != "" {
			t.Errorf("summary %d: not compared with published v1: %s", i, mustJSON(c))
		}
		if findImprovement(s, "webkit", "webkit/webkit-26.3-a.tar.gz") != nil {
			t.Errorf("summary %d lists an unchanged improvement", i)
		}
	}
}

func TestSummaryWithdrawnAndDelegation(t *testing.T) {
	f := publishedFixture(t)
	got := capture(f, nil)
	if err := f.ws.Withdraw(context.Background(), "webkit-26.3-a", "breaks video", f.key("webkit-a")); err != nil {
		t.Fatal(err)
	}
	ic := findImprovement((*got)[0], "webkit", "webkit/webkit-26.3-a.tar.gz")
	if ic == nil || ic.Change != ChangeWithdrawn || ic.Reason != "breaks video" || ic.Status != "withdrawn" {
		t.Fatalf("withdrawal: %s", mustJSON((*got)[0]))
	}
	*got = nil
	if err := f.ws.Rotate(context.Background(), "webkit", RotateOptions{Add: f.tufKeys("webkit-c"), Remove: []string{f.keyID("webkit-b")}, Threshold: 1}); err != nil {
		t.Fatal(err)
	}
	var targets *RoleChange
	for i, c := range (*got)[0].Roles {
		if c.Role == metadata.TARGETS {
			targets = &(*got)[0].Roles[i]
		}
	}
	if targets == nil || len(targets.Signers) != 1 {
		t.Fatalf("rotation summary: %s", mustJSON((*got)[0]))
	}
	d := targets.Signers[0]
	if d.Role != "webkit" || d.Change != ChangeChanged || d.Threshold != 1 || d.PreviousThreshold != 2 ||
		!slices.Equal(d.AddedKeyIDs, []string{f.keyID("webkit-c")}) || !slices.Equal(d.RemovedKeyIDs, []string{f.keyID("webkit-b")}) {
		t.Fatalf("delegation change: %s", mustJSON(d))
	}
	if len(targets.ThresholdDown()) != 1 {
		t.Fatalf("threshold down not reported: %s", mustJSON(targets))
	}
}

// A published version that does not verify is not compared with: the role
// is shown whole, with the reason.
func TestSummaryPublishedTampered(t *testing.T) {
	f := publishedFixture(t)
	p := filepath.Join(f.public(), "1.webkit.json")
	data, _ := os.ReadFile(p)
	m, _ := new(targetsMeta).FromBytes(data)
	delete(m.Signed.Targets, "webkit/webkit-26.3-a.tar.gz")
	b, _ := m.ToBytes(false)
	os.WriteFile(p, b, 0o644)
	got := capture(f, nil)
	f.add("webkit-26.3-b", "webkit", 2, "webkit-a")
	c := (*got)[0].Roles[0]
	if !strings.Contains(c.Unverified, "1.webkit.json") || len(c.Improvements) != 2 {
		t.Fatalf("tampered published role used: %s", mustJSON(c))
	}
}

func TestSignConfirmationDeclinedLibrary(t *testing.T) {
	f := publishedFixture(t)
	capture(f, errors.New("no"))
	before := tree(t, f.dir)
	_, err := f.ws.Add(context.Background(), AddRequest{Manifest: manifestJSON("webkit-26.3-b", "webkit", 2),
		Payload: f.payload("b", "x"), Signers: f.signers_("webkit-a")})
	var de *DeclinedError
	if !errors.As(err, &de) || errors.Is(err, trust.ErrSecurity) {
		t.Fatalf("declined add: %v", err)
	}
	if d := diffTree(before, tree(t, f.dir)); d != "" {
		t.Fatalf("workspace changed:\n%s", d)
	}
}

func TestSignNothingPendingIsNotSecurityLibrary(t *testing.T) {
	f := publishedFixture(t)
	_, err := f.ws.Sign(context.Background(), f.key("r1"))
	var np *NothingPendingError
	if !errors.As(err, &np) || errors.Is(err, trust.ErrSecurity) {
		t.Fatalf("sign with nothing pending: %v", err)
	}
}

// rootFile returns the published root v1 of f and a root v2 made from it
// by change (unsigned: CheckFile looks at content, not signatures).
func rootFiles(t testing.TB, f *fixture, change func(*metadata.RootType)) (trusted, next []byte) {
	trusted, err := os.ReadFile(filepath.Join(f.public(), "1.root.json"))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := new(rootMeta).FromBytes(trusted)
	m.Signed.Version = 2
	m.Signed.Expires = f.clock.Add(365 * 24 * time.Hour)
	m.Signatures = []metadata.Signature{}
	if change != nil {
		change(&m.Signed)
	}
	next, err = m.ToBytes(false)
	if err != nil {
		t.Fatal(err)
	}
	return trusted, next
}

func TestAttackRootNotChained(t *testing.T) {
	f := publishedFixture(t)
	attacker := f.tufKey("attacker")
	attackerID, _ := attacker.ID()
	addAttacker := func(r *metadata.RootType) {
		r.Keys[attackerID] = attacker
		r.Roles[metadata.ROOT].KeyIDs = append(r.Roles[metadata.ROOT].KeyIDs, attackerID)
	}
	targetsFile, _ := os.ReadFile(filepath.Join(f.public(), "1.targets.json"))
	tests := []struct {
		name   string
		change func(*metadata.RootType)
		check  func(*FileCheck, *[]byte, *[]byte)
		signer string
		field  string // ChainError field wanted; "" no ChainError
		target any    // other error type wanted
	}{
		{name: "next version", signer: "r1"},
		{name: "signed by a new key of a rotation", change: addAttacker, signer: "attacker"},
		{name: "version jump", change: func(r *metadata.RootType) { r.Version = 5 }, signer: "r1", field: "version"},
		{name: "same version", change: func(r *metadata.RootType) { r.Version = 1 }, signer: "r1", field: "version"},
		{name: "expiry below floor", change: func(r *metadata.RootType) { r.Expires = f.clock.Add(10 * 24 * time.Hour) }, signer: "r1", field: "expires"},
		{name: "expiry floor lowered", change: func(r *metadata.RootType) { r.Expires = f.clock.Add(10 * 24 * time.Hour) },
			check: func(c *FileCheck, _, _ *[]byte) { c.MinExpiry = 7 * 24 * time.Hour }, signer: "r1"},
		{name: "threshold down", change: func(r *metadata.RootType) { addAttacker(r); r.Roles[metadata.ROOT].Threshold = 1 }, signer: "r1", field: "threshold"},
		{name: "threshold down allowed", change: func(r *metadata.RootType) { addAttacker(r); r.Roles[metadata.ROOT].Threshold = 1 },
			check: func(c *FileCheck, _, _ *[]byte) { c.AllowThresholdDown = true }, signer: "r1"},
		{name: "not a root", check: func(c *FileCheck, _, next *[]byte) { *next = targetsFile; c.Role = metadata.ROOT }, signer: "r1", field: "type"},
		{name: "trusted root is not a root", check: func(_ *FileCheck, trusted, _ *[]byte) { *trusted = targetsFile }, signer: "r1", field: "type"},
		{name: "wrong key", signer: "webkit-a", target: new(*NotAuthorisedError)},
		{name: "no trusted root", check: func(c *FileCheck, trusted, _ *[]byte) { *trusted = nil }, signer: "r1", target: new(*RoleError)},
		{name: "no trusted root, unsafe", check: func(c *FileCheck, trusted, _ *[]byte) { *trusted = nil; c.NoTrustedRootUnsafe = true }, signer: "r1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trusted, next := rootFiles(t, f, tt.change)
			c := FileCheck{Now: f.clock}
			if tt.check != nil {
				tt.check(&c, &trusted, &next)
			}
			c.TrustedRoot = trusted
			pub, _ := f.key(tt.signer).PublicKey()
			change, ids, err := CheckFile(next, pub, c)
			var ce *ChainError
			switch {
			case tt.field != "":
				if !errors.As(err, &ce) || ce.Field != tt.field || !errors.Is(err, trust.ErrSecurity) {
					t.Fatalf("got %v, want a ChainError on %s", err, tt.field)
				}
			case tt.target != nil:
				if !errors.As(err, tt.target) {
					t.Fatalf("got %v, want %T", err, tt.target)
				}
			case err != nil:
				t.Fatal(err)
			case len(ids) != 1 || ids[0] != f.keyID(tt.signer) || change.Version != 2:
				t.Fatalf("ids %v, change %s", ids, mustJSON(change))
			}
		})
	}
	trusted, next := rootFiles(t, f, func(r *metadata.RootType) { r.Version = 5 })
	pub, _ := f.key("r1").PublicKey()
	if _, _, err := CheckFile(next, pub, FileCheck{Now: f.clock, TrustedRoot: trusted}); err == nil || err.Error() != "root: version 5 does not follow trusted version 1" {
		t.Fatalf("message: %v", err)
	}
}

// The summary of a root that adds a key shows it, with the role it signs
// and the threshold.
func TestAttackBlindRootSigningAddsKeyLibrary(t *testing.T) {
	f := publishedFixture(t)
	got := capture(f, nil)
	if err := f.ws.Rotate(context.Background(), "root", RotateOptions{Add: f.tufKeys("attacker"), Threshold: 1}); err != nil {
		t.Fatal(err)
	}
	c := (*got)[0].Roles[0]
	id := f.keyID("attacker")
	if len(c.Keys) != 1 || c.Keys[0].KeyID != id || c.Keys[0].Change != ChangeAdded || !slices.Equal(c.Keys[0].Roles, []string{"root"}) ||
		c.PreviousVersion != 1 || c.Version != 2 {
		t.Fatalf("root summary: %s", mustJSON(c))
	}
	down := c.ThresholdDown()
	if len(down) != 1 || down[0].Role != "root" || down[0].Threshold != 1 || down[0].PreviousThreshold != 2 {
		t.Fatalf("threshold: %s", mustJSON(c.Signers))
	}
}

// FuzzCheckFile: no input panics, and a file accepted is a root or
// targets file whose keys list the signer.
func FuzzCheckFile(f *testing.F) {
	fx := publishedFixture(f)
	trusted, next := rootFiles(f, fx, nil)
	targets, _ := os.ReadFile(filepath.Join(fx.public(), "1.targets.json"))
	f.Add(next)
	f.Add(targets)
	f.Add([]byte(`{"signed":{"_type":"root"}}`))
	pub, _ := fx.key("r1").PublicKey()
	f.Fuzz(func(t *testing.T, data []byte) {
		change, ids, err := CheckFile(data, pub, FileCheck{Now: fx.clock, TrustedRoot: trusted})
		if err != nil {
			return
		}
		if len(ids) == 0 || change == nil || (change.Type != metadata.ROOT && change.Type != metadata.TARGETS) {
			t.Fatalf("accepted without a signer id or type: %v %+v", ids, change)
		}
	})
}
