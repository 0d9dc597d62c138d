package conformance

import (
	"github.com/bsiframework/bsi/conformance/sim"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// withDelegation adds role "team" (paths team/*) with one target and
// publishes it.
func withDelegation(r *sim.Repo) []byte {
	r.Delegate("targets", "team", []string{"team/*"}, false)
	data := []byte("team payload\n")
	r.AddTarget("team", "team/a.txt", data)
	r.Publish("targets", "team")
	return data
}

func rollbackScenarios() []Scenario {
	return []Scenario{
		bad("rollback/timestamp", "after timestamp 2 is trusted, timestamp 1 is refused", "5.4.3", "rollback", func(t *T) {
			old := t.Repo.Get("timestamp.json")
			bump(t.Repo)
			t.fresh()
			t.Repo.Set("timestamp.json", old)
			t.Fails("refresh", t.Refresh())
			t.WantTrusted("timestamp", 2)
		}),
		bad("rollback/timestamp-resigned", "a timestamp re-signed with a lower version than the trusted one is refused", "5.4.3", "rollback", func(t *T) {
			bump(t.Repo)
			bump(t.Repo)
			t.fresh()
			t.Repo.Timestamp.Signed.Version = 2
			t.Repo.PublishTimestamp()
			t.Fails("refresh", t.Refresh())
		}),
		bad("rollback/snapshot", "a new timestamp listing snapshot 1 after snapshot 2 was trusted is refused", "5.4.3.2", "rollback", func(t *T) {
			bump(t.Repo)
			t.fresh()
			r := t.Repo
			r.Timestamp.Signed.Version++
			r.Snapshot.Signed.Version = 1
			r.PublishSnapshot()
			t.Fails("refresh", t.Refresh())
		}),
		bad("rollback/targets", "a new snapshot listing targets 1 after targets 2 was trusted is refused", "5.5.5", "rollback", func(t *T) {
			r := t.Repo
			r.Publish("targets")
			t.fresh()
			r.Targets["targets"].Signed.Version = 0
			r.Publish("targets")
			t.Fails("refresh", t.Refresh())
		}),
		bad("rollback/delegated", "a new snapshot listing a lower version of a delegated role is refused", "5.5.5", "rollback", func(t *T) {
			r := t.Repo
			withDelegation(r)
			r.Publish("team")
			t.fresh()
			r.Targets["team"].Signed.Version = 1
			r.Publish()
			t.Fails("refresh", t.Refresh())
		}),
		bad("rollback/role-removed-from-snapshot", "a new snapshot that drops a role the trusted snapshot listed is refused", "5.5.5", "rollback", func(t *T) {
			r := t.Repo
			withDelegation(r)
			t.fresh()
			r.Order = r.Order[:1]
			delete(r.Snapshot.Signed.Meta, "team.json")
			bump(r)
			t.Fails("refresh", t.Refresh())
		}),
		good("rollback/fast-forward-timestamp", "after root rotates the timestamp key, timestamp version 1 under the new key is accepted", "5.3.11", func(t *T) {
			r := t.Repo
			for range 3 {
				bump(r)
			}
			t.fresh()
			r.RotateRoot(func(root *metadata.RootType) { r.ReplaceKeys(root, "timestamp", sim.Ed25519, 1, 1) })
			r.Timestamp.Signed.Version = 1
			r.Snapshot.Signed.Version++
			r.PublishSnapshot()
			t.Succeeds("refresh", t.Refresh())
			t.WantTrusted("timestamp", 1)
		}),
		good("rollback/fast-forward-snapshot", "after root rotates the snapshot key, snapshot version 1 under the new key is accepted", "5.3.11", func(t *T) {
			r := t.Repo
			for range 3 {
				bump(r)
			}
			t.fresh()
			r.RotateRoot(func(root *metadata.RootType) { r.ReplaceKeys(root, "snapshot", sim.Ed25519, 1, 1) })
			r.Snapshot.Signed.Version = 1
			r.Timestamp.Signed.Version++
			r.PublishSnapshot()
			t.Succeeds("refresh", t.Refresh())
			t.WantTrusted("snapshot", 1)
		}),
		bad("rollback/no-fast-forward-without-rotation", "timestamp version 1 re-signed by the unchanged key after version 4 is refused", "5.4.3", "rollback", func(t *T) {
			r := t.Repo
			for range 3 {
				bump(r)
			}
			t.fresh()
			r.Timestamp.Signed.Version = 1
			r.Snapshot.Signed.Version++
			r.PublishSnapshot()
			t.Fails("refresh", t.Refresh())
		}),
		good("rollback/equal-version-is-no-update", "the same timestamp served again is not an error", "5.4.3", func(t *T) {
			t.fresh()
			t.Succeeds("second refresh", t.Refresh())
			t.WantTrusted("timestamp", 1)
		}),
	}
}
