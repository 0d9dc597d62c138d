package conformance

import (
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

func expiryScenarios() []Scenario {
	return []Scenario{
		bad("expiry/timestamp", "an expired timestamp is refused (freeze)", "5.4.4", "expiry", refused(func(t *T) {
			t.Repo.Timestamp.Signed.Expires = t.Repo.Now.AddDate(0, 0, -1)
			bump(t.Repo)
		})),
		bad("expiry/snapshot", "an expired snapshot is refused", "5.5.6", "expiry", refused(func(t *T) {
			t.Repo.Snapshot.Signed.Expires = t.Repo.Now.AddDate(0, 0, -1)
			bump(t.Repo)
		})),
		bad("expiry/targets", "an expired targets file is refused", "5.6.5", "expiry", refused(func(t *T) {
			t.Repo.Targets["targets"].Signed.Expires = t.Repo.Now.AddDate(0, 0, -1)
			t.Repo.Publish("targets")
		})),
		bad("expiry/root", "root 1, expired, with no newer root, is refused at refresh", "5.3.10", "expiry", func(t *T) {
			r := t.Repo
			r.Root.Signed.Expires = r.Now.AddDate(0, 0, -1)
			r.PublishRoot()
			t.Init()
			t.Fails("refresh", t.Refresh())
		}),
		bad("expiry/timestamp-after-good", "after a good refresh, a newer but expired timestamp is refused", "5.4.4", "expiry", func(t *T) {
			t.fresh()
			t.Repo.Timestamp.Signed.Expires = t.Repo.Now.AddDate(0, 0, -1)
			bump(t.Repo)
			t.Fails("refresh", t.Refresh())
		}),
		bad("expiry/snapshot-after-good", "after a good refresh, a newer but expired snapshot is refused", "5.5.6", "expiry", func(t *T) {
			t.fresh()
			t.Repo.Snapshot.Signed.Expires = t.Repo.Now.AddDate(0, 0, -1)
			bump(t.Repo)
			t.Fails("refresh", t.Refresh())
		}),
		bad("expiry/targets-after-good", "after a good refresh, a newer but expired targets file is refused", "5.6.5", "expiry", func(t *T) {
			t.fresh()
			t.Repo.Targets["targets"].Signed.Expires = t.Repo.Now.AddDate(0, 0, -1)
			t.Repo.Publish("targets")
			t.Fails("refresh", t.Refresh())
		}),
		bad("expiry/timestamp-one-second", "a timestamp that expired one second ago is refused", "5.4.4", "expiry", refused(func(t *T) {
			t.Repo.Timestamp.Signed.Expires = t.Repo.Now.Add(-1e9)
			bump(t.Repo)
		})),
		bad("expiry/delegated", "a target listed only by an expired delegated role is not downloaded", "5.6.5, 5.6.7", "expiry", func(t *T) {
			r := t.Repo
			r.Delegate("targets", "team", []string{"team/*"}, false)
			data := []byte("team payload")
			r.AddTarget("team", "team/a.txt", data)
			r.Targets["team"].Signed.Expires = r.Now.AddDate(0, 0, -1)
			r.Publish("targets", "team")
			t.Init()
			t.Fails("download", t.Download("team/a.txt"))
			t.WantNoTarget(data)
		}),
		good("expiry/intermediate-root-only", "an expired root that is replaced by a valid one in the same refresh does not block", "5.3.10", func(t *T) {
			r := t.Repo
			r.Root.Signed.Expires = r.Now.AddDate(0, 0, -1)
			r.PublishRoot()
			t.Init()
			r.RotateRoot(func(root *metadata.RootType) { root.Expires = r.Now.AddDate(1, 0, 0) })
			t.Succeeds("refresh", t.Refresh())
			t.WantTrusted("root", 2)
		}),
	}
}
