package conformance

import (
	"os"
	"path/filepath"

	"github.com/bsiframework/bsi/conformance/sim"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// topDownload lists data at path in targets (after edit) and requires the
// download to succeed or fail.
func topDownload(path string, data []byte, ok bool, edit func(r *sim.Repo, tf *metadata.TargetFiles)) func(*T) {
	return func(t *T) {
		tf := t.Repo.AddTarget("targets", path, data)
		if edit != nil {
			edit(t.Repo, tf)
		}
		t.Repo.Publish("targets")
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

func hashesScenario(name string, algs ...string) Scenario {
	return good("targets/"+name, "a target listed with "+name+" hashes verifies", "5.7.3", func(t *T) {
		t.Repo.TargetHashes = algs
		topDownload("file.bin", []byte("payload hashed "+name), true, nil)(t)
	})
}

func nameScenarios() []Scenario {
	role := func(name string) Scenario {
		return good("names/role-"+name, "a delegated role named "+roleLabel[name]+" is fetched and used", "5.6.7.1 (URL encoding)", delegatedDownload("team/a.txt", true, func(r *sim.Repo, data []byte) {
			r.Delegate("targets", roleNames[name], []string{"team/*"}, false)
			r.AddTarget(roleNames[name], "team/a.txt", data)
			r.Publish("targets", roleNames[name])
		}))
	}
	return []Scenario{
		role("space"), role("slash"), role("percent"), role("unicode"), role("dots"), role("uppercase"),
		bad("names/role-dotdot", "a role named ../escaped never makes the client write outside its metadata directory", "5.6.7.1", "path", func(t *T) {
			r := t.Repo
			r.Delegate("targets", "../escaped", []string{"team/*"}, false)
			r.AddTarget("../escaped", "team/a.txt", []byte("x"))
			r.Publish("targets", "../escaped")
			t.Init()
			t.Download("team/a.txt")
			if _, err := os.Stat(filepath.Join(t.Dir(), "escaped.json")); err == nil {
				t.Errorf("metadata directory: the client wrote escaped.json outside it")
			}
		}),
		bad("names/target-dotdot", "a target path ../evil.txt never makes the client write outside its target directory", "5.7", "path", func(t *T) {
			t.Repo.AddTarget("targets", "../evil.txt", []byte("evil"))
			t.Repo.Publish("targets")
			t.Init()
			t.Download("../evil.txt")
			if _, err := os.Stat(filepath.Join(t.Dir(), "evil.txt")); err == nil {
				t.Errorf("target directory: the client wrote evil.txt outside it")
			}
		}),
		good("names/target-unicode", "a target path with non-ASCII characters and spaces is downloaded", "5.7", topDownload("dir/ünï côdé.txt", []byte("unicode"), true, nil)),
	}
}

var roleNames = map[string]string{
	"space": "my role", "slash": "team/sub", "percent": "50%off", "unicode": "rôle-ü",
	"dots": "team.v2", "uppercase": "Team-A",
}

var roleLabel = map[string]string{
	"space": `"my role"`, "slash": `"team/sub"`, "percent": `"50%off"`, "unicode": `"rôle-ü"`,
	"dots": `"team.v2"`, "uppercase": `"Team-A"`,
}

func targetScenarios() []Scenario {
	return []Scenario{
		hashesScenario("sha256", "sha256"),
		hashesScenario("sha512", "sha512"),
		hashesScenario("sha256-sha512", "sha256", "sha512"),
		bad("targets/unknown-hash-algorithm", "a target listed only with an unknown hash algorithm is not accepted", "5.7.3", "hash", topDownload("file.bin", []byte("x"), false, func(r *sim.Repo, tf *metadata.TargetFiles) {
			tf.Hashes = metadata.Hashes{"sha999": tf.Hashes["sha256"]}
			r.ServeTarget("file.bin", tf.Hashes, []byte("x"))
		})),
		bad("targets/tampered-payload", "a payload whose bytes differ from the listed hash is refused", "5.7.3", "hash", func(t *T) {
			good, evil := []byte("good payload"), []byte("evil payload")
			tf := t.Repo.AddTarget("targets", "file.bin", good)
			t.Repo.ServeTarget("file.bin", tf.Hashes, evil)
			t.Repo.Publish("targets")
			t.Init()
			t.Fails("download", t.Download("file.bin"))
			t.WantNoTarget(evil)
		}),
		bad("targets/longer-payload", "a payload longer than the listed length is refused", "5.7.3", "length", func(t *T) {
			good := []byte("good payload")
			tf := t.Repo.AddTarget("targets", "file.bin", good)
			long := append(append([]byte{}, good...), "and more"...)
			t.Repo.ServeTarget("file.bin", tf.Hashes, long)
			t.Repo.Publish("targets")
			t.Init()
			t.Fails("download", t.Download("file.bin"))
			t.WantNoTarget(long)
		}),
		bad("targets/wrong-listed-length", "a payload matching its hash but not its listed length is refused", "5.7.3", "length", topDownload("file.bin", []byte("payload"), false, func(r *sim.Repo, tf *metadata.TargetFiles) {
			tf.Length = 3
		})),
		good("targets/cached", "a second download of a valid cached target makes no target request", "5.7.2", func(t *T) {
			data := []byte("cache me")
			t.Repo.AddTarget("targets", "file.bin", data)
			t.Repo.Publish("targets")
			t.Init()
			t.Succeeds("first download", t.Download("file.bin"))
			inv := t.Download("file.bin")
			t.Succeeds("second download", inv)
			t.WantNotRequested(inv, "targets/")
			t.WantTarget("file.bin", data)
		}),
		good("targets/cached-corrupt-refetched", "a corrupted cached target is downloaded again", "5.7.2", func(t *T) {
			data := []byte("cache me")
			t.Repo.AddTarget("targets", "file.bin", data)
			t.Repo.Publish("targets")
			t.Init()
			t.Succeeds("first download", t.Download("file.bin"))
			for _, f := range listFiles(t.TargetDir, t.TargetDir) {
				os.WriteFile(filepath.Join(t.TargetDir, f), []byte("corrupted"), 0o644)
			}
			inv := t.Download("file.bin")
			t.Succeeds("second download", inv)
			t.WantRequested(inv, "targets/"+hexHash(data)+".file.bin")
			t.WantTarget("file.bin", data)
		}),
		good("targets/subdirectory", "a target in nested directories is fetched with its hash prefix on the last segment", "5.7.3", func(t *T) {
			data := []byte("deep")
			t.Repo.AddTarget("targets", "a/b/c.txt", data)
			t.Repo.Publish("targets")
			t.Init()
			inv := t.Download("a/b/c.txt")
			t.Succeeds("download", inv)
			t.WantRequested(inv, "targets/a/b/"+hexHash(data)+".c.txt")
			t.WantTarget("a/b/c.txt", data)
		}),
		bad("targets/not-listed", "a target no role lists is not downloaded", "5.7", "", func(t *T) {
			t.Repo.SetPayload("file.bin", []byte("unlisted"))
			t.Init()
			t.Fails("download", t.Download("file.bin"))
			t.WantNoTarget([]byte("unlisted"))
		}),
		bad("targets/payload-404", "a listed payload that is not served fails the download", "5.7", "", func(t *T) {
			t.Repo.AddTarget("targets", "file.bin", []byte("gone"))
			t.Repo.Publish("targets")
			t.Repo.Status("targets/"+hexHash([]byte("gone"))+".file.bin", 404)
			t.Init()
			t.Fails("download", t.Download("file.bin"))
		}),
		good("targets/empty", "an empty target (length 0) is downloaded", "5.7.3", topDownload("empty.bin", []byte{}, true, nil)),
		good("targets/two-at-once", "two targets named in one download are both written", "5.7", func(t *T) {
			a, b := []byte("first"), []byte("second")
			t.Repo.AddTarget("targets", "a.txt", a)
			t.Repo.AddTarget("targets", "b.txt", b)
			t.Repo.Publish("targets")
			t.Init()
			t.Succeeds("download", t.Download("a.txt", "b.txt"))
			t.WantTarget("a.txt", a)
			t.WantTarget("b.txt", b)
		}),
	}
}

func limitScenarios() []Scenario {
	endless := func(role, name string) Scenario {
		return bad("limits/endless-"+role, "an endless "+role+" body is cut off and refused", "5.3-5.6 (size limits)", "limit", func(t *T) {
			t.Init()
			if role == "root" {
				t.Repo.RotateRoot(nil)
			}
			t.Repo.Endless(name)
			t.Fails("refresh", t.Refresh())
		})
	}
	return []Scenario{
		endless("root", "2.root.json"),
		endless("timestamp", "timestamp.json"),
		endless("snapshot", "1.snapshot.json"),
		endless("targets", "1.targets.json"),
		bad("limits/endless-payload", "an endless payload is cut off at the listed length and refused", "5.7.3", "length", func(t *T) {
			tf := t.Repo.AddTarget("targets", "file.bin", []byte("short"))
			t.Repo.Publish("targets")
			t.Repo.Endless("targets/" + hexHash([]byte("short")) + ".file.bin")
			_ = tf
			t.Init()
			t.Fails("download", t.Download("file.bin"))
		}),
		bad("limits/snapshot-over-listed-length", "a snapshot longer than the timestamp's listed length is refused", "5.5.2", "length", refused(func(t *T) {
			r := t.Repo
			r.MetaHashes = true
			bump(r)
			b := append(r.Get("2.snapshot.json"), ' ', ' ', ' ')
			r.Set("2.snapshot.json", b)
		})),
		bad("limits/targets-over-listed-length", "a targets file longer than the snapshot's listed length is refused", "5.6.2", "length", refused(func(t *T) {
			r := t.Repo
			r.MetaHashes = true
			r.Publish("targets")
			b := append(r.Get("2.targets.json"), ' ', ' ', ' ')
			r.Set("2.targets.json", b)
		})),
		bad("limits/targets-hash-mismatch", "a targets file whose sha256 differs from the snapshot's listing is refused", "5.6.2", "hash", refused(func(t *T) {
			r := t.Repo
			r.MetaHashes = true
			r.Publish("targets")
			md := r.Targets["targets"]
			md.Signed.Expires = md.Signed.Expires.Add(1e9)
			r.Set("2.targets.json", sim.SignWith(r, md, r.Signers["targets"]))
		})),
	}
}
