package repo_test

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/trust/repo"
)

// An officer checks the root file brought to the air-gapped machine
// against their own copy of the last trusted root before signing it.
func ExampleCheckFile() {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	officer := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	key, _ := metadata.KeyFromPublicKey(officer.Public())
	root := func(version int64, threshold int) []byte {
		m := metadata.Root(now.Add(365 * 24 * time.Hour))
		m.Signed.Version = version
		for _, role := range []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP} {
			m.Signed.AddKey(key, role)
		}
		m.Signed.Roles[metadata.ROOT].Threshold = threshold
		data, _ := m.ToBytes(false)
		return data
	}
	trusted := root(3, 1)
	check := repo.FileCheck{TrustedRoot: trusted, Now: now}

	_, _, err := repo.CheckFile(root(5, 1), officer.Public(), check)
	fmt.Println(err)

	change, ids, err := repo.CheckFile(root(4, 1), officer.Public(), check)
	fmt.Println(err, change.Role, change.PreviousVersion, "->", change.Version, len(ids))
	// Output:
	// root: version 5 does not follow trusted version 3
	// <nil> root 3 -> 4 1
}
