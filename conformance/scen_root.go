package conformance

import (
	"fmt"

	"github.com/bsiframework/bsi/conformance/sim"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// rotateTimestampKey rotates the root to a new timestamp key and
// republishes the timestamp with it.
func rotateTimestampKey(r *sim.Repo) {
	r.RotateRoot(func(root *metadata.RootType) { r.ReplaceKeys(root, "timestamp", sim.Ed25519, 1, 1) })
	r.Publish()
}

// rootSignedBy re-signs the current root version with keys only.
func rootSignedBy(r *sim.Repo, keys []*sim.Key) {
	r.RootSigners = keys
	r.PublishRoot()
}

func rootScenarios() []Scenario {
	return []Scenario{
		good("root/rotate", "root 2 with a new timestamp key is fetched, then root 3 (404) is probed", "5.3.3-5.3.9", func(t *T) {
			t.fresh()
			rotateTimestampKey(t.Repo)
			inv := t.Refresh()
			t.Succeeds("refresh", inv)
			t.WantRequests(inv, "2.root.json", "3.root.json", "timestamp.json", "2.snapshot.json")
			t.WantTrusted("root", 2)
		}),
		good("root/rotate-chain", "three root versions in a row are each verified and the last one trusted", "5.3.3", func(t *T) {
			t.Init()
			for range 3 {
				rotateTimestampKey(t.Repo)
			}
			t.Succeeds("refresh", t.Refresh())
			t.WantTrusted("root", 4)
		}),
		good("root/threshold-up", "root 2 raises the root threshold to 2 of 3; root 3 signed by 2 of them is accepted", "5.3.4", func(t *T) {
			t.Init()
			r := t.Repo
			r.RotateRoot(func(root *metadata.RootType) { r.ReplaceKeys(root, "root", sim.Ed25519, 3, 2) })
			r.Root.Signed.Version++
			rootSignedBy(r, r.Signers["root"][:2])
			t.Succeeds("refresh", t.Refresh())
			t.WantTrusted("root", 3)
		}),
		bad("root/threshold-up-unmet", "root 3 signed by 1 of the 2 keys root 2 requires is refused", "5.3.4", "signature", func(t *T) {
			t.Init()
			r := t.Repo
			r.RotateRoot(func(root *metadata.RootType) { r.ReplaceKeys(root, "root", sim.Ed25519, 3, 2) })
			r.Root.Signed.Version++
			rootSignedBy(r, r.Signers["root"][:1])
			t.Fails("refresh", t.Refresh())
			if v := t.TrustedVersion("root"); v > 2 {
				t.Errorf("trusted root: expected at most version 2, found %d", v)
			}
		}),
		good("root/threshold-down", "root 3 lowers the threshold to 1 (signed by 2 of root 2's keys); root 4 signed by one key is accepted", "5.3.4", func(t *T) {
			t.Init()
			r := t.Repo
			r.RotateRoot(func(root *metadata.RootType) { r.ReplaceKeys(root, "root", sim.Ed25519, 3, 2) })
			r.Root.Signed.Version++
			r.Root.Signed.Roles["root"].Threshold = 1
			rootSignedBy(r, r.Signers["root"][:2])
			r.Root.Signed.Version++
			rootSignedBy(r, r.Signers["root"][2:])
			t.Succeeds("refresh", t.Refresh())
			t.WantTrusted("root", 4)
		}),
		bad("root/threshold-down-unmet", "root 3 lowering the threshold to 1 but signed by 1 of root 2's required 2 is refused", "5.3.4", "signature", func(t *T) {
			t.Init()
			r := t.Repo
			r.RotateRoot(func(root *metadata.RootType) { r.ReplaceKeys(root, "root", sim.Ed25519, 3, 2) })
			r.Root.Signed.Version++
			r.Root.Signed.Roles["root"].Threshold = 1
			rootSignedBy(r, r.Signers["root"][:1])
			t.Fails("refresh", t.Refresh())
		}),
		good("root/key-swap", "root 2 replaces the root key, signed by old and new keys", "5.3.4", func(t *T) {
			t.Init()
			r := t.Repo
			r.RotateRoot(func(root *metadata.RootType) { r.ReplaceKeys(root, "root", sim.Ed25519, 1, 1) })
			t.Succeeds("refresh", t.Refresh())
			t.WantTrusted("root", 2)
		}),
		bad("root/not-signed-by-old", "root 2 signed only by its new key (not by root 1's) is refused", "5.3.4", "signature", func(t *T) {
			t.Init()
			r := t.Repo
			r.Root.Signed.Version++
			r.ReplaceKeys(&r.Root.Signed, "root", sim.Ed25519, 1, 1)
			rootSignedBy(r, r.Signers["root"])
			t.Fails("refresh", t.Refresh())
			t.WantTrusted("root", 1)
		}),
		bad("root/not-signed-by-new", "root 2 signed only by root 1's key, not by the key it lists, is refused", "5.3.5", "signature", func(t *T) {
			t.Init()
			r := t.Repo
			old := r.Signers["root"]
			r.Root.Signed.Version++
			r.ReplaceKeys(&r.Root.Signed, "root", sim.Ed25519, 1, 1)
			rootSignedBy(r, old)
			t.Fails("refresh", t.Refresh())
			t.WantTrusted("root", 1)
		}),
		bad("root/attacker-signed", "root 2 signed by an unknown key only is refused", "5.3.4", "signature", func(t *T) {
			t.Init()
			r := t.Repo
			r.Root.Signed.Version++
			rootSignedBy(r, []*sim.Key{r.NewKey(sim.Ed25519)})
			t.Fails("refresh", t.Refresh())
		}),
		good("root/intermediate-expired", "an expired root 2 on the way to a valid root 3 is accepted", "5.3.10", func(t *T) {
			t.Init()
			r := t.Repo
			r.RotateRoot(func(root *metadata.RootType) { root.Expires = r.Now.AddDate(0, 0, -1) })
			r.RotateRoot(func(root *metadata.RootType) { root.Expires = r.Now.AddDate(1, 0, 0) })
			t.Succeeds("refresh", t.Refresh())
			t.WantTrusted("root", 3)
		}),
		bad("root/final-expired", "an expired newest root stops the refresh (freeze)", "5.3.10", "expiry", func(t *T) {
			t.Init()
			r := t.Repo
			r.RotateRoot(func(root *metadata.RootType) { root.Expires = r.Now.AddDate(0, 0, -1) })
			t.Fails("refresh", t.Refresh())
		}),
		bad("root/version-mismatch", "2.root.json that carries version 3 is refused", "5.3.5", "version", refused(func(t *T) {
			r := t.Repo
			r.Root.Signed.Version = 3
			b := sim.SignWith(r, r.Root, r.Signers["root"])
			r.Set("2.root.json", b)
		})),
		bad("root/same-version-replay", "2.root.json that is root 1 again is refused", "5.3.5", "rollback", refused(func(t *T) {
			t.Repo.Set("2.root.json", t.Repo.Get("1.root.json"))
		})),
		good("root/many-rotations", "20 root versions are walked one by one", "5.3.3", func(t *T) {
			t.Init()
			for range 20 {
				t.Repo.RotateRoot(nil)
			}
			t.Succeeds("refresh", t.Refresh())
			t.WantTrusted("root", 21)
		}),
		bad("root/too-many-rotations", "300 root versions, the timestamp key changing in the last: a client bounds its root walk and fails", "5.3.3", "", func(t *T) {
			t.Init()
			r := t.Repo
			for range 299 {
				r.RotateRoot(nil)
			}
			rotateTimestampKey(r)
			inv := t.Refresh()
			t.Fails("refresh", inv)
			n := 0
			for _, q := range inv.Requests {
				if len(q) > 10 && q[len(q)-10:] == ".root.json" {
					n++
				}
			}
			if n >= 300 {
				t.Errorf("root walk: expected a bound below 300 root fetches, the client made %d", n)
			}
		}),
		bad("root/rotated-timestamp-key-old-timestamp", "after root 2 rotates the timestamp key, a timestamp signed by the old key is refused", "5.4.2", "signature", func(t *T) {
			t.fresh()
			r := t.Repo
			r.RotateRoot(func(root *metadata.RootType) { r.ReplaceKeys(root, "timestamp", sim.Ed25519, 1, 1) })
			t.Fails("refresh", t.Refresh())
		}),
		good("root/rotate-all-roles", fmt.Sprintf("root 2 replaces the keys of all four roles; everything re-signed is accepted"), "5.3", func(t *T) {
			t.fresh()
			r := t.Repo
			r.RotateRoot(func(root *metadata.RootType) {
				for _, role := range []string{"root", "timestamp", "snapshot", "targets"} {
					r.ReplaceKeys(root, role, sim.Ed25519, 1, 1)
				}
			})
			r.Publish("targets")
			t.Succeeds("refresh", t.Refresh())
			t.WantTrusted("root", 2)
			t.WantTrusted("targets", 2)
		}),
	}
}
