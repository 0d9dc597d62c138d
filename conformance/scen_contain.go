package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/conformance/sim"
)

// Containment: a key holder of one role (or a mirror) uses the structure
// of the metadata to reach beyond that role: a nested role named like a
// top-level one, a succinct delegation too large to enumerate, one key
// counted twice, an envelope key that only folds to "signed".

// boundedBins is how long a download through a 2^32-bin succinct
// delegation may take: enough to start a client on a loaded machine, far
// too little to build 2^32 role names.
const boundedBins = 20 * time.Second

func envelopeScenarios() []Scenario {
	return []Scenario{
		bad("basic/envelope-folded-signed", `targets.json carries a forged "ſigned" (long s, "signed" only under Unicode case folding) after the genuine "signed": the forged listing is never used`,
			"4.2 (metadata format), 5.6.3", "signature", envelopeFoldedSigned),
	}
}

func containDelegationScenarios() []Scenario {
	return []Scenario{
		bad("delegation/nested-role-shadows-component", "webkit's key delegates a nested role named safari to itself and the mirror serves a safari.json of the listed version signed by it: safari/x.txt is never taken from it",
			"5.6.7.1 (a role is verified against its delegator's keys)", "delegation", nestedRoleShadows),
		bad("delegation/succinct-bit-length-32", "targets delegates to 2^32 succinct hash bins: the client answers (the target, or a refusal) within "+boundedBins.String()+", without building every bin name",
			"TAP 15 (bit_length 1-32)", "", succinctBitLength32),
	}
}

func containKeyScenarios() []Scenario {
	return []Scenario{
		bad("keys/delegated-key-listed-twice", "a delegated role lists one key id twice with threshold 2 and carries that key's signature twice: it is refused",
			"5.4.2, 5.6.7.1 (threshold counts distinct keys)", "signature", delegatedKeyTwice),
	}
}

// envelopeFoldedSigned serves targets.json with a second envelope key,
// "ſigned" (U+017F), holding a forged listing of team/a.txt. A decoder that
// folds key case (Go's encoding/json does, with Unicode simple folding)
// takes the later key; the signatures cover only the genuine one.
func envelopeFoldedSigned(t *T) {
	r := t.Repo
	genuine, forged := []byte("genuine payload\n"), []byte("forged payload\n")
	const path = "team/a.txt"
	r.AddTarget("targets", path, genuine)
	r.Publish("targets")
	fake, err := metadata.TargetFile().FromBytes(path, forged, "sha256")
	if err != nil {
		t.Fatalf("%v", err)
	}
	r.ServeTarget(path, fake.Hashes, forged)
	signed := r.Targets["targets"].Signed
	signed.Targets = map[string]*metadata.TargetFiles{path: fake}
	forgedSigned, err := json.Marshal(signed)
	if err != nil {
		t.Fatalf("%v", err)
	}
	name := strconv.FormatInt(signed.Version, 10) + ".targets.json"
	b := r.Get(name)
	end := bytes.LastIndexByte(b, '}')
	if end < 0 {
		t.Fatalf("targets.json: no closing brace")
	}
	b = slices.Concat(b[:end], []byte(`,"ſigned":`), forgedSigned, b[end:])
	r.Set(name, b)
	r.Set("targets.json", b)
	t.Init()
	wantGenuineOrNothing(t, t.Download(path), path, genuine, forged)
}

