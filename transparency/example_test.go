package transparency_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/transparency"
	"github.com/bsiframework/bsi/transparency/tlogtest"
)

// A device verifies the proof published beside a payload against the
// repository's policy and the signed target, before installing it.
func ExamplePolicy_VerifyProof() {
	l := tlogtest.NewLog("log.example/bsi", 3)
	policy, err := transparency.ParsePolicy(l.Policy(2)) // the tlog-policy target
	if err != nil {
		panic(err)
	}
	m := &manifest.Manifest{Schema: manifest.Schema, ID: "webkit-26.3-a", Title: "fix", Platform: "macos",
		Component: "webkit", AppliesTo: manifest.AppliesTo{Releases: []string{"26.3"}}, Sequence: 1,
		Severity: manifest.SeverityHigh, Released: "2026-11-27T10:00:00Z", Status: manifest.StatusActive}
	custom, _ := m.Custom()
	payload := []byte("archive bytes")
	sum := sha256.Sum256(payload)
	target := transparency.Target{Component: "webkit", Path: "webkit/webkit-26.3-a.tar.gz", Length: int64(len(payload)),
		Hashes: map[string]string{"sha256": hex.EncodeToString(sum[:])}, Custom: custom}

	i := l.Append(tlogtest.Entry(target, 1))
	witnessed := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	cp, err := policy.VerifyProof(l.Proof(i, l.Checkpoint(witnessed, l.Witnesses...)), target, nil)
	fmt.Println(cp, err)
	fmt.Println("floor", cp.Floor)

	// The same proof, cosigned by one witness only.
	_, err = policy.VerifyProof(l.Proof(i, l.Checkpoint(witnessed, l.Witnesses[0])), target, cp.Accepted())
	fmt.Println(err)
	// Output:
	// log.example/bsi@1 <nil>
	// floor 2026-12-03 12:00:00 +0000 UTC
	// transparency: target webkit/webkit-26.3-a.tar.gz: witness quorum (checkpoint log.example/bsi@1): cosigned by 1 witnesses of the policy, not a quorum (a view nobody witnessed) [witnesses: witness-2.example, witness-3.example]
}
