package conformance

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/bsiframework/bsi/conformance/sim"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// delegatedDownload publishes data at path listed by role (after setup)
// and requires the download to succeed or fail.
func delegatedDownload(path string, ok bool, setup func(r *sim.Repo, data []byte)) func(*T) {
	return func(t *T) {
		data := []byte("payload of " + path + "\n")
		setup(t.Repo, data)
		t.Init()
		inv := t.Download(path)
		if ok {
			t.Succeeds("download", inv)
			t.WantTarget(path, data)
			return
		}
		t.Fails("download", inv)
		t.WantNoTarget(data)
	}
}

// listWrong lists path in role with the hashes of other bytes.
func listWrong(r *sim.Repo, role, path string) {
	tf, err := metadata.TargetFile().FromBytes(path, []byte("something else"), "sha256")
	if err != nil {
		panic(err)
	}
	r.Targets[role].Signed.Targets[path] = tf
}

func delegationScenarios() []Scenario {
	return []Scenario{
		good("delegation/basic", "a target listed by a delegated role is found and downloaded", "5.6.7", delegatedDownload("team/a.txt", true, func(r *sim.Repo, data []byte) {
			r.Delegate("targets", "team", []string{"team/*"}, false)
			r.AddTarget("team", "team/a.txt", data)
			r.Publish("targets", "team")
		})),
		good("delegation/nested", "a target two delegations deep is found", "5.6.7", delegatedDownload("team/sub/a.txt", true, func(r *sim.Repo, data []byte) {
			r.Delegate("targets", "team", []string{"team/*/*"}, false)
			r.Delegate("team", "sub", []string{"team/sub/*"}, false)
			r.AddTarget("sub", "team/sub/a.txt", data)
			r.Publish("targets", "team", "sub")
		})),
		good("delegation/order-first-wins", "two roles list the path; the first one delegated (correct hashes) is used", "5.6.7.2", delegatedDownload("team/a.txt", true, func(r *sim.Repo, data []byte) {
			r.Delegate("targets", "first", []string{"team/*"}, false)
			r.Delegate("targets", "second", []string{"team/*"}, false)
			r.AddTarget("first", "team/a.txt", data)
			listWrong(r, "second", "team/a.txt")
			r.Publish("targets", "first", "second")
		})),
		bad("delegation/order-first-is-trusted", "two roles list the path; the first one's (wrong) hashes decide, so the download fails", "5.6.7.2", "delegation", delegatedDownload("team/a.txt", false, func(r *sim.Repo, data []byte) {
			r.Delegate("targets", "first", []string{"team/*"}, false)
			r.Delegate("targets", "second", []string{"team/*"}, false)
			listWrong(r, "first", "team/a.txt")
			r.AddTarget("second", "team/a.txt", data)
			r.Publish("targets", "first", "second")
		})),
		bad("delegation/terminating", "a terminating role that does not list the path ends the search", "5.6.7.2.1", "delegation", delegatedDownload("team/a.txt", false, func(r *sim.Repo, data []byte) {
			r.Delegate("targets", "first", []string{"team/*"}, true)
			r.Delegate("targets", "second", []string{"team/*"}, false)
			r.AddTarget("second", "team/a.txt", data)
			r.Publish("targets", "first", "second")
		})),
		good("delegation/non-terminating", "a non-terminating role that does not list the path lets the search go on", "5.6.7.2.1", delegatedDownload("team/a.txt", true, func(r *sim.Repo, data []byte) {
			r.Delegate("targets", "first", []string{"team/*"}, false)
			r.Delegate("targets", "second", []string{"team/*"}, false)
			r.AddTarget("second", "team/a.txt", data)
			r.Publish("targets", "first", "second")
		})),
		bad("delegation/cycle", "roles that delegate to each other end in a clean failure for an unlisted path", "5.6.7.2", "", delegatedDownload("team/a.txt", false, func(r *sim.Repo, data []byte) {
			r.Delegate("targets", "a", []string{"team/*"}, false)
			r.Delegate("a", "b", []string{"team/*"}, false)
			r.Delegate("b", "a", []string{"team/*"}, false)
			r.Publish("targets", "a", "b")
		})),
		bad("delegation/outside-paths", "a role listing a target outside its delegated paths is not believed", "5.6.7.2", "delegation", delegatedDownload("other/a.txt", false, func(r *sim.Repo, data []byte) {
			r.Delegate("targets", "team", []string{"team/*"}, false)
			r.AddTarget("team", "other/a.txt", data)
			r.Publish("targets", "team")
		})),
		bad("delegation/star-does-not-cross-slash", "pattern team/* does not cover team/sub/a.txt", "5.6.7.2 (paths)", "delegation", delegatedDownload("team/sub/a.txt", false, func(r *sim.Repo, data []byte) {
			r.Delegate("targets", "team", []string{"team/*"}, false)
			r.AddTarget("team", "team/sub/a.txt", data)
			r.Publish("targets", "team")
		})),
		good("delegation/pattern-question-mark", "pattern team/file-?.txt covers team/file-1.txt", "5.6.7.2 (paths)", delegatedDownload("team/file-1.txt", true, func(r *sim.Repo, data []byte) {
			r.Delegate("targets", "team", []string{"team/file-?.txt"}, false)
			r.AddTarget("team", "team/file-1.txt", data)
			r.Publish("targets", "team")
		})),
		good("delegation/hash-prefix", "a role delegated by path_hash_prefixes matching the path's hash is used", "5.6.7.2 (path_hash_prefixes)", delegatedDownload("team/a.txt", true, func(r *sim.Repo, data []byte) {
			d := r.Delegate("targets", "team", nil, false)
			sum := sha256.Sum256([]byte("team/a.txt"))
			d.PathHashPrefixes = []string{hex.EncodeToString(sum[:])[:4]}
			r.AddTarget("team", "team/a.txt", data)
			r.Publish("targets", "team")
		})),
		bad("delegation/hash-prefix-miss", "a role whose path_hash_prefixes do not match the path is not believed", "5.6.7.2 (path_hash_prefixes)", "delegation", delegatedDownload("team/a.txt", false, func(r *sim.Repo, data []byte) {
			d := r.Delegate("targets", "team", nil, false)
			sum := sha256.Sum256([]byte("team/a.txt"))
			p := hex.EncodeToString(sum[:])[:4]
			d.PathHashPrefixes = []string{map[bool]string{true: "1111", false: "0000"}[p == "0000"]}
			r.AddTarget("team", "team/a.txt", data)
			r.Publish("targets", "team")
		})),
		good("delegation/succinct-bins", "a target in its succinct hash bin (16 bins) is found", "TAP 15", delegatedDownload("team/a.txt", true, func(r *sim.Repo, data []byte) {
			r.DelegateBins("targets", "bin", 4)
			bin := r.Targets["targets"].Signed.Delegations.SuccinctRoles.GetRolesForTarget("team/a.txt")[0].Name
			r.AddTarget(bin, "team/a.txt", data)
			r.Publish(append([]string{"targets"}, r.Order[1:]...)...)
		})),
		bad("delegation/succinct-wrong-bin", "a target listed in a bin it does not hash to is not found", "TAP 15", "delegation", delegatedDownload("team/a.txt", false, func(r *sim.Repo, data []byte) {
			names := r.DelegateBins("targets", "bin", 4)
			bin := r.Targets["targets"].Signed.Delegations.SuccinctRoles.GetRolesForTarget("team/a.txt")[0].Name
			wrong := names[0]
			if wrong == bin {
				wrong = names[1]
			}
			r.AddTarget(wrong, "team/a.txt", data)
			r.Publish(append([]string{"targets"}, r.Order[1:]...)...)
		})),
		bad("delegation/missing-from-snapshot", "a delegated role the snapshot does not list is not loaded", "5.6.7.1", "snapshot", delegatedDownload("team/a.txt", false, func(r *sim.Repo, data []byte) {
			r.Delegate("targets", "team", []string{"team/*"}, false)
			r.AddTarget("team", "team/a.txt", data)
			r.Publish("targets", "team")
			delete(r.Snapshot.Signed.Meta, "team.json")
			r.Order = r.Order[:1]
			r.Publish()
		})),
		bad("delegation/wrong-key", "a delegated role signed by a key its delegator does not list is refused", "5.6.7.1", "signature", delegatedDownload("team/a.txt", false, func(r *sim.Repo, data []byte) {
			r.Delegate("targets", "team", []string{"team/*"}, false)
			r.AddTarget("team", "team/a.txt", data)
			r.Signers["team"] = []*sim.Key{r.NewKey(sim.Ed25519)}
			r.Publish("targets", "team")
		})),
		bad("delegation/threshold-unmet", "a delegated role with threshold 2 signed by one key is refused", "5.6.7.1", "signature", delegatedDownload("team/a.txt", false, func(r *sim.Repo, data []byte) {
			d := r.Delegate("targets", "team", []string{"team/*"}, false)
			k := r.NewKey(sim.Ed25519)
			r.Targets["targets"].Signed.Delegations.Keys[k.ID] = k.Key
			d.KeyIDs = append(d.KeyIDs, k.ID)
			d.Threshold = 2
			r.AddTarget("team", "team/a.txt", data)
			r.Publish("targets", "team")
		})),
		good("delegation/threshold-2", "a delegated role with threshold 2 signed by both keys is accepted", "5.6.7.1", delegatedDownload("team/a.txt", true, func(r *sim.Repo, data []byte) {
			d := r.Delegate("targets", "team", []string{"team/*"}, false)
			k := r.NewKey(sim.ECDSA)
			r.Targets["targets"].Signed.Delegations.Keys[k.ID] = k.Key
			d.KeyIDs = append(d.KeyIDs, k.ID)
			d.Threshold = 2
			r.Signers["team"] = append(r.Signers["team"], k)
			r.AddTarget("team", "team/a.txt", data)
			r.Publish("targets", "team")
		})),
		bad("delegation/version-mismatch", "a delegated role file whose version differs from the snapshot's listing is refused", "5.6.7.1", "version", delegatedDownload("team/a.txt", false, func(r *sim.Repo, data []byte) {
			r.Delegate("targets", "team", []string{"team/*"}, false)
			r.AddTarget("team", "team/a.txt", data)
			r.Publish("targets", "team")
			old := r.Get("2.team.json")
			r.Publish("team")
			r.Set("3.team.json", old)
		})),
	}
}