// nestedRoleShadows: targets delegates webkit (webkit/*) then safari
// (safari/*). The holder of webkit's key delegates, inside webkit's own
// paths, a role named "safari" to webkit's key, and the mirror serves as
// safari.json (the version snapshot lists) a file signed by that key which
// lists webkit/y.txt and a forged safari/x.txt. Downloading webkit/y.txt
// first makes a client load "safari" through webkit; a client that then
// reuses that role for the top-level safari returns the forgery.
func nestedRoleShadows(t *T) {
	r := t.Repo
	r.Delegate("targets", "webkit", []string{"webkit/*"}, false)
	r.Delegate("targets", "safari", []string{"safari/*"}, false)
	genuine, forged, webkit := []byte("genuine safari payload\n"), []byte("safari payload forged by the webkit key\n"), []byte("webkit payload\n")
	r.AddTarget("safari", "safari/x.txt", genuine)
	r.Publish("targets", "webkit", "safari")

	wk := r.Signers["webkit"][0]
	r.Targets["webkit"].Signed.Delegations = &metadata.Delegations{
		Keys:  map[string]*metadata.Key{wk.ID: wk.Key},
		Roles: []metadata.DelegatedRole{{Name: "safari", KeyIDs: []string{wk.ID}, Threshold: 1, Paths: []string{"webkit/*"}}},
	}
	r.Publish("webkit")

	v := r.Targets["safari"].Signed.Version
	fake := metadata.Targets(r.Targets["safari"].Signed.Expires)
	fake.Signed.Version = v
	for p, data := range map[string][]byte{"safari/x.txt": forged, "webkit/y.txt": webkit} {
		tf, err := metadata.TargetFile().FromBytes(p, data, "sha256")
		if err != nil {
			t.Fatalf("%v", err)
		}
		fake.Signed.Targets[p] = tf
		r.ServeTarget(p, tf.Hashes, data)
	}
	b := sim.SignWith(r, fake, []*sim.Key{wk})
	r.Set(strconv.FormatInt(v, 10)+".safari.json", b)
	r.Set("safari.json", b)

	t.Init()
	wantGenuineOrNothing(t, t.Download("webkit/y.txt", "safari/x.txt"), "safari/x.txt", genuine, forged)
}

// succinctBitLength32 delegates from targets to 2^32 succinct bins and
// publishes only the bin the target hashes to.
func succinctBitLength32(t *T) {
	r := t.Repo
	data := []byte("payload in one of 2^32 bins\n")
	const path = "team/a.txt"
	k := r.NewKey(sim.Ed25519)
	succ := &metadata.SuccinctRoles{KeyIDs: []string{k.ID}, Threshold: 1, BitLength: 32, NamePrefix: "bin"}
	r.Targets["targets"].Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{k.ID: k.Key}, SuccinctRoles: succ}
	bin := succ.GetRolesForTarget(path)[0].Name
	r.Signers[bin] = []*sim.Key{k}
	r.Targets[bin] = metadata.Targets(r.Now.AddDate(0, 3, 0))
	r.Order = append(r.Order, bin)
	r.AddTarget(bin, path, data)
	r.Publish("targets", bin)
	t.Init()
	inv := t.within(boundedBins, func() *Invocation { return t.Download(path) })
	if inv.Duration >= boundedBins {
		t.Fatalf("download through 2^32 bins: no answer within %v", boundedBins)
	}
	switch inv.Exit {
	case 0:
		t.WantTarget(path, data)
	case 1:
	default:
		t.Errorf("download through 2^32 bins: expected the target (exit 0) or a clean refusal (exit 1), the client exited %d", inv.Exit)
	}
}

// delegatedKeyTwice: the delegation of team lists one key id twice with
// threshold 2, and team.json carries two signatures by that key.
func delegatedKeyTwice(t *T) {
	r := t.Repo
	data := []byte("payload of team/a.txt\n")
	d := r.Delegate("targets", "team", []string{"team/*"}, false)
	k := r.Signers["team"][0]
	d.KeyIDs = []string{k.ID, k.ID}
	d.Threshold = 2
	r.Signers["team"] = []*sim.Key{k, k}
	r.AddTarget("team", "team/a.txt", data)
	r.Publish("targets", "team")
	t.Init()
	inv := t.Download("team/a.txt")
	t.Fails("download", inv)
	t.WantNoTarget(data)
}

// wantGenuineOrNothing: inv either wrote the genuine payload of path
// (exit 0) or refused cleanly (exit 1); the forged bytes are never written.
func wantGenuineOrNothing(t *T, inv *Invocation, path string, genuine, forged []byte) {
	t.WantNoTarget(forged)
	switch inv.Exit {
	case 0:
		t.WantTarget(path, genuine)
	case 1:
	default:
		t.Errorf("download: expected the genuine target (exit 0) or a clean refusal (exit 1), the client exited %d", inv.Exit)
	}
}

// within runs f with the scenario's context cut to d.
func (t *T) within(d time.Duration, f func() *Invocation) *Invocation {
	outer := t.ctx
	ctx, cancel := context.WithTimeout(outer, d)
	defer func() { cancel(); t.ctx = outer }()
	t.ctx = ctx
	return f()
}
