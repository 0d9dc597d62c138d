package conformance

import (
	"net/http"
	"time"

	"github.com/bsiframework/bsi/conformance/sim"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

func good(name, desc, spec string, run func(*T)) Scenario {
	return Scenario{Name: name, Description: desc, Spec: spec, Run: run}
}

func bad(name, desc, spec, fault string, run func(*T)) Scenario {
	return Scenario{Name: name, Description: desc, Spec: spec, Fault: fault, Run: run}
}

// fresh initialises the client and refreshes once successfully.
func (t *T) fresh() {
	t.Init()
	t.Succeeds("first refresh", t.Refresh())
}

// refused initialises the client, lets stage change the repository, and
// requires the next refresh to fail.
func refused(stage func(t *T)) func(*T) {
	return func(t *T) {
		t.Init()
		stage(t)
		t.Fails("refresh", t.Refresh())
	}
}

// refusedLater is refused after a first good refresh; the trusted
// timestamp must stay at its version.
func refusedLater(stage func(t *T)) func(*T) {
	return func(t *T) {
		t.fresh()
		v := t.TrustedVersion("timestamp")
		stage(t)
		t.Fails("refresh", t.Refresh())
		if got := t.TrustedVersion("timestamp"); got > v && got != 0 {
			t.Errorf("trusted timestamp: expected version %d kept after the refusal, found %d", v, got)
		}
	}
}

// bump publishes a new snapshot and timestamp version.
func bump(r *sim.Repo) { r.Publish() }

func basicScenarios() []Scenario {
	return []Scenario{
		good("basic/refresh", "a fresh client fetches root 2 (404), timestamp, snapshot 1 and targets 1 in that order", "5.3-5.6", func(t *T) {
			t.Init()
			inv := t.Refresh()
			t.Succeeds("refresh", inv)
			t.WantRequests(inv, "2.root.json", "timestamp.json", "1.snapshot.json", "1.targets.json")
			for _, role := range []string{"root", "timestamp", "snapshot", "targets"} {
				t.WantTrusted(role, 1)
			}
		}),
		good("basic/refresh-unchanged", "a second refresh with nothing new fetches only the next root and the timestamp", "5.4, 5.5", func(t *T) {
			t.fresh()
			inv := t.Refresh()
			t.Succeeds("second refresh", inv)
			t.WantRequests(inv, "2.root.json", "timestamp.json")
		}),
		good("basic/new-targets", "a new targets version is fetched under its versioned name", "5.6.1", func(t *T) {
			t.fresh()
			t.Repo.AddTarget("targets", "file.txt", []byte("new"))
			t.Repo.Publish("targets")
			inv := t.Refresh()
			t.Succeeds("refresh", inv)
			t.WantRequests(inv, "2.root.json", "timestamp.json", "2.snapshot.json", "2.targets.json")
			t.WantTrusted("targets", 2)
			t.WantTrusted("snapshot", 2)
		}),
		good("basic/no-consistent-snapshot", "without consistent snapshots the client fetches snapshot.json and targets.json", "5.5.1, 5.6.1", func(t *T) {
			t.Repo.Root.Signed.ConsistentSnapshot = false
			t.Repo.PublishRoot()
			t.Repo.Delete("1.snapshot.json")
			t.Repo.Delete("1.targets.json")
			t.Init()
			inv := t.Refresh()
			t.Succeeds("refresh", inv)
			t.WantRequests(inv, "2.root.json", "timestamp.json", "snapshot.json", "targets.json")
		}),
		bad("basic/init-unsigned-root", "init with a root carrying no signatures is refused", "5.2", "signature", func(t *T) {
			t.Repo.Root.ClearSignatures()
			b, err := t.Repo.Root.ToBytes(true)
			if err != nil {
				t.Fatalf("%v", err)
			}
			t.Fails("init", t.InitWith(b))
		}),
		bad("basic/init-wrong-key-root", "init with a root signed by a key it does not list is refused", "5.2", "signature", func(t *T) {
			t.Fails("init", t.InitWith(sim.SignWith(t.Repo, t.Repo.Root, []*sim.Key{t.Repo.NewKey(sim.Ed25519)})))
		}),
		bad("basic/timestamp-404", "a missing timestamp fails the refresh", "5.4.1", "", refused(func(t *T) { t.Repo.Status("timestamp.json", 404) })),
		bad("basic/timestamp-500", "a server error on the timestamp fails the refresh", "5.4.1", "", refused(func(t *T) { t.Repo.Status("timestamp.json", 500) })),
		bad("basic/snapshot-404", "a missing snapshot fails the refresh", "5.5.1", "", refused(func(t *T) { t.Repo.Status("1.snapshot.json", 404) })),
		bad("basic/targets-500", "a server error on targets fails the refresh", "5.6.1", "", refused(func(t *T) { t.Repo.Status("1.targets.json", 500) })),
		bad("basic/root-500", "a server error (not a 404) on the next root fails the refresh", "5.3.3", "", refused(func(t *T) { t.Repo.Status("2.root.json", 500) })),
		good("basic/slow-timestamp", "a timestamp answered after 1.5 s is still accepted", "5.4.1", func(t *T) {
			t.Repo.Slow("timestamp.json", 1500*time.Millisecond)
			t.fresh()
		}),
		bad("basic/timestamp-wrong-type", "a snapshot-typed file signed by the timestamp key served as timestamp is refused", "5.4.2", "type", refused(func(t *T) {
			t.Repo.Set("timestamp.json", sim.SignWith(t.Repo, t.Repo.Snapshot, t.Repo.Signers["timestamp"]))
		})),
		bad("basic/snapshot-wrong-type", "a timestamp-typed file signed by the snapshot key served as snapshot is refused", "5.5.3", "type", refused(func(t *T) {
			t.Repo.Set("1.snapshot.json", sim.SignWith(t.Repo, t.Repo.Timestamp, t.Repo.Signers["snapshot"]))
		})),
		bad("basic/targets-wrong-type", "a snapshot-typed file signed by the targets key served as targets is refused", "5.6.3", "type", refused(func(t *T) {
			t.Repo.Set("1.targets.json", sim.SignWith(t.Repo, t.Repo.Snapshot, t.Repo.Signers["targets"]))
		})),
		bad("basic/root-wrong-type", "a targets-typed file signed by the root key served as root 2 is refused", "5.3.4", "type", refused(func(t *T) {
			md := metadata.Targets(t.Repo.Now.AddDate(0, 1, 0))
			md.Signed.Version = 2
			t.Repo.Set("2.root.json", sim.SignWith(t.Repo, md, t.Repo.Signers["root"]))
		})),
		bad("basic/snapshot-hash-mismatch", "a snapshot whose sha256 differs from the timestamp's listing is refused", "5.5.2", "hash", refused(func(t *T) {
			t.Repo.MetaHashes = true
			bump(t.Repo)
			t.Repo.Snapshot.Signed.Expires = t.Repo.Snapshot.Signed.Expires.Add(time.Hour)
			t.Repo.Set("2.snapshot.json", sim.SignWith(t.Repo, t.Repo.Snapshot, t.Repo.Signers["snapshot"]))
		})),
		bad("basic/snapshot-version-mismatch", "a snapshot whose version differs from the timestamp's listing is refused", "5.5.4", "version", refused(func(t *T) {
			bump(t.Repo)
			t.Repo.Set("2.snapshot.json", t.Repo.Get("1.snapshot.json"))
		})),
		bad("basic/targets-version-mismatch", "a targets file whose version differs from the snapshot's listing is refused", "5.6.4", "version", refused(func(t *T) {
			t.Repo.Publish("targets")
			t.Repo.Set("2.targets.json", t.Repo.Get("1.targets.json"))
		})),
		bad("basic/targets-missing-from-snapshot", "a snapshot that does not list targets.json is refused", "5.6.1", "snapshot", refused(func(t *T) {
			delete(t.Repo.Snapshot.Signed.Meta, "targets.json")
			t.Repo.Snapshot.Signed.Version++
			t.Repo.Timestamp.Signed.Version++
			t.Repo.PublishSnapshot()
		})),
		bad("basic/refusal-keeps-trusted", "after a failed timestamp fetch the trusted timestamp stays", "5.4", "", refusedLater(func(t *T) {
			bump(t.Repo)
			t.Repo.Status("timestamp.json", http.StatusNotFound)
		})),
		good("basic/download", "a listed target is downloaded under its hash-prefixed name and written", "5.7", func(t *T) {
			data := []byte("hello, conformance\n")
			t.Repo.AddTarget("targets", "file.txt", data)
			t.Repo.Publish("targets")
			t.Init()
			inv := t.Download("file.txt")
			t.Succeeds("download", inv)
			t.WantTarget("file.txt", data)
			t.WantRequested(inv, "targets/"+hexHash(data)+".file.txt")
		}),
	}
}
